"""The pure step: apply a parameter record to a CT.

``synthesize(ct, liver, params)`` returns the CT with tumors and the label map (0 background,
1 liver, 2 tumor); it never modifies its inputs and gives identical voxels for identical
inputs. Everything happens in a small box around each tumor, and inside the box only at liver
voxels within the tumor's reach, in float32: cost grows with tumor volume, not CT volume.

Order: first every tumor's mass effect (the host is pushed aside), then every tumor's blend
(texture, soft edge, capsule) and label, so the labels always match the intensities.

For on-the-fly use, :class:`Synthesizer` keeps one output buffer per case and restores only the
boxes the previous call changed, so a call costs what its tumors cost (no whole-CT copy).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tumorsynth.errors import InputError
from tumorsynth.generator.kernels.grids import size_groups
from tumorsynth.generator.kernels.noise import noise_patch, patch_offset, read_patch
from tumorsynth.generator.params import CaseParams, TumorParams
from tumorsynth.generator.step3_plan import (
    MIN_PUSH_VOXELS,
    TumorPlan,
    edge_sigma_max,
    plan_tumor,
    plan_tumors,
    push_reach,
    resolution_var,
)
from tumorsynth.generator.step3_shape import soft_mask
from tumorsynth.generator.step4_texture import scaled_textures, tumor_noise_sd
from tumorsynth.generator.step5_postprocess import capsule_profile

__all__ = ["Synthesizer", "TumorPlan", "apply_tumors", "plan_tumor", "synthesize", "synthesize_case"]


def _check_inputs(ct: np.ndarray, liver: np.ndarray, params: CaseParams) -> None:
    if ct.ndim != 3:
        raise InputError(f"CT must be 3-D, got shape {ct.shape}")
    if liver.shape != ct.shape:
        raise InputError(f"liver mask shape {liver.shape} differs from CT shape {ct.shape}")
    if tuple(ct.shape) != tuple(params.shape):
        raise InputError(
            f"the parameter record was sampled for a CT of shape {tuple(params.shape)}, this CT has "
            f"shape {tuple(ct.shape)}; replay it on the same CT or sample new parameters"
        )
    if ct.dtype.kind not in "biuf":
        raise InputError(f"CT has unsupported data type {ct.dtype}")
    for n, t in enumerate(params.tumors):
        if any(not (-0.5 <= c <= size - 0.5) for c, size in zip(t.centre_vox, ct.shape, strict=True)):
            raise InputError(f"tumor {n}: centre {t.centre_vox} lies outside the CT of shape {tuple(ct.shape)}")


def _store(view: np.ndarray, values: np.ndarray) -> None:
    """Write float values into a (view of the) CT, rounding and clipping for integer types.

    ``values`` is used as scratch space.
    """
    if view.dtype.kind in "iu":
        info = np.iinfo(view.dtype)
        np.clip(values, info.min, info.max, out=values)
        np.rint(values, out=view, casting="unsafe")  # rounded in float, then converted exactly
    else:
        view[...] = values


def _mass_effect(out: np.ndarray, liver: np.ndarray, t: TumorParams, plan: TumorPlan,
                 spacing: np.ndarray, res_var: tuple[float, float, float]) -> None:
    """Push the host tissue around the tumor outward (liver voxels whose source is another voxel)."""
    if t.mass_effect_mm < MIN_PUSH_VOXELS * float(spacing.min()):
        return  # a push this small changes no voxel visibly
    d = plan.d
    lb = liver[plan.box]
    push = np.float32(t.mass_effect_mm)
    reach = np.float32(t.mass_effect_range_mm)
    # voxels deep inside the tumor are replaced by it; beyond d_max the push is under half a voxel
    d_max = np.float32(push_reach(t, float(spacing.min())))
    d_min = np.float32(-max(edge_sigma_max(t, res_var), math.sqrt(max(res_var))))
    sel = d > d_min
    sel &= d < d_max
    sel &= lb
    flat = np.flatnonzero(sel)  # much faster than a 3-D nonzero
    if flat.size == 0:
        return
    n0, n1, n2 = d.shape
    i0 = flat // (n1 * n2)
    rem = flat - i0 * (n1 * n2)
    i1 = rem // n2
    i2 = rem - i1 * n2
    f = d.reshape(-1)[flat]
    f *= -1.0 / reach
    f += 1.0
    np.clip(f, 0.0, 1.0, out=f)
    f *= f
    f *= push  # delta: how far the tissue moved
    x0, x1, x2 = plan.offsets[0][i0], plan.offsets[1][i1], plan.offsets[2][i2]
    r = x0 * x0
    r += x1 * x1
    r += x2 * x2
    np.sqrt(r, out=r)
    np.maximum(r, np.float32(1e-3), out=r)
    f /= r
    # nearest source voxel: keeps the scanner noise intact (interpolation would smooth it into
    # a visible halo) and costs one gather
    s0 = np.rint(i0 - f * (x0 / np.float32(spacing[0]))).astype(np.intp)
    s1 = np.rint(i1 - f * (x1 / np.float32(spacing[1]))).astype(np.intp)
    s2 = np.rint(i2 - f * (x2 / np.float32(spacing[2]))).astype(np.intp)
    np.clip(s0, 0, n0 - 1, out=s0)
    np.clip(s1, 0, n1 - 1, out=s1)
    np.clip(s2, 0, n2 - 1, out=s2)
    if out.flags.c_contiguous and liver.flags.c_contiguous and out.shape == liver.shape:
        # flat indices into the whole CT: no copy of the box, gather and scatter in place
        _, big1, big2 = out.shape
        off = (plan.box[0].start * big1 + plan.box[1].start) * big2 + plan.box[2].start
        src = (s0 * big1 + s1) * big2 + s2
        src += off
        dst = (i0 * big1 + i1) * big2 + i2
        dst += off
        keep = src != dst
        keep &= liver.reshape(-1)[src]  # take tissue from inside the liver only
        if not keep.any():
            return
        flat_out = out.reshape(-1)
        moved = flat_out[src[keep]]  # read all sources before writing any
        flat_out[dst[keep]] = moved
        return
    src = (s0 * n1 + s1) * n2 + s2
    keep = src != flat
    keep &= np.ascontiguousarray(lb).reshape(-1)[src]  # take tissue from inside the liver only
    if not keep.any():
        return
    view = out[plan.box]
    box_vals = np.ascontiguousarray(view)
    flat_vals = box_vals.reshape(-1)
    moved = flat_vals[src[keep]]  # read all sources before writing any
    flat_vals[flat[keep]] = moved
    view[...] = box_vals


def _blend(out: np.ndarray, label: np.ndarray, liver: np.ndarray, t: TumorParams, plan: TumorPlan,
           params: CaseParams, field: np.ndarray, noise: _Noise) -> None:
    """Texture, soft edge, capsule and scanner-like noise blended into the CT inside the liver; label 2 inside.

    The tumor replaces the tissue it occupies: with the texture ``E = mu_t + sigma_p F`` (plus the
    capsule rim), the host ``x`` and the soft mask ``t''``, a voxel becomes
    ``x + t'' (E - x) + sqrt(t'' (2 - t'')) n``, where ``n`` is noise with the host scanner's
    level and correlation. In the core the host (its vessels, its grain) is gone and only ``E``
    and the noise remain; across the edge the host's own noise fades as ``1 - t''`` and the
    weight of ``n`` keeps the total noise variance that of the scan. ``field`` is the texture of
    the tumor's inner box times sigma_p (see :func:`_textures`); it is used as scratch space.
    """
    inner = plan.inner
    box = plan.tumor_box
    lb = liver[box]
    d = plan.d[inner]
    pv = plan.pv_var[inner] if isinstance(plan.pv_var, np.ndarray) else plan.pv_var
    view = out[box]
    cur = view.astype(np.float32)
    field += np.float32(t.tumor_mean_hu)  # E
    # capsule: inside the tumor, the texture gives way to a thin bright rim
    if t.capsule_hu != 0:
        # imaged by the scanner: the rim widens to sqrt(w**2 + res**2) along the normal and keeps
        # its integral, so a rim thinner than a slice shows as a fainter, wider one
        w = float(t.capsule_width_mm)
        w_img = math.sqrt(w * w + float(np.max(pv))) if t.edge_blur_mm > 0 else w
        g = capsule_profile(d, w_img)
        if w_img > w:
            g *= np.float32(w / w_img)
        rim = np.subtract(np.float32(params.parenchyma_hu + t.capsule_hu), field)
        rim *= g
        field += rim
    field -= cur
    tm = soft_mask(d, t.edge_blur_mm, pv)
    tm *= lb
    field *= tm
    if noise.sd > 0:
        w = np.subtract(np.float32(2.0), tm)
        w *= tm
        np.sqrt(w, out=w)
        n = read_patch(noise.patch, tuple(b.start for b in box), w.shape, patch_offset(t.noise_seed))  # type: ignore[arg-type]
        n *= np.float32(tumor_noise_sd(t, noise.sd, noise.corr_vox, params.spacing_mm, params.resolution_mm))
        w *= n
        field += w
    field += cur
    _store(view, field)
    inside = d <= 0
    inside &= lb
    np.copyto(label[box], np.uint8(2), where=inside)


class _Noise:
    """The scanner noise of a record: its level, correlation (voxels per axis) and periodic patch."""

    def __init__(self, params: CaseParams) -> None:
        self.sd = float(params.noise_hu if params.noise_sd_hu is None else params.noise_sd_hu)
        corr = params.noise_corr_vox or (0.0, 0.0, 0.0)
        self.corr_vox = (float(corr[0]), float(corr[1]), float(corr[2]))
        self.patch = noise_patch((float(corr[0]), float(corr[1]), float(corr[2]))) if self.sd > 0 else np.zeros((1, 1, 1), np.float32)


def apply_tumors(out: np.ndarray, label: np.ndarray, liver: np.ndarray, params: CaseParams, *,
                 host: np.ndarray | None = None) -> list[tuple[slice, slice, slice]]:
    """Write the tumors of ``params`` into ``out`` (CT) and ``label`` in place; return the boxes changed.

    ``out`` must hold the host CT and ``label`` its liver label (1) on entry, at least inside the
    boxes. With ``host`` (the CT), ``out`` and ``label`` may hold anything: the boxes are first
    filled from ``host`` and ``liver``, and nothing outside them is read or written, so ``out``
    and ``label`` can be uninitialised (``np.empty``) full-size buffers whose untouched pages
    never cost anything (the MONAI crop transform uses this to copy only its crops).
    """
    spacing = np.asarray(params.spacing_mm, dtype=np.float64)
    planned = [(t, p) for t, p in zip(params.tumors, plan_tumors(params.tumors, params, liver.shape), strict=True)
               if p is not None]
    if host is not None:
        for _, plan in planned:
            out[plan.box] = host[plan.box]
            label[plan.box] = liver[plan.box]
    fields = _textures(planned, params.resolution_mm)
    res_var = resolution_var(params)
    for t, plan in planned:
        if t.mass_effect_mm > 0:
            _mass_effect(out, liver, t, plan, spacing, res_var)
    noise = _Noise(params) if planned else None
    for (t, plan), field in zip(planned, fields, strict=True):
        _blend(out, label, liver, t, plan, params, field, noise)  # type: ignore[arg-type]
    return [plan.box for _, plan in planned]  # the boxes include the mass effect


TEXTURE_BATCH_VOXELS = 1_000_000  # voxels of one batch of textures (padded)


def _textures(planned: list[tuple[TumorParams, TumorPlan]],
              res_mm: tuple[float, float, float] | None) -> list[np.ndarray]:
    """Texture times sigma_p on each tumor's inner box, imaged with the scanner's resolution ``res_mm``;
    tumors of similar box size in one batch."""
    offsets = [tuple(o[sl] for o, sl in zip(p.offsets, p.inner, strict=True)) for _, p in planned]
    fields: list[np.ndarray] = [np.empty(0)] * len(planned)
    for group in size_groups([[len(o) for o in offs] for offs in offsets], TEXTURE_BATCH_VOXELS):
        batch = scaled_textures([planned[i][0] for i in group], [offsets[i] for i in group],  # type: ignore[misc]
                                [float(np.float32(planned[i][0].texture_std_hu)) for i in group], res_mm)
        for i, f in zip(group, batch, strict=True):
            fields[i] = f
    return fields


def _as_mask(liver: Any) -> np.ndarray:
    m = np.asarray(liver)
    return m if m.dtype == bool else m != 0


def synthesize(ct: np.ndarray, liver: np.ndarray, params: CaseParams) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``params`` to a CT: return ``(ct_with_tumors, label)``; the inputs are not modified.

    Args:
        ct: CT in HU, 3-D, any integer or float type; the output has the same type (integers
            are rounded and clipped).
        liver: liver mask (bool, or non-zero = liver) on the same grid.
        params: a record from :func:`tumorsynth.sample_params` (or ``CaseParams.from_json``).

    Returns:
        The CT with tumors, and a uint8 label map: 0 background, 1 liver, 2 tumor.

    Example:
        >>> from tumorsynth import make_phantom, prepare, sample_params
        >>> ph = make_phantom(shape=(96, 96, 64), spacing_mm=(3.0, 3.0, 3.0))
        >>> params = sample_params(prepare(ph.ct, ph.liver, ph.spacing_mm), "medium", rng=0)
        >>> ct2, label = synthesize(ph.ct, ph.liver, params)
        >>> bool((label == 2).any()), ct2.dtype == ph.ct.dtype
        (True, True)
    """
    ct = np.asarray(ct)
    mask = _as_mask(liver)
    _check_inputs(ct, mask, params)
    out = np.array(ct, order="K", copy=True)
    label = mask.astype(np.uint8, order="K")
    apply_tumors(out, label, mask, params)
    return out, label


