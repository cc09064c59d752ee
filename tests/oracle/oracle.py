"""Load each file of a corpus folder the plainest way this stack offers; compare with its reference.

Run from an unpacked corpus folder (manifest.json, reference/, the model files) with the
consumer environment's own interpreter, isolated from everything else::

    cd CORPUS && /path/to/env/bin/python -I /path/to/oracle.py [ID ...]

It prints one JSON line per model file, as soon as that file is done:
``{"id", "file", "loader", "verdict": "pass" | "mismatch" | "error", "error_type", "message",
"max_diff", "loaders"}``: the plainest loader's outcome, and under ``loaders`` the outcome of
every plain loader this stack has for such a file (a SavedModel folder: ``load_model`` and
the serving signature; the others: their one loader), each judged the same way. It is the
truth the project's own loaders are checked against, so it imports nothing of the project:
only numpy and the Keras / TensorFlow it finds.

The plainest way, as a user of this stack would load the file:
- a SavedModel folder: with Keras 3, ``keras.layers.TFSMLayer(path, call_endpoint="serving_default")``
  (what Keras 3's ``load_model`` tells users of a SavedModel to do); with Keras 2,
  ``load_model(path)`` when the folder has ``keras_metadata.pb``, otherwise
  ``tf.saved_model.load(path).signatures["serving_default"]``;
- ``.json``: ``model_from_json`` then ``load_weights`` of the weights file beside it;
- anything else (``.h5``, ``.keras``, weights-only files): ``load_model(path)``. A
  weights-only file has no architecture, so what load_model says about it is its verdict.
"""

import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

RELATIVE_TOLERANCE = 1e-4
MESSAGE_LIMIT = 300


def find_keras():
    """``(keras module, major version)``: Keras 3 when installed, else the Keras inside TF."""
    try:
        import keras

        major = int(str(keras.__version__).split(".")[0])
        if major >= 3:
            return keras, major
    except ImportError:
        pass
    import tensorflow as tf

    return tf.keras, 2


KERAS, KERAS_MAJOR = find_keras()


class Mismatch(Exception):
    """The file loaded and ran, but its outputs are not the reference's."""


ANSI = re.compile("\x1b\\[[0-9;]*m")
# Keras 3 wraps an error raised in a layer's call in a first line naming only the layer.
KERAS_WRAPPER = "Exception encountered when calling"


