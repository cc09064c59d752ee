"""What the user-file commands say of a failed load (pure): the error line keeps the words that
matter, no control code gets through, and a hint names only what applies to the file."""

from __future__ import annotations

import pytest

from compat.userfiles import diagnose, hints

# Keras 3's message for a Keras 2 DepthwiseConv2D, as the worker keeps it (its first 500
# characters) and the tail of its traceback, where the real error is.
DUMP = (
    "Error when deserializing class 'DepthwiseConv2D' using config={'name': 'dw', 'trainable': True, "
    "'dtype': 'float32', 'kernel_size': [3, 3], 'strides': [1, 1], 'padding': 'valid', 'data_format': "
    "'channels_last', 'dilation_rate': [1, 1], 'groups': 1, 'activation': 'linear', 'use_bias': True, "
    "'bias_initializer': {'module': 'keras.initializers', 'class_name': 'Zeros', 'config': {}, "
    "'registered_name': None}, 'bias_regularizer': None, 'activity_regularizer': None, 'bias_constraint': "
    "None, 'depth_multiplier': 1, 'depthwise_initializer': {'module': 'keras.initializers', 'class_name': "
    "'GlorotUniform', 'config': {'seed': None}, 'registered_name': None}, 'depthwise_constraint': None}."
)
GROUPS = {
    "type": "TypeError",
    "message": DUMP[:500],
    "traceback": "...\nTypeError: " + DUMP + "\n\nException encountered: Unrecognized keyword arguments passed "
    "to DepthwiseConv2D: {'groups': 1}\n",
}
TIME_MAJOR = {"type": "ValueError", "message": "Unrecognized keyword arguments passed to LSTM: {'time_major': False}"}


def attempt(strategy, status="error", error=None, reason=None):
    found = {"strategy": strategy, "status": status, "verdict": status}
    if error:
        found["error"] = error
    if reason:
        found["reason"] = reason
    return found


NOT_FACENET = "the file's layer names are not FaceNet's (...)"
NOTHING_TO_HAND_OVER = "the file names no custom classes or functions: there is nothing to hand over"


def keras3_attempts(error, custom_objects_reason=NOTHING_TO_HAND_OVER):
    """A Keras 2 file's attempts under Keras 3, as the probe records them."""
    return [
        attempt("load_model", error=error),
        attempt("no_compile", error=error),
        attempt("custom_objects", "not_applicable", reason=custom_objects_reason),
        attempt("unsafe", "not_applicable", reason="the file holds no stored code"),
        attempt("tf_keras", "pass"),
        attempt("savedmodel_inference", "not_applicable", reason="does not read h5 files"),
        attempt("json_plain", "not_applicable", reason="does not read h5 files"),
        attempt("json_weights", "not_applicable", reason="does not read h5 files"),
        attempt("rebuild_weights", "not_applicable", reason=NOT_FACENET),
        attempt("rebuild_by_name", "not_applicable", reason=NOT_FACENET),
        attempt("h5_transplant", "not_applicable", reason=NOT_FACENET),
    ]


KERAS3 = {"id": "tf221", "runtime": {"python": "3.13.0", "tensorflow": "2.21.0", "keras": "3.15.1"}}
USER_FILE = {"format": "h5", "saved_by_keras": "2.15.0", "facenet": False, "custom_classes": []}


def named_strategies(text: str, attempts: list[dict]) -> set[str]:
    return {a["strategy"] for a in attempts if hints._mentions(text, a["strategy"])}


# -- the error line ------------------------------------------------------------------------------


def test_the_depthwise_error_keeps_groups_from_the_real_error_behind_keras_wrapper():
    line = hints.error_line(GROUPS)
    assert line.endswith("Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}")
    assert line.startswith("TypeError: Error when deserializing class 'DepthwiseConv2D'")
    assert len(line) <= hints.LINE_LIMIT


def test_a_cut_never_falls_inside_the_braces_that_name_the_keys():
    text = "ValueError: " + "x" * 280 + " passed to LSTM: {'time_major': False, 'other': 1}"
    line = hints.shorten(text, 300)
    assert "{'time_major': False, 'other': 1}" in line


def test_a_long_dump_is_reduced_to_its_keys_or_to_an_ellipsis():
    dump = "{" + ", ".join(f"'key{n}': {n}" for n in range(80)) + "}"
    line = hints.shorten(f"Error with config={dump}: Unrecognized keyword arguments: {{'groups': 1}}", 200)
    assert line.endswith("{'groups': 1}") and "config={\u2026}" in line
    small = "{" + ", ".join(f"'k{n}': [{n}, {n}, {n}, {n}, {n}]" for n in range(8)) + "}"
    line = hints.shorten("A" * 250 + f" config={small} then {{'groups': 1}}", 360)
    assert "config={'k0', 'k1'" in line and line.endswith("then {'groups': 1}")
    line = hints.shorten("A" * 250 + f" config={small} then {{'groups': 1}}", 260)
    assert line.endswith("\u2026 {'groups': 1}") and len(line) <= 260


def test_a_short_line_is_kept_whole_and_only_its_first_line():
    assert hints.shorten("ValueError: short\nmore lines") == "ValueError: short"


# -- control codes -------------------------------------------------------------------------------


def test_plain_reuses_the_records_cleaning():
    styled = "\x1b[1mUnknown layer\x1b[0m: 'Scale'\r\x07"
    assert hints.plain(styled) == "Unknown layer: 'Scale'"
    assert hints.error_line({"type": "ValueError", "message": styled}) == "ValueError: Unknown layer: 'Scale'"


