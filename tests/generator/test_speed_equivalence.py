"""The fast kernels of the generator agree with their plain definitions (up to float rounding)."""

import numpy as np
import pytest

from tumorsynth.generator.kernels.grids import bbox, central_slopes, flat_cell_min
from tumorsynth.generator.kernels.interp import (
    apply_separable,
    apply_separable_stack,
    cubic_matrix,
    cubic_matrix_stack,
    gaussian_matrix,
    upsample_linear,
)
from tumorsynth.generator.kernels.noise import hashed_normals, hashed_normals_stack
from tumorsynth.generator.step3_shape import quaternion_matrix


def _upsample_reference(grid, steps, out_shape):
    out = np.asarray(grid, dtype=np.float64)
    for axis, (k, n) in enumerate(zip(steps, out_shape, strict=True)):
        pos = np.arange(n) / k
        i0 = np.minimum(np.floor(pos).astype(int), out.shape[axis] - 2) if out.shape[axis] > 1 else np.zeros(n, int)
        w = pos - i0
        a = np.take(out, i0, axis=axis)
        b = np.take(out, np.minimum(i0 + 1, out.shape[axis] - 1), axis=axis)
        shape = [1, 1, 1]
        shape[axis] = n
        out = a + (b - a) * w.reshape(shape)
    return out


def test_upsample_linear_matches_lerp():
    rng = np.random.default_rng(0)
    for _ in range(100):
        steps = tuple(int(v) for v in rng.integers(1, 4, 3))
        m = tuple(int(v) for v in rng.integers(2, 8, 3))
        out_shape = tuple(int(rng.integers(1, s * (mm - 1) + 2)) for s, mm in zip(steps, m, strict=True))
        g = rng.standard_normal(m).astype(np.float32)
        got = upsample_linear(g, steps, out_shape)
        assert got.shape == out_shape
        np.testing.assert_allclose(got, _upsample_reference(g, steps, out_shape), atol=1e-5)


@pytest.mark.parametrize("n", [20, 60, 130])
def test_banded_separable_products_match_dense(n):
    rng = np.random.default_rng(n)
    mats = []
    for _ in range(3):
        k = n // 2 + 8
        m = cubic_matrix(np.linspace(3.2, k - 4.1, n), k) @ gaussian_matrix(k, 0.6)
        mats.append(m)
    grid = rng.standard_normal((mats[0].shape[1], mats[1].shape[1], mats[2].shape[1]))
    dense = np.einsum("ia,jb,kc,abc->ijk", *mats, grid, optimize=True)
    np.testing.assert_allclose(apply_separable(grid, tuple(mats)), dense, atol=2e-5)


def test_central_slopes_match_np_gradient_inside_the_grid():
    rng = np.random.default_rng(1)
    for _ in range(30):
        s = int(rng.integers(1, 4))
        shp = tuple(int(v) for v in rng.integers(3, 10, 3))
        ur = rng.standard_normal((s, *shp)).astype(np.float32)
        w = [rng.standard_normal((s, n)).astype(np.float32) for n in shp]
        got = central_slopes(ur.reshape(s, shp[0], -1), w[0][:, :, None],
                              np.repeat(w[1], shp[2], axis=1)[:, None], np.tile(w[2], (1, shp[1]))[:, None], shp[2])
        got = got.reshape(s, *shp)[:, 1:-1, 1:-1, 1:-1]
        for i in range(s):
            g = np.gradient(ur[i].astype(np.float64))  # unit steps: (u[j+1] - u[j-1]) / 2
            ref = 2 * (g[0] * w[0][i][:, None, None] + g[1] * w[1][i][None, :, None] + g[2] * w[2][i])
            np.testing.assert_allclose(got[i], ref[1:-1, 1:-1, 1:-1], rtol=1e-5, atol=1e-5)


def test_flat_cell_min_is_min_over_corners():
    g = np.random.default_rng(2).standard_normal((2, 5, 6, 7)).astype(np.float32)
    ref = np.min([g[:, a:a + 4, b:b + 5, c:c + 6] for a in (0, 1) for b in (0, 1) for c in (0, 1)], axis=0)
    got = flat_cell_min(g.reshape(2, 5, -1), 7).reshape(2, 4, 5, 7)
    assert np.array_equal(got[..., :6], ref)  # column 6 wraps around: masked by the caller


def test_stacked_kernels_match_the_single_ones():
    rng = np.random.default_rng(3)
    pos = rng.uniform(1, 6.9, (3, 11))
    stack = cubic_matrix_stack(pos, 10)
    for i in range(3):
        np.testing.assert_allclose(stack[i], cubic_matrix(pos[i], 10), atol=1e-6)
    grids = rng.standard_normal((3, 6, 7, 8)).astype(np.float32)
    mats = tuple(rng.standard_normal((3, n, k)).astype(np.float32) for n, k in ((5, 6), (9, 7), (4, 8)))
    got = apply_separable_stack(grids, mats)
    for i in range(3):
        np.testing.assert_allclose(got[i], apply_separable(grids[i], tuple(m[i] for m in mats)), rtol=1e-4, atol=1e-4)
    ks = [rng.integers(-50, 50, (3, n)) for n in (4, 5, 6)]
    normals = hashed_normals_stack([11, 2**63 + 5, 7], *ks)
    for i, seed in enumerate((11, 2**63 + 5, 7)):
        assert np.array_equal(normals[i], hashed_normals(seed, *(k[i] for k in ks)))


def test_quaternion_matrix_is_a_rotation():
    rot = quaternion_matrix((0.3, -0.2, 0.9, 0.1))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)


def test_hashed_normals_are_the_released_values():
    v = hashed_normals(12345, np.arange(-1, 2), np.arange(2), np.arange(3, 5))
    expected = [0.32635486125946045, 1.2175265550613403, 0.8653885722160339, -0.7770164608955383,
                1.9334816932678223, -0.9281741380691528, -0.3646431267261505, 0.9010363817214966,
                1.2481111288070679, -2.203747272491455, 0.002352260984480381, 1.4256255626678467]
    assert v.dtype == np.float32 and v.ravel().tolist() == expected


def test_bbox_is_the_range_of_the_nonzero_voxels():
    rng = np.random.default_rng(4)
    for _ in range(20):
        mask = np.zeros(tuple(int(v) for v in rng.integers(3, 12, 3)), dtype=np.uint8)
        if rng.random() < 0.8:
            pts = [rng.integers(0, n, int(rng.integers(1, 4))) for n in mask.shape]
            mask[pts[0][:, None, None], pts[1][None, :, None], pts[2][None, None, :]] = 1
        idx = np.nonzero(mask)
        expected = None if idx[0].size == 0 else [(int(i.min()), int(i.max()) + 1) for i in idx]
        assert bbox(mask) == expected
