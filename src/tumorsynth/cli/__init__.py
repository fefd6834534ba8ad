"""The ``tumorsynth`` command line: a thin shell over the documented Python API.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``;
heavy imports happen inside the command functions so that ``--help`` stays fast.
Errors the user can fix (:class:`tumorsynth.errors.TumorsynthError`) are printed as one line,
``error: ...``, with the exit code of their class and no traceback; the table of exit codes is
:data:`tumorsynth.errors.EXIT_CODES` (and the README's "Exit codes").
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from tumorsynth._version import __version__
from tumorsynth.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OutputError,
    TumorsynthError,
)

# Modules that contribute subcommands; each defines ``register(subparsers)``.
# Modules of optional apps are skipped when they are absent from an installation.
COMMAND_MODULES = (
    "tumorsynth.cli.generate",
    "tumorsynth.cli.train",
    "tumorsynth.cli.nnunet",
    "tumorsynth.cli.evaluate",
    "tumorsynth.cli.study",
    "tumorsynth.cli.figures",
    "tumorsynth.cli.realism",
)

DESCRIPTION = """\
tumorsynth pastes realistic synthetic liver tumors into healthy CT scans
(label-free liver tumor segmentation, Hu et al., CVPR 2023).

Start with `tumorsynth demo` (no input needed), then `tumorsynth synth CT LIVER -o OUT`
on your own scan. `tumorsynth COMMAND --help` explains each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tumorsynth",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tumorsynth {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an optional app that is not part of this install
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success, see ``EXIT_CODES``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    from tumorsynth.jobs.allocator import tune_allocator

    tune_allocator()  # the CLI keeps glibc's freed blocks for reuse (the library leaves it to the caller)
    level = logging.WARNING - 10 * min(int(args.verbose), 2)
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    logging.getLogger("nibabel").propagate = False  # nibabel prints its own warnings once
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except TumorsynthError as exc:
        hint = "" if exc.exit_code != EXIT_INTERNAL else "; please report it with the command line"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-written was kept (a batch resumes where it stopped)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # disk full, permissions, ... on a path we did not foresee
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"error: {where}{exc.strerror or exc}; check the path and free space", file=sys.stderr)
        return OutputError.exit_code
    except Exception as exc:  # a bug: one line, the traceback only with -v
        if args.verbose:
            raise
        print(f"error: internal error ({type(exc).__name__}: {str(exc)[:200]}); rerun with -v and "
              "report it with the command line", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
