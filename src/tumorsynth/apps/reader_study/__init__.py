"""Visual Turing Test: a blinded reader study of real versus synthetic liver tumors.

The workflow (see ``docs/reader_study.md``):

1. :func:`build_study` mixes real tumor cases and synthetic ones into a blinded study folder.
2. :func:`create_app` / :func:`serve` (needs ``tumorsynth[reader]``) runs the reader web app.
3. :func:`write_report` computes accuracy, sensitivity, specificity, kappa, with CIs.
4. :func:`export_study` / :func:`import_sheet` for readers who use their own viewer.

The web app needs FastAPI and uvicorn; building, exporting and reporting need only the core
(and matplotlib for the chart).
"""

from __future__ import annotations

from typing import Any

from tumorsynth.apps.reader_study.build import BuildResult, CaseInput, build_study, find_cases
from tumorsynth.apps.reader_study.export import export_study, import_sheet
from tumorsynth.apps.reader_study.report import (
    cohen_kappa,
    compute_report,
    wilson_interval,
    write_report,
)
from tumorsynth.apps.reader_study.store import add_reader, list_readers

__all__ = [
    "BuildResult",
    "CaseInput",
    "add_reader",
    "build_study",
    "cohen_kappa",
    "compute_report",
    "create_app",
    "export_study",
    "find_cases",
    "import_sheet",
    "list_readers",
    "serve",
    "wilson_interval",
    "write_report",
]


def create_app(study_dir: Any) -> Any:
    """The reader web app (FastAPI) of a study folder; see :mod:`.server`."""
    from tumorsynth.apps.reader_study.server import create_app as _create

    return _create(study_dir)


def serve(study_dir: Any, **kwargs: Any) -> None:
    """Run the reader web app with uvicorn; see :func:`.server.serve`."""
    from tumorsynth.apps.reader_study.server import serve as _serve

    _serve(study_dir, **kwargs)
