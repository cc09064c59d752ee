"""Host side of a consumer run: plan the attempts, drive the worker client, record every verdict.

The host never imports TensorFlow. Worker processes inside the consumer environment
(``compat.environments.workerclient``; ``--workers``, one per core up to four by default, one per
consumer in ``compat matrix``, which runs consumers side by side instead) each import it
once and take the planned attempts one at a time, in plan order; a worker that dies or
hangs costs that attempt a ``crash`` / ``timeout`` verdict, and a fresh worker takes over.
Only the main thread records: each worker's thread hands its verdicts over, so a run
stopped by Ctrl-C (which reaches the workers too) never records the deaths it caused.

Each consumer has one results file (``reports/results/<consumer>.json``) that every run
of that consumer updates by attempt key: a run of some fixtures or strategies replaces
those attempts and keeps the rest, so a subset run never loses or duplicates what a full
one measured. Nothing measured is lost: each verdict is appended to a journal
(``<results>.journal``, one JSON line, flushed to disk) the moment it is known, and the
results file is replaced atomically every couple of seconds and at the end. A journal
left by a killed run is folded in by the next run.

Every attempt carries its content key (``compat.records.attemptkey``). ``compat load`` runs only
the planned attempts whose key is recorded neither in the results file nor in the
published ``reports/matrix.json``; with nothing left it says so without starting a worker.
``--rerun`` measures every planned attempt again. Planning reads manifests and reference
files only; a producer's model files are unpacked when one of its attempts runs.

Everything a run is asked for is checked before any environment starts: unknown
producers, fixtures or strategies and a non-positive timeout are bad input (exit 2).
"""
from __future__ import annotations

import collections
import datetime
import os
import queue
import threading
import time
from pathlib import Path

import numpy as np

from compat import catalog
from compat.environments import workerclient
from compat.errors import BadInput, HarnessFailure, choices, positive_seconds
from compat.harness import fixtures
from compat.paths import PROJECT_ROOT, cache_root
from compat.records import attemptkey, codedigest, matrixdoc, results
from compat.records.verdicts import MIN_COSINE, RELATIVE_TOLERANCE, Verdict, compare

RESULTS_DIR = PROJECT_ROOT / "reports" / "results"
PUBLISHED = PROJECT_ROOT / "reports" / "matrix.json"
SNAPSHOT_SECONDS = 2.0


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def strategy_names() -> list[str]:
    """The registry's names in order of preference; importing it needs numpy only, not TF."""
    from compat.inside import strategies
    return [strategy.name for strategy in strategies.STRATEGIES]


def resolve_producers(names: list[str]) -> list[str]:
    if names == ["all"]:
        return [env.id for env in catalog.producers() if fixtures.fixture_dir(env.id).exists()]
    return [catalog.get(name).id for name in names]


def default_output(consumer: str) -> Path:
    return RESULTS_DIR / f"{consumer}.json"


def split_list(text: str | None) -> list[str] | None:
    """``a,b`` -> ``["a", "b"]``; None or empty -> None (no filter)."""
    items = [part.strip() for part in (text or "").split(",") if part.strip()]
    return items or None


MAX_DEFAULT_WORKERS = 4
"""Each worker holds a TensorFlow runtime (1-3 GB while it loads a SavedModel)."""


