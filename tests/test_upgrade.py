"""The page's upgrade view is ``compat regress --baseline`` for every pair of consumers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from compat import cli
from compat.publish import cells, pagedata, report, upgrade
from compat.records.change import Change

DATA = Path(__file__).resolve().parent / "data" / "results"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("published")
    matrix = report.build(DATA, out)
    return out / "matrix.json", matrix


def _regress(path: Path, old: str, new: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{old}-{new}.json"
    code = cli.main(["regress", "--baseline", str(path), "--from", old, "--to", new, "--json", str(out)])
    document = json.loads(out.read_text())
    assert code == document["exit_status"]
    return document


def test_every_pair_of_the_page_equals_compat_regress(published, tmp_path):
    path, matrix = published
    producers, consumers = report.shown_environments(matrix)
    found = cells.outcomes(matrix)
    data = pagedata.page_data(matrix, producers, consumers, found)
    view = data["upgrade"]
    best = {(o.consumer, o.producer, o.fixture): o.best for o in found}
    pairs = [(old, new) for old in consumers for new in consumers if old != new]
    assert sorted(view["codes"]) == sorted(upgrade.pair_key(*p) for p in pairs)
    for old, new in pairs:
        expected = {(e["producer"], e["fixture"]): e for e in _regress(path, old, new, tmp_path)["fixtures"]}
        codes = view["codes"][upgrade.pair_key(old, new)]
        shown = {}
        for index, code in enumerate(codes):
            if code == upgrade.ABSENT:
                continue
            key = (producers[view["keys"]["producer"][index]], data["strings"][view["keys"]["fixture"][index]])
            shown[key] = view["buckets"][int(code)]
        assert set(shown) == set(expected), (old, new)
        for key, bucket in shown.items():
            entry = expected[key]
            assert bucket["change"] == entry["change"], (old, new, key)
            assert bucket["id"] == upgrade.bucket(entry).id
            # What the page shows beside the code: each side's best strategy, and the switch.
            assert best.get((old,) + key) == entry["old_best"] or entry["change"] == Change.NOT_COMPARED
            assert best.get((new,) + key) == entry["new_best"] or entry["change"] == Change.NOT_COMPARED
            assert (entry["switch_to"] or {}).get("strategy") == entry["new_best"]


def test_buckets_are_the_changes_one_to_one():
    assert [b.id for b in upgrade.BUCKETS if b.regression] == ["stops", "switch", "wrong_numbers"]
    assert {b.change for b in upgrade.BUCKETS} == set(Change)
    assert upgrade.bucket({"change": "stopped_working", "switch_to": None}).id == "stops"
    assert upgrade.bucket({"change": "switch_strategy", "switch_to": {"strategy": "rebuild_weights"}}).id == "switch"
    assert upgrade.bucket({"change": Change.IMPROVED, "switch_to": None}).id == "improved"


def test_markdown_pairs_are_catalog_neighbours_and_the_example():
    consumers = ["tf26", "tf215", "tf221"]
    assert upgrade.neighbour_pairs(consumers, (("tf215", "tf221"),)) == [("tf26", "tf215"), ("tf215", "tf221")]
    assert upgrade.neighbour_pairs(consumers, (("tf26", "tf221"), ("tf212", "tf221"))) == [
        ("tf26", "tf215"), ("tf215", "tf221"), ("tf26", "tf221")]


def test_summary_rows_count_what_regress_counts(published):
    _, matrix = published
    row = upgrade.summary_rows(matrix, [("tf26", "tf215")])[0]
    comparison = upgrade.compare(matrix, "tf26", "tf215")
    assert row["regressed"] == len(comparison["regressed"]) == row["counts"]["switch"] + row["counts"]["stops"]
    assert row["counts"]["starts"] == comparison["counts"][Change.STARTED] == 2
    assert row["groups"][0] == {"bucket": "switch", "old_best": "unsafe", "switch_to": "rebuild_weights",
                                "fixture": "canary-h5", "producers": ["keras212"]}
