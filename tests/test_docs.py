"""The examples in the core modules' docstrings run and give what they show."""

import doctest
import importlib

import pytest

CORE = ["interp", "io", "params", "phantom", "prepare", "preview", "sampling", "synthesize", "texture", "noise", "grids",
        "cases", "presets"]


@pytest.mark.parametrize("name", CORE)
def test_docstring_examples(name):
    module = importlib.import_module(f"tumorsynth.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_readme_mentions_every_cli_command():
    from pathlib import Path

    from tumorsynth.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        assert f"tumorsynth {name}" in readme or f"`{name}`" in readme, name
