"""The CSV logs of a run (``train_log.csv``, ``val_log.csv``) and its ``curves.png``."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

__all__ = ["plot_curves"]

log = logging.getLogger(__name__)


class _Table:
    """A CSV log kept in memory and rewritten atomically (trimmed to the resume step)."""

    def __init__(self, path: Path, fields: list[str], *, keep_until_step: int | None) -> None:
        self.path = path
        self.fields = fields
        self.rows: list[dict[str, Any]] = []
        if keep_until_step is not None and path.is_file():
            with path.open(newline="") as fh:
                for row in csv.DictReader(fh):
                    if int(float(row.get("step", 0) or 0)) <= keep_until_step:
                        self.rows.append(row)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def write(self) -> None:
        from tumorsynth.io import write_text_atomic

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        w.writeheader()
        for r in self.rows:
            w.writerow(r)
        write_text_atomic(self.path, buf.getvalue())


def plot_curves(train_rows: list[dict[str, Any]], val_rows: list[dict[str, Any]], path: Path) -> None:
    """Loss (raw and smoothed) and validation Dice against the step, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:  # pragma: no cover
        log.warning("matplotlib is missing: no curves.png (pip install 'tumorsynth[train]')")
        return
    from tumorsynth.io import write_bytes_atomic

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = [float(r["step"]) for r in train_rows]
    loss = [float(r["loss"]) for r in train_rows]
    ax = axes[0]
    if steps:
        ax.plot(steps, loss, lw=0.6, alpha=0.4, label="loss")
        k = max(1, len(loss) // 50)
        smooth = [sum(loss[max(0, i - k + 1): i + 1]) / len(loss[max(0, i - k + 1): i + 1]) for i in range(len(loss))]
        ax.plot(steps, smooth, lw=1.5, label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("Dice + CE loss")
    if steps:
        ax.legend(loc="upper right")
    ax = axes[1]
    vs = [float(r["step"]) for r in val_rows]
    for key, lab in (("tumor_dice", "tumor DSC"), ("liver_dice", "liver DSC")):
        ys = [float(r[key]) if r.get(key) not in ("", None, "nan") else float("nan") for r in val_rows]
        if vs:
            ax.plot(vs, ys, marker="o", label=lab)
    ax.set_xlabel("step")
    ax.set_ylabel("validation Dice")
    ax.set_ylim(0, 1)
    if vs:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no validation cases", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
