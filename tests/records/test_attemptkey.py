"""Content keys: which edits make which attempts stale, how keys are stored and merged.

Pure logic on copies of the project's own source files and small canned documents; the
runs that prove it end to end are in tests/harness/test_incremental.py.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from compat import catalog
from compat.publish import report
from compat.records import attemptkey, codedigest, matrixdoc, results
from compat.records.attempt import AttemptRequest

ROOT = Path(__file__).resolve().parents[2]


def copy_code(target: Path) -> Path:
    """The files a code digest reads, and the rest of compat/inside, under ``target``."""
    (target / "compat" / "records").mkdir(parents=True)
    shutil.copytree(
        ROOT / "compat" / "inside", target / "compat" / "inside", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT.joinpath(*codedigest.CHECK), target.joinpath(*codedigest.CHECK))
    return target


def strategy_class(source: str, strategy: str) -> ast.ClassDef:
    """The class of ``strategies.py`` whose own ``name = "..."`` is ``strategy``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and isinstance(statement.value, ast.Constant)
                    and statement.value.value == strategy
                    and any(getattr(t, "id", None) == "name" for t in statement.targets)
                ):
                    return node
    raise AssertionError(f"no class named {strategy} in strategies.py")


def edit_strategy(project: Path, strategy: str) -> None:
    """Add a statement to one strategy's class body, as a real edit of that strategy would."""
    path = project / "compat" / "inside" / "strategies.py"
    source = path.read_text()
    node = strategy_class(source, strategy)
    lines = source.splitlines(keepends=True)
    indent = " " * node.body[0].col_offset
    lines.insert(node.body[0].lineno - 1, f"{indent}edited_here = True\n")
    path.write_text("".join(lines))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_code(tmp_path / "project")


def _changed(before: codedigest.CodeDigests, after: codedigest.CodeDigests) -> set[str]:
    return {name for name in before.by_strategy if before.by_strategy[name] != after.by_strategy[name]}


def _subclasses(strategy: str) -> set[str]:
    """Strategies whose class derives from ``strategy``'s class (they inherit its code)."""
    from compat.inside import strategies

    base = type(strategies.BY_NAME[strategy])
    return {s.name for s in strategies.STRATEGIES if isinstance(s, base)}


def test_every_registered_strategy_has_its_own_code_digest(project):
    digests = codedigest.code_digests(project)
    from compat.inside import strategies

    assert list(digests.by_strategy) == [s.name for s in strategies.STRATEGIES]
    assert len(set(digests.by_strategy.values())) == len(digests.by_strategy)
    assert "compat/inside/worker.py" in digests.files and "compat/records/verdicts.py" in digests.files
    assert codedigest.code_digests(project) == digests


@pytest.mark.parametrize("strategy", ["h5_transplant", "json_plain", "rebuild_weights", "load_model"])
def test_editing_one_strategy_changes_its_digest_and_its_subclasses_only(project, strategy):
    before = codedigest.code_digests(project)
    edit_strategy(project, strategy)
    after = codedigest.code_digests(project)
    assert _changed(before, after) == _subclasses(strategy)
    assert strategy in _changed(before, after)
    assert after.shared == before.shared


@pytest.mark.parametrize(
    "edit",
    [
        ("worker.py", "\nWORKER_CHANGED = 1\n"),
        ("kerasapi.py", "\nCHANGED = 1\n"),
        ("facenet.py", "\nCHANGED = 1\n"),
        ("strategies.py", "\ndef _a_shared_helper():\n    return 1\n"),
        ("../records/verdicts.py", "\nCHANGED = 1\n"),
    ],
)
def test_editing_what_every_strategy_shares_changes_every_digest(project, edit):
    name, text = edit
    before = codedigest.code_digests(project)
    _append(project / "compat" / "inside" / name, text)
    after = codedigest.code_digests(project)
    assert _changed(before, after) == set(before.by_strategy)


def _digested_sources(project: Path) -> list[Path]:
    return [project / name for name in codedigest.code_digests(project).files]


