"""Host side of a consumer run: plan the attempts, drive the worker clients, hand every verdict to the store.

The host never imports TensorFlow. Worker processes inside the consumer environment
(``compat.environments.workerclient``; ``--workers``, one per core up to four by default, one per
consumer in ``compat matrix``, which runs consumers side by side instead) each import it
once and take the planned attempts one at a time, in plan order; a worker that dies or
hangs costs that attempt a ``crash`` / ``timeout`` verdict, and a fresh worker takes over.
Only the main thread records: each worker's thread hands its verdicts over, so a run
stopped by Ctrl-C (which reaches the workers too) never records the deaths it caused.

What a run measured goes to its consumer's results file through ``compat.records.store``
(journal, lock, merge, atomic save); every result is judged by ``compat.records.judge``, the
judge the engine for users' files shares.

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
import dataclasses
import functools
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from compat import catalog
from compat.environments import workerclient
from compat.errors import BadInput, choices, positive_seconds
from compat.harness import corpus, fixtures, progress
from compat.paths import PROJECT_ROOT, cache_root
from compat.records import attemptkey, codedigest, matrixdoc, results
from compat.records.attempt import Attempt, AttemptRequest, attempt_id
from compat.records.judge import Judgement, judge
from compat.records.outputs import compare_outputs
from compat.records.store import ResultsStore
from compat.records.verdicts import Verdict

RESULTS_DIR = PROJECT_ROOT / "reports" / "results"
PUBLISHED = PROJECT_ROOT / "reports" / "matrix.json"


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
            available += [i for i in planned_fixture_ids(producer) if i not in available]
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
        batch = folder / manifest["reference"]["input"]
        found = [
            (
                dict(fixture, size=manifest["size"], saved_by_keras=manifest["versions"].get("keras")),
                batch,
                folder / manifest["reference"]["embeddings"][fixture["variant"]],
            )
            for fixture in manifest["fixtures"]
        ]
        for fixture, batch, reference in found + corpus.matrix_fixtures(producer):
            if fixture_filter and fixture["id"] not in fixture_filter:
                continue
            for name in names:
                if strategy_filter and name not in strategy_filter:
                    continue
                requests.append(
                    {
                        "op": "attempt",
                        "producer": producer,
                        "fixture": fixture,
                        "strategy": name,
                        "input": str(batch),
                        "reference": str(reference),
                    }
                )
    return requests


def planned_fixture_ids(producer: str) -> list[str]:
    """Every fixture a run plans for a producer: its FaceNet fixtures, then its reported set's."""
    return [f["id"] for f in fixtures.load_manifest(producer)["fixtures"]] + corpus.matrix_ids(producer)


def locate(request: dict) -> dict:
    """The request with ``root``, the verified, unpacked model files of its producer."""
    return dict(request, root=str(fixture_root(request["producer"], request["fixture"])))


def fixture_root(producer: str, fixture: dict) -> Path:
    """The verified, unpacked folder a fixture's files are in: its producer's FaceNet set, or
    the corpus set the fixture names."""
    if fixture.get("set"):
        return corpus.unpacked(fixture["set"], producer)
    return fixtures.unpacked(producer)


def judge_result(request: AttemptRequest, result: dict) -> Judgement:
    """A FaceNet fixture's embeddings against the producer's; a reported model's named outputs
    against its reference npz, output by output (the check users' files get)."""
    spec = request.fixture.get("spec")
    if spec is None:
        return judge(result["status"], result.get("embeddings"), reference_outputs(request.reference))
    outputs = [(o["name"], np.asarray(o["values"], dtype=np.float64)) for o in result.get("outputs") or []]
    reference = corpus.reference_arrays(Path(request.reference), [o["name"] for o in spec["outputs"]])
    found = judge(result["status"], outputs, reference, check=compare_outputs)
    # Which output the check read is said only where a model has several (then in ``detail``).
    return Judgement(found.verdict, {k: v for k, v in found.numbers.items() if k != "output"})


