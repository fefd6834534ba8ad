"""The pipeline, step by step, for one tumor (the paper's Figure 3, on a real slice).

Six panels through the tumor centre: (1) location: the liver, the vessel map the generator
avoids and the chosen centre with its vessel-free radius; (2) texture: the raw texture field
(mu_t + sigma_p * noise, grain eta, blur sigma_b); (3) shape: the soft mask t'' after elastic
deformation and edge blurring, with the ellipsoid before deformation outlined; (4) blend:
CT' = (1 - t'') CT + t'' texture inside the liver; (5) mass effect: the surrounding tissue
pushed outward (the voxels it moved are tinted); (6) capsule: the bright rim. Panels 4-6 are
the same record with post-processing switched on one step at a time (same seed, same tumor).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tumorsynth.apps.figures.galleries import (
    LIVER_WINDOW,
    Window,
    compare_variants,
    crop_at,
    liver_half_mm,
    panel_seed,
    tumor_half_mm,
)
from tumorsynth.apps.figures.host import Host
from tumorsynth.apps.figures.panels import (
    FigureResult,
    Panel,
    SliceCrop,
    draw_cross,
    draw_ring,
    render,
    tint,
)
from tumorsynth.generator.params import CaseParams, TumorParams
from tumorsynth.generator.step3_shape import soft_mask
from tumorsynth.generator.step4_texture import texture_field
from tumorsynth.generator.step6_synthesize import plan_tumor

__all__ = ["steps"]

VESSEL_RGB = (70, 150, 255)
MARK_RGB = (255, 220, 40)
MOVED_RGB = (255, 120, 220)
STEP_KNOBS: dict[str, Any] = {
    "radius_mm": 20.0, "deform_sigma_mm": 4.0, "contrast_hu": -40.0, "texture_std_hu": 8.0,
    "grain_mm": 3.0, "texture_blur_mm": 0.75, "edge_blur_mm": 1.0, "mass_effect": 0.12,
    "capsule_probability": 1.0, "capsule_min_radius_mm": 0.0, "capsule_hu": 25.0,
    "capsule_width_mm": 1.5,
}


def _box_map(crop: SliceCrop, box: tuple[slice, slice, slice], values: np.ndarray,
             fill: float) -> np.ndarray:
    """Crop a map known only on ``box`` (box-sized array) as if it filled the whole volume."""
    shifted = dataclasses.replace(
        crop, point_vox=tuple(c - b.start for c, b in zip(crop.point_vox, box, strict=True)))
    return shifted._zoom(shifted.take(values, fill=fill), order=1)


def _texture_map(t: TumorParams, params: CaseParams, liver: np.ndarray, crop: SliceCrop) -> np.ndarray:
    """mu_t + sigma_p * field over the tumor's box (the tumor mean beyond it), cropped."""
    plan = plan_tumor(t, params, liver)
    if plan is None:
        return np.full((crop.px, crop.px), t.tumor_mean_hu, np.float32)
    field = texture_field(t, plan.offsets)
    field *= np.float32(t.texture_std_hu)
    field += np.float32(t.tumor_mean_hu)
    return _box_map(crop, plan.box, field, fill=t.tumor_mean_hu)


def _shape_maps(t: TumorParams, params: CaseParams, liver: np.ndarray,
                crop: SliceCrop) -> tuple[np.ndarray, np.ndarray]:
    """The soft mask t'' and the undeformed, hard ellipsoid, cropped."""
    plan = plan_tumor(t, params, liver)
    soft = (np.zeros((crop.px, crop.px), np.float32) if plan is None else
            _box_map(crop, plan.box, soft_mask(plan.d, t.edge_blur_mm, plan.pv_var), fill=0.0))
    t0 = dataclasses.replace(t, deform_sigma_mm=0.0, edge_blur_mm=0.0, mass_effect_mm=0.0,
                             mass_effect_range_mm=0.0, capsule_hu=0.0)
    plan0 = plan_tumor(t0, params, liver)
    ell = (np.zeros((crop.px, crop.px), bool) if plan0 is None else
           _box_map(crop, plan0.box, (plan0.d <= 0).astype(np.float32), fill=0.0) >= 0.5)
    return soft, ell


def _location_note(host: Host, t: TumorParams) -> tuple[float, float]:
    """Depth below the liver surface and distance to the nearest vessel at the centre (mm)."""
    prep = host.prepared
    if prep.candidates_vox.shape[0] == 0:
        return 0.0, float("inf")
    d = ((prep.candidates_vox - np.asarray(t.centre_vox, np.float32)) * np.asarray(host.spacing_mm, np.float32))
    i = int(np.argmin((d * d).sum(axis=1)))
    return float(prep.depth_mm[i]), float(prep.vessel_dist_mm[i])


