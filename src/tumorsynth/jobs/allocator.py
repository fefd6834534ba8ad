"""Keep freed memory for reuse: the generator's temporaries are allocated and freed on every call.

With glibc's defaults, arrays above 128 KiB are mapped from the kernel on allocation and handed
back on release, so each call pays a page fault for every 4 KiB of every temporary, which costs
more than the arithmetic on them (about 35 % of a call on the benchmark machine). Raising the
mmap and trim thresholds lets freed blocks be reused. The process then keeps at most the peak
of its temporaries (tens of MB) instead of handing it back at once.

This changes the allocator of the whole process, so a library never does it behind its
caller's back: the command line (``tumorsynth ...``) and the benchmarks call
:func:`tune_allocator` at start; a program that imports tumorsynth opts in by calling
``tumorsynth.tune_allocator()`` itself or by setting ``TUMORSYNTH_TUNE_ALLOCATOR=1`` before the
import. ``TUMORSYNTH_TUNE_ALLOCATOR=0`` leaves the allocator alone everywhere, the command line
included (``TUMORSYNTH_TUNE_MALLOC=0``, the 0.3 spelling, too); glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` settings are respected. Nothing happens
off glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["ENV_VAR", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "is_tuned", "tune_allocator", "tune_if_asked"]

ENV_VAR = "TUMORSYNTH_TUNE_ALLOCATOR"  # 1: tune at import; 0: never (not even the CLI)

MMAP_THRESHOLD = 64 << 20  # blocks below this come from the reusable heap
TRIM_THRESHOLD = 128 << 20  # free memory at the top of the heap kept for reuse
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

_state: dict[str, bool] = {}


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; return whether they are raised.

    Safe to call many times (only the first call acts). Returns False, changing nothing, when
    ``TUMORSYNTH_TUNE_ALLOCATOR=0``, when glibc's own thresholds are set in the environment, or
    off glibc.
    """
    if "done" in _state:
        return _state["done"]
    _state["done"] = False
    if _switched_off() or not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False  # the user chose
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _state["done"] = ok
    return ok


def _switched_off() -> bool:
    return os.environ.get(ENV_VAR) == "0" or os.environ.get("TUMORSYNTH_TUNE_MALLOC") == "0"


def is_tuned() -> bool:
    """Whether this process's allocator was tuned by :func:`tune_allocator`."""
    return _state.get("done", False)


def tune_if_asked() -> bool:
    """Tune the allocator when ``TUMORSYNTH_TUNE_ALLOCATOR=1`` (read at ``import tumorsynth``)."""
    return tune_allocator() if os.environ.get(ENV_VAR) == "1" else False
