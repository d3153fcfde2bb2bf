"""The floors import one way only: api → kb → ingest → textmodel (docs/architecture.md).

Read from the source with `ast`, so a lazy import inside a function counts as much as one at the
top of a module: a cycle hidden in a function body is still a cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ["textmodel", "ingest", "kb", "api"]  # each may import only the floors before it
# The `kb` command is the top floor beside api/ (its `serve` starts the web app), kept in kb/ for
# the entry point's name; nothing imports it.
TOP = {ROOT / "kb" / "cli.py"}


def _imported_packages(path: Path) -> set[str]:
    return {module.split(".")[0] for module in _imported_modules(path)}


@pytest.mark.parametrize("floor", FLOORS)
def test_floor_imports_only_the_floors_below(floor):
    above = set(FLOORS[FLOORS.index(floor) + 1:])
    offenders = {
        f"{path.relative_to(ROOT)} imports {sorted(_imported_packages(path) & above)}"
        for path in (ROOT / floor).rglob("*.py")
        if path not in TOP and _imported_packages(path) & above
    }
    assert not offenders, sorted(offenders)


def test_nothing_imports_the_command_line():
    users = [p for floor in FLOORS for p in (ROOT / floor).rglob("*.py")
             if p not in TOP and any(m == "kb.cli" for m in _imported_modules(p))]
    assert not users


def _imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_the_check_sees_a_lazy_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from kb.store import Store\n    return Store\n")
    assert "kb" in _imported_packages(probe)
