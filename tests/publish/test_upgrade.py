"""The page's upgrade view is ``compat regress --baseline`` for every pair of consumers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compat import cli
from compat.publish import cells, pagedata, report, upgrade
from compat.records.change import Change
from tests import canned_upgrade

DATA = Path(__file__).resolve().parents[1] / "data" / "results"


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


def _page_view(matrix: dict, old: str, new: str) -> dict:
    """The page's upgrade view of one pair, decoded: ``{(producer, fixture): (change, bucket)}``."""
    producers, consumers = report.shown_environments(matrix)
    data = pagedata.page_data(matrix, producers, consumers, cells.outcomes(matrix))
    view = data["upgrade"]
    shown = {}
    for index, code in enumerate(view["codes"][upgrade.pair_key(old, new)]):
        if code == upgrade.ABSENT:
            continue
        key = (producers[view["keys"]["producer"][index]], data["strings"][view["keys"]["fixture"][index]])
        bucket = view["buckets"][int(code)]
        shown[key] = (bucket["change"], bucket["id"])
    return shown


@pytest.mark.parametrize("old, new", list(canned_upgrade.EXPECTED))
def test_the_page_and_compat_regress_give_the_hand_derived_upgrade(tmp_path, old, new):
    folder = canned_upgrade.write(tmp_path / "results")
    matrix = report.build(folder, tmp_path / "report")
    expected = canned_upgrade.EXPECTED[old, new]
    document = _regress(tmp_path / "report" / "matrix.json", old, new, tmp_path)
    said = {(e["producer"], e["fixture"]): (e["change"], e["old_best"], e["new_best"]) for e in document["fixtures"]}
    assert said == {key: want[:3] for key, want in expected.items()}
    assert _page_view(matrix, old, new) == {key: (want[0], want[3]) for key, want in expected.items()}
    regressed = sum(want[0] in canned_upgrade.REGRESSIONS for want in expected.values())
    assert len(document["regressed"]) == regressed and document["exit_status"] == (1 if regressed else 0)


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
        ("tf26", "tf215"),
        ("tf215", "tf221"),
        ("tf26", "tf221"),
    ]


def test_summary_rows_count_what_regress_counts(published):
    _, matrix = published
    row = upgrade.summary_rows(matrix, [("tf26", "tf215")])[0]
    comparison = upgrade.compare(matrix, "tf26", "tf215")
    assert row["regressed"] == len(comparison["regressed"]) == row["counts"]["switch"] + row["counts"]["stops"]
    assert row["counts"]["starts"] == comparison["counts"][Change.STARTED] == 2
    assert row["groups"][0] == {
        "bucket": "switch",
        "old_best": "unsafe",
        "switch_to": "rebuild_weights",
        "fixture": "canary-h5",
        "producers": ["keras212"],
    }
