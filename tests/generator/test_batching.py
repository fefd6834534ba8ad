"""Tumors planned and textured together give what each gives alone (batching is only for speed)."""

import dataclasses

import numpy as np
import pytest

import tumorsynth as ts
from tumorsynth.generator.step3_plan import plan_tumor, plan_tumors
from tumorsynth.generator.step4_texture import scaled_texture, scaled_textures


def _case(spacing, preset, seed):
    ph = ts.make_phantom(shape=(112, 96, 72), spacing_mm=spacing, rng=0)
    prep = ts.prepare(ph.ct, ph.liver, ph.spacing_mm)
    return ph, ts.sample_params(prep, preset, rng=seed, on_no_room="relax")


@pytest.mark.parametrize(("spacing", "preset"), [((1.5, 1.5, 1.5), "tiny"), ((1.2, 1.0, 2.5), "mix")])
def test_plans_in_a_batch_equal_plans_alone(spacing, preset):
    ph, params = _case(spacing, preset, 5)
    assert len(params.tumors) >= 3
    together = plan_tumors(params.tumors, params, ph.ct.shape)
    for t, p in zip(params.tumors, together, strict=True):
        alone = plan_tumor(t, params, ph.liver)
        assert (p is None) == (alone is None)
        if p is None:
            continue
        assert p.box == alone.box and p.inner == alone.inner
        np.testing.assert_allclose(p.d, alone.d, atol=2e-4)
        np.testing.assert_allclose(p.pv_var, alone.pv_var, rtol=1e-4)
        assert (p.d <= 0).any()  # the tumor itself is in its box


def test_tumor_shape_does_not_depend_on_the_other_tumors():
    ph, params = _case((1.5, 1.5, 1.5), "small", 2)
    _, label_all = ts.synthesize(ph.ct, ph.liver, params)
    for t in params.tumors:
        one = dataclasses.replace(params, tumors=(t,))
        _, label_one = ts.synthesize(ph.ct, ph.liver, one)
        tumor = label_one == 2
        assert tumor.any() and (label_all[tumor] == 2).mean() > 0.999


def test_textures_in_a_batch_equal_textures_alone_and_follow_the_tumor():
    _, params = _case((1.5, 1.5, 1.5), "mix", 3)
    tumors = list(params.tumors)
    offsets = [tuple((np.arange(n) - n / 2).astype(np.float32) * s
                     for n, s in zip((18 + 2 * i, 15, 9 + 3 * i), (1.0, 1.3, 2.0), strict=True))
               for i in range(len(tumors))]
    batch = scaled_textures(tumors, offsets, [4.0] * len(tumors))
    for t, offs, field in zip(tumors, offsets, batch, strict=True):
        alone = scaled_texture(t, offs, 4.0)
        np.testing.assert_allclose(field, alone, atol=1e-4)
        inner = scaled_texture(t, tuple(o[2:-3] for o in offs), 4.0)  # a smaller box: the same texture
        np.testing.assert_allclose(inner, alone[2:-3, 2:-3, 2:-3], atol=1e-4)
        assert 2.0 < float(alone.std()) < 6.0  # texture_std_hu 4 (a small sample of a smooth field)
