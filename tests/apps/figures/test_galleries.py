"""The galleries: panel counts, panels not blank, panels differ where the parameter changes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from tumorsynth.apps.figures import FIGURES, make_figure
from tumorsynth.apps.figures.panels import PANEL_PX

EXPECTED = {  # name: (rows, cols)
    "examples": (4, 5),
    "shape": (3, 4),
    "texture": (4, 4),
    "types": (2, 5),
    "ablation": (2, 4),
    "steps": (2, 3),
}


def gray(panel) -> np.ndarray:
    return panel.image.astype(np.float64).mean(axis=2)


def interior(mask: np.ndarray) -> np.ndarray:
    """The mask without its outline and partial-volume rim."""
    return ndimage.binary_erosion(mask, iterations=3)


def test_registry_matches_expectations() -> None:
    assert set(FIGURES) == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_panel_count_grid_and_images(figure, name: str) -> None:
    fig = figure(name)
    rows, cols = EXPECTED[name]
    assert (fig.nrows, fig.ncols) == (rows, cols)
    assert len(fig.panels) == rows * cols
    assert sorted((p.row, p.col) for p in fig.panels) == sorted(itertools.product(range(rows), range(cols)))
    for p in fig.panels:
        assert p.image.shape == (PANEL_PX, PANEL_PX, 3) and p.image.dtype == np.uint8
        assert p.caption.strip()
        assert p.mm_per_px > 0
    if fig.row_labels:
        assert len(fig.row_labels) == rows
    if fig.col_labels:
        assert len(fig.col_labels) == cols


@pytest.mark.parametrize("name", list(EXPECTED))
def test_panels_not_blank_and_pairwise_different(figure, name: str) -> None:
    panels = figure(name).panels
    for p in panels:
        assert gray(p).std() > 5.0, f"{name} panel {p.row},{p.col} is blank"
    for a, b in itertools.combinations(panels, 2):
        changed = np.count_nonzero(np.abs(gray(a) - gray(b)) > 3.0)
        assert changed >= 20, f"{name}: panels {a.row},{a.col} and {b.row},{b.col} are identical"


@pytest.mark.parametrize("name", [n for n in EXPECTED if n != "steps"])
def test_every_tumor_panel_shows_its_tumor(figure, name: str) -> None:
    for p in figure(name).panels:
        assert p.params is not None and p.params.tumors
        assert p.tumor is not None and p.tumor.sum() >= 10, f"{name} {p.row},{p.col}: no tumor in view"


def test_examples_size_grows_down_and_darkens_right(figure) -> None:
    fig = figure("examples")
    area = np.array([[fig.panel(r, c).tumor.sum() * fig.panel(r, c).mm_per_px ** 2
                      for c in range(fig.ncols)] for r in range(fig.nrows)])
    assert np.all(np.diff(area.mean(axis=1)) > 0), area.mean(axis=1)
    means = np.array([[gray(fig.panel(r, c))[interior(fig.panel(r, c).tumor)].mean()
                       for c in range(fig.ncols)] for r in range(fig.nrows) if r > 0])
    assert np.all(means[:, 0] - means[:, -1] > 15), means  # 60 HU darker in a W 400 window
    assert np.all(np.diff(means.mean(axis=0)) < 0), means.mean(axis=0)
    hu = [[fig.panel(r, c).params.tumors[0].tumor_mean_hu for c in range(fig.ncols)] for r in range(fig.nrows)]
    assert np.all(np.diff(hu, axis=1) < 0)


def test_shape_radius_grows_tumor_and_deformation_changes_it(figure) -> None:
    fig = figure("shape")
    for c in range(fig.ncols):
        areas = [fig.panel(r, c).tumor.sum() for r in range(fig.nrows)]
        assert all(b > 1.5 * a for a, b in itertools.pairwise(areas)), areas
    for r in range(fig.nrows):
        base = fig.panel(r, 0).tumor
        for c in range(1, fig.ncols):
            other = fig.panel(r, c).tumor
            assert (base ^ other).sum() > 0.03 * base.sum()
        t = [fig.panel(r, c).params.tumors[0] for c in range(fig.ncols)]
        assert len({x.centre_vox for x in t}) == 1  # pinned: one place
        assert [x.deform_sigma_mm for x in t] == [0.0, 2.0, 5.0, 10.0]


def test_texture_changes_only_the_tumor(figure) -> None:
    fig = figure("texture")
    for r in range(fig.nrows):
        a = fig.panel(r, 0)
        for c in range(1, fig.ncols):
            b = fig.panel(r, c)
            assert np.array_equal(a.tumor, b.tumor)  # same shape, same place
            far = ~ndimage.binary_dilation(a.tumor, iterations=12)
            assert np.abs(a.image.astype(int) - b.image.astype(int))[far].max() <= 1
            inside = interior(a.tumor)
            assert np.abs(gray(a) - gray(b))[inside].mean() > 2.0  # the grain changed
    for c in range(fig.ncols):  # mean intensity rises down the rows
        m = [gray(fig.panel(r, c))[interior(fig.panel(r, c).tumor)].mean() for r in range(fig.nrows)]
        assert np.all(np.diff(m) > 5), m


def test_types_presets_and_counts(figure) -> None:
    fig = figure("types")
    for p in fig.panels:
        name = fig.col_labels[p.col]
        kinds = {t.kind for t in p.params.tumors}
        if name == "mix":
            assert kinds == {"tiny", "small", "medium", "large"}
        else:
            assert kinds == {name}
        assert p.values["tumors"] == len(p.params.tumors)


def test_ablation_switches_steps_off(host) -> None:
    fig = make_figure("ablation", host, seed=0, outline=False)  # outlines would hide the edges
    for r in range(fig.nrows):
        full, no_blur, no_def, neither = (fig.panel(r, c) for c in range(4))
        assert full.params.tumors[0].edge_blur_mm > 0 and no_blur.params.tumors[0].edge_blur_mm == 0
        assert full.params.tumors[0].deform_sigma_mm > 0 and no_def.params.tumors[0].deform_sigma_mm == 0
        assert neither.params.tumors[0].edge_blur_mm == 0 == neither.params.tumors[0].deform_sigma_mm
        assert np.array_equal(full.tumor, no_blur.tumor)  # same tumor, only its edge changes

        def edge_gradient(p) -> float:
            g = np.hypot(*np.gradient(gray(p)))
            rim = p.tumor ^ ndimage.binary_erosion(p.tumor)
            return float(g[rim].mean())

        assert edge_gradient(no_blur) > 1.15 * edge_gradient(full)
        assert edge_gradient(neither) > 1.15 * edge_gradient(no_def)
        iou = (full.tumor & no_def.tumor).sum() / (full.tumor | no_def.tumor).sum()
        assert iou < 0.9  # deformation changes the outline


def test_steps_panels(figure) -> None:
    fig = figure("steps")
    location, texture, shape, blend, mass, capsule = sorted(fig.panels, key=lambda p: (p.row, p.col))
    assert location.caption.startswith("1 location") and capsule.caption.startswith("6 capsule")
    img = location.image.astype(int)
    assert np.count_nonzero(img[..., 2] > img[..., 0] + 60) > 20  # vessels tinted blue
    assert blend.params.tumors[0].mass_effect_mm == 0 and mass.params.tumors[0].mass_effect_mm > 0
    assert mass.params.tumors[0].capsule_hu == 0 and capsule.params.tumors[0].capsule_hu > 0
    # the capsule brightens a rim at the tumor edge only
    rim = blend.tumor & ~interior(blend.tumor)
    diff = gray(capsule) - gray(mass)
    assert diff[ndimage.binary_dilation(rim, iterations=3)].mean() > 2.0
    far = ~ndimage.binary_dilation(blend.tumor, iterations=25)
    assert np.abs(diff[far]).max() == 0
    # the texture map and the soft mask are full of structure
    assert gray(texture).std() > 5 and gray(shape).std() > 50


def test_same_seed_same_pixels_other_seed_other_tumors(host, figure) -> None:
    again = make_figure("ablation", host, seed=0)
    for a, b in zip(figure("ablation").panels, again.panels, strict=True):
        assert np.array_equal(a.image, b.image)
    other = make_figure("ablation", host, seed=1)
    assert any(not np.array_equal(a.image, b.image) for a, b in zip(again.panels, other.panels, strict=True))


def test_outline_switch(host) -> None:
    plain = make_figure("steps", host, seed=0, outline=False)
    red = make_figure("steps", host, seed=0, outline=True)
    p, q = plain.panels[3], red.panels[3]
    is_red = (q.image[..., 0] > 200) & (q.image[..., 1] < 100)
    assert is_red.sum() > 50 and not ((p.image[..., 0] > 200) & (p.image[..., 1] < 100)).any()


@pytest.mark.parametrize(("name", "message"), [("all", "builds one figure"), ("shape,steps", "builds one figure"),
                                               ("tex", "did you mean 'texture'"), ("", "no figure named")])
def test_make_figure_rejects_bad_names(host, name: str, message: str) -> None:
    from tumorsynth.errors import OptionError

    with pytest.raises(OptionError, match=message):
        make_figure(name, host)


def test_make_figure_rejects_bad_options(host) -> None:
    from tumorsynth.errors import OptionError

    with pytest.raises(OptionError, match="seed"):
        make_figure("steps", host, seed=-1)
    with pytest.raises(OptionError, match="window width"):
        make_figure("steps", host, window=(0.0, 50.0))