def test_convert_output_is_written_plain(capsys):
    import sys

    from compat.cli.convert import PlainWriter

    PlainWriter(sys.stdout).write("proof: NOT passed: exit 1: \x1b[1mValueError\x1b[0m\n")
    assert capsys.readouterr().out == "proof: NOT passed: exit 1: ValueError\n"


def test_explain_reads_a_pasted_message_without_its_colour_codes(capsys):
    from compat import cli

    args = cli.build_parser().parse_args(["explain", "\x1b[1mEOFError: EOF read where object expected\x1b[0m"])
    cli.invoke(args.func, args)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "lambda_bytecode" in out


def test_the_one_error_line_of_any_command_is_plain(capsys):
    from compat import cli
    from compat.errors import HarnessFailure

    def failing(_):
        raise HarnessFailure("converting failed: \x1b[1mValueError\x1b[0m")

    assert cli.invoke(failing, object()) == 3
    assert capsys.readouterr().err.endswith("error: converting failed: ValueError\n")


# -- the Keras direction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "saved, reader, direction",
    [
        ("2.15.0", "3.15.1", "older"),
        ("3.16.0", "3.15.1", "newer"),
        ("2.15.0", "2", "same"),  # tf_keras: known only as Keras 2
        ("2.12.0", "2.15.0", "older"),
        (None, "3.15.1", None),
        ("2.15.0", None, None),
    ],
)
def test_the_direction_compares_the_saving_keras_with_the_reader(saved, reader, direction):
    assert hints.keras_direction(saved, reader) == direction


def test_keras2_keywords_under_keras3_are_from_an_older_keras():
    for error in (GROUPS, TIME_MAJOR):
        found = hints.hint(KERAS3, attempt("load_model", error=error), USER_FILE, keras3_attempts(error))
        assert found is not None and found.label == "config from an older Keras"
        assert "newer" not in found.line() and "saved by Keras 2.15.0" in found.action
    found = hints.hint(KERAS3, attempt("load_model", error=GROUPS), USER_FILE, keras3_attempts(GROUPS))
    assert found is not None and "DepthwiseConv2D argument groups" in found.action


def test_a_file_newer_than_its_reader_is_said_so_and_an_unknown_one_is_not_guessed():
    newer = dict(USER_FILE, saved_by_keras="3.16.0")
    found = hints.hint(KERAS3, attempt("load_model", error=TIME_MAJOR), newer, keras3_attempts(TIME_MAJOR))
    assert found is not None and found.label == "config from a newer Keras"
    unknown = dict(USER_FILE, saved_by_keras=None)
    found = hints.hint(KERAS3, attempt("load_model", error=TIME_MAJOR), unknown, keras3_attempts(TIME_MAJOR))
    assert found is not None and "older" not in found.label and "newer" not in found.label
    assert "cannot be told" in found.action


# -- naming only what applies --------------------------------------------------------------------


def test_a_hint_names_no_strategy_that_does_not_apply_and_names_the_flag_instead():
    attempts = keras3_attempts(GROUPS)
    found = hints.hint(KERAS3, attempts[0], USER_FILE, attempts)
    assert found is not None
    assert named_strategies(found.action, attempts) == {"tf_keras"}
    assert diagnose.ARCHITECTURE_FLAG in found.action


def test_custom_classes_not_handed_over_point_to_the_users_code_not_custom_objects():
    error = {"type": "ValueError", "message": "Unknown layer: 'TFOpLambda'. Please ensure ..."}
    handed = "the file names custom classes or functions (TFOpLambda): hand their code over in custom_objects"
    attempts = keras3_attempts(error, handed)
    found = hints.hint(KERAS3, attempts[0], dict(USER_FILE, custom_classes=["TFOpLambda"]), attempts)
    assert found is not None and "custom_objects" not in found.action
    # the file stores its architecture, so translating it needs no code from the user
    assert "translate" in named_strategies(found.action, [*attempts, attempt("translate", "pass")])
    nothing = keras3_attempts(error)
    found = hints.hint(KERAS3, nothing[0], USER_FILE, nothing)
    assert found is not None and "custom_objects" not in found.action


def test_a_lambda_function_stored_by_name_points_to_the_function_flag():
    error = {"type": "TypeError", "message": "Could not locate function 'scale'. Make sure ..."}
    attempts = keras3_attempts(error, "the file names custom classes or functions (scale): hand them over")
    found = hints.hint(KERAS3, attempts[0], dict(USER_FILE, custom_classes=["scale"]), attempts)
    assert found is not None and found.id == "lambda_function_by_name"
    assert diagnose.FUNCTION_FLAG in found.action and "custom_objects" not in found.action


def test_facenet_keeps_the_rebuild_strategies_that_apply_to_it():
    error = {"type": "EOFError", "message": "EOF read where object expected"}
    attempts = [
        attempt("load_model", error=error),
        attempt("rebuild_weights", "pass"),
        attempt("h5_transplant", "pass"),
    ]
    facenet = dict(USER_FILE, facenet=True)
    found = hints.hint({"runtime": {"python": "3.11.7", "keras": "2.15.0"}}, attempts[0], facenet, attempts)
    assert found is not None and "(rebuild_weights, h5_transplant)" in found.action
    assert "--architecture" not in found.action


def test_alternatives_split_only_at_the_top_level():
    action = "if you trust it, x (the unsafe strategy; its bytecode ...); otherwise rebuild (rebuild_weights)"
    assert [text for _, text in hints._alternatives(action)] == [
        "if you trust it, x (the unsafe strategy; its bytecode ...)",
        "rebuild (rebuild_weights)",
    ]
    assert not hints._mentions("load_model(path, compile=False) and tf_keras.models.load_model", "load_model")
    assert hints._mentions("load it with tf_keras (the tf_keras strategy)", "tf_keras")
