"""The foreign set: small models that are not FaceNet, each in every format this Keras writes.

Models (a few hundred parameters each, every layer named, weights seeded by layer name so
every producer's model computes the same function where the architecture is the same):

- ``multi_input``: two named inputs, ``features`` (None, 8) and ``extra`` (None, 4);
- ``dict_output``: three named outputs of different shapes, ``score`` (None, 1),
  ``embedding`` (None, 4) and ``probs`` (None, 3); a dict where this Keras builds one;
- ``text_lstm``: integer tokens (None, 12) below 50 through an Embedding and an LSTM;
- ``conv1d_long``: a 1-D convolution over a long signal (None, 4000, 1);
- ``nested``: a Functional encoder and a Sequential stage used as layers of the outer model;
- ``scorer_module``: a ``tf.Module`` (no Keras) saved with ``tf.saved_model.save`` and an
  explicit serving signature, input ``x`` (None, 32).

Formats: the savers' own (``compat.inside.savers``, version gates beside each writer) plus
``savedmodel_nometa`` (a Keras 2 SavedModel without ``keras_metadata.pb``, as when only
``saved_model.pb`` and ``variables/`` are copied) and ``tf_saved_model`` (the tf.Module).
"""

import os
import shutil
import sys
import traceback
import zlib

import numpy as np

from compat.inside import corpus, kerasapi, savers

SEED = 0
BATCH = 3
VOCABULARY = 50
SEQUENCE_LENGTH = 12
SIGNAL_LENGTH = 4000
MODULE_INPUT = 32

KERAS_MODELS = ("multi_input", "dict_output", "text_lstm", "conv1d_long", "nested")
# Weights-only files before the JSON: its writer reuses the weights file already written.
KERAS_FORMATS = ("h5", "h5_weights", "weights_h5", "json", "savedmodel", "savedmodel_nometa", "keras", "export")
FORMAT_NOTES = {
    "h5": "whole model, HDF5 (model.save)",
    "h5_weights": "weights only, legacy HDF5 layout (model.save_weights); the architecture is in {model}.json",
    "weights_h5": "weights only, *.weights.h5 layout; the architecture is in {model}.json",
    "json": "architecture as JSON (model.to_json) + weights file",
    "savedmodel": "Keras SavedModel directory (model.save, save_format='tf')",
    "savedmodel_nometa": "Keras SavedModel with keras_metadata.pb removed after saving, as when only "
    "saved_model.pb and variables/ are copied",
    "keras": ".keras zip (model.save)",
    "export": "inference SavedModel (model.export)",
}


# -- seeded numbers ----------------------------------------------------------------------
def _rng(name, index=0):
    return np.random.RandomState((zlib.crc32(name.encode("utf-8")) + 7919 * index + SEED) % (2**32))


def seeded_array(layer_name, index, shape, weight_name):
    """A weight's values from its layer's name, its position and its kind: the same in every Keras."""
    rng = _rng(layer_name, index)
    shape = tuple(int(d) for d in shape)
    if "variance" in weight_name:
        values = rng.uniform(0.5, 1.5, shape)
    elif "gamma" in weight_name:
        values = 1.0 + rng.normal(0.0, 0.1, shape)
    elif "embeddings" in weight_name:
        values = rng.normal(0.0, 0.5, shape)
    elif len(shape) >= 2:
        values = rng.normal(0.0, np.sqrt(1.0 / int(np.prod(shape[:-1]))), shape)
    else:
        values = rng.normal(0.0, 0.1, shape)
    return values.astype(np.float32)


def _leaf_layers(model):
    k = kerasapi.keras()
    for layer in model.layers:
        if isinstance(layer, k.models.Model):  # a sub-model: seed its own layers by their names
            yield from _leaf_layers(layer)
        else:
            yield layer


def seed_weights(model):
    for layer in _leaf_layers(model):
        if not layer.weights:
            continue
        values = [
            seeded_array(layer.name, index, weight.shape, weight.name) for index, weight in enumerate(layer.weights)
        ]
        layer.set_weights(values)
    return model


