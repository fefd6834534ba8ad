"""The fast kernels of the generator agree with their plain definitions (up to float rounding)."""

import numpy as np
import pytest

from tumorsynth.interp import apply_separable, cubic_matrix, gaussian_matrix, upsample_linear
from tumorsynth.plan import _cell_min, fold_free_scale
from tumorsynth.shape import quaternion_matrix


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


def test_fold_scale_uses_np_gradient_slope():
    rng = np.random.default_rng(1)
    for _ in range(50):
        shp = tuple(int(v) for v in rng.integers(2, 10, 3))
        h = tuple(float(v) for v in rng.uniform(0.5, 3, 3))
        axes = tuple(((np.arange(n) - rng.uniform(0, n)) * hh).astype(np.float32) for n, hh in zip(shp, h, strict=True))
        x = np.stack(np.broadcast_arrays(axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]))
        r = np.maximum(np.sqrt((x * x).sum(axis=0)), 1e-3).astype(np.float32)
        ur = (rng.standard_normal(shp) * rng.uniform(0.1, 5)).astype(np.float32)
        near = r > rng.uniform(0, 2)
        g = np.gradient(ur.astype(np.float64), *h)
        slope = (g[0] * x[0] + g[1] * x[1] + g[2] * x[2]) / r
        worst = float(-slope[near].min()) if near.any() else -np.inf
        expected = 1.0 if worst <= 0.9 else 0.9 / worst
        assert fold_free_scale(ur, axes, r, h, near) == pytest.approx(expected, rel=1e-5)


def test_cell_min_is_min_over_corners():
    g = np.random.default_rng(2).standard_normal((5, 6, 7)).astype(np.float32)
    ref = np.min([g[a:a + 4, b:b + 5, c:c + 6] for a in (0, 1) for b in (0, 1) for c in (0, 1)], axis=0)
    assert np.array_equal(_cell_min(g), ref)


def test_quaternion_matrix_is_a_rotation():
    rot = quaternion_matrix((0.3, -0.2, 0.9, 0.1))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)


def test_hashed_normals_are_the_released_values():
    from tumorsynth.texture import hashed_normals

    v = hashed_normals(12345, np.arange(-1, 2), np.arange(2), np.arange(3, 5))
    expected = [-0.03671509772539139, -1.6751809120178223, 0.3823651373386383, 2.5418074131011963,
                0.8117201328277588, -0.20760871469974518, 1.2580151557922363, 1.0164895057678223,
                1.0794185400009155, 0.35629940032958984, 2.514443874359131, 1.2399935722351074]
    assert v.dtype == np.float32 and v.ravel().tolist() == expected
