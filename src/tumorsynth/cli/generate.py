"""Generator commands: synth, replay, batch, presets, demo."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tumorsynth.cli.options import add_jobs_option, check_jobs, number_or_range, parse_set
from tumorsynth.errors import EXIT_CASES_FAILED, MissingDependencyError, OptionError

SYNTH_EPILOG = """\
outputs (in OUTDIR): ct.nii.gz (CT with tumors, same grid, affine and data type as the input),
label.nii.gz (0 background, 1 liver, 2 tumor), params.json (replays the case voxel for voxel
with `tumorsynth replay`), preview.png (axial, coronal, sagittal through the largest tumor),
report.json (seed, options, versions, timings).

examples:
  tumorsynth synth ct.nii.gz liver.nii.gz -o out/ --preset large --seed 7
  tumorsynth synth ct.nii.gz totalseg_multilabel.nii.gz --liver-label 5 -o out/
  tumorsynth synth ct.nii.gz liver.nii.gz -o out/ --intensity hyper --no-mass-effect
  tumorsynth synth ct.nii.gz liver.nii.gz -o out/ --radius-mm 12 --contrast-hu=-50,-30
"""


def _label_list(text: str) -> int | tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--liver-label {text!r}: give an integer or a list like 1,2") from None
    if not vals:
        raise argparse.ArgumentTypeError("--liver-label needs at least one value")
    return vals[0] if len(vals) == 1 else vals


def _generator_set(items: list[str]) -> dict[str, Any]:
    """``--set KNOB=VALUE`` items as generator knobs (no knob takes the word "none": it reads as
    the default, as it always did)."""
    knobs = parse_set(items, example="radius_mm=12 (see `tumorsynth presets`)")
    return {k: None if isinstance(v, str) and v.lower() == "none" else v for k, v in knobs.items()}


def _add_generator_options(p: argparse.ArgumentParser, seed_default: str = "a fresh seed, recorded in params.json") -> None:
    g = p.add_argument_group("tumors (defaults: the preset; `tumorsynth presets` lists every knob)")
    g.add_argument("--preset", default="mix",
                   help="tiny, small, medium, large, mix (all four types), or any (one of them at random, "
                        "as in training); default: mix")
    g.add_argument("--seed", type=int, default=None,
                   help="random seed; the same seed on the same inputs gives the same tumors "
                        f"(default: {seed_default})")
    g.add_argument("--count", type=number_or_range, default=None, metavar="N|LO,HI",
                   help="number of tumors of each type in the preset")
    g.add_argument("--radius-mm", type=number_or_range, default=None, metavar="R|LO,HI",
                   help="tumor radius r in mm (semi-axes drawn from 0.75 r to 1.25 r)")
    g.add_argument("--intensity", choices=("hypo", "hyper", "paper"), default=None,
                   help="tumor darker than the liver (hypo, default: 20-60 HU at portal-venous "
                        "enhancement, 8-25 HU on a scan without contrast medium, in between by the "
                        "liver's HU), brighter (hyper: 20-60 HU), or the darkening of the paper's "
                        "code (paper: 33-72 HU)")
    g.add_argument("--contrast-hu", type=number_or_range, default=None, metavar="C|LO,HI",
                   help="tumor mean minus liver parenchyma, HU; write negative values with '=', "
                        "e.g. --contrast-hu=-50,-30")
    g.add_argument("--tumor-mean-hu", type=number_or_range, default=None, metavar="HU|LO,HI",
                   help="absolute tumor mean in HU (overrides --contrast-hu)")
    g.add_argument("--on-no-room", choices=("error", "skip", "relax"), default=None,
                   help="when the liver is too small or thin for a tumor: stop with an error (default), "
                        "make fewer tumors (skip), or take the best place available (relax)")
    for step, text in (("vessel-avoidance", "ignore vessels when placing tumors"),
                       ("deformation", "no elastic deformation (perfect ellipsoids)"),
                       ("edge-blur", "no edge blurring (sharp edges)"),
                       ("mass-effect", "no mass effect (surrounding tissue not pushed)"),
                       ("capsule", "no capsule rim")):
        g.add_argument(f"--no-{step}", action="store_true", help=text)
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any generator knob (repeatable): a number fixes it, lo,hi draws it uniformly, "
                        "true/false switches it, default resets it; e.g. --set grain_mm=3 "
                        "--set mass_effect=0.05,0.1")


def _knobs(args: argparse.Namespace) -> dict[str, Any]:
    k: dict[str, Any] = {}
    for name in ("count", "radius_mm", "intensity", "contrast_hu", "tumor_mean_hu", "on_no_room"):
        v = getattr(args, name, None)
        if v is not None:
            k[name] = v
    for flag, knob in (("no_vessel_avoidance", "vessel_avoidance"), ("no_deformation", "deformation"),
                       ("no_edge_blur", "edge_blur"), ("no_mass_effect", "mass_effect_on"),
                       ("no_capsule", "capsule")):
        if getattr(args, flag, False):
            k[knob] = False
    k.update(_generator_set(getattr(args, "set", []) or []))
    from tumorsynth.generator.step2_sampling import resolve_knobs

    resolve_knobs(k)  # fail early, before reading any file
    return k


def cmd_synth(args: argparse.Namespace) -> int:
    from tumorsynth.jobs.pipeline import synthesize_file

    rep = synthesize_file(args.ct, args.liver_mask, args.output, preset=args.preset, seed=args.seed,
                          liver_label=args.liver_label, vessel_mask=args.vessel_mask, tumor_label=args.tumor_label,
                          overwrite=args.overwrite, preview=not args.no_preview, **_knobs(args))
    left = f" ({rep['skipped_tumors']} left out: no room in this liver)" if rep.get("skipped_tumors") else ""
    print(f"{rep['tumors']} tumor(s){left}, {rep['tumor_volume_ml']:.1f} ml, seed {rep['seed']} -> {args.output}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from tumorsynth.jobs.pipeline import replay_file

    rep = replay_file(args.params, args.ct, args.liver_mask, args.output, liver_label=args.liver_label,
                      tumor_label=args.tumor_label, overwrite=args.overwrite, preview=not args.no_preview)
    print(f"replayed {rep['tumors']} tumor(s) -> {args.output}")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from tumorsynth.jobs.batch import run_batch, summarize

    if args.summarize is not None:
        merged = summarize(args.summarize)
        print(f"finished {merged['finished']} of {merged['total']}, failed {len(merged['failed'])}, "
              f"in progress {len(merged['in_progress'])}, not done {len(merged['not_done'])} "
              f"({len(merged['jobs'])} job(s)); summary: {args.summarize}/batch_summary.json")
        return EXIT_CASES_FAILED if merged["failed"] else 0
    if args.input is None or args.output is None:
        raise OptionError("batch needs an INPUT folder or .csv and -o OUTDIR (or --summarize OUTDIR)")
    knobs = _knobs(args)
    bar = _progress()
    common = dict(preset=args.preset, seed=args.seed if args.seed is not None else 0, layout=args.layout,
                  liver_label=args.liver_label, workers=check_jobs(args.jobs), preview=not args.no_preview,
                  progress=bar, shard=args.shard, job_name=args.job_name,
                  compression_level=args.compression_level,
                  stale_after_s=None if args.stale_after_hours is None else args.stale_after_hours * 3600.0)
    if args.dask_scheduler:
        with _dask_client(args.dask_scheduler) as client:
            summary = run_batch(args.input, args.output, executor=client.get_executor(), **common, **knobs)
    else:
        summary = run_batch(args.input, args.output, **common, **knobs)
    if hasattr(bar, "close"):
        bar.close()
    busy = f", busy in other jobs {len(summary.busy)}" if summary.busy else ""
    print(f"done {len(summary.done)}, already done {len(summary.skipped)}, failed {len(summary.failed)}{busy} "
          f"in {summary.seconds:.1f} s; summary: {args.output}/batch_summary.json")
    for name, err in summary.failed.items():
        print(f"failed: {name}: {err}", file=sys.stderr)
    return EXIT_CASES_FAILED if summary.failed else 0


def _dask_client(address: str, timeout: str = "20s") -> Any:
    """A dask.distributed client of the scheduler at ``address`` (one clear line when it fails)."""
    try:
        from distributed import Client
    except ImportError:
        raise MissingDependencyError("--dask-scheduler needs dask.distributed: pip install 'tumorsynth[dask]'") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OptionError(f"--dask-scheduler {address}: cannot reach the scheduler ({type(exc).__name__}: "
                          f"{str(exc)[:120]}); check the address, e.g. tcp://HOST:8786") from None


class _Bar:
    """A progress bar: tqdm when installed, else a plain counter on stderr."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int, name: str) -> None:
        if self.bar is None:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="case", file=sys.stderr)
            except ImportError:
                self.bar = False
        if self.bar:
            self.bar.set_postfix_str(name)
            self.bar.update(1)
        else:
            print(f"[{done}/{total}] {name}", file=sys.stderr)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def _progress() -> _Bar:
    return _Bar()


