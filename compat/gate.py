"""``compat regress --from OLD --to NEW --models PATH...``: the pre-upgrade gate over your own models.

Every model found under the paths is loaded with every strategy under both
environments. Each environment runs one worker (one TensorFlow import) that loads every
model, once per strategy. The reference numbers are OLD's: the output of the first
strategy that loads the model there, on ``--input`` or on a seeded batch of the
model's recorded input shape. Per model the gate says whether it

- still loads the way it does today (``unchanged``, or ``improved`` when a simpler way
  now works too);
- loads only with another strategy (``switch_strategy``: which one, with its recipe);
- stops loading (``stopped_loading``);
- gives other numbers (``numbers_changed``: the way that loads today, or any way that
  gave OLD's numbers, now loads different ones).

Those last three are regressions. A file that is not a loadable model gets one
diagnosed line and the run goes on. Exit status: 1 when any model regressed, 0 when
none did, 2 for bad input (no model at all, a batch that fits no model), 3 when an
environment could not be run.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compat import adhoc, catalog, gatereport, probe, regress, results, sandbox
from compat.diagnose import Diagnosis, diagnose
from compat.errors import EXIT_OK, EXIT_REGRESSED, BadInput, HarnessFailure
from compat.userfiles import scan

SCHEMA = "compat.regress.models/1"
MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".json")
SAVEDMODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")

UNCHANGED = "unchanged"
IMPROVED = "improved"
SWITCH = "switch_strategy"
STOPPED = "stopped_loading"
NUMBERS = "numbers_changed"
STARTED = "started_loading"
STILL_BROKEN = "still_broken"
NOT_COMPARED = "not_compared"
REGRESSIONS = (SWITCH, STOPPED, NUMBERS)
CHANGES = (SWITCH, STOPPED, NUMBERS, UNCHANGED, IMPROVED, STARTED, STILL_BROKEN, NOT_COMPARED)
LABELS = {
    UNCHANGED: "still loads the way it does today",
    IMPROVED: "still loads, and a simpler way works too",
    SWITCH: "loads only with another strategy",
    STOPPED: "stops loading",
    NUMBERS: "numbers change",
    STARTED: "starts loading",
    STILL_BROKEN: "does not load today either",
    NOT_COMPARED: "not compared",
}
_FROM_REGRESS = {regress.UNCHANGED: UNCHANGED, regress.IMPROVED: IMPROVED, regress.NUMBERS_CHANGED: NUMBERS,
                 regress.STARTED_WORKING: STARTED, regress.STILL_BROKEN: STILL_BROKEN,
                 regress.NOT_COMPARED: NOT_COMPARED}


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
        for shown, named in _candidates(given):
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
        companions = _json_companions(files)
        for name in sorted(files):
            if name.lower().endswith(MODEL_SUFFIXES) and name not in companions and not name.startswith("."):
                yield os.path.join(folder, name), False
        for name in saved:
            yield os.path.join(folder, name), False


def _is_savedmodel(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in SAVEDMODEL_FILES)


def _json_companions(files: list[str]) -> set[str]:
    """The weights files saved beside ``x.json`` (they belong to it, they are not models)."""
    names = set(files)
    companions = set()
    for name in files:
        if name.endswith(".json"):
            stem = name[:-len(".json")]
            companions |= {f"{stem}_weights.h5", f"{stem}.weights.h5", f"{stem}_weights.hdf5"} & names
    return companions


# -- inputs --------------------------------------------------------------------------------

def batches(models: list[tuple[str, Diagnosis]], input_path: str | None) -> dict[str, tuple[np.ndarray, str]]:
    """``{shown path: (batch, description)}``: ``--input`` for every model, else a seeded batch
    of each model's recorded input shape. A given batch that does not fit a model is refused."""
    chosen = {}
    if input_path:
        batch = probe.load_array(input_path, "--input")
        if batch.ndim < 2:
            raise GateError(f"--input {input_path} has shape {list(batch.shape)}: a batch needs a first axis")
        misfits = []
        for shown, found in models:
            try:
                probe.check_shape(tuple(batch.shape[1:]), found.input_shape, f"--input {input_path}")
            except BadInput:
                misfits.append(f"{shown} takes {','.join('any' if d is None else str(d) for d in found.input_shape)}")
            chosen[shown] = (batch, f"{input_path} {list(batch.shape)} as it is")
        if misfits:
            raise GateError(f"--input {input_path} has shape {','.join(map(str, batch.shape[1:]))} per sample, "
                            f"which does not fit {'; '.join(misfits)}: gate those models in another run")
        return chosen
    for shown, found in models:
        shape = found.input_shape or probe.DEFAULT_INPUT_SHAPE
        batch = probe.seeded_batch(shape)
        recorded = "" if found.input_shape else ", the file records no input shape"
        chosen[shown] = (batch, f"seeded batch {list(batch.shape)} (prewhitened{recorded})")
    return chosen


# -- running -------------------------------------------------------------------------------

