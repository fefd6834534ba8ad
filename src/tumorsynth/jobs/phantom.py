"""A procedural abdominal CT for demos, docs, tests and benchmarks (no data download needed).

:func:`make_phantom` draws, in physical millimetres (so any grid shows the same anatomy): air,
the body outline with subcutaneous fat and abdominal wall muscle, visceral fat, the spine with
cortical bone and spinal canal, aorta and inferior vena cava, kidneys, spleen, and a lobulated
liver with a branching portal-venous tree, at portal-venous-phase HU, plus correlated scanner
noise. The liver is healthy: it is the host for synthetic tumors.

Axes: array axis 0 runs to the patient's left→right (RAS +x), axis 1 posterior→anterior (+y),
axis 2 inferior→superior (+z); the affine is diagonal with the centre of the grid at the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tumorsynth.errors import OptionError
from tumorsynth.generator.step2_sampling import as_generator

__all__ = ["PHANTOM_HU", "Phantom", "make_phantom"]

PHANTOM_HU = {
    "air": -1000.0, "fat": -100.0, "muscle": 50.0, "soft": 35.0, "bone": 700.0,
    "marrow": 250.0, "csf": 15.0, "blood": 165.0, "kidney": 170.0, "spleen": 120.0,
    "liver": 110.0, "portal": 175.0, "bowel_gas": -900.0,
}


@dataclass(frozen=True)
class Phantom:
    """A phantom CT: ``ct`` (int16 HU), ``liver`` and ``vessels`` (bool), grid geometry."""

    ct: np.ndarray
    liver: np.ndarray
    vessels: np.ndarray
    spacing_mm: tuple[float, float, float]
    affine: np.ndarray


def _grid(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> list[np.ndarray]:
    return [((np.arange(n) - (n - 1) / 2) * s).astype(np.float32) for n, s in zip(shape, spacing, strict=True)]


def _ellipsoid(ax: list[np.ndarray], centre: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
    x, y, z = ax
    return (((x - centre[0]) / radii[0]) ** 2)[:, None, None] + \
        (((y - centre[1]) / radii[1]) ** 2)[None, :, None] + \
        (((z - centre[2]) / radii[2]) ** 2)[None, None, :]


def _segment_tube(vol: np.ndarray, ax: list[np.ndarray], p: np.ndarray, q: np.ndarray, radius: float) -> None:
    """Mark voxels within ``radius`` mm of segment p-q (in its bounding box only)."""
    lo = np.minimum(p, q) - radius - 1
    hi = np.maximum(p, q) + radius + 1
    sl = []
    for k in range(3):
        a = ax[k]
        i0 = int(np.searchsorted(a, lo[k]))
        i1 = int(np.searchsorted(a, hi[k], side="right"))
        if i1 <= i0:
            return
        sl.append(slice(i0, i1))
    x = ax[0][sl[0]][:, None, None] - p[0]
    y = ax[1][sl[1]][None, :, None] - p[1]
    z = ax[2][sl[2]][None, None, :] - p[2]
    d = q - p
    L2 = float(d @ d) or 1e-6
    tpar = np.clip((x * d[0] + y * d[1] + z * d[2]) / L2, 0, 1)
    dist2 = (x - tpar * d[0]) ** 2 + (y - tpar * d[1]) ** 2 + (z - tpar * d[2]) ** 2
    vol[sl[0], sl[1], sl[2]] |= dist2 <= radius * radius


def _vessel_tree(rng: np.random.Generator, root: np.ndarray, direction: np.ndarray, radius: float,
                 length: float, depth: int, out: list[tuple[np.ndarray, np.ndarray, float]]) -> None:
    end = root + direction * length
    out.append((root, end, radius))
    if depth == 0 or radius < 1.2:
        return
    for _ in range(2):
        turn = rng.normal(0, 0.6, 3)
        nd = direction + turn
        nd /= np.linalg.norm(nd)
        _vessel_tree(rng, end, nd, radius * 0.72, length * rng.uniform(0.65, 0.85), depth - 1, out)


def make_phantom(
    shape: tuple[int, int, int] = (192, 192, 96),
    spacing_mm: tuple[float, float, float] = (2.0, 2.0, 2.5),
    *,
    rng: np.random.Generator | int = 0,
    noise_hu: float = 12.0,
) -> Phantom:
    """Build a procedural abdominal CT (int16 HU) with a healthy liver and its vessels.

    Args:
        shape: array shape; the field of view is ``shape * spacing_mm`` (the anatomy is in mm
            and does not change with the grid; a field of view under ~300 x 260 x 200 mm cuts it).
        spacing_mm: voxel spacing per axis (anisotropic allowed, e.g. (0.8, 0.8, 5.0)).
        rng: seed or Generator for the anatomy's random details and the noise.
        noise_hu: standard deviation of the scanner noise.

    Example:
        >>> ph = make_phantom(shape=(64, 64, 32), spacing_mm=(5.0, 5.0, 8.0))
        >>> ph.ct.dtype, bool(ph.liver.any())
        (dtype('int16'), True)
    """
    shape = tuple(int(v) for v in shape)  # type: ignore[assignment]
    spacing = tuple(float(v) for v in spacing_mm)
    if len(shape) != 3 or min(shape) < 8:
        raise OptionError(f"phantom shape must be 3 sizes >= 8, got {shape}")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise OptionError(f"phantom spacing_mm must be 3 positive numbers, got {spacing_mm}")
    gen = as_generator(rng)
    ax = _grid(shape, spacing)  # type: ignore[arg-type]
    hu = PHANTOM_HU
    ct = np.full(shape, hu["air"], dtype=np.float32)

    # body: elliptic cylinder, a little tapered
    x, y, z = ax
    zz = z[None, None, :]
    body_a = 165.0 * (1 - 0.0006 * np.abs(zz))
    body_b = 120.0 * (1 - 0.0006 * np.abs(zz))
    rb = (x[:, None, None] / body_a) ** 2 + ((y[None, :, None] + 10) / body_b) ** 2
    body = rb <= 1
    ct[body] = hu["fat"]
    wall = rb <= (0.9) ** 2
    ct[wall] = hu["muscle"]
    cavity = rb <= (0.84) ** 2
    ct[cavity] = hu["fat"] + 30.0  # visceral fat with strands
    # bowel: soft tissue blobs and a few gas pockets in the anterior left cavity
    for _ in range(14):
        c = (gen.uniform(-110, 60), gen.uniform(-10, 70), gen.uniform(-120, 40))
        r = tuple(gen.uniform(12, 25, 3))
        ct[(_ellipsoid(ax, c, r) <= 1) & cavity] = hu["soft"]
    for _ in range(5):
        c = (gen.uniform(-100, 40), gen.uniform(10, 60), gen.uniform(-110, 20))
        r = tuple(gen.uniform(4, 9, 3))
        ct[(_ellipsoid(ax, c, r) <= 1) & cavity] = hu["bowel_gas"]
    # spine
    vert = _ellipsoid(ax, (0, -85, 0), (22, 18, 1e6)) <= 1
    ct[vert] = hu["bone"]
    ct[_ellipsoid(ax, (0, -85, 0), (18, 14, 1e6)) <= 1] = hu["marrow"]
    ct[_ellipsoid(ax, (0, -112, 0), (9, 8, 1e6)) <= 1] = hu["csf"]
    ct[_ellipsoid(ax, (-22, -60, 0), (11, 11, 1e6)) <= 1] = hu["blood"]  # aorta (patient left)
    # kidneys and spleen
    for sx in (-1, 1):
        kid = _ellipsoid(ax, (sx * 65, -70, -40), (24, 20, 52)) <= 1
        ct[kid] = hu["kidney"]
        ct[_ellipsoid(ax, (sx * 62, -68, -40), (9, 8, 25)) <= 1] = hu["fat"]  # renal sinus
    ct[_ellipsoid(ax, (-95, -45, 55), (28, 40, 55)) <= 1] = hu["spleen"]

    # liver: lobulated ellipsoid in the right upper abdomen
    lc = np.array([62.0, 5.0, 60.0])
    lr = np.array([88.0, 78.0, 75.0])
    sel = [slice(int(np.searchsorted(ax[k], lc[k] - 1.35 * lr[k])),
                 int(np.searchsorted(ax[k], lc[k] + 1.35 * lr[k], side="right"))) for k in range(3)]
    sub = [ax[k][sel[k]] for k in range(3)]
    lobes = np.zeros(tuple(len(s) for s in sub), dtype=np.float32)
    if lobes.size:
        rho = _ellipsoid(sub, tuple(lc), tuple(lr))
        # smooth random bumps of the surface, a thinner left lobe reaching the midline
        bumps = ndimage.gaussian_filter(gen.standard_normal(lobes.shape).astype(np.float32),
                                        sigma=[12.0 / s for s in spacing]) * 6.0
        left = _ellipsoid(sub, (5.0, 25.0, 75.0), (55.0, 45.0, 40.0))
        lobes = np.minimum(rho - 0.15 * (1 - np.clip(rho, 0, 1)) + bumps, left)
        liver_sub = (lobes <= 1) & cavity[sel[0], sel[1], sel[2]]
    else:
        liver_sub = lobes.astype(bool)
    liver = np.zeros(shape, dtype=bool)
    liver[sel[0], sel[1], sel[2]] = liver_sub
    ct[liver] = hu["liver"]

    # vessels: portal tree from the hilum and the IVC behind the liver
    segments: list[tuple[np.ndarray, np.ndarray, float]] = []
    hilum = np.array([35.0, -5.0, 35.0])
    for _ in range(3):
        d0 = gen.normal(0, 1, 3) + np.array([1.0, 0.3, 0.5])
        d0 /= np.linalg.norm(d0)
        _vessel_tree(gen, hilum, d0, 5.5, 38.0, 4, segments)
    vessels = np.zeros(shape, dtype=bool)
    for p0, p1, radius in segments:
        _segment_tube(vessels, ax, p0, p1, radius)
    _segment_tube(vessels, ax, np.array([25.0, -45.0, -120.0]), np.array([22.0, -35.0, 130.0]), 11.0)
    vessels &= liver | (_ellipsoid(ax, (24, -40, 0), (14, 14, 1e6)) <= 1)
    ct[vessels] = hu["portal"]
    vessels &= liver
    # the scanner's point spread: soft organ edges (partial volume), then correlated noise
    ct = ndimage.gaussian_filter(ct, sigma=[0.6 * max(1.0, s) / s for s in spacing], mode="nearest")
    sigma_vox = [0.7 * max(1.0, 1.0 / s) for s in spacing]
    noise = gen.standard_normal(shape, dtype=np.float32)
    noise = ndimage.gaussian_filter(noise, sigma=sigma_vox)
    noise *= np.float32(noise_hu / max(float(noise.std()), 1e-6))
    ct += noise
    ct = np.clip(np.rint(ct), -1024, 3071).astype(np.int16)
    affine = np.diag([spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [-(n - 1) / 2 * s for n, s in zip(shape, spacing, strict=True)]
    return Phantom(ct=ct, liver=liver, vessels=vessels, spacing_mm=spacing, affine=affine)  # type: ignore[arg-type]
