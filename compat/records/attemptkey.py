"""The content key of an attempt: what it ran on, with what, by which code.

An attempt's key is four digests, recorded with its verdict (``"key"`` in a results file's
attempt; grouped per load line in ``matrix.json``, see ``compat.records.matrixdoc``):

- ``lock``: the consumer environment as the catalog builds it (CPython minor, Keras API,
  environment variables and every pinned version of its lock);
- ``fixture``: the fixture as the worker is handed it, every file's sha256 from the
  producer's manifest included;
- ``reference``: the input batch and the reference embeddings it is checked against;
- ``code``: the worker, the strategy and the check (``compat.records.codedigest``).

The strategy is the attempt's own name. An attempt whose four digests equal those of a
recorded one with the same (consumer, producer, fixture, strategy) is known and needs no
run; an attempt recorded without a key (before keys existed) is never taken as known.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from compat import catalog
from compat.records.attempt import AttemptRequest, attempt_id
from compat.records.codedigest import CodeDigests, digest

FIELDS = ("lock", "fixture", "reference", "code")


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def lock_digest(env: catalog.Environment) -> str:
    return digest(
        [
            _canonical(
                {
                    "python": env.python,
                    "keras_api": env.keras_api,
                    "env_vars": sorted(map(list, env.env_vars)),
                    "pins": env.locked_versions(),
                }
            )
        ]
    )


def fixture_digest(fixture: dict) -> str:
    return digest([_canonical(fixture)])


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def file_sha256(path) -> str:
    stat = Path(path).stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def reference_digest(input_path, reference_path) -> str:
    return digest([file_sha256(input_path), file_sha256(reference_path)])


class Keyer:
    """Keys for one consumer's planned requests (digests computed once per process)."""

    def __init__(self, env: catalog.Environment, codes: CodeDigests):
        self.lock = lock_digest(env)
        self.codes = codes
        self.fixtures: dict[str, str] = {}
        self.references: dict[tuple, str] = {}

    def key(self, request: dict) -> dict:
        fixture = _canonical(request["fixture"])
        if fixture not in self.fixtures:
            self.fixtures[fixture] = digest([fixture])
        batch = (request["input"], request["reference"])
        if batch not in self.references:
            self.references[batch] = reference_digest(*batch)
        return {
            "lock": self.lock,
            "fixture": self.fixtures[fixture],
            "reference": self.references[batch],
            "code": self.codes.by_strategy[request["strategy"]],
        }


def complete(key) -> bool:
    return isinstance(key, dict) and all(isinstance(key.get(f), str) for f in FIELDS)


def recorded(attempts) -> dict:
    """Attempt id -> its key (None when recorded without one), for a consumer's attempts."""
    return {attempt_id(a): (a.get("key") if complete(a.get("key")) else None) for a in attempts}


def pending(requests: list[AttemptRequest], *known: dict) -> list[AttemptRequest]:
    """The requests whose key no map of recorded keys holds for their attempt id."""
    return [r for r in requests if not any(k.get(r.id) == r.key for k in known)]
