"""How much of a training step's data time is tumor synthesis? (a script that prints; not a test)

Runs the training pipeline of ``tumorsynth train`` at the paper's settings (1 mm grid, HU window
[-21, 189], 96^3 patches, crops per case, the five tumor types at 0.2 each) on one CT and times,
per training sample:

* the one-off, cached part (load, RAS, 1 mm resampling, ``PrepareLiverd``),
* the hand-out of the cached item (the trainer's ``CacheDataset`` uses ``copy_cache=False``:
  no transform modifies the cache, so this is a shallow dictionary copy),
* ``RandTumord`` (the synthesis),
* the rest of the random part (HU window, padding, class-balanced crops, flips, rotations).

It then prints the share of synthesis in the data time of a sample and of a batch, and the
number of DataLoader workers per GPU that keeps a GPU with the given step time fed.

Usage::

    python benchmarks/bench_training_data.py                      # real CT if ../shared has it
    python benchmarks/bench_training_data.py --phantom --samples 40
    python benchmarks/bench_training_data.py --gpu-step-s 0.35 --batch-size 2 --crops 2

Times are per process on one CPU core (DataLoader workers run one sample each in parallel).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

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
    return f"{1000 * statistics.mean(values):7.1f} ms (sd {1000 * sd:5.1f}, max {1000 * max(values):6.1f})"


def main(argv: list[str] | None = None) -> int:
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
    from monai.transforms import Randomizable, apply_transform

    from tumorsynth.monai import RandTumord
    from tumorsynth.train import TrainConfig
    from tumorsynth.train.data import build_train_transforms

    torch.set_num_threads(1)  # one DataLoader worker = one core
    cfg = TrainConfig(healthy=["-"], crops_per_case=args.crops, batch_size=args.batch_size)
    pipeline = build_train_transforms(cfg, synth=True)
    pipeline.set_random_state(seed=args.seed)
    ts_list = pipeline.transforms
    first_random = next(i for i, t in enumerate(ts_list) if isinstance(t, Randomizable))
    synth_t = ts_list[first_random]
    assert isinstance(synth_t, RandTumord)
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

    t_copy, t_syn, t_rest, status, n_tumors = [], [], [], Counter(), []
    for _ in range(args.samples):
        t0 = time.perf_counter()
        d = dict(cached)  # as CacheDataset(copy_cache=False) hands it out
        t1 = time.perf_counter()
        d = synth_t(d)
        t2 = time.perf_counter()
        out = d
        for t in rest:
            out = apply_transform(t, out)
        t3 = time.perf_counter()
        t_copy.append(t1 - t0)
        t_syn.append(t2 - t1)
        t_rest.append(t3 - t2)
        status[d["tumor_params_status"]] += 1
        if d["tumor_params"]:
            import json

            rec = json.loads(d["tumor_params"])
            n_tumors.append(len(rec.get("tumors", [])))

    per_sample = [a + b + c for a, b, c in zip(t_copy, t_syn, t_rest, strict=True)]
    share = sum(t_syn) / sum(per_sample)
    batch_s = statistics.mean(per_sample) * args.batch_size
    workers = max(2, math.ceil(1.25 * batch_s / args.gpu_step_s))

    print(f"case: {item['name']}; at 1 mm: {shape} voxels, liver {liver_ml:.0f} ml")
    print(f"settings: 1 mm grid, HU window {cfg.hu_window}, patch {cfg.patch_size}, "
          f"{args.crops} crops/case, batch {args.batch_size} cases, presets {cfg.presets}")
    print(f"one-off cached part (load, RAS, resample, PrepareLiverd): {t_cached:6.2f} s per case")
    print(f"per sample ({args.samples} samples, one core):")
    print(f"  cache hand-out {_ms(t_copy)}")
    print(f"  RandTumord     {_ms(t_syn)}   <- synthesis")
    print(f"  rest (window, pad, crops, flips, rotations) {_ms(t_rest)}")
    print(f"  total          {_ms(per_sample)}")
    print(f"  outcomes: {dict(status)}; tumors per synthesized case: "
          f"{statistics.mean(n_tumors) if n_tumors else 0:.1f}")
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
