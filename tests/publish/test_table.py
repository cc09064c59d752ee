"""``compat.publish.table``: the text ``compat load`` prints, from a small canned results document."""

from __future__ import annotations

import re

import pytest

from compat.publish import table
from compat.records.families import FAMILIES

STRATEGIES = [
    {"name": "load_model", "tier": "as_is", "kind": "model", "formats": ["h5"], "summary": ""},
    {"name": "no_compile", "tier": "flag", "kind": "model", "formats": ["h5"], "summary": ""},
    {"name": "tf_keras", "tier": "flag", "kind": "model", "formats": ["h5"], "summary": ""},
    {"name": "savedmodel_inference", "tier": "flag", "kind": "model", "formats": ["h5"], "summary": ""},
    {"name": "rebuild_weights", "tier": "weights", "kind": "weights", "formats": ["h5"], "summary": ""},
    {"name": "h5_transplant", "tier": "weights", "kind": "weights", "formats": ["h5"], "summary": ""},
]
RECIPE = "from compat.inside import facenet\nmodel = facenet.build('lambda', size='tiny')"


def _attempt(fixture, strategy, verdict, **extra):
    variant, fmt = fixture.split("-", 1)
    return dict(
        producer="tf210", fixture=fixture, variant=variant, format=fmt, strategy=strategy, verdict=verdict, **extra
    )


def _error(kind, message):
    return {"error": {"type": kind, "message": message, "traceback": "..."}}


def _document():
    attempts = [
        _attempt("builtin-h5", "load_model", "pass", recipe="model = keras.models.load_model('builtin.h5')"),
        _attempt("builtin-h5", "no_compile", "pass"),
        _attempt("builtin-h5", "rebuild_weights", "pass", recipe=RECIPE),
        _attempt("lambda-h5", "load_model", "error", **_error("EOFError", "EOF read where object expected")),
        _attempt("lambda-h5", "no_compile", "error", **_error("ValueError", "bad marshal data (unknown type code)")),
        _attempt("lambda-h5", "savedmodel_inference", "timeout", reason="no answer within 300 s"),
        _attempt("lambda-h5", "rebuild_weights", "pass", recipe=RECIPE),
        _attempt("lambda-h5", "h5_transplant", "crash", reason="the worker died (SIGSEGV)"),
        _attempt("custom-h5", "load_model", "error", **_error("RuntimeError", "a failure nobody has explained")),
        _attempt("custom-h5", "rebuild_weights", "mismatch"),
        _attempt("custom-h5", "h5_transplant", "pass", recipe="transplant.set_weights_from_file(model, 'c.h5')"),
    ]
    attempts += [
        _attempt(f, "tf_keras", "not_applicable", reason="here tf.keras is Keras 2 already")
        for f in ("builtin-h5", "lambda-h5", "custom-h5")
    ]
    return {
        "schema": "compat.results/1",
        "run": {"consumer": "tf215", "producers": ["tf210"], "complete": True},
        "consumer": {
            "id": "tf215",
            "python": "3.11",
            "runtime": {"python": "3.11.7", "keras": "2.15.0", "tensorflow": "2.15.1"},
        },
        "strategies": STRATEGIES,
        "attempts": attempts,
    }


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_fits_the_width(width):
    text = table.render(_document(), width=width, results_path="reports/results/tf215-load-tf210.json")
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, too_long


def test_every_strategy_that_applied_is_a_column_and_the_rest_is_named():
    for width in (60, 200):
        text = table.render(_document(), width=width)
        heads = " ".join(line for line in text.splitlines() if line.startswith("fixture"))
        for name in ("load_model", "no_compile", "savedmodel_inference", "rebuild_weights", "h5_transplant"):
            assert name in heads or f"={name}" in text, (width, name)
        assert "not shown: tf_keras (does not apply" in text
    assert "columns:" not in table.render(_document(), width=200)
    assert "columns: load=load_model" in table.render(_document(), width=60)


