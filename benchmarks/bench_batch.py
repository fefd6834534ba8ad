"""Batch throughput: cases per minute for 1 and 2 workers, split into read / prepare / synthesize / write.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/bench_batch.py`` (``--help`` for options).

Datasets: the procedural phantom (``--shape``, ``--spacing-mm``; every case a phantom of its own)
and the real CT of ../shared/data/totalseg_example (the same scan under several case names, so
each case gets its own seed; skipped with a message when absent). Each configuration runs a
fresh batch into a temporary folder; the split comes from each case's report.json ("sample",
the parameter draw, is counted with prepare). Then the gzip level: write time and output size
per case for ``--compression-level`` 1 (the default), 6 and 9.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tumorsynth as ts
from tumorsynth.jobs.batch import run_batch

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "totalseg_example"


def phantom_dataset(root: Path, n: int, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ph = ts.make_phantom(shape=shape, spacing_mm=spacing, rng=100 + i)
        ts.save_nifti(root / f"ph{i:03d}.nii.gz", ph.ct, affine=ph.affine)
        ts.save_nifti(root / f"ph{i:03d}_liver.nii.gz", ph.liver.astype(np.uint8), affine=ph.affine)
    return root


def real_dataset(root: Path, n: int) -> Path | None:
    ct, liver = REAL / "example_ct.nii.gz", REAL / "example_ct_liver.nii.gz"
    if not (ct.is_file() and liver.is_file()):
        return None
    root.mkdir(parents=True, exist_ok=True)
    rows = ["name,image,mask"] + [f"real{i:03d},{ct},{liver}" for i in range(n)]
    (root / "cases.csv").write_text("\n".join(rows) + "\n")
    return root / "cases.csv"


def run(source: Path, out: Path, workers: int, preset: str, level: int | None) -> dict[str, float]:
    t0 = time.perf_counter()
    summary = run_batch(source, out, preset=preset, seed=0, workers=workers, preview=False,
                        compression_level=level, on_no_room="skip", job_name="bench")
    wall = time.perf_counter() - t0
    if summary.failed:
        raise SystemExit(f"bench: cases failed: {summary.failed}")
    parts: dict[str, list[float]] = {"read": [], "prepare": [], "synthesize": [], "write": []}
    size = []
    for name in summary.done:
        sec = json.loads((out / name / "report.json").read_text())["seconds"]
        parts["read"].append(sec["read"])
        parts["prepare"].append(sec["prepare"] + sec.get("sample", 0.0))
        parts["synthesize"].append(sec["synthesize"])
        parts["write"].append(sec["write"])
        size.append(sum(p.stat().st_size for p in (out / name).glob("*.nii*")))
    n = len(summary.done)
    return {"cases": n, "wall": wall, "per_min": 60.0 * n / wall, "mb": statistics.median(size) / 1e6,
            **{k: 1000 * statistics.median(v) for k, v in parts.items()}}


def main(argv: list[str] | None = None) -> int:
    ts.tune_allocator()  # as the CLI does (a library leaves the allocator to its caller)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=8, help="cases per dataset (default 8)")
    ap.add_argument("--shape", type=int, nargs=3, default=(256, 256, 160), help="phantom shape (default 256 256 160)")
    ap.add_argument("--spacing-mm", type=float, nargs=3, default=(1.5, 1.5, 2.0), help="phantom spacing (default 1.5 1.5 2)")
    ap.add_argument("--preset", default="mix", help="tumor preset (default mix)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 6, 9], help="gzip levels compared (default 1 6 9)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        datasets = {f"phantom {'x'.join(map(str, args.shape))}": phantom_dataset(
            root / "phantom", args.cases, tuple(args.shape), tuple(args.spacing_mm))}
        real = real_dataset(root / "real", args.cases)
        if real is None:
            print(f"real CT not found at {REAL}: its rows are skipped")
        else:
            datasets["real CT (totalseg_example)"] = real
        print("| dataset | workers | cases | cases/min | read ms | prepare ms | synthesize ms | write ms | MB/case |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, src in datasets.items():
            for w in args.workers:
                r = run(src, root / f"out-{len(label)}-{w}", w, args.preset, None)
                print(f"| {label} | {w} | {r['cases']} | {r['per_min']:.1f} | {r['read']:.0f} | {r['prepare']:.0f} | "
                      f"{r['synthesize']:.0f} | {r['write']:.0f} | {r['mb']:.1f} |")
                sys.stdout.flush()
        print("\n| dataset | gzip level | write ms (median per case) | MB/case | cases/min (1 worker) |")
        print("| --- | --- | --- | --- | --- |")
        for label, src in datasets.items():
            for level in args.levels:
                r = run(src, root / f"lvl-{len(label)}-{level}", 1, args.preset, level)
                print(f"| {label} | {level} | {r['write']:.0f} | {r['mb']:.2f} | {r['per_min']:.1f} |")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