def plan(models: list[tuple[str, Diagnosis]], inputs: dict, scratch: Path, sandboxed: bool) -> tuple:
    """``(planned, isolation, label)``: what ``probe.run_models`` runs, the batches written
    into ``scratch``, under the probe's isolation (the sandbox unless ``--no-sandbox``)."""
    paths: dict = {}
    batch_of = {}
    for shown, _ in models:
        batch, _ = inputs[shown]
        key = (batch.shape, batch.tobytes())
        if key not in paths:  # the worker reads each distinct batch once
            paths[key] = scratch / f"input-{len(paths)}.npy"
            np.save(paths[key], batch)
        batch_of[shown] = paths[key]
    isolation, label, roots, inside = probe.isolation_for(
        sandboxed, [(found.path, [found.weights]) for _, found in models], list(paths.values()))
    planned = [{"key": shown, "fixture": dict(probe.probe_fixture(found, found.size_guess), id=shown),
                "root": root, "input": inside(batch_of[shown]), "skip": probe.facenet_skip(found.path)}
               for (shown, found), root in zip(models, roots)]
    return planned, isolation, label


def measure(env: catalog.Environment, planned: list[dict], isolation, home: Path, *, timeout: float, log) -> dict:
    """Every model under ``env`` through one worker client (``probe.run_models``)."""
    return probe.run_models(env, planned, timeout=timeout, extra_env={"HOME": str(home)}, log=log,
                            isolation=isolation)


# -- judging (pure) ------------------------------------------------------------------------

def compare_model(old_attempts: list[dict], new_attempts: list[dict], old_id: str = "old",
                  new_id: str = "new") -> dict:
    """What happened to one model between the environments; see the module docstring.

    Attempts are ``probe`` attempts in registry order (``status`` and, when loaded, raw
    ``embeddings``); they are judged here against OLD's first loading output.
    """
    old = [dict(a) for a in old_attempts]
    new = [dict(a) for a in new_attempts]
    source = probe.judge([{"id": old_id, "attempts": old}, {"id": new_id, "attempts": new}])
    order = [a["strategy"] for a in old] + [a["strategy"] for a in new if a["strategy"] not in
                                            {b["strategy"] for b in old}]
    by_old = {a["strategy"]: a for a in old}
    by_new = {a["strategy"]: a for a in new}
    found = regress.fixture_change(("", ""), by_old or None, by_new or None, order, order)
    change = found["change"]
    if change == regress.STOPPED_WORKING:
        change = SWITCH if found["switch_to"] else STOPPED
    else:
        change = _FROM_REGRESS[change]
    best_under_new = by_new.get(found["old_best"]) if found["old_best"] else None
    return {
        "change": change, "label": LABELS[change], "regressed": change in REGRESSIONS,
        "reference": source["label"], "old_best": found["old_best"], "new_best": found["new_best"],
        "old_recipe": by_old[found["old_best"]].get("recipe") if found["old_best"] else None,
        "switch_to": found["switch_to"],
        "old_best_under_new": _outcome(best_under_new) if best_under_new else None,
        "wrong_numbers": found["wrong_numbers"], "also_stopped": found["also_stopped"],
        "detail": found.get("detail"),
        "attempts": {"from": _public(old), "to": _public(new)},
    }


def _outcome(attempt: dict) -> dict:
    outcome = {"verdict": attempt.get("verdict")}
    error = attempt.get("error")
    if error:
        outcome["error"] = f"{error.get('type')}: {error.get('message')}"
        outcome["error_type"] = error.get("type")
    for key in ("reason", "max_abs_diff", "cosine", "detail"):
        if attempt.get(key) is not None:
            outcome[key] = attempt[key]
    return outcome


def _public(attempts: list[dict]) -> list[dict]:
    kept = ("strategy", "verdict", "recipe", "reason", "max_abs_diff", "cosine", "detail",
            "load_seconds", "predict_seconds", "code_executed", "code_executed_by_predict", "is_reference")
    out = []
    for attempt in attempts:
        row = {k: attempt[k] for k in kept if attempt.get(k) is not None}
        if attempt.get("error"):
            row["error"] = {"type": attempt["error"].get("type"), "message": attempt["error"].get("message")}
        out.append(row)
    return out


