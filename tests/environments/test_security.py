"""Code run at load time: the canary's marker, the security table and the advisory comparison.

The marker logic runs here on the host's Python (it is plain Python); what real loaders do
with canary files is measured by the matrix and checked in ``test_reproducible``, and a few
of those facts are checked below by plain loads that do not go through the harness.
"""

from __future__ import annotations

import marshal
import types

import pytest
from packaging.version import Version

from compat.inside import facenet, worker
from compat.paths import PROJECT_ROOT
from compat.publish import advisories, cells
from compat.records import matrixdoc

MATRIX = PROJECT_ROOT / "reports" / "matrix.json"


# -- the marker -------------------------------------------------------------------------
def _marker_lines(tmp_path, monkeypatch, function) -> list[str]:
    monkeypatch.setenv("COMPAT_CANARY_DIR", str(tmp_path))
    assert function(3.0, 0.5) == 1.5
    return (tmp_path / "canary-ran").read_text().split()


def test_the_projects_own_function_marks_itself_module(tmp_path, monkeypatch):
    assert _marker_lines(tmp_path, monkeypatch, facenet.canary_scaling) == ["module"]
    assert not worker.stored_code_ran(str(tmp_path / "canary-ran"))


def test_the_same_code_out_of_marshalled_bytecode_marks_itself_file(tmp_path, monkeypatch):
    # What Keras 2 does with a Lambda stored in a file: a new function from marshalled code.
    code = marshal.loads(marshal.dumps(facenet.canary_scaling.__code__))
    revived = types.FunctionType(code, dict(facenet.__dict__), "canary_scaling")
    assert _marker_lines(tmp_path, monkeypatch, revived) == ["file"]
    assert worker.stored_code_ran(str(tmp_path / "canary-ran"))


def test_a_function_named_by_the_file_counts_even_from_the_module(tmp_path, monkeypatch):
    assert _marker_lines(tmp_path, monkeypatch, facenet.canary_imported) == ["imported"]
    assert worker.stored_code_ran(str(tmp_path / "canary-ran"))
    assert "canary_imported" not in facenet.custom_objects.__code__.co_names  # never handed over


def test_older_fixtures_marker_empty_marker_and_no_marker(tmp_path):
    marker = tmp_path / "canary-ran"
    assert not worker.stored_code_ran(str(marker))
    marker.write_text("module\nran\n")  # a body stored before origins were told apart
    assert worker.stored_code_ran(str(marker))
    marker.write_text("")  # foreign bytecode that opened the file, then failed
    assert worker.stored_code_ran(str(marker))
    marker.write_text("module\n")
    assert not worker.stored_code_ran(str(marker))


def test_the_canary_is_harmless_without_its_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPAT_CANARY_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert facenet.canary_scaling(2.0, 2.0) == 4.0 and facenet.canary_imported(2.0, 2.0) == 4.0
    assert list(tmp_path.iterdir()) == []


# -- the security table -----------------------------------------------------------------
def _attempt(
    consumer, producer, strategy, verdict="pass", at_load=False, by_predict=False, fixture="canary-h5", message=None
):
    attempt = {
        "consumer": consumer,
        "producer": producer,
        "fixture": fixture,
        "variant": fixture.split("-")[0],
        "format": fixture.split("-", 1)[1],
        "strategy": strategy,
        "verdict": verdict,
    }
    if verdict != "not_applicable":
        attempt.update(code_executed=at_load, code_executed_by_predict=at_load or by_predict)
    if message:
        attempt["error"] = {"type": "ValueError", "message": message}
    return attempt


def _matrix(attempts, keras_versions) -> dict:
    return {
        "attempts": attempts,
        "strategies": [{"name": n} for n in ("load_model", "custom_objects", "unsafe", "tf_keras")],
        "catalog": [{"id": c, "versions": {"keras": v}} for c, v in keras_versions.items()],
    }


def test_security_cells_tell_load_from_first_call():
    matrix = _matrix(
        [
            _attempt("tf26", "keras212", "load_model", at_load=True),
            _attempt("tf217", "tf215", "load_model", by_predict=True),
            _attempt("tf217", "keras212", "load_model", "error"),
            _attempt("tf221", "tf215", "load_model", "error"),
        ],
        {},
    )
    table = cells.security_table(matrix, ["tf26", "tf217", "tf221"])
    rows = {r["consumer"]: r["cells"][0] for r in table["rows"]}
    assert (rows["tf26"]["state"], rows["tf26"]["text"]) == ("ran", "ran 1/1")
    assert (rows["tf217"]["state"], rows["tf217"]["text"]) == ("ran-call", "ran 1/2 at call")
    assert "at the first call: tf215 canary-h5" in rows["tf217"]["title"]
    assert (rows["tf221"]["state"], rows["tf221"]["text"]) == ("blocked", "ran 0/1")


