"""A real slice of the matrix: consumers tf215 and tf221 over producers keras212, tf215, tf221.

Every assertion here is about what real loads in real environments showed.
"""

from __future__ import annotations

import numpy as np
import pytest

from compat.harness import fixtures, runner
from compat.records import results

pytestmark = pytest.mark.envs
PRODUCERS = ["keras212", "tf215", "tf221"]


def _run(consumer, tmp_path_factory):
    output = tmp_path_factory.mktemp("results") / f"{consumer}.json"
    # FaceNet's fixtures (the reported set's slice is tests/harness/test_reported_in_matrix.py's)
    facenet = sorted({f["id"] for p in PRODUCERS for f in fixtures.load_manifest(p)["fixtures"]})
    run = runner.open_run(consumer, PRODUCERS, fixture_ids=facenet, output=output, log=lambda *_: None)
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


def _error(attempt: dict, error_type: str, fragment: str) -> None:
    """The attempt failed with this exception and message: not just any error (a wrong path or
    keyword in the harness would be an error too)."""
    assert attempt["verdict"] == "error", attempt
    assert attempt["error"]["type"] == error_type, attempt["error"]
    assert fragment in attempt["error"]["message"], attempt["error"]


def test_the_original_lambda_h5_needs_the_weights_route_under_tf215(tf215):
    # Bytecode marshalled by CPython 3.6 cannot be read by 3.11: marshal stops short.
    plain = _verdict(tf215, "keras212", "lambda-h5", "load_model")
    _error(plain, "EOFError", "EOF read where object expected")
    assert "marshal" in plain["error"]["traceback"] or "func_load" in plain["error"]["traceback"]
    rebuilt = _verdict(tf215, "keras212", "lambda-h5", "rebuild_weights")
    assert rebuilt["verdict"] == "pass"
    assert rebuilt["max_abs_diff"] < 1e-3
    assert _verdict(tf215, "keras212", "lambda-h5", "h5_transplant")["verdict"] == "pass"


def test_a_model_loads_as_it_is_where_it_was_made(tf215, tf221):
    assert _verdict(tf215, "tf215", "lambda-h5", "load_model")["verdict"] == "pass"
    assert _verdict(tf221, "tf221", "builtin-keras", "load_model")["verdict"] == "pass"


def test_keras3_refuses_a_legacy_savedmodel_but_serves_its_signature(tf221):
    _error(
        _verdict(tf221, "tf215", "builtin-savedmodel", "load_model"),
        "ValueError",
        "the legacy SavedModel format is not supported by `load_model()` in Keras 3",
    )
    assert _verdict(tf221, "tf215", "builtin-savedmodel", "savedmodel_inference")["verdict"] == "pass"


def test_a_keras3_lambda_needs_its_function_named(tf221):
    # Keras 3 stores the Lambda's function by name ('scaling'), which nothing registered.
    _error(
        _verdict(tf221, "tf221", "lambda-keras", "load_model"),
        "TypeError",
        "Functional'> could not be deserialized properly",
    )
    assert _verdict(tf221, "tf221", "lambda-keras", "custom_objects")["verdict"] == "pass"


def test_every_pass_is_within_tolerance_and_every_attempt_is_accounted_for(tf215, tf221):
    for document in (tf215, tf221):
        assert document["run"]["complete"]
        assert document["consumer"]["runtime"]["tensorflow"]
        assert document["consumer"]["lock"]["tensorflow-cpu"]
        for attempt in document["attempts"]:
            assert attempt["verdict"] in {"pass", "mismatch", "error", "crash", "timeout", "not_applicable"}
            if attempt["verdict"] == "pass":
                # The numbers against the producer's own reference file, at the tolerance the
                # README states (1e-4 of the reference's largest magnitude), read here afresh.
                reference = _reference(attempt["producer"], attempt["fixture"])
                assert attempt["max_abs_diff"] <= 1e-4 * max(1.0, float(np.max(np.abs(reference))))
                assert attempt["recipe"]
            if attempt["verdict"] == "error":
                assert attempt["error"]["message"] is not None


def _reference(producer: str, fixture_id: str) -> np.ndarray:
    manifest = fixtures.load_manifest(producer)
    [fixture] = [f for f in manifest["fixtures"] if f["id"] == fixture_id]
    return np.load(fixtures.fixture_dir(producer) / manifest["reference"]["embeddings"][fixture["variant"]])


# The strategies that read only the numbers (h5py or load_weights into the shared architecture).
WEIGHTS_LEVEL = ("rebuild_weights", "rebuild_by_name", "h5_transplant")


def test_weights_level_strategies_recover_every_keras_fixture_of_the_original_stack(tf215, tf221):
    # Its Keras files: the TF 1 graph files (kind "graph") hold no Keras weights to rebuild from.
    fixture_ids = [f["id"] for f in fixtures.load_manifest("keras212")["fixtures"] if f["kind"] != "graph"]
    for document in (tf215, tf221):
        for fixture in fixture_ids:
            for strategy in WEIGHTS_LEVEL:
                attempt = _verdict(document, "keras212", fixture, strategy)
                assert attempt["verdict"] == "pass", (document["consumer"]["id"], fixture, strategy, attempt)


def test_one_worker_one_tensorflow_import_per_run(tf215):
    crashed = sum(a["verdict"] in ("crash", "timeout") for a in tf215["attempts"])
    assert tf215["run"]["workers_started"] == 1 + crashed
    assert tf215["run"]["tensorflow_imports"] == tf215["run"]["workers_started"]
