"""The everyday paths of a user, each run as the real command (tox, or ``python -m compat``
from a fresh copy of the tracked files): the table of what is recorded, `--version`, a
harness failure in one line, overlapping runs of one consumer, and progress in a log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compat.harness import runner
from compat.records import matrixdoc, results, summary
from compat.records.attempt import attempt_id
from tests.conftest import compat_in, tracked_copy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh(tmp_path) -> Path:
    return tracked_copy(tmp_path / "clone")


def _rows(text: str) -> dict[str, str]:
    """fixture -> recommended strategy, read from the printed grid."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("fixture ") and "recommended" in line)
    rows = {}
    for line in lines[head + 2 :]:
        if not line.strip():
            break
        fixture, recommended = re.split(r"\s{2,}", line.strip())[:2]  # "(none works)" is one column
        rows[fixture] = recommended
    return rows


def _published_best(clone: Path, consumer: str, producer: str) -> dict[str, str]:
    """What the committed matrix.json says each fixture's recommended strategy is."""
    document = matrixdoc.read(clone / "reports" / "matrix.json")
    mine = [a for a in document["attempts"] if a["consumer"] == consumer and a["producer"] == producer]
    order = summary.strategy_order(document["strategies"])
    return {
        fixture: summary.best_strategy(row, order) or "(none works)"
        for (_, fixture), row in summary.group_by_fixture(mine).items()
    }


