"""The only random step: draw a parameter record for a prepared case.

``sample_params(prepared, preset, *, rng, **knobs)`` draws the tumor types and counts of a
preset, then for each tumor its size, orientation, deformation, edge blur, texture, contrast,
mass effect and capsule, and its location (:mod:`tumorsynth.generator.step2_location`). Every noise field the
synthesis needs is represented by a seed in the record, so the record alone reproduces the case.

Knobs (see :data:`tumorsynth.generator.presets.GENERATOR_DEFAULTS`): a number fixes a value, a
``(lo, hi)`` pair draws it uniformly for each tumor. Switches turn a step off without changing
any other draw, so an ablation with the same seed shows the same tumors minus that step.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from tumorsynth.errors import OptionError
from tumorsynth.generator.params import CaseParams, TumorParams
from tumorsynth.generator.presets import (
    GENERATOR_DEFAULTS,
    INTENSITY_MODES,
    PRESET_WEIGHTS,
    TUMOR_TYPES,
    enhancement_fraction,
    get_preset,
    hypo_contrast_range,
)
from tumorsynth.generator.step1_local import local_parenchyma_hu
from tumorsynth.generator.step1_prepare import Prepared
from tumorsynth.generator.step2_location import (
    NO_ROOM_POLICIES,
    candidates_mm,
    choose_centre,
    update_gap,
)
from tumorsynth.generator.step3_shape import quaternion_matrix

__all__ = ["as_generator", "resolve_knobs", "sample_params"]

_SWITCHES = ("contrast_follows_enhancement", "local_contrast", "strict_vessels", "vessel_avoidance", "deformation",
             "edge_blur", "mass_effect_on", "capsule")
_RANGE_KNOBS = ("contrast_hu", "tumor_mean_hu", "texture_std_hu", "grain_mm", "texture_blur_mm",
                "radius_mm", "deform_sigma_mm", "edge_blur_mm", "mass_effect",
                "mass_effect_range_mm", "capsule_hu", "capsule_width_mm")
_NONNEG = {"texture_std_hu", "texture_blur_mm", "deform_sigma_mm", "edge_blur_mm", "mass_effect",
           "mass_effect_range_mm", "capsule_width_mm"}
_POSITIVE = {"grain_mm", "radius_mm"}


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator or an int seed (never the global state)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise OptionError(f"rng seed must be >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise OptionError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def resolve_knobs(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults updated by ``overrides``, validated; unknown names get a did-you-mean error."""
    knobs = dict(GENERATOR_DEFAULTS)
    for key, value in overrides.items():
        if key not in knobs:
            import difflib

            close = difflib.get_close_matches(key, list(knobs), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"unknown generator option {key!r}{hint}; see `tumorsynth presets`")
        knobs[key] = value
    for key in _RANGE_KNOBS:
        v = knobs[key]
        if v is None:
            continue
        lo, hi = _as_range(key, v)
        if key in _NONNEG and lo < 0:
            raise OptionError(f"{key} must be >= 0, got {v!r}")
        if key in _POSITIVE and lo <= 0:
            raise OptionError(f"{key} must be > 0, got {v!r}")
        knobs[key] = (lo, hi) if lo != hi else lo
    for key in _SWITCHES:
        if isinstance(knobs[key], (int, float)) and not isinstance(knobs[key], bool) and knobs[key] in (0, 1):
            knobs[key] = bool(knobs[key])
        if not isinstance(knobs[key], (bool, np.bool_)):
            raise OptionError(f"{key} is a switch: True or False, got {knobs[key]!r}")
    if knobs["intensity"] not in INTENSITY_MODES:
        raise OptionError(f"intensity={knobs['intensity']!r}; choose one of {', '.join(INTENSITY_MODES)}")
    if knobs["on_no_room"] not in NO_ROOM_POLICIES:
        raise OptionError(f"on_no_room={knobs['on_no_room']!r}; choose one of {', '.join(NO_ROOM_POLICIES)}")
    for key in ("inside_fraction", "vessel_clearance", "capsule_probability", "axis_spread",
                "capsule_min_radius_mm"):
        v = knobs[key]
        if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
            raise OptionError(f"{key} must be a number >= 0, got {v!r}")
    if knobs["capsule_probability"] > 1 or knobs["axis_spread"] >= 1:
        raise OptionError("capsule_probability must be <= 1 and axis_spread < 1")
    _check_bounds(knobs, "mass_effect", 0.0, 0.3, "a fraction of the radius; beyond 0.3 the push folds tissue")
    _check_bounds(knobs, "tumor_mean_hu", -200.0, 400.0, "HU of soft tissue")
    _check_bounds(knobs, "contrast_hu", -300.0, 300.0, "HU relative to the liver")
    _check_bounds(knobs, "radius_mm", 0.5, 100.0, "mm")
    c = knobs["count"]
    if c is not None:
        lo, hi = _as_range("count", c)
        if lo < 0 or int(lo) != lo or int(hi) != hi:
            raise OptionError(f"count must be a whole number >= 0 or a (lo, hi) pair, got {c!r}")
        knobs["count"] = (int(lo), int(hi))
    return knobs


