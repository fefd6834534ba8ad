"""How far this version's tumors moved from the previous version's, feature by feature.

For each preset, tumors are made with several seeds on the real CTs of ../shared/data (and on
the 1 mm phantom) by this checkout's generator and by the previous version's (tumorsynth 0.2,
commit 3fb8fec by default, checked out into a temporary git worktree and run in a subprocess),
and the realism report's lesion features (:mod:`tumorsynth.apps.realism`) are compared:
synthetic-vs-synthetic, the previous version as the reference. Prints per preset and host the
median of each feature in both versions and the distance ``W / IQR`` between them.

    python benchmarks/bench_realism.py                    # real CTs and phantom, 4 seeds
    python benchmarks/bench_realism.py --seeds 8 --previous-src /path/to/tumorsynth-0.2/src

Without a git checkout (or with ``--previous-src none``) only this version is described.
This is a report, not a test: real tumors are the reference a user compares against
(``tumorsynth realism --real LiTS/ --synthetic synth/``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "totalseg_example"
PREVIOUS_COMMIT = "3fb8fec"  # tumorsynth 0.2 (parameter record format 2)
PRESETS = ("tiny", "small", "medium", "large", "mix")
FEATURES = ("sphericity", "elongation", "contrast_hu", "heterogeneity", "fine_texture_ratio", "edge_width_mm",
            "edge_offset_mm")

# runs in a subprocess with either version first on sys.path: writes the synthetic cases to an .npz
GENERATE = r"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import tumorsynth as ts
hosts = np.load(sys.argv[2], allow_pickle=False)
seeds = int(sys.argv[4]); presets = sys.argv[5].split(",")
out = {}
for name in [k[:-3] for k in hosts.files if k.endswith("_ct")]:
    ct, liver, sp = hosts[name + "_ct"], hosts[name + "_liver"], tuple(float(v) for v in hosts[name + "_sp"])
    prep = ts.prepare(ct, liver, sp)
    for preset in presets:
        for seed in range(seeds):
            p = ts.sample_params(prep, preset, rng=seed, on_no_room="skip")
            c2, lab = ts.synthesize(ct, liver, p)
            out[f"{name}|{preset}|{seed}|ct"] = c2
            out[f"{name}|{preset}|{seed}|lab"] = lab
np.savez(sys.argv[3], **out)
"""


def _hosts(phantom_shape: tuple[int, int, int]) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[float, ...]]]:
    import tumorsynth as ts

    hosts = {}
    if (REAL / "example_ct.nii.gz").is_file():
        ct, liver = ts.load_case(REAL / "example_ct.nii.gz", REAL / "example_ct_liver.nii.gz")
        hosts["totalseg_ct"] = (np.asarray(ct.data), np.asarray(liver), tuple(ct.spacing_mm))
        ct2, liver2 = ts.load_case(REAL / "example_ct_sm.nii.gz", REAL / "example_seg.nii.gz", liver_label=[5])
        hosts["totalseg_sm"] = (np.asarray(ct2.data), np.asarray(liver2), tuple(ct2.spacing_mm))
    else:
        print(f"(real CTs not found at {REAL}: phantom only)")
    ph = ts.make_phantom(shape=phantom_shape, spacing_mm=(1.0, 1.0, 1.0), rng=3)
    hosts["phantom_1mm"] = (ph.ct, ph.liver, ph.spacing_mm)
    return hosts


def _generate(src: Path, host_file: Path, seeds: int, presets: list[str], workdir: Path) -> Path:
    out = workdir / f"cases_{abs(hash(str(src)))}.npz"
    env = dict(os.environ, PYTHONPATH=str(src))
    subprocess.run([sys.executable, "-c", GENERATE, str(src), str(host_file), str(out), str(seeds), ",".join(presets)],
                   check=True, env=env)
    return out


def _features(cases: Path, spacing: dict[str, tuple[float, ...]]) -> dict[tuple[str, str], list[dict]]:
    from tumorsynth.apps.realism import lesion_features

    z = np.load(cases)
    out: dict[tuple[str, str], list[dict]] = {}
    for key in z.files:
        if not key.endswith("|ct"):
            continue
        host, preset, _seed, _ = key.split("|")
        lab = z[key[:-3] + "|lab"]
        out.setdefault((host, preset), []).extend(lesion_features(z[key], lab, spacing[host], min_volume_mm3=30))
    return out


def _previous_src(arg: str, workdir: Path) -> Path | None:
    if arg.lower() == "none":
        return None
    if arg:
        return Path(arg)
    tree = workdir / "previous"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), PREVIOUS_COMMIT],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"(previous version not available: {exc}; describing this version only)")
        return None
    return tree / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--phantom-shape", type=int, nargs=3, default=(256, 224, 160))
    ap.add_argument("--previous-src", default="", help="src folder of the previous version ('none': skip)")
    args = ap.parse_args()
    from tumorsynth.apps.realism import compare_features

    presets = args.presets.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hosts = _hosts(tuple(args.phantom_shape))
        host_file = work / "hosts.npz"
        np.savez(host_file, **{f"{k}_ct": v[0] for k, v in hosts.items()},
                 **{f"{k}_liver": v[1] for k, v in hosts.items()},
                 **{f"{k}_sp": np.asarray(v[2]) for k, v in hosts.items()})
        spacing = {k: v[2] for k, v in hosts.items()}
        prev_src = _previous_src(args.previous_src, work)
        now = _features(_generate(ROOT / "src", host_file, args.seeds, presets, work), spacing)
        before = _features(_generate(prev_src, host_file, args.seeds, presets, work), spacing) if prev_src else {}
        if prev_src and not args.previous_src:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "previous")],
                           capture_output=True)
    label = "previous -> this version (W/IQR)" if before else "this version"
    print(f"lesion features, median per host and preset: {label}; {args.seeds} seeds")
    for (host, preset) in sorted(now):
        cur = now[(host, preset)]
        prev = before.get((host, preset))
        cmp = compare_features(prev, cur) if prev else compare_features(cur, None)
        parts = []
        for f in FEATURES:
            st = cmp["features"][f]
            if prev:
                parts.append(f"{f} {st['real']['median']:.2f}->{st['synthetic']['median']:.2f} ({st['w_over_iqr']:.1f})")
            else:
                parts.append(f"{f} {st['real']['median']:.2f}")
        n = f"{len(prev)}->{len(cur)}" if prev else f"{len(cur)}"
        print(f"{host:12s} {preset:7s} lesions {n:>7s}  " + "  ".join(parts))
        if prev:
            print(f"{'':20s} gap between versions {cmp['gap']:.2f} (shape {cmp['gap_shape']:.2f}, "
                  f"appearance {cmp['gap_appearance']:.2f})")


if __name__ == "__main__":
    main()
