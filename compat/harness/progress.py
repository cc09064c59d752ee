"""How far a run is: done/total, rate, elapsed time and what is left, in a terminal or a log.

In a terminal the figures are a live bar (rich) that redraws itself; anywhere else (CI, a
pipe, tox) they are plain lines, the first when the first attempt is done, then at most one
every ``PLAIN_SECONDS``, and the last when the run ends, so a log stays readable however
long the run.

The time left comes from the recorded times of the same attempts where the results file
or the published matrix has them (the estimate ``compat matrix --dry-run`` prints), scaled
by how this run's pace compares with them so far; attempts never timed count as a typical
one. Before the first attempt is done it is the recorded total spread over the workers.
"""

from __future__ import annotations

import dataclasses
import heapq
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from compat.records import strategyinfo

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PLAIN_SECONDS = 15.0
"""Least time between two plain progress lines."""
WORKER_START_SECONDS = 10.0
"""Starting a worker (interpreter, TensorFlow import): what a run costs before its first attempt."""
UNKNOWN_ATTEMPT_SECONDS = 0.5
"""An attempt never timed anywhere (a new environment or fixture): about a typical load."""
UNTIMED_SECONDS = {"error": 0.05, "crash": WORKER_START_SECONDS}
"""What an attempt recorded without a time costs again, by verdict. An error raised before the
load was timed is a refusal at the config (the translate column's pass: 2,210 s of consumer
time for 2,127 s of timed attempts, 1,173 untimed errors and 17 worker starts); a crash costs
the worker it killed."""


def duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``1.3 h``: as precise as a reader of a progress line needs."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Estimate:
    """Seconds left of a run whose attempts each have an expected duration.

    ``expected`` holds one figure per attempt to run, by its id; ``parallel`` is how many
    run at once. Once attempts are done, the rest is scaled by this run's pace: the time
    it took over what the done attempts were expected to take, which absorbs both the
    machine's speed and the parallelism. The pace is taken from the first attempt done on,
    so the workers' start (a TensorFlow import) does not count as attempts' time.
    """

    def __init__(self, expected: dict, parallel: int = 1, start_seconds: float = WORKER_START_SECONDS):
        self.expected = dict(expected)
        self.parallel = max(1, parallel)
        self.start_seconds = start_seconds
        self.total = sum(self.expected.values())
        self.done = 0.0
        self.first: tuple[float, float] | None = None
        """(elapsed, expected seconds done) when the first attempt was done."""

    def finished(self, attempt_id, elapsed: float | None = None) -> None:
        self.done += self.expected.get(attempt_id, 0.0)
        if self.first is None and elapsed is not None:
            self.first = (elapsed, self.done)

    def left(self, elapsed: float) -> float:
        remaining = max(self.total - self.done, 0.0)
        if self.done <= 0.0:
            return max(self.start_seconds - elapsed, 0.0) + remaining / self.parallel
        if self.first is None:
            return remaining * elapsed / self.done
        if self.done > self.first[1] and elapsed > self.first[0]:
            return remaining * (elapsed - self.first[0]) / (self.done - self.first[1])
        # Only the first attempts' figures, which include the workers' start: the recorded pace.
        return remaining / self.parallel


def expected_seconds(todo_ids, recorded: dict, peers: dict | None = None) -> dict:
    """Attempt id -> seconds it will take, from what it cost when last recorded.

    ``recorded`` maps ids to seconds (0 where the strategy did not apply) or, for an attempt
    recorded without a time, its verdict (``UNTIMED_SECONDS``). An attempt never recorded costs
    what the same attempt cost under other consumers (``peers``: id -> their recorded costs;
    a new stack's loads cost about what other stacks' did), else the mean of the timed ones,
    unless its strategy does not read its fixture's format (a fixture id is
    ``<variant>-<format>``): then it will not apply, at no cost.
    """
    known = [v for v in recorded.values() if isinstance(v, (int, float)) and v]
    typical = sum(known) / len(known) if known else UNKNOWN_ATTEMPT_SECONDS

    def cost(value) -> float:
        return UNTIMED_SECONDS.get(value, typical) if isinstance(value, str) else value

    expected = {}
    for i in todo_ids:
        like = peers.get(i) if peers else None
        if i in recorded:
            expected[i] = cost(recorded[i])
        elif like:
            expected[i] = sum(cost(value) for value in like) / len(like)
        else:
            _, fixture, strategy = i
            expected[i] = typical if strategyinfo.reads_format(strategy, fixture.partition("-")[2]) else 0.0
    return expected


