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

import sys
from collections import OrderedDict
from pathlib import Path

from compat import catalog
from compat.environments import adhoc
from compat.errors import EXIT_OK, EXIT_REGRESSED, BadInput, choices
from compat.harness import fixtures, runner
from compat.records import matrixdoc, results, summary
from compat.records.verdicts import Verdict

SCHEMA = "compat.regress/1"

# What happened to one fixture between the two consumers.
STOPPED_WORKING = "stopped_working"
NUMBERS_CHANGED = "numbers_changed"
STARTED_WORKING = "started_working"
IMPROVED = "improved"
UNCHANGED = "unchanged"
STILL_BROKEN = "still_broken"
NOT_COMPARED = "not_compared"
REGRESSIONS = (STOPPED_WORKING, NUMBERS_CHANGED)
CHANGES = (STOPPED_WORKING, NUMBERS_CHANGED, STARTED_WORKING, IMPROVED, UNCHANGED, STILL_BROKEN, NOT_COMPARED)

PASS, MISMATCH = Verdict.PASS.value, Verdict.MISMATCH.value


class RegressError(BadInput):
    """Bad input to the regression check, in one line (exit status 2)."""


# -- the comparison (pure) -----------------------------------------------------------------

def compare_consumers(old_attempts: list[dict], new_attempts: list[dict],
                      old_order: list[str], new_order: list[str] | None = None) -> dict:
    """Classify every fixture seen on either side; see the module docstring for the rules.

    ``*_order`` are strategy names in order of preference (the registry order).
    """
    return compare_grouped(summary.group_by_fixture(old_attempts), summary.group_by_fixture(new_attempts),
                           old_order, new_order)


def compare_grouped(old_grouped: dict, new_grouped: dict, old_order: list[str],
                    new_order: list[str] | None = None) -> dict:
    """``compare_consumers`` on attempts already grouped by ``summary.group_by_fixture``
    (the report compares every pair of consumers and groups each one once)."""
    new_order = new_order or old_order
    keys = list(old_grouped) + [key for key in new_grouped if key not in old_grouped]
    entries = [fixture_change(key, old_grouped.get(key), new_grouped.get(key), old_order, new_order)
               for key in keys]
    counts = OrderedDict((change, 0) for change in CHANGES)
    for entry in entries:
        counts[entry["change"]] += 1
    return {
        "fixtures": entries,
        "regressed": [e for e in entries if e["change"] in REGRESSIONS],
        "started_working": [e for e in entries if e["change"] == STARTED_WORKING],
        "improved": [e for e in entries if e["change"] == IMPROVED],
        "not_compared": [e for e in entries if e["change"] == NOT_COMPARED],
        "counts": dict(counts),
    }


def fixture_change(key, old: dict | None, new: dict | None, old_order, new_order) -> dict:
    producer, fixture = key
    sample = next(iter((old or new).values()))
    entry = {"producer": producer, "fixture": fixture, "variant": sample.get("variant"),
             "format": sample.get("format"), "change": None, "old_best": None, "new_best": None,
             "old_best_under_new": None, "switch_to": None, "wrong_numbers": [], "also_stopped": []}
    if old is None or new is None:
        entry.update(change=NOT_COMPARED, detail="only measured under the " + ("new" if old is None else "old")
                     + " consumer")
        return entry
    old_best = summary.best_strategy(old, old_order)
    new_best = summary.best_strategy(new, new_order)
    entry.update(old_best=old_best, new_best=new_best, switch_to=_switch_to(new, new_best))
    was_passing = [name for name in old_order if old.get(name, {}).get("verdict") == PASS]
    entry["wrong_numbers"] = [n for n in was_passing if new.get(n, {}).get("verdict") == MISMATCH]
    entry["also_stopped"] = [n for n in was_passing if n != old_best and n in new
                             and new[n]["verdict"] not in (PASS, MISMATCH)]
    if old_best is None:
        entry["change"] = STARTED_WORKING if new_best else STILL_BROKEN
        return entry
    if old_best not in new:
        entry.update(change=NOT_COMPARED, detail=f"{old_best} was not tried under the new consumer")
        return entry
    now = new[old_best]
    entry["old_best_under_new"] = _outcome(now)
    if now["verdict"] == MISMATCH or entry["wrong_numbers"]:
        entry["change"] = NUMBERS_CHANGED
    elif now["verdict"] != PASS:
        entry["change"] = STOPPED_WORKING
    elif _rank(new_order, new_best) < _rank(new_order, old_best):
        entry["change"] = IMPROVED
    else:
        entry["change"] = UNCHANGED
    return entry


