"""``compat explain``: a pasted error, mangled as users paste it, finds its family, where the
published matrix records it and what passes there; no TensorFlow."""

from __future__ import annotations

import functools
import json
import re

import pytest

from compat import cli
from compat.paths import PUBLISHED_MATRIX
from compat.records import explain, families, matrixdoc

OUR_ROOT = "/work/main"
THEIR_ROOT = "/home/alice/projects/faces"


@functools.lru_cache(maxsize=1)
def published() -> dict:
    return matrixdoc.read(PUBLISHED_MATRIX)


def recorded_error(family_id: str, contains: str) -> dict:
    """The most often recorded error of ``family_id`` in the published matrix whose message has ``contains``."""
    document = published()
    seen: dict[tuple, list] = {}
    for attempt in document["attempts"]:
        error = attempt.get("error")
        if error and contains in error["message"]:
            family = families.classify_attempt(document, attempt)
            if family is not None and family.id == family_id:
                seen.setdefault((error["type"], error["message"]), []).append(attempt)
    assert seen, f"no recorded {family_id} error says {contains!r}"
    (error_type, message), _ = max(seen.items(), key=lambda item: len(item[1]))
    return {"type": error_type, "message": message}


def recorded_consumers(message: str, error_type: str = "", prefix: bool = False) -> set[str]:
    """The consumers whose recorded errors (of ``error_type`` when given) say ``message``, or
    (``prefix``) start it or are started by it."""
    wanted = explain.normalized(message)
    return {
        attempt["consumer"]
        for attempt in published()["attempts"]
        if attempt.get("error")
        and attempt["error"]["type"] == (error_type or attempt["error"]["type"])
        and (
            explain.same_message(wanted, explain.normalized(attempt["error"]["message"]))
            if prefix
            else attempt["error"]["message"] == message
        )
    }


def as_user_pastes(error: dict, form: str) -> str:
    """The recorded error as a user would paste it: their own paths, a type prefix, stray
    whitespace, only the first line, or a whole traceback with the type's module in front."""
    message = error["message"].replace(OUR_ROOT, THEIR_ROOT)
    if form == "first line":
        return f"  \n\t{error['type']}: {message}   \n"
    if form == "bare message":
        return f" {message} "
    return (
        "Traceback (most recent call last):\n"
        f'  File "{THEIR_ROOT}/load.py", line 7, in <module>\n'
        "    model = keras.models.load_model(path)\n"
        f'  File "{THEIR_ROOT}/venv/lib/python3.11/site-packages/keras/saving.py", line 9, in load_model\n'
        "    raise error\n"
        f"some.module.{error['type']}: {message}\n"
    )


# (family, a distinctive piece of one of its recorded messages)
RECORDED = [
    ("custom_objects_missing", "Unknown layer: 'ScaleLayer'"),
    ("lambda_bytecode", "bad marshal data"),
    ("lambda_safe_mode", "Requested the deserialization of a `Lambda` layer"),
    ("savedmodel_without_keras_model", "'_UserObject' object has no attribute 'predict'"),
    ("keras3_by_name", "Weight count mismatch for top-level weights"),
    ("keras3_under_keras2", "Unrecognized keyword arguments: ['batch_shape']"),
    ("keras_zip_old_keras", "SavedModel file does not exist at"),
    ("functional_class_unknown", "Unknown layer: Functional"),
    ("weights_new_layout", "weight file containing 0 layers"),
]


