"""The user-file commands on models that are not FaceNet, judged against the independent oracle.

The foreign corpus (multi-input, dict outputs, token ids, a long 1-D input, a nested model, a
``tf.saved_model.save`` export, a Keras 2 SavedModel without ``keras_metadata.pb``, weights-only
files), every producer's, goes through the commands as a user runs them: ``compat regress
--models`` over the whole folder, ``compat probe --write-loader`` and ``compat convert`` on a
file of each kind. What they say must be what ``tests/oracle/oracle.py`` saw when it loaded
each file the plain way in the same environment, with nothing of this project imported.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, compat_in
from test_corpus import PRODUCERS, SET, manifest

from compat.harness import corpus

pytestmark = pytest.mark.envs

# The oracle's plain loaders and the strategy of the project's that does the same thing.
STRATEGY_OF = {
    "load_model": "load_model",
    "model_from_json + load_weights": "json_plain",
    "tf.saved_model.load + serving_default": "savedmodel_inference",
    "keras.layers.TFSMLayer(serving_default)": "savedmodel_inference",
}
ORDER = ("load_model", "savedmodel_inference", "json_plain")
"""The registry order of those strategies: the first that passes is the one a gate keeps."""
FACENET_WORDS = re.compile(r"160|face crops|facenet_arch|prewhiten", re.IGNORECASE)
# One file of each kind (a producer, a model id), for the commands that take one file at a time.
ONE_OF_EACH = [
    ("tf215", "text_lstm-h5"),
    ("tf215", "dict_output-keras"),
    ("tf215", "multi_input-savedmodel_nometa"),
    ("tf215", "scorer_module-tf_saved_model"),
    ("tf215", "nested-json"),
    ("tf24", "conv1d_long-savedmodel"),
    ("keras212", "dict_output-h5"),
    ("keras315jax", "multi_input-keras"),
]


def _by_strategy(oracle_line: dict) -> dict:
    """The oracle's outcomes under the names of the project's strategies."""
    return {STRATEGY_OF[loader]: outcome for loader, outcome in oracle_line["loaders"].items()}


def _model(producer: str, model_id: str) -> dict:
    return next(m for m in manifest(producer)["models"] if m["id"] == model_id)


def _normal(message: str | None) -> str:
    """An error's message without the folders of the paths it names (the oracle runs beside the
    file, the sandbox sees it under /input/N/)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", message or "")
    return re.sub(r"(?<![\w.])/?(?:[\w.-]+/)+(?=[\w.-])", "", text)[:60]


def _agrees(attempt: dict, oracle: dict) -> str | None:
    """Why a project's attempt disagrees with the oracle's plain load, or None."""
    if oracle["verdict"] == "pass":
        return None if attempt["verdict"] == "pass" else f"oracle passes, project says {attempt['verdict']}"
    if oracle["verdict"] == "mismatch":
        return None if attempt["verdict"] == "mismatch" else f"oracle mismatch, project says {attempt['verdict']}"
    error = attempt.get("error") or {}
    if attempt["verdict"] != "error":
        return f"oracle error {oracle['error_type']}, project says {attempt['verdict']}"
    if error.get("type") != oracle["error_type"] or _normal(error.get("message")) != _normal(oracle["message"]):
        return (
            f"oracle {oracle['error_type']}: {_normal(oracle['message'])!r}; project {error.get('type')}: "
            f"{_normal(error.get('message'))!r}"
        )
    return None


# -- the gate over every producer's corpus --------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_models(tmp_path_factory) -> Path:
    """A user's models/ folder: every producer's corpus files, one folder per producer."""
    folder = tmp_path_factory.mktemp("models")
    for producer in PRODUCERS:
        source = corpus.unpacked(SET, producer)
        (folder / producer).mkdir()
        for model in manifest(producer)["models"]:
            for name in {model["path"], model.get("weights")} - {None}:
                target = folder / producer / name
                if target.exists():
                    continue
                if (source / name).is_dir():
                    shutil.copytree(source / name, target)
                else:
                    shutil.copyfile(source / name, target)
    return folder


