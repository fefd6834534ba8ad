"""The package tree reads as the architecture: layers import only downwards, no import cycles, no
module over 400 lines, the generator's steps numbered in pipeline order, the old paths aliased."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tumorsynth as ts
from tumorsynth import _aliases

SRC = Path(ts.__file__).resolve().parent
ROOT = SRC.parents[1]

#: Layers from the bottom up; a module may import its own layer and the ones below it.
LAYERS = ["errors", "generator", "io", "jobs", "integrations", "apps", "cli"]
#: Deliberate upward imports, each inside a function (lazy): the nnU-Net export writes the
#: study's own 5-fold splits and reads datasets the way training does.
ALLOWED_UPWARD = {("tumorsynth.integrations.nnunet.export", "tumorsynth.apps.train")}


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = ("tumorsynth", *path.relative_to(SRC).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported tumorsynth module, at module level?) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    for node in tree.body:  # imports guarded by try/except at module level are module level too
        if isinstance(node, ast.Try):
            top |= {id(n) for n in node.body}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tumorsynth"):
            subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES]
            names = subs or [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("tumorsynth")]
        found += [(n, id(node) in top) for n in names]
    return found


def _layer(module: str) -> str | None:
    part = module.split(".")[1] if "." in module else ""
    return part if part in LAYERS else None


def test_every_module_is_in_a_layer() -> None:
    stray = [m for m in MODULES if _layer(m) is None
             and m not in {"tumorsynth", "tumorsynth.__main__", "tumorsynth._aliases", "tumorsynth._version"}]
    assert stray == [], f"modules outside generator/ io/ jobs/ integrations/ apps/ cli/: {stray}"


def test_layers_import_only_downwards() -> None:
    bad = []
    for module, path in MODULES.items():
        here = _layer(module)
        if here is None:
            continue
        for target, top_level in _imports(path):
            there = _layer(target)
            if target == "tumorsynth":  # the public API: from the CLI, or lazily from the adapters and apps
                if here != "cli" and (top_level or LAYERS.index(here) < LAYERS.index("integrations")):
                    bad.append(f"{module} imports the package root")
                continue
            if there is None or LAYERS.index(there) <= LAYERS.index(here):
                continue
            if not top_level and any(module == a and target.startswith(b) for a, b in ALLOWED_UPWARD):
                continue
            bad.append(f"{module} ({here}) imports {target} ({there})")
    assert bad == []


def test_generator_is_pure_numpy_scipy() -> None:
    heavy = re.compile(r"^\s*(import|from)\s+(torch|monai|nibabel|matplotlib|PIL)\b", re.M)
    users = [m for m, p in MODULES.items() if m.startswith("tumorsynth.generator") and heavy.search(p.read_text())]
    assert users == []


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _ in _imports(path):
            # A module importing its own package (or itself) is how Python imports work, not a cycle.
            if target in MODULES and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert cycles == []


def test_no_module_over_400_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_generator_steps_are_numbered_in_pipeline_order_and_documented() -> None:
    gen = SRC / "generator"
    steps = sorted(p.stem for p in gen.glob("step*.py"))
    numbers = [int(re.match(r"step(\d)_", s).group(1)) for s in steps]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, max(numbers) + 1))
    # The pipeline runs in that order: prepare, sampling (location), plan/shape, texture,
    # post-processing, synthesis.
    order = ["prepare", "sampling", "plan", "texture", "postprocess", "synthesize"]
    position = {s.split("_", 1)[1]: int(s[4]) for s in steps}
    assert [position[o] for o in order] == sorted(position[o] for o in order)
    # generator/__init__ tells a newcomer what each module is: every module there is listed.
    doc = importlib.import_module("tumorsynth.generator").__doc__ or ""
    listed = set(re.findall(r"``(\w+)``", doc))
    present = {p.stem for p in gen.glob("*.py")} - {"__init__"}
    assert present <= listed, f"modules not described in generator/__init__: {present - listed}"
    assert (gen / "kernels").is_dir() and "kernels/" in doc


@pytest.mark.parametrize("old", sorted(_aliases.ALIASES))
def test_old_import_path_is_the_new_module(old: str) -> None:
    new = importlib.import_module(_aliases.ALIASES[old])
    assert importlib.import_module(old) is new
    assert new.__spec__ is not None and new.__spec__.name == _aliases.ALIASES[old]


def test_old_paths_in_a_fresh_interpreter() -> None:
    """Documented 0.3 imports work in a fresh process, and the public functions stay functions."""
    code = (
        "from tumorsynth.synthesize import apply_tumors\n"
        "from tumorsynth.prepare import Prepared\n"
        "import tumorsynth.train.config as c, tumorsynth.apps.train.config as c2\n"
        "from tumorsynth.monai import RandTumord\n"
        "from tumorsynth.batch import run_batch\n"
        "from tumorsynth.cases import discover_cases\n"
        "import tumorsynth as ts, pickle\n"
        "assert callable(ts.synthesize) and callable(ts.prepare), 'public functions shadowed'\n"
        "assert c is c2 and ts.plan is __import__('tumorsynth.generator.step3_plan').generator.step3_plan\n"
        "assert pickle.loads(pickle.dumps(Prepared)) is Prepared\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_unknown_attribute_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = ts.nonexistent  # type: ignore[attr-defined]
    assert _aliases.resolve("tumorsynth.train.config") == "tumorsynth.apps.train.config"
    assert _aliases.resolve("tumorsynth.generator") is None


def test_version_is_said_once_and_matches_the_package_metadata() -> None:
    from importlib.metadata import version

    import tomllib

    from tumorsynth._version import __version__

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__
    assert version("tumorsynth") == __version__ == ts.__version__
    hits = [p for p in SRC.rglob("*.py") if re.search(r"__version__ = ", p.read_text()) and p.name != "_version.py"]
    assert hits == []
