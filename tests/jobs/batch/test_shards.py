"""Shards: a deterministic split by case name whose union is the dataset, with the results of one job."""

from __future__ import annotations

import json

import pytest
from batch_cases import CASES, assert_same_cases

from tumorsynth.cli import main
from tumorsynth.errors import OptionError
from tumorsynth.jobs.batch import parse_shard, shard_of


def test_shards_cover_the_dataset_once_and_equal_one_job(dataset, reference, tmp_path, capsys):
    out = tmp_path / "out"
    done: list[str] = []
    for k in range(3):
        assert main(["batch", str(dataset), "-o", str(out), "--preset", "small", "--seed", "3",
                     "--no-preview", "--shard", f"{k}/3", "--job-name", f"s{k}"]) == 0
        job = json.loads((out / f"batch_summary.s{k}.json").read_text())
        assert job["shard"] == f"{k}/3"
        assert all(shard_of(n, 3) == k for n in job["cases"])
        done += job["done"]
    assert sorted(done) == CASES  # each case in exactly one shard
    assert_same_cases(out, reference)
    merged = json.loads((out / "batch_summary.json").read_text())
    assert merged["finished"] == merged["total"] == len(CASES) and set(merged["jobs"]) == {"s0", "s1", "s2"}


def test_one_based_shard_ids_are_the_same_partition():
    names = [f"n{i}" for i in range(40)]
    zero = {k: [n for n in names if shard_of(n, 4) == parse_shard(f"{k}/4")[0]] for k in range(4)}
    one = {k: [n for n in names if shard_of(n, 4) == parse_shard(f"{k}/4")[0]] for k in range(1, 5)}
    assert sorted(map(tuple, zero.values())) == sorted(map(tuple, one.values()))
    assert sum(len(v) for v in one.values()) == len(names)
    assert all(v for v in zero.values())  # 40 names: no empty shard
    assert parse_shard("4/4") == parse_shard("0/4") == (0, 4)


@pytest.mark.parametrize("text", ["5/4", "1/0", "a/b", "3", "-1/4", "1/2/3"])
def test_bad_shards_are_refused(text, dataset, tmp_path, capsys):
    with pytest.raises(OptionError):
        parse_shard(text)
    code = main(["batch", str(dataset), "-o", str(tmp_path / "o"), f"--shard={text}"])
    err = capsys.readouterr().err.strip()
    assert code == OptionError.exit_code and err.startswith("error: --shard") and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