def _commented(text: str) -> str:
    """``text`` with a comment ending every logical line and one above every definition."""
    lines = text.splitlines(keepends=True)
    ends = [
        token.start
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type == tokenize.NEWLINE and token.string
    ]
    for row, col in reversed(ends):
        lines[row - 1] = lines[row - 1][:col] + "  # a note from a tidy-up" + lines[row - 1][col:]
    return "".join(
        line
        if not line.lstrip().startswith(("def ", "class "))
        else line[: len(line) - len(line.lstrip())] + "# what it is for\n" + line
        for line in lines
    )


def test_comments_change_no_digest(project):
    """A tidy-up that only comments the code keeps every key."""
    before = codedigest.code_digests(project)
    for path in _digested_sources(project):
        path.write_text("# a header\n" + _commented(path.read_text()) + "\n# the end\n")
    assert codedigest.code_digests(project) == before


def test_docstrings_added_and_removed_change_no_digest(project):
    before = codedigest.code_digests(project)
    for path in _digested_sources(project):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                if ast.get_docstring(node) is not None:
                    node.body = node.body[1:] or [ast.Pass()]
                else:
                    node.body.insert(0, ast.Expr(ast.Constant("Documented in a tidy-up.")))
        path.write_text(ast.unparse(ast.fix_missing_locations(tree)))
    assert codedigest.code_digests(project) == before


def test_reformatting_changes_no_digest(project):
    """Line breaks, quotes, parentheses and trailing commas: two formatters' whole output."""
    before = codedigest.code_digests(project)
    for path in _digested_sources(project):
        path.write_text(ast.unparse(ast.parse(path.read_text())))  # its own layout and quotes
    assert codedigest.code_digests(project) == before
    files = [str(path) for path in _digested_sources(project)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--isolated",
            "--line-length",
            "60",
            "--config",
            "format.quote-style='single'",
            *files,
        ],
        check=True,
        capture_output=True,
    )
    assert codedigest.code_digests(project) == before


@pytest.mark.parametrize(
    "edit",
    [
        ("MODEL_FORMATS = (", "MODEL_FORMATS = ('hdf5', "),
        ('"model = keras.models.load_model(MODEL_PATH)"', '"model = keras.models.load_model(MODEL_PATH) "'),
        ("return None", "return"),
    ],
)
def test_a_changed_constant_or_string_changes_the_digests(project, edit):
    path = project / "compat" / "inside" / "strategies.py"
    before = codedigest.code_digests(project)
    old, new = edit
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    assert codedigest.code_digests(project) != before


@pytest.mark.parametrize("name", ["savers.py", "generate.py", "mutations.py", "bare.py"])
def test_code_the_worker_never_imports_changes_nothing(project, name):
    before = codedigest.code_digests(project)
    _append(project / "compat" / "inside" / name, "\nCHANGED = 1\n")
    assert codedigest.code_digests(project) == before


def test_reordering_the_registry_changes_nothing(project):
    path = project / "compat" / "inside" / "strategies.py"
    source = path.read_text()
    tree = ast.parse(source)
    (registry,) = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "STRATEGIES" for t in n.targets)
    ]
    calls = [ast.get_source_segment(source, e) for e in registry.value.elts]
    lines = source.splitlines(keepends=True)
    new = "STRATEGIES = (\n    " + ", ".join(reversed(calls)) + ",\n)\n"
    path.write_text("".join(lines[: registry.lineno - 1]) + new + "".join(lines[registry.end_lineno :]))
    before = codedigest.code_digests(ROOT)
    after = codedigest.code_digests(project)
    assert after.by_strategy == before.by_strategy
    assert list(after.by_strategy) == list(reversed(list(before.by_strategy)))


def test_moving_the_digested_files_unchanged_keeps_every_key(project, tmp_path, monkeypatch):
    """Keys follow the text, not the path: the house can be rearranged without re-measuring."""
    before = codedigest.code_digests(project)
    moved = tmp_path / "elsewhere"
    shutil.copytree(project / "compat" / "inside", moved / "src" / "worker_side")
    (moved / "rules").mkdir()
    shutil.copy(project.joinpath(*codedigest.CHECK), moved / "rules" / "numeric_check.py")
    monkeypatch.setattr(codedigest, "INSIDE", ("src", "worker_side"))
    monkeypatch.setattr(codedigest, "CHECK", ("rules", "numeric_check.py"))
    after = codedigest.code_digests(moved)
    assert after.by_strategy == before.by_strategy and after.shared == before.shared
    assert after.files != before.files


