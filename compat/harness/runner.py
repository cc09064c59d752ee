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
one measured. Nothing measured is lost: each verdict is appended to the run's own journal
(``<results>.<run>.journal``, one JSON line, flushed to disk) the moment it is known, and
the results file is replaced atomically every couple of seconds and at the end. A journal
whose run is gone (its ``.lock`` is free) is folded in by the next run.

Runs of one consumer may overlap (two loads on different producers, a load and a
``compat regress`` fresh run, ``compat report`` reading): every write holds the results
file's lock (``<results>.lock``), re-reads what is on disk and lays this run's
measurements over it, so neither run overwrites the other's. An attempt both measured
keeps the later measurement, as ``compat report`` resolves it. Readers need no lock: the
file is only ever replaced whole.

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
import secrets
import threading
import time
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from compat import catalog
from compat.environments import workerclient
from compat.errors import BadInput, choices, positive_seconds
from compat.harness import fixtures, progress
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


def validate(
    consumer: str | catalog.Environment,
    producers: list[str],
    strategies=None,
    fixture_ids=None,
    timeout: float = 300.0,
    workers: int = 1,
) -> catalog.Environment:
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


def plan_attempts(producers: list[str], names: list[str], strategy_filter=None, fixture_filter=None) -> list[dict]:
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
                requests.append(
                    {
                        "op": "attempt",
                        "producer": producer,
                        "fixture": fixture,
                        "strategy": name,
                        "input": str(folder / manifest["reference"]["input"]),
                        "reference": str(folder / manifest["reference"]["embeddings"][fixture["variant"]]),
                    }
                )
    return requests


def locate(request: dict) -> dict:
    """The request with ``root``, the verified, unpacked model files of its producer."""
    return dict(request, root=str(fixtures.unpacked(request["producer"])))


def keyed_plan(
    env: catalog.Environment,
    producers: list[str],
    strategy_filter=None,
    fixture_filter=None,
    codes: codedigest.CodeDigests | None = None,
) -> list[dict]:
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


def results_lock(output: Path) -> FileLock:
    """Held by every run of a consumer while it reads, merges and replaces its results file."""
    return FileLock(str(output) + ".lock")


def _journal_owner_gone(journal: Path) -> bool:
    """A journal's run holds ``<journal>.lock`` from before its first line to its end; a
    journal without one was left by a release in which all runs shared one journal."""
    owner = Path(str(journal) + ".lock")
    if not owner.exists():
        return True
    try:
        FileLock(str(owner), timeout=0).acquire().lock.release()
    except Timeout:
        return False
    return True


def recorded_seconds(consumer: str, attempts: list[dict], published: dict | None) -> dict:
    """(producer, fixture, strategy) -> load + predict seconds last recorded, from the published
    matrix and then the results file's attempts."""
    seconds = {
        found[1:]: spent for found, (_, spent) in (matrixdoc.recorded(published, consumer) if published else {}).items()
    }
    seconds.update(
        {results.attempt_key(a): (a.get("load_seconds") or 0.0) + (a.get("predict_seconds") or 0.0) for a in attempts}
    )
    return seconds