def _rank(order: list[str], name: str) -> int:
    return order.index(name) if name in order else len(order)


def _switch_to(by_strategy: dict, best: str | None) -> dict | None:
    if best is None:
        return None
    return {"strategy": best, "recipe": by_strategy[best].get("recipe")}


def _outcome(attempt: dict) -> dict:
    """The verdict of one attempt and the one line that explains it."""
    outcome = {"verdict": attempt["verdict"]}
    if attempt.get("error"):
        outcome["error"] = f"{attempt['error'].get('type')}: {attempt['error'].get('message')}"
    for key in ("reason", "max_abs_diff", "cosine", "detail"):
        if attempt.get(key) is not None:
            outcome[key] = attempt[key]
    return outcome


# -- the human summary ---------------------------------------------------------------------

def render(report: dict) -> str:
    old, new = report["from"]["consumer"], report["to"]["consumer"]
    counts = report["counts"]
    compared = sum(n for change, n in counts.items() if change != NOT_COMPARED)
    lines = [f"regress {old} -> {new}: {compared} fixtures compared; {len(report['regressed'])} regressed, "
             f"{counts[STARTED_WORKING]} started working, {counts[IMPROVED]} improved, "
             f"{counts[UNCHANGED]} unchanged, {counts[STILL_BROKEN]} still broken"
             + (f", {counts[NOT_COMPARED]} not compared" if counts[NOT_COMPARED] else "")]
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
    if entry["change"] == NUMBERS_CHANGED and under_new.get("verdict") == PASS:
        what = f"{', '.join(entry['wrong_numbers'])} now load wrong numbers ({best} still passes)"
    elif under_new.get("verdict") == MISMATCH:
        what = (f"{best} passed under {old}, loads WRONG numbers under {new} "
                f"(max |diff| {under_new.get('max_abs_diff')}, cosine {under_new.get('cosine')})")
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

def _split(text: str | None) -> list[str] | None:
    items = [part.strip() for part in (text or "").split(",") if part.strip()]
    return items or None


def _wanted(attempt: dict, producers, variants, formats) -> bool:
    return ((producers is None or attempt["producer"] in producers)
            and (variants is None or attempt.get("variant") in variants)
            and (formats is None or attempt.get("format") in formats))


# Both sides of a comparison come from the one --baseline file: read and expanded once.
_baseline = results.once_per_version(lambda path: matrixdoc.read(path, RegressError, "--baseline "))


def from_matrix(path: str, consumer: str, producers, variants, formats) -> dict:
    """One side read from a merged ``matrix.json``: ``{"attempts", "order", "source", "runtime"}``."""
    document = _baseline(path)
    mine = [a for a in document.get("attempts", []) if a.get("consumer") == consumer]
    if not mine:
        present = sorted({a.get("consumer") for a in document.get("attempts", [])} - {None})
        raise RegressError(f"--baseline {path} has no attempts of consumer {consumer} "
                           f"(it has: {', '.join(present) or 'none'})")
    order = summary.strategy_order(document.get("strategies") or []) or _first_seen(mine)
    return {"attempts": [a for a in mine if _wanted(a, producers, variants, formats)], "order": order,
            "source": str(path), "runtime": _matrix_runtime(document, consumer)}


