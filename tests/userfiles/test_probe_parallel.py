"""``compat probe --loaders all``: environments side by side, the document as one after another.

The scheduling is pure logic, tested with stand-in callables in place of the environment
runner (they say nothing of what loads); one small ``envs`` test runs two real environments
and one that cannot be built, one job and two, and compares the documents.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time

import pytest

from compat import catalog, cli
from compat.errors import HarnessFailure
from compat.harness import fixtures
from compat.userfiles import probe


def test_results_keep_the_items_order_whatever_finishes_first():
    items = list(range(6))
    finished: list[int] = []
    done = {item: threading.Event() for item in items}

    def run(item: int) -> str:
        # each waits for the one after it: they finish last to first
        if item + 1 in done:
            assert done[item + 1].wait(10), "the items did not run side by side"
        finished.append(item)
        done[item].set()
        return f"result {item}"

    results = probe.in_parallel(items, run, jobs=len(items), failed=lambda item, exc: f"failed {item}")
    assert finished == items[::-1]
    assert results == [f"result {item}" for item in items]


def test_no_more_than_jobs_run_at_once():
    running, most = [0], [0]
    lock = threading.Lock()

    def run(item: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return item * 10

    assert probe.in_parallel(list(range(7)), run, jobs=2, failed=lambda item, exc: -1) == [i * 10 for i in range(7)]
    assert most[0] == 2
    assert probe.in_parallel([1, 2], run, jobs=1, failed=lambda item, exc: -1) == [10, 20]


def test_a_failing_item_keeps_the_others_results():
    def run(item: str) -> str:
        if item == "b":
            raise RuntimeError("b broke")
        return item.upper()

    results = probe.in_parallel(["a", "b", "c", "d"], run, jobs=2, failed=lambda item, exc: f"{item}: {exc}")
    assert results == ["A", "b: b broke", "C", "D"]


def _stand_in_outcome(env: catalog.Environment) -> dict:
    """What a runner hands back, as far as the scheduling cares (no verdicts)."""
    return {"id": env.id, "error": None, "attempts": [], "seconds": 0.0}


def test_environments_in_catalog_order_one_line_for_each_that_cannot_run():
    loaders = catalog.consumers()
    asked: list[str] = []
    lock = threading.Lock()

    def run(env: catalog.Environment) -> dict:
        with lock:
            asked.append(env.id)
        if env.id == "tf24":
            raise HarnessFailure("the worker failed to start (exit 1): Traceback\n  File x\nImportError: y")
        if env.id == "tf26":
            raise OSError(12, "Cannot allocate memory")
        return _stand_in_outcome(env)

    broken = {"keras212": "environment keras212 needs CPython 3.6, which was not found"}
    outcomes = probe.run_environments(loaders, run, jobs=3, broken=broken, log=lambda message: None)
    assert [o["id"] for o in outcomes] == [env.id for env in loaders]
    assert "keras212" not in asked and sorted(asked) == sorted(env.id for env in loaders[1:])
    errors = {o["id"]: o["error"] for o in outcomes if o["error"]}
    assert errors == {
        "keras212": broken["keras212"],
        "tf24": "the worker failed to start (exit 1): Traceback File x ImportError: y",
        "tf26": "OSError: [Errno 12] Cannot allocate memory",
    }
    for outcome in outcomes:
        if outcome["error"]:
            assert outcome["attempts"] == [] and outcome["strategies"] is None and "\n" not in outcome["error"]
        else:
            assert outcome == _stand_in_outcome(catalog.get(outcome["id"]))


def test_loaders_all_is_every_consumer_in_catalog_order():
    assert probe.loader_environments("all") == catalog.consumers()
    assert "keras315jax" in [env.id for env in probe.loader_environments("all")]


def test_jobs_below_one_is_exit_2(tmp_path, capsys, monkeypatch):
    path = tmp_path / "lambda.h5"
    shutil.copy(fixtures.unpacked("tf215") / "lambda.h5", path)
    monkeypatch.chdir(tmp_path)
    args = cli.build_parser().parse_args(["probe", str(path), "--loaders", "tf215", "--jobs", "0", "--no-sandbox"])
    assert cli.invoke(cli.probe.run, args) == 2
    assert "--jobs must be at least 1, not 0" in capsys.readouterr().err


def _on_missing_python() -> catalog.Environment:
    """tf215's stack (its lock) on a CPython no machine has: it cannot be built."""
    tf215 = catalog.get("tf215")
    return dataclasses.replace(tf215, id="tf215-on-cpython-2.9", python="2.9", lock_file=str(tf215.lock_path))


def test_an_environment_that_cannot_be_built_is_one_line():
    missing = _on_missing_python()
    said: list[str] = []
    [(env_id, why)] = probe.build_environments([missing], log=said.append).items()
    assert env_id == missing.id and "\n" not in why
    assert why.startswith("environment tf215-on-cpython-2.9 needs CPython 2.9, which was not found")
    assert said == [f"[probe] {missing.id}: {why}"]


# -- real environments -----------------------------------------------------------------------


def _without_times(document: dict) -> dict:
    for env in document["environments"]:
        env.pop("seconds")
        for attempt in env["attempts"]:
            for key in ("load_seconds", "predict_seconds", "seconds", "worker_log"):
                attempt.pop(key, None)
    return document


@pytest.mark.envs
def test_two_jobs_give_the_document_of_one_and_keep_what_ran(tmp_path):
    from compat.harness import corpus

    path = tmp_path / "multi_input.h5"
    shutil.copy(corpus.unpacked("foreign", "tf215") / "multi_input.h5", path)
    missing = _on_missing_python()
    loaders = [catalog.get("tf215"), missing, catalog.get("tf221")]
    quiet = lambda message: None  # noqa: E731
    broken = probe.build_environments(loaders, log=quiet)
    assert list(broken) == [missing.id]
    diagnosis = probe.loadable(str(path))
    told = probe.Options(None, None, {}, None, probe.DEFAULT_VARIANT, 300.0)
    model, batch, _ = probe.prepare(diagnosis, loaders, told, sandboxed=False, log=quiet, broken=broken)
    documents = [
        _without_times(
            probe.probe(
                model,
                loaders,
                batch=batch,
                size="tiny",
                sandboxed=False,
                log=quiet,
                jobs=jobs,
                broken=broken,
                timeout=300.0,
            )
        )
        for jobs in (1, 2)
    ]
    assert documents[0] == documents[1]
    outcomes = {env["id"]: env for env in documents[1]["environments"]}
    assert list(outcomes) == [env.id for env in loaders]
    assert outcomes[missing.id]["error"] == broken[missing.id] and not outcomes[missing.id]["attempts"]
    for env_id in ("tf215", "tf221"):
        assert outcomes[env_id]["error"] is None
        assert len(outcomes[env_id]["attempts"]) == len(outcomes[env_id]["strategies"])