def keyed_plan(
    env: catalog.Environment,
    producers: list[str],
    strategy_filter=None,
    fixture_filter=None,
    codes: codedigest.CodeDigests | None = None,
) -> list[AttemptRequest]:
    """``plan_attempts`` for every strategy of the registry, each request with its content key."""
    codes = codes or codedigest.code_digests(PROJECT_ROOT)
    keyer = attemptkey.Keyer(env, codes)
    return [
        AttemptRequest(
            producer=r["producer"],
            fixture=r["fixture"],
            strategy=r["strategy"],
            input=r["input"],
            reference=r["reference"],
            key=keyer.key(r),
        )
        for r in plan_attempts(producers, list(codes.by_strategy), strategy_filter, fixture_filter)
    ]


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


def recorded_seconds(consumer: str, attempts: list[dict], published: dict | None) -> dict:
    """(producer, fixture, strategy) -> what the attempt cost when last recorded
    (``matrixdoc.attempt_seconds``), from the published matrix and then the results file's attempts."""
    seconds = {
        found[1:]: spent for found, (_, spent) in (matrixdoc.recorded(published, consumer) if published else {}).items()
    }
    seconds.update({attempt_id(a): matrixdoc.attempt_seconds(a) for a in attempts})
    return seconds


def peer_seconds(published: dict | None) -> dict:
    """(producer, fixture, strategy) -> what the attempt cost under each consumer of the published
    matrix (``matrixdoc.attempt_seconds``): the price of one a consumer never recorded itself."""
    peers: dict = {}
    for found, (_, spent) in (matrixdoc.recorded(published) if published else {}).items():
        peers.setdefault(found[1:], []).append(spent)
    return peers


