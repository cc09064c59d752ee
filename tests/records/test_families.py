"""``compat.records.families``: the committed matrix's errors, each explained by the family it shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from compat.records import families, matrixdoc
from compat.records.families import FAMILIES, census, classify, classify_attempt

ROOT = Path(__file__).resolve().parents[2]

# Errors of the committed reports/matrix.json no family explains. A new kind of error
# makes this fail until a signature explains it (or this number says it stays unknown).
UNCLASSIFIED_IN_COMMITTED_MATRIX = 0

# Known from users' files, never produced by the catalog's pinned stacks.
# Signatures of mistakes in a loader's own code. The harness once made the last two itself
# (tf_keras handed Keras 3 classes; a SavedModel's signature outlived its loaded object);
# a user's code still can, so the families stay.
NOT_IN_MATRIX = {
    "weights_only",
    "custom_classes_other_keras",
    "savedmodel_object_freed",
    # What translate refuses that no fixture holds (an op with no Keras 3 layer).
    "untranslatable_op",
    # Users' own code for a frozen graph under TF 2 (tf.GraphDef): the matrix loads it the way that works.
    "tf1_graph_api",
}

# (producer, consumer, fixture, strategy) cells of the committed matrix, read from it.
EXAMPLES = {
    "lambda_needs_function": [
        ("keras224", "keras212", "lambda-h5", "translate"),  # Python 3.7 bytecode under 3.6
        ("keras212", "tf221", "lambda-h5", "translate"),  # Python 3.6 bytecode under 3.13
        ("keras315jax", "tf215", "canarymodule-keras", "translate"),  # a function named by module
    ],
    "lambda_bytecode": [
        ("keras212", "tf212", "lambda-h5", "load_model"),  # EOFError: EOF read where object expected
        ("keras212", "tf24", "lambda-h5", "load_model"),  # bad marshal data
        ("keras224", "keras212", "canary-h5", "load_model"),  # SystemError: unknown opcode
        ("tf210", "tf26", "canary-h5", "load_model"),  # popped block is not an except handler
        ("tfkeras221", "tf212", "canary-savedmodel", "load_model"),  # Lambda.call wrapper, 3.12 -> 3.11
        ("tf212", "keras315jax", "canary-h5", "unsafe"),
    ],
    "lambda_safe_mode": [
        ("keras212", "tf221", "lambda-h5", "load_model"),
        ("tf212", "tf212", "lambda-keras", "load_model"),
    ],
    "lambda_function_by_name": [
        ("tf216", "tf216", "lambda-h5", "load_model"),
        ("tf216", "tf216", "lambda-json", "json_plain"),
        ("tf216", "tf221", "canarymodule-keras", "load_model"),
    ],
    "lambda_trackedlist": [
        ("tf212", "tf216", "lambda-h5", "load_model"),
        ("tf218", "tf216", "lambda-keras", "custom_objects"),
    ],
    "keras2_under_keras3": [
        ("tf212", "tf216", "builtin-keras", "load_model"),
        ("keras212", "tf216", "builtin-json", "json_plain"),
        ("tf24", "tf221", "builtin-json", "json_plain"),
    ],
    "keras3_under_keras2": [
        ("tf216", "tf212", "builtin-h5", "load_model"),
        ("tf216", "tf210", "builtin-h5", "load_model"),
        ("tf216", "tf212", "builtin-keras", "load_model"),
    ],
    "keras2_module_moved": [
        ("tf212", "tf213", "builtin-keras", "load_model"),
        ("tf213", "tf212", "builtin-keras", "load_model"),
        ("tf212", "tf216", "builtin-keras", "tf_keras"),
    ],
    "newer_config": [
        ("tf26", "tf24", "builtin-h5", "load_model"),
        ("tf115", "keras212", "builtin-h5", "load_model"),
        ("tfkeras221", "tf210", "builtin-h5", "load_model"),
        ("tfkeras221", "tf216", "builtin-keras", "load_model"),
        ("tf220", "tf216", "builtin-h5", "load_model"),
    ],
    "initializer_arguments": [
        ("tf115", "tf216", "builtin-h5", "load_model"),
        ("tf221", "tf216", "builtin-json", "json_plain"),
    ],
    "compile_config": [
        ("keras224", "keras212", "compiled-h5", "load_model"),
        ("tf212", "tf210", "compiled-savedmodel", "load_model"),
        ("tf212", "tf217", "compiled-h5", "load_model"),
    ],
    "functional_class_unknown": [
        ("tf24", "keras212", "builtin-h5", "load_model"),
        ("tf216", "keras212", "builtin-h5", "load_model"),
    ],
    "custom_objects_missing": [
        ("keras212", "keras212", "custom-h5", "load_model"),
        ("tf24", "tf24", "compiled-h5", "load_model"),
        ("keras212", "tf213", "custom-json", "json_plain"),
        ("tf216", "tf216", "custom-json", "json_plain"),
    ],
    "keras_zip_old_keras": [
        ("tf212", "keras212", "builtin-keras", "load_model"),
        ("tf212", "tf115", "builtin-keras", "load_model"),
        ("tf212", "tf210", "builtin-keras", "load_model"),
    ],
    "savedmodel_under_keras3": [
        ("tf115", "tf216", "builtin-savedmodel", "load_model"),
        ("tfkeras221", "tf221", "builtin-savedmodel", "load_model"),
    ],
    "savedmodel_under_standalone_keras": [
        ("tf115", "keras212", "builtin-savedmodel", "load_model"),
        ("tf216", "keras212", "builtin-export", "load_model"),
    ],
    "savedmodel_without_keras_model": [
        ("tf216", "tf210", "builtin-export", "load_model"),
        ("tf115", "tf115", "builtin-savedmodel", "load_model"),
    ],
    "tf1_savedmodel": [
        ("tf115", "tf24", "builtin-savedmodel", "load_model"),
        ("tf115", "tf212", "builtin-savedmodel", "load_model"),
    ],
    "savedmodel_keras_metadata": [("tf26", "tf24", "builtin-savedmodel", "load_model")],
    "savedmodel_tags": [
        ("tf115", "tf216", "compiled-savedmodel", "savedmodel_inference"),  # TFSMLayer
        ("tf115", "tf115", "compiled-savedmodel", "load_model"),
    ],
    "graph_newer_than_tf": [
        ("tf212", "keras224", "builtin-savedmodel", "savedmodel_inference"),
        ("tf212", "tf24", "custom-savedmodel", "savedmodel_inference"),
        ("tf24", "keras212", "builtin-savedmodel", "savedmodel_inference"),
        ("tf220", "keras224", "custom-export", "savedmodel_inference"),
        ("tf216", "keras212", "builtin-export", "savedmodel_inference"),
    ],
    "weights_new_layout": [
        ("tf212", "keras212", "builtin-weights_h5", "rebuild_weights"),
        ("tf212", "keras224", "builtin-weights_h5", "rebuild_weights"),
        ("tf216", "tf210", "builtin-json", "rebuild_weights"),
    ],
    "native_numbering": [
        ("tf215", "tf212", "builtin-weights_h5", "rebuild_weights"),
        ("tf218", "tf213", "builtin-keras", "rebuild_weights"),
        ("tf212", "tf218", "builtin-weights_h5", "rebuild_weights"),
    ],
    "keras3_by_name": [("tf210", "tf216", "builtin-h5", "rebuild_by_name")],
    # The reported set and the stacks as pip installs them.
    "h5py_strings": [("keras224", "keras224pip", "builtin-h5", "load_model")],
    "tf_op_layer": [("tf215", "tf221", "tfoplambda-h5", "load_model")],
    "gru_reset_after": [("keras212", "tf24", "gru_keras212-h5", "load_model")],
    "tfsmlayer_positional": [("tf215", "tf221", "two_input_savedmodel-savedmodel", "savedmodel_inference")],
    "lambda_output_shape": [("tf212", "tf216", "lambda_no_output_shape-h5", "load_model")],
    "lambda_global_name": [("keras212", "keras212", "lambda_no_output_shape-h5", "load_model")],
    "untranslatable_argument": [("tf216", "keras212", "bilstm-h5", "translate")],
    "savedmodel_without_architecture": [("tf115", "tf221", "builtin-savedmodel", "translate")],
    "savedmodel_optimizer_slots": [("tf26", "tf221pip", "compiled-savedmodel", "savedmodel_inference")],
    "recurrent_weight_count": [("tf216", "tf216k30", "bilstm-h5", "load_model")],
    "backend_unknown": [("keras315jax", "keras212", "builtin-h5", "rebuild_weights")],
}


@pytest.fixture(scope="module")
def matrix():
    return matrixdoc.read(ROOT / "reports" / "matrix.json")


@pytest.fixture(scope="module")
def cells(matrix):
    return {(a["producer"], a["consumer"], a["fixture"], a["strategy"]): a for a in matrix["attempts"]}


@pytest.mark.parametrize(
    "family,cell",
    [(f, c) for f, found in EXAMPLES.items() for c in found],
    ids=lambda value: "/".join(value) if isinstance(value, tuple) else value,
)
def test_example_cells_of_the_committed_matrix(matrix, cells, family, cell):
    attempt = cells[cell]
    assert attempt["verdict"] == "error", attempt["verdict"]
    found = classify_attempt(matrix, attempt)
    assert found is not None, f"unclassified: {attempt['error']['type']}: {attempt['error']['message'][:200]}"
    assert found.id == family


def test_every_family_has_examples_or_says_why_not():
    assert set(EXAMPLES) | NOT_IN_MATRIX == set(FAMILIES)
    assert not set(EXAMPLES) & NOT_IN_MATRIX


def test_census_of_the_committed_matrix(matrix):
    counted = census(matrix)
    errored = [a for a in matrix["attempts"] if a["verdict"] == "error"]
    assert counted.attempts == len(errored)
    assert counted.unclassified_errors == UNCLASSIFIED_IN_COMMITTED_MATRIX, "\n".join(counted.unclassified)
    assert sum(n for _, n, _ in counted.families) + counted.unclassified_attempts == counted.attempts
    seen = {name for name, _, _ in counted.families}
    assert seen <= set(FAMILIES)
    assert set(EXAMPLES) <= seen and not seen & NOT_IN_MATRIX


# -- canned cases ------------------------------------------------------------------------------


def test_lambda_bytecode_from_the_message_alone():
    assert classify("EOFError", "EOF read where object expected").id == "lambda_bytecode"
    assert classify("ValueError", "bad marshal data (unknown type code)").id == "lambda_bytecode"
    assert (
        classify("AttributeError", "'_UserObject' object has no attribute 'add_slot'").id
        == "savedmodel_optimizer_slots"
    )
    assert FAMILIES["lambda_bytecode"].line("EOFError") == "EOFError: Lambda bytecode from another Python"


def test_a_failing_lambda_call_is_bytecode_only_across_pythons():
    args = ("SystemError", "Exception encountered when calling Lambda.call().", "...something")
    assert classify(*args, producer_python="3.11", consumer_python="3.13").id == "lambda_bytecode"
    assert classify(*args, producer_python="3.11", consumer_python="3.11.7") is None
    assert classify(*args) is None


def test_the_module_a_keras_file_names_and_the_reader_decide_its_family():
    message = (
        "Could not deserialize class 'Functional' because its parent module keras.engine.functional "
        "cannot be imported. Full object config: {'module': 'keras.engine.functional', 'class_name': ..."
    )
    assert classify("TypeError", message, consumer_keras="3.5.0").id == "keras2_under_keras3"
    assert classify("TypeError", message, consumer_keras="2.13.1").id == "keras2_module_moved"
    assert classify("TypeError", message, consumer_keras="3.5.0", strategy="tf_keras").id == "keras2_module_moved"
    assert classify("TypeError", message) is None
    keras3 = message.replace("'module': 'keras.engine.functional'", "'module': 'keras.src.models.functional'")
    assert classify("TypeError", keras3).id == "keras3_under_keras2"


def test_not_hdf5_is_a_keras_archive_only_when_the_file_is_one():
    message = "Unable to open file (file signature not found)"
    assert classify("OSError", message, fmt="keras").id == "keras_zip_old_keras"
    assert classify("OSError", message, fmt="h5") is None
    assert classify("OSError", message) is None


def test_families_known_from_users_files():
    assert classify("AttributeError", "'str' object has no attribute 'decode'").id == "h5py_strings"
    assert classify("ValueError", "No model found in config file.").id == "weights_only"
    assert classify("ValueError", "No model config found in the file at /x/w.h5.").id == "weights_only"


def test_an_unknown_error_is_never_dressed_up():
    assert classify("RuntimeError", "something nobody has seen") is None
    assert classify("KeyError", "'jaxx'") is None
    assert classify("TypeError", "'str' object is not callable", strategy="custom_objects") is None


def test_census_of_a_results_document():
    document = {
        "consumer": {"id": "tf215", "python": "3.11", "runtime": {"keras": "2.15.0"}},
        "attempts": [
            {
                "producer": "tf210",
                "fixture": "lambda-h5",
                "format": "h5",
                "strategy": "load_model",
                "verdict": "error",
                "error": {"type": "EOFError", "message": "EOF read where object expected", "traceback": "..."},
            },
            {
                "producer": "tf210",
                "fixture": "lambda-h5",
                "format": "h5",
                "strategy": "no_compile",
                "verdict": "error",
                "error": {"type": "EOFError", "message": "EOF read where object expected", "traceback": "..."},
            },
            {
                "producer": "tf210",
                "fixture": "lambda-h5",
                "format": "h5",
                "strategy": "unsafe",
                "verdict": "error",
                "error": {"type": "RuntimeError", "message": "new", "traceback": "..."},
            },
            {"producer": "tf210", "fixture": "builtin-h5", "format": "h5", "strategy": "load_model", "verdict": "pass"},
        ],
    }
    counted = census(document)
    assert (counted.attempts, counted.errors) == (3, 2)
    assert counted.families == (("lambda_bytecode", 2, 1),)
    assert (counted.unclassified_attempts, counted.unclassified_errors) == (1, 1)
    assert counted.unclassified == ("RuntimeError: new",)


def test_a_results_document_knows_the_producer_python_from_the_catalog():
    document = {"consumer": {"id": "tf215", "python": "3.11", "runtime": {"keras": "2.15.0"}}, "attempts": []}
    attempt = {
        "producer": "tf210",
        "fixture": "canary-h5",
        "format": "h5",
        "strategy": "load_model",
        "verdict": "error",
        "error": {
            "type": "SystemError",
            "traceback": "",
            "message": 'Exception encountered when calling layer "lambda"',
        },
    }
    assert families.classify_attempt(document, attempt).id == "lambda_bytecode"
