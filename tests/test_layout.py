"""The tree's layout: one package per stage, imports that flow one way, no import cycles.

The layers and the stages' independence are import-linter contracts in ``pyproject.toml`` (run by
``make lint``); this test adds what import-linter does not check: no module imports itself back through
a chain of imports (function-level imports included), and every stage package names its public face.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("pipelines.generate", "pipelines.stream", "pipelines.batch", "pipelines.ingest", "pipelines.infra")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every elementary cycle's smallest representative found by a depth-first walk (empty: acyclic)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph.modules):
        if module not in state:
            walk(module)
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("app", "pipelines", include_external_packages=False)
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert import_cycles(graph) == [["p.a", "p.b", "p.c", "p.a"]]


def test_layer_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("package", STAGES)
def test_every_stage_package_says_what_it_takes_gives_and_exposes(package: str) -> None:
    doc = importlib.import_module(package).__doc__ or ""
    assert len(doc.splitlines()) >= 3
    assert "Public face" in doc or package == "pipelines.infra"
