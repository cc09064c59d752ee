"""The attempt record and the one judge: what a worker's result becomes, and that the files
read and write the same bytes through the typed record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compat.records import matrixdoc, results
from compat.records.attempt import Attempt, AttemptRequest, attempt_id
from compat.records.judge import judge
from compat.records.outputs import compare_outputs
from compat.records.verdicts import Verdict, compare

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "reports" / "matrix.json"
DATA = ROOT / "tests" / "data" / "results"
KEY = {"lock": "l", "fixture": "f", "reference": "r", "code": "c"}
REFERENCE = np.array([[0.6, 0.8], [1.0, 0.0]])


def _request() -> AttemptRequest:
    fixture = {"id": "lambda-h5", "variant": "lambda", "format": "h5", "path": "lambda.h5", "size": "tiny"}
    return AttemptRequest("tf210", fixture, "load_model", "input.npz", "lambda.npy", KEY)


def _attempt(result: dict) -> dict:
    judgement = judge(result["status"], result.get("embeddings"), REFERENCE)
    return Attempt.from_result(_request(), result, judgement).to_dict()


WHERE = {
    "producer": "tf210",
    "fixture": "lambda-h5",
    "variant": "lambda",
    "format": "h5",
    "strategy": "load_model",
    "key": KEY,
}
TIMINGS = {"recipe": "...", "load_seconds": 0.5, "predict_seconds": 0.1, "code_executed": False}


def test_a_result_that_loaded_is_checked_against_the_reference():
    result = dict(TIMINGS, id=3, status="ok", embeddings=REFERENCE.tolist(), code_executed_by_predict=False)
    assert _attempt(result) == dict(
        WHERE, **TIMINGS, code_executed_by_predict=False, verdict="pass", max_abs_diff=0.0, cosine=1.0
    )


def test_outputs_of_another_shape_mismatch_with_their_numbers_written_empty():
    result = dict(TIMINGS, id=3, status="ok", embeddings=[[0.6, 0.8]])
    assert _attempt(result) == dict(
        WHERE,
        **TIMINGS,
        verdict="mismatch",
        max_abs_diff=None,
        cosine=None,
        detail="output shape [1, 2], reference [2, 2]",
    )


@pytest.mark.parametrize(
    "result, recorded",
    [
        ({"status": "not_applicable", "reason": "no .keras"}, {"verdict": "not_applicable", "reason": "no .keras"}),
        (
            {"status": "error", "recipe": "...", "error": {"type": "E", "message": "m", "traceback": "t"}},
            {"verdict": "error", "recipe": "...", "error": {"type": "E", "message": "m", "traceback": "t"}},
        ),
        (
            {"status": "timeout", "seconds": 12.0, "reason": "no result within 12s"},
            {"verdict": "timeout", "seconds": 12.0, "reason": "no result within 12s"},
        ),
        (
            {
                "status": "crash",
                "signal": None,
                "exit_code": 3,
                "reason": "the worker died (exit 3)",
                "worker_log_tail": "",
                "worker_log": "/tmp/log",
            },
            {
                "verdict": "crash",
                "signal": None,
                "exit_code": 3,
                "reason": "the worker died (exit 3)",
                "worker_log_tail": "",
            },
        ),
    ],
)
def test_a_result_that_did_not_load_keeps_what_its_verdict_carries(result, recorded):
    assert _attempt(dict(result, id=1)) == dict(WHERE, **recorded)


def test_the_judge_takes_any_other_status_as_the_verdict_and_refuses_an_unknown_one():
    for verdict in ("error", "crash", "timeout", "not_applicable"):
        assert judge(verdict).verdict is Verdict(verdict)
        assert judge(verdict).fields() == {"verdict": verdict}
    with pytest.raises(ValueError):
        judge("lost")


def test_the_matrix_and_the_engine_judge_alike():
    """The engine hands the judge its per-output check; on one output it agrees with the matrix's."""
    outputs = REFERENCE * 1.01
    matrix = judge("ok", outputs, REFERENCE, check=compare)
    users = judge("ok", [("embeddings", outputs)], [("embeddings", REFERENCE)], check=compare_outputs)
    assert matrix == users
    assert matrix.verdict is Verdict.MISMATCH


def test_a_request_and_its_record_have_one_id():
    request = _request()
    record = _attempt({"status": "not_applicable", "reason": "no"})
    assert (
        request.id
        == attempt_id(record)
        == attempt_id({"producer": "tf210", "fixture": request.fixture, "strategy": "load_model"})
    )
    assert Attempt.from_dict(record).id == request.id
    assert "key" not in request.message(1, "/root") and "reference" not in request.message(1, "/root")


def test_every_results_file_attempt_reads_and_writes_back_unchanged():
    files = sorted(DATA.glob("*.json"))
    assert files
    for path in files:
        for record in results.read(path)["attempts"]:
            assert Attempt.from_dict(record).to_dict() == record, (path.name, attempt_id(record))


def test_the_published_matrix_through_attempts_is_the_same_bytes():
    document = matrixdoc.read(PUBLISHED)
    records = [Attempt.from_dict(record).to_dict() for record in document["attempts"]]
    assert records == document["attempts"]
    assert matrixdoc.text(dict(document, attempts=records)) == PUBLISHED.read_text()


def test_a_field_this_release_does_not_know_is_kept():
    record = dict(WHERE, verdict="pass", max_abs_diff=0.0, cosine=1.0, measured_on="gpu")
    attempt = Attempt.from_dict(record)
    assert attempt.extra == {"measured_on": "gpu"}
    assert attempt.to_dict() == record
