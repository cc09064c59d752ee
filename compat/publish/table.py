"""The plain-text table a consumer run prints: fixture x strategy -> verdict, then why.

It fits the terminal: strategy names are shortened and, when still too wide, the columns
are split into panels that each repeat the fixture column. Below the grid: what the
symbols mean, for each strategy that failed the family of its errors (once per family,
naming the fixtures), what each family means and what to do, the recipe of each
recommended strategy, and where the results file and the full report are.
"""

from __future__ import annotations

import shutil
import textwrap
from collections import OrderedDict
from pathlib import Path

from compat.records import families, strategyinfo, summary
from compat.records.verdicts import Verdict

SYMBOLS = {
    "pass": "ok",
    "mismatch": "WRONG",
    "error": "err",
    "crash": "CRASH",
    "timeout": "TIME",
    "not_applicable": "-",
}
MEANINGS = OrderedDict(
    [
        ("pass", "loads, right numbers"),
        ("mismatch", "loads, wrong numbers"),
        ("error", "error (why: below)"),
        ("crash", "the worker died"),
        ("timeout", "timed out"),
        ("not_applicable", "does not apply"),
    ]
)
CELL = max(len(s) for s in SYMBOLS.values())
GAP = "  "
CELL_GAP = " "
MIN_WIDTH = 60
FALLBACK_WIDTH = 100
EXAMPLES = 3
"""Fixtures named in a line before "+N more"."""


def render(document: dict, width: int | None = None, results_path=None, notes: list[str] | None = None) -> str:
    """The whole text; ``width`` defaults to the terminal's. ``notes`` go under the heading
    (which attempts were measured now and which are recorded, and when)."""
    if width is None:
        width = shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns
    width = max(width, MIN_WIDTH)
    strategies = document["strategies"] or []
    order = summary.strategy_order(strategies)
    grouped = summary.group_by_fixture(document["attempts"])
    producers = list(OrderedDict.fromkeys(producer for producer, _ in grouped))
    label = _labeller(producers)
    shown, hidden = _columns(order, grouped)
    lines = _wrap(_header(document, grouped, producers, shown), width, indent="  ", first="")
    for note in notes or []:
        lines += _wrap(note, width, indent="  ", first="")
    lines += [""]
    lines += _grid(grouped, shown, order, strategies, label, width)
    lines += _legend(shown, hidden, width)
    lines += _failures(document, grouped, order, label, width)
    lines += _recipes(grouped, order, strategies, label, width)
    lines += _footer(document, results_path, width)
    return "\n".join(lines)


def _labeller(producers: list[str]):
    if len(producers) == 1:
        return lambda producer, fixture: fixture
    return lambda producer, fixture: f"{producer}/{fixture}"


def _columns(order: list[str], grouped) -> tuple[list[str], list[str]]:
    """Strategies with at least one attempt that applied, and those that never applied."""
    tried = [name for name in order if any(name in row for row in grouped.values())]
    shown = [
        name
        for name in tried
        if any(row[name]["verdict"] != Verdict.NOT_APPLICABLE.value for row in grouped.values() if name in row)
    ]
    return shown, [name for name in tried if name not in shown]


def _header(document: dict, grouped, producers: list[str], shown: list[str]) -> str:
    consumer = document["consumer"]
    runtime = consumer.get("runtime") or {}
    stack = [f"Python {runtime.get('python') or consumer.get('python')}", f"Keras {runtime.get('keras')}"]
    if runtime.get("tensorflow"):
        stack.append(f"TensorFlow {runtime['tensorflow']}")
    source = producers[0] if len(producers) == 1 else f"{len(producers)} producers"
    return (
        f"consumer {consumer.get('id') or document['run']['consumer']} ({', '.join(stack)}): "
        f"{len(grouped)} fixtures of {source}, {len(shown)} strategies"
    )


def _best(row: dict, order: list[str], strategies: list[dict]) -> str:
    best = summary.best_strategy(row, order)
    if best is None:
        best = "(not tried)" if summary.category(row, strategies) == summary.NOT_TRIED else "(none works)"
    return best + (" !" if summary.has_silent_corruption(row) else "")


