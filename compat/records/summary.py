"""What a set of attempts says about one fixture: the pure logic the table, the report
and the regression check share.
"""

from __future__ import annotations

from collections import OrderedDict

from compat.records import strategyinfo
from compat.records.verdicts import Verdict

# Cell categories, best first; the report colours cells by these.
AS_IS, FLAG, WEIGHTS, WRONG_NUMBERS, NOTHING, NOT_TRIED = (
    "as_is",
    "flag",
    "weights",
    "wrong_numbers",
    "nothing",
    "not_tried",
)
CATEGORY_LABELS = OrderedDict(
    [
        (AS_IS, "works as it is"),
        (FLAG, "works without the model's code: a flag, custom objects, another API or a translation"),
        (WEIGHTS, "works only with the model's code (rebuild, transplant)"),
        (WRONG_NUMBERS, "loads but gives wrong numbers"),
        (NOTHING, "nothing works"),
        (NOT_TRIED, "not tried"),
    ]
)


PASS = Verdict.PASS.value  # read once: best_strategy runs for every fixture of every pair of consumers


def preference(name: str, tier: str | None) -> int:
    """Where a strategy stands in what a reader is advised first, when several give the reference
    numbers: the reader's own Keras reading the file as stored (0), then that Keras reading it
    translated (1: compat's translate.py beside the recipe), then the frozen Keras 2 package (2:
    tf_keras, no JAX, no PyTorch), then a rebuild from the model's own code (3)."""
    if tier == WEIGHTS:
        return 3
    if strategyinfo.legacy_keras(name):
        return 2
    return 1 if strategyinfo.carried(name) else 0


def strategy_order(strategies: list[dict]) -> list[str]:
    """The strategies' names in the order a reader is advised them (stable within a rank: the registry's)."""
    return [s["name"] for s in sorted(strategies, key=lambda s: preference(s["name"], s.get("tier")))]


def group_by_fixture(attempts: list[dict]) -> OrderedDict[tuple[str, str], dict[str, dict]]:
    grouped: OrderedDict = OrderedDict()
    for attempt in attempts:
        grouped.setdefault((attempt["producer"], attempt["fixture"]), {})[attempt["strategy"]] = attempt
    return grouped


def best_strategy(by_strategy: dict[str, dict], order: list[str]) -> str | None:
    """The first strategy, in order of preference, whose embeddings passed."""
    for name in order:
        attempt = by_strategy.get(name)
        if attempt and attempt["verdict"] == PASS:
            return name
    return None


def category(by_strategy: dict[str, dict], strategies: list[dict]) -> str:
    """How a reader should see this fixture: the best tier that works, else what went wrong."""
    tiers = {s["name"]: s["tier"] for s in strategies}
    best = best_strategy(by_strategy, strategy_order(strategies))
    if best:
        return tiers[best]
    verdicts = {a["verdict"] for a in by_strategy.values()}
    if Verdict.MISMATCH.value in verdicts:
        return WRONG_NUMBERS
    if verdicts <= {Verdict.NOT_APPLICABLE.value} or not verdicts:
        return NOT_TRIED
    return NOTHING


def has_silent_corruption(by_strategy: dict[str, dict]) -> bool:
    return any(a["verdict"] == Verdict.MISMATCH.value for a in by_strategy.values())