def test_too_many_columns_are_split_into_panels():
    document = _document()
    for name in ("custom_objects", "unsafe", "json_plain", "json_weights", "rebuild_by_name"):
        document["strategies"].append(dict(STRATEGIES[0], name=name))
        document["attempts"].append(_attempt("builtin-h5", name, "pass"))
    text = table.render(document, width=60)
    panels = [line for line in text.splitlines() if line.startswith("fixture")]
    assert len(panels) == 2 and "recommended" in panels[0] and "recommended" not in panels[1]
    assert all(len(line) <= 60 for line in text.splitlines())
    heads = " ".join(panels).split()
    assert {"load", "nocmp", "smodl", "rbld", "h5tr", "cust", "unsaf", "json", "jsonw", "rbnam"} <= set(heads)


def test_the_grid_and_the_recommendation():
    rows = {
        line.split()[0]: line.split()[1:]
        for line in table.render(_document(), width=200).splitlines()
        if re.match(r"(builtin|lambda|custom)-h5 ", line)
    }
    assert rows["builtin-h5"] == ["load_model", "ok", "ok", "ok"]  # blank: not run
    assert rows["lambda-h5"] == ["rebuild_weights", "err", "err", "TIME", "ok", "CRASH"]
    assert rows["custom-h5"] == ["h5_transplant", "!", "err", "WRONG", "ok"]


def test_a_legend_for_every_symbol():
    text = table.render(_document(), width=100)
    legend = text[text.index("symbols:") :]
    for verdict, symbol in table.SYMBOLS.items():
        assert f"{symbol} {table.MEANINGS[verdict]}" in " ".join(legend.split())


def test_each_failing_strategy_gives_its_error_family_once_and_the_family_is_explained():
    text = table.render(_document(), width=120)
    why = text[text.index("why strategies failed") : text.index("what they mean")]
    blocks = dict(re.findall(r"^  (\S[^\n]*):\n((?:    [^\n]*\n)+)", why, re.MULTILINE))
    assert set(blocks) == {"load_model", "no_compile", "savedmodel_inference", "h5_transplant"}
    assert blocks["load_model"].count("Lambda bytecode from another Python") == 1
    assert "EOFError: Lambda bytecode from another Python (lambda-h5)" in blocks["load_model"]
    assert "ValueError: Lambda bytecode from another Python (lambda-h5)" in blocks["no_compile"]
    assert "TIME: no answer within 300 s (lambda-h5)" in why
    assert "CRASH: the worker died (SIGSEGV) (lambda-h5)" in why
    family = FAMILIES["lambda_bytecode"]
    meaning = " ".join(text[text.index("what they mean") :].split())
    assert meaning.count(f"{family.label}: {family.cause}") == 1


def test_an_unknown_error_is_shown_raw():
    text = " ".join(table.render(_document(), width=100).split())
    assert "RuntimeError: unclassified: a failure nobody has explained (custom-h5)" in text


def test_recipes_results_file_and_report_are_pointed_to():
    text = table.render(_document(), width=100, results_path="reports/results/tf215-load-tf210.json")
    assert "load_model, for builtin-h5: works as it is" in text
    assert "rebuild_weights, for lambda-h5; as written for lambda-h5:" in text
    assert "      model = facenet.build('lambda', size='tiny')" in text
    assert "results: reports/results/tf215-load-tf210.json" in text
    assert "`compat report`" in text and "matrix.html" in text
    assert "results: reports/results/tf215.json (unless --output" in table.render(_document(), width=100)
    assert text.splitlines()[-1] == "verdicts: crash 1, error 3, mismatch 1, not_applicable 3, pass 5, timeout 1"
    assert table.render(_document(), width=200).count("Lambda bytecode from another Python") == 3
    assert "Python 3.11.7, Keras 2.15.0, TensorFlow 2.15.1" in text.splitlines()[0]


def test_the_terminal_width_is_the_default(monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    assert max(len(line) for line in table.render(_document()).splitlines()) <= 70