def reference_inputs(name, specs):
    """Seeded inputs per model: integers below the vocabulary for tokens, floats otherwise."""
    rng = _rng("input:" + name)
    arrays = {}
    for spec in specs:
        shape = (BATCH,) + tuple(spec["shape"][1:])
        if spec["dtype"].startswith("int"):
            arrays[spec["name"]] = rng.randint(0, VOCABULARY, shape).astype(spec["dtype"])
        else:
            # Sixteenths: exact in float32 and compressible, so the long signal stays small.
            arrays[spec["name"]] = (np.round(rng.normal(0.0, 1.0, shape) * 16) / 16).astype(spec["dtype"])
    return arrays


# -- the models --------------------------------------------------------------------------
def _dict_outputs_supported():
    # Keras 2.1/2.2's functional API takes a list of outputs; tf.keras and Keras 3 take a dict.
    return not (kerasapi.api_name() == "keras" and kerasapi.major() < 3)


def build_multi_input(k):
    layers = k.layers
    features = layers.Input(shape=(8,), name="features")
    extra = layers.Input(shape=(4,), name="extra")
    a = layers.Dense(6, activation="tanh", name="features_dense")(features)
    b = layers.Dense(3, activation="tanh", name="extra_dense")(extra)
    joined = layers.Concatenate(name="joined")([a, b])
    prediction = layers.Dense(2, name="prediction")(joined)
    return k.models.Model([features, extra], prediction, name="multi_input"), "two named inputs"


def build_dict_output(k):
    layers = k.layers
    measurements = layers.Input(shape=(6,), name="measurements")
    shared = layers.Dense(8, activation="relu", name="shared")(measurements)
    score = layers.Dense(1, activation="sigmoid", name="score")(shared)
    embedding = layers.Dense(4, name="embedding")(shared)
    probs = layers.Dense(3, activation="softmax", name="probs")(shared)
    if _dict_outputs_supported():
        outputs, how = {"score": score, "embedding": embedding, "probs": probs}, "outputs as a dict"
    else:
        outputs, how = [score, embedding, probs], "outputs as a list of named layers (this Keras takes no dict)"
    return k.models.Model(measurements, outputs, name="dict_output"), "three named outputs, " + how


def build_text_lstm(k):
    layers = k.layers
    tokens = layers.Input(shape=(SEQUENCE_LENGTH,), dtype="int32", name="tokens")
    embedded = layers.Embedding(VOCABULARY, 8, name="token_embedding")(tokens)
    # recurrent_activation named: Keras 2.1's default (hard_sigmoid) is not tf.keras's (sigmoid).
    state = layers.LSTM(6, recurrent_activation="sigmoid", name="lstm")(embedded)
    sentiment = layers.Dense(2, activation="softmax", name="sentiment")(state)
    return k.models.Model(
        tokens, sentiment, name="text_lstm"
    ), f"integer tokens below {VOCABULARY} through Embedding and LSTM"


def build_conv1d_long(k):
    layers = k.layers
    signal = layers.Input(shape=(SIGNAL_LENGTH, 1), name="signal")
    x = layers.Conv1D(4, 9, strides=4, activation="relu", name="conv_a")(signal)
    x = layers.BatchNormalization(name="conv_a_bn")(x)
    x = layers.MaxPooling1D(4, name="pool_a")(x)
    x = layers.Conv1D(8, 5, strides=2, activation="relu", name="conv_b")(x)
    x = layers.GlobalAveragePooling1D(name="pool_global")(x)
    classes = layers.Dense(3, name="classes")(x)
    return k.models.Model(signal, classes, name="conv1d_long"), f"1-D convolution over a {SIGNAL_LENGTH}-step signal"


def build_nested(k):
    layers = k.layers
    encoder_input = layers.Input(shape=(5,), name="encoder_input")
    hidden = layers.Dense(6, activation="relu", name="encoder_hidden")(encoder_input)
    code = layers.Dense(4, activation="tanh", name="encoder_code")(hidden)
    encoder = k.models.Model(encoder_input, code, name="encoder")
    if kerasapi.is_keras3():
        refine = k.models.Sequential(
            [layers.Input(shape=(4,)), layers.Dense(3, activation="relu", name="refine_dense")], name="refine"
        )
    else:
        refine = k.models.Sequential(
            [layers.Dense(3, activation="relu", input_shape=(4,), name="refine_dense")], name="refine"
        )
    reading = layers.Input(shape=(5,), name="reading")
    head = layers.Dense(2, name="head")(refine(encoder(reading)))
    return k.models.Model(
        reading, head, name="nested"
    ), "a Functional model (encoder) and a Sequential one (refine) as layers"


