"""``compat matrix``: every consumer over every producer on one machine, then the report.

First the plan, in this process and in seconds: every attempt of every consumer with its
content key (``compat.records.attemptkey``), checked against what the consumers' results files
and the published ``reports/matrix.json`` record. Attempts whose key is recorded are not
run again, so after a change to one strategy only that strategy's attempts run, a new
catalog environment adds only its row and column, and with nothing changed the command
says "nothing to do" without starting an environment (``--rerun`` measures everything).

Consumers with attempts to run then run in parallel, one ``compat load <consumer> all``
process each, as many at once as there are cores, the largest first (estimated from the
recorded times of the same attempts) so the cores finish together. Missing environments
are built first, one at a time (uv is I/O bound). Progress shows each running consumer's
attempts done of its share and time left, and the time left for the whole matrix, read
from the journals the runs write as each verdict comes (a live bar in a terminal, a plain
line every ``progress.PLAIN_SECONDS`` elsewhere).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from compat import catalog
from compat.environments import envs
from compat.errors import BadInput, HarnessFailure
from compat.harness import progress, runner
from compat.harness.progress import WORKER_START_SECONDS
from compat.paths import PROJECT_ROOT
from compat.records import codedigest, store
from compat.records.attempt import AttemptId, attempt_id

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

POLL_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class Pass:
    """One consumer's share of a matrix run."""

    consumer: str
    planned: int
    todo: int
    estimated_seconds: float
    expected: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    """Attempt id -> seconds it is expected to take, for each attempt to run."""


def plan_passes(
    consumer_ids: list[str],
    outputs: dict[str, Path],
    fixture_ids: str | None = None,
    rerun: bool = False,
    published: Path | None = runner.PUBLISHED,
    settle: bool = True,
) -> list[Pass]:
    """Every consumer's pass, largest first, with what it has to run.

    A consumer with nothing to run is settled here (a stopped run's journal kept, superseded
    attempts dropped from its results file), as its own ``compat load`` would, unless
    ``settle`` is false (a dry run writes nothing).
    """
    codes = codedigest.code_digests(PROJECT_ROOT)
    producers = runner.resolve_producers(["all"])
    wanted = runner.split_list(fixture_ids)
    matrix = runner.published_matrix(published) if published else None
    peers = runner.peer_seconds(matrix)
    passes = []
    for consumer in consumer_ids:
        run = runner.open_run(
            consumer,
            producers,
            fixture_ids=wanted,
            reuse=not rerun,
            output=outputs[consumer],
            log=lambda *_: None,
            published=published,
        )
        seconds = runner.recorded_seconds(consumer, run.document["attempts"], matrix)
        plan = runner.keyed_plan(run.env, producers, fixture_filter=set(wanted or ()) or None, codes=codes)
        todo = run.pending(plan)
        if not todo and settle:
            run.settle()
        expected = progress.expected_seconds([r.id for r in todo], seconds, peers)
        passes.append(
            Pass(
                consumer,
                len(plan),
                len(todo),
                round(sum(expected.values()) + (WORKER_START_SECONDS if todo else 0.0), 1),
                expected,
            )
        )
    return sorted(passes, key=lambda p: -p.estimated_seconds)


def estimated_wall(passes: list[Pass], jobs: int) -> float:
    """Seconds until the last of the passes ends, ``jobs`` at once, largest first."""
    return progress.finish_time([], sorted((p.estimated_seconds for p in passes), reverse=True), jobs)


def _journaled(output: Path) -> list[AttemptId]:
    """Ids of the attempts the runs of a results file have journaled so far."""
    return [attempt_id(a) for a in store.journaled(output)]