def reference_outputs(path: str) -> np.ndarray:
    """A producer's reference embeddings, read once per version of the file however many
    attempts check against them."""
    stat = Path(path).stat()
    return _read_reference(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_reference(path: str, size: int, mtime_ns: int) -> np.ndarray:
    return np.load(path)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a consumer run is asked for: the consumer, the producers, the subsets of their
    fixtures and strategies, and whether what is recorded under the current key is reused."""

    env: catalog.Environment
    producers: list[str]
    strategies: frozenset[str] | None = None
    fixtures: frozenset[str] | None = None
    reuse: bool = False
    published: Path | None = PUBLISHED
    """The published matrix whose keys count as recorded (None: only the results file's)."""

    def plan(self) -> list[AttemptRequest]:
        return keyed_plan(self.env, self.producers, self.strategies, self.fixtures)


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """How the attempts are run: how many workers, how long each attempt may take, a fresh
    worker for every attempt that loads something (``isolate``), extra environment variables."""

    workers: int = 1
    timeout: float = 300.0
    isolate: bool = False
    extra_env: dict[str, str] | None = None


class ConsumerRun:
    """One consumer run: plans its attempts and drives the workers that run them; every
    verdict goes to ``store``, the progress to ``display``."""

    def __init__(
        self,
        selection: Selection,
        store: ResultsStore,
        options: WorkerOptions | None = None,
        display: progress.Display | None = None,
    ):
        self.selection = selection
        self.store = store
        self.options = options or WorkerOptions()
        self.display = display or progress.Display()
        self.planned: list[AttemptRequest] = []
        self.roots: dict[str, str] = {}
        self.clients: list[workerclient.Client] = []
        self._roots_lock = threading.Lock()
        self._reporter: progress.Reporter | None = None

    @property
    def env(self) -> catalog.Environment:
        return self.selection.env

    @property
    def producers(self) -> list[str]:
        return self.selection.producers

    @property
    def published(self) -> Path | None:
        return self.selection.published

    @property
    def output(self) -> Path:
        return self.store.path

    @property
    def document(self) -> dict:
        return self.store.document

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> list[AttemptRequest]:
        return self.selection.plan()

    def pending(self, plan: list[AttemptRequest]) -> list[AttemptRequest]:
        """What to run: everything planned, or (``reuse``) what no recorded key covers.

        A record under another key than the planned one is superseded and leaves the results
        file: it is measured again, or the published matrix knows the attempt under its
        current key and the stale record would otherwise override it when the report merges
        them. A record under the current key stays until this run's measurement replaces it,
        so a ``--rerun`` stopped half-way loses nothing.
        """
        self.planned = plan
        recorded = attemptkey.recorded(self.document["attempts"])
        if self.selection.reuse:
            published = published_keys(self.env.id, published_matrix(self.published) if self.published else None)
            todo = attemptkey.pending(plan, recorded, published)
        else:
            todo = plan
        self.store.supersede({r.id: r.key for r in plan if r.id in recorded and recorded[r.id] != r.key})
        return todo

    def settle(self) -> None:
        """With nothing to run: what stopped runs journaled is kept, superseded records dropped."""
        self.store.settle()

    # -- running -------------------------------------------------------------------------
    def execute(self) -> dict:
        with self.store.journaling():
            try:
                return self._execute()
            except BaseException:
                for client in self.clients:
                    client.retire(kill=True)
                raise  # the store saves what was measured; the journal stays for the next run

    def _execute(self) -> dict:
        plan = self.plan()
        todo = self.pending(plan)
        say = self.display.say
        if not todo:
            say(
                f"[compat] {self.env.id}: nothing to do: the {len(plan)} planned attempts are recorded "
                f"with their current keys"
            )
            self.settle()
            return self.document
        kept = len(self.document["attempts"])
        say(
            f"[compat] {self.env.id}: {len(todo)} attempts to run over {len(self.producers)} "
            f"producer(s){' (isolated)' if self.options.isolate else ''}"
            f"{f', {len(plan) - len(todo)} known by their keys' if len(plan) > len(todo) else ''}"
            f"{f', {kept} kept in the results file' if kept else ''}; results -> {self.output}"
        )
        workers = min(self.options.workers, len(todo))
        reporter = self.display.reporter(self.env.id, len(todo), self._estimate(todo, workers))
        self._reporter = reporter
        events: queue.Queue = queue.Queue()
        self.clients = [self._client(events) for _ in range(workers)]
        with reporter:
            reporter.now(f"starting {workers} worker(s) in {self.env.id}")
            self.clients[0].start()  # a worker that cannot start says so before anything is shared out
            requests = collections.deque(enumerate(todo, 1))
            threads = [
                threading.Thread(target=self._drive, args=(client, requests, events), daemon=True)
                for client in self.clients
            ]
            for thread in threads:
                thread.start()
            for _ in range(len(todo)):
                attempt = self._next_attempt(events, reporter)
                self.store.record(attempt)
                self._tell_failure(attempt)
                reporter.advance(attempt.id)
            for thread, client in zip(threads, self.clients, strict=False):
                thread.join()  # it has handed over its last verdict and found nothing left to take
                client.retire()
        self._reporter = None
        self.store.finish()
        return self.document

    def _estimate(self, todo: list[AttemptRequest], workers: int) -> progress.Estimate:
        published = published_matrix(self.published) if self.published else None
        seconds = recorded_seconds(self.env.id, self.document["attempts"], published)
        expected = progress.expected_seconds([r.id for r in todo], seconds, peer_seconds(published))
        return progress.Estimate(expected, parallel=workers)

    def _client(self, events: queue.Queue) -> workerclient.Client:
        return workerclient.Client(
            self.env,
            cache_root() / "logs",
            extra_env=self.options.extra_env,
            log=self._say,
            on_start=lambda info: events.put(("started", info)),
        )

    def _say(self, line: str) -> None:
        """A line that must not tear the progress bar."""
        if self._reporter is not None and self.display.show:
            self._reporter.log(line)
        else:
            self.display.say(line)

    def _next_attempt(self, events: queue.Queue, reporter: progress.Reporter) -> Attempt:
        """The next verdict a worker's thread hands over; what else they report on the way."""
        while True:
            try:
                kind, value = events.get(timeout=1.0)
            except queue.Empty:
                reporter.tick()  # elapsed and time left move on during a long attempt
                continue
            if kind == "started":
                self.store.worker_started(value)
            elif kind == "running":
                reporter.now(f"{value.producer} {value.fixture['id']} {value.strategy}")
            elif kind == "failed":
                raise value
            else:
                return value

    def _drive(self, client: workerclient.Client, requests: collections.deque, events: queue.Queue) -> None:
        """One worker's thread: take the next planned attempt until none is left."""
        try:
            while True:
                try:
                    number, request = requests.popleft()
                except IndexError:
                    return
                events.put(("running", request))
                attempt = self._attempt(client, number, request)
                if self.options.isolate and attempt.verdict is not Verdict.NOT_APPLICABLE:
                    client.retire()  # a fresh process for every attempt that loads something
                events.put(("attempt", attempt))  # last: the main thread may retire the client next
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            events.put(("failed", exc))

    def _attempt(self, client: workerclient.Client, number: int, request: AttemptRequest) -> Attempt:
        where = f"{request.producer}/{request.fixture.get('set') or ''}"
        with self._roots_lock:  # unpacked once, by the first worker to need it
            if where not in self.roots:
                self.roots[where] = str(fixture_root(request.producer, request.fixture))
        result = client.attempt(request.message(number, self.roots[where]), self.options.timeout)
        return Attempt.from_result(request, result, judge_result(request, result))

    def _tell_failure(self, attempt: Attempt) -> None:
        """A worker that died or hung is worth a line of its own."""
        if attempt.verdict in (Verdict.CRASH, Verdict.TIMEOUT):
            self._say(
                f"[compat] {self.env.id} <- {attempt.producer} {attempt.fixture} "
                f"{attempt.strategy}: {attempt.verdict.value} ({attempt.reason})"
            )


def open_run(
    consumer: str | catalog.Environment,
    producers: list[str],
    *,
    strategies: list[str] | None = None,
    fixture_ids: list[str] | None = None,
    isolate: bool = False,
    reuse: bool = False,
    timeout: float = 300.0,
    output: Path | None = None,
    log: Callable[[str], None] = print,
    extra_env: dict[str, str] | None = None,
    published: Path | None = PUBLISHED,
    workers: int = 1,
    show_progress: bool = True,
) -> ConsumerRun:
    """A consumer run as a command asks for it, checked (``validate``) before anything is read,
    with its results file's store (``output``, default ``reports/results/<consumer>.json``)."""
    env = validate(consumer, producers, strategies, fixture_ids, timeout, workers)
    store = ResultsStore(
        Path(output) if output else default_output(env.id),
        env,
        producers,
        strategy_names(),
        mode="isolate" if isolate else "shared",
        log=log,
    )
    return ConsumerRun(
        Selection(
            env,
            producers,
            frozenset(strategies) if strategies else None,
            frozenset(fixture_ids) if fixture_ids else None,
            reuse,
            published,
        ),
        store,
        WorkerOptions(workers, timeout, isolate, extra_env),
        progress.Display.for_log(log, show_progress),
    )


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


def planned_view(run: ConsumerRun) -> tuple[dict, list[str]]:
    """What the table shows after a run: every planned attempt, measured now or recorded with
    its current key (results file first, then the published matrix), and lines saying which
    is which and when the recorded ones were measured."""
    document = run.document
    current = {r.id: r.key for r in run.planned}
    own = {attempt_id(a): a for a in document["attempts"]}
    published = published_matrix(run.published) if run.published else None
    from_matrix = {attempt_id(a): a for a in published_attempts(run.env.id, run.producers, published)}
    shown, now, in_file, in_matrix = [], [], [], []
    for found, key in current.items():
        if found in run.store.measured_now:
            shown.append(run.store.measured[found])
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


def _provenance(
    run: ConsumerRun, published: dict | None, planned: int, now: list, in_file: list, in_matrix: list
) -> list[str]:
    sources = []
    if in_file:
        sources.append(f"{len(in_file)} in {run.output} (last written {_days([run.document['run'].get('finished')])})")
    if in_matrix and run.published is not None:  # only a published matrix lends attempts
        stamps = [
            r.get("finished") or r.get("started")
            for r in (published or {}).get("runs") or []
            if r.get("consumer") == run.env.id
        ]
        sources.append(f"{len(in_matrix)} in the published {_shown_path(run.published)} (measured {_days(stamps)})")
    recorded = len(in_file) + len(in_matrix)
    lines = []
    if now:
        measured = collections.Counter((producer, fixture) for producer, fixture, _ in now)
        per_fixture = collections.Counter(r.id[:2] for r in run.planned)
        named = [
            (f"{p}/{f}" if len(run.producers) > 1 else f)
            + (f" ({n} of {per_fixture[(p, f)]} strategies)" if n < per_fixture[(p, f)] else "")
            for (p, f), n in measured.items()
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
