"""The results store without TensorFlow: the journal, stopped runs' journals, the merge of
overlapping runs, and a run that measured nothing writing nothing."""

from __future__ import annotations

import json

import pytest
from filelock import FileLock

from compat import catalog
from compat.errors import BadInput
from compat.records import results
from compat.records.attempt import Attempt, attempt_id
from compat.records.store import ResultsStore, journaled
from compat.records.verdicts import Verdict

ORDER = ["load_model", "no_compile"]


def _store(path, producers=("tf210",), consumer="tf215", log=lambda *_: None) -> ResultsStore:
    return ResultsStore(path, catalog.get(consumer), list(producers), ORDER, log=log)


def _attempt(producer="tf210", fixture="lambda-h5", strategy="load_model", **fields) -> Attempt:
    variant, fmt = fixture.split("-", 1)
    fields.setdefault("verdict", Verdict.NOT_APPLICABLE)
    fields.setdefault("reason", "no")
    return Attempt(producer, fixture, variant, fmt, strategy, key={"code": "c"}, **fields)


def test_a_store_that_measured_nothing_writes_nothing(tmp_path):
    output = tmp_path / "tf215.json"
    store = _store(output)
    with store.journaling():
        store.settle()
    assert list(tmp_path.iterdir()) == []


def test_each_verdict_is_journaled_at_once_and_the_journal_goes_at_the_end(tmp_path):
    output = tmp_path / "tf215.json"
    store = _store(output)
    with store.journaling():
        store.record(_attempt())
        assert [attempt_id(a) for a in journaled(output)] == [("tf210", "lambda-h5", "load_model")]
        store.record(_attempt(strategy="no_compile"))
        store.finish()
    saved = results.read(output)
    assert saved["run"]["complete"] and saved["run"]["producers"] == ["tf210"]
    assert [a["strategy"] for a in saved["attempts"]] == ORDER
    assert journaled(output) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tf215.json", "tf215.json.lock"]


def test_a_run_stopped_by_an_exception_saves_and_leaves_its_journal_for_the_next(tmp_path):
    output = tmp_path / "tf215.json"
    store = _store(output)
    with pytest.raises(KeyboardInterrupt), store.journaling():
        store.record(_attempt())
        raise KeyboardInterrupt
    assert [attempt_id(a) for a in results.read(output)["attempts"]] == [("tf210", "lambda-h5", "load_model")]
    assert results.journals(output) == [store.journal]
    said = []
    again = _store(output, log=said.append)
    assert said == ["[compat] tf215.json: kept 1 attempts a stopped run had journaled"]
    again.settle()
    assert results.journals(output) == []


def test_a_live_runs_journal_is_left_alone(tmp_path):
    output = tmp_path / "tf215.json"
    live = output.with_name(f"{output.name}.1-aa.journal")
    live.write_text(json.dumps(_attempt().to_dict()) + "\n")
    with FileLock(str(live) + ".lock"):
        store = _store(output)
        assert store.measured == {} and store.adopted == []


def test_two_stores_saving_in_turn_keep_each_others_measurements(tmp_path):
    output = tmp_path / "tf215.json"
    first, second = _store(output, ["tf210"]), _store(output, ["tf212"])
    mine = [_attempt("tf210", f"lambda-{fmt}", s) for fmt in ("h5", "json") for s in ORDER]
    theirs = [_attempt("tf212", f"lambda-{fmt}", s) for fmt in ("h5", "json") for s in ORDER]
    for own, other in zip(mine, theirs, strict=True):
        first.record(own)
        first.save()
        second.record(other)
        second.save()
    later = _attempt(verdict=Verdict.ERROR, reason=None, error={"type": "E", "message": "later", "traceback": ""})
    second.record(later)
    second.save()
    saved = {attempt_id(a): a for a in results.read(output)["attempts"]}
    assert set(saved) == {a.id for a in mine + theirs}
    assert saved[later.id]["error"]["message"] == "later"
    assert results.read(output)["run"]["producers"] == ["tf210", "tf212"]


def test_records_under_another_key_leave_the_file(tmp_path):
    output = tmp_path / "tf215.json"
    store = _store(output)
    with store.journaling():
        store.record(_attempt())
        store.record(_attempt(strategy="no_compile"))
        store.finish()
    again = _store(output)
    again.supersede({("tf210", "lambda-h5", "load_model"): {"code": "new"}})
    again.settle()
    assert [a["strategy"] for a in results.read(output)["attempts"]] == ["no_compile"]


def test_a_results_file_of_another_consumer_is_refused(tmp_path):
    output = tmp_path / "tf215.json"
    store = _store(output)
    store.record(_attempt())
    store.save()
    with pytest.raises(BadInput, match="holds results of tf215, not tf221"):
        _store(output, consumer="tf221")
