"""The reported set: small models that reproduce the loading failures users publicly report.

Each case is a model of the shape a public report is about, written by the producer the
report is about, in the formats the report is about (where that producer writes them). The
reports are cited as ``owner/repo#N`` in ``CASES``. Every layer the model's code creates is
named and its weights are seeded by that name (``corpus_foreign.seed_weights``); layers
Keras 2 makes itself from raw TensorFlow ops (``TFOpLambda``) get Keras' own names.

- ``depthwise_groups``: a MobileFaceNet-style block (DepthwiseConv2D, PReLU, a residual add)
  and a Conv2DTranspose, saved by tf.keras 2.4-2.15, whose configs carry ``groups``;
- ``tfoplambda``: raw TF ops on Keras tensors (``tf.math.multiply``, ``+``,
  ``tf.nn.l2_normalize``), which Keras 2 stores as ``TFOpLambda`` layers;
- ``lambda_no_output_shape``: a Lambda without ``output_shape`` whose function uses ``tf``;
- ``bilstm``: a Bidirectional LSTM over per-frame embeddings (a video embedder);
- ``gru_keras212``: a GRU from Keras 2.1.2 (no ``reset_after``, ``hard_sigmoid``);
- ``two_input_savedmodel``: a siamese verifier with two named inputs, as a Keras 2 SavedModel;
- ``preprocessing_savedmodel``: Rescaling and an adapted Normalization inside the model;
- ``keras3_h5``: a Keras 3 model saved as legacy ``.h5`` by Keras 3.

Every producer writes every case it can build (a case it cannot is recorded as skipped, with
the error), except the two whose point is the Keras that wrote them: ``keras3_h5`` is written by
Keras 3 only and ``gru_keras212`` by Keras <= 2.2 only. ``CASES`` still names the producers each
report is about. The matrix loads the set as the ``reported`` fixtures of every producer. The
references are the producer's own outputs on seeded inputs (``corpus_foreign``'s).
"""

import sys
import traceback

import numpy as np

from compat.inside import corpus, kerasapi, savers
from compat.inside.corpus_foreign import (
    FORMAT_NOTES,
    _failure,
    _relative,
    describe,
    manifest_entry,
    predict,
    reference_inputs,
    savedmodel_metadata_note,
    seed_weights,
)

try:  # the Lambda's function uses ``tf`` as a user's module does; Keras 3 on JAX has none
    import tensorflow as tf
except ImportError:
    tf = None

SEED = 0
FRAMES = 8
FRAME_FEATURES = 12
SIGNAL_STEPS = 10
SIGNAL_FEATURES = 6
FACE_SIZE = 16


# -- the cases ---------------------------------------------------------------------------
def build_depthwise_groups(k):
    """MobileFaceNet's bottleneck (expand, depthwise 3x3, project, residual add, PReLU) and a
    Conv2DTranspose upsampling head. Keras 2 writes ``"groups": 1`` into the configs of
    DepthwiseConv2D and Conv2DTranspose, which Keras 3's constructors reject
    (keras-team/keras#19441, keras-team/keras#19151, Shawn-Shan/fawkes#186)."""
    layers = k.layers
    face = layers.Input(shape=(FACE_SIZE, FACE_SIZE, 3), name="face")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv1")(face)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.PReLU(shared_axes=[1, 2], name="conv1_prelu")(x)
    y = layers.Conv2D(16, 1, use_bias=False, name="block1_expand")(x)
    y = layers.BatchNormalization(name="block1_expand_bn")(y)
    y = layers.PReLU(shared_axes=[1, 2], name="block1_expand_prelu")(y)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="block1_dw")(y)
    y = layers.BatchNormalization(name="block1_dw_bn")(y)
    y = layers.PReLU(shared_axes=[1, 2], name="block1_dw_prelu")(y)
    y = layers.Conv2D(8, 1, use_bias=False, name="block1_project")(y)
    y = layers.BatchNormalization(name="block1_project_bn")(y)
    x = layers.Add(name="block1_add")([x, y])
    x = layers.Conv2DTranspose(4, 2, strides=2, padding="same", name="upsample")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    embedding = layers.Dense(8, name="embedding")(x)
    return k.models.Model(face, embedding, name="mobilefacenet_block"), (
        "a MobileFaceNet bottleneck (DepthwiseConv2D, PReLU, residual add) and a Conv2DTranspose"
    )


