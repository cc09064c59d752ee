"""``compat regress --from OLD --to NEW``: what stops working when moving between environments.

For every fixture the recommended (best) strategy under the old consumer is checked
under the new one. A fixture regresses when that strategy stops working there, or when
any strategy that passed now loads wrong numbers (silent corruption is never a mere
note). For each regression the report names what to switch to under the new consumer,
with its recipe; fixtures that start working are listed too.

Both sides come from a merged ``matrix.json`` (``--baseline``) or from fresh consumer
runs. Exit status: 1 when anything regressed, 0 when nothing did, 2 for bad input,
3 when a run could not be completed.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from compat import catalog
from compat.environments import adhoc
from compat.errors import EXIT_OK, EXIT_REGRESSED, BadInput, choices, progress
from compat.harness import fixtures, runner
from compat.records import matrixdoc, results, summary
from compat.records.change import Change, compare_consumers
from compat.records.verdicts import Verdict

SCHEMA = "compat.regress/1"

PASS, MISMATCH = Verdict.PASS.value, Verdict.MISMATCH.value


class RegressError(BadInput):
    """Bad input to the regression check, in one line (exit status 2)."""


# -- the human summary ---------------------------------------------------------------------


def render(report: dict) -> str:
    old, new = report["from"]["consumer"], report["to"]["consumer"]
    counts = report["counts"]
    compared = sum(n for change, n in counts.items() if change != Change.NOT_COMPARED)
    lines = [
        f"regress {old} -> {new}: {compared} fixtures compared; {len(report['regressed'])} regressed, "
        f"{counts[Change.STARTED]} started working, {counts[Change.IMPROVED]} improved, "
        f"{counts[Change.UNCHANGED]} unchanged, {counts[Change.STILL_BROKEN]} still broken"
        + (f", {counts[Change.NOT_COMPARED]} not compared" if counts[Change.NOT_COMPARED] else "")
    ]
    for entry in report["regressed"]:
        lines.extend(_regression_lines(entry, old, new))
    for entry in report["started_working"]:
        lines.append(f"STARTS WORKING {_label(entry)}: {entry['new_best']} under {new}")
    for entry in report["improved"]:
        lines.append(f"IMPROVED {_label(entry)}: {entry['new_best']} now works (was {entry['old_best']})")
    lines.extend(_not_compared_lines(report["not_compared"]))
    return "\n".join(lines)


def _not_compared_lines(entries: list[dict]) -> list[str]:
    """One line per reason and producer: a baseline often covers far more on one side."""
    grouped: OrderedDict = OrderedDict()
    for entry in entries:
        grouped.setdefault(entry.get("detail"), OrderedDict()).setdefault(entry["producer"], []).append(entry)
    lines = []
    for detail, by_producer in grouped.items():
        for producer, items in by_producer.items():
            names = ", ".join(e["fixture"] for e in items[:4]) + (", ..." if len(items) > 4 else "")
            lines.append(f"not compared, {detail}: {producer} ({len(items)}: {names})")
    return lines


def _label(entry: dict) -> str:
    return f"{entry['producer']}/{entry['fixture']}"


def _regression_lines(entry: dict, old: str, new: str) -> list[str]:
    best = entry["old_best"]
    under_new = entry["old_best_under_new"] or {}
    if entry["change"] == Change.NUMBERS and under_new.get("verdict") == PASS:
        what = f"{', '.join(entry['wrong_numbers'])} now load wrong numbers ({best} still passes)"
    elif under_new.get("verdict") == MISMATCH:
        what = (
            f"{best} passed under {old}, loads WRONG numbers under {new} "
            f"(max |diff| {under_new.get('max_abs_diff')}, cosine {under_new.get('cosine')})"
        )
    else:
        why = under_new.get("error") or under_new.get("reason") or ""
        what = f"{best} passed under {old}, {under_new.get('verdict')} under {new}" + (f" ({why[:160]})" if why else "")
    lines = [f"REGRESSED {_label(entry)}: {what}"]
    switch = entry["switch_to"]
    if switch is None:
        lines.append(f"    nothing works under {new}")
    elif switch["strategy"] != best:
        lines.append(f"    switch to {switch['strategy']}:")
        lines.extend("        " + line for line in (switch["recipe"] or "").splitlines())
    return lines


# -- sources -------------------------------------------------------------------------------


def _wanted(attempt: dict, producers, variants, formats) -> bool:
    return (
        (producers is None or attempt["producer"] in producers)
        and (variants is None or attempt.get("variant") in variants)
        and (formats is None or attempt.get("format") in formats)
    )


# Both sides of a comparison come from the one --baseline file: read and expanded once.
_baseline = results.once_per_version(lambda path: matrixdoc.read(path, RegressError, "--baseline "))


def from_matrix(path: str, consumer: str, producers, variants, formats) -> dict:
    """One side read from a merged ``matrix.json``: ``{"attempts", "order", "source", "runtime"}``."""
    document = _baseline(path)
    mine = [a for a in document.get("attempts", []) if a.get("consumer") == consumer]
    if not mine:
        present = sorted({a.get("consumer") for a in document.get("attempts", [])} - {None})
        raise RegressError(
            f"--baseline {path} has no attempts of consumer {consumer} (it has: {', '.join(present) or 'none'})"
        )
    order = summary.strategy_order(document.get("strategies") or []) or _first_seen(mine)
    return {
        "attempts": [a for a in mine if _wanted(a, producers, variants, formats)],
        "order": order,
        "source": str(path),
        "runtime": _matrix_runtime(document, consumer),
    }


def _matrix_runtime(document: dict, consumer: str) -> dict | None:
    """The consumer's measured package versions from the matrix's ``catalog`` entries."""
    listed = document.get("catalog")
    entries = listed if isinstance(listed, list) else []
    entry = next((e for e in entries if isinstance(e, dict) and e.get("id") == consumer), None)
    return entry.get("runtime") if entry else None


def _first_seen(attempts: list[dict]) -> list[str]:
    return list(OrderedDict((a["strategy"], None) for a in attempts))


def fixture_plan(producers: list[str], variants, formats) -> dict[str, list[str]]:
    """``{producer: [fixture ids]}`` of the fixtures the filters select (producers with none dropped)."""
    plan = {}
    for producer in producers:
        manifest = fixtures.load_manifest(producer)
        chosen = [
            f["id"]
            for f in manifest["fixtures"]
            if (variants is None or f["variant"] in variants) and (formats is None or f["format"] in formats)
        ]
        if chosen:
            plan[producer] = chosen
    if not plan:
        raise RegressError(
            f"no fixture of {', '.join(producers)} matches variants {variants or 'any'} and formats {formats or 'any'}"
        )
    return plan


def fresh_run(consumer: catalog.Environment, plan: dict[str, list[str]], output: Path, log) -> dict:
    """One side measured now: a consumer run over the planned fixtures (catalog or ad hoc)."""
    ids = sorted({fid for chosen in plan.values() for fid in chosen})
    document = runner.open_run(consumer, list(plan), fixture_ids=ids, output=output, log=log).execute()
    wanted = {(p, fid) for p, chosen in plan.items() for fid in chosen}
    return {
        "attempts": [a for a in document["attempts"] if (a["producer"], a["fixture"]) in wanted],
        "order": summary.strategy_order(document["strategies"] or []),
        "source": str(output),
        "runtime": document["consumer"].get("runtime"),
    }


def output_path(old: str, new: str, consumer: str) -> Path:
    # A subfolder, so these partial runs never overwrite nor get merged with full `compat load` results.
    return runner.RESULTS_DIR / "regress" / f"{old}-to-{new}" / f"{consumer}.json"


# -- command -------------------------------------------------------------------------------


def build_report(old: str, new: str, old_side: dict, new_side: dict, filters: dict) -> dict:
    comparison = compare_consumers(old_side["attempts"], new_side["attempts"], old_side["order"], new_side["order"])
    regressed = bool(comparison["regressed"])
    return {
        "schema": SCHEMA,
        "from": {"consumer": old, "source": old_side["source"], "runtime": old_side["runtime"]},
        "to": {"consumer": new, "source": new_side["source"], "runtime": new_side["runtime"]},
        "filters": filters,
        "status": "regressed" if regressed else "ok",
        "exit_status": EXIT_REGRESSED if regressed else EXIT_OK,
        **comparison,
    }


def check_filters(variants, formats) -> None:
    """Variant and format names exist in some producer's manifest; a typo is refused."""
    manifests = [fixtures.load_manifest(p) for p in runner.resolve_producers(["all"])]
    for kind, chosen, key in (("variant", variants, "variant"), ("format", formats, "format")):
        known = sorted({f[key] for m in manifests for f in m["fixtures"]})
        unknown = set(chosen or ()) - set(known)
        if unknown:
            raise RegressError(choices(kind, unknown, known))


