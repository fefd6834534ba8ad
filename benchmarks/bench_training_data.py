"""What does a training sample cost, with and without tumors? (a script that prints; not a test)

Runs the training pipeline of ``tumorsynth train`` at the paper's settings (1 mm grid, HU window
[-21, 189], 96^3 patches, crops per case, the five tumor types at 0.2 each) on one CT and times,
per training sample, on one core:

* the one-off, cached part (load, RAS, 1 mm resampling, crop centres, ``PrepareLiverd``);
* the random part (``RandTumorCropByLabelClassesd``: tumors and the class-balanced crops in one
  step; then the HU window on the crops, flips, rotations, intensity shift) **with tumors**
  (probability 1) and **without** (0);
* for the same parameter records and crop centres: the generator's own work (``Synthesizer``,
  which restores and rewrites only the tumors' boxes: the floor); tumorsynth 0.3's two steps
  (``RandTumord`` copies the whole image and label, then ``RandCropByLabelClassesd``); and the
  whole-volume path of tumorsynth 0.2's transform (``synthesize`` copies the CT and builds a
  label map, then the label is compared, copied and scanned over the whole volume).

It then prints the share of synthesis in the data time and the number of DataLoader workers
per GPU that keeps a GPU with the given step time fed.

Usage::

    python benchmarks/bench_training_data.py                      # real CT if ../shared has it
    python benchmarks/bench_training_data.py --phantom --samples 40
    python benchmarks/bench_training_data.py --gpu-step-s 0.35 --batch-size 2 --crops 2

Times are per process on one CPU core (DataLoader workers run one sample each in parallel).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REAL_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg_example"


def _write_case(tmp: Path, phantom: bool) -> dict:
    import nibabel as nib

    import tumorsynth as ts

    if not phantom and (REAL_CT / "example_ct.nii.gz").is_file():
        return {"name": "totalseg_example", "image": str(REAL_CT / "example_ct.nii.gz"),
                "label": str(REAL_CT / "example_ct_liver.nii.gz"), "liver_values": [],
                "tumor_value": -1, "synth": True}
    ph = ts.make_phantom(rng=0)  # 192 x 192 x 96 at 2 x 2 x 2.5 mm: 384 x 384 x 240 at 1 mm
    nib.save(nib.Nifti1Image(ph.ct.astype(np.int16), ph.affine), str(tmp / "ct.nii.gz"))
    nib.save(nib.Nifti1Image(ph.liver.astype(np.uint8), ph.affine), str(tmp / "liver.nii.gz"))
    return {"name": "phantom", "image": str(tmp / "ct.nii.gz"), "label": str(tmp / "liver.nii.gz"),
            "liver_values": [], "tumor_value": -1, "synth": True}


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return (f"{1000 * statistics.mean(values):7.1f} ms mean, {1000 * statistics.median(values):7.1f} "
            f"median (sd {1000 * sd:5.1f}, max {1000 * max(values):6.1f})")


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _whole_volume_path(cached: dict, params: Any) -> None:
    """What tumorsynth 0.2's RandTumord did per sample after sampling (for 'before')."""
    import torch

    import tumorsynth as ts
    from tumorsynth.integrations.monai.dicts import _like

    ct = cached["image"][0].numpy()
    label = cached["label"][0].numpy()
    liver = label > 0
    ct_out, lab_out = ts.synthesize(ct, liver, params)
    tumor = np.asarray(lab_out) == 2
    new_label = label.copy()
    new_label[tumor] = 2
    _like(cached["image"], np.asarray(ct_out))
    _like(cached["label"], new_label)
    torch.as_tensor(np.flatnonzero(tumor))


