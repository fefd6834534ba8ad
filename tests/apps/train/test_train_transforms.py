"""PrepareLiverd / RandTumord / LiverLabelsd: reproducibility, records, pass-through, caching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader, Dataset, MetaTensor
from monai.transforms import Compose, ScaleIntensityRanged

import tumorsynth as ts
from tumorsynth.errors import InputError, NoRoomError, OptionError
from tumorsynth.integrations.monai import LiverCase, LiverLabelsd, PrepareLiverd, RandTumord


def _case(seed: int = 0, *, tumor: bool = False, shape=(64, 64, 48), spacing=(2.0, 2.0, 2.5)) -> dict:
    ph = ts.make_phantom(shape=shape, spacing_mm=spacing, rng=seed)
    aff = torch.as_tensor(np.asarray(ph.affine, dtype=np.float64))
    lab = ph.liver.astype(np.float32)
    if tumor:
        idx = np.argwhere(ph.liver)[len(np.argwhere(ph.liver)) // 2]
        lab[tuple(slice(int(i) - 2, int(i) + 2) for i in idx)] = 2
    return {
        "name": f"case{seed}",
        "image": MetaTensor(torch.as_tensor(ph.ct.astype(np.float32))[None], affine=aff),
        "label": MetaTensor(torch.as_tensor(lab)[None], affine=aff),
    }


@pytest.fixture(scope="module")
def prepared_case() -> dict:
    return PrepareLiverd(("image", "label"))(_case(0))


def _run(d: dict, seed: int, **kw) -> dict:
    t = RandTumord(("image", "label"), prob=1.0, presets={"medium": 1.0}, **kw)
    t.set_random_state(seed=seed)
    return t(dict(d))


def test_same_seed_same_output_different_seed_different(prepared_case: dict) -> None:
    a = _run(prepared_case, 3)
    b = _run(prepared_case, 3)
    c = _run(prepared_case, 4)
    assert a["tumor_params_status"] == "synthesized"
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert a["tumor_params"] == b["tumor_params"]
    assert a["tumor_params"] != c["tumor_params"]
    assert not torch.equal(a["image"], c["image"])
    # the tumor is labelled 2, inside the liver, and the image changed only there-ish
    lab = a["label"][0]
    assert (lab == 2).any()
    assert bool(((lab == 2) <= (prepared_case["label"][0] > 0)).all())
    # the input was not modified; meta (affine) kept
    assert not (prepared_case["label"][0] == 2).any()
    assert isinstance(a["image"], MetaTensor)
    assert torch.allclose(a["image"].affine, prepared_case["image"].affine)
    assert "tumor_prep" not in a  # dropped: not collated, not copied by crops


def test_params_record_replays_voxel_for_voxel(prepared_case: dict) -> None:
    out = _run(prepared_case, 11)
    params = ts.CaseParams.from_json(out["tumor_params"])
    ct = prepared_case["image"][0].numpy()
    liver = prepared_case["label"][0].numpy() > 0
    ct2, lab2 = ts.synthesize(ct, liver, params)
    assert np.array_equal(ct2, out["image"][0].numpy())
    assert np.array_equal(lab2 == 2, out["label"][0].numpy() == 2)
    assert isinstance(json.loads(out["tumor_params"]), dict)


def test_real_tumor_cases_pass_through() -> None:
    d = PrepareLiverd(("image", "label"))(_case(1, tumor=True))
    assert d["tumor_prep"] is None
    out = _run(d, 0)
    assert out["tumor_params_status"] == "real_tumor" and out["tumor_params"] == ""
    assert out["image"] is d["image"] and out["label"] is d["label"]


def test_prob_zero_and_enable_key(prepared_case: dict) -> None:
    t = RandTumord(("image", "label"), prob=0.0)
    out = t(dict(prepared_case))
    assert out["tumor_params_status"] == "not_drawn"
    assert torch.equal(out["image"], prepared_case["image"])
    off = RandTumord(("image", "label"), prob=1.0, enable_key="synth")(dict(prepared_case, synth=False))
    assert off["tumor_params_status"] == "disabled"


def test_no_room_falls_back_without_looping(prepared_case: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def no_room(*a, **k):
        calls.append(1)
        raise NoRoomError("no room")

    monkeypatch.setattr(ts, "sample_params", no_room)
    t = RandTumord(("image", "label"), prob=1.0, max_tries=3)
    out = t(dict(prepared_case))
    assert out["tumor_params_status"] == "no_room"
    assert len(calls) == 3 and t.n_no_room == 1
    assert torch.equal(out["image"], prepared_case["image"])


def test_bad_options_are_refused() -> None:
    with pytest.raises(OptionError, match="did you mean 'small'"):
        RandTumord(("image", "label"), presets={"smal": 1.0})
    with pytest.raises(OptionError, match="probability"):
        RandTumord(("image", "label"), prob=1.5)


def test_scaled_image_is_refused_with_a_placement_hint() -> None:
    d = _case(2)
    d = ScaleIntensityRanged("image", -21, 189, 0.0, 1.0, clip=True)(d)
    with pytest.raises(InputError, match="before ScaleIntensityRanged"):
        PrepareLiverd(("image", "label"))(d)


def test_prepare_is_cached_in_one_flat_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    n_prepare = []
    real_prepare = ts.prepare

    def counting(*a, **k):
        n_prepare.append(1)
        return real_prepare(*a, **k)

    monkeypatch.setattr(ts, "prepare", counting)
    data = [_case(i) for i in range(2)]
    pipeline = Compose([
        PrepareLiverd(("image", "label")),
        RandTumord(("image", "label"), prob=1.0, presets={"small": 1.0}),
        ScaleIntensityRanged("image", -21, 189, 0.0, 1.0, clip=True),
    ])
    ds = CacheDataset(data, transform=pipeline, cache_rate=1.0, num_workers=1, progress=False)
    assert len(n_prepare) == 2
    assert isinstance(ds._cache[0]["tumor_prep"], LiverCase)
    outs = [ds[i] for i in range(2)] + [ds[i] for i in range(2)]
    assert len(n_prepare) == 2  # the random part ran 4 times, prepare never again
    assert all(o["tumor_params_status"] == "synthesized" for o in outs)
    assert outs[0]["tumor_params"] != outs[2]["tumor_params"]  # fresh tumors every epoch


def test_dataloader_worker_seeding_is_reproducible() -> None:
    data = [_case(i) for i in range(2)]
    pipeline = Compose([PrepareLiverd(("image", "label")),
                        RandTumord(("image", "label"), prob=1.0, presets={"small": 1.0})])
    ds = Dataset(data, transform=pipeline)

    def epoch(seed: int) -> list[str]:
        g = torch.Generator().manual_seed(seed)
        dl = DataLoader(ds, batch_size=1, num_workers=2, generator=g)
        return [b["tumor_params"][0] for b in dl]

    assert epoch(7) == epoch(7)
    assert epoch(7) != epoch(8)


def test_liver_labels_mapping() -> None:
    lab = torch.zeros((1, 4, 4, 4))
    lab[0, 0] = 6
    lab[0, 1] = 3
    lab[0, 2, 0, 0] = 9
    out = LiverLabelsd("label")({"label": lab, "liver_values": [6], "tumor_value": 9, "name": "btcv"})
    assert out["label"][0, 0].eq(1).all() and out["label"][0, 1].eq(0).all()
    assert out["label"][0, 2, 0, 0] == 2
    with pytest.raises(InputError, match="no liver"):
        LiverLabelsd("label")({"label": lab, "liver_values": [5], "tumor_value": -1, "name": "x"})


def test_training_pipeline_never_modifies_the_cache(datasets: dict, tiny_config, tmp_path) -> None:
    """The trainer caches with copy_cache=False; the random part must not touch the cache."""
    from tumorsynth.apps.train.data import build_train_transforms
    from tumorsynth.apps.train.engine import resolve_data

    cfg = tiny_config(datasets, tmp_path, presets={"small": 1.0}, crop_ratios=(1.0, 1.0, 1.0))
    items, _, _ = resolve_data(cfg)
    pipeline = build_train_transforms(cfg, synth=True)
    pipeline.set_random_state(seed=1)
    ds = CacheDataset(items[:2], pipeline, copy_cache=False, progress=False, num_workers=1)
    cached = ds._cache[0]
    image, label = cached["image"].clone(), cached["label"].clone()
    indices = [torch.as_tensor(i).clone() for i in cached["label_cls_indices"]]
    n_ops = len(cached["image"].applied_operations)
    samples = [s for _ in range(6) for s in ds[0]]
    assert any((s["label"] == 2).any() for s in samples)  # crops on synthetic tumors happen
    assert all(s["image"].shape[1:] == (32, 32, 32) and s["image"].max() <= 1.2 for s in samples)
    assert torch.equal(cached["image"], image) and torch.equal(cached["label"], label)
    assert all(torch.equal(torch.as_tensor(a), b) for a, b in zip(cached["label_cls_indices"], indices, strict=True))
    assert len(cached["image"].applied_operations) == n_ops
    assert isinstance(cached["tumor_prep"], LiverCase)


def test_multichannel_image_keeps_its_other_channels(prepared_case: dict) -> None:
    d = dict(prepared_case)
    extra = torch.full_like(d["image"], 7.0)
    d["image"] = MetaTensor(torch.cat([d["image"].as_tensor(), extra.as_tensor()]), affine=d["image"].affine)
    out = _run(d, 3)
    assert out["image"].shape[0] == 2 and bool((out["image"][1] == 7.0).all())
    assert torch.equal(out["image"][0], _run(prepared_case, 3)["image"][0])
