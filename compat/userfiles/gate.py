"""``compat gate PATH... --from OLD --to NEW``: the pre-upgrade gate over your own models.

(``compat regress --from OLD --to NEW --models PATH...``, its first spelling, runs it too.)

Every model found under the paths is loaded with every strategy under both
environments. Each environment runs one worker (one TensorFlow import) that loads every
model, once per strategy. The reference numbers are OLD's: the output of the first
strategy that loads the model there, on ``--input`` or on a seeded batch of the
model's recorded input shape. Per model the gate says whether it

- still loads the way it does today (``unchanged``, or ``improved`` when a simpler way
  now works too);
- loads only with another strategy (``switch_strategy``: which one, with its recipe);
- stops loading (``stopped_working``);
- gives other numbers (``numbers_changed``: the way that loads today, or any way that
  gave OLD's numbers, now loads different ones).

Those last three are regressions. A model that loads under neither environment is
skipped, with the first error line under each: there is nothing to compare. A file that
is not a loadable model gets one diagnosed line and the run goes on. Exit status: 1 when any model regressed, 0 when
none did, 2 for bad input (no model at all, a batch that fits no model), 3 when an
environment could not be run.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from compat import catalog
from compat.environments import sandbox
from compat.errors import EXIT_OK, EXIT_REGRESSED, BadInput, HarnessFailure, progress
from compat.records import change, summary
from compat.records.change import Change
from compat.records.judge import LOADED
from compat.userfiles import engine, hints, scan
from compat.userfiles.diagnose import Diagnosis, diagnose

SCHEMA = "compat.regress.models/1"
MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".json")
SAVEDMODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class GateError(BadInput):
    """Bad input to the gate, in one line (exit status 2)."""


# -- finding the models --------------------------------------------------------------------


def find_models(paths: list[str]) -> tuple[list[tuple[str, Diagnosis]], list[tuple[str, Diagnosis]]]:
    """``(models, diagnosed)``: each as ``(shown path, diagnosis)``, in the order found.

    A path named on the command line is always diagnosed; a folder is searched for model
    files (``.h5``, ``.hdf5``, ``.keras``, Keras ``.json`` architectures) and SavedModel
    folders, skipping hidden folders, the weights files that go with a ``.json`` and
    JSON files that are not Keras architectures.
    """
    models, diagnosed, seen = [], [], set()
    for given in paths:
        candidates = list(_candidates(given))
        seen |= _weights_of_json_models([shown for shown, _ in candidates])
        for shown, named in candidates:
            real = os.path.realpath(shown)
            if real in seen:
                continue
            found = diagnose(shown, expect="model")
            if found.format == "json" and not found.weights:
                found = dataclasses.replace(found, ok=False, kind="json_no_weights", format=None)
            if found.ok:
                models.append((shown, found))
            elif named or found.kind != "json_not_keras":
                diagnosed.append((shown, found))
            else:
                continue  # some other JSON in a searched folder: not said, unless named
            seen.add(real)
    return models, diagnosed


def _candidates(given: str):
    """``(path, named)`` pairs: ``named`` when the user gave this very path."""
    if not os.path.isdir(given) or _is_savedmodel(given):
        yield given, True
        return
    for folder, subfolders, files in os.walk(given):
        saved = []
        for sub in sorted(subfolders):
            if sub.startswith(".") or _is_savedmodel(os.path.join(folder, sub)):
                subfolders.remove(sub)  # a SavedModel is one model: not searched inside
                if not sub.startswith("."):
                    saved.append(sub)
        subfolders.sort()
        for name in sorted(files):
            if name.lower().endswith(MODEL_SUFFIXES) and not name.startswith("."):
                yield os.path.join(folder, name), False
        for name in saved:
            yield os.path.join(folder, name), False


def _is_savedmodel(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in SAVEDMODEL_FILES)


def _weights_of_json_models(paths: list[str]) -> set[str]:
    """The real paths of the weights files that JSON architectures among ``paths`` load (the
    one each JSON's diagnosis names beside it): parts of those models, not models of their own."""
    taken = set()
    for path in paths:
        if path.lower().endswith(".json"):
            found = diagnose(path, expect="model")
            if found.weights:
                taken.add(os.path.realpath(os.path.join(os.path.dirname(path), found.weights)))
    return taken


# -- inputs --------------------------------------------------------------------------------


def batches(models: list[tuple[str, engine.ModelFile]], given: str | None, shapes: dict) -> tuple[dict, list]:
    """``({shown path: Batch}, [(shown path, why)])``: ``--input`` for every model, else a seeded
    batch of each model's own inputs. A model whose inputs are not known gets its reason;
    a given batch that does not fit a model is refused."""
    chosen = {}
    unknown: list[tuple[str, str]] = []
    misfits: list[tuple[str, str]] = []
    for shown, model in models:
        try:
            chosen[shown] = engine.make_batch(model, given, shapes)
        except BadInput as exc:
            (misfits if given else unknown).append((shown, str(exc)))
    if misfits:
        raise GateError(
            f"--input {given} does not fit {'; '.join(why for _, why in misfits)}: gate those models in another run"
        )
    return chosen, unknown


# -- running -------------------------------------------------------------------------------


def plan(models: list[tuple[str, engine.ModelFile]], inputs: dict, scratch: Path, sandboxed: bool) -> tuple:
    """``(planned, isolation, label)``: what ``engine.run_models`` runs, the batches written
    into ``scratch``, under the probe's isolation (the sandbox unless ``--no-sandbox``)."""
    paths: dict = {}
    batch_of = {}
    for shown, _ in models:
        batch = inputs[shown]
        key = tuple((name, a.dtype.str, a.shape, a.tobytes()) for name, a in batch.arrays.items())
        if key not in paths:  # the worker reads each distinct batch once
            paths[key] = batch.save(scratch / f"input-{len(paths)}.npz")
        batch_of[shown] = paths[key]
    isolation, label, roots, inside = engine.isolation_for(
        sandboxed, [(m.path, [m.diagnosis.weights]) for _, m in models], list(paths.values())
    )
    planned = [
        {
            "key": shown,
            "fixture": model.fixture(shown, model.diagnosis.size_guess, "lambda"),
            "root": root,
            "input": inside(batch_of[shown]),
            "spec": inputs[shown].spec,
        }
        for (shown, model), root in zip(models, roots, strict=False)
    ]
    return planned, isolation, label


def measure(env: catalog.Environment, planned: list[dict], isolation, home: Path, *, timeout: float, log) -> dict:
    """Every model under ``env`` through one worker client (``engine.run_models``)."""
    return engine.run_models(env, planned, timeout=timeout, extra_env={"HOME": str(home)}, log=log, isolation=isolation)


# -- judging (pure) ------------------------------------------------------------------------


def compare_model(
    old_attempts: list[dict],
    new_attempts: list[dict],
    old_id: str = "old",
    new_id: str = "new",
    strategies: list[dict] | None = None,
) -> dict:
    """What happened to one model between the environments; see the module docstring.

    Attempts are the engine's, in registry order (``status`` and, when loaded, raw
    ``outputs``); they are judged here against OLD's first loading output. ``strategies``
    (the workers' list) puts them in the order a reader is advised them (``summary.strategy_order``).
    """
    old = [dict(a) for a in old_attempts]
    new = [dict(a) for a in new_attempts]
    source = engine.judge([{"id": old_id, "attempts": old}, {"id": new_id, "attempts": new}])
    order = [a["strategy"] for a in old] + [
        a["strategy"] for a in new if a["strategy"] not in {b["strategy"] for b in old}
    ]
    if strategies:
        advised = summary.strategy_order(strategies)
        order.sort(key=lambda name: advised.index(name) if name in advised else len(advised))
    by_old = {a["strategy"]: a for a in old}
    by_new = {a["strategy"]: a for a in new}
    found = change.fixture_change(("", ""), by_old or None, by_new or None, order, order)
    meaning = change.meaning(found["change"])
    best_under_new = by_new.get(found["old_best"]) if found["old_best"] else None
    under_new = change.outcome(best_under_new) if best_under_new else None
    if under_new and best_under_new and best_under_new.get("error"):
        under_new["error"] = hints.error_text(best_under_new["error"])  # the real error a wrapper hides
    return {
        "change": meaning.change.value,
        "label": meaning.one,
        "regressed": meaning.regression,
        "reference": source["label"],
        "old_best": found["old_best"],
        "new_best": found["new_best"],
        "old_recipe": by_old[found["old_best"]].get("recipe") if found["old_best"] else None,
        "switch_to": found["switch_to"],
        "old_best_under_new": under_new,
        "skipped": loads_nowhere(old, new, old_id, new_id),
        "wrong_numbers": found["wrong_numbers"],
        "also_stopped": found["also_stopped"],
        "detail": found.get("detail"),
        "attempts": {"from": _public(old), "to": _public(new)},
    }


def loads_nowhere(old: list[dict], new: list[dict], old_id: str = "old", new_id: str = "new") -> str | None:
    """Why a model is skipped rather than judged: nothing loads it under either environment, so
    there is nothing to compare. The reason names the first error line under each; ``None`` when
    something loads it somewhere."""
    if any(a.get("status") == LOADED for a in old + new):
        return None
    return f"loads under neither {old_id} nor {new_id}: " + "; ".join(
        f"{env_id}: {first_failure(attempts)}" for env_id, attempts in ((old_id, old), (new_id, new))
    )


def first_failure(attempts: list[dict], limit: int = 160) -> str:
    """The first error line among ``attempts`` (registry order), else why the first did not apply."""
    for attempt in attempts:
        if attempt.get("error"):
            return f"{attempt['strategy']}: {hints.error_line(attempt['error'], limit)}"
    for attempt in attempts:
        if attempt.get("reason"):
            return f"{attempt['strategy']}: {hints.shorten(attempt['reason'], limit)}"
    return "no strategy ran"


def _public(attempts: list[dict]) -> list[dict]:
    kept = (
        "strategy",
        "verdict",
        "recipe",
        "reason",
        "max_abs_diff",
        "cosine",
        "detail",
        "load_seconds",
        "predict_seconds",
        "code_executed",
        "code_executed_by_predict",
        "is_reference",
    )
    out = []
    for attempt in attempts:
        row = {k: attempt[k] for k in kept if attempt.get(k) is not None}
        if attempt.get("error"):
            row["error"] = {"type": attempt["error"].get("type"), "message": attempt["error"].get("message")}
        out.append(row)
    return out


def build_document(
    old: dict, new: dict, models: list[tuple[str, engine.ModelFile]], diagnosed, inputs: dict, seconds: float
) -> dict:
    """The gate's result: what every output (text, JSON, JUnit, Markdown) is rendered from."""
    same = old["id"] == new["id"]
    entries = []
    for shown, model in models:
        found = model.diagnosis
        entry = {
            "path": shown,
            "format": found.format,
            "code": scan.summary(shown),
            "what": found.message,
            "input": inputs[shown].described,
            "seconds": round(
                old["model_seconds"].get(shown, 0) + (0 if same else new["model_seconds"].get(shown, 0)), 2
            ),
        }
        entry.update(
            compare_model(
                old["models"].get(shown, []),
                new["models"].get(shown, []),
                old["id"],
                new["id"],
                old.get("strategies") or new.get("strategies"),
            )
        )
        _name_family(entry, new, model.fixture(shown, found.size_guess, "lambda"))
        entries.append(entry)
    counts = {c.value: sum(e["change"] == c for e in entries) for c in Change}
    regressed = [e["path"] for e in entries if e["regressed"]]
    loads = sum(
        1
        for side in ((old,) if same else (old, new))
        for attempts in side["models"].values()
        for a in attempts
        if a["status"] not in ("not_applicable",)
    )
    return {
        "schema": SCHEMA,
        "from": _side(old),
        "to": _side(new),
        "same_environment": same,
        "models": entries,
        "diagnosed": [
            {"path": shown, "kind": found.kind, "diagnosis": _diagnosis(found), "line": diagnosed_line(shown, found)}
            for shown, found in diagnosed
        ],
        "counts": counts,
        "regressed": regressed,
        "status": "regressed" if regressed else "ok",
        "exit_status": EXIT_REGRESSED if regressed else EXIT_OK,
        "timing": {
            "seconds": round(seconds, 1),
            "loads": loads,
            "tensorflow_imports": old["tensorflow_imports"] + (0 if same else new["tensorflow_imports"]),
            "environments": {old["id"]: old["seconds"], **({} if same else {new["id"]: new["seconds"]})},
        },
    }


def _name_family(entry: dict, new: dict, fixture: dict) -> None:
    """The known failure family of the error that stops today's way under the new environment,
    with its hint worded for this model (``hints.hint``: what applies to it there)."""
    outcome = entry.get("old_best_under_new")
    if not outcome or "error" not in outcome:
        return
    attempts = new["models"][entry["path"]]
    attempt = next(a for a in attempts if a["strategy"] == entry["old_best"])
    found = hints.hint(new, attempt, fixture, attempts)
    if found:
        outcome["family"] = found.to_dict()


def diagnosed_line(shown: str, found: Diagnosis) -> str:
    """The diagnosis of a file that is not gated, named by the path as the user gave it."""
    return f"{shown}: {_diagnosis(found)}"


def _diagnosis(found: Diagnosis) -> str:
    return found.message + (f"; {found.advice}" if found.advice else "")


def _side(outcome: dict) -> dict:
    return {
        key: outcome.get(key)
        for key in (
            "id",
            "summary",
            "python",
            "spec",
            "lock_digest",
            "lock",
            "runtime",
            "seconds",
            "workers",
            "tensorflow_imports",
        )
    }


# -- the gate --------------------------------------------------------------------------------


def gate(
    old_env: catalog.Environment,
    new_env: catalog.Environment,
    paths: list[str],
    *,
    given_input: str | None,
    shapes: dict,
    sandboxed: bool,
    timeout: float,
) -> dict:
    """The gate's document (``build_document``) for the models under ``paths``, ``old_env`` -> ``new_env``."""
    started = time.time()
    found, diagnosed = loadable_models(paths)
    if sandboxed:
        sandbox.check()  # no bubblewrap: refuse before any environment starts
    models = [(shown, engine.open_model(diagnosis)) for shown, diagnosis in found]
    if not given_input:
        models, _ = engine.learn_interfaces([old_env], models, sandboxed=sandboxed, timeout=timeout, log=progress)
    models, inputs, diagnosed = fed_models(models, diagnosed, given_input, shapes)
    old, new, label = measure_both(old_env, new_env, models, inputs, sandboxed=sandboxed, timeout=timeout)
    document = build_document(old, new, models, diagnosed, inputs, time.time() - started)
    document["isolation"] = label
    return document


def loadable_models(paths: list[str]) -> tuple[list[tuple[str, Diagnosis]], list[tuple[str, Diagnosis]]]:
    """``find_models``, each file that is not gated said on the way; no loadable model at all is bad input."""
    models, diagnosed = find_models(list(paths))
    for shown, found in diagnosed:
        progress(f"[regress] not gated: {diagnosed_line(shown, found)}")
    if not models:
        lines = "; ".join(diagnosed_line(shown, found) for shown, found in diagnosed[:3]) + (
            "; ..." if len(diagnosed) > 3 else ""
        )
        raise GateError(f"no loadable model in {', '.join(paths)}" + (f" ({lines})" if lines else ""))
    return models, diagnosed


def fed_models(models: list[tuple[str, engine.ModelFile]], diagnosed: list, given_input: str | None, shapes: dict):
    """``(models, inputs, diagnosed)``: the models whose batch is known; the others join the diagnosed."""
    inputs, unknown = batches(models, given_input, shapes)
    for shown, why in unknown:
        progress(f"[regress] not gated: {shown}: {why}")
    why_of = dict(unknown)
    diagnosed = diagnosed + [
        (shown, dataclasses.replace(model.diagnosis, ok=False, kind="inputs_unknown", message=why_of[shown], advice=""))
        for shown, model in models
        if shown in why_of
    ]
    models = [(shown, model) for shown, model in models if shown in inputs]
    if not models:
        raise GateError("no model whose inputs are known: " + "; ".join(why for _, why in unknown))
    return models, inputs, diagnosed


def measure_both(
    old_env: catalog.Environment, new_env: catalog.Environment, models: list, inputs: dict, *, sandboxed, timeout
) -> tuple[dict, dict, str]:
    """``(old, new, isolation label)``: every model under both environments (once when they are one)."""
    scratch = Path(tempfile.mkdtemp(prefix="compat-gate-"))
    try:
        planned, isolation, label = plan(models, inputs, scratch, sandboxed)
        (scratch / "home").mkdir()
        progress(f"[regress] {len(models)} models, {old_env.id} -> {new_env.id}, isolation: {label}")
        old = measure(old_env, planned, isolation, scratch / "home", timeout=timeout, log=progress)
        new = (
            old
            if new_env.id == old_env.id
            else measure(new_env, planned, isolation, scratch / "home", timeout=timeout, log=progress)
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    failed = [side for side in (old, new) if side["error"]]
    if failed:
        raise HarnessFailure("; ".join(f"could not run {side['id']}: {side['error']}" for side in failed))
    if new is old:
        new = copy.deepcopy(old)  # judged separately; the same measurements serve both sides
    return old, new, label
