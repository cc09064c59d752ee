"""A new user's paths, run as the real ``compat`` command in a fresh copy of the project.

The copy holds the tracked files only: no ``.venvs``, no ``.cache``, no results and no
output folders, so every folder a command writes to must be made by the command itself.
Typos must exit 2 with one line, before any environment starts, leaving every file as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compat import cli
from compat.devtools.trackedcopy import tracked_copy
from compat.records import matrixdoc

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "results"


@pytest.fixture
def fresh(tmp_path) -> Path:
    """The tracked files of this work tree, as a clone of it would have them."""
    return tracked_copy(tmp_path / "clone", root=ROOT)


def compat(clone: Path, *args: str, venvs: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_")}
    env["COMPAT_VENV_DIR"] = str(venvs or clone / ".venvs")
    return subprocess.run(
        [sys.executable, "-m", "compat", *args],
        cwd=str(clone),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


TYPOS = [
    (["load", "tf215", "tf210", "--fixtures", "nosuch-h5"], "unknown fixture 'nosuch-h5'; valid: builtin-h5"),
    (["load", "tf215", "tf210", "--fixtures", "lambda-h5,lamda-json"], "unknown fixture 'lamda-json'; valid:"),
    (["load", "tf215", "tf210", "--strategies", "nosuch"], "unknown strategy 'nosuch'; valid: load_model,"),
    (["load", "tf215", "tf210", "--timeout", "0"], "--timeout must be a positive number of seconds"),
    (["load", "tf215", "tf210", "--workers", "0"], "--workers must be at least 1, not 0"),
    (["load", "tf999", "tf210"], "unknown environment 'tf999'; the catalog has: keras212"),
    (["load", "tf215", "tf2l0"], "unknown environment 'tf2l0'"),
    (["matrix", "tf215", "--fixtures", "nosuch-h5"], "unknown fixture 'nosuch-h5'"),
    (["matrix", "tf215", "--jobs", "0"], "--jobs must be at least 1"),
    (["regress", "--from", "tf215", "--to", "tf221", "--variants", "lamda"], "unknown variant 'lamda'; valid:"),
    (["regress", "--from", "tf215", "--to", "tf221", "--formats", "hd5"], "unknown format 'hd5'; valid:"),
    (["run-named", "tf215-load-tf999"], "unknown environment 'tf999'"),
]


@pytest.mark.parametrize("args, message", TYPOS, ids=[" ".join(a) for a, _ in TYPOS])
def test_a_typo_exits_2_in_one_line_and_changes_nothing(fresh, tmp_path, args, message):
    results = fresh / "reports" / "results"
    shutil.copy(DATA / "tf215-load-keras212.json", results / "tf215.json")
    shutil.copy(DATA / "tf215-load-keras212.json", results / "tf215-load-tf210.json")
    before = snapshot(fresh)
    venvs = tmp_path / "venvs"
    done = compat(fresh, *args, venvs=venvs)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert snapshot(fresh) == before
    assert not venvs.exists(), "an environment was started for a command that was refused"


def test_the_regress_baseline_works_on_a_fresh_clone(fresh):
    done = compat(
        fresh,
        "regress",
        "--from",
        "tf215",
        "--to",
        "tf221",
        "--baseline",
        "reports/matrix.json",
        "--json",
        "out/regress.json",
    )
    assert done.returncode == 1, done.stderr  # the published matrix holds regressions from tf215 to tf221
    assert "regress tf215 -> tf221" in done.stdout
    assert json.loads((fresh / "out" / "regress.json").read_text())["exit_status"] == 1


def test_a_harness_bug_is_exit_3_never_1(capsys):
    def broken(args):
        raise KeyError("a bug")

    assert cli.invoke(broken, None, "compat load") == 3
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("compat load: harness error: KeyError: 'a bug' (full traceback: ")


@pytest.mark.envs
def test_regress_runs_on_a_fresh_clone(fresh):
    done = compat(
        fresh,
        "regress",
        "--from",
        "tf215",
        "--to",
        "tf221",
        "--producers",
        "keras212",
        "--variants",
        "lambda",
        "--formats",
        "h5",
        "--json",
        "regress.json",
    )
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads((fresh / "regress.json").read_text())
    assert done.returncode == report["exit_status"]
    [entry] = report["fixtures"]
    assert (entry["producer"], entry["fixture"]) == ("keras212", "lambda-h5")
    # Python 3.6 bytecode in the Lambdas defeats load_model under both: the weights route works in both.
    assert entry["old_best"] == entry["new_best"] == "rebuild_weights"
    assert "regress tf215 -> tf221: 1 fixtures compared; 0 regressed" in done.stdout


@pytest.mark.envs
def test_subset_then_bigger_runs_report_without_shrinking_the_matrix(fresh):
    published = matrixdoc.read(fresh / "reports" / "matrix.json")
    venvs = fresh.parent / "venvs"
    # --rerun: measured here even where the published matrix holds these attempts' keys.
    first = compat(
        fresh,
        "load",
        "tf215",
        "keras212",
        "--fixtures",
        "builtin-h5",
        "--output",
        "new/folder/tf215.json",
        "--rerun",
        venvs=venvs,
    )
    assert first.returncode == 0, first.stderr
    subset = compat(fresh, "load", "tf215", "keras212", "--fixtures", "builtin-h5", "--rerun", venvs=venvs)
    bigger = compat(fresh, "load", "tf215", "keras212", "--fixtures", "builtin-h5,lambda-h5", "--rerun", venvs=venvs)
    assert subset.returncode == bigger.returncode == 0, subset.stderr + bigger.stderr
    assert "symbols: ok " in bigger.stdout and "compat report" in bigger.stdout  # the legend, the pointer
    kept = json.loads((fresh / "reports" / "results" / "tf215.json").read_text())
    keys = [(a["producer"], a["fixture"], a["strategy"]) for a in kept["attempts"]]
    strategies = len(published["strategies"])
    assert len(keys) == len(set(keys)) == 2 * strategies  # 2 fixtures x every strategy, none twice
    report = compat(fresh, "report")
    assert report.returncode == 0, report.stderr
    updated = matrixdoc.read(fresh / "reports" / "matrix.json")
    assert len(updated["attempts"]) == len(published["attempts"])


def test_a_reader_that_stops_early_ends_the_command_quietly():
    # `compat regress ... | head`: the pipe closes under a command still printing.
    code = (
        "import sys\nfrom compat import cli\n"
        "def talk(args):\n    for i in range(200000):\n        print('line', i)\n    return 0\n"
        "sys.exit(cli.invoke(talk, None))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout.readline() == b"line 0\n"
    process.stdout.close()
    assert process.wait(timeout=60) == 130
    assert process.stderr.read() == b""
