"""A consumer's results file as one run updates it: its journal, its lock, the merge, the save.

Each consumer has one results file (``reports/results/<consumer>.json``) that every run of
that consumer updates by attempt id: a run of some fixtures or strategies replaces those
attempts and keeps the rest, so a subset run never loses or duplicates what a full one
measured. Nothing measured is lost: each verdict is appended to the run's own journal
(``<results>.<run>.journal``, one JSON line, flushed to disk) the moment it is known, and
the results file is replaced atomically every couple of seconds and at the end. A journal
whose run is gone (its ``.lock`` is free) is folded in by the next run.

Runs of one consumer may overlap (two loads on different producers, a load and a
``compat regress`` fresh run, ``compat report`` reading): every write holds the results
file's lock (``<results>.lock``), re-reads what is on disk and lays this run's
measurements over it, so neither run overwrites the other's. An attempt both measured
keeps the later measurement, as ``compat report`` resolves it. Readers need no lock: the
file is only ever replaced whole.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from compat import catalog
from compat.errors import BadInput
from compat.records import results
from compat.records.attempt import Attempt, AttemptId, attempt_id
from compat.records.verdicts import MIN_COSINE, RELATIVE_TOLERANCE

SNAPSHOT_SECONDS = 2.0
"""Least time between two saves while a run records verdicts (each is journaled at once)."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def results_lock(path: Path) -> FileLock:
    """Held by every run of a consumer while it reads, merges and replaces its results file."""
    return FileLock(str(path) + ".lock")


def journal_owner_gone(journal: Path) -> bool:
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


def journaled(path: Path) -> list[dict[str, Any]]:
    """Every attempt the runs of a results file have journaled so far, live runs' included."""
    return [record for journal in results.journals(path) for record in results.read_journal(journal)]


def new_document(env: catalog.Environment) -> dict[str, Any]:
    """A results file of ``env`` that holds nothing yet."""
    return {
        "schema": results.SCHEMA,
        "run": {
            "consumer": env.id,
            "producers": [],
            "mode": None,
            "started": None,
            "finished": None,
            "complete": False,
            "workers_started": 0,
            "tensorflow_imports": 0,
        },
        "consumer": {
            "id": env.id,
            "python": env.python,
            "keras_api": env.keras_api,
            "summary": env.summary,
            "lock": env.locked_versions(),
            "runtime": None,
            **({"spec": env.spec} if env.spec else {}),
        },
        "strategies": None,
        "tolerance": {"relative": RELATIVE_TOLERANCE, "min_cosine": MIN_COSINE},
        "attempts": [],
    }


