"""`tumorsynth predict --amp` reaches the inference function (one setting for train, val and inference)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from tumorsynth.cli import main


@pytest.mark.parametrize(("flag", "expected"), [([], None), (["--amp", "off"], "off"), (["--amp", "bf16"], "bf16")])
def test_predict_amp_flag_is_passed_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag, expected) -> None:
    import tumorsynth.apps.train.inference as inference

    seen: dict = {}

    def fake_predict(checkpoint, inputs, out_dir, **kw):
        seen.update(kw)
        return []

    monkeypatch.setattr(inference, "predict", fake_predict)
    assert main(["predict", "-m", str(tmp_path / "c.pt"), str(tmp_path / "ct.nii.gz"), "-o", str(tmp_path / "o"),
                 *flag]) == 0
    assert seen["amp"] == expected


def test_predict_refuses_an_unknown_amp_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "-m", "c.pt", "ct.nii.gz", "-o", str(tmp_path), "--amp", "fp8"]) == 2
    assert "invalid choice" in capsys.readouterr().err
