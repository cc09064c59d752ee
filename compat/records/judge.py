"""The one judge: what a worker's result for one attempt means, checked against the reference.

The matrix runner and the engine for users' files both judge here; they differ only in the
numeric check they hand over (``verdicts.compare`` for the fixtures' embeddings, the engine's
per-output check for a user's named outputs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from compat.records.verdicts import Verdict, compare

LOADED = "ok"
"""The worker's status for an attempt that loaded and predicted: only its outputs say more."""

Check = Callable[[Any, Any], Mapping[str, Any]]
"""``check(reference, outputs)``: the verdict (``Verdict.PASS`` or ``MISMATCH``) and its numbers."""


@dataclasses.dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    numbers: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """What the check measured: ``max_abs_diff``, ``cosine`` and, where it says them, ``detail``
    and ``output``. Empty for an attempt that did not load."""

    def fields(self) -> dict[str, Any]:
        """The verdict and numbers as an attempt's record holds them."""
        return {"verdict": self.verdict.value, **self.numbers}


def judge(status: str, outputs: Any = None, reference: Any = None, check: Check = compare) -> Judgement:
    """The verdict of a worker's result: any status but ``ok`` is the verdict itself (error,
    crash, timeout, not_applicable); outputs that loaded pass or mismatch by ``check``."""
    if status != LOADED:
        return Judgement(Verdict(status))
    numbers = dict(check(reference, outputs))
    return Judgement(Verdict(numbers.pop("verdict")), numbers)
