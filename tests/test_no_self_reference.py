"""No test may pass because the thing under test agreed with itself.

Without ``--reference``, ``compat probe`` and ``compat convert`` take the first attempt that
loaded as the reference and judge that same attempt against it: it passes by construction.
A test that runs either and asserts a pass, a recommendation, a verified loader or a proof
must therefore hand it a reference: the producer's own (``producer_reference``) or one the
test computed with its own plain load (``plain_reference``). This reads the tests' source,
so the pattern cannot come back unnoticed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# A run of the probe or of convert, however the test starts it.
RUNS = re.compile(r'probe\.run\b|\.probe\(|"probe",|\["probe"|"convert",|\["convert"')
# An assertion that something worked, which a self-made reference would make true.
CLAIMS = re.compile(r'== "pass"|proof( on \w+)?: passed|\["verified"\]|use \w+|"recommended"\]\["strategy"\]')
# A reference the test chose: the option, the keyword, or the helpers that make one.
GIVEN = re.compile(r'"--reference"|\breference=|producer_reference\(|plain_reference\(')


def offenders(source: str, name: str) -> list[str]:
    functions = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)]
    bodies = {node.name: ast.get_source_segment(source, node) or "" for node in functions}
    # A module's own helper that runs the probe (Machine.probe, _probe...) counts as a run where
    # it is called; helpers calling helpers are followed until nothing new is found.
    runners: set[str] = set()
    while True:
        calls = re.compile("|".join([RUNS.pattern] + [rf"\b{re.escape(n)}\(" for n in sorted(runners)]))
        found = {n for n, body in bodies.items() if not n.startswith("test_") and calls.search(body.split("\n", 1)[-1])}
        if found <= runners:
            break
        runners |= found
    return [
        f"{name}::{n}"
        for n, body in bodies.items()
        if n.startswith("test_") and calls.search(body) and CLAIMS.search(body) and not GIVEN.search(body)
    ]


def test_every_probe_or_convert_that_asserts_a_pass_is_given_a_reference():
    found = []
    for path in sorted(TESTS.rglob("test_*.py")):
        found += offenders(path.read_text(), path.name)
    assert not found, (
        "these tests run probe or convert and assert a pass with no reference of their own "
        "(the first attempt that loads becomes the reference and passes against itself): " + ", ".join(found)
    )


def test_the_check_finds_the_pattern():
    # The shape the suite had: a probe with no reference, then its own reference attempt's verdict.
    bad = """
def test_x(tmp_path):
    assert cli.invoke(cli.probe.run, _args(path, loaders="tf215", json_out=str(out))) == 0
    assert verdicts["rebuild_weights"] == "pass"
"""
    good = bad.replace("json_out=str(out)", "json_out=str(out), reference=reference, input=batch")
    refused = bad.replace('== "pass"', '== "error"')
    assert offenders(bad, "t") == ["t::test_x"]
    assert offenders(good, "t") == [] and offenders(refused, "t") == []
    converted = """
def test_y(tmp_path):
    assert cli.main(["convert", str(model), "--to", "tf221", "-o", str(out)]) == 0
    assert "proof: passed" in capsys.readouterr().out
"""
    assert offenders(converted, "t") == ["t::test_y"]
    helper = """
def _run_probe(path):
    return cli.main(["probe", str(path), "--loaders", "tf215"])


def test_z(tmp_path):
    _run_probe(tmp_path / "m.h5")
    assert attempts["load_model"]["verdict"] == "pass"
"""
    assert offenders(helper, "t") == ["t::test_z"]