def steps(host: Host, *, seed: int = 0, outline: bool = True,
          window: Window = LIVER_WINDOW) -> FigureResult:
    """The generator's steps for one tumor (see the module docstring)."""
    from tumorsynth.jobs.preview import render_slice

    variants = [{}, {"mass_effect_on": False, "capsule": False}, {"capsule": False}]
    full, blend_only, with_mass = compare_variants(host, panel_seed(seed, 4), variants, kind="medium",
                                                   **STEP_KNOBS)
    t = full.tumors[0]
    crop = crop_at(host, t.centre_vox, tumor_half_mm(STEP_KNOBS["radius_mm"], 2.0))
    panels: list[Panel] = []

    def add(img: np.ndarray, caption: str, values: dict[str, Any], params: CaseParams | None,
            mm_per_px: float = crop.mm_per_px, tumor: np.ndarray | None = None) -> None:
        n = len(panels)
        panels.append(Panel(image=img, caption=caption, row=n // 3, col=n % 3, values=values,
                            params=params, mm_per_px=mm_per_px, tumor=tumor))

    # 1 location
    depth, vdist = _location_note(host, t)
    reach = max(t.semi_axes_mm)
    clear = float(full.settings.get("vessel_clearance", 1.0)) * reach
    wide = crop_at(host, t.centre_vox, liver_half_mm(host))
    img = render_slice(wide.image(host.ct), wide.label(host.liver), window=window,
                       outline=True, liver_outline=True)
    img = tint(img, wide.mask(host.vessel_mask()), VESSEL_RGB, alpha=0.7)
    img = draw_ring(img, wide.centre_px, wide.mm_to_px(clear), MARK_RGB)
    img = draw_cross(img, wide.centre_px, 3, MARK_RGB)
    vtxt = "none" if not np.isfinite(vdist) else f"{vdist:.0f} mm"
    add(img, f"1 location (+): {depth:.0f} mm deep\nnearest vessel (blue) {vtxt}",
        {"depth_mm": depth, "vessel_distance_mm": vdist, "clearance_mm": clear,
         "centre_vox": list(t.centre_vox)}, None, wide.mm_per_px)
    # 2 texture
    tex = _texture_map(t, full, host.liver, crop)
    tex_window = (max(6.0 * t.texture_std_hu, 30.0), t.tumor_mean_hu)
    add(render_slice(tex, None, window=tex_window, outline=False),
        f"2 texture: μt {t.tumor_mean_hu:.0f}, σp {t.texture_std_hu:.0f} HU\n"
        f"η {t.grain_mm:g} mm, σb {t.texture_blur_mm:g} mm",
        {"tumor_mean_hu": t.tumor_mean_hu, "texture_std_hu": t.texture_std_hu,
         "grain_mm": t.grain_mm, "texture_blur_mm": t.texture_blur_mm}, None)
    # 3 shape
    soft, ell = _shape_maps(t, full, host.liver, crop)
    img = render_slice(soft, ell.astype(np.uint8) * 2, window=(1.0, 0.5), outline=True)
    add(img, f"3 shape t'': σe {t.deform_sigma_mm:g}, σc {t.edge_blur_mm:g} mm\n"
             "red: before deformation",
        {"semi_axes_mm": list(t.semi_axes_mm), "deform_sigma_mm": t.deform_sigma_mm,
         "edge_blur_mm": t.edge_blur_mm}, None)
    # 4 blend, 5 mass effect, 6 capsule
    ct, label = host.synthesize(blend_only)
    blend_img = crop.image(ct)
    add(render(crop, ct, label, window=window, outline=outline),
        "4 blend, inside the liver:\n(1 − t'') CT + t'' texture", {}, blend_only,
        tumor=crop.mask(label == 2))
    ct, label = host.synthesize(with_mass)
    mass_img = crop.image(ct)
    moved = (np.abs(mass_img - blend_img) > 0.5) & ~crop.mask(label == 2)
    img = tint(render(crop, ct, label, window=window, outline=outline), moved, MOVED_RGB, alpha=0.3)
    tm = with_mass.tumors[0]
    add(img, f"5 mass effect: {tm.mass_effect_mm:.1f} mm push\nover {tm.mass_effect_range_mm:.0f} mm "
             "(pink: moved)",
        {"mass_effect_mm": tm.mass_effect_mm, "mass_effect_range_mm": tm.mass_effect_range_mm},
        with_mass, tumor=crop.mask(label == 2))
    ct, label = host.synthesize(full)
    add(render(crop, ct, label, window=window, outline=outline),
        f"6 capsule: rim {t.capsule_hu:+.0f} HU\nwidth {t.capsule_width_mm:g} mm",
        {"capsule_hu": t.capsule_hu, "capsule_width_mm": t.capsule_width_mm}, full,
        tumor=crop.mask(label == 2))
    return FigureResult(
        name="steps", title="The generator step by step, for one tumor",
        nrows=2, ncols=3, panels=panels,
        note=(f"{host.source}, liver {host.prepared.parenchyma_hu:.0f} HU; seed {seed}; "
              f"r {STEP_KNOBS['radius_mm']:g} mm; texture shown in a window of ±3 σp; bar 10 mm"),
        seed=seed, host=host.describe(),
    )