def _check_bounds(knobs: dict[str, Any], key: str, lo: float, hi: float, what: str) -> None:
    v = knobs[key]
    if v is None:
        return
    a, b = (v if isinstance(v, tuple) else (v, v))
    if a < lo or b > hi:
        raise OptionError(f"{key}={v!r} is outside {lo:g}..{hi:g} ({what})")


def _as_range(key: str, v: Any) -> tuple[float, float]:
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        lo = hi = float(v)
    elif isinstance(v, (tuple, list)) and len(v) == 2:
        lo, hi = float(v[0]), float(v[1])
    else:
        raise OptionError(f"{key} must be a number or a (lo, hi) pair, got {v!r}")
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise OptionError(f"{key} must be finite with lo <= hi, got {v!r}")
    return lo, hi


def _draw(rng: np.random.Generator, v: Any) -> float:
    """A value of a knob; always consumes one draw, so fixing a knob changes no other draw."""
    u = float(rng.random())
    if isinstance(v, tuple):
        return float(v[0] + u * (v[1] - v[0]))
    return float(v)


def _random_quaternion(rng: np.random.Generator) -> tuple[float, float, float, float]:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q) or 1.0
    if q[0] < 0:
        q = -q
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def sample_params(
    prepared: Prepared,
    preset: str = "mix",
    *,
    rng: np.random.Generator | int | None,
    **knobs: Any,
) -> CaseParams:
    """Draw a parameter record for ``prepared`` (the only random step of the generator).

    Args:
        prepared: from :func:`tumorsynth.prepare`.
        preset: tiny, small, medium, large, mix, or any (one of those five, 0.2 each).
        rng: a numpy Generator or an int seed; the only source of randomness.
        **knobs: generator options, see :data:`tumorsynth.generator.presets.GENERATOR_DEFAULTS`
            (e.g. ``contrast_hu=(-50, -30)``, ``count=1``, ``mass_effect_on=False``).

    Raises:
        NoRoomError: a tumor has no valid place and ``on_no_room="error"``.

    Example:
        >>> from tumorsynth import make_phantom, prepare
        >>> ph = make_phantom(shape=(96, 96, 64), spacing_mm=(3.0, 3.0, 3.0))
        >>> prep = prepare(ph.ct, ph.liver, ph.spacing_mm)
        >>> p1 = sample_params(prep, "small", rng=7)
        >>> p1 == sample_params(prep, "small", rng=7)
        True
    """
    k = resolve_knobs(knobs)
    seed = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    gen = as_generator(rng)
    name = str(preset).strip().lower()
    if name == "any":
        names = list(PRESET_WEIGHTS)
        w = np.array([PRESET_WEIGHTS[n] for n in names], dtype=float)
        name = names[int(gen.choice(len(names), p=w / w.sum()))]
    spec = get_preset(name)

    kinds: list[str] = []
    for type_name, count_range in spec.components:
        lo, hi = k["count"] if k["count"] is not None else count_range
        kinds += [type_name] * int(lo + np.floor(gen.random() * (hi - lo + 1)))

    drafts = [_draw_tumor(gen, kind, k, prepared) for kind in kinds]
    drafts.sort(key=lambda d: -max(d["semi_axes_mm"]))  # place the largest first
    cand_mm = candidates_mm(prepared)
    gap = np.full(cand_mm.shape[1], np.inf, dtype=np.float32)
    tumors: list[TumorParams] = []
    skipped = 0
    for n, d in enumerate(drafts):
        reach = float(max(d["semi_axes_mm"]))
        # "error" stops only when not even the largest tumor fits; later ones that find no room
        # are left out (counted in `skipped`), as a crowded liver would
        policy = str(k["on_no_room"])
        if policy == "error" and n > 0:
            policy = "skip"
        centre = choose_centre(
            prepared, reach, gap, rng=gen,
            inside_fraction=float(k["inside_fraction"]), vessel_clearance=float(k["vessel_clearance"]),
            vessel_avoidance=bool(k["vessel_avoidance"]), on_no_room=policy,
            strict_vessels=bool(k["strict_vessels"]),
            kind=d["kind"],
        )
        if centre is None:
            skipped += 1
            continue
        update_gap(gap, cand_mm, centre, prepared.spacing_mm, reach)
        if k["local_contrast"]:
            _relative_to_local_liver(d, prepared, centre, fixed_mean=k["tumor_mean_hu"] is not None)
        tumors.append(TumorParams(centre_vox=(float(centre[0]), float(centre[1]), float(centre[2])), **d))
    if skipped:
        logging.getLogger(__name__).info(
            "%d of %d tumors found no room in this liver and were left out", skipped, len(drafts))
    settings = {key: (list(v) if isinstance(v, tuple) else v) for key, v in k.items()}
    return CaseParams(
        shape=prepared.shape, spacing_mm=prepared.spacing_mm,
        parenchyma_hu=prepared.parenchyma_hu, noise_hu=prepared.noise_hu,
        tumors=tuple(tumors), preset=name, seed=seed, skipped=skipped, settings=settings,
        noise_sd_hu=float(prepared.host.noise_sd_hu), noise_corr_vox=tuple(float(v) for v in prepared.host.corr_vox),  # type: ignore[arg-type]
        resolution_mm=tuple(float(v) for v in prepared.host.resolution_mm),  # type: ignore[arg-type]
    )


