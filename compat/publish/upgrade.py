"""The upgrade view of the published matrix: "I use X, I move to Y", for every pair of consumers.

The answer is ``compat.records.change.compare_consumers`` run on the matrix's attempts of X and
of Y, exactly as ``compat regress --baseline matrix.json --from X --to Y`` runs it. Each
fixture's change is then put in one bucket a reader acts on: it stops working (no
strategy loads it under Y), it needs a different strategy (the one that worked under X
fails under Y; switch to Y's best), it gives wrong numbers, it starts working, and the
quieter ones (improved, unchanged, still broken, not compared). Every bucket belongs to
exactly one of regress's changes, so the page and the command cannot disagree.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from compat.records import change, summary

BUCKETS = change.MEANINGS
"""The page's buckets are the changes themselves, in the order a reader acts on them."""
BY_ID = change.BY_ID
ABSENT = "-"
"""The code of a fixture neither consumer measured."""


def bucket(entry: dict) -> change.Meaning:
    """Where one ``compare_consumers`` entry goes."""
    return change.meaning(entry["change"])


def grouped_by_consumer(matrix: dict) -> dict[str, dict]:
    """Each consumer's attempts grouped by fixture, as ``compare_consumers`` groups them."""
    found: dict[str, list[dict]] = {}
    for attempt in matrix["attempts"]:
        found.setdefault(attempt["consumer"], []).append(attempt)
    return {consumer: summary.group_by_fixture(attempts) for consumer, attempts in found.items()}


def compare(matrix: dict, old: str, new: str, grouped: dict | None = None) -> dict:
    """``compat regress --baseline`` for two consumers of this matrix, every fixture."""
    grouped = grouped if grouped is not None else grouped_by_consumer(matrix)
    order = summary.strategy_order(matrix["strategies"])
    return change.compare_grouped(grouped.get(old, {}), grouped.get(new, {}), order, order)


def pair_key(old: str, new: str) -> str:
    return f"{old} {new}"


def fixture_keys(matrix: dict) -> list[tuple[str, str]]:
    """Every (producer, fixture) of the matrix, in the matrix's order."""
    return list(OrderedDict(((a["producer"], a["fixture"]), None) for a in matrix["attempts"]))


def page_view(matrix: dict, consumers: list[str], producers: list[str]) -> dict:
    """Every ordered pair of consumers as one string of bucket codes, a character a fixture.

    ``keys`` says which fixture each position is; a code is the bucket's index in
    ``buckets`` (``-`` where neither consumer measured the fixture). Which strategy worked
    before and after, and the recipe to switch to, are each fixture's best strategy under X
    and under Y, which the page already holds (``summary.best_strategy``, the function
    ``compare_consumers`` itself calls); the rare lists a code cannot carry (strategies that
    now give wrong numbers) come beside it.
    """
    keys = fixture_keys(matrix)
    position = {key: i for i, key in enumerate(keys)}
    grouped = grouped_by_consumer(matrix)
    codes: dict[str, str] = {}
    wrong: dict[str, dict[str, list[str]]] = {}
    for old in consumers:
        for new in consumers:
            if old == new:
                continue
            row = [ABSENT] * len(keys)
            for entry in compare(matrix, old, new, grouped)["fixtures"]:
                index = position[(entry["producer"], entry["fixture"])]
                row[index] = str(list(BY_ID).index(bucket(entry).id))
                if entry["wrong_numbers"]:
                    wrong.setdefault(pair_key(old, new), {})[str(index)] = entry["wrong_numbers"]
            codes[pair_key(old, new)] = "".join(row)
    return {
        "buckets": [
            {
                "id": b.id,
                "change": b.change.value,
                "label": b.many,
                "short": b.short,
                "means": b.means,
                "regression": b.regression,
            }
            for b in BUCKETS
        ],
        "keys": {"producer": [producers.index(p) for p, _ in keys], "fixture": [f for _, f in keys]},
        "codes": codes,
        "wrong_numbers": wrong,
    }


def neighbour_pairs(consumers: list[str], extra: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, str]]:
    """Each consumer and the next one in catalog order, then ``extra`` pairs not already there."""
    pairs = list(itertools.pairwise(consumers))
    return pairs + [p for p in extra if p not in pairs and p[0] in consumers and p[1] in consumers]


def summary_rows(matrix: dict, pairs: list[tuple[str, str]]) -> list[dict]:
    """Per pair: how many fixtures fall in each bucket, and which need action, grouped.

    ``groups`` gathers the fixtures that stop working or need a switch by (bucket, the
    strategy to switch to, fixture id), naming the producers whose file behaves so.
    """
    grouped = grouped_by_consumer(matrix)
    rows = []
    for old, new in pairs:
        comparison = compare(matrix, old, new, grouped)
        counts = OrderedDict((b.id, 0) for b in BUCKETS)
        groups: OrderedDict = OrderedDict()
        for entry in comparison["fixtures"]:
            found = bucket(entry)
            counts[found.id] += 1
            if found.regression or found.id == "starts":
                switch = (entry["switch_to"] or {}).get("strategy")
                key = (found.id, entry["old_best"], switch, entry["fixture"])
                groups.setdefault(key, []).append(entry["producer"])
        ordered = sorted(groups.items(), key=lambda item: (list(BY_ID).index(item[0][0]), -len(item[1]), item[0][3]))
        rows.append(
            {
                "old": old,
                "new": new,
                "counts": counts,
                "compared": sum(n for b, n in counts.items() if b != "not_compared"),
                "regressed": len(comparison["regressed"]),
                "groups": [
                    {"bucket": b, "old_best": was, "switch_to": switch, "fixture": fixture, "producers": producers}
                    for (b, was, switch, fixture), producers in ordered
                ],
            }
        )
    return rows