def build_document(old: dict, new: dict, models: list[tuple[str, Diagnosis]], diagnosed, inputs: dict,
                   seconds: float) -> dict:
    """The gate's result: what every output (text, JSON, JUnit, Markdown) is rendered from."""
    same = old["id"] == new["id"]
    entries = []
    for shown, found in models:
        entry = {"path": shown, "format": found.format, "code": scan.summary(shown), "what": found.message,
                 "input": inputs[shown][1],
                 "seconds": round(old["model_seconds"].get(shown, 0) + (0 if same else new["model_seconds"].get(shown, 0)), 2)}
        entry.update(compare_model(old["models"].get(shown, []), new["models"].get(shown, []), old["id"], new["id"]))
        _name_family(entry, new, found.format)
        entries.append(entry)
    counts = {change: sum(e["change"] == change for e in entries) for change in CHANGES}
    regressed = [e["path"] for e in entries if e["regressed"]]
    loads = sum(1 for side in ((old,) if same else (old, new)) for attempts in side["models"].values()
                for a in attempts if a["status"] not in ("not_applicable",))
    return {
        "schema": SCHEMA,
        "from": _side(old), "to": _side(new), "same_environment": same,
        "models": entries,
        "diagnosed": [{"path": shown, "kind": found.kind, "diagnosis": _diagnosis(found),
                       "line": diagnosed_line(shown, found)} for shown, found in diagnosed],
        "counts": counts, "regressed": regressed,
        "status": "regressed" if regressed else "ok",
        "exit_status": EXIT_REGRESSED if regressed else EXIT_OK,
        "timing": {"seconds": round(seconds, 1), "loads": loads,
                   "tensorflow_imports": old["tensorflow_imports"] + (0 if same else new["tensorflow_imports"]),
                   "environments": {old["id"]: old["seconds"], **({} if same else {new["id"]: new["seconds"]})}},
    }


def _name_family(entry: dict, new: dict, fmt: str | None) -> None:
    """The known failure family of the error that stops today's way under the new environment."""
    outcome = entry.get("old_best_under_new")
    if not outcome or "error" not in outcome:
        return
    attempt = next(a for a in new["models"][entry["path"]] if a["strategy"] == entry["old_best"])
    family = probe.error_family(new, attempt, fmt)
    if family:
        outcome["family"] = {"id": family.id, "label": family.label, "action": family.action}


def diagnosed_line(shown: str, found: Diagnosis) -> str:
    """The diagnosis of a file that is not gated, named by the path as the user gave it."""
    return f"{shown}: {_diagnosis(found)}"


def _diagnosis(found: Diagnosis) -> str:
    return found.message + (f"; {found.advice}" if found.advice else "")


def _side(outcome: dict) -> dict:
    return {key: outcome.get(key) for key in ("id", "summary", "python", "spec", "lock_digest", "lock", "runtime",
                                              "seconds", "workers", "tensorflow_imports")}


# -- command -------------------------------------------------------------------------------

REFUSED_WITH_MODELS = ("producers", "variants", "formats", "baseline")


def main(args) -> int:
    started = time.time()
    for option in REFUSED_WITH_MODELS:
        if getattr(args, option, None):
            raise GateError(f"--{option} selects the project's fixtures; it does not go with --models")
    timeout = getattr(args, "timeout", None)
    timeout = 600.0 if timeout is None else float(timeout)
    if timeout <= 0:
        raise GateError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    old_env = adhoc.environment(args.old, log=_log)
    new_env = adhoc.environment(args.new, log=_log)
    for env in (old_env, new_env):
        if not env.consumes:
            raise GateError(f"{env.id} is not a consumer environment")
    models, diagnosed = find_models(list(args.models))
    for shown, found in diagnosed:
        _log(f"[regress] not gated: {diagnosed_line(shown, found)}")
    if not models:
        lines = "; ".join(diagnosed_line(shown, found) for shown, found in diagnosed[:3]) + ("; ..." if len(diagnosed) > 3 else "")
        raise GateError(f"no loadable model in {', '.join(args.models)}" + (f" ({lines})" if lines else ""))
    inputs = batches(models, getattr(args, "input", None))
    sandboxed = not getattr(args, "no_sandbox", False)
    if sandboxed:
        sandbox.check()  # no bubblewrap: refuse before any environment starts

    scratch = Path(tempfile.mkdtemp(prefix="compat-gate-"))
    try:
        planned, isolation, label = plan(models, inputs, scratch, sandboxed)
        (scratch / "home").mkdir()
        _log(f"[regress] {len(models)} models, {old_env.id} -> {new_env.id}, isolation: {label}")
        old = measure(old_env, planned, isolation, scratch / "home", timeout=timeout, log=_log)
        new = old if new_env.id == old_env.id else measure(new_env, planned, isolation, scratch / "home",
                                                            timeout=timeout, log=_log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    failed = [side for side in (old, new) if side["error"]]
    if failed:
        raise HarnessFailure("; ".join(f"could not run {side['id']}: {side['error']}" for side in failed))
    if new is old:
        new = copy.deepcopy(old)  # judged separately; the same measurements serve both sides
    document = build_document(old, new, models, diagnosed, inputs, time.time() - started)
    document["isolation"] = label
    print(gatereport.text(document))
    for option, render in (("json_out", None), ("junit_xml", gatereport.junit), ("markdown", gatereport.markdown)):
        target = getattr(args, option, None)
        if not target:
            continue
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        if render is None:
            results.write_atomically(Path(target), document)
        else:
            Path(target).write_text(render(document))
    return document["exit_status"]


def _log(message):  # progress on stderr: stdout is the summary
    print(message, file=sys.stderr)