def first_line(exc):
    """The first line of the error's message; under Keras 3's wrapper line, the wrapped error's."""
    lines = [ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > 1 and lines[0].startswith(KERAS_WRAPPER):
        return (lines[0] + " " + lines[1])[:MESSAGE_LIMIT]
    return (lines[0] if lines else "")[:MESSAGE_LIMIT]


def reference_of(model):
    with np.load(model["reference"]) as data:
        inputs = {key[len("input:") :]: data[key] for key in data.files if key.startswith("input:")}
        outputs = {key[len("output:") :]: data[key] for key in data.files if key.startswith("output:")}
    return inputs, outputs


def keras_call(model, inputs):
    """``model.predict`` on the named inputs (a dict when there are several); outputs by name."""
    feed = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    raw = model.predict(feed, verbose=0)
    if isinstance(raw, dict):
        return dict(raw)
    if not isinstance(raw, (list, tuple)):
        raw = [raw]
    return dict(zip(model.output_names, raw, strict=False))


def signature_call(function, inputs):
    """A serving signature called with its own argument names (keyword arguments only)."""
    import tensorflow as tf

    specs = function.structured_input_signature[1]
    if len(specs) == 1 and len(inputs) == 1:
        ((name, spec),) = specs.items()
        feed = {name: tf.constant(next(iter(inputs.values())), dtype=spec.dtype)}
    else:
        feed = {name: tf.constant(inputs[name], dtype=spec.dtype) for name, spec in specs.items()}
    return {name: value.numpy() for name, value in function(**feed).items()}


def tfsm_call(path, inputs):
    layer = KERAS.layers.TFSMLayer(path, call_endpoint="serving_default")
    feed = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    raw = layer(feed)
    if not isinstance(raw, dict):
        raw = {"output": raw}
    return {name: np.asarray(value) for name, value in raw.items()}


TFSM = "keras.layers.TFSMLayer(serving_default)"
LOAD_MODEL = "load_model"
SIGNATURE = "tf.saved_model.load + serving_default"
FROM_JSON = "model_from_json + load_weights"


def loader_for(path):
    """Which plain loader a user of this stack reaches for, from what the file is."""
    if os.path.isdir(path):
        if KERAS_MAJOR >= 3:
            return TFSM
        return LOAD_MODEL if os.path.exists(os.path.join(path, "keras_metadata.pb")) else SIGNATURE
    return FROM_JSON if path.endswith(".json") else LOAD_MODEL


def loaders_for(path):
    """Every plain loader of this stack for such a file, the plainest first."""
    if os.path.isdir(path):
        return [loader_for(path)] + [
            other for other in (LOAD_MODEL, TFSM if KERAS_MAJOR >= 3 else SIGNATURE) if other != loader_for(path)
        ]
    return [loader_for(path)]


def load_and_run(loader, model, inputs):
    """``{output name: array}`` of one corpus entry loaded with ``loader``."""
    path = model["path"]
    if loader == TFSM:
        return tfsm_call(path, inputs)
    if loader == SIGNATURE:
        import tensorflow as tf

        return signature_call(tf.saved_model.load(path).signatures["serving_default"], inputs)
    if loader == FROM_JSON:
        with open(path) as handle:
            loaded = KERAS.models.model_from_json(handle.read())
        loaded.load_weights(model["weights"])
        return keras_call(loaded, inputs)
    return keras_call(KERAS.models.load_model(path), inputs)


def compare(outputs, reference):
    """The largest |difference| over every reference output; Mismatch when any is off."""
    if len(reference) == 1 and len(outputs) == 1:
        pairs = [(next(iter(reference)), next(iter(outputs.values())))]
    else:
        missing = sorted(set(reference) - set(outputs))
        if missing:
            raise Mismatch(f"outputs {missing} not among the model's {sorted(outputs)}")
        pairs = [(name, outputs[name]) for name in sorted(reference)]
    worst, failed = 0.0, []
    for name, got in pairs:
        expected = reference[name]
        got = np.asarray(got)
        if got.shape != expected.shape:
            raise Mismatch(f"output {name}: shape {got.shape} where the reference has {expected.shape}")
        diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
        worst = max(worst, diff)
        if not diff <= RELATIVE_TOLERANCE * max(1.0, float(np.max(np.abs(expected)))):
            failed.append(f"{name} (max |diff| {diff:.3g})")
    if failed:
        raise Mismatch("outputs differ from the reference: " + ", ".join(failed))
    return worst


def judge_with(model, loader):
    line = {"verdict": "pass", "error_type": None, "message": None, "max_diff": None}
    try:
        inputs, reference = reference_of(model)
        outputs = load_and_run(loader, model, inputs)
        line["max_diff"] = compare(outputs, reference)
    except Mismatch as exc:
        line.update(verdict="mismatch", message=first_line(exc))
    except Exception as exc:  # noqa: BLE001 - every failure to load or run is this file's verdict
        line.update(verdict="error", error_type=type(exc).__name__, message=first_line(exc))
    KERAS.backend.clear_session()  # each load starts from a fresh Keras state, as in its own program
    return line


def judge(model):
    outcomes = {loader: judge_with(model, loader) for loader in loaders_for(model["path"])}
    line = {"id": model["id"], "file": model["path"], "loader": loader_for(model["path"])}
    line.update(outcomes[line["loader"]])
    line["loaders"] = outcomes
    return line


def main(argv):
    with open("manifest.json") as handle:
        manifest = json.load(handle)
    wanted = set(argv)
    for model in manifest["models"]:
        if wanted and model["id"] not in wanted:
            continue
        print(json.dumps(judge(model), sort_keys=True), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