def _short(name: str, taken: set) -> str:
    # Column heads when the full strategy names do not fit; a strategy without an
    # abbreviation falls back to its first letters.
    short = strategyinfo.abbreviation(name) or "".join(part[:1] for part in name.split("_"))[:CELL] or name[:CELL]
    while short in taken:
        short = short[:-1] + str(len(taken) % 10)
    taken.add(short)
    return short


def _grid(grouped, shown, order, strategies, label, width) -> list[str]:
    labels = [label(producer, fixture) for producer, fixture in grouped]
    label_width = max([len(text) for text in labels] + [len("fixture")])
    best = [_best(row, order, strategies) for row in grouped.values()]
    best_width = max([len(text) for text in best] + [len("recommended")])
    cells = [
        [SYMBOLS.get(row[name]["verdict"], "?") if name in row else "" for name in shown] for row in grouped.values()
    ]
    lead = label_width + len(GAP)
    first_room = width - lead - best_width - len(GAP)
    heads = list(shown)
    if sum(len(h) + len(CELL_GAP) for h in heads) > first_room + len(CELL_GAP):
        taken: set = set()
        heads = [_short(name, taken) for name in shown]
    widths = [max(len(h), CELL) for h in heads]
    # Columns that do not fit go to further panels, each repeating the fixture column.
    panels: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, column_width in enumerate(widths):
        room = first_room if not panels else width - lead
        if current and used + column_width > room:
            panels.append(current)
            current, used = [], 0
        current.append(index)
        used += column_width + len(CELL_GAP)
    panels.append(current)
    lines = []
    for number, panel in enumerate(panels):
        front = ["fixture".ljust(label_width)] + (["recommended".ljust(best_width)] if number == 0 else [])
        lines.append(GAP.join(front + [CELL_GAP.join(heads[i].ljust(widths[i]) for i in panel)]).rstrip())
        lines.append("-" * len(lines[-1]))
        for text, choice, row in zip(labels, best, cells, strict=False):
            front = [text.ljust(label_width)] + ([choice.ljust(best_width)] if number == 0 else [])
            lines.append(GAP.join(front + [CELL_GAP.join(row[i].ljust(widths[i]) for i in panel)]).rstrip())
        lines.append("")
    if heads != shown:
        lines += _wrap(
            "columns: " + ", ".join(f"{h}={n}" for h, n in zip(heads, shown, strict=False)),
            width,
            indent="  ",
            first="",
        )
    return lines


