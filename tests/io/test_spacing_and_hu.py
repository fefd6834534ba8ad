"""One helper each: the spacing of an affine (:func:`tumorsynth.io.spacing_from_affine`) and the HU
sanity check (:func:`tumorsynth.generator.step1_prepare.check_ct_hu`), used by every caller."""

from __future__ import annotations

import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth import io
from tumorsynth.errors import InputError
from tumorsynth.generator import step1_prepare
from tumorsynth.io import spacing_from_affine


def _oblique_affine() -> np.ndarray:
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, -1.0]])
    a = np.eye(4)
    a[:3, :3] = rot * np.array([0.7, 0.9, 5.0])  # column d scaled by the spacing of axis d
    a[:3, 3] = (-100.0, 20.0, 3.0)
    return a


def test_spacing_is_the_column_norms_for_any_orientation() -> None:
    assert spacing_from_affine(_oblique_affine()) == pytest.approx((0.7, 0.9, 5.0))
    assert spacing_from_affine(np.diag([-0.8, 0.8, 2.5, 1.0]).tolist()) == pytest.approx((0.8, 0.8, 2.5))
    assert all(type(v) is float for v in spacing_from_affine(np.eye(4)))


def test_spacing_of_a_torch_affine_and_a_monai_dictionary() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from monai.data import MetaTensor

    from tumorsynth.integrations.monai.dicts import _spacing_of

    aff = torch.as_tensor(_oblique_affine(), dtype=torch.float64)
    assert spacing_from_affine(aff) == pytest.approx((0.7, 0.9, 5.0))
    img = MetaTensor(torch.zeros(1, 4, 4, 4), affine=aff)
    assert _spacing_of({"image": img}, "image", case="c") == pytest.approx((0.7, 0.9, 5.0))
    meta = {"image": np.zeros((1, 4, 4, 4)), "image_meta_dict": {"affine": _oblique_affine()}}
    assert _spacing_of(meta, "image", case="c") == pytest.approx((0.7, 0.9, 5.0))


def test_io_reexports_the_generator_check() -> None:
    assert io.check_ct_hu is step1_prepare.check_ct_hu
    assert io.LIVER_HU_RANGE is step1_prepare.LIVER_HU_RANGE


@pytest.fixture(scope="module")
def small() -> ts.Phantom:
    return ts.make_phantom(shape=(64, 64, 48), spacing_mm=(3.0, 3.0, 3.0), rng=2)


def _one_line(exc: pytest.ExceptionInfo[InputError], *words: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_hu_check_accepts_a_ct_and_returns_the_liver_median(small: ts.Phantom) -> None:
    med = step1_prepare.check_ct_hu(small.ct, small.liver)
    assert med == pytest.approx(float(np.median(small.ct[small.liver])), abs=3.0)


def test_hu_check_names_source_problem_and_fix(small: ts.Phantom) -> None:
    with pytest.raises(InputError) as raw:
        step1_prepare.check_ct_hu(small.ct.astype(np.int32) + 1024, small.liver, source="raw.nii.gz")
    _one_line(raw, "raw.nii.gz", "raw scanner values", "1024")
    scaled = (small.ct.astype(np.float32) + 21) / 210
    with pytest.raises(InputError) as sc:
        step1_prepare.check_ct_hu(scaled, small.liver, source="case7", scaled_fix="do X first")
    _one_line(sc, "case7", "intensity-scaled", "do X first")
    wrong_mask = ~small.liver & (small.ct < -500)
    with pytest.raises(InputError) as wm:
        step1_prepare.check_ct_hu(small.ct, wrong_mask, source="ct.nii.gz")
    _one_line(wm, "ct.nii.gz", "outside the -150..400 HU", "mask belongs to this CT")


def test_every_caller_uses_the_one_check(small: ts.Phantom) -> None:
    """prepare (arrays), load_case (files, tested in test_io_errors) and the MONAI transforms all
    refuse a scaled image; the MONAI one says where to put the transform."""
    scaled = (small.ct.astype(np.float32) + 21) / 210
    with pytest.raises(InputError, match="intensity-scaled"):
        ts.prepare(scaled, small.liver, small.spacing_mm)
    ts.prepare(scaled, small.liver, small.spacing_mm, check_hu=False)  # the opt-out still works
    pytest.importorskip("monai")
    from tumorsynth.integrations.monai.dicts import _check_hu

    with pytest.raises(InputError, match=r"case3: .*before ScaleIntensityRanged"):
        _check_hu(scaled, small.liver, case="case3")


def test_monai_prepare_honours_check_hu_false(small: ts.Phantom) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from monai.data import MetaTensor

    from tumorsynth.integrations.monai import PrepareLiverd

    aff = torch.as_tensor(small.affine, dtype=torch.float64)
    scaled = (small.ct.astype(np.float32) + 21) / 210
    d = {"image": MetaTensor(torch.from_numpy(scaled[None]), affine=aff),
         "label": MetaTensor(torch.from_numpy(small.liver[None].astype(np.uint8)), affine=aff)}
    with pytest.raises(InputError, match="before ScaleIntensityRanged"):
        PrepareLiverd(("image", "label"))(dict(d))
    out = PrepareLiverd(("image", "label"), check_hu=False)(dict(d))  # was refused by prepare
    assert out["tumor_prep"].prepared.liver_volume_ml > 0


def test_spacing_check_refuses_what_no_ct_has(small: ts.Phantom) -> None:
    from tumorsynth.errors import OptionError

    assert io.check_spacing is step1_prepare.check_spacing
    assert step1_prepare.check_spacing(np.array([0.7, 0.7, 5])) == (0.7, 0.7, 5.0)
    for bad in ((1.0, 1.0), (1.0, 0.0, 1.0), (1.0, float("nan"), 1.0), "abc"):
        with pytest.raises(OptionError, match="3 positive numbers"):
            step1_prepare.check_spacing(bad)
    # a header in metres (0.0008) or with dummy sizes (500 mm) would make every mm size wrong
    for bad in ((0.0008, 0.0008, 0.005), (500.0, 500.0, 600.0)):
        with pytest.raises(InputError, match="not that of a CT"):
            step1_prepare.check_spacing(bad)
    # prepare refuses it before any work (it would otherwise plan grids of millions of nodes)
    with pytest.raises(InputError, match="not that of a CT"):
        ts.prepare(small.ct, small.liver, (500.0, 500.0, 600.0))


def test_load_nifti_names_the_header_unit(tmp_path) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.diag([0.0008, 0.0008, 0.005, 1.0]))
    img.header.set_xyzt_units("meter")
    nib.save(img, str(tmp_path / "m.nii.gz"))
    with pytest.raises(InputError) as err:
        io.load_nifti(tmp_path / "m.nii.gz", what="CT")
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "m.nii.gz")) and "unit is meter" in msg and "\n" not in msg
