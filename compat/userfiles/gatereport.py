"""The gate's result as people and CI systems read it: plain text, JUnit XML, Markdown.

All three are rendered from the one document ``compat.userfiles.gate.build_document`` makes, so
they never disagree. JUnit: one test case per model; a regression is a ``<failure>``
whose message names the strategy that works today, the one to switch to and the error
that stopped the first; a model that loads under neither environment is ``<skipped>``
with the first error under each, and a file that is not a loadable model with its
diagnosis. Markdown: a summary fit for a pull-request comment. What they say of an error
is plain text (``hints.plain``), whatever control codes the error carried.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from compat.environments import adhoc
from compat.records import change
from compat.records.change import Change
from compat.userfiles import hints

RUNTIME_NAMES = (("python", "Python"), ("tensorflow", "TF"), ("keras", "Keras"), ("jax", "JAX"))


def stack(side: dict) -> str:
    """``tf215 (Python 3.11.9, TF 2.15.1, Keras 2.15.0)``; an ad-hoc one also shows its spec."""
    runtime = side.get("runtime") or {}
    versions = ", ".join(f"{name} {runtime[key]}" for key, name in RUNTIME_NAMES if runtime.get(key))
    versions = versions or adhoc.describe(side.get("lock") or {})
    name = f"{side['id']} = {side['spec']}" if side.get("spec") else side["id"]
    return f"{name} ({versions})" if versions else name


def why(entry: dict, limit: int = 200) -> str:
    """What the way that works today does under the new environment, in one line."""
    outcome = entry.get("old_best_under_new") or {}
    if outcome.get("verdict") == "mismatch":
        return "different numbers (" + _numbers(outcome) + ")"
    family = outcome.get("family")
    if family:  # the known cause, named: the raw message is in the details
        return f"{outcome.get('error_type')}: {family['label']}"
    return hints.shorten(outcome.get("error") or outcome.get("reason") or outcome.get("verdict") or "", limit)


def _numbers(outcome: dict) -> str:
    if outcome.get("detail"):
        return outcome["detail"]
    diff, cosine = outcome.get("max_abs_diff"), outcome.get("cosine")
    return f"max |diff| {_g(diff)}, cosine {_g(cosine, 6)}"


def _g(value, digits: int = 3) -> str:
    return "?" if value is None else f"{value:.{digits}g}"


def headline(entry: dict, old: str, new: str, limit: int = 200) -> str:
    """One line per model: the old and new strategy and, for a regression, what went wrong."""
    if entry.get("skipped"):
        return entry["skipped"]
    change, best = entry["change"], entry["old_best"]
    switch = (entry.get("switch_to") or {}).get("strategy")
    if change == Change.SWITCH:
        return f"{best} under {old} -> {switch} under {new}: {why(entry, limit)}"
    if change == Change.STOPPED:
        return f"{best} under {old} -> nothing loads under {new}: {why(entry, limit)}"
    if change == Change.NUMBERS:
        outcome = entry.get("old_best_under_new") or {}
        if outcome.get("verdict") == "mismatch":
            return f"{best} loads under {new} but gives different numbers ({_numbers(outcome)})"
        return f"{', '.join(entry['wrong_numbers'])} now give different numbers under {new} ({best} still matches)"
    if change == Change.IMPROVED:
        return f"{best} under {old}; under {new} {entry['new_best']} works too"
    if change == Change.STARTED:
        return f"nothing loads under {old}; {entry['new_best']} under {new}"
    if change == Change.STILL_BROKEN:
        return f"nothing loads under {old} nor under {new}"
    if change == Change.NOT_COMPARED:
        return entry.get("detail") or "not compared"
    return f"{best} under both"


def _recipe(entry: dict) -> str:
    switch = entry.get("switch_to") or {}
    return switch.get("recipe") or ""


# -- text ----------------------------------------------------------------------------------


def text(document: dict) -> str:
    old, new = document["from"]["id"], document["to"]["id"]
    models, counts = document["models"], document["counts"]
    regressed = len(document["regressed"])
    lines = [
        f"regress {old} -> {new} over {len(models)} models: {regressed} regressed"
        + "".join(f", {counts[c]} {c.replace('_', ' ')}" for c in counts if counts[c] and not change.is_regression(c)),
        f"  from {stack(document['from'])}",
        f"  to   {stack(document['to'])}",
    ]
    if document["same_environment"]:
        lines.append("  (the same environment: measured once)")
    if document.get("isolation"):
        lines.append(f"  isolation: {document['isolation']}")
    width = max(len(m["path"]) for m in models)
    for entry in models:
        mark = "REGRESSED" if entry["regressed"] else "SKIPPED" if entry.get("skipped") else "ok"
        said = entry["skipped"] if entry.get("skipped") else f"{entry['label']}: {headline(entry, old, new)}"
        lines.append(f"{mark:9} {entry['path'].ljust(width)}  {said}")
        lines.append(f"{'':9} {''.ljust(width)}  code: {entry.get('code', 'not scanned')}")
        if entry["change"] == Change.SWITCH:
            lines.extend("          " + line for line in _recipe(entry).splitlines())
    for item in document["diagnosed"]:
        lines.append(f"{'SKIPPED':9} {item['line']}")
    timing = document["timing"]
    lines.append(f"{timing['loads']} loads, {timing['tensorflow_imports']} TensorFlow imports, {timing['seconds']}s")
    return hints.plain("\n".join(lines))


# -- JUnit XML -----------------------------------------------------------------------------


def junit(document: dict) -> str:
    old, new = document["from"]["id"], document["to"]["id"]
    models = document["models"]
    suite_name = f"compat regress {old} -> {new}"
    failures = len(document["regressed"])
    skipped = len(document["diagnosed"]) + sum(bool(m.get("skipped")) for m in models)
    tests = len(models) + skipped
    counts = {
        "tests": str(tests),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{document['timing']['seconds']:.1f}",
    }
    root = ET.Element("testsuites", {"name": "compat regress", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts})
    properties = ET.SubElement(suite, "properties")
    for side in ("from", "to"):
        record = document[side]
        ET.SubElement(properties, "property", name=side, value=stack(record))
        ET.SubElement(properties, "property", name=f"{side}.lock_digest", value=record.get("lock_digest") or "")
    classname = f"compat.harness.regress.{old}-to-{new}"
    for entry in models:
        case = ET.SubElement(
            suite, "testcase", classname=classname, name=entry["path"], time=f"{entry.get('seconds', 0):.2f}"
        )
        ET.SubElement(ET.SubElement(case, "properties"), "property", name="code", value=entry.get("code", ""))
        if entry["regressed"]:
            failure = ET.SubElement(case, "failure", type=entry["change"], message=headline(entry, old, new))
            failure.text = _failure_body(entry, old, new)
        elif entry.get("skipped"):
            ET.SubElement(case, "skipped", message=entry["skipped"])
        else:
            ET.SubElement(case, "system-out").text = f"{entry['label']}: {headline(entry, old, new)}"
    for item in document["diagnosed"]:
        case = ET.SubElement(suite, "testcase", classname=classname, name=item["path"], time="0")
        ET.SubElement(case, "skipped", message=item["line"])
    ET.indent(root)
    text = hints.plain(ET.tostring(root, encoding="unicode"))  # XML 1.0 allows no control characters
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def _failure_body(entry: dict, old: str, new: str) -> str:
    outcome = entry.get("old_best_under_new") or {}
    lines = [f"{entry['label']}: {headline(entry, old, new)}"]
    if outcome.get("error"):
        lines.append(f"{entry['old_best']} under {new}: {outcome['error']}")
    if outcome.get("family"):
        lines.append(f"what to do: {outcome['family']['action']}")
    lines += [f"reference: {entry['reference']}", f"input: {entry['input']}"]
    if entry.get("old_recipe"):
        lines += ["", f"today ({old}):"] + ["    " + line for line in entry["old_recipe"].splitlines()]
    if entry["change"] == Change.SWITCH:
        lines += ["", f"switch to ({new}):"] + ["    " + line for line in _recipe(entry).splitlines()]
    return "\n".join(lines)


# -- Markdown ------------------------------------------------------------------------------


def markdown(document: dict) -> str:
    old, new = document["from"]["id"], document["to"]["id"]
    models = document["models"]
    regressed = len(document["regressed"])
    verdict = (
        f"{regressed} of {len(models)} models regressed" if regressed else f"none of {len(models)} models regressed"
    )
    lines = [f"### compat regress {old} → {new}: {verdict}", "", "| | environment | resolved |", "|---|---|---|"]
    for side in ("from", "to"):
        record = document[side]
        name = f"`{record['id']}`" + (f" `{record['spec']}`" if record.get("spec") else "")
        lines.append(f"| {side} | {name} | {_cell(stack(record).split(' (', 1)[-1].rstrip(')'))} |")
    lines += ["", f"| model | today ({old}) | after ({new}) | |", "|---|---|---|---|"]
    for entry in models:
        after = entry.get("new_best") or "nothing"
        mark = "**regressed**: " if entry["regressed"] else ""
        said = f"skipped: {_cell(entry['skipped'])}" if entry.get("skipped") else entry["label"]
        lines.append(f"| `{_cell(entry['path'])}` | {entry['old_best'] or 'nothing'} | {after} | {mark}{said} |")
    lines += ["", "Stored code (`compat scan`):", ""] + [
        f"- `{_cell(e['path'])}`: {_cell(e.get('code', ''))}" for e in models
    ]
    for entry in models:
        if not entry["regressed"]:
            continue
        lines += [
            "",
            "<details><summary><code>"
            + _html(entry["path"])
            + "</code>: "
            + _html(headline(entry, old, new))
            + "</summary>",
            "",
        ]
        if entry["change"] == Change.SWITCH:
            lines += [
                f"Switch to `{entry['switch_to']['strategy']}` under `{new}`:",
                "",
                "```python",
                _recipe(entry),
                "```",
            ]
        else:
            lines.append(_html(why(entry)) or entry["label"])
        family = (entry.get("old_best_under_new") or {}).get("family")
        if family:
            lines += ["", f"{_html(family['label'])}: {_html(family['action'])}"]
        lines += ["", "</details>"]
    if document["diagnosed"]:
        lines += ["", "Not gated (not a loadable model):", ""]
        lines += [f"- `{_cell(item['path'])}`: {_cell(item['diagnosis'])}" for item in document["diagnosed"]]
    timing = document["timing"]
    footer = f"{timing['loads']} loads, {timing['tensorflow_imports']} TensorFlow imports, {timing['seconds']}s"
    lines += ["", f"<sub>{footer}</sub>", ""]
    return hints.plain("\n".join(lines))


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
