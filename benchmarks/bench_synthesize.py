"""Time the generator per preset on the phantom at the paper's working size (384x384x256, 1 mm).

Prints, per preset: the median wall time and CPU time of ``Synthesizer.__call__`` (the
on-the-fly path: cost follows the tumors), of ``synthesize`` (the pure function, which also copies the whole CT and
builds the label map), of ``sample_params``, and the peak extra memory of a call (tracemalloc,
which sees numpy's allocations). Run: ``python benchmarks/bench_synthesize.py [--repeats 20]``.
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
    syn = ts.Synthesizer(ph.ct, ph.liver)
    syn(ts.sample_params(prep, "tiny", rng=0))  # allocate the buffers once
    print(f"{'preset':<8} {'tumors':>6} {'call ms':>8} {'cpu ms':>7} {'p90 ms':>7} {'pure ms':>8} {'sample ms':>9} {'peak MB':>8}")
    rng = np.random.default_rng(args.seed)
    for preset in PRESETS:
        call, cpu, pure, samp, peaks, counts = [], [], [], [], [], []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            params = ts.sample_params(prep, preset, rng=rng, on_no_room="relax")
            samp.append(time.perf_counter() - t0)
            counts.append(len(params.tumors))
            t0, c0 = time.perf_counter(), time.process_time()
            syn(params)
            call.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if i < 3:  # memory in separate calls: tracemalloc slows numpy down
                tracemalloc.start()
                syn(params)
                peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
                tracemalloc.stop()
            if i < 3:
                t0 = time.perf_counter()
                ts.synthesize(ph.ct, ph.liver, params)
                pure.append(time.perf_counter() - t0)
        print(f"{preset:<8} {statistics.mean(counts):>6.1f} {statistics.median(call) * 1000:>8.1f} "
              f"{statistics.median(cpu) * 1000:>7.1f} "
              f"{np.percentile(call, 90) * 1000:>7.1f} {statistics.median(pure) * 1000:>8.1f} "
              f"{statistics.median(samp) * 1000:>9.1f} {max(peaks):>8.1f}")


if __name__ == "__main__":
    main()
