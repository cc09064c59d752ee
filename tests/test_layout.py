"""The house's shape, checked: few modules at the top, short functions, no import cycles.

The layer rules themselves (which package may import which) are import-linter contracts in
pyproject.toml, checked by ``lint-imports`` in .ci/run and by the last test here.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOST = [p for p in (ROOT / "compat").rglob("*.py") if "inside" not in p.relative_to(ROOT).parts]


def test_at_most_twelve_modules_stand_at_the_top():
    top = sorted(p.name for p in (ROOT / "compat").glob("*.py"))
    assert len(top) <= 12, top


def test_no_host_function_is_over_a_hundred_lines():
    long = [
        f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for p in HOST
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100
    ]
    assert not long, long


def test_no_import_cycle_between_host_modules():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the test extra)")
    graph = grimp.build_graph("compat")
    modules = sorted(m for m in graph.modules if not m.startswith("compat.inside"))
    cycles = []
    for module in modules:
        for other in graph.find_modules_directly_imported_by(module):
            if not other.startswith("compat.inside") and graph.chain_exists(importer=other, imported=module):
                cycles.append(f"{module} -> {other} -> ... -> {module}")
    assert not cycles, cycles


def test_the_layer_contracts_hold():
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.skip("lint-imports is not installed (pip install -e '.[test]')")
    done = subprocess.run([lint], cwd=str(ROOT), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout
