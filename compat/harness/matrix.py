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
are built first, one at a time (uv is I/O bound). A progress line every few seconds shows
which consumer is on which attempt, read from the results files each run keeps up to date.
"""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from compat import catalog
from compat.environments import envs
from compat.errors import BadInput, HarnessFailure
from compat.harness import runner
from compat.paths import PROJECT_ROOT
from compat.records import attemptkey, codedigest, matrixdoc, results

POLL_SECONDS = 10.0
WORKER_START_SECONDS = 10.0
"""Starting a worker (interpreter, TensorFlow import): what a pass costs before its first attempt."""
UNKNOWN_ATTEMPT_SECONDS = 0.5
"""An attempt never timed anywhere (a new environment or fixture): about a typical load."""


@dataclasses.dataclass(frozen=True)
class Pass:
    """One consumer's share of a matrix run."""

    consumer: str
    planned: int
    todo: int
    estimated_seconds: float


def plan_passes(consumer_ids: list[str], outputs: dict[str, Path], fixture_ids: str | None = None,
                rerun: bool = False, published: Path | None = runner.PUBLISHED, settle: bool = True) -> list[Pass]:
    """Every consumer's pass, largest first, with what it has to run.

    A consumer with nothing to run is settled here (a stopped run's journal kept, superseded
    attempts dropped from its results file), as its own ``compat load`` would, unless
    ``settle`` is false (a dry run writes nothing).
    """
    codes = codedigest.code_digests(PROJECT_ROOT)
    producers = runner.resolve_producers(["all"])
    wanted = runner.split_list(fixture_ids)
    matrix = runner.published_matrix(published) if published else None
    timed = matrixdoc.recorded(matrix) if matrix else {}
    passes = []
    for consumer in consumer_ids:
        run = runner.Run(consumer, producers, fixture_ids=wanted, reuse=not rerun, output=outputs[consumer],
                         log=lambda *_: None, published=published)
        seconds = {found[1:]: spent for found, (_, spent) in timed.items() if found[0] == consumer}
        seconds.update({results.attempt_key(a): (a.get("load_seconds") or 0.0) + (a.get("predict_seconds") or 0.0)
                        for a in run.document["attempts"]})
        plan = runner.keyed_plan(run.env, producers, fixture_filter=set(wanted or ()) or None, codes=codes)
        todo = run.pending(plan)
        if not todo and settle:
            run.settle()
        known = [v for v in seconds.values() if v]
        typical = statistics.mean(known) if known else UNKNOWN_ATTEMPT_SECONDS
        estimate = sum(seconds.get(attemptkey.attempt_id(r), typical) for r in todo)
        passes.append(Pass(consumer, len(plan), len(todo),
                           round(estimate + (WORKER_START_SECONDS if todo else 0.0), 1)))
    return sorted(passes, key=lambda p: -p.estimated_seconds)


def _progress(output) -> int:
    try:
        return len(json.loads(output.read_text())["attempts"])
    except (OSError, ValueError, KeyError):
        return 0


def default_outputs(consumer_ids: list[str], results_dir: Path | None = None) -> dict[str, Path]:
    outputs = {c: runner.default_output(c) for c in consumer_ids}
    if results_dir:
        outputs = {c: Path(results_dir) / path.name for c, path in outputs.items()}
    return outputs


