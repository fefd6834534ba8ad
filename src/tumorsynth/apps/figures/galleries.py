"""The grid galleries: examples, shape, texture, types and ablation (the paper's Figures 8-12).

Each function takes a prepared :class:`~tumorsynth.apps.figures.host.Host` and returns a
:class:`~tumorsynth.apps.figures.panels.FigureResult`; nothing is drawn or written here. Tumors are
drawn with :func:`tumorsynth.sample_params` and pasted with the host's synthesizer, so every
panel is an ordinary, replayable parameter record (kept in ``Panel.params``).

Where a figure compares settings (shape, texture, ablation), every panel of a row uses the
same seed, and the tumor is pinned to one centre: the draws are made in a fixed order whatever
the knobs say, so the panels show the same tumor with only the compared setting changed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tumorsynth.apps.figures.host import Host
from tumorsynth.apps.figures.panels import FigureResult, Panel, SliceCrop, axial_axis, render
from tumorsynth.generator.params import CaseParams
from tumorsynth.generator.presets import PRESETS, TUMOR_TYPES
from tumorsynth.generator.step2_sampling import sample_params

__all__ = [
    "ablation",
    "compare_variants",
    "crop_at",
    "examples",
    "liver_half_mm",
    "panel_seed",
    "pin",
    "sample_one",
    "shape",
    "texture",
    "tumor_half_mm",
    "tumor_panel",
    "types",
]

Window = tuple[float, float]
LIVER_WINDOW: Window = (400.0, 50.0)

# What each figure shows (the registry in tumorsynth.apps.figures adds the steps figure).
EXAMPLE_KINDS = ("tiny", "small", "medium", "large")
EXAMPLE_CONTRASTS_HU = (-15.0, -30.0, -45.0, -60.0, -75.0)
SHAPE_RADII_MM = (10.0, 20.0, 30.0)
SHAPE_DEFORM_MM = (0.0, 2.0, 5.0, 10.0)
TEXTURE_CONTRASTS_HU = (-60.0, -35.0, -10.0, 30.0)
TEXTURE_GRAINS_MM = (1.0, 2.0, 4.0, 8.0)
TYPE_NAMES = ("tiny", "small", "medium", "large", "mix")
ABLATION_EDGE_MM = 1.5
ABLATIONS: tuple[tuple[str, dict[str, bool]], ...] = (
    ("full", {}),
    ("no edge blurring", {"edge_blur": False}),
    ("no elastic deformation", {"deformation": False}),
    ("neither", {"edge_blur": False, "deformation": False}),
)


def panel_seed(seed: int, *keys: int) -> int:
    """A per-panel integer seed derived from the figure seed (independent streams)."""
    state = np.random.SeedSequence([int(seed), *(int(k) for k in keys)]).generate_state(1, np.uint32)
    return int(state[0])


def sample_one(host: Host, kind: str, rng: int, **knobs: Any) -> CaseParams:
    """One tumor of ``kind``; never fails for lack of room (takes the best place available)."""
    knobs.setdefault("count", 1)
    knobs.setdefault("on_no_room", "relax")
    return sample_params(host.prepared, kind, rng=rng, **knobs)


def pin(params: CaseParams, centre_vox: Sequence[float]) -> CaseParams:
    """The same record with its (single) tumor moved to ``centre_vox``."""
    c = (float(centre_vox[0]), float(centre_vox[1]), float(centre_vox[2]))
    return dataclasses.replace(
        params, tumors=tuple(dataclasses.replace(t, centre_vox=c) for t in params.tumors))


def tumor_half_mm(radius_mm: float, deform_mm: float = 0.0) -> float:
    """Half side of a crop that shows a tumor of this size with some liver around it."""
    return float(max(15.0, 1.6 * (1.25 * radius_mm + 1.5 * deform_mm) + 6.0))


def crop_at(host: Host, centre_vox: Sequence[float], half_mm: float) -> SliceCrop:
    c = (float(centre_vox[0]), float(centre_vox[1]), float(centre_vox[2]))
    return SliceCrop(point_vox=c, half_mm=half_mm, spacing_mm=host.spacing_mm, affine=host.affine)


def tumor_panel(host: Host, params: CaseParams, crop: SliceCrop, *, window: Window, outline: bool,
                caption: str, row: int, col: int, values: dict[str, Any]) -> Panel:
    """Synthesize ``params`` on the host and render it through ``crop``."""
    ct, label = host.synthesize(params)
    img = render(crop, ct, label, window=window, outline=outline)
    return Panel(image=img, caption=caption, row=row, col=col, values=values, params=params,
                 mm_per_px=crop.mm_per_px, tumor=crop.mask(label == 2))


def _fmt(v: float) -> str:
    return f"{v:+.0f}".replace("-", "−") if v else "0"


def _knob_note(host: Host, seed: int, **fixed: Any) -> str:
    parts = [f"{k} {v}" for k, v in fixed.items()]
    return (f"{host.source}, liver {host.prepared.parenchyma_hu:.0f} HU; seed {seed}"
            + (f"; {', '.join(parts)}" if parts else "") + "; bar 10 mm")


def examples(host: Host, *, seed: int = 0, outline: bool = True,
             window: Window = LIVER_WINDOW) -> FigureResult:
    """A grid of synthetic tumors: size grows down the rows, intensity darkens to the right.

    Rows are the tumor types tiny, small, medium and large (the paper's Table 6, one tumor
    each); columns fix the contrast mu_t - liver. Every panel is a different random tumor.
    """
    panels = []
    for r, kind in enumerate(EXAMPLE_KINDS):
        ttype = TUMOR_TYPES[kind]
        half = tumor_half_mm(ttype.radius_mm, ttype.deform_sigma_mm[1])
        for c, contrast in enumerate(EXAMPLE_CONTRASTS_HU):
            params = sample_one(host, kind, panel_seed(seed, r, c), contrast_hu=contrast)
            t = params.tumors[0]
            caption = (f"r {t.radius_mm:.1f} mm, σe {t.deform_sigma_mm:.1f} mm\n"
                       f"μt {t.tumor_mean_hu:.0f} HU")
            values = {"kind": kind, "contrast_hu": contrast, "radius_mm": t.radius_mm,
                      "deform_sigma_mm": t.deform_sigma_mm, "tumor_mean_hu": t.tumor_mean_hu}
            panels.append(tumor_panel(host, params, crop_at(host, t.centre_vox, half), window=window,
                                      outline=outline, caption=caption, row=r, col=c, values=values))
    return FigureResult(
        name="examples", title="Synthetic liver tumors: size grows downward, darker to the right",
        nrows=len(EXAMPLE_KINDS), ncols=len(EXAMPLE_CONTRASTS_HU), panels=panels,
        row_labels=[f"{k} (r {TUMOR_TYPES[k].radius_mm:g} mm)" for k in EXAMPLE_KINDS],
        col_labels=[f"μt − liver {_fmt(v)} HU" for v in EXAMPLE_CONTRASTS_HU],
        note=_knob_note(host, seed), seed=seed, host=host.describe(),
    )


def compare_variants(host: Host, seed: int, variants: list[dict[str, Any]], *,
                     kind: str = "medium", **fixed: Any) -> list[CaseParams]:
    """Records for ``variants`` of the same tumor (same seed), pinned to the first one's centre.

    The first variant should be the one that needs the most room (largest, most deformed).
    """
    first = sample_one(host, kind, seed, **fixed, **variants[0])
    centre = first.tumors[0].centre_vox
    return [first] + [pin(sample_one(host, kind, seed, **fixed, **v), centre) for v in variants[1:]]


def shape(host: Host, *, seed: int = 0, outline: bool = True,
          window: Window = LIVER_WINDOW) -> FigureResult:
    """Shape control: radius r down the rows, elastic deformation sigma_e across the columns.

    One tumor (same seed, same place, same texture); mass effect and capsule are off so that
    only the shape changes.
    """
    fixed: dict[str, Any] = {"contrast_hu": -45.0, "texture_std_hu": 6.0, "grain_mm": 3.0,
                             "texture_blur_mm": 0.75, "edge_blur_mm": 1.0, "mass_effect_on": False,
                             "capsule": False}
    grid = [(r, s) for r in SHAPE_RADII_MM for s in SHAPE_DEFORM_MM]
    order = sorted(range(len(grid)), key=lambda i: (-grid[i][0], -grid[i][1]))  # biggest first
    recs = compare_variants(host, panel_seed(seed, 0), [
        {"radius_mm": grid[i][0], "deform_sigma_mm": grid[i][1]} for i in order], **fixed)
    by_cell = dict(zip(order, recs, strict=True))
    half = tumor_half_mm(max(SHAPE_RADII_MM), 0.0)
    crop = crop_at(host, recs[0].tumors[0].centre_vox, half)
    panels = []
    for i, (r, s) in enumerate(grid):
        row, col = divmod(i, len(SHAPE_DEFORM_MM))
        params = by_cell[i]
        panels.append(tumor_panel(host, params, crop, window=window, outline=outline,
                                  caption=f"r {r:g} mm, σe {s:g} mm", row=row, col=col,
                                  values={"radius_mm": r, "deform_sigma_mm": s}))
    return FigureResult(
        name="shape", title="Shape: radius r (rows) and elastic deformation σe (columns)",
        nrows=len(SHAPE_RADII_MM), ncols=len(SHAPE_DEFORM_MM), panels=panels,
        row_labels=[f"r {r:g} mm" for r in SHAPE_RADII_MM],
        col_labels=[f"σe {s:g} mm" for s in SHAPE_DEFORM_MM],
        note=_knob_note(host, seed, **{"μt − liver": "−45 HU", "σc": "1 mm", "post-processing": "off"}),
        seed=seed, host=host.describe(),
    )


def texture(host: Host, *, seed: int = 0, outline: bool = True,
            window: Window = LIVER_WINDOW) -> FigureResult:
    """Texture control: mean intensity mu_t down the rows, grain eta ("sharpness") across.

    One tumor (same seed, shape and place); a texture standard deviation of 15 HU makes the
    grain visible.
    """
    fixed: dict[str, Any] = {"radius_mm": 22.0, "deform_sigma_mm": 3.0, "texture_std_hu": 15.0,
                             "texture_blur_mm": 0.5, "edge_blur_mm": 1.0, "mass_effect_on": False,
                             "capsule": False}
    grid = [(m, g) for m in TEXTURE_CONTRASTS_HU for g in TEXTURE_GRAINS_MM]
    recs = compare_variants(host, panel_seed(seed, 1), [
        {"contrast_hu": m, "grain_mm": g} for m, g in grid], **fixed)
    crop = crop_at(host, recs[0].tumors[0].centre_vox, tumor_half_mm(22.0, 3.0))
    liver_hu = host.prepared.parenchyma_hu
    panels = []
    for i, ((m, g), params) in enumerate(zip(grid, recs, strict=True)):
        row, col = divmod(i, len(TEXTURE_GRAINS_MM))
        panels.append(tumor_panel(
            host, params, crop, window=window, outline=outline,
            caption=f"μt {liver_hu + m:.0f} HU ({_fmt(m)}), η {g:g} mm", row=row, col=col,
            values={"contrast_hu": m, "tumor_mean_hu": liver_hu + m, "grain_mm": g}))
    return FigureResult(
        name="texture", title="Texture: mean intensity μt (rows) and grain η (columns)",
        nrows=len(TEXTURE_CONTRASTS_HU), ncols=len(TEXTURE_GRAINS_MM), panels=panels,
        row_labels=[f"μt {liver_hu + m:.0f} HU" for m in TEXTURE_CONTRASTS_HU],
        col_labels=[f"η {g:g} mm" for g in TEXTURE_GRAINS_MM],
        note=_knob_note(host, seed, r="22 mm", σe="3 mm", σp="15 HU", σb="0.5 mm"),
        seed=seed, host=host.describe(),
    )


def liver_half_mm(host: Host) -> float:
    """Half side of an axial crop that holds the whole liver."""
    ax = axial_axis(host.affine)
    bbox = host.prepared.bbox
    extent = max((bbox[a][1] - bbox[a][0]) * host.spacing_mm[a] for a in range(3) if a != ax)
    return 0.5 * extent + 8.0


def types(host: Host, *, seed: int = 0, outline: bool = True, window: Window = LIVER_WINDOW,
          samples: int = 2) -> FigureResult:
    """The five training presets (tiny, small, medium, large, mix), ``samples`` draws each.

    Each panel is a whole synthetic case as training sees it (all tumors of the preset), shown
    on the axial slice that cuts the most tumor, cropped to the liver.
    """
    ax = axial_axis(host.affine)
    others = tuple(a for a in range(3) if a != ax)
    bbox = host.prepared.bbox
    half = liver_half_mm(host)
    panels = []
    for row in range(samples):
        for col, name in enumerate(TYPE_NAMES):
            params = sample_params(host.prepared, name, rng=panel_seed(seed, 2, row, col),
                                   on_no_room="skip")
            ct, label = host.synthesize(params)
            per_slice = (label == 2).sum(axis=others)
            k = int(np.argmax(per_slice)) if per_slice.any() else (bbox[ax][0] + bbox[ax][1]) // 2
            point = [0.5 * (bbox[a][0] + bbox[a][1] - 1) for a in range(3)]
            point[ax] = float(k)
            crop = crop_at(host, point, half)
            counts = Counter(t.kind for t in params.tumors)
            in_slice = sum(1 for t in params.tumors
                           if abs(t.centre_vox[ax] - k) * host.spacing_mm[ax] < max(t.semi_axes_mm))
            if name == "mix":
                parts = [f"{n} {kind}" for kind, n in counts.items()]
                caption = f"{', '.join(parts[:-1])},\n{parts[-1]}; {in_slice} cut by this slice"
            else:
                n = len(params.tumors)
                caption = f"{n} tumor{'s' if n != 1 else ''}\n{in_slice} cut by this slice"
            img = render(crop, ct, label, window=window, outline=outline)
            panels.append(Panel(image=img, caption=caption, row=row, col=col, params=params,
                                mm_per_px=crop.mm_per_px, tumor=crop.mask(label == 2),
                                values={"preset": name, "tumors": len(params.tumors),
                                        "kinds": dict(counts), "slice": k}))
    return FigureResult(
        name="types", title="Tumor types used for training (one synthetic case per panel)",
        nrows=samples, ncols=len(TYPE_NAMES), panels=panels,
        row_labels=[f"sample {i + 1}" for i in range(samples)],
        col_labels=[f"{n}" for n in TYPE_NAMES],
        note=(_knob_note(host, seed) + "; " + "; ".join(
            f"{n}: {PRESETS[n].description.split(',')[0]}" for n in ("tiny", "large"))),
        seed=seed, host=host.describe(),
    )


def ablation(host: Host, *, seed: int = 0, outline: bool = True,
             window: Window = LIVER_WINDOW) -> FigureResult:
    """The ablation of the paper's Figure 12: with and without edge blurring and deformation.

    Rows are two tumors (medium and large; default settings but an edge blur sigma_c of 1.5
    mm, the top of its default range, and no capsule); columns switch steps off with the same
    seed, so each row shows one tumor minus a step. Without both, tumors are sharp, perfect
    ellipsoids.
    """
    kinds = ("medium", "large")
    panels = []
    for row, kind in enumerate(kinds):
        recs = compare_variants(host, panel_seed(seed, 3, row), [dict(sw) for _, sw in ABLATIONS],
                                kind=kind, capsule=False, edge_blur_mm=ABLATION_EDGE_MM)
        t0 = recs[0].tumors[0]
        crop = crop_at(host, t0.centre_vox, tumor_half_mm(TUMOR_TYPES[kind].radius_mm, t0.deform_sigma_mm))
        for col, ((label, sw), params) in enumerate(zip(ABLATIONS, recs, strict=True)):
            t = params.tumors[0]
            caption = f"σc {t.edge_blur_mm:.1f} mm, σe {t.deform_sigma_mm:.1f} mm"
            panels.append(tumor_panel(host, params, crop, window=window, outline=outline,
                                      caption=caption, row=row, col=col,
                                      values={"variant": label, **{k: bool(v) for k, v in sw.items()},
                                              "edge_blur_mm": t.edge_blur_mm,
                                              "deform_sigma_mm": t.deform_sigma_mm}))
    return FigureResult(
        name="ablation", title="Ablation: without edge blurring and elastic deformation",
        nrows=len(kinds), ncols=len(ABLATIONS), panels=panels,
        row_labels=[f"{k}" for k in kinds], col_labels=[lab for lab, _ in ABLATIONS],
        note=_knob_note(host, seed, σc=f"{ABLATION_EDGE_MM:g} mm", capsule="off"), seed=seed,
        host=host.describe(),
    )