def build_tfoplambda(k):
    """A face-embedding head written with raw TF ops on Keras tensors, as FaceNet ports do:
    ``x + tf.math.multiply(up, 0.17)`` (a residual scale) and ``tf.nn.l2_normalize``. Keras 2
    wraps each op in a ``TFOpLambda`` layer that Keras 3 does not know
    (hyunnamlee/RAPUNet#4)."""
    layers = k.layers
    features = layers.Input(shape=(16,), name="features")
    x = layers.Dense(8, activation="relu", name="bottleneck")(features)
    up = layers.Dense(8, name="residual_up")(x)
    x = x + tf.math.multiply(up, 0.17)
    x = layers.Dense(6, name="embedding")(x)
    normalized = tf.nn.l2_normalize(x, axis=1)
    return k.models.Model(features, normalized, name="tfop_embedder"), (
        "raw TF ops on Keras tensors (tf.math.multiply, +, tf.nn.l2_normalize), stored as TFOpLambda layers"
    )


# A Lambda as reported: a small reshaping function with no output_shape, using ``tf`` from
# the module it was written in.
add_channel_axis = lambda x: tf.expand_dims(x, axis=-1)  # noqa: E731 - stored as a lambda, as reported


def build_lambda_no_output_shape(k):
    """A Lambda without ``output_shape`` (``expand_dims`` before a Conv1D). Keras 3 calls
    the stored function to infer its shape and, when that fails, says it could not infer it
    (keras-team/keras#21089, sizhuoli/TreeCountSegHeight#6, matterport/Mask_RCNN#3038)."""
    layers = k.layers
    spectrum = layers.Input(shape=(16,), name="spectrum")
    x = layers.Dense(12, activation="relu", name="project")(spectrum)
    x = layers.Lambda(add_channel_axis, name="add_channel_axis")(x)
    x = layers.Conv1D(4, 3, activation="relu", name="conv")(x)
    x = layers.GlobalMaxPooling1D(name="pool")(x)
    scores = layers.Dense(3, name="scores")(x)
    return k.models.Model(spectrum, scores, name="lambda_reshaper"), (
        "a Lambda (tf.expand_dims) without output_shape before a Conv1D"
    )


def build_bilstm(k):
    """A video embedder: a Bidirectional LSTM over per-frame embeddings
    (keras-team/keras#19898, keras-team/keras#18913, keras-team/keras#19615)."""
    layers = k.layers
    frames = layers.Input(shape=(FRAMES, FRAME_FEATURES), name="frames")
    x = layers.TimeDistributed(layers.Dense(8, activation="relu", name="frame_dense"), name="frame_embedding")(frames)
    x = layers.Bidirectional(layers.LSTM(6, name="lstm"), name="bilstm")(x)
    embedding = layers.Dense(8, name="video_embedding")(x)
    return k.models.Model(frames, embedding, name="video_embedder"), (
        f"a Bidirectional LSTM over {FRAMES} per-frame embeddings"
    )


def build_gru_keras212(k):
    """A GRU as Keras 2.1.2 wrote it: ``hard_sigmoid`` and no ``reset_after``, whose later
    default (True) changes the bias's shape (xiaochus/TrafficFlowPrediction#10,
    Tony607/Keras-Trigger-Word#15)."""
    layers = k.layers
    series = layers.Input(shape=(SIGNAL_STEPS, SIGNAL_FEATURES), name="series")
    state = layers.GRU(8, name="gru")(series)
    forecast = layers.Dense(3, activation="softmax", name="forecast")(state)
    return k.models.Model(series, forecast, name="gru_forecaster"), (
        "a GRU with Keras 2.1.2's defaults (hard_sigmoid, no reset_after)"
    )


