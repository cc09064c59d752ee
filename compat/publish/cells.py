"""What each part of the published matrix shows, decided here so templates only print.

A *fixture outcome* is one (producer, consumer, fixture) with every strategy's attempt;
``compat.records.summary`` turns it into a category and a best strategy. A *cell* is a
producer x consumer pair: the outcomes of its fixtures that match the variant / format
filter, aggregated. Every rule lives here: ``compat.publish.pagedata`` applies them for every
filter the page offers and the script in ``templates/matrix.js`` only lays out what it
receives, by name; the browser test checks that the page shows what these functions say.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from compat.inside.generate import VARIANT_FORMATS
from compat.inside.savers import FORMAT_LABELS, FORMATS, TF1_FORMATS
from compat.records import strategyinfo, summary

CATEGORIES = list(summary.CATEGORY_LABELS)
WORKING = (summary.AS_IS, summary.FLAG, summary.WEIGHTS)
# The words a cell shows when the filter leaves a single fixture in it.
SHORT_LABELS = {
    summary.AS_IS: "as it is",
    summary.FLAG: "without the model's code",
    summary.WEIGHTS: "with the model's code",
    summary.WRONG_NUMBERS: "WRONG NUMBERS",
    summary.NOTHING: "nothing works",
    summary.NOT_TRIED: "not tried",
}
VARIANTS = tuple(VARIANT_FORMATS)  # the reported set's cases come after them, in name order
VARIANT_LABELS = {
    "builtin": "built-in layers only",
    "lambda": "Lambda layers (as facenet_keras.h5)",
    "custom": "custom layer classes",
    "compiled": "compiled, with optimizer state",
    "canary": "Lambda that leaves a marker when its code runs",
    "canarymodule": "crafted .keras naming a module function (CVE-2025-1550's form)",
    "tf1graph": "TF 1 graph files, as FaceNet's own (frozen .pb, checkpoint)",
    # The reported set (fixtures/corpus/reported): small models with what users report failing.
    "depthwise_groups": "reported: MobileFaceNet block (DepthwiseConv2D, Conv2DTranspose: groups)",
    "tfoplambda": "reported: TF ops on Keras tensors (TFOpLambda)",
    "lambda_no_output_shape": "reported: Lambda without output_shape",
    "bilstm": "reported: video embedder, Bidirectional LSTM",
    "gru_keras212": "reported: GRU with Keras <= 2.2's defaults",
    "two_input_savedmodel": "reported: siamese verifier, two named inputs",
    "preprocessing_savedmodel": "reported: Rescaling and Normalization inside the model",
    "keras3_h5": "reported: a Keras 3 model saved as .h5",
}
MESSAGE_LIMIT = 240
"""Characters of an error's first line kept in the HTML; matrix.json keeps it whole."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    producer: str
    consumer: str
    fixture: str
    variant: str
    format: str
    category: str
    best: str | None
    corrupt: bool
    """Some strategy loaded this fixture and computed wrong numbers."""
    attempts: dict


# -- ordering ---------------------------------------------------------------------------
def _rank(value: str, known: tuple | list) -> tuple:
    """Known values in their canonical order, anything new after them alphabetically."""
    return (known.index(value), "") if value in known else (len(known), value)


def variant_rank(variant: str) -> tuple:
    return _rank(variant, VARIANTS)


def format_rank(fmt: str) -> tuple:
    return _rank(fmt, FORMATS + TF1_FORMATS)


def ordered_variants(values) -> list[str]:
    return sorted(set(values), key=variant_rank)


def ordered_formats(values) -> list[str]:
    return sorted(set(values), key=format_rank)


# -- outcomes and cells -----------------------------------------------------------------
def outcomes(matrix: dict) -> list[Outcome]:
    """Every (producer, consumer, fixture) in the matrix, judged by ``compat.records.summary``."""
    strategies = matrix["strategies"]
    by_consumer: dict[str, list[dict]] = {}
    for attempt in matrix["attempts"]:
        by_consumer.setdefault(attempt["consumer"], []).append(attempt)
    found = []
    for consumer, attempts in by_consumer.items():
        for (producer, fixture), row in summary.group_by_fixture(attempts).items():
            first = next(iter(row.values()))
            found.append(
                Outcome(
                    producer=producer,
                    consumer=consumer,
                    fixture=fixture,
                    variant=first["variant"],
                    format=first["format"],
                    category=summary.category(row, strategies),
                    best=summary.best_strategy(row, summary.strategy_order(strategies)),
                    corrupt=summary.has_silent_corruption(row),
                    attempts=row,
                )
            )
    return found