def default_workers() -> int:
    """Workers of one consumer run: one per core, at most ``MAX_DEFAULT_WORKERS``."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def validate(consumer: str | catalog.Environment, producers: list[str], strategies=None, fixture_ids=None,
             timeout: float = 300.0, workers: int = 1) -> catalog.Environment:
    """Everything a run is asked for exists; raises ``BadInput`` naming the valid choices.

    ``consumer`` is a catalog id or an environment already made (an ad-hoc one).
    """
    env = consumer if isinstance(consumer, catalog.Environment) else catalog.get(consumer)
    catalog.require_consumer(env)
    positive_seconds(timeout)
    if workers < 1:
        raise BadInput(f"--workers must be at least 1, not {workers}")
    known = strategy_names()
    unknown = set(strategies or ()) - set(known)
    if unknown:
        raise BadInput(choices("strategy", unknown, known))
    if fixture_ids:
        available = []
        for producer in producers:
            available += [f["id"] for f in fixtures.load_manifest(producer)["fixtures"] if f["id"] not in available]
        unknown = set(fixture_ids) - set(available)
        if unknown:
            raise BadInput(choices("fixture", unknown, available))
    return env


def plan_attempts(producers: list[str], names: list[str], strategy_filter=None,
                  fixture_filter=None) -> list[dict]:
    """Every (fixture, strategy) request of a run, in producer, fixture, strategy order.

    The input batch and reference are the committed ones; the folder of model files
    (``root``) is added by ``locate`` when the attempt runs.
    """
    requests = []
    for producer in producers:
        folder = fixtures.fixture_dir(producer)
        manifest = fixtures.load_manifest(producer)
        for fixture in manifest["fixtures"]:
            if fixture_filter and fixture["id"] not in fixture_filter:
                continue
            fixture = dict(fixture, size=manifest["size"], saved_by_keras=manifest["versions"].get("keras"))
            for name in names:
                if strategy_filter and name not in strategy_filter:
                    continue
                requests.append({"op": "attempt", "producer": producer, "fixture": fixture, "strategy": name,
                                 "input": str(folder / manifest["reference"]["input"]),
                                 "reference": str(folder / manifest["reference"]["embeddings"][fixture["variant"]])})
    return requests


def locate(request: dict) -> dict:
    """The request with ``root``, the verified, unpacked model files of its producer."""
    return dict(request, root=str(fixtures.unpacked(request["producer"])))


def keyed_plan(env: catalog.Environment, producers: list[str], strategy_filter=None, fixture_filter=None,
               codes: codedigest.CodeDigests | None = None) -> list[dict]:
    """``plan_attempts`` for every strategy of the registry, each request with its content key."""
    codes = codes or codedigest.code_digests(PROJECT_ROOT)
    keyer = attemptkey.Keyer(env, codes)
    requests = plan_attempts(producers, list(codes.by_strategy), strategy_filter, fixture_filter)
    for request in requests:
        request["key"] = keyer.key(request)
    return requests


def published_matrix(path: Path = PUBLISHED) -> dict | None:
    """The published ``matrix.json`` as stored (attempts not expanded), if there is one."""
    path = Path(path)
    return _read_published(path) if path.exists() else None


_read_published = results.once_per_version(lambda path: results.read_document(path, matrixdoc.READABLE))


def published_keys(consumer: str, document: dict | None) -> dict:
    """(producer, fixture, strategy) -> key of what the published matrix holds for a consumer."""
    if document is None:
        return {}
    return {found[1:]: key for found, (key, _) in matrixdoc.recorded(document, consumer).items()}


class Run:
    """One consumer run: the plan, the worker clients and the results document it updates."""

    def __init__(self, consumer: str | catalog.Environment, producers: list[str], *, strategies=None, fixture_ids=None,
                 isolate=False, reuse=False, timeout=300.0, output: Path | None = None,
                 log=print, extra_env=None, published: Path | None = PUBLISHED, workers: int = 1):
        self.env = validate(consumer, producers, strategies, fixture_ids, timeout, workers)
        self.workers = workers
        self.producers = producers
        self.strategy_filter = set(strategies) if strategies else None
        self.fixture_filter = set(fixture_ids) if fixture_ids else None
        self.isolate = isolate
        self.reuse = reuse
        self.published = published
        self.journaled = 0
        self.dropped = 0
        self.roots: dict[str, str] = {}
        self.timeout = timeout
        self.log = log
        self.output = Path(output) if output else default_output(self.env.id)
        self.journal = self.output.with_name(self.output.name + ".journal")
        self.last_snapshot = 0.0
        self.document = self._start_document()
        self.extra_env = extra_env
        self.clients: list[workerclient.Client] = []
        self._roots_lock = threading.Lock()

    def _start_document(self) -> dict:
        """The consumer's results so far (file, then a killed run's journal), or a new document."""
        document = results.read(self.output) if self.output.exists() else self._new_document()
        if document["run"]["consumer"] != self.env.id:
            raise BadInput(f"{self.output} holds results of {document['run']['consumer']}, not {self.env.id}; "
                           f"give another --output")
        recorded_lock = document["consumer"].get("lock")
        if recorded_lock and recorded_lock != self.env.locked_versions():
            raise BadInput(f"{self.output} was measured with another lock of {self.env.id}; "
                           f"move it away (or give another --output) so two setups are not mixed")
        by_key = {results.attempt_key(a): a for a in document["attempts"]}
        journaled = results.read_journal(self.journal)
        for attempt in journaled:
            by_key[results.attempt_key(attempt)] = attempt
        document["attempts"] = list(by_key.values())
        if journaled:
            self.journaled = len(journaled)
            self.log(f"[compat] {self.output.name}: kept {len(journaled)} attempts a stopped run had journaled")
        document["run"].update(started=_now(), finished=None, complete=False,
                               mode="isolate" if self.isolate else "shared")
        return document

    def _new_document(self) -> dict:
        return {
            "schema": results.SCHEMA,
            "run": {"consumer": self.env.id, "producers": [], "mode": None,
                    "started": None, "finished": None, "complete": False,
                    "workers_started": 0, "tensorflow_imports": 0},
            "consumer": {"id": self.env.id, "python": self.env.python, "keras_api": self.env.keras_api,
                         "summary": self.env.summary, "lock": self.env.locked_versions(), "runtime": None,
                         **({"spec": self.env.spec} if self.env.spec else {})},
            "strategies": None,
            "tolerance": {"relative": RELATIVE_TOLERANCE, "min_cosine": MIN_COSINE},
            "attempts": [],
        }

    def _worker_started(self, info: dict) -> None:
        self.document["consumer"]["runtime"] = info["runtime"]
        self.document["strategies"] = info["strategies"]
        run = self.document["run"]
        run["workers_started"] = run.get("workers_started", 0) + 1
        if info["runtime"].get("tensorflow"):
            run["tensorflow_imports"] = run.get("tensorflow_imports", 0) + 1

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> list[dict]:
        return keyed_plan(self.env, self.producers, self.strategy_filter, self.fixture_filter)

    def pending(self, plan: list[dict]) -> list[dict]:
        """What to run: everything planned, or (``reuse``) what no recorded key covers.

        The attempts to run leave the results file (their new measurements replace them). So
        does an attempt that the published matrix knows under its current key while the
        results file holds another measurement of it, which would otherwise override the
        published one when the report merges them.
        """
        recorded = attemptkey.recorded(self.document["attempts"])
        if self.reuse:
            published = published_keys(self.env.id, published_matrix(self.published) if self.published else None)
            todo = attemptkey.pending(plan, recorded, published)
        else:
            todo = plan
        replaced = {attemptkey.attempt_id(r) for r in todo}
        replaced |= {attemptkey.attempt_id(r) for r in plan
                     if attemptkey.attempt_id(r) in recorded and recorded[attemptkey.attempt_id(r)] != r["key"]}
        before = len(self.document["attempts"])
        self.document["attempts"] = [a for a in self.document["attempts"]
                                     if attemptkey.attempt_id(a) not in replaced]
        self.dropped += before - len(self.document["attempts"])
        return todo

    def settle(self) -> None:
        """With nothing to run: keep what a stopped run journaled and drop what ``pending``
        found superseded. Nothing else is written, so a run that measured nothing leaves
        the results file (or its absence) as it was."""
        if self.dropped or self.journaled:
            self.document["run"].update(finished=_now(), complete=True)
            self._save()
        if self.journal.exists():
            self.journal.unlink()

    # -- running -------------------------------------------------------------------------
    def execute(self) -> dict:
        try:
            return self._execute()
        except BaseException:
            for client in self.clients:
                client.retire(kill=True)
            if self.document["attempts"]:
                self._save()
            raise

    def _execute(self) -> dict:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        plan = self.plan()
        todo = self.pending(plan)
        kept = len(self.document["attempts"])
        if not todo:
            self.log(f"[compat] {self.env.id}: nothing to do: the {len(plan)} planned attempts are recorded "
                     f"with their current keys")
            self.settle()
            return self.document
        self.log(f"[compat] {self.env.id}: {len(todo)} attempts to run over {len(self.producers)} "
                 f"producer(s){' (isolated)' if self.isolate else ''}"
                 f"{f', {len(plan) - len(todo)} known by their keys' if len(plan) > len(todo) else ''}"
                 f"{f', {kept} kept in the results file' if kept else ''}; results -> {self.output}")
        requests = collections.deque(dict(request, id=number) for number, request in enumerate(todo, 1))
        events: queue.Queue = queue.Queue()
        log_dir = cache_root() / "logs"
        self.clients = [workerclient.Client(self.env, log_dir, extra_env=self.extra_env, log=self.log,
                                            on_start=lambda info: events.put(("started", info)))
                        for _ in range(min(self.workers, len(todo)))]
        self.clients[0].start()  # a worker that cannot start says so before anything is shared out
        threads = [threading.Thread(target=self._drive, args=(client, requests, events), daemon=True)
                   for client in self.clients]
        for thread in threads:
            thread.start()
        with open(self.journal, "a") as journal:
            for number in range(1, len(todo) + 1):
                attempt = self._next_attempt(events)
                self.document["attempts"].append(attempt)
                results.append_journal(journal, attempt)
                if time.time() - self.last_snapshot >= SNAPSHOT_SECONDS:
                    self._save()
                self._progress(number, len(todo), attempt)
        for thread, client in zip(threads, self.clients):
            thread.join()  # it has handed over its last verdict and found nothing left to take
            client.retire()
        self.document["run"].update(finished=_now(), complete=True)
        self._save()
        self.journal.unlink()
        return self.document

    def _next_attempt(self, events: queue.Queue) -> dict:
        """The next verdict a worker's thread hands over; what else they report on the way."""
        while True:
            kind, value = events.get()
            if kind == "started":
                self._worker_started(value)
            elif kind == "failed":
                raise value
            else:
                return value

    def _drive(self, client: workerclient.Client, requests: collections.deque, events: queue.Queue) -> None:
        """One worker's thread: take the next planned attempt until none is left."""
        try:
            while True:
                try:
                    request = requests.popleft()
                except IndexError:
                    return
                attempt = self._attempt(client, request)
                if self.isolate and attempt["verdict"] != Verdict.NOT_APPLICABLE.value:
                    client.retire()  # a fresh process for every attempt that loads something
                events.put(("attempt", attempt))  # last: the main thread may retire the client next
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            events.put(("failed", exc))

    def _attempt(self, client: workerclient.Client, request: dict) -> dict:
        fixture = request["fixture"]
        attempt = {"producer": request["producer"], "fixture": fixture["id"], "variant": fixture["variant"],
                   "format": fixture["format"], "strategy": request["strategy"], "key": request["key"]}
        producer = request["producer"]
        with self._roots_lock:  # unpacked once, by the first worker to need it
            if producer not in self.roots:
                self.roots[producer] = locate(request)["root"]
        sent = {k: v for k, v in request.items() if k not in ("reference", "key")}
        outcome = client.attempt(dict(sent, root=self.roots[producer]), self.timeout)
        return judge(attempt, outcome, request["reference"])

    def _save(self):
        known = set(self.document["run"].get("producers") or []) | set(self.producers)
        self.document["run"]["producers"] = [p for p in catalog.ids() if p in known]
        order = {name: i for i, name in enumerate(strategy_names())}
        ids = catalog.ids()
        self.document["attempts"].sort(key=lambda a: (ids.index(a["producer"]), a["fixture"],
                                                      order.get(a["strategy"], len(order))))
        results.write_atomically(self.output, self.document)
        self.last_snapshot = time.time()

    def _progress(self, number: int, total: int, attempt: dict):
        if attempt["verdict"] in (Verdict.CRASH.value, Verdict.TIMEOUT.value):
            self.log(f"[compat] {self.env.id} <- {attempt['producer']} {attempt['fixture']} "
                     f"{attempt['strategy']}: {attempt['verdict']} ({attempt['reason']})")
        elif number % 50 == 0 or number == total:
            self.log(f"[compat] {self.env.id}: {number}/{total} attempts done")


