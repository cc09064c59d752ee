"""The foreign corpus: consistent with its references, and judged by the independent oracle.

The oracle (``tests/oracle/oracle.py``) imports nothing of the project; it loads each corpus
file the plainest way a consumer's stack offers and compares with the producer's numbers.
Its verdicts (``corpus_oracle_verdicts`` in conftest.py) are the truth the project's own
probe, gate and convert are compared against.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from compat import catalog
from compat.environments import envs
from compat.harness import corpus, fixtures
from compat.paths import cache_root

SET = "foreign"
PRODUCERS = ("keras212", "tf24", "tf215", "tf221", "keras315jax")
ORACLE_CONSUMERS = ("tf215", "tf221")
ORACLE = Path(__file__).resolve().parents[1] / "oracle" / "oracle.py"
VERDICTS = ("pass", "mismatch", "error")
KERAS_MODELS = ("multi_input", "dict_output", "text_lstm", "conv1d_long", "nested")
WEIGHTS_ONLY = ("h5_weights", "weights_h5")
# What a Keras writes as a whole model and reads back with its own plain loader.
ROUND_TRIP_FORMATS = ("h5", "json", "keras", "savedmodel")
CORPUS_BUDGET = 3 * 1024 * 1024
TOKEN_MODEL = "text_lstm"


def manifest(producer: str) -> dict:
    return corpus.load_manifest(SET, producer)


def reference(producer: str, model: dict) -> dict[str, np.ndarray]:
    return corpus.read_reference(corpus.set_dir(SET, producer), model)


# -- the oracle ------------------------------------------------------------------------------
def _oracle_process_env(consumer: catalog.Environment) -> dict:
    """Only what a user's shell would have, plus the stack's own switches (KERAS_BACKEND...)."""
    child = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    child.update({"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    child.update(dict(consumer.env_vars))
    return child


def _run_oracle(python: Path, folder: Path, consumer: catalog.Environment, ids: list[str]) -> tuple[dict, str]:
    done = subprocess.run(
        [str(python), "-I", str(ORACLE), *ids],
        cwd=str(folder),
        env=_oracle_process_env(consumer),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = {}
    for text in done.stdout.splitlines():
        if text.startswith("{"):
            line = json.loads(text)
            lines[line["id"]] = line
    return lines, f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}"


def oracle_lines(consumer_id: str, producer: str) -> dict[str, dict]:
    """``{model id: oracle line}`` for one producer's set under one consumer.

    One oracle process runs the whole set; a file that kills it (a crash in native code) is
    run again alone, and one that kills that process too gets an ``error`` line saying so.
    """
    consumer = catalog.get(consumer_id)
    python = envs.ensure_built(consumer)
    folder = corpus.unpacked(SET, producer)
    ids = [model["id"] for model in json.loads((folder / "manifest.json").read_text())["models"]]
    lines, _ = _run_oracle(python, folder, consumer, [])
    for model_id in [i for i in ids if i not in lines]:
        alone, how = _run_oracle(python, folder, consumer, [model_id])
        lines[model_id] = alone.get(model_id) or {
            "id": model_id,
            "file": None,
            "loader": None,
            "verdict": "error",
            "error_type": "ProcessDied",
            "message": f"the oracle process died on this file ({how})",
            "max_diff": None,
        }
    return lines


def oracle_verdicts() -> dict[tuple[str, str, str], dict]:
    """``{(consumer, producer, model id): oracle line}`` over every producer's foreign set."""
    return {
        (consumer, producer, model_id): line
        for consumer in ORACLE_CONSUMERS
        for producer in PRODUCERS
        for model_id, line in oracle_lines(consumer, producer).items()
    }


