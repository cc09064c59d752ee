"""A real slice of the matrix: consumers tf215 and tf221 over producers keras212, tf215, tf221.

Every assertion here is about what real loads in real environments showed.
"""
from __future__ import annotations

import pytest

from compat.harness import runner
from compat.records import results, summary
from compat.records.verdicts import MIN_COSINE, RELATIVE_TOLERANCE

pytestmark = pytest.mark.envs
PRODUCERS = ["keras212", "tf215", "tf221"]


def _run(consumer, tmp_path_factory):
    output = tmp_path_factory.mktemp("results") / f"{consumer}.json"
    run = runner.Run(consumer, PRODUCERS, output=output, log=lambda *_: None)
    run.execute()
    return results.read(output)


@pytest.fixture(scope="module")
def tf215(tmp_path_factory):
    return _run("tf215", tmp_path_factory)


@pytest.fixture(scope="module")
def tf221(tmp_path_factory):
    return _run("tf221", tmp_path_factory)


def _verdict(document, producer, fixture, strategy):
    for attempt in document["attempts"]:
        if (attempt["producer"], attempt["fixture"], attempt["strategy"]) == (producer, fixture, strategy):
            return attempt
    raise AssertionError(f"no attempt {producer}/{fixture}/{strategy}")


def test_the_original_lambda_h5_needs_the_weights_route_under_tf215(tf215):
    # Bytecode marshalled by CPython 3.6 cannot be read by 3.11.
    plain = _verdict(tf215, "keras212", "lambda-h5", "load_model")
    assert plain["verdict"] == "error"
    assert plain["error"]["type"] and plain["error"]["traceback"]
    rebuilt = _verdict(tf215, "keras212", "lambda-h5", "rebuild_weights")
    assert rebuilt["verdict"] == "pass"
    assert rebuilt["max_abs_diff"] < 1e-3 and rebuilt["cosine"] > MIN_COSINE
    assert _verdict(tf215, "keras212", "lambda-h5", "h5_transplant")["verdict"] == "pass"


def test_a_model_loads_as_it_is_where_it_was_made(tf215, tf221):
    assert _verdict(tf215, "tf215", "lambda-h5", "load_model")["verdict"] == "pass"
    assert _verdict(tf221, "tf221", "builtin-keras", "load_model")["verdict"] == "pass"


def test_keras3_refuses_a_legacy_savedmodel_but_serves_its_signature(tf221):
    assert _verdict(tf221, "tf215", "builtin-savedmodel", "load_model")["verdict"] == "error"
    assert _verdict(tf221, "tf215", "builtin-savedmodel", "savedmodel_inference")["verdict"] == "pass"


def test_a_keras3_lambda_needs_its_function_named(tf221):
    assert _verdict(tf221, "tf221", "lambda-keras", "load_model")["verdict"] == "error"
    assert _verdict(tf221, "tf221", "lambda-keras", "custom_objects")["verdict"] == "pass"


def test_every_pass_is_within_tolerance_and_every_attempt_is_accounted_for(tf215, tf221):
    for document in (tf215, tf221):
        assert document["run"]["complete"]
        assert document["consumer"]["runtime"]["tensorflow"]
        assert document["consumer"]["lock"]["tensorflow-cpu"]
        for attempt in document["attempts"]:
            assert attempt["verdict"] in {"pass", "mismatch", "error", "crash", "timeout", "not_applicable"}
            if attempt["verdict"] == "pass":
                assert attempt["cosine"] >= MIN_COSINE
                # the tolerance is relative to the reference; its embeddings stay below 100
                assert attempt["max_abs_diff"] <= RELATIVE_TOLERANCE * 100
                assert attempt["recipe"]
            if attempt["verdict"] == "error":
                assert attempt["error"]["message"] is not None


def test_weights_level_strategies_recover_every_keras_fixture_of_the_original_stack(tf215, tf221):
    for document in (tf215, tf221):
        grouped = summary.group_by_fixture(document["attempts"])
        order = summary.strategy_order(document["strategies"])
        for (producer, fixture), row in grouped.items():
            if producer == "keras212":
                assert summary.best_strategy(row, order), f"nothing loads {producer}/{fixture}"


def test_one_worker_one_tensorflow_import_per_run(tf215):
    crashed = sum(a["verdict"] in ("crash", "timeout") for a in tf215["attempts"])
    assert tf215["run"]["workers_started"] == 1 + crashed
    assert tf215["run"]["tensorflow_imports"] == tf215["run"]["workers_started"]
