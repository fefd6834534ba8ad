import numpy as np
import pytest
from scipy import ndimage

import tumorsynth as ts
from tumorsynth.errors import InputError


def _synth(phantom, params):
    return ts.synthesize(phantom.ct, phantom.liver, params)


def test_same_params_identical_voxels_and_input_untouched(phantom, prepared):
    ct_before = phantom.ct.copy()
    liver_before = phantom.liver.copy()
    params = ts.sample_params(prepared, "mix", rng=3)
    a_ct, a_lab = _synth(phantom, params)
    b_ct, b_lab = _synth(phantom, ts.CaseParams.from_json(params.to_json()))
    assert np.array_equal(a_ct, b_ct) and np.array_equal(a_lab, b_lab)
    assert np.array_equal(phantom.ct, ct_before) and np.array_equal(phantom.liver, liver_before)
    assert a_ct.dtype == phantom.ct.dtype and a_lab.dtype == np.uint8
    assert not np.array_equal(a_ct, phantom.ct)


def test_label_is_lits_convention_and_tumors_inside_liver(phantom, prepared):
    params = ts.sample_params(prepared, "mix", rng=8)
    _, lab = _synth(phantom, params)
    assert set(np.unique(lab)) == {0, 1, 2}
    assert np.array_equal(lab >= 1, phantom.liver)  # label 2 only inside the liver
    comps = ndimage.label(lab == 2)[1]
    assert comps >= 1


def test_changes_stay_near_the_tumors(phantom, prepared):
    params = ts.sample_params(prepared, "mix", rng=2)
    ct2, lab = _synth(phantom, params)
    changed = ct2 != phantom.ct
    dist = ndimage.distance_transform_edt(lab != 2, sampling=phantom.spacing_mm)
    reach = max(max(t.mass_effect_range_mm, 4 * (t.edge_blur_mm + max(phantom.spacing_mm)), 4 * t.capsule_width_mm)
                for t in params.tumors) + max(phantom.spacing_mm) * 2
    assert changed.any()
    assert dist[changed].max() <= reach
    assert not changed[~phantom.liver].any()  # nothing outside the liver changes


def test_label_and_intensity_agree(phantom, prepared):
    params = ts.sample_params(prepared, "medium", rng=1, mass_effect_on=False, capsule=False, count=2)
    ct2, lab = _synth(phantom, params)
    diff = ct2.astype(float) - phantom.ct
    tumor = lab == 2
    mean_shift = diff[tumor].mean()
    expected = np.mean([t.tumor_mean_hu for t in params.tumors]) - params.parenchyma_hu
    assert mean_shift < -15 and abs(mean_shift - expected) < 15
    # voxels darkened by more than 3 noise SDs are in or next to the label
    dark = diff < -3 * params.noise_hu
    near = ndimage.binary_dilation(tumor, iterations=2)
    assert dark[~near].sum() <= 0.002 * dark.sum() + 1


def test_hyper_tumors_are_brighter(phantom, prepared):
    params = ts.sample_params(prepared, "medium", rng=1, intensity="hyper", count=1)
    ct2, lab = _synth(phantom, params)
    assert (ct2[lab == 2].astype(float) - phantom.ct[lab == 2]).mean() > 15


@pytest.mark.parametrize("spacing", [(0.7, 0.7, 5.0), (2.0, 2.0, 2.0), (1.5, 3.0, 1.0)])
def test_tumor_size_in_mm_at_any_spacing(spacing):
    shape = tuple(int(round(v)) for v in np.array([200.0, 180.0, 150.0]) / np.array(spacing))
    ph = ts.make_phantom(shape=shape, spacing_mm=spacing, rng=1)
    prep = ts.prepare(ph.ct, ph.liver, ph.spacing_mm)
    r = 15.0
    p = ts.sample_params(prep, "medium", rng=0, count=1, radius_mm=r, axis_spread=0.0, deformation=False,
                         edge_blur=False, mass_effect_on=False, capsule=False)
    _, lab = ts.synthesize(ph.ct, ph.liver, p)
    tumor = lab == 2
    vol = tumor.sum() * np.prod(spacing)
    assert vol == pytest.approx(4 / 3 * np.pi * r**3, rel=0.12)
    idx = np.nonzero(tumor)
    for axis in range(3):
        extent = (idx[axis].max() - idx[axis].min() + 1) * spacing[axis]
        assert abs(extent - 2 * r) <= spacing[axis] + 0.5