def compare(old_spec: str, new_spec: str, *, producers=None, variants=None, formats=None, baseline=None) -> dict:
    """The regression report from ``old_spec`` to ``new_spec`` (catalog ids or specs) over the
    project's fixtures, read from ``baseline`` (a matrix.json) or measured by fresh runs."""
    old_env, new_env = adhoc.environment(old_spec, log=progress), adhoc.environment(new_spec, log=progress)
    old, new = old_env.id, new_env.id
    for env in (old_env, new_env):
        if not env.consumes:
            catalog.require_consumer(env)
    if producers:
        producers = [catalog.get(p).id for p in producers]
    filters = {"producers": producers, "variants": variants, "formats": formats}
    check_filters(variants, formats)
    log = progress

    if baseline:
        old_side = from_matrix(baseline, old, producers, variants, formats)
        new_side = from_matrix(baseline, new, producers, variants, formats)
    else:
        plan = fixture_plan(producers or runner.resolve_producers(["all"]), variants, formats)
        old_side = fresh_run(old_env, plan, output_path(old, new, old), log)
        new_side = fresh_run(new_env, plan, output_path(old, new, new), log)
    if not old_side["attempts"] and not new_side["attempts"]:
        raise RegressError(
            f"no attempts match producers {producers or 'any'}, variants {variants or 'any'} "
            f"and formats {formats or 'any'}"
        )
    report = build_report(old, new, old_side, new_side, filters)
    for side, env in (("from", old_env), ("to", new_env)):
        if env.spec:
            report[side].update(spec=env.spec, lock=env.locked_versions())
    return report
