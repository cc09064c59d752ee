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
from compat.records import codedigest, families, results
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


# -- measured: tf221 (Keras 3.15 on TF 2.21) over tf215's reported set -------------------------
@pytest.fixture(scope="module")
def tf221_over_tf215(tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("reported") / "tf221.json"
    ids = [fixture["id"] for fixture, _, _ in corpus.matrix_fixtures("tf215")]
    runner.open_run("tf221", ["tf215"], fixture_ids=ids, output=output, log=lambda *_: None).execute()
    document = results.read(output)
    return {(a["fixture"], a["strategy"]): a for a in document["attempts"]}


@pytest.mark.envs
@pytest.mark.parametrize(
    "fixture, refused_by, family, carried_by",
    [
        # keras-team/keras#19441: Keras 2's groups=1 on DepthwiseConv2D / Conv2DTranspose
        ("depthwise_groups-h5", "load_model", "newer_config", "translate"),
        # hyunnamlee/RAPUNet#4: a TF op on Keras tensors stored as TFOpLambda
        ("tfoplambda-h5", "load_model", "tf_op_layer", "translate"),
        # keras-team/keras#20813: TFSMLayer passes a two-input signature's inputs by position
        ("two_input_savedmodel-savedmodel", "savedmodel_inference", "tfsmlayer_positional", "savedmodel_signature"),
        # Hrushi11/Real-TIme-Skin-Type-Detection#1: a Keras 2 SavedModel under Keras 3's load_model
        ("preprocessing_savedmodel-savedmodel", "load_model", "savedmodel_under_keras3", "translate"),
    ],
)
def test_a_reported_failure_is_measured_with_its_family_and_what_carries_it(
    tf221_over_tf215, fixture, refused_by, family, carried_by
):
    refused = tf221_over_tf215[(fixture, refused_by)]
    assert refused["verdict"] == "error", refused
    found = families.classify(
        refused["error"]["type"],
        refused["error"]["message"],
        refused["error"].get("traceback") or "",
        strategy=refused_by,
        fmt=fixture.rsplit("-", 1)[1],
        producer_python="3.11",
        consumer_python="3.13",
        consumer_keras="3.15.1",
    )
    assert found is not None and found.id == family, (refused["error"], found)
    carried = tf221_over_tf215[(fixture, carried_by)]
    assert carried["verdict"] == "pass", carried
    assert carried["max_abs_diff"] is not None and carried["cosine"] is not None
