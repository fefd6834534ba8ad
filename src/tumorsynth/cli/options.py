"""Option syntax shared by every command: ``--set KEY=VALUE``, ``-j/--jobs``, deprecated spellings.

One grammar for a value, wherever a command reads ``KEY=VALUE`` (:func:`parse_value`):

- ``true`` / ``false`` (also ``yes``/``no``, ``on``/``off``): a switch;
- ``null`` or ``default``: no value, i.e. the command's default;
- a number (``3``, ``-0.5``, ``2e-4``): an int when written as one, else a float;
- numbers separated by commas (``lo,hi``, ``64,64,64``): a tuple of numbers; for a generator
  knob a pair is a range drawn uniformly;
- ``[...]``, ``{...}`` or ``"..."``: JSON (lists, tables, a quoted string);
- anything else: the text as it is.

What a key means stays the command's: generator knobs for ``synth``, ``batch``, ``demo`` and
``nnunet export``, training settings for ``train`` and ``experiment``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from tumorsynth.errors import OptionError

__all__ = [
    "add_deprecated_alias",
    "add_jobs_option",
    "check_jobs",
    "number_or_range",
    "parse_set",
    "parse_value",
    "warn_deprecated",
]

_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")
_NONE = ("null", "default")
_INT = re.compile(r"[+-]?\d+")


def _number(text: str) -> int | float:
    """``text`` as an int when it is written as one, else as a float (ValueError if neither)."""
    t = text.strip()
    return int(t) if _INT.fullmatch(t) else float(t)


def _numbers(text: str) -> tuple[int | float, ...] | None:
    """The numbers of ``a,b,...`` (``a:b`` too), or None when a part is not a number."""
    parts = [p for p in text.replace(":", ",").split(",") if p.strip()]
    try:
        return tuple(_number(p) for p in parts) if parts else None
    except ValueError:
        return None


def parse_value(text: str, *, where: str = "--set") -> Any:
    """A command-line value in the grammar of this module (see its docstring).

    >>> parse_value("3"), parse_value("0.5"), parse_value("-60,-20"), parse_value("off")
    (3, 0.5, (-60, -20), False)
    >>> parse_value("[64, 64, 64]"), parse_value("default"), parse_value("disk")
    ([64, 64, 64], None, 'disk')
    """
    v = text.strip()
    low = v.lower()
    if low in _TRUE or low in _FALSE:
        return low in _TRUE
    if low in _NONE:
        return None
    if v[:1] in ("[", "{", '"'):
        try:
            return json.loads(v)
        except json.JSONDecodeError as exc:
            raise OptionError(f"{where}: {v!r} is not valid JSON ({exc.msg}); write a list as "
                              "[1, 2] or 1,2 and a table as {\"key\": 1}") from None
    nums = _numbers(v)
    if nums is None:
        return v
    return nums[0] if len(nums) == 1 else nums


def parse_set(items: Iterable[str] | None, *, example: str = "radius_mm=12") -> dict[str, Any]:
    """``--set KEY=VALUE`` items (repeatable) as a mapping; keys with ``-`` read as ``_``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise OptionError(f"--set {item!r}: use KEY=VALUE, e.g. --set {example}")
        out[key] = parse_value(value, where=f"--set {item}")
    return out


def number_or_range(text: str) -> float | tuple[float, float]:
    """An argparse type: a number, or a ``lo,hi`` range (the grammar of :func:`parse_value`)."""
    nums = _numbers(text)
    if nums is None or len(nums) > 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number or a range lo,hi")
    vals = tuple(float(n) for n in nums)
    return vals[0] if len(vals) == 1 else (vals[0], vals[1])


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr: ``old`` still works, ``new`` is the spelling to use."""
    print(f"tumorsynth: warning: {old} is deprecated; use {new}", file=sys.stderr)


class _DeprecatedAlias(argparse.Action):
    """An old option spelling: stores into the new option's destination, with a warning."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        warn_deprecated(option_string or self.option_strings[0], self.new)
        setattr(namespace, self.dest, values)


def add_deprecated_alias(p: Any, old: str, *, dest: str, new: str, type: Any = None,
                         metavar: str | None = None) -> None:
    """Accept ``old`` as a hidden spelling of the option ``new`` (destination ``dest``)."""
    p.add_argument(old, dest=dest, action=_DeprecatedAlias, new=new, type=type, metavar=metavar,
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_jobs_option(p: Any, what: str) -> None:
    """``-j/--jobs N``: the number of processes (``what`` says what runs in them)."""
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help=f"{what} in N parallel processes (default 1)")
    add_deprecated_alias(p, "--workers", dest="jobs", new="-j/--jobs", type=int, metavar="N")


def check_jobs(jobs: int) -> int:
    """The ``-j/--jobs`` value, refused with an :class:`OptionError` below 1."""
    if jobs < 1:
        raise OptionError(f"-j/--jobs {jobs}: give 1 or more processes")
    return jobs