def cmd_presets(args: argparse.Namespace) -> int:
    from tumorsynth.generator.presets import GENERATOR_DEFAULTS, PRESETS, TUMOR_TYPES, preset_table

    if args.json:
        data = {"presets": {k: {"components": [[t, list(c)] for t, c in p.components], "description": p.description}
                            for k, p in PRESETS.items()},
                "tumor_types": {k: {"radius_mm": t.radius_mm, "deform_sigma_mm": list(t.deform_sigma_mm),
                                    "count": list(t.count)} for k, t in TUMOR_TYPES.items()},
                "knobs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in GENERATOR_DEFAULTS.items()}}
        print(json.dumps(data, indent=2))
    else:
        print(preset_table())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tumorsynth.jobs.pipeline import run_demo

    rep = run_demo(args.output, preset=args.preset, seed=args.seed if args.seed is not None else 0,
                   overwrite=args.overwrite, **_knobs(args))
    out = args.output
    print(f"phantom CT and liver mask: {out}/phantom_ct.nii.gz, {out}/phantom_liver.nii.gz")
    print(f"{rep['tumors']} synthetic tumor(s) ({rep['tumor_volume_ml']:.1f} ml) in {rep['seconds']['synthesize'] * 1000:.0f} ms "
          f"-> {out}/case/ (ct, label, params.json, preview.png)")
    print(f"replay: tumorsynth replay {out}/case/params.json {out}/phantom_ct.nii.gz {out}/phantom_liver.nii.gz -o {out}/replay")
    return 0


def register(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("synth", help="insert synthetic tumors into a CT", formatter_class=fmt,
                       description="Insert realistic synthetic tumors into a healthy liver CT.",
                       epilog=SYNTH_EPILOG)
    p.add_argument("ct", help="CT in Hounsfield units (.nii or .nii.gz, any orientation and spacing)")
    p.add_argument("liver_mask", help="liver mask or label map on the same grid")
    p.add_argument("-o", "--output", required=True, help="output folder (must not exist, unless --overwrite)")
    p.add_argument("--liver-label", type=_label_list, default=None, metavar="N[,M]",
                   help="mask value(s) that are liver, e.g. 5 for TotalSegmentator, 6 for BTCV "
                        "(default: every non-zero voxel)")
    p.add_argument("--tumor-label", type=int, default=None, metavar="N",
                   help="mask value of real tumors to keep as tumor (label 2) and keep synthetic ones "
                        "away from, e.g. 2 for LiTS/MSD with --liver-label 1,2")
    p.add_argument("--vessel-mask", default=None, help="optional vessel mask (replaces the HU threshold)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-preview", action="store_true", help="do not write preview.png")
    _add_generator_options(p)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("replay", help="re-create a case from its params.json", formatter_class=fmt,
                       description="Re-create a synthesized case voxel for voxel from its params.json, "
                                   "on the CT and liver mask it was made from.")
    p.add_argument("params", help="params.json written by synth, batch or demo")
    p.add_argument("ct", help="the CT the record was made on")
    p.add_argument("liver_mask", help="the liver mask the record was made with")
    p.add_argument("-o", "--output", required=True, help="output folder (must not exist, unless --overwrite)")
    p.add_argument("--liver-label", type=_label_list, default=None, metavar="N[,M]",
                   help="liver value(s) of the mask (default: those recorded in params.json)")
    p.add_argument("--tumor-label", type=int, default=None, metavar="N",
                   help="value of real tumors in the mask (default: the one recorded in params.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-preview", action="store_true", help="do not write preview.png")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("batch", help="synthesize a whole dataset (resumable, parallel)", formatter_class=fmt,
                       description="Synthesize tumors into every case of a folder or CSV list. Layouts: "
                                   "LiTS (volume-N/segmentation-N), MSD Task03 (imagesTr/labelsTr), BTCV "
                                   "(img/label, liver 6), TotalSegmentator (CASE/ct.nii.gz with "
                                   "segmentations/liver.nii.gz, or a multi-label map, liver 5), pairs "
                                   "(NAME.nii.gz + NAME_liver.nii.gz), or a CSV with columns image,mask. "
                                   "Each case gets OUTDIR/NAME/; rerunning skips finished cases.")
    p.add_argument("input", nargs="?", help="dataset folder or .csv case list")
    p.add_argument("-o", "--output", help="output folder (created; finished cases are kept; "
                                          "several jobs may share it)")
    p.add_argument("--layout", default="auto", choices=("auto", "lits", "msd", "btcv", "totalseg", "pairs"))
    p.add_argument("--liver-label", type=_label_list, default=None, metavar="N[,M]",
                   help="override the layout's liver label values")
    add_jobs_option(p, "cases synthesized")
    p.add_argument("--no-preview", action="store_true", help="do not write preview.png files")
    s = p.add_argument_group("many jobs, one dataset (docs/scale.md)")
    s.add_argument("--shard", metavar="K/N", default=None,
                   help="only the cases of shard K of N (by case name; the N shards together are the "
                        "dataset); K from 0 to N-1 or from 1 to N (N is shard 0), so SLURM array ids "
                        "0..N-1 and 1..N both work")
    s.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                   help="run the cases on a Dask cluster, e.g. tcp://HOST:8786 (pip install 'tumorsynth[dask]')")
    s.add_argument("--job-name", default=None,
                   help="name of this job's summary batch_summary.NAME.json (default: shard, host, time, pid)")
    s.add_argument("--compression-level", type=int, default=None, metavar="1-9",
                   help="gzip level of .nii.gz outputs: 1 (default) fastest, 9 smallest")
    s.add_argument("--stale-after-hours", type=float, default=None, metavar="H",
                   help="also take over cases claimed by jobs on other hosts more than H hours ago "
                        "(default: never; jobs on this host are checked directly)")
    s.add_argument("--summarize", metavar="OUTDIR", default=None,
                   help="only rebuild OUTDIR/batch_summary.json from the jobs' summaries and exit")
    _add_generator_options(p, "0; each case's own seed comes from it and the case name")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("presets", help="list the tumor presets and generator knobs",
                       description="List the tumor presets (the paper's Table 6) and every generator knob.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("demo", help="run the generator on the built-in phantom (no input needed)",
                       formatter_class=fmt,
                       description="Build the procedural abdominal phantom, synthesize tumors and write "
                                   "everything (phantom CT and mask, CT with tumors, label, params.json, preview.png).")
    p.add_argument("-o", "--output", default="tumorsynth_demo", help="output folder (default: tumorsynth_demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_generator_options(p, "0")
    p.set_defaults(func=cmd_demo)
