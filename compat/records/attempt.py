"""One load attempt as the project records it: the request a worker is sent and the verdict it got.

A results file (``compat.records.results``) and the published ``matrix.json``
(``compat.records.matrixdoc``) store an attempt as a flat JSON object; ``Attempt.to_dict`` and
``Attempt.from_dict`` are that object, field for field, so the files read and write the same
bytes whichever side of them a record was made on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from compat.records.judge import Judgement
from compat.records.verdicts import Verdict

AttemptId = tuple[str, str, str]

# A terminal's escape sequences (Keras 3 prints the real error of a wrapped one in bold) and
# the other control characters but line breaks and tabs: an error is recorded as plain text,
# so no page, table or terminal a message reaches is ever styled or moved by it.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def plain_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """A worker's ``{"type", "message", "traceback"}`` without terminal control codes."""
    return {name: _CONTROL.sub("", value) if isinstance(value, str) else value for name, value in error.items()}


"""(producer, fixture id, strategy): what an attempt is, whatever its key or verdict."""


def attempt_id(record: Mapping[str, Any]) -> AttemptId:
    """The id of a request (whose ``fixture`` is the manifest's entry) or of a recorded attempt
    (whose ``fixture`` is the entry's id)."""
    fixture = record["fixture"]
    return record["producer"], fixture["id"] if isinstance(fixture, Mapping) else fixture, record["strategy"]


MEASURED = ("recipe", "load_seconds", "predict_seconds", "code_executed", "code_executed_by_predict")
"""What a worker reports of an attempt that got as far as loading, whatever the verdict."""
CARRIED: dict[Verdict, tuple[str, ...]] = {
    Verdict.PASS: ("max_abs_diff", "cosine"),
    Verdict.MISMATCH: ("max_abs_diff", "cosine"),
    Verdict.ERROR: ("error",),
    Verdict.CRASH: ("signal", "exit_code", "reason", "worker_log_tail"),
    Verdict.TIMEOUT: ("seconds", "reason"),
    Verdict.NOT_APPLICABLE: ("reason",),
}
"""The fields a verdict always carries, written even when empty (a crash by exit status has no
signal; outputs of another shape have no difference or cosine)."""
IDENTITY = ("producer", "fixture", "variant", "format", "strategy")


@dataclasses.dataclass(frozen=True)
class AttemptRequest:
    """One planned attempt: a producer's fixture, a strategy, and the batch and reference it is
    checked with."""

    producer: str
    fixture: dict[str, Any]
    """The manifest's entry with the producer's ``size`` and ``saved_by_keras``: what the worker is handed."""
    strategy: str
    input: str
    """The input batch (.npz) the reference was computed on."""
    reference: str
    """The producer's reference outputs: a FaceNet variant's embeddings (.npy), or a reported
    model's named outputs (.npz)."""
    key: dict[str, str]
    """The content key (``compat.records.attemptkey``)."""

    @property
    def id(self) -> AttemptId:
        return self.producer, self.fixture["id"], self.strategy

    def message(self, number: int, root: str) -> dict[str, Any]:
        """What the worker is sent (``compat.inside.worker``'s protocol): no key, no reference,
        which stay on the host."""
        message = {
            "op": "attempt",
            "id": number,
            "producer": self.producer,
            "fixture": self.fixture,
            "strategy": self.strategy,
            "input": self.input,
            "root": root,
        }
        if "spec" in self.fixture:  # a model with named inputs and outputs: the worker returns them all
            message["spec"] = self.fixture["spec"]
        return message


@dataclasses.dataclass(frozen=True)
class Attempt:
    """A recorded attempt: what ran, its verdict and what the worker measured on the way."""

    producer: str
    fixture: str
    """The fixture's id, ``<variant>-<format>``."""
    variant: str
    format: str
    strategy: str
    verdict: Verdict
    key: dict[str, str] | None = None
    """The content key; None for attempts recorded before keys existed."""
    reason: str | None = None
    error: dict[str, str] | None = None
    """``{"type", "message", "traceback"}`` of what loading or predicting raised."""
    max_abs_diff: float | None = None
    cosine: float | None = None
    detail: str | None = None
    """Why the numbers could not be compared value by value (another shape, NaN)."""
    recipe: str | None = None
    load_seconds: float | None = None
    predict_seconds: float | None = None
    code_executed: bool | None = None
    code_executed_by_predict: bool | None = None
    seconds: float | None = None
    """How long a timed-out attempt was given."""
    signal: str | None = None
    exit_code: int | None = None
    worker_log_tail: str | None = None
    consumer: str | None = None
    """Set where attempts of many consumers sit together (the published matrix)."""
    unstable: list[str] | None = None
    """Every verdict seen where measurements under one key disagreed (the published matrix)."""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Fields this release does not know, kept as they were read."""
    lacking: frozenset[str] = frozenset()
    """Fields the verdict carries that a record from an older release lacks (a crash without
    ``worker_log_tail``): left out again when it is written."""

    @property
    def id(self) -> AttemptId:
        return self.producer, self.fixture, self.strategy

    @classmethod
    def from_result(cls, request: AttemptRequest, result: Mapping[str, Any], judgement: Judgement) -> Attempt:
        """The record of a worker's ``result`` for ``request``, with the judge's verdict."""
        fields: dict[str, Any] = {name: result[name] for name in MEASURED if name in result}
        numbers = dict(judgement.numbers)
        for name in CARRIED[judgement.verdict]:
            fields[name] = numbers.pop(name) if name in numbers else result[name]
        fields.update(numbers)
        if isinstance(fields.get("error"), Mapping):
            fields["error"] = plain_error(fields["error"])
        return cls(
            producer=request.producer,
            fixture=request.fixture["id"],
            variant=request.fixture["variant"],
            format=request.fixture["format"],
            strategy=request.strategy,
            verdict=judgement.verdict,
            key=request.key,
            **fields,
        )

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Attempt:
        known = (*IDENTITY, "verdict", *OPTIONAL)
        fields = {name: value for name, value in record.items() if name in known}
        fields["verdict"] = Verdict(record["verdict"])
        extra = {name: value for name, value in record.items() if name not in known}
        lacking = frozenset(name for name in CARRIED[fields["verdict"]] if name not in record)
        return cls(**fields, extra=extra, lacking=lacking)

    def to_dict(self) -> dict[str, Any]:
        """The attempt as the results files and ``matrix.json`` hold it: every field the verdict
        carries, the others only where they have a value."""
        record: dict[str, Any] = {name: getattr(self, name) for name in IDENTITY}
        record["verdict"] = self.verdict.value
        carried = CARRIED[self.verdict]
        for name in OPTIONAL:
            value = getattr(self, name)
            if value is not None or (name in carried and name not in self.lacking):
                record[name] = value
        record.update(self.extra)
        return record


OPTIONAL = tuple(
    field.name for field in dataclasses.fields(Attempt) if field.name not in (*IDENTITY, "verdict", "extra", "lacking")
)
"""The fields an attempt may hold beside what it is and its verdict."""