def matches(outcome: Outcome, variant: str | None = None, fmt: str | None = None) -> bool:
    return (not variant or outcome.variant == variant) and (not fmt or outcome.format == fmt)


def headline(counts: dict[str, int]) -> str:
    """The category most of the tried fixtures share; on a tie the worse one, to stay honest."""
    tried = [c for c in CATEGORIES if c != summary.NOT_TRIED]
    if not any(counts.get(c) for c in tried):
        return summary.NOT_TRIED
    return max(tried, key=lambda c: (counts.get(c, 0), CATEGORIES.index(c)))


def most_common_best(bests: list[str], order: list[str]) -> str | None:
    """The strategy that works for most fixtures; ties go to the registry's preferred one."""
    if not bests:
        return None
    tally = Counter(bests)
    return max(tally, key=lambda name: (tally[name], -_rank(name, order)[0]))


def aggregate(selected: list[Outcome], order: list[str]) -> dict:
    counts = {c: 0 for c in CATEGORIES}
    for outcome in selected:
        counts[outcome.category] += 1
    total = len(selected)
    tried = total - counts[summary.NOT_TRIED]
    if counts[summary.WRONG_NUMBERS]:
        flag = "wrong"
    elif any(o.corrupt for o in selected):
        flag = "mismatch"
    else:
        flag = ""
    return {
        "counts": counts,
        "total": total,
        "tried": tried,
        "working": sum(counts[c] for c in WORKING),
        "category": headline(counts),
        "best": most_common_best([o.best for o in selected if o.best], order),
        "flag": flag,
    }


FLAG_TITLES = {
    "wrong": "a fixture here loads but gives wrong numbers with every strategy that loads it",
    "mismatch": "some strategy loads a fixture here and silently gives wrong numbers",
}
MARKS = {
    summary.AS_IS: "\u2713",
    summary.FLAG: "\u2691",
    summary.WEIGHTS: "\u25d0",
    summary.WRONG_NUMBERS: "\u26a0",
    summary.NOTHING: "\u2717",
    summary.NOT_TRIED: "\u00b7",
}
"""A mark per category beside its colour, so no reading depends on colour alone."""
CELL_WORDS = {
    summary.AS_IS: "as it is",
    summary.FLAG: "flag",
    summary.WEIGHTS: "weights",
    summary.WRONG_NUMBERS: "WRONG",
    summary.NOTHING: "nothing",
    summary.NOT_TRIED: "not tried",
}
"""What a narrow cell says when the filter leaves one fixture in it."""


def short_strategy(name: str) -> str:
    """A strategy's name as a narrow cell prints it; the full name is in its title and panel."""
    return strategyinfo.label(name)


def cell_view(agg: dict, has_data: bool) -> dict:
    """Everything one cell shows, by name: the template and the script only print it."""
    category = agg["category"] if has_data and agg["total"] else "empty"
    best = short = ""
    if not has_data:
        count = says = "not run"
    elif agg["total"] == 0:
        count = says = "no fixture"
    elif agg["tried"] == 0:
        count = says = "not tried"
    else:
        best = agg["best"] or "none works"
        short = short_strategy(agg["best"]) if agg["best"] else "none"
        as_is = agg["counts"][summary.AS_IS]
        if agg["total"] == 1:
            count, says = CELL_WORDS[category], SHORT_LABELS[category]
        else:
            count = f"{as_is}/{agg['total']} as is"
            says = (
                f"{agg['total']} fixtures, {as_is} load as they are, {agg['working']} load at all, "
                f"mostly {SHORT_LABELS[category]}"
            )
        if agg["best"]:
            says += f", best strategy {best}"
    if agg["flag"]:
        says += ", warning: " + FLAG_TITLES[agg["flag"]]
    return {
        "category": category,
        "mark": MARKS.get(category, ""),
        "best": best,
        "short": short,
        "works": bool(agg["best"]),
        "count": count,
        "flag": agg["flag"],
        "flag_mark": {"wrong": "\u26a0", "mismatch": "!"}.get(agg["flag"], ""),
        "flag_title": FLAG_TITLES.get(agg["flag"], ""),
        "says": says,
        "segments": bar_segments(agg["counts"], agg["total"]),
    }


def bar_segments(counts: dict[str, int], total: int) -> list[dict]:
    """Every category's share of the cell's fixtures, as a CSS width."""
    return [
        {"category": c, "width": f"{100.0 * counts.get(c, 0) / total:.2f}%" if total else "0.00%"} for c in CATEGORIES
    ]