@pytest.fixture(scope="module")
def gate_document(corpus_models, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gate") / "gate.json"
    done = compat_in(
        ROOT,
        "regress",
        "--from",
        "tf215",
        "--to",
        "tf221",
        "--models",
        str(corpus_models),
        "--json",
        str(out),
        timeout=3600,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return json.loads(out.read_text())


def _entries(document: dict, folder: Path) -> dict:
    """``{(producer, model id): gate entry}`` by the file each entry names."""
    ids = {(producer, model["path"]): model["id"] for producer in PRODUCERS for model in manifest(producer)["models"]}
    found = {}
    for entry in document["models"]:
        producer, name = Path(entry["path"]).relative_to(folder).parts
        found[(producer, ids[(producer, name)])] = entry
    return found


def test_the_gate_fails_exactly_the_files_the_oracle_says_regress(gate_document, corpus_models, corpus_oracle_verdicts):
    entries = _entries(gate_document, corpus_models)
    wrong = []
    for (producer, model_id), entry in entries.items():
        old = _by_strategy(corpus_oracle_verdicts[("tf215", producer, model_id)])
        new = _by_strategy(corpus_oracle_verdicts[("tf221", producer, model_id)])
        today = next((s for s in ORDER if old.get(s, {}).get("verdict") == "pass"), None)
        regresses = today is not None and (
            new.get(today, {}).get("verdict") != "pass"
            or any(old[s]["verdict"] == "pass" and new.get(s, {}).get("verdict") == "mismatch" for s in old)
        )
        if entry["regressed"] != regresses or (today and entry["old_best"] != today):
            wrong.append(
                f"{producer}/{model_id}: gate {entry['change']} (today {entry['old_best']}), "
                f"oracle: today {today}, regresses {regresses}"
            )
    assert not wrong, "\n".join(wrong)
    # A weights-only file is gated as the weights of the JSON architecture beside it, else said
    # once (not a model); every other file is gated.
    weights_only, companions = set(), set()
    for producer in PRODUCERS:
        models = manifest(producer)["models"]
        beside_json = {m["weights"] for m in models if m["format"] == "json"}
        for m in models:
            if m["format"] in ("h5_weights", "weights_h5"):
                (companions if m["path"] in beside_json else weights_only).add((producer, m["id"]))
    assert set(entries) | weights_only | companions == {(p, m["id"]) for p in PRODUCERS for m in manifest(p)["models"]}
    said = {Path(item["path"]).relative_to(corpus_models).parts for item in gate_document["diagnosed"]}
    assert said == {(p, next(m["path"] for m in manifest(p)["models"] if m["id"] == i)) for p, i in weights_only}


def test_every_gate_verdict_is_the_oracles(gate_document, corpus_models, corpus_oracle_verdicts):
    wrong = []
    for (producer, model_id), entry in _entries(gate_document, corpus_models).items():
        for side, consumer in (("from", "tf215"), ("to", "tf221")):
            attempts = {a["strategy"]: a for a in entry["attempts"][side]}
            for strategy, oracle in _by_strategy(corpus_oracle_verdicts[(consumer, producer, model_id)]).items():
                why = _agrees(attempts[strategy], oracle)
                if why:
                    wrong.append(f"{producer}/{model_id} {strategy} under {consumer}: {why}")
    assert not wrong, "\n".join(wrong)


def test_no_recipe_for_these_files_speaks_of_facenet(gate_document):
    for entry in gate_document["models"]:
        for side in ("from", "to"):
            for attempt in entry["attempts"][side]:
                assert not FACENET_WORDS.search(attempt.get("recipe") or ""), (entry["path"], attempt["strategy"])


# -- the probe and its written loaders, one file of each kind -------------------------------------


def _batch_and_reference(producer: str, model: dict, folder: Path) -> tuple[Path, Path]:
    arrays = corpus.read_reference(corpus.set_dir(SET, producer), model)
    inputs = {k[len("input:") :]: v for k, v in arrays.items() if k.startswith("input:")}
    outputs = {k[len("output:") :]: v for k, v in arrays.items() if k.startswith("output:")}
    np.savez(folder / "input.npz", **inputs)
    np.savez(folder / "reference.npz", **outputs)
    return folder / "input.npz", folder / "reference.npz"


def _every_file(chosen) -> list:
    """Every whole-model file of every producer: those in ``chosen`` as they are, the rest
    marked slow (the full sweep: ``pytest -m slow tests/userfiles/test_userfiles_corpus.py``)."""
    found = []
    for producer in PRODUCERS:
        for model in manifest(producer)["models"]:
            if model["format"] in ("h5_weights", "weights_h5"):
                continue
            key = (producer, model["id"])
            found.append(key if key in chosen else pytest.param(*key, marks=pytest.mark.slow))
    return found


@pytest.mark.parametrize("producer, model_id", _every_file(ONE_OF_EACH))
def test_the_probe_agrees_with_the_oracle_and_its_loaders_reproduce_the_reference(
    producer, model_id, tmp_path, corpus_oracle_verdicts
):
    model = _model(producer, model_id)
    path = corpus.unpacked(SET, producer) / model["path"]
    batch, reference = _batch_and_reference(producer, model, tmp_path)
    out = tmp_path / "probe.json"
    done = compat_in(
        ROOT,
        "probe",
        str(path),
        "--loaders",
        "tf215,tf221",
        "--input",
        str(batch),
        "--reference",
        str(reference),
        "--write-loader",
        str(tmp_path / "loaders"),
        "--json",
        str(out),
    )
    # exit 0: every script written was run standalone (python -I, from its folder) and reproduced
    # the producer's reference for every output
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[!]" not in done.stdout and "Traceback" not in done.stderr
    document = json.loads(out.read_text())
    wrong = []
    for env in document["environments"]:
        attempts = {a["strategy"]: a for a in env["attempts"]}
        for strategy, oracle in _by_strategy(corpus_oracle_verdicts[(env["id"], producer, model_id)]).items():
            why = _agrees(attempts[strategy], oracle)
            if why:
                wrong.append(f"{strategy} under {env['id']}: {why}")
        loads_somewhere = any(a["verdict"] == "pass" for a in env["attempts"])
        assert bool(env["loader"]["path"]) == loads_somewhere, env["loader"]
    assert not wrong, "\n".join(wrong)
    for script in (tmp_path / "loaders").glob("*.py"):
        assert not FACENET_WORDS.search(script.read_text()), script
    assert not (tmp_path / "loaders" / "facenet_arch.py").exists()


# -- convert to Keras 3 -----------------------------------------------------------------------------

CONVERTED = [("tf215", "dict_output-h5"), ("keras212", "multi_input-h5"), ("tf215", "scorer_module-tf_saved_model")]


@pytest.mark.parametrize("producer, model_id", _every_file(CONVERTED))
def test_convert_to_tf221_proves_what_keras3_holds_and_says_why_not_in_one_line(
    producer, model_id, tmp_path, corpus_oracle_verdicts
):
    model = _model(producer, model_id)
    path = corpus.unpacked(SET, producer) / model["path"]
    batch, reference = _batch_and_reference(producer, model, tmp_path)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "converted.keras"
    done = compat_in(
        ROOT,
        "convert",
        str(path),
        "--to",
        "tf221",
        "-o",
        str(target),
        "--input",
        str(batch),
        "--reference",
        str(reference),
    )
    assert "Traceback" not in done.stderr
    if done.returncode == 0:
        assert "proof on TensorFlow: passed" in done.stdout and target.exists()
        assert not FACENET_WORDS.search((tmp_path / "out" / "load_converted.py").read_text())
    else:
        assert done.returncode == 3, done.stderr[-1000:]
        assert done.stderr.strip().splitlines()[-1].startswith("compat convert: error: ")
    # What Keras 3 loads plainly it can hold; a file that is no Keras model anywhere (a tf.Module
    # export) it cannot. The rest (held only through tf_keras) may go either way, said in one line.
    plain = corpus_oracle_verdicts[("tf221", producer, model_id)]["loaders"].get("load_model", {})
    if plain.get("verdict") == "pass":
        assert done.returncode == 0, done.stderr[-1000:]
    if model_id.startswith("scorer_module"):
        assert done.returncode == 3, done.stderr[-1000:]
