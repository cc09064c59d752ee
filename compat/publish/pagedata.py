"""What the page's script receives: every rule already applied, every field named.

``compat.publish.cells`` decides what a cell, a column head and a panel row say, ``compat.publish.upgrade``
what moving from one consumer to another does to each fixture, ``compat.records.families`` why an
error happened. This module runs them for every filter the page offers and packs what
they say so that a full matrix stays small: each repeated string once (``strings``, referred
to by index), tables stored by column (``{"field": [one value per row]}``, so the script
reaches every value by its field's name) and each distinct cell view once.
"""

from __future__ import annotations

import json
import math

from markupsafe import Markup

from compat.publish import cells, upgrade
from compat.records import families, recipetext, summary


class Interner:
    """Repeated strings (recipes, error lines, reasons) stored once, referred to by index."""

    def __init__(self):
        self.strings: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str | None) -> int | None:
        if value is None:
            return None
        if value not in self._index:
            self._index[value] = len(self.strings)
            self.strings.append(value)
        return self._index[value]


class Table:
    """Rows stored by column: ``{"field": [value, ...]}``; ``distinct`` keeps equal rows once."""

    def __init__(self, *fields: str, distinct: bool = False):
        self.columns: dict[str, list] = {field: [] for field in fields}
        self._seen: dict[str, int] | None = {} if distinct else None
        self.rows = 0

    def add(self, **values) -> int:
        unknown = set(values) - set(self.columns)
        if unknown:
            raise KeyError(f"no such column: {', '.join(sorted(unknown))}")
        if self._seen is not None:
            key = json.dumps([values.get(field) for field in self.columns])
            if key in self._seen:
                return self._seen[key]
            self._seen[key] = self.rows
        for field, column in self.columns.items():
            column.append(values.get(field))
        self.rows += 1
        return self.rows - 1


class Distinct:
    """Equal dictionaries stored once; each is referred to by its index in ``items``."""

    def __init__(self):
        self.items: list[dict] = []
        self._seen: dict[str, int] = {}

    def __call__(self, item: dict) -> int:
        key = json.dumps(item, sort_keys=True)
        if key not in self._seen:
            self._seen[key] = len(self.items)
            self.items.append(item)
        return self._seen[key]


def _round(value, digits: int):
    """Enough significant digits to read, few enough to keep 60k attempts small."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _seconds(value):
    """A time to the hundredth of a second, as the page shows it."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, 2)


def filter_key(variant: str | None, fmt: str | None) -> str:
    """How the page names a filter state: ``variant/format``, an empty side meaning any."""
    return f"{variant or ''}/{fmt or ''}"


VIEW_FIELDS = ("category", "mark", "best", "short", "count", "flag", "flag_mark", "flag_title", "says")


def _cell(view: dict) -> dict:
    shown = {field: view[field] for field in VIEW_FIELDS}
    shown["bar"] = {segment["category"]: segment["width"] for segment in view["segments"]}
    return shown


def filter_states(
    matrix: dict,
    producers: list[str],
    consumers: list[str],
    found: list[cells.Outcome],
    variants: list[str],
    formats: list[str],
) -> tuple[dict, list, list]:
    """Every cell, column head and count for every filter state the page offers."""
    views, heads = Distinct(), Distinct()
    states = {}
    for variant in [""] + variants:
        for fmt in [""] + formats:
            rows = cells.grid(matrix, producers, consumers, variant, fmt, found=found)
            counts = cells.totals(found, variant, fmt)
            selected = sum(counts.values())
            words = " + ".join(part for part in (variant, fmt) if part)
            states[filter_key(variant, fmt)] = {
                "cells": [views(_cell(cell)) for row in rows for cell in row["cells"]],
                "heads": [heads(head) for head in cells.column_heads(found, consumers, variant, fmt)],
                "counts": counts,
                "note": f"{words + ': ' if words else 'all '}{selected} fixture load{'' if selected == 1 else 's'}",
            }
    return states, views.items, heads.items


