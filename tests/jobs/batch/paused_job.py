"""A batch job that stops in the middle of one case (for the sharing and SIGKILL tests).

Usage: python paused_job.py DATA OUT CASE MARKER GO [JOB]

Runs ``run_batch(DATA, OUT)`` in this process. Right after the first file of CASE is written in
its temporary folder, it creates MARKER and waits until GO exists (the test kills it meanwhile
or creates GO to let it go on).
"""

import sys
import time
from pathlib import Path

import tumorsynth.jobs.pipeline as pipeline
from tumorsynth.jobs.batch import run_batch

data, out, case, marker, go = sys.argv[1:6]
job = sys.argv[6] if len(sys.argv) > 6 else None
real_save = pipeline.save_nifti


def save_then_wait(path, *args, **kwargs):
    result = real_save(path, *args, **kwargs)
    if Path(path).parent.name.startswith(f".{case}.partial-") and not Path(marker).exists():
        Path(marker).write_text("paused")
        for _ in range(1200):  # 120 s at most, then go on
            if Path(go).exists():
                break
            time.sleep(0.1)
    return result


pipeline.save_nifti = save_then_wait
run_batch(data, out, preset="small", seed=3, job_name=job)