@pytest.mark.parametrize("form", ["first line", "bare message", "traceback"])
@pytest.mark.parametrize(("family_id", "contains"), RECORDED)
def test_a_recorded_error_pasted_as_users_do_finds_its_family_stacks_and_fix(family_id, contains, form):
    error = recorded_error(family_id, contains)
    answer = explain.explain(published(), as_user_pastes(error, form))
    assert answer.found
    best = answer.matches[0]
    assert best.family.id == family_id
    assert best.found_by in explain.TIERS
    assert best.attempts > 0 and best.consumers
    # A pasted type keeps to the errors recorded with it (the same message may come with two).
    given_type = "" if form == "bare message" else error["type"]
    listed = {consumer for consumer, _ in best.consumers}
    assert recorded_consumers(error["message"], given_type) <= listed
    assert listed <= recorded_consumers(error["message"], given_type, prefix=True)
    assert best.fix is not None and best.fix.passes > 0 and best.fix.load_lines
    passing = {
        (attempt["consumer"], attempt["producer"], attempt["fixture"])
        for attempt in published()["attempts"]
        if attempt["strategy"] == best.fix.strategy and attempt["verdict"] == "pass"
    }
    assert best.fix.example in passing


def test_a_user_paths_and_names_still_match_the_recorded_message():
    pasted = (
        "ValueError: Unknown layer: 'MyScale'. Please ensure you are using a "
        "`keras.utils.custom_object_scope` and that this object is included in the scope."
    )
    best = explain.explain(published(), pasted).matches[0]
    assert (best.family.id, best.found_by) == ("custom_objects_missing", explain.SAME_BUT_NAMES)


def test_a_quoted_name_the_signatures_know_is_not_taken_for_another_family():
    # 'Functional' under Keras 2.1-2.3 reads like any unknown custom layer once names are blanked.
    answer = explain.explain(published(), "ValueError: Unknown layer: 'Functional'")
    assert answer.matches[0].family.id == "functional_class_unknown"


def test_a_first_line_several_families_share_lists_them_ranked():
    error = recorded_error("keras2_module_moved", "parent module keras.engine.functional")
    answer = explain.explain(published(), as_user_pastes(error, "first line"))
    found = [match.family.id for match in answer.matches]
    assert {"keras2_module_moved", "keras2_under_keras3"} <= set(found)
    counts = [(match.confirmed, match.attempts) for match in answer.matches]
    assert counts == sorted(counts, reverse=True)


def test_where_nothing_passes_the_answer_says_so(capsys):
    # An old compiled SavedModel under TF 2.21 as pip installs it (no tf-keras): nothing there loads it.
    error = recorded_error("savedmodel_optimizer_slots", "object has no attribute 'add_slot'")
    best = explain.explain(published(), as_user_pastes(error, "traceback")).matches[0]
    assert best.family.id == "savedmodel_optimizer_slots"
    assert {consumer for consumer, _ in best.consumers} == recorded_consumers(error["message"], error["type"])
    assert best.fix is None
    assert cli.main(["explain", as_user_pastes(error, "first line")]) == 0
    assert "what loads there: nothing measured passes in those cells" in capsys.readouterr().out


def test_a_known_family_the_matrix_never_recorded_is_still_explained():
    answer = explain.explain(published(), "AttributeError: module 'tensorflow' has no attribute 'GraphDef'")
    best = answer.matches[0]
    assert (best.family.id, best.found_by, best.attempts, best.fix) == ("tf1_graph_api", explain.SIGNATURE, 0, None)


# -- reading what was pasted ------------------------------------------------------------------------


def test_parse_takes_the_last_exception_of_a_traceback_without_its_module():
    pasted = explain.parse(
        "Traceback (most recent call last):\n"
        '  File "a.py", line 1, in <module>\n'
        "    f()\n"
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n"
    )
    assert (pasted.error_type, pasted.message) == ("JSONDecodeError", "Expecting value: line 1 column 1 (char 0)")


def test_parse_reads_keras_wrappers_as_the_worker_records_them():
    pasted = explain.parse(
        "Exception encountered when calling Lambda.call().\n\n"
        "\u2022 Arguments received by Lambda.call():\n"
        'can only concatenate tuple (not "TrackedList") to tuple\n'
    )
    assert pasted.error_type == ""
    assert (
        pasted.message
        == 'Exception encountered when calling Lambda.call(). can only concatenate tuple (not "TrackedList") to tuple'
    )