def build_two_input_savedmodel(k):
    """A siamese verifier: one encoder applied to two named inputs, a same-person score.
    Keras 3's ``TFSMLayer`` on its Keras 2 SavedModel cannot be called with both inputs
    (keras-team/keras#20813)."""
    layers = k.layers
    anchor = layers.Input(shape=(12,), name="anchor")
    candidate = layers.Input(shape=(12,), name="candidate")
    encode_hidden = layers.Dense(8, activation="relu", name="encode_hidden")
    encode_out = layers.Dense(6, name="encode_out")
    a = encode_out(encode_hidden(anchor))
    b = encode_out(encode_hidden(candidate))
    difference = layers.Subtract(name="difference")([a, b])
    product = layers.Multiply(name="product")([a, b])
    joined = layers.Concatenate(name="joined")([difference, product])
    same = layers.Dense(1, activation="sigmoid", name="same_person")(joined)
    return k.models.Model([anchor, candidate], same, name="siamese_verifier"), (
        "a siamese verifier: a shared encoder over two named inputs"
    )


def build_preprocessing_savedmodel(k):
    """Preprocessing inside the model: Rescaling, then a Normalization adapted on seeded
    data without an explicit input shape (tensorflow/tensorflow#46427,
    keras-team/keras#15348)."""
    layers = k.layers
    readings = layers.Input(shape=(6,), name="readings")
    x = layers.Rescaling(0.5, offset=1.0, name="to_units")(readings)
    x = layers.Normalization(name="standardize")(x)
    x = layers.Dense(8, activation="relu", name="hidden")(x)
    scores = layers.Dense(2, name="scores")(x)
    return k.models.Model(readings, scores, name="preprocessed_regressor"), (
        "Rescaling and a Normalization adapted on seeded data inside the model"
    )


def adapt_standardize(model):
    """After seeding: the Normalization's statistics are its data's, not seeded numbers."""
    rng = np.random.RandomState(SEED)
    sample = rng.normal(3.0, 2.0, (64, 6)) * np.arange(1, 7)
    model.get_layer("standardize").adapt((0.5 * sample + 1.0).astype(np.float32))


