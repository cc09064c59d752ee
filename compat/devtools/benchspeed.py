"""The release before the speed work against this code, on the same machine, back to back.

The earlier release is a git worktree of ``OLD_COMMIT`` (made when missing). Each
comparison runs the old code, then the new, alternately for a few rounds, so both see
the same machine load; the machine is shared, so the load average over each pair is
recorded beside its times. Measured:

- ``compat load <consumer> <producer>`` end to end (warm environments; unpacked fixtures),
  with the time each strategy's attempts spent loading and computing, and whether both
  releases gave every attempt the same verdict;
- ``compat matrix`` over every consumer for a fixture subset (``--jobs`` at once), both
  releases' verdicts compared, and an extrapolation to one fresh pass of the whole
  matrix: the subset's wall time divided by its share of the attempt time the published
  ``matrix.json`` records (the recorded times weigh formats and consumers as a full pass
  does), with the subset's worker starts, which a full pass pays only once per consumer
  too, counted once rather than share-fold;
- a re-run with nothing changed: the same subset again (every key recorded), and the plan
  of the whole matrix against the published ``matrix.json`` plus re-rendering the report,
  which is what a no-change re-run of the whole matrix does.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from compat import catalog
from compat.devtools.trackedcopy import tracked_copy
from compat.harness import runner
from compat.paths import PROJECT_ROOT, PUBLISHED_MATRIX
from compat.records import matrixdoc, results
from compat.records.attempt import attempt_id

OLD_COMMIT = "7a28f38"
TARGETS = {"tf221": 2.0, "tf215": 1.5}
"""Speed-up over the earlier release that ``compat load <consumer> tf210`` must reach."""
FULL_PASS_TARGET_HOURS = 1.3
NO_CHANGE_TARGET_SECONDS = 60.0


def old_tree(path: Path, commit: str = OLD_COMMIT) -> Path:
    """A worktree of the earlier release, made once."""
    if not (path / "compat").is_dir():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), commit],
            cwd=str(PROJECT_ROOT),
            check=True,
            capture_output=True,
        )
    return path


def _child_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "COMPAT_CACHE_DIR"}


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


def warm(tree: Path, producers: list[str]) -> None:
    """Unpack the fixtures in a tree's own cache before anything is timed."""
    code = f"from compat.harness import fixtures\nfor p in {producers!r}: fixtures.unpacked(p)"
    subprocess.run([sys.executable, "-c", code], cwd=str(tree), env=_child_env(), check=True)


def timed_load(tree: Path, consumer: str, producer: str, output: Path, options: list[str]) -> float:
    command = [sys.executable, "-m", "compat", "load", consumer, producer, "--quiet", "--output", str(output), *options]
    started = time.time()
    done = subprocess.run(command, cwd=str(tree), env=_child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"compat load {consumer} {producer} in {tree} failed: {done.stderr[-500:]}")
    return time.time() - started


def per_strategy(document: dict) -> dict:
    """Strategy -> loads made and seconds they spent loading and computing embeddings."""
    spent: dict[str, dict] = {}
    for attempt in document["attempts"]:
        if attempt["verdict"] == "not_applicable":
            continue
        entry = spent.setdefault(attempt["strategy"], {"loads": 0, "seconds": 0.0})
        entry["loads"] += 1
        entry["seconds"] += (attempt.get("load_seconds") or 0.0) + (attempt.get("predict_seconds") or 0.0)
    return {name: {"loads": e["loads"], "seconds": round(e["seconds"], 2)} for name, e in spent.items()}


def differing_verdicts(old: list[dict], new: list[dict]) -> list[str]:
    """Attempts the two releases judged differently (or only one of them ran)."""

    def verdicts(attempts):
        return {(a.get("consumer", ""),) + attempt_id(a): a["verdict"] for a in attempts}

    before, after = verdicts(old), verdicts(new)
    return sorted(
        " ".join(key) + f": {before.get(key)} -> {after.get(key)}"
        for key in set(before) | set(after)
        if before.get(key) != after.get(key)
    )