def markdown_text(view: dict) -> str:
    """One Markdown table cell: mark, the strategy in code style, the count; trouble in bold."""
    if view["works"]:
        text = f"{view['mark']} `{view['best']}` {view['count']}"
    elif view["best"]:
        text = (
            f"{view['mark']} **none works** ({view['count']})"
            if "/" in view["count"]
            else f"{view['mark']} **{view['count']}**"
        )
    else:
        text = view["count"]
    marks = {"wrong": " \u26a0", "mismatch": " !"}
    return (text + marks.get(view["flag"], "")).replace("|", "\\|")


def cell_label(producer: str, consumer: str, view: dict) -> str:
    """What a screen reader says for a cell button."""
    return f"{consumer} loading models made by {producer}: {view['says']}"


def column_head(selected: list[Outcome]) -> dict:
    """The headline of a consumer's column: the share of the selected fixtures that load as they are."""
    total = len(selected)
    as_is = sum(1 for o in selected if o.category == summary.AS_IS)
    if not total:
        return {"rate": "\u2013", "title": "no fixture matches the filter"}
    return {
        "rate": f"{round(100.0 * as_is / total)}%",
        "title": f"{as_is} of {total} fixture loads work as they are (plain load_model)",
    }


def column_heads(found: list[Outcome], consumers: list[str], variant=None, fmt=None) -> list[dict]:
    by_consumer: dict[str, list[Outcome]] = {c: [] for c in consumers}
    for outcome in found:
        if outcome.consumer in by_consumer and matches(outcome, variant, fmt):
            by_consumer[outcome.consumer].append(outcome)
    return [column_head(by_consumer[c]) for c in consumers]


def grid(
    matrix: dict, producers: list[str], consumers: list[str], variant=None, fmt=None, found: list[Outcome] | None = None
) -> list[dict]:
    """Rows of cells for the producers x consumers shown, under a filter."""
    order = summary.strategy_order(matrix["strategies"])
    pairs: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in found if found is not None else outcomes(matrix):
        pairs.setdefault((outcome.producer, outcome.consumer), []).append(outcome)
    rows = []
    for p_index, producer in enumerate(producers):
        shown = []
        for c_index, consumer in enumerate(consumers):
            pair = pairs.get((producer, consumer), [])
            view = cell_view(aggregate([o for o in pair if matches(o, variant, fmt)], order), bool(pair))
            shown.append(
                dict(
                    view,
                    p=p_index,
                    c=c_index,
                    consumer=consumer,
                    has_data=bool(pair),
                    label=cell_label(producer, consumer, view),
                    markdown=markdown_text(view),
                )
            )
        rows.append({"producer": producer, "cells": shown})
    return rows


def totals(found: list[Outcome], variant=None, fmt=None) -> dict[str, int]:
    """Fixture outcomes per category over the whole matrix, under a filter."""
    counts = {c: 0 for c in CATEGORIES}
    for outcome in found:
        if matches(outcome, variant, fmt):
            counts[outcome.category] += 1
    return counts


# -- per-strategy detail ----------------------------------------------------------------
def first_line(text: str | None, limit: int = MESSAGE_LIMIT) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def recipe_text(attempt: dict) -> str | None:
    """The code to copy: only for a strategy that really produced the right numbers."""
    if attempt.get("verdict") == "pass" and attempt.get("recipe"):
        return attempt["recipe"]
    return None


def detail_row(attempt: dict) -> dict:
    """One strategy's line in the detail panel."""
    error = attempt.get("error") or {}
    verdict = attempt["verdict"]
    if error:
        kind, message = error.get("type") or "error", error.get("message")
    elif verdict == "crash":
        kind, message = attempt.get("signal") or "crash", attempt.get("reason")
        tail = attempt.get("worker_log_tail")
        if tail and tail not in (message or ""):
            message = f"{message}: {tail}"
    elif verdict == "mismatch":
        kind, message = None, attempt.get("detail") or "the embeddings differ from the producer's"
    else:
        kind, message = None, attempt.get("reason")
    message = first_line(message) or None
    if attempt.get("unstable"):  # runs disagreed: a finding, shown before anything else
        message = f"unstable: runs measured {' and '.join(attempt['unstable'])}" + (f"; {message}" if message else "")
    return {
        "strategy": attempt["strategy"],
        "verdict": verdict,
        "type": kind,
        "message": message,
        "max_abs_diff": attempt.get("max_abs_diff"),
        "cosine": attempt.get("cosine"),
        "load_seconds": attempt.get("load_seconds"),
        "predict_seconds": attempt.get("predict_seconds"),
        "code_executed": attempt.get("code_executed"),
        "code_executed_by_predict": attempt.get("code_executed_by_predict"),
        "code_ran": code_ran_when(attempt) if isinstance(attempt.get("code_executed"), bool) else None,
        "recipe": recipe_text(attempt),
    }