def test_normalising_makes_paths_numbers_quotes_and_case_the_same():
    ours = "SavedModel file does not exist at: /work/main/.cache/x/builtin.keras/{saved_model.pbtxt|saved_model.pb}"
    theirs = "savedmodel file does not exist at: C:\\Users\\me\\m.keras\\{saved_model.pbtxt|saved_model.pb}"
    assert explain.normalized(ours) == explain.normalized(theirs)
    assert explain.normalized("a weight file containing 0 layers into a model with 76 layers.") == explain.normalized(
        "a weight file containing 3 layers into a model with 12 layers"
    )
    assert explain.normalized("Unknown layer: 'A'", blank_names=True) == explain.normalized(
        'Unknown layer: "B"', blank_names=True
    )


def test_a_pasted_prefix_must_say_enough_to_pick_a_message():
    assert explain.same_message("unknown layer: scalelayer. please ensure you are", "unknown layer: scalelayer")
    assert not explain.same_message("unknown", "unknown layer: scalelayer")
    assert not explain.same_message("unknown layer: scalelayerv2 is not", "unknown layer: scalelayer")


# -- a small canned matrix ----------------------------------------------------------------------------


def canned_matrix() -> dict:
    def attempt(strategy: str, verdict: str, **fields) -> dict:
        recipe = (
            f'"""Loading strategy {strategy}: x.\n"""\n'
            f"images = 1\nmodel = load_{strategy}(MODEL_PATH)\nembeddings = 2\n"
        )
        return dict(
            consumer="tf221",
            producer="tf215",
            fixture="custom-h5",
            variant="custom",
            format="h5",
            strategy=strategy,
            verdict=verdict,
            recipe=recipe,
            **fields,
        )

    unknown = {"type": "ValueError", "message": "Unknown layer: 'ScaleLayer'. Please ensure", "traceback": ""}
    return {
        "catalog": [
            {"id": "tf215", "python": "3.11"},
            {"id": "tf221", "python": "3.13", "runtime": {"keras": "3.15.1"}},
        ],
        "strategies": [
            {"name": "load_model", "summary": "load_model(path) as it is"},
            {"name": "custom_objects", "summary": "load_model with the custom classes"},
        ],
        "attempts": [
            attempt("load_model", "error", error=unknown),
            attempt("custom_objects", "pass"),
        ],
    }


def test_on_a_canned_matrix_the_fix_is_the_strategy_passing_in_the_same_cell():
    answer = explain.explain(canned_matrix(), "ValueError: Unknown layer: 'ScaleLayer'. Please ensure")
    best = answer.matches[0]
    assert best.family.id == "custom_objects_missing"
    assert best.consumers == (("tf221", 1),) and best.producers == (("tf215", 1),)
    assert best.fix is not None
    assert (best.fix.strategy, best.fix.passes, best.fix.cells) == ("custom_objects", 1, 1)
    assert best.fix.summary == "load_model with the custom classes"
    assert best.fix.load_lines == ("model = load_custom_objects(MODEL_PATH)",)


def test_on_an_empty_matrix_the_signatures_still_answer():
    answer = explain.explain({"attempts": []}, "EOFError: EOF read where object expected")
    assert [match.family.id for match in answer.matches] == ["lambda_bytecode"]
    assert answer.matches[0].found_by == explain.SIGNATURE


# -- the command ----------------------------------------------------------------------------------------


def test_the_command_prints_family_stacks_and_fix(capsys):
    status = cli.main(["explain", "  OSError: Unable to synchronously open file (file signature not found)  "])
    out = capsys.readouterr().out
    assert status == 0
    assert "keras_zip_old_keras: .keras archive under Keras before 2.12" in out
    assert "recorded under " in out and "what loads there: " in out and "the family's fix: " in out


