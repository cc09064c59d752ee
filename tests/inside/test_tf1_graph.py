"""FaceNet's own distribution format in the fixture sets, and the strategy that serves it.

davidsandberg/facenet ships a frozen GraphDef (``input:0`` in, ``embeddings:0`` out) and a
``tf.train.Saver`` checkpoint (``.meta`` + ``.index``/``.data``). The TF 1 producers write the
same two files of the builtin model (the ``tf1graph`` variant); ``tf1_graph`` runs them in a
graph and session of their own, through ``tf.compat.v1`` on TF 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from compat import catalog
from compat.harness import fixtures, runner
from compat.inside import strategies
from compat.records import results
from compat.userfiles import diagnose, savedmodelpb, scan

PRODUCER = "tf115"
TF1_FIXTURES = {"tf1graph-frozen_pb": "frozen_pb", "tf1graph-tf1_checkpoint": "tf1_checkpoint"}


def _tf1_entries(producer: str) -> dict[str, dict]:
    return {f["format"]: f for f in fixtures.load_manifest(producer)["fixtures"] if f["variant"] == "tf1graph"}


def _reference(producer: str, variant: str) -> np.ndarray:
    manifest = fixtures.load_manifest(producer)
    return np.load(fixtures.fixture_dir(producer) / manifest["reference"]["embeddings"][variant])


@pytest.mark.parametrize("producer", ["tf115", "keras212", "keras224"])
def test_a_tf1_producer_holds_the_frozen_graph_and_the_checkpoint_with_files_and_a_reference(producer):
    found = _tf1_entries(producer)
    assert set(found) == {"frozen_pb", "tf1_checkpoint"}
    for entry in found.values():
        assert entry["kind"] == "graph"
        assert entry["tensors"] == {"input": "input:0", "output": "embeddings:0"}
        paths = [f["path"] for f in entry["files"]]
        assert entry["path"] in paths
        assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in entry["files"])
    assert [f["path"] for f in found["frozen_pb"]["files"]] == ["tf1graph.pb"]
    checkpoint = found["tf1_checkpoint"]
    assert checkpoint["path"].endswith(".meta")
    names = {f["path"] for f in checkpoint["files"]}
    assert checkpoint["checkpoint"] + ".index" in names
    assert any(name.startswith(checkpoint["checkpoint"] + ".data-") for name in names)
    reference = _reference(producer, "tf1graph")
    assert reference.shape == (3, 128) and np.all(np.isfinite(reference))
    # The graph is the builtin model frozen: the same function as the producer's Keras predict.
    builtin = _reference(producer, "builtin")
    assert np.max(np.abs(reference - builtin)) <= 1e-5 * np.max(np.abs(builtin))


def test_adding_a_variant_the_set_already_holds_is_refused_before_anything_runs():
    with pytest.raises(fixtures.FixtureError, match="already holds tf1graph"):
        fixtures.add_variants(catalog.get(PRODUCER), ["tf1graph"])


def test_the_strategy_reads_only_the_tf1_formats_and_says_so_for_the_rest():
    strategy = strategies.BY_NAME["tf1_graph"]
    assert set(strategy.formats) == {"frozen_pb", "tf1_checkpoint"}
    assert not (strategy.reads_config or strategy.gives_model or strategy.runs_stored_code or strategy.hands_over)
    for other in strategies.STRATEGIES:
        if other is not strategy:
            assert not set(other.formats) & set(strategy.formats), other.name


@pytest.mark.parametrize("name", ["tf1graph.pb", "tf1graph_checkpoint/model-tf1graph.meta"])
def test_the_committed_graph_files_are_named_as_tf1_graphs_and_scanned(name):
    path = fixtures.unpacked(PRODUCER) / name
    found = diagnose.diagnose(path)
    assert not found.ok and found.kind == diagnose.TF1_GRAPH, found
    assert "not a Keras model file" in found.message
    result = scan.scan(path)
    assert result.format == ("frozen_pb" if name.endswith(".pb") else "tf1_checkpoint")
    # The checkpoint's own SaveV2 / RestoreV2 are its saver's: neither is a finding.
    assert not result.has_code and result.notes == ()


def test_a_frozen_graph_that_calls_python_is_a_finding(tmp_path):
    graph = savedmodelpb.messages()["GraphDef"]()
    graph.node.add(name="input", op="Placeholder")
    graph.node.add(name="hook", op="PyFunc", input=["input"])
    path = tmp_path / "model.pb"
    path.write_bytes(graph.SerializeToString())
    found = [(f.kind, f.place, f.detail) for f in scan.scan(path).findings]
    assert found == [("graph_op", "graph/hook", "PyFunc: calls Python")]


def test_other_bytes_named_pb_are_not_taken_for_a_graph(tmp_path):
    path = tmp_path / "model.pb"
    path.write_bytes(np.random.RandomState(0).bytes(4096))
    assert diagnose.diagnose(path).kind == "unknown_bytes"


@pytest.mark.envs
def test_tf1_graph_serves_facenets_tf1_files_under_keras3_on_tf221(tmp_path):
    output = tmp_path / "tf221.json"
    runner.open_run("tf221", [PRODUCER], fixture_ids=list(TF1_FIXTURES), output=output, log=lambda *_: None).execute()
    attempts = {(a["fixture"], a["strategy"]): a for a in results.read(output)["attempts"]}
    # The producer's own numbers, read here: what its frozen graph computed on the reference batch.
    reference = _reference(PRODUCER, "tf1graph")
    limit = 1e-4 * max(1.0, float(np.max(np.abs(reference))))
    for fixture, fmt in TF1_FIXTURES.items():
        attempt = attempts[fixture, "tf1_graph"]
        assert attempt["verdict"] == "pass", attempt
        assert attempt["max_abs_diff"] <= limit and attempt["cosine"] >= 0.99999
        assert "tf.compat.v1" in attempt["recipe"] and 'session.run("embeddings:0", feed)' in attempt["recipe"]
        for strategy in strategies.STRATEGIES:
            if strategy.name != "tf1_graph":
                other = attempts[fixture, strategy.name]
                assert other["verdict"] == "not_applicable", other
                assert other["reason"] == f"{strategy.name} does not read {fmt} files"