def pack_loads(
    matrix: dict,
    shown: list[cells.Outcome],
    producers: list[str],
    consumers: list[str],
    variants: list[str],
    formats: list[str],
    intern: Interner,
) -> dict[str, Table]:
    """Every fixture load the panels show, each strategy's outcome (with its failure family)
    and the numbers of the attempts that loaded, as three tables."""
    order = summary.strategy_order(matrix["strategies"])
    outcomes = Table("strategy", "verdict", "type", "message", "family", "code_ran", "recipe", "paths", distinct=True)
    loads = Table("producer", "consumer", "fixture", "variant", "format", "category", "best", "corrupt", "outcomes")
    measured = Table("load", "strategy", "max_abs_diff", "cosine", "load_seconds", "predict_seconds")
    for outcome in shown:
        load = loads.rows
        kept = []
        for row in cells.detail_rows(outcome.attempts, order):
            attempt = outcome.attempts[row["strategy"]]
            family = families.classify_attempt(matrix, attempt) if attempt.get("error") else None
            strategy = order.index(row["strategy"]) if row["strategy"] in order else intern(row["strategy"])
            # A recipe as its template (path lines blanked, shared by every fixture) and its paths.
            template, paths = recipetext.split(row["recipe"]) if row["recipe"] else (None, [])
            kept.append(
                outcomes.add(
                    strategy=strategy,
                    verdict=row["verdict"],
                    type=intern(row["type"]),
                    message=intern(row["message"]),
                    family=family.id if family else None,
                    code_ran=row["code_ran"],
                    recipe=intern(template),
                    paths=intern("\n".join(paths)) if paths else None,
                )
            )
            numbers = {
                "max_abs_diff": _round(row["max_abs_diff"], 2),
                "cosine": _round(row["cosine"], 8),
                "load_seconds": _seconds(row["load_seconds"]),
                "predict_seconds": _seconds(row["predict_seconds"]),
            }
            if any(value is not None for value in numbers.values()):
                measured.add(load=load, strategy=strategy, **numbers)
        loads.add(
            producer=producers.index(outcome.producer),
            consumer=consumers.index(outcome.consumer),
            fixture=intern(outcome.fixture),
            variant=variants.index(outcome.variant),
            format=formats.index(outcome.format),
            category=cells.CATEGORIES.index(outcome.category),
            best=order.index(outcome.best) if outcome.best else None,
            corrupt=int(outcome.corrupt),
            outcomes=kept,
        )
    return {"loads": loads, "outcomes": outcomes, "measured": measured}


def per_load(measured: dict[str, list], loads: int) -> dict[str, list]:
    """The measured rows (added load by load) with how many each load has, not a load per row."""
    counts = [0] * loads
    for load in measured["load"]:
        counts[load] += 1
    return dict({name: column for name, column in measured.items() if name != "load"}, counts=counts)


OUTCOME_DIGITS = 36


def pack_indices(lists: list[list[int]], count: int) -> dict:
    """Lists of row indices as strings of fixed-width base-36 numbers: a load's 15 outcomes
    take about half the bytes they take as JSON numbers (``unpack_indices`` reads them back)."""
    width = 1
    while OUTCOME_DIGITS**width < max(count, 1):
        width += 1
    return {"width": width, "lists": ["".join(_base36(i, width) for i in found) for found in lists]}


def unpack_indices(packed: dict) -> list[list[int]]:
    width = packed["width"]
    return [[int(text[i : i + width], OUTCOME_DIGITS) for i in range(0, len(text), width)] for text in packed["lists"]]


def _base36(number: int, width: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, OUTCOME_DIGITS)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits.rjust(width, "0")


def page_data(matrix: dict, producers: list[str], consumers: list[str], found: list[cells.Outcome]) -> dict:
    """Everything the script needs for filters, panels and the upgrade view."""
    intern = Interner()
    variants = cells.ordered_variants(o.variant for o in found)
    formats = cells.ordered_formats(o.format for o in found)
    states, views, heads = filter_states(matrix, producers, consumers, found, variants, formats)
    shown = [o for o in found if o.producer in producers and o.consumer in consumers]
    shown.sort(
        key=lambda o: (
            producers.index(o.producer),
            consumers.index(o.consumer),
            cells.variant_rank(o.variant),
            cells.format_rank(o.format),
            o.fixture,
        )
    )
    tables = pack_loads(matrix, shown, producers, consumers, variants, formats, intern)
    view = upgrade.page_view(matrix, consumers, producers)
    view["keys"]["fixture"] = [intern(fixture) for fixture in view["keys"]["fixture"]]
    return {
        "categories": [
            {"id": c, "label": summary.CATEGORY_LABELS[c], "short": cells.SHORT_LABELS[c], "mark": cells.MARKS[c]}
            for c in cells.CATEGORIES
        ],
        "strategies": [{"name": name} for name in summary.strategy_order(matrix["strategies"])],
        "verdicts": VERDICT_WORDS,
        "families": {
            f.id: {"label": f.label, "cause": f.cause, "action": f.action} for f in families.FAMILIES.values()
        },
        "producers": producers,
        "consumers": consumers,
        "variants": variants,
        "formats": formats,
        "filters": states,
        "views": views,
        "heads": heads,
        "strings": intern.strings,
        "outcomes": tables["outcomes"].columns,
        # a load's outcomes packed, and the numbers counted per load instead of naming it per row:
        # most of the page's bytes were these lists of numbers
        "loads": dict(
            tables["loads"].columns,
            outcomes=pack_indices(tables["loads"].columns["outcomes"], tables["outcomes"].rows),
        ),
        "measured": per_load(tables["measured"].columns, tables["loads"].rows),
        "upgrade": view,
    }


VERDICT_WORDS = {
    "pass": "pass",
    "mismatch": "WRONG NUMBERS",
    "error": "error",
    "crash": "crash",
    "timeout": "timeout",
    "not_applicable": "n/a",
}


def script_json(data) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` left raw."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