def test_detail_rows_carry_when_the_code_ran():
    assert cells.detail_row(_attempt("tf217", "tf215", "load_model", by_predict=True))["code_ran"] == "call"
    assert cells.detail_row(_attempt("tf26", "keras212", "load_model", at_load=True))["code_ran"] == "load"
    assert cells.detail_row(_attempt("tf26", "keras212", "load_model"))["code_ran"] == "no"


# -- the advisories ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "keras,fixture,runs,advisory",
    [
        ("2.1.2", "canary-h5", True, "CVE-2024-3660"),
        ("2.15.0", "canary-h5", True, "CVE-2024-3660"),
        ("2.12.0", "canary-keras", True, "CVE-2024-3660"),
        ("2.13.1", "canary-keras", False, "CVE-2024-3660"),
        ("3.10.0", "canary-h5", True, "CVE-2025-9905"),
        ("3.11.3", "canary-h5", False, "CVE-2025-9905"),
        ("3.8.0", "canarymodule-keras", True, "CVE-2025-1550"),
        ("3.9.0", "canarymodule-keras", False, "CVE-2025-1550"),
    ],
)
def test_advisory_boundaries(keras, fixture, runs, advisory):
    prediction = advisories.predict(Version(keras), fixture)
    assert (prediction.runs, prediction.advisory) == (runs, advisory)


def test_nothing_predicted_where_the_format_does_not_exist():
    assert advisories.predict(Version("2.10.0"), "canary-keras") is None
    assert advisories.predict(Version("2.15.0"), "canarymodule-keras") is None
    assert advisories.keras_version("2.2.4-tf") == Version("2.2.4")


def test_agreement_refusal_and_what_cannot_tell():
    matrix = _matrix(
        [
            # tf217 (3.5): one file's code runs at first call, as CVE-2025-9905 says.
            _attempt("tf217", "tf215", "load_model", by_predict=True),
            # another file's bytecode runs nowhere in tf217: says nothing.
            _attempt("tf217", "keras212", "load_model", "error", message="bad marshal data"),
            _attempt("tf217", "keras212", "unsafe", "error", message="bad marshal data"),
            # tf220 (3.11.3): refused, while safe_mode=False runs it.
            _attempt("tf220", "tfkeras221", "load_model", "error", message="Requested the deserialization of a Lambda"),
            _attempt("tf220", "tfkeras221", "unsafe", by_predict=True),
            # tf_keras is another library: its run does not make the plain refusal measurable.
            _attempt("tf221", "tf215", "load_model", "error", message="Requested the deserialization"),
            _attempt("tf221", "tf215", "tf_keras", at_load=True),
            # tf212 (2.12): the advisory says < 2.13 runs .keras Lambdas; this one refused.
            _attempt("tf212", "tf212", "load_model", "error", fixture="canary-keras", message="safe_mode"),
            _attempt("tf212", "tf212", "unsafe", at_load=True, fixture="canary-keras"),
        ],
        {"tf217": "3.5.0", "tf220": "3.11.3", "tf221": "3.15.1", "tf212": "2.12.0"},
    )
    rows = {(r.consumer, r.fixture): r for r in advisories.compare(matrix, ["tf217", "tf220", "tf221", "tf212"])}
    assert rows["tf217", "canary-h5"].files == {"ran at first call": ["tf215"], "unreachable": ["keras212"]}
    assert rows["tf217", "canary-h5"].verdict == "agrees"
    assert rows["tf220", "canary-h5"].files == {"refused": ["tfkeras221"]}
    assert rows["tf220", "canary-h5"].verdict == "agrees"
    assert rows["tf221", "canary-h5"].verdict == "not measurable"
    assert rows["tf212", "canary-keras"].verdict == "disagrees"
    shown = {(r["consumer"], r["fixture"]): r for r in advisories.view(list(rows.values()))}
    assert shown["tf212", "canary-keras"]["refusal"] == "ValueError: safe_mode"
    assert shown["tf217", "canary-h5"]["measured"] == "ran at first call 1, unreachable 1"