def _relative_to_local_liver(d: dict[str, Any], prep: Prepared, centre: Any, *, fixed_mean: bool) -> None:
    """Make the drawn contrast (and capsule) relative to the liver around the tumor, not to the
    liver's global median: a lesion is seen against its surroundings, and a liver's level varies
    from place to place (perfusion, beam hardening). The record keeps absolute values, so a replay
    needs nothing else."""
    shift = local_parenchyma_hu(prep, centre, d["semi_axes_mm"], quaternion_matrix(d["rotation"])) - prep.parenchyma_hu
    if not fixed_mean:
        d["tumor_mean_hu"] = float(d["tumor_mean_hu"] + shift)
    if d["capsule_hu"] != 0.0:
        d["capsule_hu"] = float(d["capsule_hu"] + shift)


def _draw_tumor(gen: np.random.Generator, kind: str, k: Mapping[str, Any], prep: Prepared) -> dict[str, Any]:
    """All draws of one tumor, in a fixed order whatever the switches say."""
    ttype = TUMOR_TYPES[kind]
    r = _draw(gen, k["radius_mm"] if k["radius_mm"] is not None else ttype.radius_mm)
    s = float(k["axis_spread"])
    axes = tuple(float(v) for v in r * gen.uniform(1 - s, 1 + s, 3))
    rotation = _random_quaternion(gen)
    deform = _draw(gen, k["deform_sigma_mm"] if k["deform_sigma_mm"] is not None else ttype.deform_sigma_mm)
    if k["radius_mm"] is not None and k["deform_sigma_mm"] is None:
        deform *= r / ttype.radius_mm  # keep sigma_e in proportion to a custom radius
    edge = _draw(gen, k["edge_blur_mm"])
    follows = bool(k["contrast_follows_enhancement"])
    if k["contrast_hu"] is not None:
        contrast = k["contrast_hu"]
    elif k["intensity"] == "hypo" and follows:
        contrast = hypo_contrast_range(prep.parenchyma_hu)
    else:
        contrast = INTENSITY_MODES[k["intensity"]]
    mean = prep.parenchyma_hu + _draw(gen, contrast)
    if k["tumor_mean_hu"] is not None:
        mean = _draw(gen, k["tumor_mean_hu"])
    else:
        gen.random()  # the same number of draws either way
    tex_std = _draw(gen, k["texture_std_hu"])
    grain = _draw(gen, k["grain_mm"])
    tex_blur = _draw(gen, k["texture_blur_mm"])
    push = _draw(gen, k["mass_effect"])
    r_eq = float(np.prod(axes) ** (1 / 3))
    push_mm = push * r_eq
    reach = _draw(gen, k["mass_effect_range_mm"] if k["mass_effect_range_mm"] is not None
                  else float(np.clip(0.3 * r_eq, 2.0, 8.0)))
    reach = max(reach, 2.5 * push_mm)  # keeps the push monotonic (no folding)
    has_capsule = gen.random() < float(k["capsule_probability"])
    cap_hu = _draw(gen, k["capsule_hu"])
    if follows:
        cap_hu *= enhancement_fraction(prep.parenchyma_hu)  # an enhancing rim needs contrast medium
    cap_w = _draw(gen, k["capsule_width_mm"])
    deform_seed = int(gen.integers(0, 2**63 - 1))
    texture_seed = int(gen.integers(0, 2**63 - 1))
    noise_seed = int(gen.integers(0, 2**63 - 1))
    capsule_on = (bool(k["capsule"]) and has_capsule and r >= float(k["capsule_min_radius_mm"])
                  and abs(cap_hu) > 0.5)
    return {
        "kind": kind,
        "semi_axes_mm": axes,
        "rotation": rotation,
        "deform_sigma_mm": deform if k["deformation"] else 0.0,
        "deform_seed": deform_seed,
        "edge_blur_mm": edge if k["edge_blur"] else 0.0,
        "tumor_mean_hu": float(mean),
        "texture_std_hu": tex_std,
        "grain_mm": grain,
        "texture_blur_mm": tex_blur,
        "texture_seed": texture_seed,
        "mass_effect_mm": push_mm if k["mass_effect_on"] else 0.0,
        "mass_effect_range_mm": reach if k["mass_effect_on"] else 0.0,
        "capsule_hu": cap_hu if capsule_on else 0.0,
        "capsule_width_mm": cap_w,
        "noise_seed": noise_seed,
    }
