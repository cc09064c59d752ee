"""``compat.harness.regress``: the comparison on small canned attempts, and one real run."""

from __future__ import annotations

import json

import pytest

from compat import cli
from compat.harness import regress
from compat.records import change, matrixdoc
from compat.records.change import Change

ORDER = ["load_model", "no_compile", "custom_objects", "rebuild_weights", "h5_transplant"]


def attempt(fixture, strategy, verdict, producer="keras212", consumer=None, **extra):
    variant, fmt = fixture.split("-", 1)
    found = {
        "producer": producer,
        "fixture": fixture,
        "variant": variant,
        "format": fmt,
        "strategy": strategy,
        "verdict": verdict,
        "recipe": f"# {strategy} recipe\nmodel = ...",
        **extra,
    }
    if consumer:
        found["consumer"] = consumer
    return found


def row(fixture, verdicts, **kwargs):
    return [attempt(fixture, s, v, **kwargs) for s, v in zip(ORDER, verdicts, strict=False)]


def error(message="ValueError", text="Unknown layer: Lambda"):
    return {"error": {"type": message, "message": text}}


def only(entries, fixture):
    return next(e for e in entries if e["fixture"] == fixture)


def test_best_strategy_stops_working_names_the_replacement():
    old = row("lambda-h5", ["pass", "pass", "pass", "pass", "pass"])
    new = row("lambda-h5", ["error", "error", "error", "pass", "pass"])
    new[0].update(error())
    result = change.compare_consumers(old, new, ORDER)
    [entry] = result["regressed"]
    assert entry["change"] == Change.SWITCH
    assert entry["old_best"] == "load_model" and entry["new_best"] == "rebuild_weights"
    assert entry["old_best_under_new"] == {
        "verdict": "error",
        "error": "ValueError: Unknown layer: Lambda",
        "error_type": "ValueError",
    }
    assert entry["switch_to"]["strategy"] == "rebuild_weights"
    assert entry["switch_to"]["recipe"].startswith("# rebuild_weights recipe")
    assert entry["also_stopped"] == ["no_compile", "custom_objects"]


def test_best_strategy_loading_wrong_numbers_is_a_regression():
    old = row("lambda-h5", ["pass", "pass", "pass", "pass", "pass"])
    new = row("lambda-h5", ["mismatch", "mismatch", "pass", "pass", "pass"])
    new[0].update(max_abs_diff=0.3, cosine=0.91)
    [entry] = change.compare_consumers(old, new, ORDER)["regressed"]
    assert entry["change"] == Change.NUMBERS
    assert entry["wrong_numbers"] == ["load_model", "no_compile"]
    assert entry["old_best_under_new"]["max_abs_diff"] == 0.3
    assert entry["switch_to"]["strategy"] == "custom_objects"


def test_other_strategy_turning_to_wrong_numbers_is_a_regression_too():
    old = row("lambda-h5", ["pass", "pass", "error", "pass", "pass"])
    new = row("lambda-h5", ["pass", "mismatch", "error", "pass", "pass"])
    [entry] = change.compare_consumers(old, new, ORDER)["regressed"]
    assert entry["change"] == Change.NUMBERS
    assert entry["wrong_numbers"] == ["no_compile"]
    assert entry["switch_to"]["strategy"] == "load_model"


def test_nothing_works_under_the_new_consumer():
    old = row("custom-keras", ["error", "error", "pass", "pass", "pass"])
    new = row("custom-keras", ["error", "error", "crash", "error", "timeout"])
    [entry] = change.compare_consumers(old, new, ORDER)["regressed"]
    assert entry["change"] == Change.STOPPED and entry["switch_to"] is None
    assert entry["old_best_under_new"]["verdict"] == "crash"


def test_not_applicable_under_the_new_consumer_counts_as_stopped():
    old = row("lambda-h5", ["error", "error", "error", "pass", "pass"])
    new = row("lambda-h5", ["error", "error", "error", "not_applicable", "pass"])
    new[3]["reason"] = "rebuild_weights does not read h5 files"
    [entry] = change.compare_consumers(old, new, ORDER)["regressed"]
    assert entry["old_best_under_new"] == {
        "verdict": "not_applicable",
        "reason": "rebuild_weights does not read h5 files",
    }
    assert entry["switch_to"]["strategy"] == "h5_transplant"


