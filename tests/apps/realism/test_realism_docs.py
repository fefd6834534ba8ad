"""The examples in the realism modules' docstrings run and give what they show."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["geometry", "features", "compare"])
def test_docstring_examples(name):
    module = importlib.import_module(f"tumorsynth.apps.realism.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