def build_keras3_h5(k):
    """A small Keras 3 convolutional classifier that Keras 3 saves as legacy ``.h5``; Keras 2
    reads its Keras 3 config (``batch_shape``, dtype policies) and fails
    (tensorflow/tensorflow#66381, tensorflow/tensorflow#64685)."""
    layers = k.layers
    image = layers.Input(shape=(8, 8, 1), name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    x = layers.BatchNormalization(name="conv_bn")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    classes = layers.Dense(3, activation="softmax", name="classes")(x)
    return k.models.Model(image, classes, name="keras3_classifier"), "a Keras 3 convolutional classifier"


# name, builder, the producers the reports are about, formats, the reports (owner/repo#N: title)
CASES = (
    (
        "depthwise_groups",
        build_depthwise_groups,
        ("tf24", "tf215"),
        ("h5", "keras"),
        (
            "keras-team/keras#19441: Loading model Conv2DTranspose from h5 file results in error "
            "complaining about group:1 parameter",
            "keras-team/keras#19151: loading layers with lambda in from .h5 files "
            "(Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1})",
            "Shawn-Shan/fawkes#186: Fawkes won't install on Windows (the same DepthwiseConv2D groups error)",
        ),
    ),
    (
        "tfoplambda",
        build_tfoplambda,
        ("tf24", "tf215"),
        ("h5", "keras"),
        ("hyunnamlee/RAPUNet#4: error in trying to run test.py (Unknown layer: 'TFOpLambda')",),
    ),
    (
        "lambda_no_output_shape",
        build_lambda_no_output_shape,
        ("tf215",),
        ("h5",),
        (
            "keras-team/keras#21089: Lambda output_shape",
            "sizhuoli/TreeCountSegHeight#6: Error in loading models",
            "matterport/Mask_RCNN#3038: We could not automatically infer the shape of the Lambda's output",
        ),
    ),
    (
        "bilstm",
        build_bilstm,
        ("tf215",),
        ("h5", "keras"),
        (
            "keras-team/keras#19898: Load a model saved using keras 2.3.1 in keras 3 (containing bidirectionnal LSTM)",
            "keras-team/keras#18913: got ValueError when loading model that have LSTM Layer",
            "keras-team/keras#19615: Keras 3 with Pytorch backend ERROR - Layer 'lstm_cell' expected 3 variables",
        ),
    ),
    (
        "gru_keras212",
        build_gru_keras212,
        ("keras212",),
        ("h5",),
        (
            "xiaochus/TrafficFlowPrediction#10: GRU load model error, ValueError: GRU(reset_after=False) "
            "is not compatible with GRU(reset_after=True)",
            "Tony607/Keras-Trigger-Word#15: reset_after error",
        ),
    ),
    (
        "two_input_savedmodel",
        build_two_input_savedmodel,
        ("tf215",),
        ("savedmodel",),
        (
            "keras-team/keras#20813: Cannot call legacy (saved with Keras 2) SavedModel models that have "
            "multiple inputs on Keras 3",
        ),
    ),
    (
        "preprocessing_savedmodel",
        build_preprocessing_savedmodel,
        ("tf215",),
        ("savedmodel", "h5", "keras"),
        (
            "tensorflow/tensorflow#46427: Error when load model with layer "
            "tensorflow.keras.layers.experimental.preprocessing.Normalization()",
            "keras-team/keras#15348: Bugs found in Normalization() and load_model()",
        ),
    ),
    (
        "keras3_h5",
        build_keras3_h5,
        ("keras315jax",),
        ("h5",),
        (
            "tensorflow/tensorflow#66381: Exception encountered: Unrecognized keyword arguments: ['batch_shape']",
            "tensorflow/tensorflow#64685: issue of conversion",
        ),
    ),
)


# What a case does to its model after the seeded weights are set.
AFTER_SEEDING = {"preprocessing_savedmodel": adapt_standardize}


# Cases whose point is the Keras generation that wrote them: a Keras 3 file under Keras 2, a GRU
# with the defaults Keras <= 2.2 had. Every other case is written by every producer that can
# build it, so the matrix shows where each feature carries over and where it breaks.
KERAS_GENERATIONS = {"gru_keras212": ((2, 0), (2, 2)), "keras3_h5": ((3, 0), (99, 0))}


def _outside_generations(name):
    """Why this Keras does not write the case, or None."""
    if name not in KERAS_GENERATIONS:
        return None
    low, high = KERAS_GENERATIONS[name]
    version = kerasapi.version()
    parts = version.split(".")
    minor = (int(parts[0]), int(parts[1].split("-")[0]))
    if low <= minor <= high:
        return None
    return "written by Keras {}.{} to {}: its reports are about such files, and this is Keras {}".format(
        low[0], low[1], "any later" if high[0] == 99 else "{}.{}".format(*high), version
    )


def write_case(case, out_dir, log):
    name, build, producers, formats, reports = case
    reason = _outside_generations(name)
    if reason:
        return [{"id": f"{name}-{fmt}", "skipped": reason} for fmt in formats]
    k = kerasapi.keras()
    kerasapi.clear_session()
    kerasapi.set_random_seed(SEED)
    try:
        model, summary = build(k)
        seed_weights(model)
        if name in AFTER_SEEDING:
            AFTER_SEEDING[name](model)
    except Exception as exc:  # noqa: BLE001 - a model this Keras cannot build is recorded, not fatal
        log.write(traceback.format_exc())
        first = (str(exc).strip().splitlines() or [""])[0]
        reason = f"this Keras cannot build it: {type(exc).__name__}: {first[:300]}"
        return [{"id": f"{name}-{fmt}", "skipped": reason} for fmt in formats]
    input_specs, output_specs = describe(model)
    inputs = reference_inputs(name, input_specs)
    cited = "; ".join(report.split(":")[0] for report in reports)
    entries = []
    for fmt in formats:
        model_id = f"{name}-{fmt}"
        try:
            written = savers.WRITERS[fmt](model, out_dir, name)
        except savers.NotWritable as reason:
            entries.append({"id": model_id, "skipped": str(reason)})
            continue
        except Exception as exc:  # noqa: BLE001 - a failed save is a finding to record
            log.write(traceback.format_exc())
            entries.append({"id": model_id, "skipped": _failure(exc)})
            continue
        note = f"{summary} ({model.count_params()} parameters): {FORMAT_NOTES[fmt]}; reported in {cited}"
        if fmt == "savedmodel":
            note += "; " + savedmodel_metadata_note(written[0])
        corpus.write_reference(out_dir, model_id, inputs, predict(model, inputs, input_specs))
        relative = _relative(written, out_dir)
        entries.append(manifest_entry(model_id, fmt, relative, None, input_specs, output_specs, note))
    return entries


def write_all(out_dir, log=sys.stderr):
    entries = []
    for case in CASES:
        entries.extend(write_case(case, out_dir, log))
    return entries