def test_started_working_improved_unchanged_still_broken():
    old = (
        row("a-h5", ["error"] * 5)
        + row("b-h5", ["error", "error", "error", "pass", "pass"])
        + row("c-h5", ["pass"] * 5)
        + row("d-h5", ["error"] * 5)
    )
    new = (
        row("a-h5", ["error", "error", "error", "pass", "pass"])
        + row("b-h5", ["pass"] * 5)
        + row("c-h5", ["pass"] * 5)
        + row("d-h5", ["mismatch"] + ["error"] * 4)
    )
    result = change.compare_consumers(old, new, ORDER)
    assert result["regressed"] == []
    assert [e["fixture"] for e in result["started_working"]] == ["a-h5"]
    assert only(result["started_working"], "a-h5")["switch_to"]["strategy"] == "rebuild_weights"
    assert [e["fixture"] for e in result["improved"]] == ["b-h5"]
    assert result["counts"][Change.UNCHANGED] == 1
    assert result["counts"][Change.STILL_BROKEN] == 1


def test_fixtures_on_one_side_only_are_not_compared():
    old = row("a-h5", ["pass"] * 5)
    new = row("b-h5", ["pass"] * 5)
    result = change.compare_consumers(old, new, ORDER)
    assert result["regressed"] == []
    assert sorted(e["detail"] for e in result["not_compared"]) == [
        "only measured under the new consumer",
        "only measured under the old consumer",
    ]


def test_best_strategy_not_tried_under_the_new_consumer_is_not_compared():
    old = row("a-h5", ["pass"] * 5)
    new = row("a-h5", ["pass"] * 5)[1:]
    [entry] = change.compare_consumers(old, new, ORDER)["not_compared"]
    assert "load_model was not tried" in entry["detail"]


def test_same_fixture_id_from_two_producers_is_two_fixtures():
    old = row("lambda-h5", ["pass"] * 5) + row("lambda-h5", ["pass"] * 5, producer="tf215")
    new = row("lambda-h5", ["pass"] * 5) + row("lambda-h5", ["error"] * 3 + ["pass"] * 2, producer="tf215")
    [entry] = change.compare_consumers(old, new, ORDER)["regressed"]
    assert entry["producer"] == "tf215"


def test_render_names_the_switch_and_its_recipe():
    old = row("lambda-h5", ["pass"] * 5)
    new = row("lambda-h5", ["error"] * 3 + ["pass"] * 2)
    new[0].update(error())
    side = {"source": "x", "runtime": None}
    report = regress.build_report(
        "tf215", "tf216", dict(side, attempts=old, order=ORDER), dict(side, attempts=new, order=ORDER), {}
    )
    text = regress.render(report)
    assert report["exit_status"] == 1 and report["status"] == "regressed"
    assert "REGRESSED keras212/lambda-h5: load_model passed under tf215, error under tf216" in text
    assert "switch to rebuild_weights:" in text
    assert "        # rebuild_weights recipe" in text


def _args(**options):
    """``compat regress`` arguments as its own parser reads them (tf215 -> tf221 by default)."""
    argv = ["regress", "--from", options.pop("old", "tf215"), "--to", options.pop("new", "tf221")]
    for name, value in options.items():
        if value is not None:
            argv += ["--" + {"json_out": "json"}.get(name, name).replace("_", "-"), str(value)]
    return cli.build_parser().parse_args(argv)


def _matrix(tmp_path, attempts, strategies=ORDER):
    path = tmp_path / "matrix.json"
    path.write_text(matrixdoc.text({"attempts": attempts, "strategies": [{"name": s} for s in strategies]}))
    return path


