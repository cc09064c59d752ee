"""The incremental matrix, for real: after one strategy's code changes, only its attempts run
again; with nothing changed, nothing runs, even in a fresh copy that holds only matrix.json.

Each test works in a copy of the project's tracked files without the published matrix (so
the slice is measured here, whatever the committed matrix holds), with the shared
environments.
"""

from __future__ import annotations

import pytest

from compat.records import results
from compat.records.attempt import attempt_id
from tests.conftest import compat_in, tracked_copy
from tests.records.test_attemptkey import _subclasses, edit_strategy

pytestmark = pytest.mark.envs

CONSUMER, PRODUCER = "tf215", "tf210"
SLICE = "custom-h5,custom-json"
EDITED = "h5_transplant"
PUBLISHED = "reports/matrix.json"


def _by_id(document: dict) -> dict:
    return {attempt_id(a): a for a in document["attempts"]}


def test_a_changed_strategy_reruns_only_its_attempts_and_a_copy_with_only_the_matrix_has_nothing_to_do(tmp_path):
    project = tracked_copy(tmp_path / "project", drop=(PUBLISHED,))
    load = ("load", CONSUMER, PRODUCER, "--fixtures", SLICE, "--quiet")
    first = compat_in(project, *load)
    assert first.returncode == 0, first.stderr
    measured = results.read(project / "reports" / "results" / f"{CONSUMER}.json")
    planned = len(measured["attempts"])
    assert planned == 2 * len(measured["strategies"]) and f"{planned} attempts to run" in first.stdout
    assert all(a["key"]["code"] and a["key"]["fixture"] for a in measured["attempts"])
    report = compat_in(project, "report")
    assert report.returncode == 0, report.stderr
    published = (project / PUBLISHED).read_bytes()

    edit_strategy(project, EDITED)
    stale = {key for key, a in _by_id(measured).items() if a["strategy"] in _subclasses(EDITED)}
    assert len(stale) == 2
    second = compat_in(project, *load)
    assert second.returncode == 0, second.stderr
    assert (
        f"{len(stale)} attempts to run over 1 producer(s), {planned - len(stale)} known by their keys" in second.stdout
    ), second.stdout
    after = _by_id(results.read(project / "reports" / "results" / f"{CONSUMER}.json"))
    assert set(after) == set(_by_id(measured))
    for key, attempt in _by_id(measured).items():
        if key in stale:  # measured again, under the new code
            assert after[key]["key"]["code"] != attempt["key"]["code"]
            assert after[key]["verdict"] == attempt["verdict"]
        else:  # the very same record, timings included: not run again
            assert after[key] == attempt

    third = compat_in(project, *load)
    assert third.returncode == 0, third.stderr
    assert "nothing to do" in third.stdout and "worker" not in third.stderr

    # A fresh copy holding only the published matrix.json (no results, no environments).
    fresh = tracked_copy(tmp_path / "fresh", drop=(PUBLISHED,))
    (fresh / PUBLISHED).write_bytes(published)
    empty = tmp_path / "no-environments"
    empty.mkdir()
    again = compat_in(fresh, *load, venvs=empty)
    assert again.returncode == 0, again.stderr
    assert f"nothing to do: the {planned} planned attempts are recorded with their current keys" in again.stdout
    assert not any(empty.iterdir()), "no environment may be built when there is nothing to do"
    assert not (fresh / "reports" / "results" / f"{CONSUMER}.json").exists()
