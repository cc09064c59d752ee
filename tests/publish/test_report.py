"""The published report: merging results files, what each cell shows, and the rendered pages.

``tests/data/results/`` holds two real runs trimmed to four fixtures (consumers tf221 and
tf215) and one hand-written run (consumer tf26, see its ``run.note``) that has what the
real ones lack: a fixture that only loads with wrong numbers, one nothing loads, and a
canary whose stored code runs.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compat import catalog, cli
from compat.paths import PROJECT_ROOT
from compat.publish import cells, pagedata, report
from compat.records import matrixdoc, recipetext, summary

DATA = Path(__file__).resolve().parents[1] / "data" / "results"
ROOT = Path(__file__).resolve().parents[2]
SIZE_LIMIT = 3 * 1024 * 1024


def _args(results=None, from_json=None, out=None, fresh=False) -> argparse.Namespace:
    return argparse.Namespace(
        results=str(results) if results else None,
        fresh=fresh,
        from_json=str(from_json) if from_json else None,
        out=str(out) if out else None,
    )


def _copy_results(tmp_path: Path, names=None) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    for path in sorted(DATA.glob("*.json")):
        if names is None or path.name in names:
            shutil.copy(path, folder / path.name)
    return folder


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def _write(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def matrix() -> dict:
    return matrixdoc.expand(json.loads(report.matrix_text(report.merge(report.results_files(DATA)))))


@pytest.fixture(scope="module")
def found(matrix) -> list:
    return cells.outcomes(matrix)


def _outcome(found, consumer, producer, fixture):
    return next(o for o in found if (o.consumer, o.producer, o.fixture) == (consumer, producer, fixture))


# -- merging ----------------------------------------------------------------------------
def test_merge_keeps_every_attempt_and_adds_its_consumer(matrix):
    files = {p.name: json.loads(p.read_text()) for p in DATA.glob("*.json")}
    assert matrix["schema"] == "compat.matrix/4"
    assert len(matrix["attempts"]) == sum(len(d["attempts"]) for d in files.values())
    for document in files.values():
        mine = [a for a in matrix["attempts"] if a["consumer"] == document["run"]["consumer"]]
        published = [report._published(dict(a, consumer=document["run"]["consumer"])) for a in document["attempts"]]
        assert sorted(json.dumps(a, sort_keys=True) for a in published) == sorted(
            json.dumps(a, sort_keys=True) for a in mine
        )
    assert any("traceback" in (a.get("error") or {}) for a in matrix["attempts"])
    assert [r["source"] for r in matrix["runs"]] == [
        "tf26-load-keras212.json",
        "tf215-load-keras212.json",
        "tf221-load-keras212+tf215+tf221.json",
    ]
    assert matrix["runs"][0]["note"].startswith("hand-written")
    assert matrix["strategies"] == files["tf215-load-keras212.json"]["strategies"]
    assert matrix["tolerance"] == {"relative": 0.0001, "min_cosine": 0.99999}


def test_generated_is_the_latest_finished_run_not_the_clock(matrix):
    assert matrix["generated"] == "2026-11-24T22:08:51Z"
    assert report.generated_text(matrix) == "2026-11-24 22:08 UTC"


def test_catalog_holds_every_environment_with_resolved_versions(matrix):
    assert [e["id"] for e in matrix["catalog"]] == catalog.ids()
    by_id = {e["id"]: e for e in matrix["catalog"]}
    consumer = by_id["tf221"]
    assert consumer["versions_from"] == "run"
    assert consumer["versions"] == {
        "python": "3.13.0",
        "tensorflow": "2.21.0",
        "keras": "3.15.1",
        "h5py": "3.14.0",
        "numpy": "2.5.5",
    }
    assert consumer["lock"]["tensorflow-cpu"] == "2.21.0"
    producer_only = by_id["keras212"]
    assert producer_only["versions_from"] == "lock" and producer_only["runtime"] is None
    assert producer_only["lock"] == catalog.get("keras212").locked_versions()
    assert producer_only["versions"]["tensorflow"] == "1.3.0"
    assert producer_only["versions"]["keras"] == "2.1.2"
    assert producer_only["versions"]["python"] == "3.6"
    assert by_id["tfkeras221"]["versions"]["keras"] == catalog.get("tfkeras221").locked_versions()["tf-keras"]
    assert by_id["keras315jax"]["versions"]["jax"]


def test_merge_does_not_depend_on_file_order(tmp_path):
    paths = report.results_files(DATA)
    assert report.matrix_text(report.merge(paths)) == report.matrix_text(report.merge(list(reversed(paths))))


def test_the_same_results_in_two_files_count_once(tmp_path):
    folder = _copy_results(tmp_path, {"tf215-load-keras212.json"})
    shutil.copy(folder / "tf215-load-keras212.json", folder / "tf215-again.json")
    once = report.merge([folder / "tf215-load-keras212.json"])
    twice = report.merge(report.results_files(folder))
    assert len(twice["attempts"]) == len(once["attempts"]) > 0
    assert not any(a.get("unstable") for a in twice["attempts"])
    assert cli.invoke(cli.report.run, _args(folder, out=tmp_path / "out")) == 0


def test_differing_verdicts_are_kept_as_an_unstable_cell(tmp_path):
    folder = _copy_results(tmp_path, {"tf215-load-keras212.json"})
    other = _load("tf215-load-keras212.json")
    attempt = next(a for a in other["attempts"] if a["fixture"] == "lambda-h5" and a["strategy"] == "load_model")
    before = attempt["verdict"]
    attempt.update(verdict="pass", max_abs_diff=0.0, cosine=1.0)
    other["attempts"] = [attempt]
    _write(folder / "tf215-rerun.json", other)
    merged = report.merge(report.results_files(folder))
    assert len(merged["attempts"]) == len(report.merge([folder / "tf215-load-keras212.json"])["attempts"])
    (kept,) = [a for a in merged["attempts"] if a["fixture"] == "lambda-h5" and a["strategy"] == "load_model"]
    assert before != "pass" and kept["unstable"] == sorted({before, "pass"})
    assert cells.detail_row(kept)["message"].startswith(f"unstable: runs measured {' and '.join(kept['unstable'])}")


def test_a_partial_run_updates_the_published_matrix_without_shrinking_it(tmp_path):
    out = tmp_path / "out"
    assert cli.invoke(cli.report.run, _args(DATA, out=out)) == 0
    published = report.read_matrix(out / "matrix.json")
    partial = _load("tf215-load-keras212.json")
    changed = next(a for a in partial["attempts"] if a["verdict"] == "error")
    changed.update(verdict="pass", max_abs_diff=0.0, cosine=1.0)
    partial["attempts"] = [changed]
    folder = tmp_path / "partial"
    folder.mkdir()
    _write(folder / "tf215.json", partial)
    assert cli.invoke(cli.report.run, _args(folder, out=out)) == 0
    updated = report.read_matrix(out / "matrix.json")
    assert len(updated["attempts"]) == len(published["attempts"])
    (kept,) = [
        a
        for a in updated["attempts"]
        if a["consumer"] == "tf215"
        and a["producer"] == changed["producer"]
        and a["fixture"] == changed["fixture"]
        and a["strategy"] == changed["strategy"]
    ]
    assert kept["verdict"] == "pass" and kept["unstable"] == ["error", "pass"]
    assert cli.invoke(cli.report.run, _args(folder, out=out, fresh=True)) == 0
    assert len(report.read_matrix(out / "matrix.json")["attempts"]) == 1


def test_a_strategy_described_otherwise_later_keeps_only_its_cells_measured_again(tmp_path):
    """A strategy that now reads another format: the later description wins, and what the
    published matrix held of it stays only where the later run measured it again."""
    out = tmp_path / "out"
    assert cli.invoke(cli.report.run, _args(DATA, out=out)) == 0
    published = report.read_matrix(out / "matrix.json")
    partial = _load("tf215-load-keras212.json")
    strategy = partial["attempts"][0]["strategy"]
    for described in partial["strategies"]:
        if described["name"] == strategy:
            described["formats"] = list(described["formats"]) + ["frozen_pb"]
    kept = [a for a in partial["attempts"] if a["strategy"] == strategy][:1]
    partial["attempts"] = kept
    folder = tmp_path / "partial"
    folder.mkdir()
    _write(folder / "tf215.json", partial)
    assert cli.invoke(cli.report.run, _args(folder, out=out)) == 0
    updated = report.read_matrix(out / "matrix.json")
    [described] = [s for s in updated["strategies"] if s["name"] == strategy]
    assert "frozen_pb" in described["formats"]
    left = [a for a in updated["attempts"] if a["strategy"] == strategy]
    assert [(a["consumer"], a["producer"], a["fixture"]) for a in left] == [
        ("tf215", kept[0]["producer"], kept[0]["fixture"])
    ]
    others = [a for a in published["attempts"] if a["strategy"] != strategy]
    assert len(updated["attempts"]) == len(others) + 1


def test_one_consumer_split_over_files_merges_but_not_with_another_lock(tmp_path):
    folder = _copy_results(tmp_path, {"tf215-load-keras212.json"})
    document = _load("tf215-load-keras212.json")
    first, second = copy.deepcopy(document), copy.deepcopy(document)
    first["attempts"] = [a for a in document["attempts"] if a["fixture"] == "builtin-h5"]
    second["attempts"] = [a for a in document["attempts"] if a["fixture"] != "builtin-h5"]
    (folder / "tf215-load-keras212.json").unlink()
    _write(folder / "a.json", first)
    _write(folder / "b.json", second)
    whole = report.merge([DATA / "tf215-load-keras212.json"])
    split = report.merge(report.results_files(folder))
    assert split["attempts"] == whole["attempts"] and split["catalog"] == whole["catalog"]
    second["consumer"]["lock"]["numpy"] = "9.9.9"
    _write(folder / "b.json", second)
    with pytest.raises(report.ReportError, match="^locks of tf215 differ between a.json and b.json"):
        report.merge(report.results_files(folder))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["run"].update(consumer="tf999"), "consumer 'tf999' is not in the catalog"),
        (lambda d: d["attempts"][0].update(producer="nope"), "producer 'nope' is not in the catalog"),
        (lambda d: d.update(tolerance={"relative": 0.1, "min_cosine": 0.9}), "tolerances differ"),
        (lambda d: d["attempts"][0].pop("strategy"), "malformed results file"),
        (lambda d: d.update(schema="compat.results/0"), "expected 'compat.results/1'"),
    ],
)
def test_unusable_results_are_one_line_errors(tmp_path, capsys, change, message):
    folder = _copy_results(tmp_path, {"tf215-load-keras212.json"})
    document = _load("tf26-load-keras212.json")
    change(document)
    _write(folder / "tf26.json", document)
    assert cli.invoke(cli.report.run, _args(folder, out=tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.startswith("compat: error: ") and message in err and err.count("\n") == 1


def test_missing_or_empty_results_folder(tmp_path, capsys):
    assert cli.invoke(cli.report.run, _args(tmp_path / "missing", out=tmp_path)) == 2
    (tmp_path / "empty").mkdir()
    assert cli.invoke(cli.report.run, _args(tmp_path / "empty", out=tmp_path)) == 2
    assert cli.invoke(cli.report.run, _args(from_json=tmp_path / "none.json", out=tmp_path)) == 2
    assert capsys.readouterr().err.count("compat: error: ") == 3


# -- cells ------------------------------------------------------------------------------
def test_fixture_outcomes_use_summary(found):
    builtin = _outcome(found, "tf26", "keras212", "builtin-h5")
    assert (builtin.category, builtin.best, builtin.corrupt) == (summary.AS_IS, "load_model", False)
    wrong = _outcome(found, "tf26", "keras212", "lambda-h5")
    assert (wrong.category, wrong.best, wrong.corrupt) == (summary.WRONG_NUMBERS, None, True)
    assert _outcome(found, "tf26", "keras212", "lambda-json").category == summary.NOTHING
    canary = _outcome(found, "tf26", "keras212", "canary-h5")
    assert (canary.category, canary.best, canary.corrupt) == (summary.FLAG, "unsafe", True)
    real = _outcome(found, "tf221", "keras212", "lambda-h5")
    assert (real.variant, real.format, real.category, real.best) == ("lambda", "h5", summary.WEIGHTS, "rebuild_weights")


def test_headline_is_the_majority_and_a_tie_goes_to_the_worse():
    assert cells.headline({summary.AS_IS: 3, summary.WEIGHTS: 1}) == summary.AS_IS
    assert cells.headline({summary.AS_IS: 2, summary.WRONG_NUMBERS: 2}) == summary.WRONG_NUMBERS
    assert cells.headline({summary.NOT_TRIED: 4, summary.FLAG: 1}) == summary.FLAG
    assert cells.headline({summary.NOT_TRIED: 2}) == summary.NOT_TRIED
    assert cells.headline({}) == summary.NOT_TRIED


def test_most_common_best_breaks_ties_by_preference(matrix):
    order = summary.strategy_order(matrix["strategies"])
    assert cells.most_common_best(["unsafe", "load_model"], order) == "load_model"
    assert cells.most_common_best(["rebuild_weights"] * 2 + ["load_model"], order) == "rebuild_weights"
    assert cells.most_common_best([], order) is None


def test_a_pair_with_wrong_numbers_is_flagged(matrix, found):
    order = summary.strategy_order(matrix["strategies"])
    pair = [o for o in found if (o.consumer, o.producer) == ("tf26", "keras212")]
    agg = cells.aggregate(pair, order)
    assert agg["counts"] == {"as_is": 1, "flag": 1, "weights": 0, "wrong_numbers": 1, "nothing": 1, "not_tried": 0}
    assert (agg["total"], agg["tried"], agg["working"]) == (4, 4, 2)
    assert agg["category"] == summary.NOTHING and agg["flag"] == "wrong"
    view = cells.cell_view(agg, True)
    assert (view["best"], view["short"], view["count"], view["flag"]) == (
        "load_model",
        "load_model",
        "1/4 as is",
        "wrong",
    )
    assert (view["category"], view["mark"], view["flag_mark"]) == (summary.NOTHING, "\u2717", "\u26a0")
    assert view["says"] == (
        "4 fixtures, 1 load as they are, 2 load at all, mostly nothing works, best strategy "
        "load_model, warning: " + cells.FLAG_TITLES["wrong"]
    )
    assert view["segments"][0] == {"category": "as_is", "width": "25.00%"}
    assert view["segments"][3] == {"category": "wrong_numbers", "width": "25.00%"}
    assert cells.markdown_text(view) == "\u2717 `load_model` 1/4 as is \u26a0"
    # Silent corruption beside a working strategy is marked, less loudly.
    canary = cells.aggregate([o for o in pair if o.variant == "canary"], order)
    view = cells.cell_view(canary, True)
    assert canary["flag"] == "mismatch" and (view["count"], view["mark"], view["flag_mark"]) == ("flag", "\u2691", "!")


def test_cell_views_for_filters_and_missing_data(matrix, found):
    producers, consumers = report.shown_environments(matrix)
    assert producers == ["keras212", "tf215", "tf221"] and consumers == ["tf26", "tf215", "tf221"]
    rows = cells.grid(matrix, producers, consumers, "lambda", "h5", found=found)
    first = {c["consumer"]: c for c in rows[0]["cells"]}
    assert (first["tf26"]["best"], first["tf26"]["short"], first["tf26"]["count"], first["tf26"]["category"]) == (
        "none works",
        "none",
        "WRONG",
        summary.WRONG_NUMBERS,
    )
    assert cells.markdown_text(first["tf26"]) == "\u26a0 **WRONG** \u26a0"
    assert (first["tf221"]["best"], first["tf221"]["short"], first["tf221"]["count"]) == (
        "rebuild_weights",
        "rebuild",
        "weights",
    )
    assert first["tf221"]["says"] == "with the model's code, best strategy rebuild_weights"
    assert rows[1]["cells"][0]["count"] == "not run" and rows[1]["cells"][0]["category"] == "empty"
    savedmodel = cells.grid(matrix, producers, consumers, None, "savedmodel", found=found)
    assert savedmodel[0]["cells"][2]["count"] == "no fixture"
    everything = cells.grid(matrix, producers, consumers, found=found)
    assert [c["count"] for c in everything[0]["cells"]] == ["1/4 as is", "1/4 as is", "1/4 as is"]
    assert "tf221 loading models made by keras212" in everything[0]["cells"][2]["label"]


def test_totals_follow_the_filter(found):
    assert sum(cells.totals(found).values()) == 20
    assert cells.totals(found, "lambda", "h5") == {
        "as_is": 0,
        "flag": 1,
        "weights": 3,
        "wrong_numbers": 1,
        "nothing": 0,
        "not_tried": 0,
    }


def test_detail_rows_keep_what_a_reader_needs(matrix, found):
    order = summary.strategy_order(matrix["strategies"])
    outcome = _outcome(found, "tf26", "keras212", "lambda-h5")
    rows = cells.detail_rows(outcome.attempts, order)
    assert [r["strategy"] for r in rows] == order
    wrong = rows[0]
    assert (wrong["verdict"], wrong["max_abs_diff"], wrong["cosine"], wrong["recipe"]) == (
        "mismatch",
        0.183,
        0.9731,
        None,
    )
    error = rows[2]
    assert (error["type"], error["message"]) == ("ValueError", "Unknown layer: Lambda scaling")
    assert rows[order.index("savedmodel_inference")]["message"] == "savedmodel_inference does not read h5 files"
    passed = cells.detail_rows(_outcome(found, "tf221", "keras212", "lambda-h5").attempts, order)
    assert [r["strategy"] for r in passed if r["recipe"]] == ["rebuild_weights", "rebuild_by_name", "h5_transplant"]
    crash = next(a for a in matrix["attempts"] if a["verdict"] == "crash")
    assert cells.detail_row(crash)["type"] == "SIGSEGV"
    assert cells.first_line("x" * 500).endswith("\u2026") and len(cells.first_line("x" * 500)) == cells.MESSAGE_LIMIT


def test_page_data_names_every_field_and_stores_repeats_once(matrix, found):
    producers, consumers = report.shown_environments(matrix)
    data = pagedata.page_data(matrix, producers, consumers, found)
    loads, outcomes, measured = data["loads"], data["outcomes"], data["measured"]
    assert set(loads) == {
        "producer",
        "consumer",
        "fixture",
        "variant",
        "format",
        "category",
        "best",
        "corrupt",
        "outcomes",
    }
    lists = pagedata.unpack_indices(loads["outcomes"])  # packed as fixed-width base-36 numbers
    assert len(lists) == len(loads["fixture"]) == len(found)
    assert len({len(column) for name, column in loads.items() if name != "outcomes"}) == 1
    assert len({len(column) for column in outcomes.values()}) == 1
    # The FaceNet load: keras212's lambda-h5 under tf221, every strategy's outcome in preference order.
    load = next(
        i
        for i in range(len(loads["fixture"]))
        if (producers[loads["producer"][i]], consumers[loads["consumer"][i]], data["strings"][loads["fixture"][i]])
        == ("keras212", "tf221", "lambda-h5")
    )
    names = [s["name"] for s in data["strategies"]]
    assert names[loads["best"][load]] == "rebuild_weights"
    assert cells.CATEGORIES[loads["category"][load]] == summary.WEIGHTS
    assert [names[outcomes["strategy"][o]] for o in lists[load]] == names
    first = lists[load][0]
    assert (outcomes["verdict"][first], outcomes["family"][first]) == ("error", "lambda_safe_mode")
    rebuild = lists[load][names.index("rebuild_weights")]
    assert data["strings"][outcomes["recipe"][rebuild]].startswith("from compat.inside import facenet")
    assert len(measured["counts"]) == len(lists)  # the numbers are stored load by load
    row = sum(measured["counts"][:load])
    assert measured["strategy"][row] == names.index("rebuild_weights") and measured["cosine"][row] > 0.99999
    # A not-applicable outcome is stored once, however many loads share it.
    assert len(outcomes["verdict"]) < sum(len(o) for o in lists)
    # Every filter state has every cell, by name, from compat.publish.cells.
    state = data["filters"]["lambda/h5"]
    rows = cells.grid(matrix, producers, consumers, "lambda", "h5", found=found)
    assert [data["views"][i]["count"] for i in state["cells"]] == [c["count"] for r in rows for c in r["cells"]]
    assert state["counts"] == cells.totals(found, "lambda", "h5") and state["note"] == "lambda + h5: 5 fixture loads"
    assert set(data["filters"]) == {f"{v}/{f}" for v in [""] + data["variants"] for f in [""] + data["formats"]}


def test_page_tables_keep_equal_rows_once():
    table = pagedata.Table("a", "b", distinct=True)
    assert (table.add(a=1, b="x"), table.add(a=1, b="x"), table.add(a=2)) == (0, 0, 1)
    assert table.columns == {"a": [1, 2], "b": ["x", None]}
    with pytest.raises(KeyError, match="no such column: c"):
        table.add(c=3)


def test_security_table_reports_code_that_ran(matrix):
    table = cells.security_table(matrix, ["tf26", "tf215", "tf221"])
    # Only strategies measured on a canary get a column: json_weights does not read canary-h5.
    assert "load_model" in table["strategies"] and "json_weights" not in table["strategies"]
    rows = {r["consumer"]: dict(zip(table["strategies"], r["cells"], strict=False)) for r in table["rows"]}
    assert rows["tf26"]["load_model"]["state"] == "ran" and rows["tf26"]["load_model"]["text"] == "ran 1/1"
    assert "keras212 canary-h5" in rows["tf26"]["unsafe"]["title"]
    assert rows["tf26"]["no_compile"]["state"] == "blocked"
    assert all(c["state"] != "ran" for c in rows["tf221"].values())
    assert rows["tf221"]["load_model"]["text"] == "ran 0/3"


def test_embedded_json_cannot_close_its_script_tag():
    text = pagedata.script_json({"a": "</script><b>&", "b": "\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(str(text)) == {"a": "</script><b>&", "b": "\u2028"}


# -- rendering --------------------------------------------------------------------------
def _render_to(tmp_path: Path, folder: Path = DATA) -> Path:
    out = tmp_path / "out"
    assert cli.invoke(cli.report.run, _args(folder, out=out)) == 0
    return out


def test_cli_report_writes_json_html_and_markdown(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["report", "--results", str(DATA), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"matrix.json", "matrix.html", "matrix.md"}
    assert json.loads((out / "matrix.json").read_text())["schema"] == report.SCHEMA


def test_rerendering_matrix_json_reproduces_the_pages_byte_for_byte(tmp_path):
    out = _render_to(tmp_path)
    again = tmp_path / "again"
    assert cli.invoke(cli.report.run, _args(from_json=out / "matrix.json", out=again)) == 0
    for name in ("matrix.html", "matrix.md"):
        assert (again / name).read_bytes() == (out / name).read_bytes()
    assert not (again / "matrix.json").exists()
    second = tmp_path / "second"
    assert cli.invoke(cli.report.run, _args(DATA, out=second)) == 0
    for name in ("matrix.json", "matrix.html", "matrix.md"):
        assert (second / name).read_bytes() == (out / name).read_bytes()
    text = (out / "matrix.json").read_text()
    assert matrixdoc.text(matrixdoc.expand(json.loads(text))) == text


def test_the_committed_report_rerenders_byte_for_byte(tmp_path):
    published = PROJECT_ROOT / "reports"
    assert cli.invoke(cli.report.run, _args(from_json=published / "matrix.json", out=tmp_path)) == 0
    for name in ("matrix.html", "matrix.md"):
        assert (tmp_path / name).read_bytes() == (published / name).read_bytes(), name
    assert (published / "matrix.html").stat().st_size < 3 * 1024 * 1024


def test_html_is_one_self_contained_accessible_page(tmp_path):
    html = (_render_to(tmp_path) / "matrix.html").read_text()
    assert re.findall(r"""(?:src|href)=["'](?!data:|matrix\.json|#)""", html) == []
    assert "http://" not in html and "https://" not in html and "@import" not in html
    assert html.count('<script type="application/json" id="matrix-data">') == 1
    assert len(re.findall(r'<th scope="col" title="[^"]*"><span class="env">', html)) == 3
    assert len(re.findall(r'<th scope="row" title="[^"]*"><span class="env">', html)) == 3
    assert len(re.findall(r'<button type="button" class="cell ', html)) == 9
    assert 'class="cell cat-nothing flag-wrong"' in html
    assert "2026-11-24 22:08 UTC" in html
    for label in summary.CATEGORY_LABELS.values():
        assert label in html
    for version in ("2.21.0", "3.15.1", "3.14.0", "2.5.5", "3.13.0", "1.3.0", "2.1.2", "2.7.1"):
        assert f'<td class="num">{version}</td>' in html
    assert 'id="security"' in html and "ran 1/1" in html
    # Failure families: counted, explained, and the errors none explains shown raw, never hidden.
    assert "<b>2 remain unclassified</b>" in html and html.count('<tr class="unclassified">') == 2
    assert (
        '<tr id="family-lambda_bytecode"><th scope="row">Lambda bytecode from another Python</th>'
        '<td class="num">14</td>' in html
    )
    # The landing view links the FaceNet answer and the upgrade example.
    assert 'id="go-facenet" href="#variant=lambda&amp;format=h5&amp;cell=keras212,tf221"' in html
    assert 'id="go-upgrade" href="#upgrade=tf215,tf221"' in html
    assert '<span class="ver">Py 3.13</span><span class="ver">TF 2.21</span>' in html
    # tf26 (Keras 2.6): the advisories say an .h5 Lambda runs, and the hand-written canary ran.
    assert re.search(
        r'<tr class="adv-agrees"><th scope="row">tf26</th><td>2\.6\.0</td><td><code>canary-h5</code>', html
    )