BUILDERS = {
    "multi_input": build_multi_input,
    "dict_output": build_dict_output,
    "text_lstm": build_text_lstm,
    "conv1d_long": build_conv1d_long,
    "nested": build_nested,
}


def _shape(tensor):
    return [None if d is None else int(d) for d in kerasapi.int_shape(tensor)]


def _dtype(tensor):
    dtype = tensor.dtype
    return getattr(dtype, "name", None) or str(dtype)


def _output_tensors(model):
    """``[(name, tensor)]`` in the order ``model.outputs`` lists them (a dict output's keys sorted)."""
    return list(zip(model.output_names, model.outputs))


def describe(model):
    inputs = [
        {"name": tensor_name, "shape": _shape(t), "dtype": _dtype(t)}
        for tensor_name, t in zip(_input_names(model), model.inputs)
    ]
    outputs = [{"name": name, "shape": _shape(t)} for name, t in _output_tensors(model)]
    return inputs, outputs


def _input_names(model):
    names = getattr(model, "input_names", None)
    if names:
        return list(names)
    return [t.name.split(":")[0] for t in model.inputs]  # Keras 3: the Input's own name


def predict(model, inputs, specs):
    batch = [inputs[spec["name"]] for spec in specs]
    raw = model.predict(batch if len(batch) > 1 else batch[0], batch_size=BATCH, verbose=0)
    names = [name for name, _ in _output_tensors(model)]
    if isinstance(raw, dict):
        return {name: np.asarray(value) for name, value in raw.items()}
    if not isinstance(raw, (list, tuple)):
        raw = [raw]
    return {name: np.asarray(value) for name, value in zip(names, raw)}


# -- writers beyond the savers' ------------------------------------------------------------
def savedmodel_metadata_note(path):
    """Where this SavedModel keeps its Keras metadata, read from the files themselves."""
    has_file = os.path.exists(os.path.join(path, "keras_metadata.pb"))
    try:
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as handle:
            saved.ParseFromString(handle.read())
        nodes = saved.meta_graphs[0].object_graph_def.nodes
        in_graph = sum(1 for node in nodes if node.WhichOneof("kind") == "user_object" and node.user_object.metadata)
    except Exception as exc:  # noqa: BLE001 - the note says it could not look
        return "keras_metadata.pb {}; saved_model.pb unread ({})".format(
            "present" if has_file else "absent", type(exc).__name__
        )
    return "keras_metadata.pb {}; {} objects in saved_model.pb's object graph carry Keras metadata".format(
        "present" if has_file else "absent", in_graph
    )


def save_savedmodel_nometa(model, folder, name):
    written = savers.save_savedmodel(model, folder, name + "_nometa_source")
    source = written[0]
    target = os.path.join(folder, name + "_savedmodel_nometa")
    metadata = os.path.join(source, "keras_metadata.pb")
    if not os.path.exists(metadata):
        shutil.rmtree(source)
        raise savers.NotWritable(
            "this Keras writes no keras_metadata.pb (its metadata is in saved_model.pb): "
            "its own savedmodel entries are already without it"
        )
    os.remove(metadata)
    os.rename(source, target)
    return [target]


WRITERS = dict(savers.WRITERS, savedmodel_nometa=save_savedmodel_nometa)


def _relative(paths, out_dir):
    return [os.path.relpath(p, out_dir) for p in paths]


def _failure(exc):
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"saving failed: {type(exc).__name__}: {first[:300]}"


