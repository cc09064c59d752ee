"""What moving from one environment to another does to a file: the one vocabulary of change.

``compat regress`` (the project's fixtures), the gate (a user's models), the page's upgrade
view, JUnit and Markdown all classify with ``fixture_change`` and speak of the result
with the ``Meaning`` of its ``Change``, so none of them can disagree with another.

For one file, the recommended (best) strategy under the old environment is checked under
the new one. The file

- stops working when nothing loads it under the new one;
- must switch when that strategy fails under the new one but another works;
- changes numbers when that strategy, or any other that passed before, now loads wrong
  numbers (silent corruption is never a mere note);
- starts working when nothing loaded it before and something does now;
- is improved when a strategy preferred to the old one now works too;
- is unchanged, still broken (nothing loads it under either), or not compared (measured
  under one side only, or its old strategy was not tried under the new one).

The first three are regressions.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import OrderedDict

from compat.records import summary
from compat.records.verdicts import Verdict

PASS, MISMATCH = Verdict.PASS.value, Verdict.MISMATCH.value


class Change(str, enum.Enum):
    STOPPED = "stopped_working"
    SWITCH = "switch_strategy"
    NUMBERS = "numbers_changed"
    STARTED = "started_working"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    STILL_BROKEN = "still_broken"
    NOT_COMPARED = "not_compared"

    def __str__(self) -> str:  # f-strings and JSON show the plain value
        return self.value


@dataclasses.dataclass(frozen=True)
class Meaning:
    change: Change
    id: str
    """The page's short id for it (URLs, the upgrade view's buckets)."""
    one: str
    """Said of one file: "stops loading"."""
    many: str
    """Said of several, as a heading: "stop working"."""
    short: str
    """A table head's words."""
    means: str
    regression: bool


MEANINGS = (
    Meaning(
        Change.STOPPED,
        "stops",
        "stops loading",
        "stop working",
        "stop working",
        "no strategy loads them under the new consumer",
        True,
    ),
    Meaning(
        Change.SWITCH,
        "switch",
        "loads only with another strategy",
        "need a different strategy",
        "switch",
        "the strategy that worked fails under the new consumer; another one works",
        True,
    ),
    Meaning(
        Change.NUMBERS,
        "wrong_numbers",
        "numbers change",
        "load with wrong numbers",
        "wrong numbers",
        "a strategy that worked now loads wrong numbers",
        True,
    ),
    Meaning(
        Change.STARTED,
        "starts",
        "starts loading",
        "start working",
        "start working",
        "nothing worked under the old consumer, something does under the new one",
        False,
    ),
    Meaning(
        Change.IMPROVED,
        "improved",
        "still loads, and a simpler way works too",
        "work with a simpler strategy",
        "simpler",
        "a strategy preferred to the old one now works",
        False,
    ),
    Meaning(
        Change.UNCHANGED,
        "unchanged",
        "still loads the way it does today",
        "work the same way",
        "same",
        "the strategy that worked still works",
        False,
    ),
    Meaning(
        Change.STILL_BROKEN,
        "still_broken",
        "does not load today either",
        "still load with nothing",
        "still broken",
        "no strategy works under either",
        False,
    ),
    Meaning(
        Change.NOT_COMPARED,
        "not_compared",
        "not compared",
        "not compared",
        "not compared",
        "measured under one of the two only",
        False,
    ),
)
OF = {meaning.change: meaning for meaning in MEANINGS}
BY_ID = OrderedDict((meaning.id, meaning) for meaning in MEANINGS)


def meaning(change) -> Meaning:
    return OF[Change(change)]


def is_regression(change) -> bool:
    return meaning(change).regression


# -- the comparison (pure) -----------------------------------------------------------------


def compare_consumers(
    old_attempts: list[dict], new_attempts: list[dict], old_order: list[str], new_order: list[str] | None = None
) -> dict:
    """Classify every fixture seen on either side; ``*_order`` are strategy names in order
    of preference (the registry order)."""
    return compare_grouped(
        summary.group_by_fixture(old_attempts), summary.group_by_fixture(new_attempts), old_order, new_order
    )


