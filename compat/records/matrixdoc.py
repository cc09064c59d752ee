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
alone. Recipes of different fixtures differ only in the lines naming their files
(``compat.records.recipetext``), so each distinct rest is stored once too, in
``strings.recipe_templates``, and a recipe is ``[template index, [path values]]``
(``compat.matrix/3`` stored whole texts, and still reads). The fields every measured
attempt carries are stored under short names (``STORED_NAMES``: ``v`` verdict, ``d`` max
|difference|, ``tl``/``tp`` load and predict seconds, ...); at tens of thousands of
attempts their full names were a fifth of the file. ``read`` gives back the document with
every attempt whole (each one ``compat.records.attempt.Attempt.to_dict``), which is all the
rest of the project ever sees.

Content keys (``compat.records.attemptkey``) are stored per load line, not per attempt: a line's
attempts share their lock, fixture and reference digests, and the attempts of one strategy
share a code digest across lines. ``keys.locks`` and ``keys.inputs`` (``[fixture,
reference]`` pairs) hold each distinct digest once, ``keys.codes`` each distinct map of
strategy -> code digest, and a line holds ``"key": [lock, inputs, codes]`` indices. A
strategy missing from its line's code map, or a line without ``key``, was recorded without
a key (``compat.matrix/3`` had none, and still reads).
"""

from __future__ import annotations

import json
from pathlib import Path

from compat.records import attemptkey, recipetext, results
from compat.records.verdicts import Verdict

SCHEMA = "compat.matrix/4"
READABLE = ("compat.matrix/3", SCHEMA)
INTERNED = ("recipe", "error", "reason")


def _compact(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


GROUP_KEYS = ("consumer", "producer", "fixture")
STORED_NAMES = {
    "verdict": "v",
    "max_abs_diff": "d",
    "cosine": "cos",
    "load_seconds": "tl",
    "predict_seconds": "tp",
    "recipe": "r",
    "error": "e",
    "code_executed": "ran",
    "code_executed_by_predict": "ran_by_predict",
}
FULL_NAMES = {short: name for name, short in STORED_NAMES.items()}
NOT_APPLICABLE = Verdict.NOT_APPLICABLE.value


class _Interned:
    """Distinct values in order of first use, each with its index."""

    def __init__(self):
        self.values: list = []
        self.index: dict[str, int] = {}

    def add(self, value) -> int:
        key = _compact(value)
        if key not in self.index:
            self.index[key] = len(self.values)
            self.values.append(value)
        return self.index[key]


def _line_inputs(key) -> tuple | None:
    """What every attempt of a load line shares: lock, fixture and reference digests."""
    if not attemptkey.complete(key):
        return None
    return key["lock"], key["fixture"], key["reference"]


def text(matrix: dict) -> str:
    """The on-disk text of a whole matrix document (deterministic for equal input)."""
    tables = {field: _Interned() for field in INTERNED}
    templates = _Interned()
    groups: list[dict] = []
    for attempt in matrix["attempts"]:
        packed = dict(attempt)
        if packed.get("fixture") == f"{packed.get('variant')}-{packed.get('format')}":
            del packed["variant"], packed["format"]  # the fixture id says both
        if "recipe" in packed:
            template, paths = recipetext.split(packed["recipe"])
            packed["recipe"] = [templates.add(template), paths]
        for field in INTERNED:
            if field in packed:
                packed[field] = tables[field].add(packed[field])
        where = {key: packed.pop(key, None) for key in GROUP_KEYS}
        strategy = packed.pop("strategy")  # every merged attempt has one (report checks)
        key = packed.pop("key", None)
        inputs = _line_inputs(key)
        if set(packed) == {"verdict", "reason"} and packed["verdict"] == NOT_APPLICABLE:
            packed = packed["reason"]
        else:
            packed = {STORED_NAMES.get(name, name): value for name, value in packed.items()}
        # A strategy seen twice in one load (never in a merged matrix), or other inputs, starts
        # a new line.
        last = groups[-1] if groups else None
        if (
            last is None
            or any(last[k] != where[k] for k in GROUP_KEYS)
            or strategy in last["attempts"]
            or (inputs and last["inputs"] and inputs != last["inputs"])
        ):
            groups.append(dict(where, attempts={}, inputs=None, codes={}))
        groups[-1]["attempts"][strategy] = packed
        if inputs:
            groups[-1]["inputs"] = inputs
            groups[-1]["codes"][strategy] = key["code"]
    keys = {"locks": _Interned(), "inputs": _Interned(), "codes": _Interned()}
    for group in groups:
        if group["inputs"]:
            lock, fixture, reference = group["inputs"]
            group["key"] = [
                keys["locks"].add(lock),
                keys["inputs"].add([fixture, reference]),
                keys["codes"].add(group["codes"]),
            ]
    rest = {key: value for key, value in matrix.items() if key != "attempts"}
    rest["schema"] = SCHEMA
    rest["strings"] = {f"{field}s": tables[field].values for field in INTERNED}
    rest["strings"]["recipe_templates"] = templates.values
    if keys["locks"].values:
        rest["keys"] = {name: table.values for name, table in keys.items()}
    head = json.dumps(rest, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
    # "loads" (one fixture in one consumer per line) goes first, then the rest, indented.
    body = ",\n".join(_group_line(group) for group in groups)
    return '{\n "loads": [\n' + body + ("\n" if groups else "") + " ],\n" + head[2:] + "\n"


def _group_line(group: dict) -> str:
    """Where first (consumer, producer, fixture), then its key, then the attempts: a line reads
    left to right."""
    where = ",".join(f"{_compact(key)}:{_compact(group[key])}" for key in GROUP_KEYS)
    if group.get("key"):
        where += ',"key":' + _compact(group["key"])
    # Strategies stay in the order they ran; only the fields within an attempt are sorted.
    attempts = ",".join(f"{_compact(name)}:{_compact(value)}" for name, value in group["attempts"].items())
    return "{" + where + ',"attempts":{' + attempts + "}}"


def _line_keys(document: dict, group: dict) -> dict:
    """Strategy -> key for the keyed attempts of one on-disk load line."""
    if "key" not in group:
        return {}
    tables = document["keys"]
    lock_index, inputs_index, codes_index = group["key"]
    lock = tables["locks"][lock_index]
    fixture, reference = tables["inputs"][inputs_index]
    return {
        strategy: {"lock": lock, "fixture": fixture, "reference": reference, "code": code}
        for strategy, code in tables["codes"][codes_index].items()
    }


def attempt_seconds(attempt: dict) -> float | str:
    """What an attempt cost, as its record tells: load + predict seconds where timed, 0 where the
    strategy did not apply (nothing loaded), else its verdict (a load that failed before it was timed)."""
    if attempt.get("verdict") == NOT_APPLICABLE:
        return 0.0
    timed = (attempt.get("load_seconds") or 0.0) + (attempt.get("predict_seconds") or 0.0)
    return timed if timed else str(attempt.get("verdict"))


def recorded(document: dict, consumer: str | None = None) -> dict:
    """(consumer, producer, fixture, strategy) -> (key or None, what the attempt cost as
    ``attempt_seconds`` gives it), read straight from an on-disk document, without expanding its attempts."""
    found = {}
    for group in document.get("loads") or []:
        if consumer is not None and group.get("consumer") != consumer:
            continue
        keys = _line_keys(document, group)
        for strategy, packed in group["attempts"].items():
            packed = (
                {FULL_NAMES.get(name, name): value for name, value in packed.items()}
                if isinstance(packed, dict)
                else {}
            )
            found[(group["consumer"], group["producer"], group["fixture"], strategy)] = (
                keys.get(strategy),
                attempt_seconds(packed or {"verdict": NOT_APPLICABLE}),
            )
    return found


def expand(document: dict, error=results.ResultsError, where: str = "") -> dict:
    """The document as ``text`` was given it: every attempt whole, in its place."""
    tables = document.get("strings") or {}
    whole = {key: value for key, value in document.items() if key not in ("strings", "loads", "keys")}
    attempts = []
    try:
        for group in document["loads"]:
            keys = _line_keys(document, group)
            for strategy, packed in group["attempts"].items():
                if isinstance(packed, int):
                    packed = {"verdict": NOT_APPLICABLE, "reason": packed}
                attempt = {FULL_NAMES.get(name, name): value for name, value in packed.items()}
                attempt["strategy"] = strategy
                for key in GROUP_KEYS:
                    if group.get(key) is not None:
                        attempt[key] = group[key]
                if "variant" not in attempt:
                    attempt["variant"], attempt["format"] = attempt["fixture"].split("-", 1)
                for field in INTERNED:
                    if field in attempt:
                        attempt[field] = tables[f"{field}s"][attempt[field]]
                if isinstance(attempt.get("recipe"), list):
                    template, paths = attempt["recipe"]
                    attempt["recipe"] = recipetext.join(tables["recipe_templates"][template], paths)
                if strategy in keys:
                    attempt["key"] = keys[strategy]
                attempts.append(attempt)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise error(f"{where}: a load refers to something the document lacks ({exc!r})") from None
    whole["attempts"] = attempts
    return whole


def read(path, error=results.ResultsError, label: str = "") -> dict:
    """A ``matrix.json`` read back whole, or one line saying why it cannot be used."""
    document = results.read_document(path, READABLE, error, label)
    return expand(document, error, f"{label}{Path(path)}")
