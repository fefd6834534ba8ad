"""Parameter records: plain, frozen data that fully determine a synthetic case.

:func:`tumorsynth.sample_params` draws a :class:`CaseParams`; :func:`tumorsynth.synthesize`
applies it. A record holds numbers and seeds only (never ranges), so it can be logged as JSON
and replayed voxel for voxel::

    >>> text = params.to_json()                 # doctest: +SKIP
    >>> CaseParams.from_json(text) == params    # doctest: +SKIP
    True

Coordinates: ``centre_vox`` is a (fractional) index into the CT array, in the array's own axis
order (see :mod:`tumorsynth.io`); every length is in millimetres, every intensity in HU.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tumorsynth.errors import InputError

__all__ = ["FORMAT_VERSION", "CaseParams", "TumorParams"]

# 2: the deformation's control points and the texture noise come from one hashed lattice
#    (tumorsynth 0.2)
# 3: lobulated surfaces (spherical harmonics), the host's structure replaced by scanner-like
#    noise inside the tumor, edges imaged with the host's resolution (tumorsynth 0.3)
# A record replays voxel for voxel only with the generator version that wrote it.
FORMAT_VERSION = 3


@dataclass(frozen=True)
class TumorParams:
    """Everything that defines one tumor.

    Attributes:
        kind: tumor type (tiny, small, medium, large, or custom).
        centre_vox: tumor centre as a fractional array index.
        semi_axes_mm: semi-axes of the ellipsoid before deformation.
        rotation: unit quaternion (w, x, y, z) orienting the ellipsoid in array-index space
            scaled to mm.
        deform_sigma_mm: strength sigma_e of the elastic deformation: SD of the radial displacement
            of the surface, mm (0 = none).
        deform_seed: seed of the deformation (the surface's spherical-harmonic coefficients).
        edge_blur_mm: sigma_c of the edge blur (0 = a hard edge).
        tumor_mean_hu: mean tumor intensity mu_t in HU (absolute).
        texture_std_hu: sigma_p, standard deviation of the texture in HU.
        grain_mm: eta, grid step of the texture noise before cubic upsampling.
        texture_blur_mm: sigma_b, blur of the texture.
        texture_seed: seed of the texture noise.
        mass_effect_mm: outward push of the surrounding tissue at the tumor surface (0 = none).
        mass_effect_range_mm: distance outside the surface over which the push decays to 0.
        capsule_hu: brightness of the capsule rim relative to the parenchyma (0 = no capsule).
        capsule_width_mm: thickness (standard deviation) of the capsule rim.
        noise_seed: where the tumor reads the scanner-like noise that replaces the host's structure.
    """

    kind: str
    centre_vox: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    rotation: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    deform_sigma_mm: float = 0.0
    deform_seed: int = 0
    edge_blur_mm: float = 1.0
    tumor_mean_hu: float = 60.0
    texture_std_hu: float = 5.0
    grain_mm: float = 2.0
    texture_blur_mm: float = 0.75
    texture_seed: int = 0
    mass_effect_mm: float = 0.0
    mass_effect_range_mm: float = 0.0
    capsule_hu: float = 0.0
    capsule_width_mm: float = 1.0
    noise_seed: int = 0

    def __post_init__(self) -> None:
        if len(self.centre_vox) != 3 or len(self.semi_axes_mm) != 3 or len(self.rotation) != 4:
            raise InputError("tumor record: centre_vox and semi_axes_mm need 3 values, rotation 4")
        if min(self.semi_axes_mm) <= 0:
            raise InputError(f"tumor record: semi_axes_mm must be > 0, got {self.semi_axes_mm}")
        for name in ("deform_sigma_mm", "edge_blur_mm", "texture_std_hu", "texture_blur_mm",
                     "mass_effect_mm", "mass_effect_range_mm", "capsule_width_mm"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise InputError(f"tumor record: {name} must be finite and >= 0, got {v}")
        if not self.grain_mm > 0:
            raise InputError(f"tumor record: grain_mm must be > 0, got {self.grain_mm}")

    @property
    def radius_mm(self) -> float:
        """Equivalent radius (geometric mean of the semi-axes)."""
        a, b, c = self.semi_axes_mm
        return float((a * b * c) ** (1.0 / 3.0))


@dataclass(frozen=True)
class CaseParams:
    """A whole synthetic case: the host geometry it was sampled for and its tumors.

    Attributes:
        shape: shape of the CT array the record applies to.
        spacing_mm: voxel spacing of that CT.
        parenchyma_hu: median HU of the host's liver parenchyma (the reference of contrasts).
        noise_hu: robust standard deviation of the parenchyma (scanner noise and texture).
        tumors: the tumors, applied in order.
        noise_sd_hu: SD of the host scanner's noise (None: ``noise_hu``), measured on the host.
        noise_corr_vox: Gaussian correlation width of that noise along each array axis, voxels
            (None: white).
        resolution_mm: SD of the host scanner's edge spread along each array axis, mm (None: the
            voxel's own extent, ``spacing / sqrt(12)``).
        preset: name of the preset they were drawn from.
        seed: the integer seed given to ``sample_params`` (None when a Generator was given).
        skipped: number of requested tumors that found no room (``on_no_room="skip"``).
        settings: the resolved knobs and switches used for sampling, for the record.
        version: format version of the record.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    parenchyma_hu: float
    noise_hu: float
    tumors: tuple[TumorParams, ...]
    preset: str = "custom"
    seed: int | None = None
    skipped: int = 0
    settings: dict[str, Any] = field(default_factory=dict, compare=False)
    version: int = FORMAT_VERSION
    noise_sd_hu: float | None = None
    noise_corr_vox: tuple[float, float, float] | None = None
    resolution_mm: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("noise_corr_vox", "resolution_mm"):
            v = getattr(self, name)
            if v is None:
                continue
            if len(v) != 3 or not all(math.isfinite(float(x)) and float(x) >= 0 for x in v):
                raise InputError(f"case record: {name} must be 3 finite numbers >= 0, got {v}")
        if self.noise_sd_hu is not None and not (math.isfinite(self.noise_sd_hu) and self.noise_sd_hu >= 0):
            raise InputError(f"case record: noise_sd_hu must be finite and >= 0, got {self.noise_sd_hu}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialize to JSON text (floats round-trip exactly)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "parameter record") -> CaseParams:
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InputError(
                f"{source}: record format version {version} is not supported (this tumorsynth "
                f"reads version {FORMAT_VERSION}); replay it with the tumorsynth version that wrote it "
                f"(see its report.json) or sample the case again"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{source}: unknown field(s) {', '.join(unknown)}; is this a tumorsynth record?")
        tumor_fields = {f.name for f in fields(TumorParams)}
        try:
            tumors = []
            for i, t in enumerate(data["tumors"]):
                bad = sorted(set(t) - tumor_fields)
                if bad:
                    raise InputError(f"{source}: tumor {i} has unknown field(s) {', '.join(bad)}")
                t = dict(t)
                for key in ("centre_vox", "semi_axes_mm", "rotation"):
                    if key in t:
                        t[key] = tuple(float(v) for v in t[key])
                try:
                    tumors.append(TumorParams(**t))
                except InputError as exc:
                    raise InputError(f"{source}: tumor {i}: {exc}") from None
            return cls(
                shape=tuple(int(v) for v in data["shape"]),  # type: ignore[arg-type]
                spacing_mm=tuple(float(v) for v in data["spacing_mm"]),  # type: ignore[arg-type]
                parenchyma_hu=float(data["parenchyma_hu"]),
                noise_hu=float(data["noise_hu"]),
                tumors=tuple(tumors),
                preset=str(data.get("preset", "custom")),
                seed=None if data.get("seed") is None else int(data["seed"]),
                skipped=int(data.get("skipped", 0)),
                settings=dict(data.get("settings", {})),
                version=int(version),
                noise_sd_hu=None if data.get("noise_sd_hu") is None else float(data["noise_sd_hu"]),
                noise_corr_vox=_triple(data.get("noise_corr_vox")),
                resolution_mm=_triple(data.get("resolution_mm")),
            )
        except KeyError as exc:
            raise InputError(f"{source}: missing field {exc.args[0]!r}; is this a tumorsynth record?") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{source}: malformed record ({exc})") from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "parameter record") -> CaseParams:
        """Parse JSON text written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                             "pass the params.json written by `tumorsynth synth`") from None
        return cls.from_dict(data, source=source)


def _triple(v: Any) -> tuple[float, float, float] | None:
    if v is None:
        return None
    vals = tuple(float(x) for x in v)
    if len(vals) != 3:
        raise ValueError(f"expected 3 values, got {len(vals)}")
    return (vals[0], vals[1], vals[2])
