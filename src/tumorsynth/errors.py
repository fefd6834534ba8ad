"""Exceptions of tumorsynth.

Every error a user can cause (a bad file, a bad option, a liver with no room for the requested
tumors) is a :class:`TumorsynthError`. Its message is one line that names the file or the
parameter, the problem and the fix; the CLI prints it as ``error: <message>`` and exits with a
non-zero status, never with a traceback.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "NoRoomError",
    "OptionError",
    "OutputError",
    "OutputExistsError",
    "TumorsynthError",
]


class TumorsynthError(Exception):
    """Base class of every error tumorsynth raises on purpose."""

    exit_code = 2


class InputError(TumorsynthError, ValueError):
    """An input file or array is unusable (missing, not NIfTI, wrong shape, not HU, ...)."""


class OptionError(TumorsynthError, ValueError):
    """A parameter or command-line option has a bad value."""


class NoRoomError(TumorsynthError):
    """The liver has no valid place for a requested tumor (too small, too thin, too many vessels)."""

    exit_code = 3


class OutputExistsError(TumorsynthError, FileExistsError):
    """The output folder or file exists and ``overwrite`` was not asked for."""


class OutputError(TumorsynthError):
    """An output cannot be written where asked (not writable, not a folder, would touch inputs)."""
