"""``tumorsynth study``: the Visual Turing Test (blinded reader study) from the command line.

Subcommands: ``build``, ``add-reader``, ``readers``, ``serve``, ``report``, ``export``,
``import``. Each is a few lines over :mod:`tumorsynth.apps.reader_study`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tumorsynth.errors import EXIT_USAGE, OptionError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

STUDY_HELP = """\
A Visual Turing Test: readers look at CTs with real and with synthetic liver tumors, mixed
and blinded, and answer real / synthetic / unsure for each.

  1. tumorsynth study build --real REAL --healthy HEALTHY --seed 1 --readers alice,bob -o study
  2. tumorsynth study serve study            (readers open their personal links)
  3. tumorsynth study report study -o study_report

Or, for readers with their own viewer: tumorsynth study export study -o sheet_folder, then
tumorsynth study import study filled_sheet.csv --reader alice. See docs/reader_study.md.
The web app needs: pip install 'tumorsynth[reader]'.
"""


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _reader_link(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/#token={token}"


def _owner_link(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/owner#token={token}"


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _progress(done: int, total: int) -> None:
    import sys

    if sys.stderr.isatty():
        sys.stderr.write(f"\rbuilding the study: case {done}/{total}" + ("\n" if done == total else ""))
        sys.stderr.flush()


def cmd_build(args: argparse.Namespace) -> int:
    from tumorsynth.apps.reader_study import build_study

    result = build_study(
        args.output,
        real=args.real,
        healthy=args.healthy,
        synthetic=args.synthetic,
        preset=args.preset,
        seed=args.seed,
        readers=_names(args.readers),
        reader_order=args.reader_order,
        n_real=args.n_real,
        n_synthetic=args.n_synthetic,
        real_tumor_label=args.real_tumor_label,
        healthy_liver_label=args.healthy_liver_label,
        crop_margin_mm=args.crop_margin,
        title=args.title,
        overwrite=args.overwrite,
        progress=_progress,
    )
    print(f"study of {len(result.case_ids)} cases written to {result.study_dir} "
          f"(seed {result.seed}; truth in {result.study_dir / 'owner'})")
    print("Links (shown only now; only their hashes are stored; keep them private):")
    print(f"  owner: {_owner_link(args.base_url, result.owner_token)}")
    for name, token in result.tokens.items():
        print(f"  {name}: {_reader_link(args.base_url, token)}")
    if not result.tokens:
        print("  no readers yet: tumorsynth study add-reader", result.study_dir, "NAME")
    print(f"Start the web app with: tumorsynth study serve {result.study_dir}")
    return 0


def cmd_add_reader(args: argparse.Namespace) -> int:
    from tumorsynth.apps.reader_study import add_reader
    from tumorsynth.apps.reader_study.layout import StudyPaths, load_manifest

    load_manifest(args.study)
    db = StudyPaths(args.study).db
    for name in _names(args.names):
        if name == "owner":
            token = add_reader(db, "owner", role="owner", reissue=True)
            print(f"owner: {_owner_link(args.base_url, token)}  (new token; the old one no longer works)")
            continue
        token = add_reader(db, name, order=args.order, reissue=args.reissue)
        print(f"{name}: {_reader_link(args.base_url, token)}")
    return 0


def cmd_readers(args: argparse.Namespace) -> int:
    import time

    from tumorsynth.apps.reader_study import list_readers
    from tumorsynth.apps.reader_study.layout import StudyPaths, load_manifest

    load_manifest(args.study)
    rows = list_readers(StudyPaths(args.study).db)
    print(f"{'name':<20} {'role':<7} {'answered':>9} {'unsure':>7}  last answer (UTC)")
    for r in rows:
        last = (time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["last_answer_at"]))
                if r["last_answer_at"] else "-")
        answered = f"{r['answered']}/{r['n_cases']}" if r["role"] == "reader" else "-"
        print(f"{r['name']:<20} {r['role']:<7} {answered:>9} {r['unsure']:>7}  {last}")
    return 0


def _check_port(host: str, port: int) -> None:
    import socket

    if not 1 <= port <= 65535:
        raise OptionError(f"--port {port} is invalid; use 1 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise OptionError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host"
            ) from None


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from tumorsynth.apps.reader_study.server import create_app
    except ImportError as exc:
        raise OptionError(f"{exc}") from None
    import uvicorn

    app = create_app(args.study)
    _check_port(args.host, args.port)
    base = _base_url(args.host, args.port)
    print(f"Reader study running at {base}/ (owner page: {base}/owner); stop with Ctrl+C.")
    print("Readers open the personal links printed by `study build` / `study add-reader`"
          + ("" if args.host in ("127.0.0.1", "localhost", "::1") else
             f", with {base} in place of the host part"))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: the app is reachable from other machines over plain HTTP; on a shared "
              "network put it behind an HTTPS reverse proxy")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tumorsynth.apps.reader_study import write_report

    written = write_report(args.study, args.output, overwrite=args.overwrite, chart=not args.no_chart)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tumorsynth.apps.reader_study import export_study

    sheet = export_study(args.study, args.output, overwrite=args.overwrite)
    print(f"volumes and answer sheet written to {sheet.parent} (sheet: {sheet.name}; read README.txt)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tumorsynth.apps.reader_study import import_sheet

    n = import_sheet(args.study, args.sheet, reader=args.reader, replace=args.replace)
    print(f"{n} answers of {args.reader} stored")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``study`` command and its subcommands to the main parser."""
    study = subparsers.add_parser(
        "study", help="Visual Turing Test: build, serve and report a blinded reader study",
        description=STUDY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    study.set_defaults(func=lambda _args: (study.print_help(sys.stderr), EXIT_USAGE)[1])
    sub = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND")

    b = sub.add_parser("build", help="build a blinded study folder from real and synthetic cases",
                       description="Build a blinded study: real tumor cases and synthetic ones, "
                       "shuffled with the seed, renamed to opaque ids, stripped of names, header "
                       "texts and labels; the answer key goes to STUDY_DIR/owner/.")
    b.add_argument("--real", required=True, metavar="CASES",
                   help="real tumor cases with labels: a folder (LiTS, MSD, NAME + NAME_label, ...) or a "
                        "list file with 'ct,label' per line")
    b.add_argument("--healthy", metavar="CASES",
                   help="healthy CTs with liver masks ('ct,liver_mask'); synthetic tumors are drawn "
                        "on the spot with --preset and --seed")
    b.add_argument("--synthetic", metavar="CASES",
                   help="CTs that already have synthetic tumors (e.g. from `tumorsynth synth`)")
    b.add_argument("--preset", default="mix", help="tumor preset for --healthy cases (default: mix)")
    b.add_argument("--seed", type=int, default=None,
                   help="seed of selection, shuffle, ids and synthesis (default: random, recorded)")
    b.add_argument("-o", "--output", required=True, metavar="STUDY_DIR", help="study folder to create")
    b.add_argument("--readers", metavar="NAMES", help="comma-separated reader names, e.g. alice,bob")
    b.add_argument("--reader-order", choices=("same", "shuffled"), default="same",
                   help="case order: the same for all readers, or shuffled per reader (default: same)")
    b.add_argument("--n-real", type=int, default=None, metavar="N", help="use only N real cases (chosen with the seed)")
    b.add_argument("--n-synthetic", type=int, default=None, metavar="N",
                   help="use only N synthetic cases (chosen with the seed)")
    b.add_argument("--real-tumor-label", type=int, default=None, metavar="VALUE",
                   help="tumor value in the real cases' labels (default: from the dataset layout, else 2)")
    b.add_argument("--healthy-liver-label", type=int, default=None, metavar="VALUE",
                   help="liver value in the healthy masks (default: from the dataset layout, e.g. BTCV 6, "
                        "TotalSegmentator 5, else any non-zero)")
    b.add_argument("--crop-margin", type=float, default=None, metavar="MM",
                   help="crop every case to its liver plus MM millimetres (default: whole scan)")
    b.add_argument("--title", default="Liver CT reader study", help="title shown to readers")
    b.add_argument("--base-url", default=_base_url(DEFAULT_HOST, DEFAULT_PORT),
                   help="address used in the printed links (default: %(default)s)")
    b.add_argument("--overwrite", action="store_true",
                   help="replace an existing folder (never one that holds answers)")
    b.set_defaults(func=cmd_build)

    a = sub.add_parser("add-reader", help="add readers (or reissue a lost token) and print their links")
    a.add_argument("study", metavar="STUDY_DIR")
    a.add_argument("names", metavar="NAMES", help="comma-separated reader names ('owner' reissues the owner token)")
    a.add_argument("--reissue", action="store_true", help="replace the token of an existing reader")
    a.add_argument("--order", choices=("same", "shuffled"), default="same", help="case order of new readers")
    a.add_argument("--base-url", default=_base_url(DEFAULT_HOST, DEFAULT_PORT),
                   help="address used in the printed links (default: %(default)s)")
    a.set_defaults(func=cmd_add_reader)

    r = sub.add_parser("readers", help="list readers and their progress")
    r.add_argument("study", metavar="STUDY_DIR")
    r.set_defaults(func=cmd_readers)

    s = sub.add_parser("serve", help="run the reader web app (needs tumorsynth[reader])")
    s.add_argument("study", metavar="STUDY_DIR")
    s.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s, this machine only)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    s.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    s.set_defaults(func=cmd_serve)

    p = sub.add_parser("report", help="accuracy, sensitivity, specificity, kappa: Markdown, CSV, PNG")
    p.add_argument("study", metavar="STUDY_DIR")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files")
    p.add_argument("--no-chart", action="store_true", help="skip the PNG chart (no matplotlib needed)")
    p.set_defaults(func=cmd_report)

    e = sub.add_parser("export", help="plain NIfTI files plus a CSV answer sheet, for other viewers")
    e.add_argument("study", metavar="STUDY_DIR")
    e.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    e.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    e.set_defaults(func=cmd_export)

    i = sub.add_parser("import", help="load a filled-in answer sheet as one reader's answers")
    i.add_argument("study", metavar="STUDY_DIR")
    i.add_argument("sheet", metavar="SHEET_CSV")
    i.add_argument("--reader", required=True, help="reader name the answers belong to")
    i.add_argument("--replace", action="store_true", help="replace this reader's existing answers")
    i.set_defaults(func=cmd_import)