def _matrix_runtime(document: dict, consumer: str) -> dict | None:
    """The consumer's measured package versions from the matrix's ``catalog`` entries."""
    entries = document.get("catalog") if isinstance(document.get("catalog"), list) else []
    entry = next((e for e in entries if isinstance(e, dict) and e.get("id") == consumer), None)
    return entry.get("runtime") if entry else None


def _first_seen(attempts: list[dict]) -> list[str]:
    return list(OrderedDict((a["strategy"], None) for a in attempts))


def fixture_plan(producers: list[str], variants, formats) -> dict[str, list[str]]:
    """``{producer: [fixture ids]}`` of the fixtures the filters select (producers with none dropped)."""
    plan = {}
    for producer in producers:
        manifest = fixtures.load_manifest(producer)
        chosen = [f["id"] for f in manifest["fixtures"]
                  if (variants is None or f["variant"] in variants) and (formats is None or f["format"] in formats)]
        if chosen:
            plan[producer] = chosen
    if not plan:
        raise RegressError(f"no fixture of {', '.join(producers)} matches variants {variants or 'any'} "
                           f"and formats {formats or 'any'}")
    return plan


def fresh_run(consumer: catalog.Environment, plan: dict[str, list[str]], output: Path, log) -> dict:
    """One side measured now: a consumer run over the planned fixtures (catalog or ad hoc)."""
    ids = sorted({fid for chosen in plan.values() for fid in chosen})
    document = runner.Run(consumer, list(plan), fixture_ids=ids, output=output, log=log).execute()
    wanted = {(p, fid) for p, chosen in plan.items() for fid in chosen}
    return {"attempts": [a for a in document["attempts"] if (a["producer"], a["fixture"]) in wanted],
            "order": summary.strategy_order(document["strategies"] or []),
            "source": str(output), "runtime": document["consumer"].get("runtime")}


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


def main(args) -> int:
    if getattr(args, "models", None):
        from compat.userfiles import gate
        return gate.main(args)
    for option in ("input", "junit_xml", "markdown", "no_sandbox"):
        if getattr(args, option, None):
            raise RegressError(f"--{option.replace('_', '-')} goes with --models (the gate over your own models)")
    old_env, new_env = adhoc.environment(args.old, log=_log), adhoc.environment(args.new, log=_log)
    old, new = old_env.id, new_env.id
    for env in (old_env, new_env):
        if not env.consumes:
            raise RegressError(f"{env.id} is not a consumer environment")
    producers = _split(getattr(args, "producers", None))
    variants, formats = _split(getattr(args, "variants", None)), _split(getattr(args, "formats", None))
    if producers:
        producers = [catalog.get(p).id for p in producers]
    filters = {"producers": producers, "variants": variants, "formats": formats}
    check_filters(variants, formats)
    log = _log

    if getattr(args, "baseline", None):
        old_side = from_matrix(args.baseline, old, producers, variants, formats)
        new_side = from_matrix(args.baseline, new, producers, variants, formats)
    else:
        plan = fixture_plan(producers or runner.resolve_producers(["all"]), variants, formats)
        old_side = fresh_run(old_env, plan, output_path(old, new, old), log)
        new_side = fresh_run(new_env, plan, output_path(old, new, new), log)
    if not old_side["attempts"] and not new_side["attempts"]:
        raise RegressError(f"no attempts match producers {producers or 'any'}, variants {variants or 'any'} "
                           f"and formats {formats or 'any'}")
    report = build_report(old, new, old_side, new_side, filters)
    for side, env in (("from", old_env), ("to", new_env)):
        if env.spec:
            report[side].update(spec=env.spec, lock=env.locked_versions())
    print(render(report))
    json_out = getattr(args, "json_out", None)
    if json_out:
        results.write_atomically(Path(json_out), report)
    return report["exit_status"]


def _log(message):  # progress on stderr: stdout is the summary
    print(message, file=sys.stderr)
