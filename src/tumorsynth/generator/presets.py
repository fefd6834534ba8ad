"""The tumor presets: one registry, data only (the paper's Table 6 and our generator defaults).

A *tumor type* says how big a tumor is and how much it is deformed; a *preset* says which tumor
types a CT receives and how many of each. The five training presets of the paper are ``tiny``,
``small``, ``medium``, ``large`` (one type each) and ``mix`` (all four types in one CT); the
pseudo-preset ``any`` draws one of those five with probability 0.2 each, as in training.

Every value of :data:`GENERATOR_DEFAULTS` is a knob of :func:`tumorsynth.sample_params`: a number
fixes it, a ``(lo, hi)`` pair draws it uniformly per tumor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tumorsynth.errors import OptionError

__all__ = [
    "GENERATOR_DEFAULTS",
    "INTENSITY_MODES",
    "PRESETS",
    "PRESET_WEIGHTS",
    "TUMOR_TYPES",
    "Preset",
    "TumorType",
    "get_preset",
    "preset_table",
]


@dataclass(frozen=True)
class TumorType:
    """One row of the paper's Table 6.

    Attributes:
        name: tiny, small, medium or large.
        radius_mm: nominal radius r; semi-axes are drawn from U(0.75 r, 1.25 r).
        deform_sigma_mm: range of the elastic deformation strength sigma_e (mm).
        count: inclusive range of the number of tumors of this type per CT.
    """

    name: str
    radius_mm: float
    deform_sigma_mm: tuple[float, float]
    count: tuple[int, int]


@dataclass(frozen=True)
class Preset:
    """Which tumor types a CT receives: ``components`` maps a type name to a count range."""

    name: str
    components: tuple[tuple[str, tuple[int, int]], ...]
    description: str


TUMOR_TYPES: Mapping[str, TumorType] = MappingProxyType({
    "tiny": TumorType("tiny", 4.0, (0.5, 1.0), (3, 10)),
    "small": TumorType("small", 8.0, (1.0, 2.0), (3, 10)),
    "medium": TumorType("medium", 16.0, (3.0, 6.0), (2, 5)),
    "large": TumorType("large", 32.0, (5.0, 10.0), (1, 3)),
})

PRESETS: Mapping[str, Preset] = MappingProxyType({
    "tiny": Preset("tiny", (("tiny", (3, 10)),), "3-10 tiny tumors, r = 4 mm"),
    "small": Preset("small", (("small", (3, 10)),), "3-10 small tumors, r = 8 mm"),
    "medium": Preset("medium", (("medium", (2, 5)),), "2-5 medium tumors, r = 16 mm"),
    "large": Preset("large", (("large", (1, 3)),), "1-3 large tumors, r = 32 mm"),
    "mix": Preset(
        "mix",
        (("tiny", (1, 3)), ("small", (1, 3)), ("medium", (1, 2)), ("large", (1, 1))),
        "all four types in one CT: 1-3 tiny, 1-3 small, 1-2 medium, 1 large",
    ),
})

# Training draws one of the five presets with these probabilities (Table 6).
PRESET_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"tiny": 0.2, "small": 0.2, "medium": 0.2, "large": 0.2, "mix": 0.2}
)

# Contrast of the tumor mean against the host's liver parenchyma, per intensity mode (HU).
INTENSITY_MODES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "hypo": (-60.0, -20.0),  # darker than liver: hypovascular metastases, most HCC in PV phase
    "hyper": (20.0, 60.0),  # brighter than liver: hypervascular lesions in arterial phase
    "paper": (-72.0, -33.0),  # the darkening of the paper's released code
})

# How much contrast medium the host's parenchyma holds (SPEC 2b: contrast depends on the phase).
# A liver without contrast medium measures about 55 HU, one in portal-venous phase about 110 HU.
# A hypo-attenuating lesion differs from the liver mostly because it takes up less contrast
# medium: unenhanced, metastases and HCC lie about 8 to 25 HU below the liver; at full
# portal-venous enhancement the "hypo" range above. An enhancing capsule is likewise seen only
# with contrast medium. With ``contrast_follows_enhancement`` the hypo range and the capsule's
# brightness move between the two with the host's enhancement (see :func:`enhancement_fraction`).
UNENHANCED_LIVER_HU = 55.0
ENHANCED_LIVER_HU = 110.0
HYPO_UNENHANCED_HU = (-25.0, -8.0)


def enhancement_fraction(parenchyma_hu: float) -> float:
    """0 for a liver without contrast medium (<= 55 HU), 1 at portal-venous enhancement (>= 110 HU).

    Example:
        >>> enhancement_fraction(46.0), enhancement_fraction(82.5), enhancement_fraction(120.0)
        (0.0, 0.5, 1.0)
    """
    span = ENHANCED_LIVER_HU - UNENHANCED_LIVER_HU
    return max(0.0, min(1.0, (float(parenchyma_hu) - UNENHANCED_LIVER_HU) / span))


def hypo_contrast_range(parenchyma_hu: float) -> tuple[float, float]:
    """The hypo range of tumor mean minus parenchyma (HU) for a host of this parenchyma HU.

    Example:
        >>> hypo_contrast_range(46.0), hypo_contrast_range(115.0)
        ((-25.0, -8.0), (-60.0, -20.0))
    """
    f = enhancement_fraction(parenchyma_hu)
    full = INTENSITY_MODES["hypo"]
    lo, hi = (u + f * (e - u) for u, e in zip(HYPO_UNENHANCED_HU, full, strict=True))
    return (float(lo), float(hi))


# Knobs of the generator; number = fixed, (lo, hi) = uniform per tumor.
GENERATOR_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    # texture (step 2)
    "intensity": "hypo",  # hypo | hyper | paper: picks the contrast_hu range above
    "contrast_follows_enhancement": True,  # hypo range and capsule scaled by the host's enhancement
    "contrast_hu": None,  # mu_t relative to the parenchyma; None = the intensity mode's range
    "local_contrast": True,  # contrast relative to the liver around the tumor (False: the global median)
    "tumor_mean_hu": None,  # absolute mu_t in HU; overrides contrast_hu when set
    "texture_std_hu": (3.0, 10.0),  # sigma_p: the tumor's own heterogeneity (the scanner's noise comes on top)
    "grain_mm": (1.5, 4.0),  # eta: grid step of the noise before cubic upsampling (coarser = larger)
    "texture_blur_mm": (0.5, 1.0),  # sigma_b
    # shape (step 3)
    "radius_mm": None,  # r; None = the tumor type's r
    "axis_spread": 0.25,  # semi-axes from U((1 - s) r, (1 + s) r)
    "deform_sigma_mm": None,  # sigma_e: lobulation of the margin; None = the tumor type's range
    "edge_blur_mm": (0.5, 1.5),  # sigma_c
    # post-processing (step 4)
    "mass_effect": (0.03, 0.08),  # radial push at the tumor surface, as a fraction of its radius
    "mass_effect_range_mm": None,  # decay distance outside the tumor; None = 0.3 r in 2..8 mm
    "capsule_probability": 0.5,  # chance of a capsule for tumors of r >= capsule_min_radius_mm
    "capsule_min_radius_mm": 10.0,
    "capsule_hu": (10.0, 30.0),  # rim brightness relative to the parenchyma (at full enhancement)
    "capsule_width_mm": (0.8, 1.5),
    # location (step 1)
    "inside_fraction": 0.75,  # centre at least this fraction of the largest semi-axis deep in the liver
    "vessel_clearance": 1.0,  # no vessel within this fraction of the largest semi-axis
    "strict_vessels": False,  # False: if no place is clear enough, take one of the clearest
    "on_no_room": "error",  # error (only if no tumor fits; others are left out) | skip | relax
    "count": None,  # number of tumors (every component); None = the preset's ranges
    # switches (each step can be turned off for ablations)
    "vessel_avoidance": True,
    "deformation": True,
    "edge_blur": True,
    "mass_effect_on": True,
    "capsule": True,
})


def get_preset(name: str) -> Preset:
    """Look up a preset by name; a bad name raises an error that lists the choices."""
    key = str(name).strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    import difflib

    close = difflib.get_close_matches(key, [*PRESETS, "any"], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise OptionError(
        f"preset {name!r} is unknown{hint}; choose one of {', '.join([*PRESETS, 'any'])}"
    )


_KNOB_HELP = {
    "intensity": "contrast range: hypo (darker than liver), hyper, or paper",
    "contrast_follows_enhancement": "scale hypo contrast and capsule by the host's enhancement",
    "contrast_hu": "HU, tumor mean minus liver parenchyma (None: intensity's range)",
    "local_contrast": "contrast vs the liver 3-10 mm around the tumor (False: global median)",
    "tumor_mean_hu": "HU, absolute tumor mean (overrides contrast_hu)",
    "texture_std_hu": "HU, sigma_p: texture SD (scanner-like noise added)",
    "grain_mm": "mm, eta: noise grid step before cubic upsampling",
    "texture_blur_mm": "mm, sigma_b: texture blur",
    "radius_mm": "mm, r (None: the tumor type's)",
    "axis_spread": "semi-axes from U((1-s) r, (1+s) r)",
    "deform_sigma_mm": "mm, sigma_e: margin lobulation (None: the type's range)",
    "edge_blur_mm": "mm, sigma_c: edge blur",
    "mass_effect": "push at the surface, fraction of the radius",
    "mass_effect_range_mm": "mm, decay of the push (None: 0.3 r in 2..8)",
    "capsule_probability": "chance of a capsule (tumors of r >= capsule_min_radius_mm)",
    "capsule_min_radius_mm": "mm",
    "capsule_hu": "HU, rim brightness above the parenchyma",
    "capsule_width_mm": "mm, rim thickness",
    "inside_fraction": "centre this fraction of the largest semi-axis deep in the liver",
    "vessel_clearance": "no vessel within this fraction of the largest semi-axis",
    "strict_vessels": "True: no clear place = no room; False: clearest places",
    "on_no_room": "error | skip | relax",
    "count": "tumors per type (None: the preset's ranges)",
}


def preset_table() -> str:
    """A plain-text table of the presets, tumor types and knobs (``tumorsynth presets``)."""
    lines = ["preset   tumor types and counts per CT", "-------  ------------------------------"]
    for p in PRESETS.values():
        lines.append(f"{p.name:<8} {p.description}")
    lines.append("any      one of the five presets above, probability 0.2 each (training)")
    lines += ["", f"{'type':<8} {'r (mm)':>6}  {'semi-axes (mm)':<15} {'sigma_e (mm)':<13} N per CT",
              f"{'-' * 8} {'-' * 6}  {'-' * 15} {'-' * 13} --------"]
    for t in TUMOR_TYPES.values():
        axes = f"U({0.75 * t.radius_mm:g}, {1.25 * t.radius_mm:g})"
        sig = f"U({t.deform_sigma_mm[0]:g}, {t.deform_sigma_mm[1]:g})"
        lines.append(f"{t.name:<8} {t.radius_mm:>6g}  {axes:<15} {sig:<13} F({t.count[0]}, {t.count[1]})")
    lines += ["", "generator knobs (number = fixed, (lo, hi) = uniform per tumor; on the CLI: --set KNOB=VALUE):"]
    for k, v in GENERATOR_DEFAULTS.items():
        lines.append(f"  {k:<22} {v!r:<14} {_KNOB_HELP.get(k, 'switch: True turns the step on')}")
    lines.append(f"  intensity modes (HU vs liver): {', '.join(f'{k} {v}' for k, v in INTENSITY_MODES.items())}")
    lines.append(f"  hypo on a liver without contrast medium (<= {UNENHANCED_LIVER_HU:g} HU): {HYPO_UNENHANCED_HU}, "
                 f"linear up to the full range at {ENHANCED_LIVER_HU:g} HU (contrast_follows_enhancement)")
    return "\n".join(lines)