def main(argv: list[str] | None = None) -> int:
    from tumorsynth import tune_allocator

    tune_allocator()  # as the CLI does (a library leaves the allocator to its caller)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantom", action="store_true", help="use the procedural phantom, not the real CT")
    ap.add_argument("--samples", type=int, default=25, help="random samples to time (default 25)")
    ap.add_argument("--batch-size", type=int, default=2, help="cases per step and GPU (default 2)")
    ap.add_argument("--crops", type=int, default=2, help="96^3 crops per case (default 2)")
    ap.add_argument("--gpu-step-s", type=float, default=0.5,
                    help="GPU time of one training step (forward+backward) to keep fed; "
                         "default 0.5 s (Swin UNETR at 96^3, batch 2x2, mixed precision, one "
                         "data-centre GPU; a U-Net is faster: try 0.25)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from monai.transforms import RandCropByLabelClassesd, Randomizable, apply_transform

    import tumorsynth as ts
    from tumorsynth.apps.train import TrainConfig
    from tumorsynth.apps.train.data import build_train_transforms
    from tumorsynth.integrations.monai import RandTumorCropByLabelClassesd, RandTumord
    from tumorsynth.integrations.monai.dicts import _like

    torch.set_num_threads(1)  # one DataLoader worker = one core
    cfg = TrainConfig(healthy=["-"], crops_per_case=args.crops, batch_size=args.batch_size)
    pipeline = build_train_transforms(cfg, synth=True)
    pipeline.set_random_state(seed=args.seed)
    ts_list = pipeline.transforms
    first_random = next(i for i, t in enumerate(ts_list) if isinstance(t, Randomizable))
    synth_t = ts_list[first_random]
    assert isinstance(synth_t, RandTumorCropByLabelClassesd)
    rest = ts_list[first_random + 1:]

    with tempfile.TemporaryDirectory() as tmpdir:
        item = _write_case(Path(tmpdir), args.phantom)
        t0 = time.perf_counter()
        cached = item
        for t in ts_list[:first_random]:
            cached = apply_transform(t, cached)
        t_cached = time.perf_counter() - t0
    shape = tuple(cached["image"].shape[1:])
    liver_ml = float((cached["label"] > 0).sum()) / 1000.0
    prep = cached["tumor_prep"]
    syn = ts.Synthesizer(cached["image"][0].numpy(), cached["label"][0].numpy() > 0)

    no_t = RandTumorCropByLabelClassesd(
        ("image", "label"), cfg.patch_size, ratios=list(cfg.crop_ratios), num_classes=3,
        num_samples=cfg.crops_per_case, indices_key="label_cls_indices", warn=False, prob=0.0,
        enable_key="synth")
    no_t.set_random_state(seed=args.seed + 1)
    two_steps = RandTumord(("image", "label"), prob=1.0, enable_key="synth", indices_key="label_cls_indices")
    crop_after = RandCropByLabelClassesd(
        keys=["image", "label"], label_key="label", spatial_size=cfg.patch_size,
        ratios=list(cfg.crop_ratios), num_classes=3, num_samples=cfg.crops_per_case,
        indices_key="label_cls_indices", warn=False)
    crop_after.set_random_state(seed=args.seed + 2)
    status: Counter[str] = Counter()
    n_tumors: list[int] = []
    t_with: list[float] = []
    t_synth: list[float] = []
    t_without: list[float] = []
    t_floor: list[float] = []
    t_before: list[float] = []
    t_two_steps: list[float] = []

    def two_step_path(params: Any) -> None:
        """0.3: the whole case copied with the tumors pasted, then MONAI's crops."""
        from tumorsynth.integrations.monai.transforms import _paste_tumors

        d = dict(cached)
        prep_case = d.pop("tumor_prep")
        ct0, lab0 = d["image"][0].numpy(), d["label"][0].numpy()
        img, lab, _, flat = _paste_tumors(ct0, lab0, prep_case, params)
        d["image"] = _like(d["image"], img)
        d["label"] = _like(d["label"], lab)
        d["label_cls_indices"] = two_steps._update_indices(d["label_cls_indices"], flat, prep_case.tumor_value)
        crop_after(d)

    def sample(transform: RandTumord) -> tuple[dict, float, float]:
        t0 = time.perf_counter()
        d = transform(dict(cached))  # as CacheDataset(copy_cache=False) hands it out
        t1 = time.perf_counter()
        out = d
        for t in rest:
            out = apply_transform(t, out)
        return d, t1 - t0, time.perf_counter() - t0

    for _ in range(2):  # warm-up: allocator, caches
        sample(synth_t)
        sample(no_t)
    for _ in range(args.samples):  # with and without tumors take turns
        d, syn_s, total_s = sample(synth_t)
        t_synth.append(syn_s)
        t_with.append(total_s)
        first = d[0]
        status[first["tumor_params_status"]] += 1
        if first["tumor_params"]:
            params = ts.CaseParams.from_json(first["tumor_params"])
            n_tumors.append(len(json.loads(first["tumor_params"]).get("tumors", [])))
            t_floor.append(_timed(lambda p=params: syn(p)))
            t_before.append(_timed(lambda p=params: _whole_volume_path(cached, p)))
            t_two_steps.append(_timed(lambda p=params: two_step_path(p)))
        t_without.append(sample(no_t)[2])
    assert prep is cached["tumor_prep"]

    share = sum(t_synth) / sum(t_with)
    batch_s = statistics.mean(t_with) * args.batch_size
    workers = max(2, math.ceil(1.25 * batch_s / args.gpu_step_s))

    print(f"case: {item['name']}; at 1 mm: {shape} voxels, liver {liver_ml:.0f} ml")
    print(f"settings: 1 mm grid, HU window {cfg.hu_window}, patch {cfg.patch_size}, "
          f"{args.crops} crops/case, batch {args.batch_size} cases, presets {cfg.presets}")
    print(f"one-off cached part (load, RAS, resample, indices, PrepareLiverd): {t_cached:6.2f} s per case")
    print(f"per sample ({args.samples} samples each, one core; outcomes {dict(status)}, "
          f"{statistics.mean(n_tumors) if n_tumors else 0:.1f} tumors per synthesized case):")
    print(f"  random part WITHOUT tumors (prob 0)    {_ms(t_without)}")
    print(f"  random part WITH tumors                {_ms(t_with)}")
    print(f"    of which tumors + crops (one step)   {_ms(t_synth)}")
    print("  for the same records:")
    print(f"    generator floor (Synthesizer, boxes) {_ms(t_floor)}")
    print(f"    0.3: RandTumord copy, then crops     {_ms(t_two_steps)}")
    print(f"    0.2: whole-volume path (no crops)    {_ms(t_before)}")
    print(f"synthesis share of the data time: {100 * share:.0f}%")
    print(f"data time of one step (batch {args.batch_size}): {batch_s:.2f} s on one core")
    print(f"recommended DataLoader workers per GPU for a {args.gpu_step_s:.2f} s GPU step: "
          f"{workers} (num_workers={workers}; 25% headroom)")
    print("workers per GPU by GPU step time (ceil(1.25 x data time per step / GPU step)):")
    for step_s in (0.1, 0.15, 0.25, 0.4, 0.5, 1.0):
        print(f"  {step_s:5.2f} s -> {max(2, math.ceil(1.25 * batch_s / step_s)):3d} workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