def finish_time(running_left: list[float], queued: list[float], slots: int) -> float:
    """When the last of some runs ends: those running end after their time left, queued ones
    start in order, each on the first slot to free up."""
    ends = sorted(running_left) + [0.0] * max(slots - len(running_left), 0)
    heapq.heapify(ends)
    last = max(ends, default=0.0)
    for seconds in queued:
        end = heapq.heappop(ends) + seconds
        last = max(last, end)
        heapq.heappush(ends, end)
    return last


def is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class Display:
    """Where a run's lines and progress go: shown or not, plain lines to ``say``, a live bar
    where ``live`` (None: where the stream is a terminal)."""

    show: bool = True
    say: Callable[[str], None] = print
    live: bool | None = None

    @classmethod
    def for_log(cls, log: Callable[[str], None], show: bool = True) -> Display:
        """The live bar only where lines would go to a terminal as they are; a caller's own log
        (regress, the tests) gets the plain lines."""
        return cls(show=show, say=log, live=None if log is print else False)

    def reporter(self, label: str, total: int, estimate: Estimate) -> Reporter:
        return Reporter(label, total, estimate, show=self.show, say=self.say, live=self.live)


class Reporter:
    """One run's progress: ``advance`` for each attempt done, ``now`` for what runs, ``log``
    for a line that must not tear the bar. ``tick`` refreshes the figures between attempts."""

    def __init__(
        self,
        label: str,
        total: int,
        estimate: Estimate,
        *,
        stream=None,
        live: bool | None = None,
        plain_seconds: float = PLAIN_SECONDS,
        show: bool = True,
        say=None,
    ):
        self.label = label
        self.total = total
        self.estimate = estimate
        self.stream = stream or sys.stdout
        self.live = is_terminal(self.stream) if live is None else live
        self.show = show
        self.plain_seconds = plain_seconds
        self.say = say or (lambda line: print(line, file=self.stream, flush=True))
        """Where plain lines go (the caller's log, which may be silent)."""
        self.started = time.monotonic()
        self.done = 0
        self.current = ""
        self.last_line: int | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    # -- figures -----------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return 0.0 if self.done >= self.total else self.estimate.left(self.elapsed())

    def rate(self) -> str:
        elapsed = self.elapsed()
        return f"{self.done / elapsed:.2f}/s" if self.done and elapsed > 0 else "-/s"

    def figures(self) -> str:
        share = f" ({100 * self.done // self.total}%)" if self.total else ""
        text = (
            f"{self.done}/{self.total} attempts{share}, {self.rate()}, {duration(self.elapsed())} elapsed, "
            f"about {duration(self.left())} left"
        )
        return text + (f"; now {self.current}" if self.current and self.done < self.total else "")

    # -- output --------------------------------------------------------------------------------
    def __enter__(self):
        if self.show and self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[compat] {task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("about {task.fields[left]} left"),
                TextColumn("{task.fields[now]}"),
                console=Console(file=self.stream),
                refresh_per_second=4,
            )
            self._task = self._bar.add_task(self.label, total=self.total, rate="-/s", left="?", now="")
            self._bar.start()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
            self._bar = None
        elif self.show and self.done and self.last_line != self.done and exc[0] is None:
            self._plain()
        return False

    def log(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            self.say(line)

    def now(self, text: str) -> None:
        self.current = text
        self.tick()

    def advance(self, attempt_id) -> None:
        self.done += 1
        self.estimate.finished(attempt_id, self.elapsed())
        first_or_last = self.done == 1 or self.done == self.total
        self.tick(force=first_or_last)

    def tick(self, force: bool = False) -> None:
        if not self.show:
            return
        if self._bar is not None:
            self._refresh()
        elif self.done and (force or time.monotonic() - self._plain_at >= self.plain_seconds):
            self._plain()

    _plain_at = float("-inf")

    def _plain(self) -> None:
        self._plain_at = time.monotonic()
        self.last_line = self.done
        self.say(f"[compat] {self.label}: {self.figures()}")

    def _refresh(self) -> None:
        assert self._bar is not None and self._task is not None  # only while the live bar shows
        self._bar.update(
            self._task,
            completed=self.done,
            rate=self.rate(),
            left=duration(self.left()),
            now=self.current if self.done < self.total else "",
        )