def test_tox_load_prints_the_recorded_table_without_building_anything(fresh, tmp_path):
    """README's main job on a fresh clone: everything is recorded, so the table comes from
    the published matrix and no environment is built."""
    tox = shutil.which("tox")
    if tox is None:
        pytest.skip("tox is not installed (it is a core dependency: pip install -e .)")
    venvs = tmp_path / "venvs"
    venvs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPAT_", "TOX_", "PYTHONPATH"))}
    env["COMPAT_VENV_DIR"] = str(venvs)
    done = subprocess.run(
        [tox, "-e", "tf215-load-tf210"],
        cwd=str(fresh),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    document = matrixdoc.read(fresh / "reports" / "matrix.json")
    planned = sum(a["consumer"] == "tf215" and a["producer"] == "tf210" for a in document["attempts"])
    assert f"nothing to do: the {planned} planned attempts are recorded" in done.stdout
    flat = " ".join(done.stdout.split())  # as wrapped to whatever width
    assert re.search(
        rf"recorded, not measured now: all {planned} planned attempts, with their current keys: {planned} in the "
        r"published reports/matrix\.json \(measured on \d{4}-\d\d-\d\d\); `--rerun` measures them again",
        flat,
    ), done.stdout
    assert _rows(done.stdout) == _published_best(fresh, "tf215", "tf210")
    assert "rebuild_weights" in _rows(done.stdout).values()
    assert "why strategies failed" in done.stdout and "recipes of the recommended strategies" in done.stdout
    assert list(venvs.iterdir()) == [], "an environment was built for a run that had nothing to measure"


def test_version_names_the_package_and_a_digest_of_the_catalog(fresh):
    import compat

    first = compat_in(fresh, "--version")
    assert first.returncode == 0, first.stderr
    found = re.fullmatch(r"compat (\S+) \(catalog ([0-9a-f]{16}), 20 environments\)\n", first.stdout)
    assert found and found.group(1) == compat.__version__, first.stdout
    # The digest follows the locks: a changed pin is another catalog.
    lock = fresh / "compat" / "locks" / "tf215.txt"
    lock.write_text(lock.read_text().replace("numpy==", "numpy==0.0.0+", 1))
    second = compat_in(fresh, "--version")
    assert second.returncode == 0 and second.stdout != first.stdout
    assert found.group(2) != re.search(r"catalog ([0-9a-f]+)", second.stdout).group(1)


def test_a_harness_failure_is_one_line_naming_the_traceback_file(fresh, tmp_path):
    # A checkout that lost a reference file: the planning step cannot key the attempts.
    manifest = json.loads((fresh / "fixtures" / "tf210" / "manifest.json").read_text())
    (fresh / "fixtures" / "tf210" / manifest["reference"]["input"]).unlink()
    cache = tmp_path / "cache"
    done = compat_in(
        fresh, "load", "tf215", "tf210", venvs=tmp_path / "venvs", extra_env={"COMPAT_CACHE_DIR": str(cache)}
    )
    assert done.returncode == 3, done.stderr
    [line] = done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    found = re.fullmatch(
        r"compat load: harness error: FileNotFoundError: .+ \(full traceback: (\S+); "
        r"--verbose prints it here\)",
        line,
    )
    assert found, line
    written = Path(found.group(1))
    assert written.parent == cache / "logs"
    assert "Traceback (most recent call last)" in written.read_text()
    assert "FileNotFoundError" in written.read_text()

    verbose = compat_in(
        fresh,
        "load",
        "tf215",
        "tf210",
        "--verbose",
        venvs=tmp_path / "venvs",
        extra_env={"COMPAT_CACHE_DIR": str(cache)},
    )
    assert verbose.returncode == 3
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("compat load: harness error: FileNotFoundError")
    assert not (tmp_path / "venvs").exists()


def test_a_journal_left_by_a_stopped_run_is_folded_in_and_a_live_one_is_not(fresh, tmp_path):
    """Journals are per run: one whose run is gone is kept, one whose run holds its lock is
    left alone (that run saves it itself)."""
    output = tmp_path / "results" / "tf215.json"
    output.parent.mkdir()
    published = matrixdoc.read(fresh / "reports" / "matrix.json")
    attempts = [dict(a) for a in published["attempts"] if a["consumer"] == "tf215" and a["producer"] == "tf210"]
    for attempt in attempts:
        attempt.pop("consumer")
    stopped, live, legacy = attempts[:3], attempts[3:5], attempts[5:6]
    for name, chunk in (("1-aa.journal", stopped), ("2-bb.journal", live), ("journal", legacy)):
        with open(output.with_name(f"{output.name}.{name}"), "w") as handle:
            for attempt in chunk:
                results.append_journal(handle, attempt)
    held = str(output.with_name(f"{output.name}.2-bb.journal")) + ".lock"
    hold = (
        "import sys, time, filelock\nwith filelock.FileLock(sys.argv[1]):\n print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, held], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = compat_in(fresh, "load", "tf215", "tf210", "--output", str(output), venvs=tmp_path / "venvs")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0, done.stderr
    assert "kept 4 attempts a stopped run had journaled" in done.stdout
    kept = {attempt_id(a) for a in results.read(output)["attempts"]}
    assert kept == {attempt_id(a) for a in stopped + legacy}
    assert [p.name for p in results.journals(output)] == [f"{output.name}.2-bb.journal"]
    assert not (tmp_path / "venvs").exists()


def test_two_runs_saving_in_turn_keep_each_others_measurements(tmp_path):
    """The merge itself, without TensorFlow: two runs of one consumer over different
    producers save alternately, as overlapping processes do, and no save loses what the
    other wrote; an attempt both measured keeps the later measurement."""
    output = tmp_path / "tf215.json"
    published = matrixdoc.read(ROOT / "reports" / "matrix.json")

    def recorded(producer) -> list:
        return [
            (attempt_id(a), {k: v for k, v in a.items() if k != "consumer"})
            for a in published["attempts"]
            if a["consumer"] == "tf215" and a["producer"] == producer
        ]

    # Each run's store, which the runner hands every verdict to, given measurements directly.
    first = runner.open_run("tf215", ["tf210"], output=output, log=lambda *_: None, published=None).store
    second = runner.open_run("tf215", ["tf212"], output=output, log=lambda *_: None, published=None).store
    mine, theirs = recorded("tf210"), recorded("tf212")
    for start in range(0, max(len(mine), len(theirs)), 50):
        first.measured.update(mine[start : start + 50])
        first.save()
        second.measured.update(theirs[start : start + 50])
        second.save()
    again, attempt = mine[0]
    second.measured[again] = dict(attempt, verdict="error", error={"type": "E", "message": "later", "traceback": ""})
    second.save()
    saved = {attempt_id(a): a for a in results.read(output)["attempts"]}
    assert set(saved) == {found for found, _ in mine + theirs}
    assert saved[again]["error"]["message"] == "later"
    assert results.read(output)["run"]["producers"] == ["tf210", "tf212"]


# -- with TensorFlow ------------------------------------------------------------------------
FIXTURES = "builtin-h5"


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory) -> dict:
    """Two `compat load` of tf215 on different producers, the second started while the first
    measures, plus a `compat report` reading the results file meanwhile; stdout is a pipe."""
    from compat.environments import envs

    base = tmp_path_factory.mktemp("overlap")
    clone = tracked_copy(base / "clone")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_")}
    env["COMPAT_VENV_DIR"] = str(envs.venv_root())
    output = clone / "reports" / "results" / "tf215.json"

    def load(producer):
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "compat",
                "load",
                "tf215",
                producer,
                "--rerun",
                "--fixtures",
                FIXTURES,
                "--workers",
                "1",
            ],
            cwd=str(clone),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = load("tf210")
    deadline = time.time() + 600
    while time.time() < deadline and not any(p.stat().st_size for p in results.journals(output)):
        time.sleep(0.2)
    second = load("tf212")
    report = None
    while time.time() < deadline and second.poll() is None and report is None:
        if output.exists():
            report = subprocess.run(
                [sys.executable, "-m", "compat", "report", "--out", str(base / "report")],
                cwd=str(clone),
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        time.sleep(0.2)
    outs = {name: process.communicate(timeout=900) for name, process in (("tf210", first), ("tf212", second))}
    return {
        "clone": clone,
        "output": output,
        "report": report,
        "codes": {"tf210": first.returncode, "tf212": second.returncode},
        "outs": outs,
    }


@pytest.mark.envs
def test_overlapping_loads_of_one_consumer_keep_every_attempt_of_both(overlapping):
    assert overlapping["codes"] == {"tf210": 0, "tf212": 0}, overlapping["outs"]
    for out, err in overlapping["outs"].values():
        assert "Traceback" not in out + err
    strategies = runner.strategy_names()
    expected = {
        (producer, fixture, strategy)
        for producer in ("tf210", "tf212")
        for fixture in FIXTURES.split(",")
        for strategy in strategies
    }
    saved = results.read(overlapping["output"])["attempts"]
    assert {attempt_id(a) for a in saved} == expected
    assert len(saved) == len(expected)
    assert results.journals(overlapping["output"]) == []
    for out, _ in overlapping["outs"].values():
        assert f"measured now: {len(strategies)} of the {len(strategies)} planned attempts (builtin-h5)" in out
    report = overlapping["report"]
    assert report is not None and report.returncode == 0, report and report.stderr


@pytest.mark.envs
def test_a_run_piped_to_a_file_prints_progress_lines_with_the_time_left(overlapping):
    out, _ = overlapping["outs"]["tf210"]
    lines = [line for line in out.splitlines() if re.match(r"\[compat\] tf215: \d+/\d+ attempts", line)]
    total = len(runner.strategy_names())
    pattern = (
        rf"\[compat\] tf215: (\d+)/{total} attempts \(\d+%\), [\d.]+/s, \d+ (s|min) elapsed, "
        r"about \d+ (s|min) left"
    )
    assert lines and all(re.match(pattern, line) for line in lines), lines
    assert lines[0].startswith(f"[compat] tf215: 1/{total} ") and "; now " in lines[0]
    assert lines[-1].startswith(f"[compat] tf215: {total}/{total} attempts (100%)")
    assert "\x1b[" not in out, "a pipe gets plain lines, not a terminal's bar"


@pytest.mark.envs
def test_matrix_shows_each_consumers_progress_and_the_time_left_in_all(fresh, tmp_path):
    """`compat matrix` piped to a file: plain lines with each running consumer's attempts and
    time left, and the time left for the whole run. `builtin-export` is a small slice (six
    producers write it)."""
    done = compat_in(
        fresh,
        "matrix",
        "tf215",
        "--rerun",
        "--fixtures",
        "builtin-export",
        "--no-report",
        "--results",
        str(tmp_path / "results"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    todo = int(re.search(r"\[matrix\] (\d+) of \d+ attempts to run", done.stdout).group(1))
    lines = [line for line in done.stdout.splitlines() if re.match(r"\[matrix\] \d+/1 consumers done", line)]
    assert re.fullmatch(
        rf"\[matrix\] 0/1 consumers done, \d+/{todo} attempts, \d+ s elapsed, about \d+ (s|min) "
        rf"left in all; running: tf215 \d+/{todo} \(about \d+ (s|min) left\)",
        lines[0],
    ), lines
    assert re.fullmatch(
        rf"\[matrix\] 1/1 consumers done, {todo}/{todo} attempts, \d+ (s|min) elapsed, "
        r"about 0 s left in all; running: none",
        lines[-1],
    ), lines
    assert "[matrix] tf215 finished (exit 0)" in done.stdout
    assert len(results.read(tmp_path / "results" / "tf215.json")["attempts"]) == todo


def test_the_time_left_follows_the_recorded_times_then_this_runs_pace():
    from compat.harness import progress

    estimate = progress.Estimate({"a": 1.0, "b": 1.0, "c": 4.0}, parallel=2, start_seconds=10.0)
    assert estimate.left(0.0) == 10.0 + 6.0 / 2  # before any attempt: workers' start, then the work spread
    estimate.finished("a", elapsed=12.0)
    assert estimate.left(12.0) == pytest.approx(5.0 / 2)  # the first includes the start: the recorded pace
    untimed = progress.Estimate({"a": 1.0, "b": 3.0})
    untimed.finished("a")  # done, without when: the pace is the whole elapsed time over the recorded
    assert untimed.left(2.0) == pytest.approx(3.0 * 2.0)
    estimate.finished("b", elapsed=14.0)
    assert estimate.left(14.0) == pytest.approx(4.0 * 2.0)  # from the first done on: 2 s for 1 s recorded
    assert progress.finish_time([5.0], [10.0, 1.0], slots=2) == 10.0  # the 10 s one starts on the free core
    assert progress.finish_time([5.0], [10.0, 1.0], slots=1) == 16.0
    assert progress.finish_time([], [3.0, 3.0, 3.0], slots=2) == 6.0


def test_an_attempt_costs_what_its_record_says_by_verdict_where_it_was_not_timed():
    from compat.harness import progress
    from compat.records import matrixdoc

    records = {
        ("tf210", "lambda-h5", "load_model"): {"verdict": "pass", "load_seconds": 2.0, "predict_seconds": 1.0},
        ("tf210", "lambda-json", "load_model"): {"verdict": "not_applicable"},
        ("tf210", "lambda-h5", "no_compile"): {"verdict": "error"},
        ("tf210", "lambda-h5", "unsafe"): {"verdict": "crash"},
    }
    recorded = {i: matrixdoc.attempt_seconds(record) for i, record in records.items()}
    new, json_read = ("tf210", "lambda-h5", "json_unsafe"), ("tf210", "lambda-json", "h5_transplant")
    new_h5 = ("tf210", "builtin-h5", "translate")
    expected = progress.expected_seconds([*records, new, json_read, new_h5], recorded)
    timed, not_applicable, refused, crashed = records
    assert expected[timed] == 3.0
    assert expected[not_applicable] == 0.0  # nothing was loaded
    assert expected[refused] == progress.UNTIMED_SECONDS["error"]
    assert expected[crashed] == progress.WORKER_START_SECONDS  # the worker it killed starts again
    assert expected[new_h5] == 3.0  # never recorded: the mean of the timed ones
    assert expected[new] == 0.0  # json_unsafe reads no h5 file: it will not apply
    assert expected[json_read] == 3.0  # h5_transplant reads the weights beside a JSON
    # Recorded under other consumers (a new stack): what it cost there, each cost as above.
    peers = {new_h5: [1.0, 2.0], new: [0.0, "crash"]}
    priced = progress.expected_seconds([timed, new, new_h5], recorded, peers)
    assert priced[new_h5] == 1.5
    assert priced[new] == progress.WORKER_START_SECONDS / 2
    assert priced[timed] == 3.0  # its own record first


def test_plain_progress_lines_come_first_last_and_at_a_bounded_rate(capsys):
    import io

    from compat.harness import progress

    stream = io.StringIO()
    reporter = progress.Reporter(
        "tf215", 100, progress.Estimate({i: 1.0 for i in range(100)}), stream=stream, plain_seconds=3600
    )
    with reporter:
        for number in range(100):
            reporter.now(f"attempt {number}")
            reporter.advance(number)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[compat] tf215: 1/100 attempts (1%), ") and "; now attempt 0" in lines[0]
    assert lines[1].startswith("[compat] tf215: 100/100 attempts (100%), ") and "about 0 s left" in lines[1]


@pytest.mark.envs
def test_a_run_measuring_part_shows_every_planned_attempt_and_says_which_it_measured(fresh, tmp_path):
    """After an edit to one strategy only its attempts run; the table still covers every
    planned attempt, the rest from the published matrix, and says which is which."""
    from tests.records.test_attemptkey import _subclasses, edit_strategy

    edited = "h5_transplant"
    edit_strategy(fresh, edited)
    done = compat_in(fresh, "load", "tf215", "tf210", "--fixtures", "builtin-h5,lambda-h5")
    assert done.returncode == 0, done.stderr
    strategies = runner.strategy_names()
    planned, rerun = 2 * len(strategies), 2 * len(_subclasses(edited))
    flat = " ".join(done.stdout.split())
    each = f"({len(_subclasses(edited))} of {len(strategies)} strategies)"
    assert f"measured now: {rerun} of the {planned} planned attempts (builtin-h5 {each}, lambda-h5 {each})" in flat
    assert re.search(
        rf"recorded, not measured now: {planned - rerun} attempts, with their current keys: "
        rf"{planned - rerun} in the published reports/matrix\.json \(measured on [\d-]+\); "
        r"`--rerun` measures them again",
        flat,
    ), flat
    assert set(_rows(done.stdout)) == {"builtin-h5", "lambda-h5"}
    assert _rows(done.stdout) == {
        k: v for k, v in _published_best(fresh, "tf215", "tf210").items() if k in ("builtin-h5", "lambda-h5")
    }