def test_ablation_switches(phantom, prepared):
    kw = dict(rng=6, count=1)
    full = ts.sample_params(prepared, "large", **kw)
    sharp = ts.sample_params(prepared, "large", deformation=False, edge_blur=False, mass_effect_on=False,
                             capsule=False, **kw)
    ct_f, lab_f = _synth(phantom, full)
    ct_s, lab_s = _synth(phantom, sharp)
    # without blur, deformation and mass effect: exactly the label voxels change
    changed = ct_s != phantom.ct
    assert np.array_equal(changed & phantom.liver, changed)
    assert (changed & (lab_s != 2)).sum() == 0
    # without deformation the tumor is the ellipsoid of the record
    t = sharp.tumors[0]
    from tumorsynth.generator.step3_shape import quaternion_matrix

    idx = np.argwhere(lab_s == 2)
    x = (idx - np.asarray(t.centre_vox)) * np.asarray(phantom.spacing_mm)
    q = x @ quaternion_matrix(t.rotation)
    rho = np.sqrt(((q / np.asarray(t.semi_axes_mm)) ** 2).sum(axis=1))
    assert rho.max() <= 1.0 + 1e-5
    # with them, the edge is soft and the surroundings move (mass effect)
    ring = ndimage.binary_dilation(lab_f == 2, iterations=2) & (lab_f != 2) & phantom.liver
    assert (ct_f[ring] != phantom.ct[ring]).mean() > 0.25
    assert not np.array_equal(lab_f, lab_s)


def test_mass_effect_and_capsule_switches(phantom, prepared):
    kw = dict(rng=9, count=1, capsule_probability=1.0, capsule_hu=40.0, capsule_width_mm=2.5, mass_effect=0.2)
    on = ts.sample_params(prepared, "large", **kw)
    no_mass = ts.sample_params(prepared, "large", mass_effect_on=False, **kw)
    no_caps = ts.sample_params(prepared, "large", capsule=False, **kw)
    ct_on, lab = _synth(phantom, on)
    ct_nm, _ = _synth(phantom, no_mass)
    ct_nc, _ = _synth(phantom, no_caps)
    outside = (lab != 2) & phantom.liver
    far = ndimage.binary_dilation(lab == 2, iterations=2) & outside & ~ndimage.binary_dilation(lab == 2, iterations=1)
    assert (ct_on[far] != ct_nm[far]).mean() > 0.3  # mass effect moves tissue outside the edge band
    # moved voxels take existing values: the noise is not smoothed by interpolation
    moved = far & (ct_on != ct_nm)
    assert np.isin(ct_on[moved], phantom.ct[phantom.liver]).all()
    rim = (lab == 2) & ~ndimage.binary_erosion(lab == 2, iterations=1)
    assert ct_on[rim].astype(float).mean() > ct_nc[rim].astype(float).mean() + 5  # bright capsule


def test_synthesizer_matches_pure_function(phantom, prepared):
    syn = ts.Synthesizer(phantom.ct, phantom.liver)
    for seed in range(3):
        params = ts.sample_params(prepared, "mix", rng=seed)
        a_ct, a_lab = syn(params)
        b_ct, b_lab = ts.synthesize(phantom.ct, phantom.liver, params)
        assert np.array_equal(a_ct, b_ct) and np.array_equal(a_lab, b_lab)
    empty = ts.CaseParams(shape=phantom.ct.shape, spacing_mm=phantom.spacing_mm, parenchyma_hu=100.0,
                          noise_hu=10.0, tumors=())
    c_ct, c_lab = syn(empty)
    assert np.array_equal(c_ct, phantom.ct) and np.array_equal(c_lab, phantom.liver.astype(np.uint8))


