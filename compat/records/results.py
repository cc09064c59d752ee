"""The results file: a versioned JSON document per consumer run, written atomically.

Layout (``schema: "compat.results/1"``)::

    {"schema", "run": {"consumer", "producers", "mode", "started", "finished", "complete",
                       "workers_started", "tensorflow_imports"},
     "consumer": {"id", "python", "keras_api", "lock": {dist: version}, "runtime": {...}},
     "strategies": [{"name", "summary", "kind", "tier", "formats"}],
     "tolerance": {"relative": ..., "min_cosine": ...},
     "attempts": [{"producer", "fixture", "variant", "format", "strategy", "verdict",
                   "reason"?, "error"?: {"type", "message", "traceback"}, "signal"?,
                   "max_abs_diff"?, "cosine"?, "load_seconds"?, "predict_seconds"?,
                   "code_executed"?, "code_executed_by_predict"?, "recipe"?,
                   "key": {"lock", "fixture", "reference", "code"}}]}

``code_executed`` is whether code stored in the file (a canary Lambda's bytecode) had run
when loading returned; ``code_executed_by_predict`` whether it had run by the end of the
first predict, which is when Keras 3 first calls a Lambda. ``key`` is the attempt's content
key (``compat.records.attemptkey``); attempts recorded before keys existed have none.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import tempfile
from pathlib import Path

from compat.errors import BadInput

SCHEMA = "compat.results/1"


class ResultsError(BadInput):
    """A results file that cannot be used, in one line."""


def write_atomically(path: Path, document: dict) -> None:
    """Never leaves a half-written file: write a sibling temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_document(path, schema, error=None, label: str = "") -> dict:
    """A versioned JSON document, or one line saying why it cannot be used.

    ``schema`` is the one accepted, or a tuple of those accepted with the current one last.
    """
    error = error or ResultsError
    accepted = (schema,) if isinstance(schema, str) else tuple(schema)
    where = f"{label}{path}"
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except ValueError as exc:
        raise error(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("schema") not in accepted:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise error(f"{where}: schema {found!r}, expected {accepted[-1]!r}")
    return document


def read(path: Path) -> dict:
    return read_document(path, SCHEMA)


def append_journal(handle, attempt: dict) -> None:
    """One attempt, one line, on disk before the next attempt starts."""
    handle.write(json.dumps(attempt, sort_keys=True) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def journals(output: Path) -> list[Path]:
    """Every journal beside a results file: one per run (``<name>.<run>.journal``), and
    ``<name>.journal``, the one journal all runs shared before runs had their own."""
    output = Path(output)
    return sorted(output.parent.glob(f"{glob.escape(output.name)}.*journal"))


def read_journal(path: Path) -> list[dict]:
    """The attempts a journal holds; a last line cut short by a kill is ignored."""
    attempts: list[dict] = []
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return attempts
    for line in lines:
        try:
            attempts.append(json.loads(line))
        except ValueError:
            continue
    return attempts


def once_per_version(read):
    """``read(path)``, computed once per version of the file (its size and mtime) and then
    shared: callers only read what it returns. A path that cannot be looked at is read
    directly, so ``read`` says in one line why."""
    cached = functools.lru_cache(maxsize=2)(lambda path, size, mtime_ns: read(path))

    def reader(path):
        try:
            stat = Path(path).stat()
        except OSError:
            return read(path)
        return cached(str(path), stat.st_size, stat.st_mtime_ns)

    return reader
