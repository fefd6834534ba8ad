"""Fixtures: one phantom host and each figure built once per test session; matplotlib or skip."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tumorsynth.apps.figures import FigureResult, Host, make_figure, phantom_host


@pytest.fixture(scope="session")
def mpl():
    """matplotlib, or skip: building panels needs numpy only, saving needs matplotlib."""
    return pytest.importorskip("matplotlib")


@pytest.fixture(scope="session")
def host() -> Host:
    return phantom_host()


@pytest.fixture(scope="session")
def figure(host: Host) -> Callable[[str], FigureResult]:
    """``figure(name)``: the figure on the phantom with seed 0 (built once, then cached)."""
    cache: dict[str, FigureResult] = {}

    def get(name: str) -> FigureResult:
        if name not in cache:
            cache[name] = make_figure(name, host, seed=0)
        return cache[name]

    return get
