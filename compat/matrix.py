"""``compat matrix``: every consumer over every producer on one machine, then the report.

Environments that are missing are built first (one at a time: uv is I/O bound), then
consumers run in parallel, one ``compat load <consumer> all`` process each, as many at
once as there are cores. A progress line every few seconds shows which consumer is on
which attempt, read from the results files each run keeps up to date.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from compat import catalog, envs, runner
from compat.errors import BadInput, HarnessFailure

POLL_SECONDS = 10.0


def _progress(output) -> int:
    try:
        return len(json.loads(output.read_text())["attempts"])
    except (OSError, ValueError, KeyError):
        return 0


def run_consumers(consumer_ids: list[str], jobs: int, resume: bool, fixture_ids: str | None = None,
                  log=print, results_dir: Path | None = None) -> dict[str, int]:
    for env_id in consumer_ids:
        envs.ensure_built(catalog.get(env_id), log=log)
    pending = list(consumer_ids)
    running: dict[str, subprocess.Popen] = {}
    finished: dict[str, int] = {}
    outputs = {c: runner.default_output(c) for c in consumer_ids}
    if results_dir:
        outputs = {c: Path(results_dir) / path.name for c, path in outputs.items()}
    last_report = 0.0
    while pending or running:
        while pending and len(running) < jobs:
            consumer = pending.pop(0)
            command = [sys.executable, "-m", "compat", "load", consumer, "all", "--quiet",
                       "--output", str(outputs[consumer])]
            if resume:
                command.append("--resume")
            if fixture_ids:
                command += ["--fixtures", fixture_ids]
            running[consumer] = subprocess.Popen(command, cwd=str(envs.PROJECT_ROOT))
        for consumer, process in list(running.items()):
            if process.poll() is not None:
                finished[consumer] = process.returncode
                del running[consumer]
                log(f"[matrix] {consumer} finished (exit {process.returncode}, "
                    f"{_progress(outputs[consumer])} attempts)")
        if time.time() - last_report >= POLL_SECONDS and running:
            last_report = time.time()
            states = ", ".join(f"{c} at attempt {_progress(outputs[c])}" for c in running)
            log(f"[matrix] {len(finished)}/{len(consumer_ids)} done; running: {states}")
        time.sleep(0.5)
    return finished


def main(args) -> int:
    consumers = args.consumers or [env.id for env in catalog.consumers()]
    jobs = (os.cpu_count() or 1) if args.jobs is None else args.jobs
    if jobs < 1:
        raise BadInput(f"--jobs must be at least 1, not {jobs}")
    for consumer in consumers:
        runner.validate(consumer, runner.resolve_producers(["all"]),
                        fixture_ids=runner.split_list(getattr(args, "fixtures", None)))
    started = time.time()
    finished = run_consumers(consumers, jobs, args.resume,
                             getattr(args, "fixtures", None))
    print(f"[matrix] {len(consumers)} consumers in {time.time() - started:.0f}s")
    failed = [c for c, code in finished.items() if code != 0]
    if not args.no_report:
        from compat import report
        report.main(argparse.Namespace(results=None, from_json=None, out=None, fresh=False))
    if failed:
        raise HarnessFailure(f"the harness failed for {', '.join(failed)} (what they measured is kept)")
    return 0
