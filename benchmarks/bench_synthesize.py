"""Time the generator per preset on the phantom at the paper's working size (384x384x256, 1 mm).

Prints, per preset: the median wall time and CPU time of ``Synthesizer.__call__`` (the
on-the-fly path: cost follows the tumors), of ``synthesize`` (the pure function, which also copies the whole CT and
builds the label map), of ``sample_params``, and the peak extra memory of a call (tracemalloc,
which sees numpy's allocations). Each call gets a new record (new tumors); after three warm-up
calls per preset the presets take turns, so that a slow spell of a shared machine affects them
alike. Run: ``python benchmarks/bench_synthesize.py [--repeats 40]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

import tumorsynth as ts

PRESETS = ("tiny", "small", "medium", "large", "mix")


def main(argv: list[str] | None = None) -> None:
    ts.tune_allocator()  # as the CLI does (a library leaves the allocator to its caller)
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shape", type=int, nargs=3, default=(384, 384, 256))
    ap.add_argument("--spacing", type=float, nargs=3, default=(1.0, 1.0, 1.0))
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    ph = ts.make_phantom(shape=tuple(args.shape), spacing_mm=tuple(args.spacing), rng=args.seed)
    t_phantom = time.perf_counter() - t0
    prep_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        prep = ts.prepare(ph.ct, ph.liver, ph.spacing_mm)
        prep_times.append(time.perf_counter() - t0)
    print(f"phantom {tuple(args.shape)} at {tuple(args.spacing)} mm: built in {t_phantom:.1f} s; "
          f"prepare: median {statistics.median(prep_times) * 1000:.0f} ms")
    # one Synthesizer per preset: a call restores the boxes of the previous call of its own preset
    syns = {p: ts.Synthesizer(ph.ct, ph.liver) for p in PRESETS}
    rng = np.random.default_rng(args.seed)
    samp: dict[str, list[float]] = {p: [] for p in PRESETS}
    records: dict[str, list[ts.CaseParams]] = {p: [] for p in PRESETS}
    for _ in range(args.repeats):
        for preset in PRESETS:
            t0 = time.perf_counter()
            records[preset].append(ts.sample_params(prep, preset, rng=rng, on_no_room="relax"))
            samp[preset].append(time.perf_counter() - t0)
    for preset in PRESETS:  # warm-up: the allocator reaches its working size
        for params in records[preset][:3]:
            syns[preset](params)
    # the presets take turns, so that a slow spell of a shared machine hits them all alike
    call: dict[str, list[float]] = {p: [] for p in PRESETS}
    cpu: dict[str, list[float]] = {p: [] for p in PRESETS}
    for i in range(args.repeats):
        for preset in PRESETS:
            params = records[preset][i]
            t0, c0 = time.perf_counter(), time.process_time()
            syns[preset](params)
            call[preset].append(time.perf_counter() - t0)
            cpu[preset].append(time.process_time() - c0)
    print(f"{'preset':<8} {'tumors':>6} {'call ms':>8} {'cpu ms':>7} {'p90 ms':>7} {'pure ms':>8} {'sample ms':>9} {'peak MB':>8}")
    for preset in PRESETS:
        pure, peaks = [], []
        for params in records[preset][:3]:
            tracemalloc.start()  # memory in separate calls: tracemalloc slows numpy down
            syns[preset](params)
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
            t0 = time.perf_counter()
            ts.synthesize(ph.ct, ph.liver, params)
            pure.append(time.perf_counter() - t0)
        counts = [len(p.tumors) for p in records[preset]]
        print(f"{preset:<8} {statistics.mean(counts):>6.1f} {statistics.median(call[preset]) * 1000:>8.1f} "
              f"{statistics.median(cpu[preset]) * 1000:>7.1f} "
              f"{np.percentile(call[preset], 90) * 1000:>7.1f} {statistics.median(pure) * 1000:>8.1f} "
              f"{statistics.median(samp[preset]) * 1000:>9.1f} {max(peaks):>8.1f}")


if __name__ == "__main__":
    main()
