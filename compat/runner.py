"""Host side of a consumer run: plan the attempts, supervise the worker, record every verdict.

The host never imports TensorFlow. One worker process inside the consumer environment
imports it once and runs the attempts one at a time; the host watches each with a
timeout. When the worker dies or hangs, that attempt is recorded as ``crash`` /
``timeout``, a fresh worker starts, and the run goes on.

Nothing measured is lost: each verdict is appended to a journal (``<results>.journal``,
one JSON line, flushed to disk) the moment it is known, and the results file itself is
replaced atomically every couple of seconds and at the end, so it is never found
half-written and rewriting it never grows quadratic with the run. ``--resume`` reads
both and skips what they hold.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from compat import catalog, envs, fixtures, results
from compat.envs import PROJECT_ROOT
from compat.verdicts import MIN_COSINE, RELATIVE_TOLERANCE, Verdict, compare

RESULTS_DIR = PROJECT_ROOT / "reports" / "results"
READY_TIMEOUT = 600.0
SNAPSHOT_SECONDS = 2.0


class WorkerDied(Exception):
    def __init__(self, returncode, stderr_tail):
        super().__init__(returncode)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class HarnessError(RuntimeError):
    """The harness itself cannot go on (not a finding about a model)."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Sandbox:
    """Limits for a worker that loads files nobody vouched for (``compat probe``).

    Enforced: a memory cap (RLIMIT_AS) and, where the kernel lets this user make one, a
    new network namespace with no interfaces but loopback (``unshare --net``). The
    working folder and HOME are throwaway folders; time is capped per attempt by the host.
    """

    def __init__(self, memory_bytes: int = 12 * 1024 ** 3):
        self.memory_bytes = memory_bytes
        self.network_isolated = _can_unshare_network()

    def command(self, command: list[str]) -> list[str]:
        return (["unshare", "--net"] + command) if self.network_isolated else command

    def limit(self):  # runs in the child, before exec
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))


def _can_unshare_network() -> bool:
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class Worker:
    """One ``compat.inside.worker`` process in a consumer environment."""

    def __init__(self, env: catalog.Environment, python: Path, log_dir: Path, extra_env=None,
                 sandbox: Sandbox | None = None):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{env.id}-{os.getpid()}-{time.time_ns()}.log"
        self._log = open(self.log_path, "wb")
        self.scratch = tempfile.mkdtemp(prefix=f"compat-{env.id}-")
        command = [str(python), "-m", "compat.inside.worker"]
        self.process = subprocess.Popen(
            sandbox.command(command) if sandbox else command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            env=envs.inside_env(env, extra_env), cwd=self.scratch,
            preexec_fn=sandbox.limit if sandbox else None,
        )
        self._events: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.info = None

    def _pump(self):
        for line in self.process.stdout:
            try:
                self._events.put(json.loads(line))
            except ValueError:
                continue
        self._events.put(None)

    def next_event(self, timeout: float) -> dict:
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        if event is None:
            self.process.wait()
            raise WorkerDied(self.process.returncode, self.stderr_tail())
        return event

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict:
        try:
            event = self.next_event(timeout)
        except TimeoutError:
            self.kill()
            raise HarnessError(f"the worker did not start within {timeout:.0f}s") from None
        except WorkerDied as died:
            raise HarnessError(f"the worker failed to start (exit {died.returncode}): {died.stderr_tail}") from None
        self.info = event
        return event

    def send(self, request: dict) -> None:
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        self.process.stdin.flush()

    def stderr_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._cleanup()

    def close(self):
        if self.process.poll() is None:
            try:
                self.send({"op": "exit"})
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._cleanup()

    def _cleanup(self):
        self._log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def signal_name(returncode: int) -> str | None:
    if returncode is not None and returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return None


def resolve_producers(names: list[str]) -> list[str]:
    if names == ["all"]:
        return [env.id for env in catalog.producers() if fixtures.fixture_dir(env.id).exists()]
    return [catalog.get(name).id for name in names]


def default_output(consumer: str, producers: list[str], requested: list[str]) -> Path:
    label = "all" if requested == ["all"] else "+".join(producers)
    return RESULTS_DIR / f"{consumer}-load-{label}.json"