class ResultsStore:
    """One run's view of a consumer's results file: what it held, what stopped runs journaled,
    and what this run measures, saved under the lock over whatever is on disk then.

    Nothing is written when the store is made (a dry run of ``compat matrix`` only reads);
    the stopped runs' journals folded in are deleted once a save holds what they held.
    """

    def __init__(
        self,
        path: Path,
        env: catalog.Environment,
        producers: list[str],
        strategy_order: list[str],
        *,
        mode: str = "shared",
        log: Callable[[str], None] = print,
    ):
        self.path = Path(path)
        self.env = env
        self.producers = producers
        self.strategy_order = strategy_order
        self.log = log
        # Each run journals on its own, so overlapping runs never append to or delete each other's.
        self.journal = self.path.with_name(f"{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}.journal")
        self.lock = results_lock(self.path)
        self.measured: dict[AttemptId, dict[str, Any]] = {}
        """What this run knows that the results file may not: its own verdicts and those of
        journals left by stopped runs. Every save lays them over what is on disk."""
        self.measured_now: set[AttemptId] = set()
        self.superseded: dict[AttemptId, dict[str, str]] = {}
        """Attempt id -> current key, for records under another key that this run drops."""
        self.adopted: list[Path] = []
        self.on_disk: tuple[int, int] | None = None
        self.last_snapshot = 0.0
        self._journal_handle: IO[str] | None = None
        self.document = self._start_document(mode)

    # -- reading -----------------------------------------------------------------------------
    def _start_document(self, mode: str) -> dict[str, Any]:
        """The consumer's results so far (file, then stopped runs' journals), or a new document."""
        document = self._read_disk() or new_document(self.env)
        if document["run"]["consumer"] != self.env.id:
            raise BadInput(
                f"{self.path} holds results of {document['run']['consumer']}, not {self.env.id}; give another --output"
            )
        recorded_lock = document["consumer"].get("lock")
        if recorded_lock and recorded_lock != self.env.locked_versions():
            raise BadInput(
                f"{self.path} was measured with another lock of {self.env.id}; "
                f"move it away (or give another --output) so two setups are not mixed"
            )
        for journal in results.journals(self.path):
            if journal != self.journal and journal_owner_gone(journal):
                self.adopted.append(journal)
                self.measured.update((attempt_id(a), a) for a in results.read_journal(journal))
        if self.measured:
            self.log(f"[compat] {self.path.name}: kept {len(self.measured)} attempts a stopped run had journaled")
        document["attempts"] = self._overlay(document["attempts"])
        document["run"].update(started=now(), finished=None, complete=False, mode=mode)
        return document

    def _read_disk(self) -> dict[str, Any] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self.on_disk = None
            return None
        document = results.read(self.path)
        self.on_disk = (stat.st_size, stat.st_mtime_ns)
        return document

    def _overlay(self, attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``attempts`` (what a results file holds) with the superseded records dropped and this
        run's measurements laid over them by attempt id; an id both hold keeps this run's,
        the later measurement."""
        by_id = {attempt_id(a): a for a in attempts}
        for found, current in self.superseded.items():
            if found in by_id and by_id[found].get("key") != current:
                del by_id[found]
        by_id.update(self.measured)
        return list(by_id.values())

    # -- what the run tells it -----------------------------------------------------------------
    def supersede(self, current: dict[AttemptId, dict[str, str]]) -> None:
        """Drop the records whose key is not ``current[id]``: they measured something else."""
        self.superseded = current
        self.document["attempts"] = self._overlay(self.document["attempts"])

    def worker_started(self, info: dict[str, Any]) -> None:
        """A worker's ``ready``: the consumer's runtime, the strategies it knows, one more start."""
        self.document["consumer"]["runtime"] = info["runtime"]
        self.document["strategies"] = info["strategies"]
        run = self.document["run"]
        run["workers_started"] = run.get("workers_started", 0) + 1
        if info["runtime"].get("tensorflow"):
            run["tensorflow_imports"] = run.get("tensorflow_imports", 0) + 1

    @contextlib.contextmanager
    def journaling(self) -> Iterator[None]:
        """Held for the whole run: its journal's lock says the run is alive. A run that ends by
        an exception saves what it measured; its journal stays, for the next run to fold in."""
        owner = FileLock(str(self.journal) + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with owner:
                try:
                    yield
                finally:
                    if self._journal_handle is not None:
                        self._journal_handle.close()
                        self._journal_handle = None
        except BaseException:
            if self.measured:
                self.save()
            raise
        finally:
            if not self.journal.exists():
                Path(owner.lock_file).unlink(missing_ok=True)

    def record(self, attempt: Attempt) -> None:
        """One verdict: journaled at once, saved with the next snapshot. The journal is opened
        with the first, so a run stopped before any verdict leaves none."""
        record = attempt.to_dict()
        self.measured[attempt.id] = record
        self.measured_now.add(attempt.id)
        if self._journal_handle is None:
            self._journal_handle = open(self.journal, "a")  # noqa: SIM115 - closed by journaling() or finish()
        results.append_journal(self._journal_handle, record)
        if time.time() - self.last_snapshot >= SNAPSHOT_SECONDS:
            self.save()

    def finish(self) -> None:
        """The run measured all it planned: the file says so and the journal goes."""
        if self._journal_handle is not None:
            self._journal_handle.close()
            self._journal_handle = None
        self.document["run"].update(finished=now(), complete=True)
        self.save()
        self.journal.unlink(missing_ok=True)

    def settle(self) -> None:
        """With nothing to run: keep what stopped runs journaled and drop what ``supersede``
        found superseded. Nothing else is written, so a run that measured nothing leaves the
        results file (or its absence) as it was."""
        if self.superseded or self.measured:
            self.document["run"].update(finished=now(), complete=True)
            self.save()
        self._forget_adopted()

    # -- writing -----------------------------------------------------------------------------
    def save(self) -> None:
        """Under the results file's lock: what is on disk now (another run may have written
        since), this run's changes laid over it, written back atomically."""
        with self.lock:
            disk = None
            try:
                stat = self.path.stat()
                if (stat.st_size, stat.st_mtime_ns) != self.on_disk:
                    disk = results.read(self.path)  # written by another run since this one's last save
            except FileNotFoundError:
                pass
            document = self.document
            if disk is not None:
                _take_from_disk(document, disk)
            document["attempts"] = self._overlay(document["attempts"])
            known = set(document["run"].get("producers") or []) | set(self.producers)
            ids = catalog.ids()
            document["run"]["producers"] = [p for p in ids if p in known]
            order = {name: i for i, name in enumerate(self.strategy_order)}
            document["attempts"].sort(
                key=lambda a: (ids.index(a["producer"]), a["fixture"], order.get(a["strategy"], len(order)))
            )
            results.write_atomically(self.path, document)
            stat = self.path.stat()
            self.on_disk = (stat.st_size, stat.st_mtime_ns)
        self.last_snapshot = time.time()
        self._forget_adopted()

    def _forget_adopted(self) -> None:
        """The stopped runs' journals, once a saved results file holds what they held."""
        for journal in self.adopted:
            journal.unlink(missing_ok=True)
            Path(str(journal) + ".lock").unlink(missing_ok=True)
        self.adopted = []


def _take_from_disk(document: dict[str, Any], disk: dict[str, Any]) -> None:
    """What another run wrote: its attempts (this run's are laid over them next), the runtime
    and strategies where this run has none yet, and the producers of both."""
    document["attempts"] = disk["attempts"]
    document["strategies"] = document["strategies"] or disk.get("strategies")
    if not document["consumer"].get("runtime"):
        document["consumer"]["runtime"] = disk["consumer"].get("runtime")
    document["run"]["producers"] = sorted(
        set(document["run"].get("producers") or []) | set(disk["run"].get("producers") or [])
    )