SIDES = {
    "old": [],  # the earlier release: one worker, which was all it had
    "new": ["--rerun"],  # what a user's `compat load` does: a worker per core (up to four)
    "new_one_worker": ["--rerun", "--workers", "1"],  # the same code on one core, attempt for attempt
}
"""How each side runs ``compat load``; ``--rerun`` measures whatever is recorded."""


def compare_load(old: Path, consumer: str, producer: str, rounds: int, scratch: Path) -> dict:
    runs: dict[str, list[float]] = {side: [] for side in SIDES}
    documents = {}
    loads = []
    for number in range(rounds):
        before = _load_average()
        for side, options in SIDES.items():
            output = scratch / f"{consumer}-{producer}-{side}-{number}.json"
            tree = old if side == "old" else PROJECT_ROOT
            runs[side].append(round(timed_load(tree, consumer, producer, output, options), 2))
            documents[side] = results.read(output)
        loads.append([before, _load_average()])
        print(
            f"  {consumer} <- {producer} round {number + 1}: old {runs['old'][-1]}s, new {runs['new'][-1]}s "
            f"({documents['new']['run']['workers_started']} workers), new on one worker "
            f"{runs['new_one_worker'][-1]}s (load average {loads[-1][0]} -> {loads[-1][1]})"
        )
    old_median = statistics.median(runs["old"])
    return {
        "consumer": consumer,
        "producer": producer,
        "attempts": len(documents["new"]["attempts"]),
        "old_seconds": runs["old"],
        "new_seconds": runs["new"],
        "new_workers": documents["new"]["run"]["workers_started"],
        "new_one_worker_seconds": runs["new_one_worker"],
        "load_average": loads,
        "ratio": round(old_median / statistics.median(runs["new"]), 2),
        "ratio_one_worker": round(old_median / statistics.median(runs["new_one_worker"]), 2),
        "target": TARGETS.get(consumer),
        "strategies": {
            "old": per_strategy(documents["old"]),
            "new": per_strategy(documents["new"]),
            "new_one_worker": per_strategy(documents["new_one_worker"]),
        },
        "differing_verdicts": differing_verdicts(documents["old"]["attempts"], documents["new"]["attempts"]),
        "differing_verdicts_one_worker": differing_verdicts(
            documents["new"]["attempts"], documents["new_one_worker"]["attempts"]
        ),
    }


_OLD_MATRIX = """
import sys
from pathlib import Path
from compat import matrix
consumers, jobs, fixtures, folder = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
finished = matrix.run_consumers(consumers, jobs, resume=False, fixture_ids=fixtures, log=lambda *_: None,
                                results_dir=folder)
sys.exit(max(finished.values()))
"""


def _documents(folder: Path) -> list[dict]:
    return [results.read(path) for path in sorted(folder.glob("*.json"))]


def _attempts(documents: list[dict]) -> list[dict]:
    return [dict(a, consumer=d["run"]["consumer"]) for d in documents for a in d["attempts"]]


def recorded_share(fixture_ids: list[str], published: Path) -> dict:
    """The subset's share of the published matrix: of its attempts and of their recorded time."""
    matrix = matrixdoc.read(published)

    def seconds(attempt):
        return (attempt.get("load_seconds") or 0.0) + (attempt.get("predict_seconds") or 0.0)

    subset = [a for a in matrix["attempts"] if a["fixture"] in fixture_ids]
    return {
        "attempts": round(len(subset) / len(matrix["attempts"]), 5),
        "recorded_seconds": round(sum(map(seconds, subset)) / sum(map(seconds, matrix["attempts"])), 5),
        "published_attempts": len(matrix["attempts"]),
    }


def _worker_starts(documents: list[dict]) -> int:
    return sum(d["run"].get("workers_started", 0) for d in documents)


