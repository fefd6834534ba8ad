"""Exceptions of tumorsynth, and the exit codes of the command line.

Every error a user can cause (a bad file, a bad option, a liver with no room for the requested
tumors) is a :class:`TumorsynthError`. Its message is one line that names the file or the
parameter, the problem and the fix; the CLI prints it as ``error: <message>`` and exits with the
class's :attr:`~TumorsynthError.exit_code`, never with a traceback.

:data:`EXIT_CODES` is the one table of the command line's exit codes (the README's table is
checked against it): the codes of the error classes, and those of the outcomes that are not
an error class (success, an internal error, a usage error, a batch with failed cases, Ctrl-C).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_CASES_FAILED",
    "EXIT_CODES",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "InputError",
    "MissingDependencyError",
    "NoRoomError",
    "OptionError",
    "OutputError",
    "OutputExistsError",
    "TumorsynthError",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CASES_FAILED = 7
EXIT_INTERRUPTED = 130


class TumorsynthError(Exception):
    """Base class of every error tumorsynth raises on purpose.

    Each subclass sets its own ``exit_code`` and ``exit_meaning`` (a row of :data:`EXIT_CODES`).
    A bare ``TumorsynthError`` is not classified, so the CLI treats it as internal.
    """

    exit_code: ClassVar[int] = EXIT_INTERNAL
    exit_meaning: ClassVar[str] = ""


class InputError(TumorsynthError, ValueError):
    """An input file or array is unusable (missing, not NIfTI, wrong shape, not HU, ...)."""

    exit_code = 3
    exit_meaning = ("bad input: an input file or its data is unusable (missing, truncated, not NIfTI, "
                    "shapes or affines that differ, not HU, a bad record or case list)")


class NoRoomError(TumorsynthError):
    """The liver has no valid place for a requested tumor (too small, too thin, too many vessels)."""

    exit_code = 4
    exit_meaning = "no room: the liver has no valid place for the requested tumors (see --on-no-room)"


class OutputError(TumorsynthError):
    """An output cannot be written where asked (not writable, not a folder, would touch inputs)."""

    exit_code = 5
    exit_meaning = ("output: the output exists (pass --overwrite), holds the inputs, or cannot be "
                    "written (permissions, disk full, another operating-system error)")


class OutputExistsError(OutputError, FileExistsError):
    """The output folder or file exists and ``overwrite`` was not asked for."""


class OptionError(TumorsynthError, ValueError):
    """A parameter or command-line option has a bad value."""

    exit_code = 6
    exit_meaning = ("bad option value: an option or setting is unknown, out of range or conflicts "
                    "with another (the command line itself parsed)")


class MissingDependencyError(OptionError, ImportError):
    """An optional part of tumorsynth is needed but not installed (the message names the extra)."""

    exit_code = 8
    exit_meaning = ("missing dependency: the command needs an optional extra that is not installed; "
                    "the message says what to pip install")


#: The command line's exit codes: code -> meaning, in increasing order.
EXIT_CODES: dict[int, str] = dict(sorted({
    EXIT_OK: "success: everything asked for was done (batch cases busy in another job are no failure)",
    EXIT_INTERNAL: "internal error: a bug in tumorsynth (rerun with -v for the traceback and report it)",
    EXIT_USAGE: ("usage: the command line could not be parsed (unknown option, missing or malformed "
                 "argument, no command)"),
    **{cls.exit_code: cls.exit_meaning for cls in (InputError, NoRoomError, OutputError, OptionError,
                                                    MissingDependencyError)},
    EXIT_CASES_FAILED: ("cases failed: a batch finished but some cases failed (each printed as "
                        "`failed: NAME: ...` and listed in the summary); the others are done"),
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): nothing half-written is kept; rerun to resume a batch",
}.items()))
