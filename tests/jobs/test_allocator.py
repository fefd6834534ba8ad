"""The allocator tuning is the CLI's and the benchmarks', and a library user's only on request."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

SYNTH = """
import tumorsynth as ts
from tumorsynth.jobs import allocator
ph = ts.make_phantom(shape=(48, 48, 32), spacing_mm=(4.0, 4.0, 4.0), rng=1)
p = ts.sample_params(ts.prepare(ph.ct, ph.liver, ph.spacing_mm), "small", rng=0, on_no_room="skip")
ts.synthesize(ph.ct, ph.liver, p)
ts.Synthesizer(ph.ct, ph.liver)(p)
print(allocator.is_tuned())
"""


def _run(code: str, **env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("TUMORSYNTH_TUNE_ALLOCATOR", "TUMORSYNTH_TUNE_MALLOC",
                         "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    res = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True,
                         text=True, check=True)
    return res.stdout.split()


def test_the_library_leaves_the_allocator_alone_unless_asked() -> None:
    assert _run(SYNTH) == ["False"]  # synthesize and Synthesizer do not touch it
    assert _run(SYNTH, TUMORSYNTH_TUNE_ALLOCATOR="1") == [str(GLIBC)]  # the opt-in at import
    explicit = "import tumorsynth as ts; from tumorsynth.jobs import allocator; " \
               "print(ts.tune_allocator(), ts.tune_allocator(), allocator.is_tuned())"
    assert _run(explicit) == [str(GLIBC)] * 3


def test_the_cli_tunes_it_and_the_switch_turns_it_off_everywhere() -> None:
    cli = ("from tumorsynth.cli import main; from tumorsynth.jobs import allocator; "
           "main(['presets']); print(allocator.is_tuned())")
    assert _run(cli)[-1] == str(GLIBC)
    assert _run(cli, TUMORSYNTH_TUNE_ALLOCATOR="0")[-1] == "False"
    assert _run(cli, TUMORSYNTH_TUNE_MALLOC="0")[-1] == "False"  # the 0.3 spelling
    assert _run(SYNTH, TUMORSYNTH_TUNE_ALLOCATOR="0") == ["False"]
    assert _run(cli, MALLOC_MMAP_THRESHOLD_="1000000")[-1] == "False"  # glibc's own setting wins