class MatrixProgress:
    """Each running consumer's attempts done and time left, and the time left for all of them:
    running consumers end after their time left, queued ones start as cores free up."""

    def __init__(self, passes: list[Pass], outputs: dict[str, Path], jobs: int, log=print, stream=None):
        self.passes = {p.consumer: p for p in passes}
        self.outputs = outputs
        self.jobs = jobs
        self.log = log
        self.stream = stream or sys.stdout
        self.live = progress.is_terminal(self.stream)
        self.started = time.monotonic()
        self.begun: dict[str, float] = {}
        self.estimates: dict[str, progress.Estimate] = {}
        self.seen: dict[str, set] = {}
        self.done: dict[str, int] = {}
        self.finished: set[str] = set()
        self.last_line = float("-inf")
        self.total = sum(p.todo for p in passes)
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self):
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[matrix] {task.description:<12}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("about {task.fields[left]} left"),
                console=Console(file=self.stream),
                refresh_per_second=2,
            )
            self._tasks["all"] = self._bar.add_task("all", total=self.total, left="?")
            self._bar.start()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        elif exc[0] is None:
            self.last_line = float("-inf")  # the closing figures, whenever the last line was
            self.update([], [])
        return False

    def say(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            self.log(line)

    def begin(self, consumer: str) -> None:
        self.begun[consumer] = time.monotonic()
        self.estimates[consumer] = progress.Estimate(self.passes[consumer].expected)
        self.seen[consumer] = set()
        if self._bar is not None:
            self._tasks[consumer] = self._bar.add_task(consumer, total=self.passes[consumer].todo, left="?")

    def end(self, consumer: str) -> None:
        self.finished.add(consumer)
        self.done[consumer] = self.passes[consumer].todo
        if self._bar is not None and consumer in self._tasks:
            self._bar.remove_task(self._tasks.pop(consumer))

    def _left(self, consumer: str) -> tuple[float, float | None]:
        """(seconds left, pace: this run's time over the recorded time of what it has done)."""
        chosen, estimate, seen = self.passes[consumer], self.estimates[consumer], self.seen[consumer]
        elapsed = time.monotonic() - self.begun[consumer]
        for found in _journaled(self.outputs[consumer]):
            if found not in seen:
                seen.add(found)
                estimate.finished(found, elapsed)
        self.done[consumer] = min(len(seen), chosen.todo) if chosen.todo else len(seen)
        pace = elapsed / estimate.done if estimate.done > 0 else None
        return estimate.left(elapsed), pace

    def update(self, running: list[str], queued: list[str]) -> None:
        lefts, paces = {}, []
        for consumer in running:
            lefts[consumer], pace = self._left(consumer)
            if pace:
                paces.append(pace)
        pace = sum(paces) / len(paces) if paces else 1.0
        overall = progress.finish_time(
            list(lefts.values()), [self.passes[c].estimated_seconds * pace for c in queued], self.jobs
        )
        done = sum(self.done.values())
        if self._bar is not None:
            for consumer, left in lefts.items():
                self._bar.update(self._tasks[consumer], completed=self.done[consumer], left=progress.duration(left))
            self._bar.update(self._tasks["all"], completed=done, left=progress.duration(overall))
            return
        if time.monotonic() - self.last_line < progress.PLAIN_SECONDS:
            return
        self.last_line = time.monotonic()
        elapsed = time.monotonic() - self.started
        states = ", ".join(
            f"{c} {self.done[c]}/{self.passes[c].todo} (about {progress.duration(lefts[c])} left)" for c in running
        )
        self.log(
            f"[matrix] {len(self.finished)}/{len(self.passes)} consumers done, {done}/{self.total} attempts, "
            f"{progress.duration(elapsed)} elapsed, about {progress.duration(overall)} left in all; "
            f"running: {states or 'none'}"
        )


def default_outputs(consumer_ids: list[str], results_dir: Path | None = None) -> dict[str, Path]:
    outputs = {c: runner.default_output(c) for c in consumer_ids}
    if results_dir:
        outputs = {c: Path(results_dir) / path.name for c, path in outputs.items()}
    return outputs


def run_consumers(
    passes: Sequence[Pass | str],
    jobs: int,
    rerun: bool = False,
    fixture_ids: str | None = None,
    log=print,
    results_dir: Path | None = None,
) -> dict[str, int]:
    """Run the consumers' passes in this order, ``jobs`` at once; their exit statuses.

    A consumer given by its id alone (the bench's callers) runs unplanned: its progress shows
    the attempts done, without a share or a time left.
    """
    shares = [p if isinstance(p, Pass) else Pass(p, 0, 0, 0.0) for p in passes]
    consumer_ids = [p.consumer for p in shares]
    for env_id in consumer_ids:
        envs.ensure_built(catalog.get(env_id), log=log)
    pending = list(consumer_ids)
    running: dict[str, subprocess.Popen] = {}
    finished: dict[str, int] = {}
    outputs = default_outputs(consumer_ids, results_dir)
    with MatrixProgress(shares, outputs, jobs, log=log) as shown:
        while pending or running:
            while pending and len(running) < jobs:
                consumer = pending.pop(0)
                # The consumers share the cores, one worker each; this process shows their progress.
                command = [
                    sys.executable,
                    "-m",
                    "compat",
                    "load",
                    consumer,
                    "all",
                    "--quiet",
                    "--workers",
                    "1",
                    "--output",
                    str(outputs[consumer]),
                ]
                if rerun:
                    command.append("--rerun")
                if fixture_ids:
                    command += ["--fixtures", fixture_ids]
                running[consumer] = subprocess.Popen(command, cwd=str(PROJECT_ROOT))
                shown.begin(consumer)
            for consumer, process in list(running.items()):
                if process.poll() is not None:
                    finished[consumer] = process.returncode
                    del running[consumer]
                    shown.end(consumer)
                    shown.say(f"[matrix] {consumer} finished (exit {process.returncode})")
            shown.update(list(running), pending)
            time.sleep(POLL_SECONDS if running else 0)
    return finished


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_matrix(
    consumers: list[str],
    *,
    jobs: int | None = None,
    fixture_ids: str | None = None,
    rerun: bool = False,
    dry_run: bool = False,
    results: str | None = None,
    publish: bool = True,
) -> int:
    """``compat matrix``: the consumers (default: every one) side by side, ``jobs`` at once, then the report."""
    consumers = consumers or [env.id for env in catalog.consumers()]
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if jobs < 1:
        raise BadInput(f"--jobs must be at least 1, not {jobs}")
    for consumer in consumers:
        runner.validate(consumer, runner.resolve_producers(["all"]), fixture_ids=runner.split_list(fixture_ids))
    started = time.time()
    results_dir = Path(results) if results else None
    passes = plan_passes(
        consumers, default_outputs(consumers, results_dir), fixture_ids, rerun=rerun, settle=not dry_run
    )
    work = [p for p in passes if p.todo]
    planned = sum(p.planned for p in passes)
    if dry_run:
        print(
            f"[matrix] planned in {time.time() - started:.1f}s: {sum(p.todo for p in work)} of {planned} "
            f"attempts to run, about {_minutes(estimated_wall(work, jobs))} on {jobs} core(s)"
        )
        for p in passes:
            print(f"  {p.consumer:<12} {p.todo:>6} of {p.planned:<6} about {_minutes(p.estimated_seconds)}")
        return 0
    if not work:
        print(
            f"[matrix] nothing to do: all {planned} attempts of {len(consumers)} consumer(s) are recorded "
            f"with their current keys ({time.time() - started:.1f}s)"
        )
        finished = {}
    else:
        print(
            f"[matrix] {sum(p.todo for p in work)} of {planned} attempts to run in {len(work)} of "
            f"{len(consumers)} consumer(s), about {_minutes(estimated_wall(work, jobs))} "
            f"on {jobs} core(s); largest first: " + ", ".join(f"{p.consumer} {p.todo}" for p in work)
        )
        finished = run_consumers(work, jobs, rerun, fixture_ids, results_dir=results_dir)
        print(f"[matrix] {len(work)} consumers in {time.time() - started:.0f}s")
    failed = [c for c, code in finished.items() if code != 0]
    if publish:
        from compat.publish import report

        report.publish(results=results_dir)
    if failed:
        raise HarnessFailure(f"the harness failed for {', '.join(failed)} (what they measured is kept)")
    return 0