def test_the_published_matrix_is_keyed_by_the_current_code():
    """Every code digest in reports/matrix.json is today's: a fresh clone has nothing to re-run."""
    document = json.loads((ROOT / "reports" / "matrix.json").read_text())
    current = codedigest.code_digests(ROOT).by_strategy
    for table in document["keys"]["codes"]:
        assert table == {name: current[name] for name in table}


def test_a_registry_that_cannot_be_read_is_a_harness_failure(project):
    path = project / "compat" / "inside" / "strategies.py"
    path.write_text(path.read_text().replace("STRATEGIES = (", "REGISTRY_ELSEWHERE = (", 1))
    with pytest.raises(codedigest.HarnessFailure, match="no STRATEGIES"):
        codedigest.code_digests(project)


# -- the other digests ------------------------------------------------------------------
def test_lock_digest_follows_the_environment():
    env = catalog.get("tf215")
    assert attemptkey.lock_digest(env) == attemptkey.lock_digest(env)
    assert len({attemptkey.lock_digest(e) for e in catalog.ENVIRONMENTS}) == len(catalog.ENVIRONMENTS)
    import dataclasses

    assert attemptkey.lock_digest(
        dataclasses.replace(env, env_vars=(("TF_USE_LEGACY_KERAS", "1"),))
    ) != attemptkey.lock_digest(env)


def test_fixture_and_reference_digests_follow_their_content(tmp_path):
    fixture = {"id": "lambda-h5", "files": [{"path": "lambda.h5", "sha256": "a" * 64}], "size": "tiny"}
    assert attemptkey.fixture_digest(fixture) == attemptkey.fixture_digest(dict(reversed(fixture.items())))
    assert attemptkey.fixture_digest(fixture) != attemptkey.fixture_digest(
        dict(fixture, files=[{"path": "lambda.h5", "sha256": "b" * 64}])
    )
    batch, reference = tmp_path / "input.npz", tmp_path / "lambda.npy"
    batch.write_bytes(b"images")
    reference.write_bytes(b"embeddings")
    first = attemptkey.reference_digest(batch, reference)
    reference.write_bytes(b"other embeddings")
    assert attemptkey.reference_digest(batch, reference) != first


def test_an_attempt_without_a_key_is_never_known():
    request = AttemptRequest(
        producer="tf210",
        fixture={"id": "lambda-h5"},
        strategy="load_model",
        input="batch.npz",
        reference="lambda.npy",
        key={"lock": "l", "fixture": "f", "reference": "r", "code": "c"},
    )
    keyless = {"producer": "tf210", "fixture": "lambda-h5", "strategy": "load_model", "verdict": "pass"}
    assert attemptkey.pending([request], attemptkey.recorded([keyless])) == [request]
    keyed = dict(keyless, key=dict(request.key))
    assert attemptkey.pending([request], attemptkey.recorded([keyless]), attemptkey.recorded([keyed])) == []
    stale = dict(keyless, key=dict(request.key, code="other"))
    assert attemptkey.pending([request], attemptkey.recorded([stale])) == [request]


# -- on disk and merged -------------------------------------------------------------------
DATA = ROOT / "tests" / "data" / "results"


def _keyed(document: dict, code: dict | None = None) -> dict:
    """A results document whose attempts carry keys (canned digests)."""
    document = copy.deepcopy(document)
    for attempt in document["attempts"]:
        attempt["key"] = {
            "lock": "lock-" + document["run"]["consumer"],
            "fixture": f"fixture-{attempt['producer']}-{attempt['fixture']}",
            "reference": f"reference-{attempt['producer']}-{attempt['variant']}",
            "code": (code or {}).get(attempt["strategy"], "code-" + attempt["strategy"]),
        }
    return document