def test_float_and_fortran_order_inputs(phantom, prepared):
    params = ts.sample_params(prepared, "small", rng=0)
    ct_f = np.asfortranarray(phantom.ct.astype(np.float32))
    out, lab = ts.synthesize(ct_f, np.asfortranarray(phantom.liver), params)
    ref, ref_lab = ts.synthesize(phantom.ct, phantom.liver, params)
    assert out.dtype == np.float32
    assert np.array_equal(lab, ref_lab)
    assert np.abs(np.rint(out) - ref).max() <= 1


def test_wrong_ct_for_record_is_refused(phantom, prepared):
    params = ts.sample_params(prepared, "small", rng=0)
    with pytest.raises(InputError, match="sampled for a CT of shape"):
        ts.synthesize(phantom.ct[:-1], phantom.liver[:-1], params)


def test_prepare_statistics_and_raw_ct_refused(phantom, prepared):
    assert abs(prepared.parenchyma_hu - 110) < 8
    assert 5 < prepared.noise_hu < 25
    assert prepared.vessel_fraction() > 0.005
    with pytest.raises(InputError, match="raw scanner values"):
        ts.prepare(phantom.ct.astype(np.int32) + 1024, phantom.liver, phantom.spacing_mm)
    with pytest.raises(InputError, match="empty"):
        ts.prepare(phantom.ct, np.zeros_like(phantom.liver), phantom.spacing_mm)


def test_api_refuses_nan_ct(phantom):
    ct = phantom.ct.astype(np.float32)
    ct[0, 0, 0] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        ts.prepare(ct, phantom.liver, phantom.spacing_mm)


def test_capsule_is_a_thin_rim_inside_the_label(phantom, prepared):
    kw = dict(rng=3, count=1, capsule_probability=1.0, capsule_hu=30.0, capsule_width_mm=2.5,
              mass_effect_on=False)
    on = ts.sample_params(prepared, "large", **kw)
    off = ts.sample_params(prepared, "large", capsule=False, **kw)
    ct_on, lab = _synth(phantom, on)
    ct_off, lab_off = _synth(phantom, off)
    assert np.array_equal(lab, lab_off)
    diff = ct_on.astype(float) - ct_off
    tumor = lab == 2
    core = ndimage.binary_erosion(tumor, iterations=3)
    assert (np.abs(diff[core]) > 0).mean() < 0.03  # the capsule leaves the tumor's inside alone
    assert (diff[~tumor] > 10).sum() <= 0.05 * tumor.sum()  # and hardly brightens outside
    assert diff[tumor & ~core].mean() > 3


@pytest.mark.parametrize(("preset", "radius", "sigma"), [("large", None, 10.0), ("medium", 10.0, 10.0),
                                                       ("medium", 12.0, 6.0), ("small", None, 2.0),
                                                       ("tiny", None, 1.0)])
def test_no_holes_or_islands_in_strongly_deformed_tumors(preset, radius, sigma):
    ph = ts.make_phantom(shape=(128, 128, 96), spacing_mm=(1.5, 1.5, 1.5), rng=0)
    prep = ts.prepare(ph.ct, ph.liver, ph.spacing_mm)
    for seed in range(8):
        p = ts.sample_params(prep, preset, rng=seed, count=1, deform_sigma_mm=sigma, radius_mm=radius,
                             on_no_room="relax")
        _, lab = _synth(ph, p)
        tumor = lab == 2
        holes = ndimage.binary_fill_holes(tumor) & ~tumor & ph.liver
        assert holes.sum() == 0
        # one piece, 26-connected as lesions are counted (a lobe's tip may touch the rest by a voxel
        # corner); where the liver cuts the tumor, pieces may part, but the phantom's liver is
        # convex enough around its centre that they do not here
        assert ndimage.label(tumor, structure=np.ones((3, 3, 3)))[1] == 1


def test_switching_edge_mass_capsule_off_keeps_the_shape(phantom, prepared):
    for seed in range(4):
        kw = dict(rng=seed, count=1, capsule_probability=1.0)
        full = ts.sample_params(prepared, "large", **kw)
        bare = ts.sample_params(prepared, "large", edge_blur=False, mass_effect_on=False, capsule=False, **kw)
        _, lab_full = _synth(phantom, full)
        _, lab_bare = _synth(phantom, bare)
        assert np.array_equal(lab_full, lab_bare)