def test_a_message_no_family_knows_is_one_line_and_exit_1(capsys):
    assert cli.main(["explain", "ZeroDivisionError: division by zero"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("no family known for this message") and out.count("\n") == 1


def test_json_is_valid_and_says_the_same(capsys):
    assert cli.main(["explain", "ValueError: bad marshal data (unknown type code)", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["pasted"]["error_type"] == "ValueError"
    assert answer["matches"][0]["family"]["id"] == "lambda_bytecode"
    assert answer["matches"][0]["fix"]["strategy"]


def test_json_when_nothing_matches_is_valid_too(capsys):
    assert cli.main(["explain", "--json", "ZeroDivisionError: division by zero"]) == 1
    assert json.loads(capsys.readouterr().out)["matches"] == []


def test_bad_usage_is_exit_2(tmp_path, capsys):
    assert cli.main(["explain", "   "]) == 2
    assert cli.main(["explain", "EOFError: x", "--matrix", str(tmp_path / "missing.json")]) == 2
    assert cli.main(["explain"]) == 2


def test_matrix_option_reads_another_document(tmp_path, capsys):
    path = tmp_path / "matrix.json"
    path.write_text(matrixdoc.text(canned_matrix()))
    assert cli.main(["explain", "--matrix", str(path), "ValueError: Unknown layer: 'ScaleLayer'. Please ensure"]) == 0
    assert "custom_objects passes in 1 of 1 of those cells" in capsys.readouterr().out


# The first line of each loading failure users report, as they paste it, and the family it is.
REPORTED_FIRST_LINES = [
    ("newer_config", "ValueError: Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}"),
    ("newer_config", "ValueError: Unrecognized keyword arguments passed to LSTM: {'time_major': False}"),
    (
        "tf_op_layer",
        "ValueError: Unknown layer: 'TFOpLambda'. Please ensure you are using a `keras.utils.custom_object_scope`",
    ),
    (
        "tfsmlayer_positional",
        "TypeError: Binding inputs to tf.function failed due to `too many positional arguments` being passed",
    ),
    ("gru_reset_after", "ValueError: GRU(reset_after=False) is not compatible with GRU(reset_after=True)"),
    ("h5py_strings", "AttributeError: 'str' object has no attribute 'decode'"),
    ("lambda_bytecode", "ValueError: bad marshal data (unknown type code)"),
    (
        "savedmodel_under_keras3",
        "ValueError: File format not supported: filepath=saved_model. Keras 3 only supports V3 `.keras` files",
    ),
    (
        "native_numbering",
        "ValueError: Layer 'lstm_cell' expected 3 variables, but received 0 variables during loading.",
    ),
    ("lambda_output_shape", "NotImplementedError: We could not automatically infer the shape of the Lambda's output."),
    ("savedmodel_optimizer_slots", "AttributeError: '_UserObject' object has no attribute 'add_slot'"),
    ("functional_class_unknown", "ValueError: Unknown layer: Functional"),
    ("keras3_under_keras2", "TypeError: Unrecognized keyword arguments: ['batch_shape']"),
    ("tf1_graph_api", "AttributeError: module 'tensorflow' has no attribute 'GraphDef'"),
    (
        "custom_objects_missing",
        "ValueError: Unknown layer: 'ScaleLayer'. Please ensure you are using a `keras.utils.custom_object_scope`",
    ),
    (
        "lambda_safe_mode",
        "ValueError: Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda.",
    ),
]


@pytest.mark.parametrize("family_id,pasted", REPORTED_FIRST_LINES, ids=[f for f, _ in REPORTED_FIRST_LINES])
def test_a_reported_first_line_finds_its_family(family_id, pasted):
    answer = explain.explain(published(), pasted)
    assert answer.matches and answer.matches[0].family.id == family_id


def test_the_families_cite_at_least_fifteen_public_reports():
    cited = {report for family in families.FAMILIES.values() for report in family.reports}
    assert len(cited) >= 15
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+#\d+", report) for report in cited)