class Synthesizer:
    """Repeated synthesis on one case without copying the whole CT each time.

    The first call copies the CT and liver label into buffers; each later call first restores
    only the boxes the previous call changed, then applies the new tumors. The returned arrays
    are those buffers: they stay valid until the next call (pass ``copy=True`` to keep them).

    Example:
        >>> syn = Synthesizer(ct, liver)            # doctest: +SKIP
        >>> img, lab = syn(sample_params(prep, "small", rng=1))  # doctest: +SKIP
    """

    def __init__(self, ct: np.ndarray, liver: np.ndarray) -> None:
        self.ct = np.asarray(ct)
        self.liver = _as_mask(liver)
        if self.ct.shape != self.liver.shape:
            raise InputError(f"liver mask shape {self.liver.shape} differs from CT shape {self.ct.shape}")
        self._out: np.ndarray | None = None
        self._label: np.ndarray | None = None
        self._dirty: list[tuple[slice, slice, slice]] = []

    def __call__(self, params: CaseParams, *, copy: bool = False) -> tuple[np.ndarray, np.ndarray]:
        _check_inputs(self.ct, self.liver, params)
        if self._out is None or self._label is None:
            self._out = np.array(self.ct, order="K", copy=True)
            self._label = self.liver.astype(np.uint8, order="K")
        else:
            liver_u8 = self.liver.view(np.uint8)  # 0/1 bytes: a plain copy, no bool -> uint8 cast
            for box in self._dirty:
                self._out[box] = self.ct[box]
                self._label[box] = liver_u8[box]
        self._dirty = []
        self._dirty = apply_tumors(self._out, self._label, self.liver, params)
        if copy:
            return self._out.copy(), self._label.copy()
        return self._out, self._label


def synthesize_case(
    ct: np.ndarray,
    liver: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    preset: str = "mix",
    rng: np.random.Generator | int | None,
    vessel_mask: np.ndarray | None = None,
    **knobs: Any,
) -> tuple[np.ndarray, np.ndarray, CaseParams]:
    """Prepare, sample and synthesize in one call: ``(ct_with_tumors, label, params)``."""
    from tumorsynth.generator.step1_prepare import prepare
    from tumorsynth.generator.step2_sampling import sample_params

    mask = _as_mask(liver)
    prep = prepare(ct, mask, spacing_mm, vessel_mask=vessel_mask)
    params = sample_params(prep, preset, rng=rng, **knobs)
    out, label = synthesize(ct, mask, params)
    return out, label, params