def compare_matrix(old: Path, fixture_ids: str, jobs: int, scratch: Path, start_seconds: float) -> dict:
    consumers = [env.id for env in catalog.consumers()]
    measured: dict[str, dict[str, Any]] = {}
    documents: dict[str, list[dict]] = {}
    for side in ("old", "new"):
        folder = scratch / f"matrix-{side}"
        folder.mkdir()
        before = _load_average()
        started = time.time()
        if side == "old":
            command = [sys.executable, "-c", _OLD_MATRIX, ",".join(consumers), str(jobs), fixture_ids, str(folder)]
            done = subprocess.run(command, cwd=str(old), env=_child_env(), check=False)
        else:
            command = [
                sys.executable,
                "-m",
                "compat",
                "matrix",
                "--fixtures",
                fixture_ids,
                "--jobs",
                str(jobs),
                "--rerun",
                "--no-report",
                "--results",
                str(folder),
            ]
            done = subprocess.run(command, cwd=str(PROJECT_ROOT), env=_child_env(), check=False)
        seconds = time.time() - started
        if done.returncode != 0:
            raise RuntimeError(f"the {side} matrix subset failed (exit {done.returncode})")
        documents[side] = _documents(folder)
        measured[side] = {
            "seconds": round(seconds, 1),
            "load_average": [before, _load_average()],
            "attempts": len(_attempts(documents[side])),
            "worker_starts": _worker_starts(documents[side]),
        }
        print(
            f"  matrix over {fixture_ids}, {side}: {measured[side]['attempts']} attempts in "
            f"{measured[side]['seconds']}s (load average {before} -> {_load_average()})"
        )
    share = recorded_share(runner.split_list(fixture_ids) or [], PUBLISHED_MATRIX)
    for side in ("old", "new"):
        # Worker starts cost the same in the subset as in a full pass (once per consumer and
        # per dead worker), so they are not scaled up with the attempts.
        starts = measured[side]["worker_starts"] * start_seconds / jobs
        attempts_part = max(measured[side]["seconds"] - starts, 0.0)
        measured[side]["full_pass_hours"] = round((starts + attempts_part / share["recorded_seconds"]) / 3600, 2)
        measured[side]["full_pass_hours_scaled_whole"] = round(
            measured[side]["seconds"] / share["recorded_seconds"] / 3600, 2
        )
    again = time.time()
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "compat",
            "matrix",
            "--fixtures",
            fixture_ids,
            "--jobs",
            str(jobs),
            "--no-report",
            "--results",
            str(scratch / "matrix-new"),
        ],
        cwd=str(PROJECT_ROOT),
        env=_child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    no_change = time.time() - again
    if rerun.returncode != 0 or "nothing to do" not in rerun.stdout:
        raise RuntimeError(
            f"the no-change re-run did not find nothing to do: {rerun.stdout[-500:]} {rerun.stderr[-500:]}"
        )
    return {
        "fixtures": fixture_ids,
        "jobs": jobs,
        "share": share,
        "worker_start_seconds": start_seconds,
        "old": measured["old"],
        "new": measured["new"],
        "ratio": round(measured["old"]["seconds"] / measured["new"]["seconds"], 2),
        "target_hours": FULL_PASS_TARGET_HOURS,
        "differing_verdicts": differing_verdicts(_attempts(documents["old"]), _attempts(documents["new"])),
        "no_change_rerun_seconds": round(no_change, 1),
    }