def verdict_table(verdicts: dict) -> str:
    """The oracle's table as Markdown: one row per producer's file, one column per consumer."""
    rows = sorted({(producer, model_id) for _, producer, model_id in verdicts})
    out = ["| producer | model | " + " | ".join(ORACLE_CONSUMERS) + " |", "|---|---|" + "---|" * len(ORACLE_CONSUMERS)]
    for producer, model_id in rows:
        cells = []
        for consumer in ORACLE_CONSUMERS:
            line = verdicts.get((consumer, producer, model_id))
            if line is None:
                cells.append("")
            elif line["verdict"] == "error":
                cells.append(f"error: {line['error_type']}: {(line['message'] or '')[:90]}")
            else:
                cells.append(line["verdict"] if line["verdict"] == "pass" else f"mismatch: {line['message'][:90]}")
        out.append(f"| {producer} | {model_id} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


@pytest.mark.envs
def test_the_oracle_judges_every_file_of_every_producer(corpus_oracle_verdicts):
    for producer in PRODUCERS:
        models = {model["id"]: model for model in manifest(producer)["models"]}
        for consumer in ORACLE_CONSUMERS:
            judged = {model_id for (c, p, model_id) in corpus_oracle_verdicts if (c, p) == (consumer, producer)}
            assert judged == set(models), f"{consumer} over {producer}: {sorted(judged ^ set(models))}"
    for (consumer, producer, model_id), line in corpus_oracle_verdicts.items():
        where = f"{model_id} of {producer} under {consumer}"
        assert line["verdict"] in VERDICTS, where
        assert line["error_type"] != "ProcessDied", f"{where}: {line['message']}"
        if line["verdict"] == "error":
            assert line["error_type"] and line["message"] is not None, where
        if line["verdict"] == "pass":
            assert line["max_diff"] is not None, where
    table = cache_root() / "corpus" / f"{SET}-oracle.md"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(verdict_table(corpus_oracle_verdicts))
    print(f"\n{verdict_table(corpus_oracle_verdicts)}(also in {table})")


@pytest.mark.envs
def test_a_stack_reads_back_the_whole_models_it_wrote(corpus_oracle_verdicts):
    # Same stack, its own whole-model formats, its own plain loader: anything but a pass means
    # the producer's reference, the packing or the oracle is wrong, not the stack.
    for consumer in ORACLE_CONSUMERS:
        for model in manifest(consumer)["models"]:
            if model["format"] in ROUND_TRIP_FORMATS:
                line = corpus_oracle_verdicts[(consumer, consumer, model["id"])]
                assert line["verdict"] == "pass", f"{model['id']} under its own producer {consumer}: {line}"


@pytest.mark.envs
def test_a_weights_only_file_never_passes_as_a_model(corpus_oracle_verdicts):
    # It holds no architecture: a pass would mean the oracle read some other file.
    weights_only = [
        (key, line) for key, line in corpus_oracle_verdicts.items() if key[2].rsplit("-", 1)[1] in WEIGHTS_ONLY
    ]
    assert weights_only
    for key, line in weights_only:
        assert line["verdict"] != "pass", key


@pytest.mark.envs
def test_the_oracle_reports_changed_numbers_as_a_mismatch(tmp_path):
    # The oracle must be able to say no: the same files against references it was not made with.
    import shutil

    folder = tmp_path / "tf221"
    shutil.copytree(corpus.unpacked(SET, "tf221"), folder)
    path = folder / "reference" / "multi_input-keras.npz"
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["output:prediction"] = arrays["output:prediction"] + 0.01
    np.savez(path, **arrays)
    path = folder / "reference" / "dict_output-keras.npz"
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["output:score"], arrays["output:probs"] = arrays["output:probs"], arrays["output:score"]
    np.savez(path, **arrays)
    consumer = catalog.get("tf221")
    lines, how = _run_oracle(
        envs.ensure_built(consumer), folder, consumer, ["multi_input-keras", "dict_output-keras", "nested-keras"]
    )
    assert {i: line["verdict"] for i, line in lines.items()} == {
        "multi_input-keras": "mismatch",
        "dict_output-keras": "mismatch",
        "nested-keras": "pass",
    }, how


def test_the_oracle_imports_nothing_of_the_project():
    import ast

    tree = ast.parse(ORACLE.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"json", "os", "re", "sys", "numpy", "keras", "tensorflow"}, imported


# -- the committed sets, without TensorFlow --------------------------------------------------
@pytest.mark.parametrize("producer", PRODUCERS)
def test_manifest_and_references_agree(producer):
    found = manifest(producer)
    assert found["set"] == SET and found["producer"] == producer
    for key in ("python", "keras", "numpy"):
        assert found["versions"][key], key
    ids = [m["id"] for m in found["models"]] + [s["id"] for s in found["skipped"]]
    assert len(ids) == len(set(ids)), "an id used twice"
    assert all(s["reason"] for s in found["skipped"])
    assert {m["id"].split("-")[0] for m in found["models"]} >= set(KERAS_MODELS)
    for model in found["models"]:
        arrays = reference(producer, model)
        expected_keys = {"input:" + s["name"] for s in model["inputs"]} | {
            "output:" + s["name"] for s in model["outputs"]
        }
        assert set(arrays) == expected_keys, model["id"]
        batch = {value.shape[0] for value in arrays.values()}
        assert len(batch) == 1, f"{model['id']}: inputs and outputs disagree on the batch size"
        for spec in model["inputs"]:
            value = arrays["input:" + spec["name"]]
            assert str(value.dtype) == spec["dtype"], (model["id"], spec)
            assert list(value.shape[1:]) == spec["shape"][1:], (model["id"], spec)
        for spec in model["outputs"]:
            value = arrays["output:" + spec["name"]]
            assert list(value.shape[1:]) == spec["shape"][1:], (model["id"], spec)
            assert np.all(np.isfinite(value)), (model["id"], spec)
        assert model["path"] in {f["path"] for f in model["files"]} or any(
            f["path"].startswith(model["path"] + "/") for f in model["files"]
        ), model["id"]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_the_archive_holds_every_file_with_its_size(producer):
    with tarfile.open(corpus.set_dir(SET, producer) / fixtures.ARCHIVE, mode="r:xz") as tar:
        sizes = {member.name: member.size for member in tar.getmembers()}
    listed = {f["path"]: f["bytes"] for f in corpus.model_files(manifest(producer))}
    assert sizes == listed


def test_unpacking_checks_the_digests(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("COMPAT_CACHE_DIR", str(tmp_path / "cache"))
    folder = corpus.unpacked(SET, "tf215")
    for entry in corpus.model_files(manifest("tf215")):
        assert (folder / entry["path"]).stat().st_size == entry["bytes"]
    committed = corpus.set_dir(SET, "tf215")
    monkeypatch.setattr(corpus, "CORPUS_DIR", tmp_path / "tampered")
    shutil.copytree(committed, corpus.set_dir(SET, "tf215"))
    manifest_path = corpus.set_dir(SET, "tf215") / "manifest.json"
    tampered = json.loads(manifest_path.read_text())
    tampered["models"][0]["files"][0]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(tampered))
    monkeypatch.setenv("COMPAT_CACHE_DIR", str(tmp_path / "second-cache"))
    with pytest.raises(fixtures.FixtureError, match="sha256"):
        corpus.unpacked(SET, "tf215")


def test_an_unknown_set_is_bad_input_before_any_environment_starts(capsys):
    from compat import cli

    assert cli.main(["gen", "tf221", "--corpus", "no_such_set"]) == 2
    assert "the sets are: code, foreign, reported" in capsys.readouterr().err


def _write_set(folder: Path, outputs: dict[str, np.ndarray], tokens: np.ndarray) -> dict:
    (folder / "reference").mkdir(parents=True)
    np.savez(
        folder / "reference" / "m-h5.npz",
        **{"input:tokens": tokens},
        **{f"output:{name}": value for name, value in outputs.items()},
    )
    return {
        "models": [
            {
                "id": "m-h5",
                "reference": "reference/m-h5.npz",
                "files": [{"path": "m.h5", "bytes": 1, "sha256": "a" * 64}],
            }
        ],
        "skipped": [],
    }


def test_the_check_catches_changed_numbers_inputs_and_lists(tmp_path):
    tokens = np.arange(12, dtype=np.int32).reshape(1, 12)
    score = np.array([[0.25, 0.75]], np.float32)
    committed = _write_set(tmp_path / "a", {"score": score}, tokens)
    same = _write_set(tmp_path / "b", {"score": score + 1e-8}, tokens)
    assert corpus.compare(tmp_path / "a", committed, tmp_path / "b", same, log=lambda *_: None) == []
    drifted = _write_set(tmp_path / "c", {"score": score + 1e-3}, tokens)
    assert "outputs differ" in " ".join(
        corpus.compare(tmp_path / "a", committed, tmp_path / "c", drifted, log=lambda *_: None)
    )
    other_input = _write_set(tmp_path / "d", {"score": score}, tokens[:, ::-1].copy())
    assert "input differs" in " ".join(
        corpus.compare(tmp_path / "a", committed, tmp_path / "d", other_input, log=lambda *_: None)
    )
    fewer = dict(committed, models=[], skipped=[{"id": "m-h5", "reason": "gone"}])
    problems = corpus.compare(tmp_path / "a", committed, tmp_path / "a", fewer, log=lambda *_: None)
    assert any("model lists differ" in p for p in problems) and any("skipped lists differ" in p for p in problems)


def test_the_corpus_stays_small():
    total = fixtures.tree_bytes(corpus.CORPUS_DIR)
    assert total < CORPUS_BUDGET, f"fixtures/corpus holds {total / 1e6:.2f} MB"


def test_producers_agree_where_the_architecture_is_the_same():
    # Weights seeded by layer name: every producer's whole-model .h5 computes one function on
    # the same seeded inputs, so a producer whose numbers drift is caught here.
    for name in KERAS_MODELS:
        first = None
        for producer in PRODUCERS:
            model = next(m for m in manifest(producer)["models"] if m["id"] == f"{name}-h5")
            arrays = reference(producer, model)
            first = first or (producer, arrays)
            for key, value in arrays.items():
                if key.startswith("input:"):
                    assert np.array_equal(value, first[1][key]), (name, producer, key)
                else:
                    scale = max(1.0, float(np.max(np.abs(first[1][key]))))
                    assert np.max(np.abs(value - first[1][key])) <= 1e-5 * scale, (name, producer, first[0], key)


@pytest.mark.parametrize("producer", PRODUCERS)
def test_every_format_of_a_model_has_the_same_numbers(producer):
    # Each reference is computed right after its own save: a writer that changed the model
    # in memory would leave the formats saved after it with other numbers.
    by_model: dict[str, list[dict]] = {}
    for model in manifest(producer)["models"]:
        by_model.setdefault(model["id"].split("-")[0], []).append(model)
    for models in by_model.values():
        first = reference(producer, models[0])
        for model in models[1:]:
            arrays = reference(producer, model)
            assert set(arrays) == set(first), model["id"]
            for key, value in arrays.items():
                assert np.array_equal(value, first[key]), (model["id"], models[0]["id"], key)


@pytest.mark.parametrize("producer", PRODUCERS)
def test_outputs_of_one_model_are_distinct(producer):
    # A loader that hands back one output under every name, or a constant, must not pass.
    multi = [m for m in manifest(producer)["models"] if len(m["outputs"]) > 1]
    assert multi, "the set needs a model with several outputs"
    for model in multi:
        outputs = {k: v for k, v in reference(producer, model).items() if k.startswith("output:")}
        for key, value in outputs.items():
            assert np.ptp(value, axis=0).max() > 1e-3, f"{model['id']} {key} is the same for every input"
        names = sorted(outputs)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                width = min(outputs[a].shape[-1], outputs[b].shape[-1])
                assert not np.allclose(outputs[a][..., :width], outputs[b][..., :width], atol=1e-3), (model["id"], a, b)


def _embedding_input_dim(producer: str, model: dict) -> int:
    """The vocabulary size recorded in the model's own JSON architecture (read from the archive)."""
    json_model = next(
        m for m in manifest(producer)["models"] if m["id"].startswith(TOKEN_MODEL + "-") and m["format"] == "json"
    )
    with tarfile.open(corpus.set_dir(SET, producer) / fixtures.ARCHIVE, mode="r:xz") as tar:
        config = json.load(tar.extractfile(json_model["path"]))
    dims = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") == "Embedding":
                dims.append(node["config"]["input_dim"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    assert len(dims) == 1, dims
    return dims[0]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_token_inputs_are_integers_below_the_vocabulary(producer):
    models = [m for m in manifest(producer)["models"] if m["id"].startswith(TOKEN_MODEL + "-")]
    assert models
    input_dim = _embedding_input_dim(producer, models[0])
    for model in models:
        (spec,) = model["inputs"]
        tokens = reference(producer, model)["input:" + spec["name"]]
        assert np.issubdtype(tokens.dtype, np.integer), model["id"]
        assert tokens.min() >= 0 and tokens.max() < input_dim, model["id"]
        assert len(np.unique(tokens)) > input_dim // 4, "the tokens should cover much of the vocabulary"


@pytest.mark.envs
@pytest.mark.parametrize("producer", ["keras212", "tf221"])
def test_corpus_generation_is_deterministic(producer):
    assert corpus.check(catalog.get(producer), SET, log=lambda *_: None) == []