def test_baseline_matrix_regressed_exit_1_and_json(tmp_path, capsys):
    attempts = (
        row("lambda-h5", ["pass"] * 5, consumer="tf215")
        + row("lambda-h5", ["error"] * 3 + ["pass"] * 2, consumer="tf221")
        + row("builtin-h5", ["pass"] * 5, consumer="tf215")
        + row("builtin-h5", ["pass"] * 5, consumer="tf221")
    )
    out = tmp_path / "regress.json"
    status = cli.invoke(cli.regress.run, _args(baseline=str(_matrix(tmp_path, attempts)), json_out=str(out)))
    assert status == 1
    report = json.loads(out.read_text())
    assert report["schema"] == regress.SCHEMA and report["exit_status"] == 1
    assert [e["fixture"] for e in report["regressed"]] == ["lambda-h5"]
    assert "REGRESSED keras212/lambda-h5" in capsys.readouterr().out


def test_baseline_matrix_filters_and_exit_0(tmp_path):
    attempts = (
        row("lambda-h5", ["pass"] * 5, consumer="tf215")
        + row("lambda-h5", ["error"] * 3 + ["pass"] * 2, consumer="tf221")
        + row("builtin-h5", ["pass"] * 5, consumer="tf215")
        + row("builtin-h5", ["pass"] * 5, consumer="tf221")
    )
    path = _matrix(tmp_path, attempts)
    assert cli.invoke(cli.regress.run, _args(baseline=str(path), variants="builtin")) == 0
    assert cli.invoke(cli.regress.run, _args(baseline=str(path), formats="h5", variants="builtin,canary")) == 0


def test_baseline_filters_that_leave_nothing_are_bad_input(tmp_path, capsys):
    path = _matrix(
        tmp_path, row("lambda-h5", ["pass"] * 5, consumer="tf215") + row("lambda-h5", ["pass"] * 5, consumer="tf221")
    )
    assert cli.invoke(cli.regress.run, _args(baseline=str(path), producers="tf215")) == 2
    assert "no attempts match producers ['tf215']" in capsys.readouterr().err


def test_baseline_without_the_consumer_is_bad_input(tmp_path, capsys):
    path = _matrix(tmp_path, row("lambda-h5", ["pass"] * 5, consumer="tf215"))
    assert cli.invoke(cli.regress.run, _args(baseline=str(path))) == 2
    assert "no attempts of consumer tf221 (it has: tf215)" in capsys.readouterr().err


def test_baseline_with_another_schema_is_bad_input(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": "compat.results/1", "attempts": []}))
    assert cli.invoke(cli.regress.run, _args(baseline=str(path))) == 2
    assert "expected 'compat.matrix/4'" in capsys.readouterr().err


def test_unknown_environment_is_bad_input(capsys):
    assert cli.invoke(cli.regress.run, _args(old="tf999")) == 2
    assert "unknown environment 'tf999'" in capsys.readouterr().err


def test_filters_that_match_no_fixture_are_bad_input(capsys):
    assert cli.invoke(cli.regress.run, _args(producers="keras212", formats="keras")) == 2
    assert "no fixture of keras212 matches" in capsys.readouterr().err


@pytest.mark.envs
def test_regress_for_real(tmp_path, capsys, monkeypatch):
    # Keep the two consumer runs' results out of the work tree.
    monkeypatch.setattr(regress, "output_path", lambda old, new, consumer: tmp_path / f"{consumer}.json")
    out = tmp_path / "regress.json"
    status = cli.invoke(
        cli.regress.run,
        _args(old="tf215", new="tf221", producers="keras212", variants="lambda", formats="h5", json_out=str(out)),
    )
    report = json.loads(out.read_text())
    assert report["schema"] == regress.SCHEMA
    assert status == report["exit_status"] == (1 if report["regressed"] else 0)
    [entry] = report["fixtures"]
    assert (entry["producer"], entry["fixture"]) == ("keras212", "lambda-h5")
    # Python 3.6 bytecode in the Lambdas defeats load_model under both: the weights route works in both.
    assert entry["old_best"] == entry["new_best"] == "rebuild_weights"
    assert status == 0 and entry["change"] == Change.UNCHANGED
    assert report["from"]["runtime"]["tensorflow"].startswith("2.15")
    assert report["to"]["runtime"]["keras"].startswith("3.")
    assert "regress tf215 -> tf221: 1 fixtures compared; 0 regressed" in capsys.readouterr().out
    assert json.loads((tmp_path / "tf221.json").read_text())["run"]["complete"]