def test_html_escapes_text_from_results(tmp_path):
    folder = _copy_results(tmp_path, {"tf215-load-keras212.json"})
    document = _load("tf26-load-keras212.json")
    document["consumer"]["summary"] = "TF 2.6 <img src=x onerror=alert(2)>"
    attempt = next(a for a in document["attempts"] if a.get("error"))
    attempt["error"]["message"] = "bad name <script>alert(1)</script> & more"
    attempt["error"]["type"] = "<b>Error</b>"
    _write(folder / "tf26-load-keras212.json", document)
    html = (_render_to(tmp_path, folder) / "matrix.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>Error" not in html
    assert "TF 2.6 &lt;img src=x onerror=alert(2)&gt;" in html
    assert "bad name \\u003cscript\\u003ealert(1)\\u003c/script\\u003e \\u0026 more" in html
    assert html.count("<script") == 2


def synthesize_full(folder: Path, fixtures_per_pair: int = 18) -> int:
    """Results files for the whole 17 x 17 catalog built from the canned attempts.

    Every consumer gets its own copy of each error message and recipe, more distinct strings
    than real runs have, so the size measured is an upper bound.
    """
    sample = _load("tf221-load-keras212+tf215+tf221.json")
    templates = {}
    for attempt in sample["attempts"]:
        templates.setdefault((attempt["variant"], attempt["strategy"]), attempt)
    formats = {
        "builtin": ("h5", "h5_weights", "json", "savedmodel"),
        "lambda": ("h5", "h5_weights", "json", "savedmodel"),
        "custom": ("h5", "h5_weights", "json", "savedmodel"),
        "compiled": ("h5", "savedmodel", "keras"),
        "canary": ("h5", "json", "savedmodel"),
    }
    fixtures = [(v, f) for v, fs in formats.items() for f in fs][:fixtures_per_pair]
    strategies = [s["name"] for s in sample["strategies"]]
    total = 0
    folder.mkdir(parents=True, exist_ok=True)
    for consumer in catalog.ids():
        document = copy.deepcopy(sample)
        document["run"].update(consumer=consumer, producers=catalog.ids())
        document["consumer"]["id"] = consumer
        document["attempts"] = []
        for producer in catalog.ids():
            for variant, fmt in fixtures:
                for strategy in strategies:
                    attempt = copy.deepcopy(templates.get((variant, strategy)) or templates[("lambda", strategy)])
                    attempt.update(producer=producer, variant=variant, format=fmt, fixture=f"{variant}-{fmt}")
                    if attempt.get("error"):
                        attempt["error"]["message"] = f"{consumer} {fmt}: {attempt['error']['message']}"
                    if attempt.get("recipe"):
                        attempt["recipe"] = f"# {consumer} {fmt}\n{attempt['recipe']}"
                    document["attempts"].append(attempt)
        total += len(document["attempts"])
        _write(folder / f"{consumer}-load-all.json", document)
    return total


def test_full_matrix_html_stays_small(full_size_report):
    out, attempts = full_size_report
    assert attempts >= 50_000
    size = (out / "matrix.html").stat().st_size
    assert size < SIZE_LIMIT, f"matrix.html is {size / 1024 / 1024:.2f} MiB for {attempts} attempts"
    shown = re.findall(r'<button type="button" class="cell ', (out / "matrix.html").read_text())
    assert len(shown) == len(catalog.ids()) ** 2


def test_markdown_tables(tmp_path):
    text = (_render_to(tmp_path) / "matrix.md").read_text()
    assert text.startswith("# Keras / TensorFlow saved-model compatibility matrix\n")
    assert "Generated 2026-11-24 22:08 UTC from 3 results file(s): 200 attempts over 20 fixture loads" in text
    lines = text.splitlines()
    header = "| saved by ↓ / loaded by → | tf26 (Py 3.9) | tf215 (Py 3.11) | tf221 (Py 3.13) |"
    assert lines.count(header) == 2
    assert lines[lines.index(header) + 2] == "| *loads as it is* | 25% | 25% | 33% |"
    assert (
        "| **keras212** | \u2717 `load_model` 1/4 as is \u26a0 | \u25d0 `rebuild_weights` 1/4 as is "
        "| \u25d0 `rebuild_weights` 1/4 as is |"
    ) in lines
    assert "| **tf221** | not run | not run | \u2691 `custom_objects` 2/4 as is |" in lines
    facenet = lines[lines.index("## The FaceNet case: `lambda` variant saved as `h5`") :]
    assert (
        "| **keras212** | \u26a0 **WRONG** \u26a0 | \u25d0 `rebuild_weights` weights "
        "| \u25d0 `rebuild_weights` weights |"
    ) in facenet
    # The upgrade summary: neighbouring consumers, then tf215 -> tf221, as compat.publish.upgrade counts them.
    assert "| tf26 → tf215 | 4 | 0 | 1 | 0 | 2 | 0 | 1 | 0 | 0 |" in lines
    assert "| tf215 → tf221 | 4 | 0 | 0 | 0 | 0 | 0 | 4 | 0 | 8 |" in lines
    assert "- **switch** `canary-h5` from keras212: `unsafe` → `rebuild_weights`" in lines
    assert "- **starts working**: `lambda-h5` from keras212 with `rebuild_weights`" in lines
    # Failure families, and the errors none explains, counted and shown raw.
    assert (
        "52 attempts ended in an error (16 distinct error records); 50 fall in 7 known failure families. "
        "**2 remain unclassified.**"
    ) in lines
    assert any(line.startswith("| Lambda bytecode from another Python | 14 | a Lambda layer stores") for line in lines)
    assert sum(line.startswith("| unclassified | | `") for line in lines) == 2
    assert "| tf221 | 3.13.0 | 2.21.0 | 3.15.1 | 3.14.0 | 2.5.5 | TF 2.21 + Keras 3.15 |" in lines
    assert "| \u26a0 loads but gives wrong numbers | 1 |" in lines
    assert "keras224" not in text  # environments with no results stay out of the compact page
    for block in re.split(r"\n(?!\|)", text):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({len(re.findall(r"(?<!\\)\|", row)) for row in rows}) <= 1, f"ragged table: {rows[:2]}"


def test_rendering_never_imports_tensorflow(tmp_path):
    out = tmp_path / "out"
    code = "\n".join(
        [
            "import sys",
            "from compat import cli",
            f"assert cli.main(['report', '--results', {str(DATA)!r}, '--out', {str(out)!r}]) == 0",
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'jax'))",
            "assert not bad, bad",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_matrix_document_round_trips_and_names_what_is_missing(matrix, tmp_path):
    text = matrixdoc.text(matrix)
    document = json.loads(text)
    assert matrixdoc.expand(document) == dict(matrix, schema=matrixdoc.SCHEMA)
    # Every distinct recipe is stored once, as its text without the path lines (stored once
    # too) and those lines' values; one line holds one fixture in one consumer.
    recipes = {a["recipe"] for a in matrix["attempts"] if "recipe" in a}
    templates = document["strings"]["recipe_templates"]
    assert sorted(templates) == sorted({recipetext.normalized(r) for r in recipes})
    assert len(templates) <= len(recipes) == len(document["strings"]["recipes"])
    assert {recipetext.join(templates[t], paths) for t, paths in document["strings"]["recipes"]} == recipes
    assert len(document["loads"]) == len({(a["consumer"], a["producer"], a["fixture"]) for a in matrix["attempts"]})
    # The fields of a measured attempt go under their short names.
    assert '"max_abs_diff"' not in text and '"verdict"' not in text and '"v":"pass"' in text
    # A not-applicable attempt is its reason's index alone; every other attempt keeps its verdict.
    packed = [value for load in document["loads"] for value in load["attempts"].values()]
    not_applicable = [a for a in matrix["attempts"] if a["verdict"] == "not_applicable"]
    assert not_applicable and sum(isinstance(value, int) for value in packed) == len(not_applicable)
    first = dict(matrix["attempts"][0], fixture="hand-made", variant="lambda", format="h5")
    odd = dict(matrix, attempts=[first, dict(first, verdict="error"), dict(not_applicable[0], note="kept")])
    assert matrixdoc.expand(json.loads(matrixdoc.text(odd)))["attempts"] == odd["attempts"]
    program = 'import x\n\nMODEL_PATH = "{}"\nWEIGHTS_PATH = "{}"\n\nx.load(MODEL_PATH)\n'
    two = dict(
        matrix,
        attempts=[
            dict(first, recipe=program.format("a.json", "a.h5")),
            dict(first, fixture="other", recipe=program.format("b.json", "b.h5")),
        ],
    )
    stored = json.loads(matrixdoc.text(two))
    assert stored["strings"]["recipe_templates"] == [program.format("...", "...")]
    assert stored["strings"]["recipes"] == [[0, ['"a.json"', '"a.h5"']], [0, ['"b.json"', '"b.h5"']]]
    assert matrixdoc.expand(stored)["attempts"] == two["attempts"]
    with_recipe = next(
        value
        for load in document["loads"]
        for value in load["attempts"].values()
        if isinstance(value, dict) and matrixdoc.STORED_NAMES["recipe"] in value
    )
    with_recipe[matrixdoc.STORED_NAMES["recipe"]] = 10**6
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(document))
    with pytest.raises(report.ReportError, match="a load refers to something the document lacks"):
        report.read_matrix(path)