def plan_attempts(producers: list[str], strategy_names: list[str], strategy_filter=None,
                  fixture_filter=None) -> list[dict]:
    """Every (fixture, strategy) request of a run, in producer, fixture, strategy order."""
    if strategy_filter:
        unknown = set(strategy_filter) - set(strategy_names)
        if unknown:
            raise HarnessError(f"unknown strategies {sorted(unknown)}; known: {strategy_names}")
    requests = []
    for producer in producers:
        root = fixtures.unpacked(producer)
        manifest = fixtures.load_manifest(producer)
        for fixture in manifest["fixtures"]:
            if fixture_filter and fixture["id"] not in fixture_filter:
                continue
            fixture = dict(fixture, size=manifest["size"])
            for name in strategy_names:
                if strategy_filter and name not in strategy_filter:
                    continue
                requests.append({"op": "attempt", "producer": producer, "root": str(root),
                                 "fixture": fixture, "strategy": name,
                                 "input": str(root / manifest["reference"]["input"]),
                                 "reference": str(root / manifest["reference"]["embeddings"][fixture["variant"]])})
    return requests


class Run:
    """One consumer run: the plan, the worker(s) and the results document."""

    def __init__(self, consumer: str, producers: list[str], *, strategies=None, fixture_ids=None,
                 isolate=False, resume=False, timeout=300.0, output: Path | None = None,
                 log=print, extra_env=None, requested=None):
        self.env = catalog.get(consumer)
        self.producers = producers
        self.strategy_filter = set(strategies) if strategies else None
        self.fixture_filter = set(fixture_ids) if fixture_ids else None
        self.isolate = isolate
        self.timeout = timeout
        self.log = log
        self.extra_env = extra_env or {}
        self.output = Path(output) if output else default_output(consumer, producers, requested or producers)
        self.log_dir = fixtures.cache_root() / "logs"
        self.worker: Worker | None = None
        self.journal = self.output.with_name(self.output.name + ".journal")
        self.last_snapshot = 0.0
        self.document = self._start_document(resume)

    def _start_document(self, resume: bool) -> dict:
        if resume and (self.output.exists() or self.journal.exists()):
            document = results.read(self.output) if self.output.exists() else self._new_document()
            if document["run"]["consumer"] != self.env.id:
                raise HarnessError(f"{self.output} holds a run of {document['run']['consumer']}, not {self.env.id}")
            known = {results.attempt_key(a) for a in document["attempts"]}
            for attempt in results.read_journal(self.journal):
                if results.attempt_key(attempt) not in known:
                    document["attempts"].append(attempt)
                    known.add(results.attempt_key(attempt))
            document["run"]["complete"] = False
            self.log(f"[compat] resuming {self.output.name}: {len(document['attempts'])} attempts already done")
            return document
        if self.journal.exists():
            self.journal.unlink()
        return self._new_document()

    def _new_document(self) -> dict:
        return {
            "schema": results.SCHEMA,
            "run": {"consumer": self.env.id, "producers": self.producers,
                    "mode": "isolate" if self.isolate else "shared",
                    "started": _now(), "finished": None, "complete": False,
                    "workers_started": 0, "tensorflow_imports": 0},
            "consumer": {"id": self.env.id, "python": self.env.python, "keras_api": self.env.keras_api,
                         "summary": self.env.summary, "lock": self.env.locked_versions(), "runtime": None},
            "strategies": None,
            "tolerance": {"relative": RELATIVE_TOLERANCE, "min_cosine": MIN_COSINE},
            "attempts": [],
        }

    # -- workers -------------------------------------------------------------------------
    def _worker(self) -> Worker:
        if self.worker is None or self.worker.process.poll() is not None:
            python = envs.ensure_built(self.env)
            self.worker = Worker(self.env, python, self.log_dir, self.extra_env)
            info = self.worker.wait_ready()
            self.document["consumer"]["runtime"] = info["runtime"]
            self.document["strategies"] = info["strategies"]
            run = self.document["run"]
            run["workers_started"] = run.get("workers_started", 0) + 1
            if info["runtime"].get("tensorflow"):
                run["tensorflow_imports"] = run.get("tensorflow_imports", 0) + 1
        return self.worker

    def _retire_worker(self, kill=False):
        if self.worker is not None:
            self.worker.kill() if kill else self.worker.close()
            self.worker = None

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> list[dict]:
        strategy_names = [s["name"] for s in self.document["strategies"]]
        return plan_attempts(self.producers, strategy_names, self.strategy_filter, self.fixture_filter)

    # -- running -------------------------------------------------------------------------
    def execute(self) -> dict:
        self._worker()
        done = {results.attempt_key(a) for a in self.document["attempts"]}
        plan = self.plan()
        todo = [r for r in plan if (r["producer"], r["fixture"]["id"], r["strategy"]) not in done]
        self.log(f"[compat] {self.env.id}: {len(todo)} attempts to run over {len(self.producers)} "
                 f"producer(s){' (isolated)' if self.isolate else ''}; results -> {self.output}")
        with open(self.journal, "a") as journal:
            for number, request in enumerate(todo, 1):
                request = dict(request, id=number)
                attempt = self._attempt(request)
                self.document["attempts"].append(attempt)
                results.append_journal(journal, attempt)
                if time.time() - self.last_snapshot >= SNAPSHOT_SECONDS:
                    self._save()
                if self.isolate and attempt["verdict"] != Verdict.NOT_APPLICABLE.value:
                    self._retire_worker()  # a fresh process for every attempt that loads something
                self._progress(number, len(todo), attempt)
        self._retire_worker()
        run = self.document["run"]
        run.update(finished=_now(), complete=True)
        self._save()
        self.journal.unlink()
        return self.document

    def _attempt(self, request: dict) -> dict:
        fixture = request["fixture"]
        attempt = {"producer": request["producer"], "fixture": fixture["id"], "variant": fixture["variant"],
                   "format": fixture["format"], "strategy": request["strategy"]}
        worker = self._worker()
        started = time.time()
        try:
            worker.send({k: v for k, v in request.items() if k != "reference"})
            while True:
                event = worker.next_event(max(1.0, self.timeout - (time.time() - started)))
                if event.get("event") == "result" and event.get("id") == request["id"]:
                    break
        except TimeoutError:
            self._retire_worker(kill=True)
            attempt.update(verdict=Verdict.TIMEOUT.value, seconds=round(time.time() - started, 2),
                           reason=f"no result within {self.timeout:.0f}s; the worker was killed")
            return attempt
        except (WorkerDied, BrokenPipeError) as died:
            returncode = died.returncode if isinstance(died, WorkerDied) else worker.process.wait()
            tail = died.stderr_tail if isinstance(died, WorkerDied) else worker.stderr_tail()
            self._retire_worker(kill=True)
            attempt.update(verdict=Verdict.CRASH.value, signal=signal_name(returncode), exit_code=returncode,
                           reason=f"the worker died ({signal_name(returncode) or f'exit {returncode}'})",
                           worker_log_tail=tail)
            return attempt
        return self._judge(attempt, event, request["reference"])

    @staticmethod
    def _judge(attempt: dict, event: dict, reference_path: str) -> dict:
        status = event["status"]
        for key in ("load_seconds", "predict_seconds", "code_executed", "code_executed_by_predict",
                    "recipe"):
            if key in event:
                attempt[key] = event[key]
        if status == "not_applicable":
            attempt.update(verdict=Verdict.NOT_APPLICABLE.value, reason=event["reason"])
        elif status == "error":
            attempt.update(verdict=Verdict.ERROR.value, error=event["error"])
        else:
            numbers = compare(np.load(reference_path), event["embeddings"])
            attempt.update(verdict=numbers.pop("verdict").value, **numbers)
        return attempt

    def _save(self):
        # A resumed run may add producers; it never forgets the ones measured before.
        known = set(self.document["run"].get("producers") or []) | set(self.producers)
        self.document["run"]["producers"] = [p for p in catalog.ids() if p in known]
        results.write_atomically(self.output, self.document)
        self.last_snapshot = time.time()

    def _progress(self, number: int, total: int, attempt: dict):
        if attempt["verdict"] in (Verdict.CRASH.value, Verdict.TIMEOUT.value):
            self.log(f"[compat] {self.env.id} <- {attempt['producer']} {attempt['fixture']} "
                     f"{attempt['strategy']}: {attempt['verdict']} ({attempt['reason']})")
        elif number % 50 == 0 or number == total:
            self.log(f"[compat] {self.env.id}: {number}/{total} attempts done")


def main(args) -> int:
    from compat import table
    producers = resolve_producers(args.producers)
    run = Run(args.consumer, producers,
              strategies=args.strategies.split(",") if args.strategies else None,
              fixture_ids=args.fixtures.split(",") if args.fixtures else None,
              isolate=args.isolate, resume=args.resume, timeout=args.timeout,
              output=args.output, requested=args.producers)
    try:
        document = run.execute()
    except HarnessError as exc:
        run._retire_worker(kill=True)
        print(f"compat: harness error: {exc} (measured attempts are kept in {run.output})", file=sys.stderr)
        return 3
    if not args.quiet:
        print(table.render(document))
    return 0