def test_keys_round_trip_through_matrix_json_stored_once_per_load_line():
    document = results.read(DATA / "tf215-load-keras212.json")
    keyed = _keyed(document)
    keyed["attempts"][0].pop("key")  # recorded before keys existed: stays keyless
    merger = report._Merger()
    merger.add(keyed, "tf215.json")
    matrix = merger.document()
    text = matrixdoc.text(matrix)
    stored = json.loads(text)
    assert matrixdoc.expand(stored) == dict(matrix, schema=matrixdoc.SCHEMA)
    assert "key" not in matrixdoc.expand(stored)["attempts"][0]
    # Per line three small indices; each code digest once per distinct strategy map.
    lines = stored["loads"]
    assert all(len(line["key"]) == 3 for line in lines)
    assert len(stored["keys"]["locks"]) == 1 and len(stored["keys"]["codes"]) <= 2
    assert text.count('"key"') == len(lines)  # never per attempt
    recorded = matrixdoc.recorded(stored, "tf215")
    first = matrix["attempts"][0]
    assert recorded[("tf215", first["producer"], first["fixture"], first["strategy"])][0] is None
    last = matrix["attempts"][-1]
    assert recorded[("tf215", last["producer"], last["fixture"], last["strategy"])][0] == last["key"]


def test_a_matrix_without_keys_still_reads(tmp_path):
    document = json.loads(matrixdoc.text(report.merge([DATA / "tf215-load-keras212.json"])))
    document["schema"] = "compat.matrix/3"
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(document))
    assert all("key" not in a for a in matrixdoc.read(path)["attempts"])


def _one(matrix: dict, strategy: str = "load_model", fixture: str = "lambda-h5") -> dict:
    (found,) = [a for a in matrix["attempts"] if a["strategy"] == strategy and a["fixture"] == fixture]
    return found


def test_same_key_differing_verdicts_is_unstable_another_key_replaces(tmp_path):
    base = _keyed(results.read(DATA / "tf215-load-keras212.json"))
    before = _one(base)["verdict"]
    assert before != "pass"
    again = copy.deepcopy(base)
    _one(again).update(verdict="pass", max_abs_diff=0.0, cosine=1.0)
    for name, document in (("a.json", base), ("b.json", again)):
        results.write_atomically(tmp_path / "same" / name, document)
    merged = report.merge(report.results_files(tmp_path / "same"))
    assert _one(merged)["unstable"] == sorted({before, "pass"})

    changed = _keyed(again, code={"load_model": "code-load_model-edited"})
    for name, document in (("a.json", base), ("b.json", changed)):
        results.write_atomically(tmp_path / "other" / name, document)
    merged = report.merge(report.results_files(tmp_path / "other"))
    assert _one(merged)["verdict"] == "pass" and "unstable" not in _one(merged)
    assert _one(merged)["key"]["code"] == "code-load_model-edited"

    keyless = copy.deepcopy(again)
    for attempt in keyless["attempts"]:
        attempt.pop("key")
    merger = report._Merger()
    merger.add(keyless, "old.json")
    merger.add(base, "new.json")
    assert "unstable" not in _one(merger.document()) and _one(merger.document())["verdict"] == before


def test_a_results_file_that_measured_nothing_adds_no_run():
    document = results.read(DATA / "tf215-load-keras212.json")
    empty = dict(copy.deepcopy(document), attempts=[])
    empty["run"]["finished"] = "2099-01-01T00:00:00Z"
    merger = report._Merger()
    merger.add(document, "tf215.json")
    merger.add(empty, "tf215-nothing.json")
    merged = merger.document()
    assert [r["source"] for r in merged["runs"]] == ["tf215.json"]
    assert merged["generated"] != "2099-01-01T00:00:00Z"


def test_a_module_only_one_strategy_imports_is_keyed_with_that_strategy_alone(project):
    """translate.py is imported by the translate strategy's class only: editing it re-measures
    that strategy's cells and no other."""
    before = codedigest.code_digests(project)
    assert "compat/inside/translate.py" in before.files
    _append(project / "compat" / "inside" / "translate.py", "\nCHANGED = 1\n")
    after = codedigest.code_digests(project)
    assert _changed(before, after) == {"translate"}
    assert after.shared == before.shared