def compare_grouped(
    old_grouped: dict, new_grouped: dict, old_order: list[str], new_order: list[str] | None = None
) -> dict:
    """``compare_consumers`` on attempts already grouped by ``summary.group_by_fixture``
    (the report compares every pair of consumers and groups each one once)."""
    new_order = new_order or old_order
    keys = list(old_grouped) + [key for key in new_grouped if key not in old_grouped]
    entries = [fixture_change(key, old_grouped.get(key), new_grouped.get(key), old_order, new_order) for key in keys]
    counts = OrderedDict((change.value, 0) for change in Change)
    for entry in entries:
        counts[entry["change"]] += 1
    return {
        "fixtures": entries,
        "regressed": [e for e in entries if is_regression(e["change"])],
        "started_working": [e for e in entries if e["change"] == Change.STARTED],
        "improved": [e for e in entries if e["change"] == Change.IMPROVED],
        "not_compared": [e for e in entries if e["change"] == Change.NOT_COMPARED],
        "counts": dict(counts),
    }


def fixture_change(key, old: dict | None, new: dict | None, old_order, new_order) -> dict:
    """What happened to one file: ``old`` and ``new`` map strategy -> attempt (with its verdict)."""
    producer, fixture = key
    sample = next(iter((old or new or {}).values()))
    entry = {
        "producer": producer,
        "fixture": fixture,
        "variant": sample.get("variant"),
        "format": sample.get("format"),
        "change": None,
        "old_best": None,
        "new_best": None,
        "old_best_under_new": None,
        "switch_to": None,
        "wrong_numbers": [],
        "also_stopped": [],
    }
    if old is None or new is None:
        entry.update(
            change=Change.NOT_COMPARED.value,
            detail="only measured under the " + ("new" if old is None else "old") + " consumer",
        )
        return entry
    old_best = summary.best_strategy(old, old_order)
    new_best = summary.best_strategy(new, new_order)
    entry.update(old_best=old_best, new_best=new_best, switch_to=_switch_to(new, new_best))
    was_passing = [name for name in old_order if old.get(name, {}).get("verdict") == PASS]
    entry["wrong_numbers"] = [n for n in was_passing if new.get(n, {}).get("verdict") == MISMATCH]
    entry["also_stopped"] = [
        n for n in was_passing if n != old_best and n in new and new[n]["verdict"] not in (PASS, MISMATCH)
    ]
    entry["change"] = _classify(entry, old_best, new_best, new, new_order).value
    if entry["change"] == Change.NOT_COMPARED:
        entry["detail"] = f"{old_best} was not tried under the new consumer"
    elif old_best is not None:
        entry["old_best_under_new"] = outcome(new[old_best])
    return entry


def _classify(entry: dict, old_best, new_best, new: dict, new_order) -> Change:
    if old_best is None:
        return Change.STARTED if new_best else Change.STILL_BROKEN
    if old_best not in new:
        return Change.NOT_COMPARED
    now = new[old_best]["verdict"]
    if now == MISMATCH or entry["wrong_numbers"]:
        return Change.NUMBERS
    if now != PASS:
        return Change.SWITCH if entry["switch_to"] else Change.STOPPED
    if _rank(new_order, new_best) < _rank(new_order, old_best):
        return Change.IMPROVED
    return Change.UNCHANGED


def _rank(order: list[str], name: str) -> int:
    return order.index(name) if name in order else len(order)


def _switch_to(by_strategy: dict, best: str | None) -> dict | None:
    if best is None:
        return None
    return {"strategy": best, "recipe": by_strategy[best].get("recipe")}


def outcome(attempt: dict) -> dict:
    """The verdict of one attempt and the one line that explains it."""
    found = {"verdict": attempt.get("verdict")}
    error = attempt.get("error")
    if error:
        found["error"] = f"{error.get('type')}: {error.get('message')}"
        found["error_type"] = error.get("type")
    for key in ("reason", "max_abs_diff", "cosine", "detail"):
        if attempt.get(key) is not None:
            found[key] = attempt[key]
    return found
