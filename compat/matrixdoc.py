"""The ``matrix.json`` document on disk: written compactly, read back whole.

A full matrix holds tens of thousands of attempts, but only a few hundred distinct
recipes, error records and not-applicable reasons; written out in every attempt they
were most of the file. On disk (``schema: "compat.matrix/2"``) each distinct value is
stored once, in ``strings.<field>s``, and an attempt holds its index there; an attempt's
variant and format are left to its fixture id (``variant-format``). Attempts are written
one per line, so a rebuilt matrix diffs line by line. ``read`` gives back the
document with every attempt whole, which is all the rest of the project ever sees.
"""
from __future__ import annotations

import json
from pathlib import Path

from compat import results

SCHEMA = "compat.matrix/2"
INTERNED = ("recipe", "error", "reason")


def _compact(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def text(matrix: dict) -> str:
    """The on-disk text of a whole matrix document (deterministic for equal input)."""
    tables: dict[str, list] = {f"{field}s": [] for field in INTERNED}
    index: dict[str, dict[str, int]] = {field: {} for field in INTERNED}
    lines = []
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
        lines.append(_compact(packed))
    rest = {key: value for key, value in matrix.items() if key != "attempts"}
    rest["schema"] = SCHEMA
    rest["strings"] = tables
    head = json.dumps(rest, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
    # "attempts" sorts first, so the document opens with them, one per line.
    body = ",\n".join(lines)
    return "{\n \"attempts\": [\n" + body + ("\n" if lines else "") + " ],\n" + head[2:] + "\n"


def expand(document: dict, error=results.ResultsError, where: str = "") -> dict:
    """The document as ``text`` was given it: every attempt with its strings in place."""
    tables = document.get("strings") or {}
    whole = {key: value for key, value in document.items() if key != "strings"}
    attempts = []
    try:
        for attempt in document["attempts"]:
            attempt = dict(attempt)
            if "variant" not in attempt:
                attempt["variant"], attempt["format"] = attempt["fixture"].split("-", 1)
            for field in INTERNED:
                if field in attempt:
                    attempt[field] = tables[f"{field}s"][attempt[field]]
            attempts.append(attempt)
    except (KeyError, IndexError, TypeError) as exc:
        raise error(f"{where}: an attempt refers to a string the document lacks ({exc})") from None
    whole["attempts"] = attempts
    return whole


def read(path, error=results.ResultsError, label: str = "") -> dict:
    """A ``matrix.json`` read back whole, or one line saying why it cannot be used."""
    document = results.read_document(path, SCHEMA, error, label)
    return expand(document, error, f"{label}{Path(path)}")