def no_change_whole(scratch: Path) -> dict:
    """``compat matrix`` with nothing changed, as a user runs it in a fresh clone.

    The tracked files are copied to ``scratch`` (no results files, no unpacked fixtures)
    and the command runs there with an empty environments folder: it must say "nothing to
    do" from the committed ``matrix.json``'s keys and build no environment. It then
    re-renders the report, as every ``compat matrix`` does.
    """
    clone, venvs = scratch / "clone", scratch / "venvs"
    tracked_copy(clone)
    venvs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_")}
    env["COMPAT_VENV_DIR"] = str(venvs)
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "compat", "matrix"], cwd=str(clone), env=env, capture_output=True, text=True, check=False
    )
    seconds = time.time() - started
    said = done.stdout.strip().splitlines()
    if done.returncode != 0 or not said or "nothing to do" not in said[0]:
        raise RuntimeError(
            f"compat matrix in a fresh clone did not find nothing to do: {done.stdout[-500:]} {done.stderr[-500:]}"
        )
    if any(venvs.iterdir()):
        raise RuntimeError("compat matrix with nothing to do built an environment")
    return {
        "seconds": round(seconds, 1),
        "target_seconds": NO_CHANGE_TARGET_SECONDS,
        "said": said,
        "environments_built": 0,
    }


def no_change_line(whole: dict) -> str:
    return (
        f"`compat matrix` with nothing changed, fresh clone: {whole['seconds']}s "
        f"(target < {NO_CHANGE_TARGET_SECONDS:.0f}s), no environment built; it said: {whole['said'][0]}"
    )


def worker_start_seconds(env_id: str = "tf215", repeats: int = 3) -> float:
    """One worker's start: the interpreter and its TensorFlow import (median)."""
    from compat.environments import envs

    env = catalog.get(env_id)
    python = envs.ensure_built(env)
    seconds = []
    for _ in range(repeats):
        started = time.time()
        subprocess.run(
            [str(python), "-c", "import tensorflow"], env=envs.inside_env(env), check=True, capture_output=True
        )
        seconds.append(time.time() - started)
    return round(statistics.median(seconds), 2)


def run(old_path: Path, pairs: list[tuple[str, str]], rounds: int, fixture_ids: str | None, jobs: int) -> dict:
    old = old_tree(old_path)
    producers = sorted({p for _, p in pairs})
    if fixture_ids:
        producers = runner.resolve_producers(["all"])
    warm(old, producers)
    warm(PROJECT_ROOT, producers)
    pairs_measured: list[dict] = []
    measured: dict[str, Any] = {"old_commit": OLD_COMMIT, "cores": os.cpu_count(), "pairs": pairs_measured}
    with tempfile.TemporaryDirectory(prefix="compat-bench-speed-", dir=str(PROJECT_ROOT / ".cache")) as tmp:
        scratch = Path(tmp)
        for consumer, producer in pairs:
            pair = compare_load(old, consumer, producer, rounds, scratch)
            pairs_measured.append(pair)
            target = f" (target >= {pair['target']}x)" if pair["target"] else ""
            print(
                f"compat load {consumer} {producer}: {pair['ratio']}x faster{target} with "
                f"{pair['new_workers']} workers, {pair['ratio_one_worker']}x on one; "
                f"{len(pair['differing_verdicts'])} verdicts differ from the old release's, "
                f"{len(pair['differing_verdicts_one_worker'])} between the new runs"
            )
        if fixture_ids:
            start = worker_start_seconds()
            subset = compare_matrix(old, fixture_ids, jobs, scratch, start)
            measured["matrix"] = subset
            print(
                f"matrix over {fixture_ids}: old {subset['old']['seconds']}s, new {subset['new']['seconds']}s "
                f"({subset['ratio']}x); {len(subset['differing_verdicts'])} verdicts differ; "
                f"a full pass extrapolated: old {subset['old']['full_pass_hours']} h, new "
                f"{subset['new']['full_pass_hours']} h (target <= {FULL_PASS_TARGET_HOURS} h; the subset is "
                f"{subset['share']['recorded_seconds']:.1%} of the recorded attempt time); the same subset again "
                f"with nothing changed: {subset['no_change_rerun_seconds']}s"
            )
        whole = no_change_whole(scratch)
        measured["no_change_whole"] = whole
        print(no_change_line(whole))
    return measured