RECORDED = ("load_seconds", "predict_seconds", "code_executed", "code_executed_by_predict", "recipe")


def judge(attempt: dict, outcome: dict, reference_path: str) -> dict:
    """The attempt record for a worker outcome, its numbers checked against the reference."""
    status = outcome["status"]
    for key in RECORDED:
        if key in outcome:
            attempt[key] = outcome[key]
    if status == Verdict.NOT_APPLICABLE.value:
        attempt.update(verdict=status, reason=outcome["reason"])
    elif status == Verdict.ERROR.value:
        attempt.update(verdict=status, error=outcome["error"])
    elif status == Verdict.TIMEOUT.value:
        attempt.update(verdict=status, seconds=outcome["seconds"], reason=outcome["reason"])
    elif status == Verdict.CRASH.value:
        attempt.update(verdict=status, signal=outcome["signal"], exit_code=outcome["exit_code"],
                       reason=outcome["reason"], worker_log_tail=outcome["worker_log_tail"])
    else:
        numbers = compare(np.load(reference_path), outcome["embeddings"])
        attempt.update(verdict=numbers.pop("verdict").value, **numbers)
    return attempt


def main(args) -> int:
    from compat.publish import table
    producers = resolve_producers(args.producers)
    run = Run(args.consumer, producers,
              strategies=split_list(args.strategies), fixture_ids=split_list(args.fixtures),
              isolate=args.isolate, reuse=not args.rerun, timeout=args.timeout, output=args.output,
              workers=default_workers() if args.workers is None else args.workers)
    try:
        document = run.execute()
    except HarnessFailure as exc:
        raise HarnessFailure(f"{exc} (what was measured is kept in {run.output})") from None
    if not args.quiet and document["attempts"]:
        print(table.render(document, results_path=run.output))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("load", help="load producers' fixtures under a consumer with every strategy")
    p.add_argument("consumer")
    p.add_argument("producers", nargs="+", help="producer ids, or `all`")
    p.add_argument("--strategies", default=None, help="comma-separated subset of strategies")
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format)")
    p.add_argument("--isolate", action="store_true", help="one process per attempt")
    p.add_argument("--rerun", action="store_true",
                   help="measure every planned attempt again, also those recorded with their current key")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per attempt")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes sharing the attempts (default: one per core, at most 4)")
    p.add_argument("--output", default=None,
                   help="results file that this run updates (default reports/results/<consumer>.json)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=main)
