"""The reported set in the matrix: every producer's reported models are planned beside its FaceNet
fixtures, handed to the worker with their named inputs and outputs, and judged output by output
against the producer's own numbers. Pure planning and judging here; the loads themselves are the
matrix's (``reports/matrix.json``) and the environment tests'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compat import catalog
from compat.harness import corpus, runner
from compat.paths import PROJECT_ROOT
from compat.records import codedigest
from compat.records.attempt import AttemptRequest
from compat.records.verdicts import Verdict


def _planned(producer: str) -> dict:
    env = catalog.get("tf221")
    plan = runner.keyed_plan(env, [producer], codes=codedigest.code_digests(PROJECT_ROOT))
    return {(r.fixture["id"], r.strategy): r for r in plan}


def test_every_producer_with_a_reported_set_plans_it_beside_its_facenet_fixtures():
    planned = _planned("tf215")
    ids = {fixture for fixture, _ in planned}
    assert {"builtin-h5", "lambda-h5"} <= ids  # FaceNet's, as before
    assert {"two_input_savedmodel-savedmodel", "tfoplambda-h5", "depthwise_groups-keras"} <= ids
    request = planned[("two_input_savedmodel-savedmodel", "translate")]
    fixture = request.fixture
    assert fixture["facenet"] is False and fixture["set"] == "reported"
    assert [i["name"] for i in fixture["spec"]["inputs"]] == ["anchor", "candidate"]
    assert request.reference.endswith("two_input_savedmodel-savedmodel.npz")
    with np.load(request.input) as batch:  # the worker reads a user's batch: arrays by input name
        assert sorted(batch.files) == ["anchor", "candidate"]
    # every strategy of the registry, as for a FaceNet fixture
    assert {s for f, s in planned if f == "two_input_savedmodel-savedmodel"} == set(runner.strategy_names())


def test_the_worker_is_sent_the_spec_and_the_batch_has_fixed_bytes():
    request = _planned("tf24")[("two_input_savedmodel-savedmodel", "load_model")]
    message = request.message(1, "/somewhere")
    assert message["spec"] == request.fixture["spec"] and message["root"] == "/somewhere"
    again = _planned("tf24")[("two_input_savedmodel-savedmodel", "load_model")]
    assert again.key == request.key  # the batch file is written once, with the same bytes


def test_a_facenet_request_carries_no_spec():
    request = _planned("tf24")[("builtin-h5", "load_model")]
    assert "spec" not in request.message(1, "/somewhere")


def _judged(request: AttemptRequest, outputs: dict[str, np.ndarray] | None, status: str = "ok"):
    result = {"id": 1, "status": status}
    if outputs is not None:
        result["outputs"] = [{"name": n, "shape": list(v.shape), "values": v.tolist()} for n, v in outputs.items()]
    return runner.judge_result(request, result)


@pytest.mark.parametrize("damage, verdict", [(0.0, Verdict.PASS), (0.05, Verdict.MISMATCH)])
def test_a_reported_model_is_judged_by_its_named_outputs(damage, verdict):
    request = _planned("tf215")[("two_input_savedmodel-savedmodel", "translate")]
    [(name, reference)] = corpus.reference_arrays(Path(request.reference), ["same_person"])
    judgement = _judged(request, {name: reference + damage})
    assert judgement.verdict is verdict
    assert "output" not in judgement.numbers  # one output: nothing to name


def test_an_error_is_its_own_verdict_for_a_reported_model():
    request = _planned("tf215")[("tfoplambda-h5", "load_model")]
    assert _judged(request, None, status="error").verdict is Verdict.ERROR


def test_fixture_filters_know_the_reported_ids():
    assert "bilstm-h5" in runner.planned_fixture_ids("tf215")
    assert runner.fixture_root("tf215", {"set": "reported"}) == corpus.unpacked("reported", "tf215")
