"""Seeded k-fold splits: reproducible, disjoint, covering; bad splits fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tumorsynth.apps.train import TrainConfig, check_split, load_splits, make_splits, save_splits
from tumorsynth.apps.train.engine import resolve_data
from tumorsynth.cli import main
from tumorsynth.errors import InputError, OptionError

NAMES = [f"volume-{i}" for i in range(23)]


def test_folds_are_disjoint_cover_everything_and_balanced() -> None:
    s = make_splits(NAMES, n_folds=5, seed=1)
    vals = [set(f["val"]) for f in s]
    assert sum(len(v) for v in vals) == len(NAMES)
    assert set().union(*vals) == set(NAMES)
    for i in range(5):
        for j in range(i + 1, 5):
            assert not vals[i] & vals[j]
        assert set(s[i]["train"]) == set(NAMES) - vals[i]
    assert {len(v) for v in vals} <= {4, 5}


def test_same_seed_same_split_other_seed_other_split() -> None:
    assert make_splits(NAMES, seed=3) == make_splits(list(reversed(NAMES)), seed=3)
    assert make_splits(NAMES, seed=3) != make_splits(NAMES, seed=4)


def test_save_load_roundtrip_nnunet_layout(tmp_path: Path) -> None:
    s = make_splits(NAMES, seed=0)
    p = save_splits(tmp_path / "splits.json", s)
    raw = json.loads(p.read_text())
    assert isinstance(raw, list) and set(raw[0]) == {"train", "val"}
    assert load_splits(p) == s


def test_unknown_case_and_overlap_are_clear_errors(tmp_path: Path) -> None:
    s = make_splits(NAMES, seed=0)
    s[2]["val"].append("volume-999")
    with pytest.raises(InputError, match=r"fold 2.*'volume-999'"):
        check_split(s[2], NAMES, source="splits.json", fold=2)
    bad = [{"train": ["a", "b"], "val": ["b"]}]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="both train and val"):
        load_splits(tmp_path / "bad.json")
    with pytest.raises(OptionError):
        make_splits(["a", "b"], n_folds=5)


def test_split_with_unknown_case_fails_before_training(datasets: dict, tmp_path: Path) -> None:
    s = make_splits([f"lits-{i}" for i in range(5)], seed=0)
    s[0]["train"].append("lits-77")
    save_splits(tmp_path / "s.json", s)
    cfg = TrainConfig(real=[str(datasets["lits"])], regime="real", splits=str(tmp_path / "s.json"))
    with pytest.raises(InputError, match="lits-77"):
        resolve_data(cfg)


def test_cli_splits_is_reproducible(datasets: dict, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["splits", str(datasets["lits"]), "-o", str(a), "--seed", "9"]) == 0
    assert main(["splits", str(datasets["lits"]), "-o", str(b), "--seed", "9"]) == 0
    assert a.read_text() == b.read_text()
    assert sorted(n for f in json.loads(a.read_text()) for n in f["val"]) == sorted(
        f"lits-{i}" for i in range(5))


@pytest.mark.parametrize("name", ["tumorsynth.apps.train.splits", "tumorsynth.apps.train.inference"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
