"""The ``matrix.json`` document on disk: written compactly, read back whole.

A full matrix holds tens of thousands of attempts, but only a few hundred distinct
recipes, error records and not-applicable reasons; written out in every attempt they
were most of the file. On disk (``schema: "compat.matrix/3"``) each distinct value is
stored once, in ``strings.<field>s``, and an attempt holds its index there. Attempts are
grouped under ``loads``, one line per fixture in one consumer (``consumer``, ``producer``,
``fixture`` said once, then ``attempts``: each strategy's attempt under its name, in the
order they ran), so a rebuilt matrix diffs line by line. What the line already says is
not repeated: an attempt's variant and format are its fixture id (``variant-format``), and
a not-applicable attempt, which holds nothing but its reason, is that reason's index
alone. ``read`` gives back the document with every attempt whole, which is all the rest
of the project ever sees.
"""
from __future__ import annotations

import json
from pathlib import Path

from compat import results
from compat.verdicts import Verdict

SCHEMA = "compat.matrix/3"
INTERNED = ("recipe", "error", "reason")


def _compact(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


GROUP_KEYS = ("consumer", "producer", "fixture")
NOT_APPLICABLE = Verdict.NOT_APPLICABLE.value


def text(matrix: dict) -> str:
    """The on-disk text of a whole matrix document (deterministic for equal input)."""
    tables: dict[str, list] = {f"{field}s": [] for field in INTERNED}
    index: dict[str, dict[str, int]] = {field: {} for field in INTERNED}
    groups: list[dict] = []
    for attempt in matrix["attempts"]:
        packed = dict(attempt)
        if packed.get("fixture") == f"{packed.get('variant')}-{packed.get('format')}":
            del packed["variant"], packed["format"]  # the fixture id says both
        for field in INTERNED:
            if field in packed:
                key = _compact(packed[field])
                if key not in index[field]:
                    index[field][key] = len(tables[f"{field}s"])
                    tables[f"{field}s"].append(packed[field])
                packed[field] = index[field][key]
        where = {key: packed.pop(key, None) for key in GROUP_KEYS}
        strategy = packed.pop("strategy")  # every merged attempt has one (report checks)
        if set(packed) == {"verdict", "reason"} and packed["verdict"] == NOT_APPLICABLE:
            packed = packed["reason"]
        # A strategy seen twice in one load (never in a merged matrix) starts a new line.
        if not groups or any(groups[-1][key] != where[key] for key in GROUP_KEYS) \
                or strategy in groups[-1]["attempts"]:
            groups.append(dict(where, attempts={}))
        groups[-1]["attempts"][strategy] = packed
    rest = {key: value for key, value in matrix.items() if key != "attempts"}
    rest["schema"] = SCHEMA
    rest["strings"] = tables
    head = json.dumps(rest, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
    # "loads" (one fixture in one consumer per line) goes first, then the rest, indented.
    body = ",\n".join(_group_line(group) for group in groups)
    return "{\n \"loads\": [\n" + body + ("\n" if groups else "") + " ],\n" + head[2:] + "\n"


def _group_line(group: dict) -> str:
    """Where first (consumer, producer, fixture), then the attempts: a line reads left to right."""
    where = ",".join(f"{_compact(key)}:{_compact(group[key])}" for key in GROUP_KEYS)
    # Strategies stay in the order they ran; only the fields within an attempt are sorted.
    attempts = ",".join(f"{_compact(name)}:{_compact(value)}" for name, value in group["attempts"].items())
    return "{" + where + ',"attempts":{' + attempts + "}}"


def expand(document: dict, error=results.ResultsError, where: str = "") -> dict:
    """The document as ``text`` was given it: every attempt whole, in its place."""
    tables = document.get("strings") or {}
    whole = {key: value for key, value in document.items() if key not in ("strings", "loads")}
    attempts = []
    try:
        for group in document["loads"]:
            for strategy, packed in group["attempts"].items():
                if isinstance(packed, int):
                    packed = {"verdict": NOT_APPLICABLE, "reason": packed}
                attempt = dict(packed, strategy=strategy)
                for key in GROUP_KEYS:
                    if group.get(key) is not None:
                        attempt[key] = group[key]
                if "variant" not in attempt:
                    attempt["variant"], attempt["format"] = attempt["fixture"].split("-", 1)
                for field in INTERNED:
                    if field in attempt:
                        attempt[field] = tables[f"{field}s"][attempt[field]]
                attempts.append(attempt)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise error(f"{where}: a load refers to something the document lacks ({exc!r})") from None
    whole["attempts"] = attempts
    return whole


def read(path, error=results.ResultsError, label: str = "") -> dict:
    """A ``matrix.json`` read back whole, or one line saying why it cannot be used."""
    document = results.read_document(path, SCHEMA, error, label)
    return expand(document, error, f"{label}{Path(path)}")