class Run:
    """One consumer run: the plan, the worker clients and the results document it updates."""

    def __init__(
        self,
        consumer: str | catalog.Environment,
        producers: list[str],
        *,
        strategies=None,
        fixture_ids=None,
        isolate=False,
        reuse=False,
        timeout=300.0,
        output: Path | None = None,
        log=print,
        extra_env=None,
        published: Path | None = PUBLISHED,
        workers: int = 1,
        show_progress: bool = True,
    ):
        self.env = validate(consumer, producers, strategies, fixture_ids, timeout, workers)
        self.workers = workers
        self.producers = producers
        self.strategy_filter = set(strategies) if strategies else None
        self.fixture_filter = set(fixture_ids) if fixture_ids else None
        self.isolate = isolate
        self.reuse = reuse
        self.published = published
        self.show_progress = show_progress
        self.roots: dict[str, str] = {}
        self.timeout = timeout
        self.log = log
        self.output = Path(output) if output else default_output(self.env.id)
        # Each run journals on its own, so overlapping runs never append to or delete each other's.
        self.journal = self.output.with_name(f"{self.output.name}.{os.getpid()}-{secrets.token_hex(4)}.journal")
        self.lock = results_lock(self.output)
        self.measured: dict[tuple, dict] = {}
        """What this run knows that the results file may not: its own verdicts and those of
        journals left by stopped runs. Every save lays them over what is on disk."""
        self.superseded: dict[tuple, dict] = {}
        """Attempt id -> current key, for records under another key that this run drops."""
        self.adopted: list[Path] = []
        self.measured_now: set[tuple] = set()
        self.on_disk: tuple | None = None
        self.last_snapshot = 0.0
        self.planned: list[dict] = []
        self.document = self._start_document()
        self.extra_env = extra_env
        self.clients: list[workerclient.Client] = []
        self._roots_lock = threading.Lock()
        self._reporter: progress.Reporter | None = None

    @property
    def dropped(self) -> int:
        return len(self.superseded)

    def _start_document(self) -> dict:
        """The consumer's results so far (file, then stopped runs' journals), or a new document.

        Nothing is written here (a dry run of ``compat matrix`` reads only); the journals
        folded in are deleted once a save holds what they held.
        """
        document = self._read_disk() or self._new_document()
        if document["run"]["consumer"] != self.env.id:
            raise BadInput(
                f"{self.output} holds results of {document['run']['consumer']}, not {self.env.id}; "
                f"give another --output"
            )
        recorded_lock = document["consumer"].get("lock")
        if recorded_lock and recorded_lock != self.env.locked_versions():
            raise BadInput(
                f"{self.output} was measured with another lock of {self.env.id}; "
                f"move it away (or give another --output) so two setups are not mixed"
            )
        for journal in results.journals(self.output):
            if journal != self.journal and _journal_owner_gone(journal):
                found = results.read_journal(journal)
                self.adopted.append(journal)
                self.measured.update((results.attempt_key(a), a) for a in found)
        if self.measured:
            self.log(f"[compat] {self.output.name}: kept {len(self.measured)} attempts a stopped run had journaled")
        document["attempts"] = self._overlay(document["attempts"])
        document["run"].update(
            started=_now(), finished=None, complete=False, mode="isolate" if self.isolate else "shared"
        )
        return document

    def _read_disk(self) -> dict | None:
        try:
            stat = self.output.stat()
        except FileNotFoundError:
            self.on_disk = None
            return None
        document = results.read(self.output)
        self.on_disk = (stat.st_size, stat.st_mtime_ns)
        return document

    def _overlay(self, attempts: list[dict]) -> list[dict]:
        """``attempts`` (what a results file holds) with the superseded records dropped and this
        run's measurements laid over them by attempt id; an id both hold keeps this run's,
        the later measurement."""
        by_id = {results.attempt_key(a): a for a in attempts}
        for found, current in self.superseded.items():
            if found in by_id and by_id[found].get("key") != current:
                del by_id[found]
        by_id.update(self.measured)
        return list(by_id.values())

    def _new_document(self) -> dict:
        return {
            "schema": results.SCHEMA,
            "run": {
                "consumer": self.env.id,
                "producers": [],
                "mode": None,
                "started": None,
                "finished": None,
                "complete": False,
                "workers_started": 0,
                "tensorflow_imports": 0,
            },
            "consumer": {
                "id": self.env.id,
                "python": self.env.python,
                "keras_api": self.env.keras_api,
                "summary": self.env.summary,
                "lock": self.env.locked_versions(),
                "runtime": None,
                **({"spec": self.env.spec} if self.env.spec else {}),
            },
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

        A record under another key than the planned one is superseded and leaves the results
        file: it is measured again, or the published matrix knows the attempt under its
        current key and the stale record would otherwise override it when the report merges
        them. A record under the current key stays until this run's measurement replaces it,
        so a ``--rerun`` stopped half-way loses nothing.
        """
        self.planned = plan
        recorded = attemptkey.recorded(self.document["attempts"])
        if self.reuse:
            published = published_keys(self.env.id, published_matrix(self.published) if self.published else None)
            todo = attemptkey.pending(plan, recorded, published)
        else:
            todo = plan
        self.superseded = {
            attemptkey.attempt_id(r): r["key"]
            for r in plan
            if attemptkey.attempt_id(r) in recorded and recorded[attemptkey.attempt_id(r)] != r["key"]
        }
        self.document["attempts"] = self._overlay(self.document["attempts"])
        return todo

    def settle(self) -> None:
        """With nothing to run: keep what stopped runs journaled and drop what ``pending``
        found superseded. Nothing else is written, so a run that measured nothing leaves
        the results file (or its absence) as it was."""
        if self.superseded or self.measured:
            self.document["run"].update(finished=_now(), complete=True)
            self._save()
        self._forget_adopted()

    def _forget_adopted(self) -> None:
        """The stopped runs' journals, once a saved results file holds what they held."""
        for journal in self.adopted:
            journal.unlink(missing_ok=True)
            Path(str(journal) + ".lock").unlink(missing_ok=True)
        self.adopted = []

    # -- running -------------------------------------------------------------------------
    def execute(self) -> dict:
        owner = FileLock(str(self.journal) + ".lock")
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            with owner:
                document = self._execute()
            return document
        except BaseException:
            for client in self.clients:
                client.retire(kill=True)
            if self.measured:
                self._save()  # the journal stays: the next run finds it free and folds it in
            raise
        finally:
            if not self.journal.exists():
                Path(owner.lock_file).unlink(missing_ok=True)

    def _execute(self) -> dict:
        plan = self.plan()
        todo = self.pending(plan)
        kept = len(self.document["attempts"])
        if not todo:
            self.log(
                f"[compat] {self.env.id}: nothing to do: the {len(plan)} planned attempts are recorded "
                f"with their current keys"
            )
            self.settle()
            return self.document
        self.log(
            f"[compat] {self.env.id}: {len(todo)} attempts to run over {len(self.producers)} "
            f"producer(s){' (isolated)' if self.isolate else ''}"
            f"{f', {len(plan) - len(todo)} known by their keys' if len(plan) > len(todo) else ''}"
            f"{f', {kept} kept in the results file' if kept else ''}; results -> {self.output}"
        )
        requests = collections.deque(dict(request, id=number) for number, request in enumerate(todo, 1))
        events: queue.Queue = queue.Queue()
        log_dir = cache_root() / "logs"
        published = published_matrix(self.published) if self.published else None
        seconds = recorded_seconds(self.env.id, self.document["attempts"], published)
        workers = min(self.workers, len(todo))
        estimate = progress.Estimate(
            progress.expected_seconds([attemptkey.attempt_id(r) for r in todo], seconds), parallel=workers
        )
        # The live bar only where lines would go to a terminal as they are; a caller's own log
        # (regress, the tests) gets the plain lines.
        reporter = progress.Reporter(
            self.env.id,
            len(todo),
            estimate,
            show=self.show_progress,
            say=self.log,
            live=None if self.log is print else False,
        )
        self._reporter = reporter
        self.clients = [
            workerclient.Client(
                self.env,
                log_dir,
                extra_env=self.extra_env,
                log=self._say,
                on_start=lambda info: events.put(("started", info)),
            )
            for _ in range(workers)
        ]
        with reporter:
            reporter.now(f"starting {workers} worker(s) in {self.env.id}")
            self.clients[0].start()  # a worker that cannot start says so before anything is shared out
            threads = [
                threading.Thread(target=self._drive, args=(client, requests, events), daemon=True)
                for client in self.clients
            ]
            for thread in threads:
                thread.start()
            with open(self.journal, "a") as journal:
                for _ in range(len(todo)):
                    attempt = self._next_attempt(events, reporter)
                    found = results.attempt_key(attempt)
                    self.measured[found] = attempt
                    self.measured_now.add(found)
                    results.append_journal(journal, attempt)
                    if time.time() - self.last_snapshot >= SNAPSHOT_SECONDS:
                        self._save()
                    self._progress(attempt)
                    reporter.advance(found)
            for thread, client in zip(threads, self.clients, strict=False):
                thread.join()  # it has handed over its last verdict and found nothing left to take
                client.retire()
        self._reporter = None
        self.document["run"].update(finished=_now(), complete=True)
        self._save()
        self.journal.unlink()
        return self.document

    def _say(self, line: str) -> None:
        """A line that must not tear the progress bar."""
        if self._reporter is not None and self.show_progress:
            self._reporter.log(line)
        else:
            self.log(line)

    def _next_attempt(self, events: queue.Queue, reporter: progress.Reporter) -> dict:
        """The next verdict a worker's thread hands over; what else they report on the way."""
        while True:
            try:
                kind, value = events.get(timeout=1.0)
            except queue.Empty:
                reporter.tick()  # elapsed and time left move on during a long attempt
                continue
            if kind == "started":
                self._worker_started(value)
            elif kind == "running":
                reporter.now(f"{value['producer']} {value['fixture']['id']} {value['strategy']}")
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
                events.put(("running", request))
                attempt = self._attempt(client, request)
                if self.isolate and attempt["verdict"] != Verdict.NOT_APPLICABLE.value:
                    client.retire()  # a fresh process for every attempt that loads something
                events.put(("attempt", attempt))  # last: the main thread may retire the client next
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            events.put(("failed", exc))

    def _attempt(self, client: workerclient.Client, request: dict) -> dict:
        fixture = request["fixture"]
        attempt = {
            "producer": request["producer"],
            "fixture": fixture["id"],
            "variant": fixture["variant"],
            "format": fixture["format"],
            "strategy": request["strategy"],
            "key": request["key"],
        }
        producer = request["producer"]
        with self._roots_lock:  # unpacked once, by the first worker to need it
            if producer not in self.roots:
                self.roots[producer] = locate(request)["root"]
        sent = {k: v for k, v in request.items() if k not in ("reference", "key")}
        outcome = client.attempt(dict(sent, root=self.roots[producer]), self.timeout)
        return judge(attempt, outcome, request["reference"])

    def _save(self):
        """Under the results file's lock: what is on disk now (another run may have written
        since), this run's changes laid over it, written back atomically."""
        with self.lock:
            disk = None
            try:
                stat = self.output.stat()
                if (stat.st_size, stat.st_mtime_ns) != self.on_disk:
                    disk = results.read(self.output)  # written by another run since this one's last save
            except FileNotFoundError:
                pass
            document = self.document
            if disk is not None:
                document["attempts"] = disk["attempts"]
                for field in ("strategies",):
                    document[field] = document[field] or disk.get(field)
                if not document["consumer"].get("runtime"):
                    document["consumer"]["runtime"] = disk["consumer"].get("runtime")
                document["run"]["producers"] = sorted(
                    set(document["run"].get("producers") or []) | set(disk["run"].get("producers") or [])
                )
            document["attempts"] = self._overlay(document["attempts"])
            known = set(document["run"].get("producers") or []) | set(self.producers)
            document["run"]["producers"] = [p for p in catalog.ids() if p in known]
            order = {name: i for i, name in enumerate(strategy_names())}
            ids = catalog.ids()
            document["attempts"].sort(
                key=lambda a: (ids.index(a["producer"]), a["fixture"], order.get(a["strategy"], len(order)))
            )
            results.write_atomically(self.output, document)
            stat = self.output.stat()
            self.on_disk = (stat.st_size, stat.st_mtime_ns)
        self.last_snapshot = time.time()
        self._forget_adopted()

    def _progress(self, attempt: dict):
        if attempt["verdict"] in (Verdict.CRASH.value, Verdict.TIMEOUT.value):
            self._say(
                f"[compat] {self.env.id} <- {attempt['producer']} {attempt['fixture']} "
                f"{attempt['strategy']}: {attempt['verdict']} ({attempt['reason']})"
            )


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
        attempt.update(
            verdict=status,
            signal=outcome["signal"],
            exit_code=outcome["exit_code"],
            reason=outcome["reason"],
            worker_log_tail=outcome["worker_log_tail"],
        )
    else:
        numbers = compare(np.load(reference_path), outcome["embeddings"])
        attempt.update(verdict=numbers.pop("verdict").value, **numbers)
    return attempt


def published_attempts(consumer: str, producers: list[str], document: dict | None) -> list[dict]:
    """The published matrix's attempts of one consumer over some producers, whole (only their
    load lines are expanded, not the 62,832 attempts of the file)."""
    if document is None:
        return []
    wanted = set(producers)
    lines = [g for g in document.get("loads") or [] if g.get("consumer") == consumer and g.get("producer") in wanted]
    return [dict(a) for a in matrixdoc.expand(dict(document, loads=lines))["attempts"]]


def _day(stamp: str | None) -> str | None:
    return stamp[:10] if stamp else None


def _days(stamps) -> str:
    days = sorted({d for d in map(_day, stamps) if d})
    if not days:
        return "at an unrecorded date"
    return f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"


def _shown_path(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def planned_view(run: Run) -> tuple[dict, list[str]]:
    """What the table shows after a run: every planned attempt, measured now or recorded with
    its current key (results file first, then the published matrix), and lines saying which
    is which and when the recorded ones were measured."""
    document = run.document
    current = {attemptkey.attempt_id(r): r["key"] for r in run.planned}
    own = {results.attempt_key(a): a for a in document["attempts"]}
    published = published_matrix(run.published) if run.published else None
    from_matrix = {results.attempt_key(a): a for a in published_attempts(run.env.id, run.producers, published)}
    shown, now, in_file, in_matrix = [], [], [], []
    for found, key in current.items():
        if found in run.measured_now:
            shown.append(run.measured[found])
            now.append(found)
        elif found in own and own[found].get("key") == key:
            shown.append(own[found])
            in_file.append(found)
        elif found in from_matrix and from_matrix[found].get("key") == key:
            shown.append(from_matrix[found])
            in_matrix.append(found)
    view = dict(document, attempts=shown)
    if not view.get("strategies") and published:
        view["strategies"] = published.get("strategies")
    entry = next((e for e in (published or {}).get("catalog") or [] if e.get("id") == run.env.id), None)
    if entry and not (view["consumer"] or {}).get("runtime"):
        view["consumer"] = dict(view["consumer"], runtime=entry.get("runtime"))
    return view, _provenance(run, published, len(current), now, in_file, in_matrix)


def _provenance(run: Run, published: dict | None, planned: int, now: list, in_file: list, in_matrix: list) -> list[str]:
    sources = []
    if in_file:
        sources.append(f"{len(in_file)} in {run.output} (last written {_days([run.document['run'].get('finished')])})")
    if in_matrix:
        stamps = [
            r.get("finished") or r.get("started")
            for r in (published or {}).get("runs") or []
            if r.get("consumer") == run.env.id
        ]
        sources.append(f"{len(in_matrix)} in the published {_shown_path(run.published)} (measured {_days(stamps)})")
    recorded = len(in_file) + len(in_matrix)
    lines = []
    if now:
        fixtures = collections.OrderedDict()
        for producer, fixture, _ in now:
            fixtures[(producer, fixture)] = fixtures.get((producer, fixture), 0) + 1
        per_fixture = collections.Counter(found[:2] for found in map(attemptkey.attempt_id, run.planned))
        named = [
            (f"{p}/{f}" if len(run.producers) > 1 else f)
            + (f" ({n} of {per_fixture[(p, f)]} strategies)" if n < per_fixture[(p, f)] else "")
            for (p, f), n in fixtures.items()
        ]
        shown = ", ".join(named[:8]) + (f" +{len(named) - 8} more" if len(named) > 8 else "")
        lines.append(f"measured now: {len(now)} of the {planned} planned attempts ({shown})")
    if recorded:
        lead = (
            f"recorded, not measured now: all {planned} planned attempts"
            if not now and recorded == planned
            else f"recorded, not measured now: {recorded} attempts"
        )
        lines.append(f"{lead}, with their current keys: " + "; ".join(sources) + "; `--rerun` measures them again")
    missing = planned - len(now) - recorded
    if missing:
        lines.append(f"not shown: {missing} planned attempts with no verdict (the run stopped before them)")
    return lines
