"""Every loading failure users report most, in the published matrix: each mode's cell, the error
it records there (or the wrong numbers), its failure family, and the strategy the matrix found
carrying the same file in that cell. Read from the committed ``reports/matrix.json``, whose
verdicts come from real loads; the test fails if a re-measured matrix stops showing a mode.
"""

from __future__ import annotations

import functools

import pytest

from compat.paths import PUBLISHED_MATRIX
from compat.records import families, matrixdoc

# mode: (consumer, producer, fixture, strategy), what the cell records, its family, and the
# strategy that gives the producer's numbers in the same cell (None: nothing does there).
MODES = {
    # tensorflow/tensorflow#44467, matterport/Mask_RCNN#2660: h5py 3 under a Keras before TF 2.5
    "h5py 3 with an old Keras": (
        ("keras224pip", "keras224", "builtin-h5", "load_model"),
        "'str' object has no attribute 'decode'",
        "h5py_strings",
        "translate",
    ),
    # keras-team/keras#19441: Keras 2's groups=1 under Keras 3
    "Conv groups under Keras 3": (
        ("tf221", "tf215", "depthwise_groups-h5", "load_model"),
        "'groups': 1",
        "newer_config",
        "translate",
    ),
    # hyunnamlee/RAPUNet#4
    "TFOpLambda": (
        ("tf221", "tf215", "tfoplambda-h5", "load_model"),
        "TFOpLambda",
        "tf_op_layer",
        "translate",
    ),
    # keras-team/keras#20813
    "a two-input SavedModel through TFSMLayer": (
        ("tf221", "tf215", "two_input_savedmodel-savedmodel", "savedmodel_inference"),
        "too many positional arguments",
        "tfsmlayer_positional",
        "savedmodel_signature",
    ),
    # keras-team/keras#19898: a Bidirectional LSTM from Keras 2 under Keras 3
    "recurrent layers across versions (time_major)": (
        ("tf221", "tf215", "bilstm-h5", "load_model"),
        "time_major",
        "newer_config",
        "translate",
    ),
    # tensorflow/tensorflow#65395, #62363: "expected 3 variables, but received 0"
    "recurrent layers across versions (variables not found)": (
        ("tf213", "tf215", "bilstm-keras", "load_model"),
        "expected 2 variables, but received 0 variables",
        "native_numbering",
        "translate",
    ),
    # sizhuoli/TreeCountSegHeight#6
    "a Lambda without output_shape under Keras 3": (
        ("tf216", "tf212", "lambda_no_output_shape-h5", "load_model"),
        "could not automatically infer the shape",
        "lambda_output_shape",
        "tf_keras",  # Keras 2 runs the Lambda to learn its shape, where the same Python reads it
    ),
    # keras-team/keras#15348, tensorflow/tensorflow#46427: Normalization's state and load_model
    "preprocessing layers across versions": (
        ("tf216", "tf215", "preprocessing_savedmodel-h5", "load_model"),
        "mismatch",
        None,
        "translate",
    ),
    # keras-team/keras#18284, keras-team/tf-keras#44: model_from_json takes no safe_mode
    "JSON with a Lambda": (
        ("tf215", "tf215", "lambda-json", "json_weights"),
        "Requested the deserialization of a Lambda layer",
        "lambda_safe_mode",
        "json_unsafe",
    ),
    # keras-team/keras#19373, #19151: Keras 3.0-3.2 and a .h5 with custom layers
    "the early Keras 3": (
        ("tf216k30", "tf215", "custom-h5", "unsafe"),
        "Unknown layer: 'ScaleLayer'",
        "custom_objects_missing",
        "custom_objects",
    ),
    # Hrushi11/Real-TIme-Skin-Type-Detection#1, spotify/basic-pitch#117
    "add_slot without tf_keras": (
        ("tf221pip", "tf26", "compiled-savedmodel", "savedmodel_inference"),
        "'_UserObject' object has no attribute 'add_slot'",
        "savedmodel_optimizer_slots",
        None,
    ),
}
# The original FaceNet distribution: TF 2 has no tf.GraphDef (tensorflow/tensorflow#32068), and the
# tf1_graph strategy runs the frozen graph through tf.compat.v1, under Keras 3 stacks too.
FROZEN_GRAPH = [
    ("tf221", producer, fixture, "tf1_graph")
    for producer in ("tf115", "keras212", "keras224")
    for fixture in ("tf1graph-frozen_pb", "tf1graph-tf1_checkpoint")
]


@functools.cache
def published() -> tuple[dict, dict]:
    document = matrixdoc.read(PUBLISHED_MATRIX)
    cells = {(a["consumer"], a["producer"], a["fixture"], a["strategy"]): a for a in document["attempts"]}
    return document, cells


@pytest.mark.parametrize("mode", list(MODES))
def test_each_reported_failure_is_in_the_published_matrix_with_its_family(mode):
    document, cells = published()
    cell, shown, family, carried_by = MODES[mode]
    attempt = cells[cell]
    if shown == "mismatch":  # silently wrong numbers: the worst outcome, never a pass
        assert attempt["verdict"] == "mismatch" and attempt["cosine"] < 0.99, attempt
    else:
        assert attempt["verdict"] == "error", attempt
        assert shown in attempt["error"]["message"], attempt["error"]["message"]
        found = families.classify_attempt(document, attempt)
        assert found is not None and found.id == family, (attempt["error"], found)
        assert found.reports, found.id  # each family names the public reports it matches
    consumer, producer, fixture, _ = cell
    if carried_by is None:
        assert not any(
            a["verdict"] == "pass" for (c, p, f, _), a in cells.items() if (c, p, f) == (consumer, producer, fixture)
        )
    else:
        assert cells[(consumer, producer, fixture, carried_by)]["verdict"] == "pass"


@pytest.mark.parametrize("cell", FROZEN_GRAPH, ids=lambda cell: "/".join(cell[1:3]))
def test_the_frozen_graph_passes_under_keras_3_with_its_strategy(cell):
    _, cells = published()
    assert cells[cell]["verdict"] == "pass", cells[cell]
    assert cells[("tf221", cell[1], cell[2], "load_model")]["verdict"] == "not_applicable"


def test_the_as_installed_stacks_differ_from_the_pinned_ones_where_the_reports_say():
    """The same files under the pinned stack load; the mode shows only as users install it."""
    _, cells = published()
    assert cells[("keras224", "keras224", "builtin-h5", "load_model")]["verdict"] == "pass"  # h5py 2.10
    assert cells[("tf216", "tf215", "custom-h5", "unsafe")]["verdict"] == "pass"  # Keras 3.3
    assert cells[("tf221", "tf26", "compiled-savedmodel", "savedmodel_inference")]["verdict"] == "pass"  # tf-keras