def test_a_module_reference_refused_where_its_control_file_loads():
    matrix = _matrix(
        [
            _attempt("tf219", "tf217", "load_model", "error", fixture="canarymodule-keras", message="not deserialized"),
            _attempt("tf219", "tf217", "unsafe", "error", fixture="canarymodule-keras", message="not deserialized"),
            _attempt("tf219", "tf217", "custom_objects", fixture="canary-keras"),
            # tf216 cannot read a Keras 3.15 file at all, control included: it cannot tell.
            _attempt("tf216", "tf221", "load_model", "error", fixture="canarymodule-keras", message="Conv2D"),
            _attempt("tf216", "tf221", "custom_objects", "error", fixture="canary-keras", message="Conv2D"),
            # a weights-level load of the control does not read its config: no evidence.
            _attempt("tf216", "tf221", "rebuild_weights", fixture="canary-keras"),
        ],
        {"tf219": "3.10.0", "tf216": "3.3.3"},
    )
    rows = {(r.consumer, r.fixture): r for r in advisories.compare(matrix, ["tf219", "tf216"])}
    assert rows["tf219", "canarymodule-keras"].files == {"refused": ["tf217"]}
    assert rows["tf219", "canarymodule-keras"].verdict == "agrees"
    assert rows["tf216", "canarymodule-keras"].verdict == "not measurable"


# -- the published matrix ---------------------------------------------------------------
def test_the_published_matrix_against_the_advisories():
    """What the committed matrix measured; a rebuilt matrix that changes it must say so here."""
    matrix = matrixdoc.read(MATRIX)
    consumers = [e["id"] for e in matrix["catalog"]]
    rows = {(r.consumer, r.fixture): r for r in advisories.compare(matrix, consumers)}
    # Keras 2: an .h5 Lambda runs at load, from Keras 2.1.2 to tf-keras 2.21.
    for consumer in ("keras212", "tf115", "tf210", "tf215", "tfkeras221"):
        assert rows[consumer, "canary-h5"].files.get("ran at load") and rows[consumer, "canary-h5"].verdict == "agrees"
    # Keras 3.5 to 3.10 load a Keras 2 .h5 Lambda and run it at the first call (CVE-2025-9905).
    for consumer in ("tf217", "tf218", "tf219"):
        row = rows[consumer, "canary-h5"]
        assert row.files.get("ran at first call") and not row.files.get("ran at load") and row.verdict == "agrees"
    # From 3.11.3 the plain load refuses it.
    assert rows["tf220", "canary-h5"].verdict == "agrees" and rows["tf220", "canary-h5"].refused
    # Keras 2.12 already refuses a .keras Lambda, although the advisory puts the fix at 2.13.
    assert rows["tf212", "canary-keras"].verdict == "disagrees"
    # A .keras config naming a module function: imported and run by 3.5 and 3.7, refused from 3.10.
    for consumer in ("tf217", "tf218"):
        assert rows[consumer, "canarymodule-keras"].files.get("ran at first call")
    for consumer in ("tf219", "tf220", "tf221"):
        assert rows[consumer, "canarymodule-keras"].verdict == "agrees" and not rows[consumer, "canarymodule-keras"].ran


# -- the same facts from plain loads, without the harness ----------------------------------
# Each: a consumer, a producer's canary file, and what a plain load_model does with it, as
# the advisories say and the published matrix records. The oracle (tests/oracle/plain_load.py)
# loads it in the consumer's interpreter with nothing of the project, watching the marker
# the file's own Lambda leaves when it runs.
PLAIN_FACTS = [
    # Keras 2.1.2 and tf.keras 2.15 revive an .h5 Lambda's bytecode while loading.
    ("keras212", "keras212", "canary-h5", "ran at load"),
    ("tf215", "tf215", "canary-h5", "ran at load"),
    # Keras 3.15 refuses a Keras 2 .h5 Lambda and a .keras file that names a module function.
    ("tf221", "tf215", "canary-h5", "refused"),
    ("tf221", "tf221", "canarymodule-keras", "refused"),
]


@pytest.mark.envs
@pytest.mark.parametrize("consumer, producer, fixture, expected", PLAIN_FACTS)
def test_a_plain_load_shows_what_the_advisories_and_the_matrix_say(tmp_path, consumer, producer, fixture, expected):
    from tests.harness.test_oracle_facenet import oracle

    case = oracle(consumer, producer, tmp_path, fixture_ids={fixture}, modes=("load_model",), canary=True)[
        fixture, "load_model"
    ]
    if expected == "ran at load":
        assert case["code_ran_at_load"] is True, case
        assert case["verdict"] == "pass", case  # the canary computes the model's own numbers
    else:
        assert case["verdict"] == "error" and case["stage"] == "load", case
        assert case["code_ran"] is False, case
    [published] = [
        a
        for a in matrixdoc.read(MATRIX)["attempts"]
        if (a["consumer"], a["producer"], a["fixture"], a["strategy"]) == (consumer, producer, fixture, "load_model")
    ]
    assert published["verdict"] == case["verdict"]
    assert bool(published.get("code_executed")) == case["code_ran_at_load"]
    if case["verdict"] == "error":
        assert published["error"]["type"] == case["error"]["type"]