def detail_rows(by_strategy: dict[str, dict], order: list[str]) -> list[dict]:
    """Every strategy tried on a fixture, in the registry's order of preference."""
    names = sorted(by_strategy, key=lambda name: _rank(name, order))
    return [detail_row(by_strategy[name]) for name in names]


# -- security ---------------------------------------------------------------------------
def security_table(matrix: dict, consumers: list[str]) -> dict:
    """Per consumer and strategy: did code stored in a ``canary`` file run, at load or at the
    first call (Keras 3 calls a Lambda only then)?"""
    seen: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for attempt in matrix["attempts"]:
        if is_canary(attempt) and isinstance(attempt.get("code_executed"), bool):
            seen.setdefault((attempt["consumer"], attempt["strategy"]), []).append(
                (f"{attempt['producer']} {attempt['fixture']}", code_ran_when(attempt))
            )
    names = [s["name"] for s in matrix["strategies"] if any(key[1] == s["name"] for key in seen)]
    rows: list[dict] = []
    for consumer in consumers:
        rows.append({"consumer": consumer, "cells": [security_cell(seen.get((consumer, name), [])) for name in names]})
    return {"strategies": names, "rows": [r for r in rows if any(c["state"] != "none" for c in r["cells"])]}


def is_canary(attempt: dict) -> bool:
    return str(attempt.get("variant", "")).startswith("canary")


def code_ran_when(attempt: dict) -> str:
    """``load``, ``call`` or ``no``: when the file's stored code ran in this attempt."""
    if attempt.get("code_executed"):
        return "load"
    return "call" if attempt.get("code_executed_by_predict") else "no"


def security_cell(observed: list[tuple[str, str]]) -> dict:
    if not observed:
        return {"state": "none", "text": "\u2014", "title": "no canary load measured"}
    at_load = sorted(label for label, when in observed if when == "load")
    at_call = sorted(label for label, when in observed if when == "call")
    if at_load or at_call:
        titles = ([f"at load: {', '.join(at_load)}"] if at_load else []) + (
            [f"at the first call: {', '.join(at_call)}"] if at_call else []
        )
        return {
            "state": "ran" if at_load else "ran-call",
            "text": f"ran {len(at_load) + len(at_call)}/{len(observed)}" + ("" if at_load else " at call"),
            "title": "code stored in the file ran " + "; ".join(titles),
        }
    return {
        "state": "blocked",
        "text": f"ran 0/{len(observed)}",
        "title": f"stored code did not run in {len(observed)} canary load(s)",
    }


# -- environments -----------------------------------------------------------------------
def env_versions(entry: dict) -> dict:
    return entry.get("versions") or {}


def env_label(entry: dict) -> str:
    """Short version line under an environment's id, e.g. ``TF 2.21.0 / Keras 3.15.1``."""
    versions = env_versions(entry)
    parts = []
    if versions.get("tensorflow"):
        parts.append(f"TF {versions['tensorflow']}")
    if entry.get("keras_api") == "tf.keras" and not versions.get("keras"):
        parts.append("tf.keras")
    elif versions.get("keras"):
        parts.append(f"Keras {versions['keras']}")
    if versions.get("jax") and not versions.get("tensorflow"):
        # TF 2.12's lock pulls JAX in as a dependency; only a JAX-backed Keras runs on it.
        parts.append(f"JAX {versions['jax']}")
    return " / ".join(parts)


def _major_minor(version) -> str:
    return ".".join(str(version or "").split(".")[:2])


def env_head(entry: dict) -> dict:
    """A column or row head: the id, the Python minor version and the stack, in a few characters.

    The Python version is shown because bytecode stored in a file (a Lambda) only loads
    under the minor version that wrote it.
    """
    versions = env_versions(entry)
    python = _major_minor(versions.get("python") or entry.get("python"))
    if versions.get("tensorflow"):
        stack = f"TF {_major_minor(versions['tensorflow'])}"
    else:  # standalone Keras (on JAX, the id says so)
        stack = f"Keras {_major_minor(versions.get('keras'))}"
    return {
        "id": entry["id"],
        "python": f"Py {python}" if python else "",
        "stack": stack,
        "label": env_label(entry),
        "summary": entry.get("summary", ""),
    }


def format_labels() -> dict[str, str]:
    return dict(FORMAT_LABELS)
