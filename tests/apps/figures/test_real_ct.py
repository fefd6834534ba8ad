"""Figures on a real CT (TotalSegmentator example in ../shared/data; skipped where absent)."""

from __future__ import annotations

import numpy as np
import pytest

from tumorsynth.apps.figures import SliceCrop, load_host, make_figure

pytestmark = pytest.mark.realct


@pytest.fixture(scope="module")
def real_host(real_dir):
    return load_host(real_dir / "example_ct.nii.gz", real_dir / "example_ct_liver.nii.gz")


def test_real_ct_is_shown_radiologically(real_host) -> None:
    """The liver (patient's right) appears on the image's left, the spine at the bottom."""
    h = real_host
    centre = [0.5 * (lo + hi - 1) for lo, hi in h.prepared.bbox]
    crop = SliceCrop(point_vox=tuple(centre), half_mm=170.0, spacing_mm=h.spacing_mm, affine=h.affine)
    liver = crop.mask(h.liver)
    ct = crop.image(h.ct)
    body = ct > -300
    cols = np.nonzero(liver)[1]
    assert cols.mean() < np.nonzero(body)[1].mean() - 20
    bone_rows = np.nonzero(ct > 300)[0]
    assert bone_rows.size > 20 and np.median(bone_rows) > 0.6 * crop.px


def test_real_ct_figures(real_host) -> None:
    for name, n in (("steps", 6), ("ablation", 8)):
        fig = make_figure(name, real_host, seed=0)
        assert len(fig.panels) == n and fig.host["source"] == "example_ct.nii.gz"
        for p in fig.panels:
            assert p.image.astype(float).std() > 5
            if p.tumor is not None:
                assert p.tumor.sum() > 10
