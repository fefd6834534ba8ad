"""Saving (PNG, PDF, JSON record) and the shared panel renderer (orientation, crops)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tumorsynth.apps.figures import SliceCrop, save_figure
from tumorsynth.apps.figures.panels import PANEL_PX, render
from tumorsynth.errors import OptionError


def read_png(path):
    from matplotlib.image import imread

    return imread(path)


def test_save_png_pdf_json(mpl, figure, tmp_path) -> None:
    fig = figure("steps")
    files = save_figure(fig, tmp_path / "out", formats="png,pdf", dpi=60)
    names = sorted(p.name for p in files)
    assert names == ["steps.json", "steps.pdf", "steps.png"]
    for f in files:
        assert f.is_file() and f.stat().st_size > 1000
    assert (tmp_path / "out" / "steps.pdf").read_bytes()[:5] == b"%PDF-"
    record = json.loads((tmp_path / "out" / "steps.json").read_text())
    img = read_png(tmp_path / "out" / "steps.png")
    w, h = record["size_px"]
    assert img.shape[:2] == (h, w) and img.shape[0] > 150 and img.shape[1] > 150
    assert img[..., :3].std() > 0.05  # not a blank page
    assert len(record["panels"]) == 6 and record["seed"] == 0
    assert record["host"]["source"] == "phantom"
    # the records replay: a panel's parameters are a full CaseParams
    from tumorsynth.generator.params import CaseParams

    rec = CaseParams.from_dict(record["panels"][5]["params"])
    assert rec == fig.panels[5].params
    assert not list((tmp_path / "out").glob(".*part*"))  # no temporary files left


def test_png_size_follows_dpi_and_palette_is_smaller(mpl, figure, tmp_path) -> None:
    fig = figure("ablation")
    save_figure(fig, tmp_path / "a", formats="png", dpi=50)
    save_figure(fig, tmp_path / "b", formats="png", dpi=100)
    small, big = read_png(tmp_path / "a" / "ablation.png"), read_png(tmp_path / "b" / "ablation.png")
    assert abs(big.shape[0] - 2 * small.shape[0]) <= 2 and abs(big.shape[1] - 2 * small.shape[1]) <= 2
    save_figure(fig, tmp_path / "c", formats="png", dpi=100, png_colors=64)
    assert (tmp_path / "c" / "ablation.png").stat().st_size < (tmp_path / "b" / "ablation.png").stat().st_size
    assert read_png(tmp_path / "c" / "ablation.png").shape[:2] == big.shape[:2]


@pytest.mark.parametrize("bad", [{"formats": "png,gif"}, {"formats": ""}, {"dpi": 0},
                                 {"png_colors": 1}])
def test_save_rejects_bad_options(mpl, figure, tmp_path, bad) -> None:
    with pytest.raises(OptionError):
        save_figure(figure("steps"), tmp_path, **bad)


def _volume() -> tuple[np.ndarray, np.ndarray]:
    """A volume with distinct left/right, anterior/posterior content and a RAS affine."""
    vol = np.zeros((40, 30, 20), np.float32)
    vol[30:, :, :] = 200.0  # patient's right (high axis 0 = +x = right)
    vol[:, 25:, :] += 100.0  # anterior
    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    return vol, aff


def test_crop_is_radiological_and_centred() -> None:
    vol, aff = _volume()
    crop = SliceCrop(point_vox=(30.0, 25.0, 10.0), half_mm=20.0, spacing_mm=(2.0, 2.0, 3.0), affine=aff)
    img = crop.image(vol, fill=0.0)
    assert img.shape == (PANEL_PX, PANEL_PX)
    h = PANEL_PX // 2
    # patient's right appears on the image's left, anterior at the top
    q = PANEL_PX // 4
    assert img[h + q, q] > img[h + q, 3 * q] + 100
    assert img[h - 20, 3 * q] > img[h + q, 3 * q] + 50
    # the crop is centred on the point (the first voxel of the right half, 9 pixels wide)
    assert img[h + q, h - 6] > 150 and img[h + q, h + 14] < 50


def test_crop_does_not_depend_on_storage_orientation() -> None:
    vol, aff = _volume()
    point = (30.0, 25.0, 10.0)
    a = SliceCrop(point_vox=point, half_mm=20.0, spacing_mm=(2.0, 2.0, 3.0), affine=aff).image(vol, fill=0)
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = vol.shape[0] - 1
    aff2 = aff @ flip  # same world, axis 0 stored left-to-right reversed
    vol2 = vol[::-1].copy()
    point2 = (vol.shape[0] - 1 - point[0], point[1], point[2])
    b = SliceCrop(point_vox=point2, half_mm=20.0, spacing_mm=(2.0, 2.0, 3.0), affine=aff2).image(vol2, fill=0)
    assert np.allclose(a, b)


def test_crop_beyond_the_volume_is_filled() -> None:
    vol, aff = _volume()
    crop = SliceCrop(point_vox=(0.0, 0.0, 0.0), half_mm=30.0, spacing_mm=(2.0, 2.0, 3.0), affine=aff)
    img = crop.image(vol + 500.0, fill=-1000.0)
    assert img.shape == (PANEL_PX, PANEL_PX)
    assert img.min() == -1000.0 and img.max() >= 500.0


def test_render_outlines_tumor_in_window() -> None:
    vol, aff = _volume()
    label = np.zeros(vol.shape, np.uint8)
    label[28:33, 23:28, 8:13] = 2
    crop = SliceCrop(point_vox=(30.0, 25.0, 10.0), half_mm=20.0, spacing_mm=(2.0, 2.0, 3.0), affine=aff)
    rgb = render(crop, vol, label, window=(400.0, 50.0), outline=True)
    red = (rgb[..., 0] == 255) & (rgb[..., 1] < 100)
    assert red.sum() > 20
    plain = render(crop, vol, label, window=(400.0, 50.0), outline=False)
    assert not ((plain[..., 0] == 255) & (plain[..., 1] < 100)).any()
    assert np.array_equal(plain[~red], rgb[~red])