def _wrap(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def _legend(shown: list[str], hidden: list[str], width: int) -> list[str]:
    symbols = [f"{SYMBOLS[v]} {meaning}" for v, meaning in MEANINGS.items()] + ["blank: not run"]
    lines = _wrap(
        "symbols: " + "; ".join(symbols) + "; recommended: the first strategy, in order of "
        "preference, that gives the right numbers (! some strategy loads wrong numbers)",
        width,
        indent="  ",
        first="",
    )
    if hidden:
        lines += _wrap(
            f"not shown: {', '.join(hidden)} (does not apply to any of these fixtures)", width, indent="  ", first=""
        )
    return lines + [""]


def _failures(document: dict, grouped, order: list[str], label, width: int) -> list[str]:
    """Per strategy, each family of its errors once (then crashes, timeouts, the unexplained)."""
    by_strategy: OrderedDict = OrderedDict((name, OrderedDict()) for name in order)
    explained: OrderedDict = OrderedDict()
    for (producer, fixture), row in grouped.items():
        for name, attempt in row.items():
            key, kind, text = _reason(document, attempt)
            if key is None:
                continue
            if kind == "family":
                explained[key] = families.FAMILIES[key]
            found = by_strategy.setdefault(name, OrderedDict()).setdefault(key, [OrderedDict(), text, []])
            found[0][(attempt.get("error") or {}).get("type") or ""] = None
            found[2].append(label(producer, fixture))
    # Strategies that failed the same way on the same fixtures share one heading.
    shared: OrderedDict = OrderedDict()
    for name, reasons in by_strategy.items():
        if reasons:
            reason_lines = tuple((_reason_line(types, text), tuple(found)) for types, text, found in reasons.values())
            shared.setdefault(reason_lines, []).append(name)
    if not shared:
        return []
    lines = _wrap(
        "why strategies failed (each error family once, with the fixtures it hit):", width, indent="  ", first=""
    )
    for reasons, names in shared.items():
        lines += _wrap(", ".join(names) + ":", width, indent="    ", first="  ")
        for text, found in reasons:
            lines += _wrap(f"{text} ({_some(list(found))})", width, indent="        ", first="    ")
    if explained:
        lines += ["", "what they mean and what to do:"]
        for family in explained.values():
            lines += _wrap(f"{family.label}: {family.cause}. Do: {family.action}.", width, indent="    ", first="  ")
    return lines + [""]


def _reason(document: dict, attempt: dict) -> tuple:
    """``(key, kind, text)`` of a failed attempt; ``(None, None, None)`` for the rest."""
    verdict = attempt["verdict"]
    if verdict in (Verdict.CRASH.value, Verdict.TIMEOUT.value):
        text = f"{SYMBOLS[verdict]}: {attempt.get('reason') or verdict}"
        return text, "other", text
    if verdict != Verdict.ERROR.value:
        return None, None, None
    family = families.classify_attempt(document, attempt)
    if family is not None:
        return family.id, "family", family.label
    error = attempt.get("error") or {}
    # Never hidden: the raw message, for the reader to judge.
    text = f"unclassified: {_first_line(error.get('message'))}"
    return f"{error.get('type')}: {text}", "raw", text


def _reason_line(types, text: str) -> str:
    kinds = ", ".join(kind for kind in types if kind)
    return f"{kinds}: {text}" if kinds else text


def _first_line(message) -> str:
    text = " ".join(str(message or "").split())
    return text if len(text) <= 160 else text[:157] + "..."


def _some(fixtures: list[str]) -> str:
    named = ", ".join(fixtures[:EXAMPLES])
    return named if len(fixtures) <= EXAMPLES else f"{named} +{len(fixtures) - EXAMPLES} more"


def _recipes(grouped, order: list[str], strategies: list[dict], label, width: int) -> list[str]:
    chosen: OrderedDict = OrderedDict()
    for (producer, fixture), row in grouped.items():
        best = summary.best_strategy(row, order)
        if best:
            chosen.setdefault(best, []).append((label(producer, fixture), row[best].get("recipe"), _failed(row)))
    if not chosen:
        return []
    tiers = {s["name"]: s.get("tier") for s in strategies}
    lines = _wrap(
        "recipes of the recommended strategies (each fixture's own is in the results file, attempts[].recipe):",
        width,
        indent="  ",
        first="",
    )
    for name in sorted(chosen, key=order.index):
        found = chosen[name]
        fixtures = _some([fixture for fixture, _, _ in found])
        # The example is a fixture that needed it: one where a preferred strategy failed.
        ranked = sorted(found, key=lambda item: not item[2])
        example = next(((fixture, recipe) for fixture, recipe, _ in ranked if recipe), None)
        if tiers.get(name) == summary.AS_IS or example is None:
            lines += _wrap(f"{name}, for {fixtures}: works as it is", width, indent="    ", first="  ")
            continue
        lines += _wrap(f"{name}, for {fixtures}; as written for {example[0]}:", width, indent="    ", first="  ")
        lines += ["      " + line for line in example[1].splitlines()]
    return lines + [""]


def _failed(row: dict) -> bool:
    return any(
        a["verdict"] in (Verdict.ERROR.value, Verdict.CRASH.value, Verdict.TIMEOUT.value, Verdict.MISMATCH.value)
        for a in row.values()
    )


def _footer(document: dict, results_path, width: int) -> list[str]:
    consumer = (document.get("consumer") or {}).get("id") or document["run"]["consumer"]
    where = str(results_path) if results_path else f"reports/results/{consumer}.json (unless --output named another)"
    if results_path and not Path(results_path).exists():
        where += " (not written: nothing was measured)"
    counts: dict[str, int] = {}
    for attempt in document["attempts"]:
        counts[attempt["verdict"]] = counts.get(attempt["verdict"], 0) + 1
    lines = _wrap(f"results: {where}", width, indent="  ", first="")
    lines += _wrap(
        "report: `compat report` updates reports/matrix.json, matrix.html and matrix.md from the "
        "results files, with every recipe and every error in full",
        width,
        indent="  ",
        first="",
    )
    lines += _wrap(
        "verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), width, indent="  ", first=""
    )
    return lines