def run_consumers(consumer_ids: list[str], jobs: int, rerun: bool = False, fixture_ids: str | None = None,
                  log=print, results_dir: Path | None = None) -> dict[str, int]:
    """Run the consumers' passes in this order, ``jobs`` at once; their exit statuses."""
    for env_id in consumer_ids:
        envs.ensure_built(catalog.get(env_id), log=log)
    pending = list(consumer_ids)
    running: dict[str, subprocess.Popen] = {}
    finished: dict[str, int] = {}
    outputs = default_outputs(consumer_ids, results_dir)
    last_report = 0.0
    while pending or running:
        while pending and len(running) < jobs:
            consumer = pending.pop(0)
            command = [sys.executable, "-m", "compat", "load", consumer, "all", "--quiet", "--workers", "1",
                       "--output", str(outputs[consumer])]  # the consumers share the cores, one worker each
            if rerun:
                command.append("--rerun")
            if fixture_ids:
                command += ["--fixtures", fixture_ids]
            running[consumer] = subprocess.Popen(command, cwd=str(PROJECT_ROOT))
        for consumer, process in list(running.items()):
            if process.poll() is not None:
                finished[consumer] = process.returncode
                del running[consumer]
                log(f"[matrix] {consumer} finished (exit {process.returncode}, "
                    f"{_progress(outputs[consumer])} attempts in its results file)")
        if time.time() - last_report >= POLL_SECONDS and running:
            last_report = time.time()
            states = ", ".join(f"{c} at attempt {_progress(outputs[c])}" for c in running)
            log(f"[matrix] {len(finished)}/{len(consumer_ids)} done; running: {states}")
        time.sleep(0.5)
    return finished


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main(args) -> int:
    consumers = args.consumers or [env.id for env in catalog.consumers()]
    jobs = (os.cpu_count() or 1) if args.jobs is None else args.jobs
    if jobs < 1:
        raise BadInput(f"--jobs must be at least 1, not {jobs}")
    fixture_ids = args.fixtures
    for consumer in consumers:
        runner.validate(consumer, runner.resolve_producers(["all"]), fixture_ids=runner.split_list(fixture_ids))
    started = time.time()
    dry_run = args.dry_run
    results_dir = Path(args.results) if args.results else None
    passes = plan_passes(consumers, default_outputs(consumers, results_dir), fixture_ids, rerun=args.rerun,
                         settle=not dry_run)
    work = [p for p in passes if p.todo]
    planned = sum(p.planned for p in passes)
    if dry_run:
        print(f"[matrix] planned in {time.time() - started:.1f}s: {sum(p.todo for p in work)} of {planned} "
              f"attempts to run, about {_minutes(sum(p.estimated_seconds for p in work) / jobs)} on {jobs} core(s)")
        for p in passes:
            print(f"  {p.consumer:<12} {p.todo:>6} of {p.planned:<6} about {_minutes(p.estimated_seconds)}")
        return 0
    if not work:
        print(f"[matrix] nothing to do: all {planned} attempts of {len(consumers)} consumer(s) are recorded "
              f"with their current keys ({time.time() - started:.1f}s)")
        finished = {}
    else:
        print(f"[matrix] {sum(p.todo for p in work)} of {planned} attempts to run in {len(work)} of "
              f"{len(consumers)} consumer(s), about {_minutes(sum(p.estimated_seconds for p in work) / jobs)} "
              f"on {jobs} core(s); largest first: "
              + ", ".join(f"{p.consumer} {p.todo}" for p in work))
        finished = run_consumers([p.consumer for p in work], jobs, args.rerun, fixture_ids,
                                 results_dir=results_dir)
        print(f"[matrix] {len(work)} consumers in {time.time() - started:.0f}s")
    failed = [c for c, code in finished.items() if code != 0]
    if not args.no_report:
        from compat.publish import report
        report.publish(results=results_dir)
    if failed:
        raise HarnessFailure(f"the harness failed for {', '.join(failed)} (what they measured is kept)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("matrix", help="every consumer over every producer, in parallel, then the report")
    p.add_argument("consumers", nargs="*", help="consumer ids (default: the whole catalog)")
    p.add_argument("--jobs", type=int, default=None, help="consumers run at once (default: the cores)")
    p.add_argument("--rerun", action="store_true",
                   help="measure every attempt again, also those recorded with their current key")
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format) to run")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--results", default=None,
                   help="folder of the consumers' results files (default reports/results/)")
    p.add_argument("--dry-run", action="store_true",
                   help="print what each consumer has to run and an estimate of how long, then stop")
    p.set_defaults(func=main)