def write_keras_model(name, out_dir, log):
    k = kerasapi.keras()
    kerasapi.clear_session()
    kerasapi.set_random_seed(SEED)
    model, summary = BUILDERS[name](k)
    seed_weights(model)
    input_specs, output_specs = describe(model)
    inputs = reference_inputs(name, input_specs)
    entries = []
    for fmt in KERAS_FORMATS:
        model_id = f"{name}-{fmt}"
        try:
            written = WRITERS[fmt](model, out_dir, name)
        except savers.NotWritable as reason:
            entries.append({"id": model_id, "skipped": str(reason)})
            continue
        except Exception as exc:  # noqa: BLE001 - a failed save is a finding to record
            log.write(traceback.format_exc())
            entries.append({"id": model_id, "skipped": _failure(exc)})
            continue
        note = f"{summary} ({model.count_params()} parameters): {FORMAT_NOTES[fmt].format(model=name)}"
        if fmt in ("savedmodel", "savedmodel_nometa", "export"):
            note += "; " + savedmodel_metadata_note(written[0])
        # Computed after this save, from the model just saved: a writer that changed it shows.
        corpus.write_reference(out_dir, model_id, inputs, predict(model, inputs, input_specs))
        relative = _relative(written, out_dir)
        weights = relative[1] if len(relative) > 1 else None
        entries.append(manifest_entry(model_id, fmt, relative, weights, input_specs, output_specs, note))
    return entries


def manifest_entry(model_id, fmt, relative, weights, inputs, outputs, note):
    """One model's entry in a corpus manifest (``compat.inside.corpus.ENTRY_KEYS``)."""
    return {
        "id": model_id,
        "path": relative[0],
        "format": fmt,
        "files": relative,
        "weights": weights,
        "inputs": inputs,
        "outputs": outputs,
        "note": note,
    }


# -- the tf.Module -------------------------------------------------------------------------
def write_scorer_module(out_dir):
    model_id = "scorer_module-tf_saved_model"
    tf_version = kerasapi.tf_version()
    if tf_version is None:
        return [{"id": model_id, "skipped": "no TensorFlow in this environment: tf.saved_model.save needs it"}]
    if int(tf_version.split(".")[0]) < 2:
        return [{"id": model_id, "skipped": f"TF {tf_version} has no tf.saved_model.save of a tf.Module (TF 2 API)"}]
    import tensorflow as tf

    class Scorer(tf.Module):
        """Two dense layers in plain TensorFlow, served as ``serving_default``."""

        def __init__(self):
            super().__init__(name="scorer")
            self.hidden_kernel = tf.Variable(seeded_array("scorer_hidden", 0, (MODULE_INPUT, 16), "kernel"))
            self.hidden_bias = tf.Variable(seeded_array("scorer_hidden", 1, (16,), "bias"))
            self.out_kernel = tf.Variable(seeded_array("scorer_out", 0, (16, 4), "kernel"))
            self.out_bias = tf.Variable(seeded_array("scorer_out", 1, (4,), "bias"))

        @tf.function(input_signature=[tf.TensorSpec([None, MODULE_INPUT], tf.float32, name="x")])
        def serve(self, x):
            hidden = tf.nn.relu(tf.matmul(x, self.hidden_kernel) + self.hidden_bias)
            return {"scores": tf.matmul(hidden, self.out_kernel) + self.out_bias}

    scorer = Scorer()
    path = os.path.join(out_dir, "scorer_module_saved_model")
    tf.saved_model.save(scorer, path, signatures={"serving_default": scorer.serve})
    input_specs = [{"name": "x", "shape": [None, MODULE_INPUT], "dtype": "float32"}]
    inputs = reference_inputs("scorer_module", input_specs)
    outputs = {"scores": scorer.serve(tf.constant(inputs["x"]))["scores"].numpy()}
    corpus.write_reference(out_dir, model_id, inputs, outputs)
    relative = _relative([path], out_dir)
    return [
        {
            "id": model_id,
            "path": relative[0],
            "format": "tf_saved_model",
            "files": relative,
            "weights": None,
            "inputs": input_specs,
            "outputs": [{"name": "scores", "shape": [None, 4]}],
            "note": "a tf.Module (no Keras), tf.saved_model.save with an explicit serving_default signature "
            f"(x float32 (None, {MODULE_INPUT}) -> scores (None, 4)); {savedmodel_metadata_note(path)}",
        }
    ]


def write_all(out_dir, log=sys.stderr):
    entries = []
    for name in KERAS_MODELS:
        entries.extend(write_keras_model(name, out_dir, log))
    entries.extend(write_scorer_module(out_dir))
    return entries
