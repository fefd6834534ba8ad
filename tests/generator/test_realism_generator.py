"""The generator's tumors look as the host scanner would have imaged them (issue 9, part B).

Shape: lobulated margins whose irregularity grows with sigma_e within every tumor type, one piece
without holes. Interior: the host's structure (vessels, grain) replaced by noise with the host's
own statistics. Edges: never sharper than the host's, the label boundary at half contrast.
The host's noise and resolution are measured on the host itself (tumorsynth.generator.step1_host).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

import tumorsynth as ts
from tumorsynth.generator.params import CaseParams, TumorParams
from tumorsynth.generator.presets import TUMOR_TYPES
from tumorsynth.generator.step1_host import estimate_noise, estimate_resolution

skimage = pytest.importorskip("skimage", reason="the realism measures need scikit-image")
from tumorsynth.apps.realism import lesion_features  # noqa: E402
from tumorsynth.apps.realism.geometry import sphericity  # noqa: E402


@pytest.fixture(scope="module")
def phantom_1mm() -> ts.Phantom:
    return ts.make_phantom(shape=(200, 176, 128), spacing_mm=(1.0, 1.0, 1.0), rng=3)


@pytest.fixture(scope="module")
def prepared_1mm(phantom_1mm: ts.Phantom) -> ts.Prepared:
    return ts.prepare(phantom_1mm.ct, phantom_1mm.liver, phantom_1mm.spacing_mm)


def _lone_tumor_mask(kind: str, sigma: float, seed: int, spacing: float) -> np.ndarray:
    """The label of one tumor of ``kind`` in a uniform block of liver (nothing cuts it)."""
    r = TUMOR_TYPES[kind].radius_mm
    n = int(np.ceil((2 * 1.25 * r * 2.2 + 12) / spacing))
    ct = np.full((n, n, n), 100, dtype=np.int16)
    liver = np.ones((n, n, n), dtype=bool)
    rng = np.random.default_rng(seed)
    axes = tuple(float(v) for v in r * rng.uniform(0.75, 1.25, 3))
    q = rng.standard_normal(4)
    t = TumorParams(kind=kind, centre_vox=((n - 1) / 2,) * 3, semi_axes_mm=axes,  # type: ignore[arg-type]
                    rotation=tuple(float(v) for v in q / np.linalg.norm(q)),  # type: ignore[arg-type]
                    deform_sigma_mm=sigma, deform_seed=seed, edge_blur_mm=0.0, tumor_mean_hu=50.0,
                    texture_std_hu=0.0)
    p = CaseParams(shape=(n, n, n), spacing_mm=(spacing,) * 3, parenchyma_hu=100.0, noise_hu=0.0,  # type: ignore[arg-type]
                   tumors=(t,), noise_sd_hu=0.0)
    return ts.synthesize(ct, liver, p)[1] == 2


@pytest.mark.parametrize("kind", ["tiny", "small", "medium", "large"])
def test_sphericity_falls_steadily_with_sigma_e_within_each_type(kind):
    lo, hi = TUMOR_TYPES[kind].deform_sigma_mm
    spacing = {"tiny": 0.4, "small": 0.6, "medium": 1.0, "large": 1.6}[kind]
    sigmas = [0.0, lo, (lo + hi) / 2, hi]
    means = []
    for sigma in sigmas:
        vals = []
        for seed in range(4):
            mask = _lone_tumor_mask(kind, sigma, seed, spacing)
            assert ndimage.label(mask, structure=np.ones((3, 3, 3)))[1] == 1
            assert not (ndimage.binary_fill_holes(mask) & ~mask).any()
            vals.append(sphericity(mask, (spacing,) * 3))
        means.append(float(np.mean(vals)))
    assert all(a > b for a, b in itertools.pairwise(means)), means
    # the top of each type's range is clearly irregular, not a near-ellipsoid
    assert means[0] - means[-1] > 0.04, means


def test_medium_and_large_tumors_are_lobulated_at_the_papers_sigma(phantom_1mm, prepared_1mm):
    sph = []
    for preset in ("medium", "large"):
        for seed in range(3):
            p = ts.sample_params(prepared_1mm, preset, rng=seed, capsule=False, mass_effect_on=False)
            ct2, lab = ts.synthesize(phantom_1mm.ct, phantom_1mm.liver, p)
            sph += [f["sphericity"] for f in lesion_features(ct2, lab, phantom_1mm.spacing_mm, min_volume_mm3=500)]
    assert len(sph) >= 6
    assert np.nanmedian(sph) < 0.9  # 0.2's near-ellipsoids scored about 0.91-0.93


def test_host_noise_and_resolution_are_measured_on_the_host():
    rng = np.random.default_rng(0)
    for sp, psf, corr in [((1.0, 1.0, 1.0), 1.2, (0.7, 0.7, 0.7)), ((0.8, 0.8, 2.5), 1.0, (1.0, 1.0, 0.4))]:
        shape = tuple(int(150 / s) for s in sp)
        grid = np.meshgrid(*[(np.arange(n) - n / 2 + 0.3) * s for n, s in zip(shape, sp, strict=True)], indexing="ij")
        r = np.sqrt(sum(g**2 for g in grid))
        liver = r <= 55
        from scipy.special import ndtr

        ct = -100.0 + 200.0 * ndtr((55.0 - r) / psf)  # a liver in fat, imaged with an edge spread of psf
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), corr)
        ct += noise * (12.0 / noise.std())
        res, ok = estimate_resolution(ct, liver, sp)
        assert all(ok)
        for s, rr in zip(sp, res, strict=True):
            assert rr == pytest.approx(max(psf, s / np.sqrt(12)), rel=0.15)
        centres = np.argwhere(ndimage.binary_erosion(liver, iterations=int(12 / min(sp))))[::997].astype(np.float32)
        est = estimate_noise(ct, centres, sp)
        assert est is not None
        sd, widths = est
        assert sd == pytest.approx(12.0, rel=0.1)
        for w, c in zip(widths, corr, strict=True):
            assert w == pytest.approx(c, abs=0.12)


def test_phantom_host_model_matches_how_the_phantom_was_made(prepared):
    host = prepared.host  # phantom: noise 12 HU of 0.7 voxels, edges blurred by 0.6 max(1, s) mm
    assert set(host.measured) == {"noise", "resolution"}
    assert host.noise_sd_hu == pytest.approx(12.0, rel=0.15)
    assert all(0.4 < c < 1.0 for c in host.corr_vox)
    assert all(0.8 * 0.6 * 2.5 < r < 1.3 * 0.6 * 3.0 for r in host.resolution_mm)


def test_interior_has_only_scanner_like_fine_texture(phantom_1mm, prepared_1mm):
    ratios = []
    for preset in ("medium", "large"):
        for seed in range(3):
            p = ts.sample_params(prepared_1mm, preset, rng=seed)
            ct2, lab = ts.synthesize(phantom_1mm.ct, phantom_1mm.liver, p)
            ratios += [f["fine_texture_ratio"] for f in lesion_features(ct2, lab, phantom_1mm.spacing_mm,
                                                                          min_volume_mm3=1000)]
    ratios = [r for r in ratios if np.isfinite(r)]
    assert len(ratios) >= 5
    assert np.median(ratios) <= 1.0
    assert max(ratios) <= 1.06


def test_a_vessel_under_a_tumor_leaves_no_bright_trace(phantom_1mm, prepared_1mm):
    ph = phantom_1mm
    checked = 0
    for seed in range(20):
        p = ts.sample_params(prepared_1mm, "large", rng=seed, count=1, vessel_avoidance=False, capsule=False,
                             mass_effect_on=False)
        ct2, lab = ts.synthesize(ph.ct, ph.liver, p)
        core = ndimage.binary_erosion(lab == 2, iterations=4)
        vessel = core & ph.vessels
        if vessel.sum() < 30:
            continue
        checked += 1
        before = ph.ct[vessel].astype(float).mean() - ph.ct[core & ~ph.vessels].astype(float).mean()
        after = ct2[vessel].astype(float).mean() - ct2[core & ~ph.vessels].astype(float).mean()
        assert before > 30  # the vessel was there, bright
        assert abs(after) < 4  # and is gone: the tumor replaced it
        if checked >= 2:
            break
    assert checked >= 1, "no sampled tumor crossed a vessel"


def test_edges_never_sharper_than_the_host_and_label_at_half_contrast(phantom_1mm, prepared_1mm):
    host_sigma = float(np.mean(prepared_1mm.host.resolution_mm))
    widths, offsets = [], []
    for seed in range(4):
        p = ts.sample_params(prepared_1mm, "large", rng=seed, capsule=False, mass_effect_on=False,
                             edge_blur_mm=0.05, texture_std_hu=2.0, contrast_hu=(-60, -50))
        ct2, lab = ts.synthesize(phantom_1mm.ct, phantom_1mm.liver, p)
        for f in lesion_features(ct2, lab, phantom_1mm.spacing_mm, min_volume_mm3=2000):
            widths.append(f["edge_width_mm"])
            offsets.append(f["edge_offset_mm"])
    widths = np.array([w for w in widths if np.isfinite(w)])
    assert widths.size >= 3
    # even with almost no edge blur of its own, the edge is the scanner's (10-90 %: 2.563 sigma)
    assert np.median(widths) >= 0.9 * 2.563 * host_sigma
    assert np.nanmedian(np.abs(offsets)) < 0.5


def test_real_ct_interior_and_vessels(real_dir):
    import nibabel as nib

    img = nib.load(real_dir / "example_ct.nii.gz")
    ct = np.asarray(img.dataobj)
    liver = np.asarray(nib.load(real_dir / "example_ct_liver.nii.gz").dataobj) > 0.5
    sp = tuple(float(v) for v in img.header.get_zooms()[:3])
    prep = ts.prepare(ct, liver, sp)
    assert "noise" in prep.host.measured
    assert prep.host.noise_sd_hu == pytest.approx(prep.noise_hu, rel=0.5)
    ratios = []
    for seed in range(4):
        p = ts.sample_params(prep, "large", rng=seed, capsule=False, on_no_room="skip")
        ct2, lab = ts.synthesize(ct, liver, p)
        ratios += [f["fine_texture_ratio"] for f in lesion_features(ct2, lab, sp, min_volume_mm3=2000)]
    ratios = [r for r in ratios if np.isfinite(r)]
    assert ratios and np.median(ratios) <= 1.02
