"""``compat probe PATH``: which way of loading works for your own model file, per environment.

The file is diagnosed first (``compat.userfiles.diagnose``), so a web page saved as ``.h5``
is reported in one line instead of as an ``OSError`` from every environment. Then the
engine (``compat.userfiles.engine``) reads what the model takes and returns, feeds it a
seeded batch in each input's valid range (or ``--input``), and each loader environment runs
every strategy on the file in a bubblewrap sandbox (``compat.environments.sandbox``: a model
file can run code when loaded), which sees the file read-only and nothing of the user's;
``--no-sandbox`` opts out, and the output and the results say which isolation each
attempt ran under. Every output is compared with one reference: ``--reference`` when
given, else the outputs of the first strategy that loads in the first loader.

Exit status: 0 when the probe ran (strategies that fail are findings), 2 for a bad file,
bad options or no usable bubblewrap, 3 when a loader environment could not be run at all.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from compat import catalog
from compat.environments import adhoc, envs, sandbox
from compat.errors import BadInput, HarnessFailure, progress
from compat.publish import table
from compat.records.judge import LOADED
from compat.records.verdicts import Verdict
from compat.userfiles import bytecode, engine, hints, scan
from compat.userfiles import loaders as loaders_
from compat.userfiles.diagnose import WEIGHTS_FORMATS, Diagnosis, diagnose, has_facenet_layers

SCHEMA = "compat.probe/2"
DEFAULT_VARIANT = "lambda"
ALL_LOADERS = "all"
"""``--loaders all``: every consumer environment of the catalog, in catalog order."""


class ProbeError(BadInput):
    """Bad input to the probe, reported in one line (exit status 2)."""


# -- scheduling the environments ----------------------------------------------------------

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_jobs() -> int:
    """Environments run at once unless told: one per core."""
    return max(1, os.cpu_count() or 1)


def in_parallel(
    items: list[Item],
    run: Callable[[Item], Result],
    *,
    jobs: int,
    failed: Callable[[Item, Exception], Result],
) -> list[Result]:
    """``run(item)`` for every item, ``jobs`` at once (taken in the items' order), the results in
    the items' order whatever order they finish in. An item whose ``run`` raises gets
    ``failed(item, exception)`` in its place: the others' results are kept.

    The threads only wait on the workers (each environment's work is in its own processes);
    they are daemons, so an interrupted command does not wait for them (the sandboxed workers
    end with it: ``--die-with-parent``).
    """

    def guarded(item: Item) -> Result:
        try:
            return run(item)
        except Exception as exc:  # noqa: BLE001 - one environment's failure must not lose the others'
            return failed(item, exc)

    if jobs <= 1 or len(items) <= 1:
        return [guarded(item) for item in items]
    results: dict[int, Result] = {}
    waiting: queue.SimpleQueue[int] = queue.SimpleQueue()
    for number in range(len(items)):
        waiting.put(number)

    def work() -> None:
        while True:
            try:
                number = waiting.get_nowait()
            except queue.Empty:
                return
            results[number] = guarded(items[number])

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(jobs, len(items)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[number] for number in range(len(items))]


def one_line(exc: BaseException) -> str:
    """Why an environment could not run, in one line: the project's own errors as they say it,
    anything else with its type."""
    text = str(exc) if isinstance(exc, (BadInput, HarnessFailure)) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def build_environments(loaders: list[catalog.Environment], log=print) -> dict[str, str]:
    """Build every loader environment not built yet (``envs.ensure_built``), one after another
    and before any worker starts (uv and the bytecode compiler use every core themselves).
    Returns the environments that cannot be built, ``{id: why in one line}``; the probe runs
    the others and gives each of these one line."""
    broken = {}
    for env in loaders:
        try:
            envs.ensure_built(env, log=log)
        except (BadInput, OSError, subprocess.SubprocessError) as exc:
            broken[env.id] = one_line(exc)
            log(f"[probe] {env.id}: {broken[env.id]}")
    return broken


def failed_outcome(env: catalog.Environment, why: str, seconds: float = 0.0) -> dict:
    """The record of an environment that could not run: what ``run_environment`` returns, with
    no attempts and ``error`` saying why."""
    try:
        record = envs.record(env)
    except OSError:  # no lock to read: say what the catalog says
        record = {"id": env.id, "summary": env.summary, "python": env.python, "spec": env.spec or None}
    return dict(
        record,
        runtime=None,
        strategies=None,
        attempts=[],
        error=why,
        workers=0,
        tensorflow_imports=0,
        seconds=round(seconds, 1),
    )


def run_environments(
    loaders: list[catalog.Environment],
    run: Callable[[catalog.Environment], dict],
    *,
    jobs: int,
    broken: dict[str, str] | None = None,
    log=print,
) -> list[dict]:
    """``run(env)`` for every loader, ``jobs`` at once, the outcomes in the loaders' order. An
    environment in ``broken`` is not run, and one whose run raises is kept as a
    ``failed_outcome``: one line for it, the others' answers kept."""
    broken = broken or {}

    def one(env: catalog.Environment) -> dict:
        if env.id in broken:
            return failed_outcome(env, broken[env.id])
        started = time.time()
        try:
            return run(env)
        except Exception as exc:  # noqa: BLE001 - said in the environment's one line
            log(f"[probe] {env.id}: could not run: {one_line(exc)}")
            return failed_outcome(env, one_line(exc), time.time() - started)

    return in_parallel(loaders, one, jobs=jobs, failed=lambda env, exc: failed_outcome(env, one_line(exc)))


# -- running -------------------------------------------------------------------------------


def run_environment(
    env: catalog.Environment,
    fixture: dict,
    root: str,
    input_path: str,
    spec: dict,
    *,
    timeout: float,
    extra_env: dict,
    log=print,
    isolation=None,
) -> dict:
    """Every strategy on the user's file in ``env``: ``{"id", "runtime", "strategies", "attempts"}``.

    Each attempt keeps its raw ``outputs`` (``[(name, array)]``) for judging afterwards.
    """

    def said(_, attempt):
        log(f"[probe] {env.id} {attempt['strategy']}: {attempt['status']}")

    model = {"key": fixture["path"], "fixture": fixture, "root": root, "input": input_path, "spec": spec}
    outcome = engine.run_models(
        env, [model], timeout=timeout, extra_env=extra_env, log=log, isolation=isolation, on_attempt=said
    )
    outcome["attempts"] = outcome.pop("models").get(fixture["path"], [])
    outcome.pop("model_seconds")
    return outcome


def probe(
    model: engine.ModelFile,
    loaders: list[catalog.Environment],
    *,
    batch: engine.Batch,
    size: str,
    variant: str = DEFAULT_VARIANT,
    reference=None,
    timeout: float = 600.0,
    sandboxed: bool = True,
    log=print,
    write_loader=None,
    keep_reference: bool = False,
    jobs: int | None = None,
    broken: dict[str, str] | None = None,
) -> dict:
    """Run the probe; the returned document is what ``render`` prints and ``--json`` writes.

    ``sandboxed``: every worker runs in bubblewrap, seeing the file read-only and nothing
    of the user's; without it (``--no-sandbox``), only the lighter limits apply.
    ``write_loader``: a folder that gets each environment's recommended recipe as
    ``load_<env>.py``, each then run there standalone (``compat.userfiles.loaders``).
    ``keep_reference``: the document also holds the reference outputs themselves
    (``[(name, array)]`` or None) under ``reference_values`` (not JSON: take it out before writing).
    ``jobs``: environments run at once, each by its own worker (default: one per core); the
    document is the same as one after another, environments in the order given.
    ``broken``: what ``build_environments`` found unusable (built here when not given).
    """
    jobs = jobs or default_jobs()
    if broken is None:
        broken = build_environments(loaders, log)
    scratch = Path(tempfile.mkdtemp(prefix="compat-probe-"))
    try:
        home = scratch / "home"
        home.mkdir()
        input_path = batch.save(scratch / "input.npz")
        isolation, label, [root], inside = engine.isolation_for(
            sandboxed, [(model.path, [model.diagnosis.weights])], [input_path, *model.function_files]
        )
        fixture = model.fixture(Path(model.path).name, size, variant, where=inside)

        def run(env: catalog.Environment) -> dict:
            named = dict(fixture, script=loaders_.script_name(env.id)) if write_loader else fixture
            return run_environment(
                env,
                named,
                root,
                inside(input_path),
                batch.spec,
                timeout=timeout,
                extra_env={"HOME": str(home)},
                log=log,
                isolation=isolation,
            )

        environments = run_environments(loaders, run, jobs=jobs, broken=broken, log=log)
        learnt = _outputs_learnt(batch, environments)
        if learnt and write_loader:
            # The file records no outputs (weights only, built by the user's code): the loaders
            # must save them by name, so the environments write their recipes again knowing them.
            log(f"[probe] outputs learnt from the first load: {', '.join(o['name'] for o in learnt)}")
            batch = dataclasses.replace(batch, spec=dict(batch.spec, outputs=learnt))
            environments = run_environments(loaders, run, jobs=jobs, broken=broken, log=log)
        for outcome in environments:
            outcome["isolation"] = label
            for attempt in outcome["attempts"]:
                attempt["isolation"] = label
        source = engine.judge(environments, reference)
        for outcome in environments:
            outcome["recommended"] = engine.recommended(outcome)
        reference = reference if reference is not None else engine.reference_outputs(environments)
        if write_loader:
            _write_loaders_for(
                model, loaders, environments, Path(write_loader), batch, reference, sandboxed, timeout, jobs, log
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    groups = engine.agreement_groups(environments)
    kept = {"reference_values": reference} if keep_reference else {}
    return {
        **kept,
        "schema": SCHEMA,
        "path": model.path,
        "diagnosis": _diagnosis_dict(model.diagnosis),
        "fixture": fixture,
        "facenet": model.facenet,
        "size": size if model.facenet else None,
        "interface": {"source": model.interface.source, **batch.spec} if model.interface else None,
        "input": {"description": batch.described, "arrays": {name: list(a.shape) for name, a in batch.arrays.items()}},
        "reference": source,
        "environments": _public(environments),
        "disagreements": _disagreements(environments, source, groups),
        "groups": groups,
        "outputs_learnt": learnt,
    }


def _write_loaders_for(
    model: engine.ModelFile, loaders, environments, folder: Path, batch, reference, sandboxed, timeout, jobs, log
) -> None:
    """Each environment's loader for the model's file (and its weights file), with the user's code beside them."""
    files = [Path(model.path)] + (
        [Path(model.path).parent / model.diagnosis.weights] if model.diagnosis.weights else []
    )
    for function_file in model.function_files:  # a loader imports the user's code from beside itself
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(function_file, folder / function_file.name)
    _write_loaders(loaders, environments, folder, files, batch, reference, sandboxed, timeout, jobs, log)


def _outputs_learnt(batch: engine.Batch, environments: list[dict]) -> list[dict] | None:
    """The outputs, named as the first load that gave any names them, where the batch's spec has none."""
    if batch.spec.get("outputs"):
        return None
    for outcome in environments:
        for attempt in outcome.get("attempts") or []:
            outputs = attempt.get("outputs")
            if outputs:
                return [{"name": name, "shape": [None, *np.shape(value)[1:]]} for name, value in outputs]
    return None


def _write_loader(
    env: catalog.Environment,
    outcome: dict,
    folder: Path,
    models: list[Path],
    batch: engine.Batch,
    reference,
    sandboxed: bool,
    timeout: float,
    log,
) -> dict:
    """Write one environment's ``load_<env>.py``; what the document records of it until it is run."""
    best = outcome["recommended"]
    if outcome["error"] or best is None or not best.get("recipe"):
        why = outcome["error"] or _no_pass(outcome)
        return {"path": None, "verified": False, "detail": f"no script written: {why}"}
    script = loaders_.write(folder, env.id, best["recipe"], models[0], outcome["runtime"] or {})
    log(f"[probe] {env.id}: wrote {script}; running it standalone")
    return {"path": str(script), "verified": False, "detail": "not run"}


def _verify_loader(
    env: catalog.Environment,
    loader: dict,
    models: list[Path],
    batch: engine.Batch,
    reference,
    sandboxed: bool,
    timeout: float,
) -> dict:
    """Run one written ``load_<env>.py`` standalone; what the document records of it."""
    if loader["path"] is None:
        return loader
    script = Path(loader["path"])
    started = time.time()
    verified, detail = loaders_.verify(env, script, models, batch, reference, sandboxed=sandboxed, timeout=timeout)
    loaders_.note_result(script, verified, detail)
    return {"path": str(script), "verified": verified, "detail": detail, "seconds": round(time.time() - started, 1)}


def _write_loaders(
    loaders: list[catalog.Environment],
    environments: list[dict],
    folder: Path,
    models: list[Path],
    batch: engine.Batch,
    reference,
    sandboxed: bool,
    timeout: float,
    jobs: int,
    log,
) -> None:
    """Write each environment's ``load_<env>.py`` one after another (they share the files written
    beside them: facenet_arch.py, translate.py), then run them standalone, ``jobs`` at once; each
    outcome gets its ``loader``."""
    written = [
        _write_loader(env, outcome, folder, models, batch, reference, sandboxed, timeout, log)
        for env, outcome in zip(loaders, environments, strict=True)
    ]
    checked = in_parallel(
        list(zip(loaders, written, strict=True)),
        lambda pair: _verify_loader(pair[0], pair[1], models, batch, reference, sandboxed, timeout),
        jobs=jobs,
        failed=lambda pair, exc: dict(pair[1], detail=one_line(exc)),
    )
    for outcome, loader in zip(environments, checked, strict=True):
        outcome["loader"] = loader


def _public(environments: list[dict]) -> list[dict]:
    """The environments without raw outputs, for the JSON document."""
    out = []
    for env in environments:
        env = dict(env, attempts=engine.public(env["attempts"]))
        if env.get("recommended"):
            env["recommended"] = {k: env["recommended"].get(k) for k in ("strategy", "recipe")}
        out.append(env)
    return out


# -- output --------------------------------------------------------------------------------


def nothing_loads(env: dict) -> bool:
    """Whether no strategy loaded the file at all in this environment (as against loading it
    with numbers other than the reference's)."""
    return not any(
        a.get("status") == LOADED or a.get("verdict") in (Verdict.PASS.value, Verdict.MISMATCH.value)
        for a in env["attempts"]
    )


def _no_pass(env: dict) -> str:
    return "nothing loads the file here" if nothing_loads(env) else "no strategy gives the reference numbers"


def render(document: dict) -> str:
    """The probe's text, plain: no control code an error carried reaches the terminal."""
    return hints.plain("\n".join(_render_lines(document)))


def _render_lines(document: dict) -> list[str]:
    environments = document["environments"]
    lines = [f"probe {document['path']}: {document['diagnosis']['message']}"]
    lines += _stored_bytecode_lines(document["diagnosis"].get("stored_bytecode") or [])
    lines.append(f"input: {document['input']['description']}")
    outputs = (document.get("interface") or {}).get("outputs") or []
    if outputs:
        lines.append("outputs: " + ", ".join(o["name"] for o in outputs))
    lines.append(
        f"reference: {document['reference']['label'] or '(nothing loaded)'}"
        + (f"; FaceNet, size {document['size']}" if document.get("facenet") else "")
    )
    lines.append("")
    order = []
    for env in environments:
        for s in env["strategies"] or []:
            if s["name"] not in order:
                order.append(s["name"])
    width = max([len(n) for n in order] + [8])
    columns = [max(len(env["id"]), 5) for env in environments]
    lines.append(
        "strategy".ljust(width)
        + "  "
        + "  ".join(e["id"].ljust(w) for e, w in zip(environments, columns, strict=False))
    )
    for name in order:
        cells = []
        for env in environments:
            attempt = next((a for a in env["attempts"] if a["strategy"] == name), None)
            cells.append(_symbol(attempt))
        lines.append(name.ljust(width) + "  " + "  ".join(c.ljust(w) for c, w in zip(cells, columns, strict=False)))
    lines.append("")
    for env in environments:
        lines.extend(_env_section(env, document.get("fixture")))
    ran = [env for env in environments if not env["error"]]
    if ran and all(nothing_loads(env) for env in ran):
        lines.append(
            f"nothing loads {Path(document['path']).name} in {', '.join(env['id'] for env in ran)}: "
            "every strategy failed or does not apply (see each one's error above)"
        )
    for flag in document["disagreements"]:
        lines.append(f"[!] {flag}")
    for env in environments:
        loader = env.get("loader")
        if loader:
            lines.append(_loader_line(env["id"], loader))
    return lines


def _loader_line(env_id: str, loader: dict) -> str:
    if loader["path"] is None:
        return f"[{env_id}] standalone: {loader['detail']}"
    state = "verified" if loader["verified"] else "NOT verified:"
    shown = f"({loader['detail']})" if loader["verified"] else loader["detail"]
    return f"[{env_id}] {loader['path']}: standalone: {state} {shown}"


def _symbol(attempt: dict | None) -> str:
    if attempt is None:
        return ""
    if attempt.get("is_reference"):
        return "ref"
    return table.SYMBOLS.get(attempt.get("verdict") or "", "?")


def _env_section(env: dict, fixture: dict | None = None) -> list[str]:
    runtime = env["runtime"] or {}
    stack = ", ".join(
        f"{name} {runtime[key]}"
        for key, name in (("python", "Python"), ("tensorflow", "TF"), ("keras", "Keras"), ("jax", "JAX"))
        if runtime.get(key)
    )
    head = f"{env['id']} ({stack + ', ' if stack else ''}{env['seconds']}s)"
    if env["error"]:
        return [f"{head}: could not run: {env['error']}", ""]
    best = env["recommended"]
    if best is None:
        lines = [f"{head}: {_no_pass(env)}"]
    else:
        lines = [f"{head}: use {best['strategy']}"]
        lines += ["    " + line for line in (best.get("recipe") or "").splitlines()]
    isolation = env.get("isolation")
    if isolation:
        lines.append(f"  isolation: {isolation}")
    said: dict[str | None, str] = {sandbox.ISOLATION: "sandboxed", sandbox.NO_SANDBOX: "not sandboxed: --no-sandbox"}
    contained = said.get(isolation, f"isolation {isolation}")
    for attempt in env["attempts"]:
        if attempt.get("code_executed") or attempt.get("code_executed_by_predict"):
            lines.append(f"  {attempt['strategy']}: stored code ran ({contained})")
    for attempt in env["attempts"]:
        if attempt["verdict"] in (Verdict.ERROR.value, Verdict.CRASH.value, Verdict.TIMEOUT.value):
            error = attempt.get("error")
            text = hints.error_line(error) if error else hints.shorten(attempt.get("reason") or "")
            lines.append(f"  {attempt['strategy']} {attempt['verdict']}: {text}")
            found = hints.hint(env, attempt, fixture or {}, env["attempts"])
            if found:
                lines.append(f"      ({found.line()})")
    lines.append("")
    return lines


def _disagreements(environments: list[dict], reference: dict, groups: list[list[str]]) -> list[str]:
    flags = []
    for env in environments:
        for attempt in env["attempts"]:
            if attempt.get("verdict") == Verdict.MISMATCH.value:
                detail = attempt.get("detail") or (
                    f"max |diff| {attempt['max_abs_diff']:.3g}, cosine {attempt['cosine']}"
                )
                flags.append(
                    f"{env['id']}/{attempt['strategy']} loads but its numbers differ from "
                    f"{reference['label']} ({detail})"
                )
    if len(groups) > 1:
        listed = "; ".join("{" + ", ".join(g) + "}" for g in groups)
        flags.append(f"the outputs that loaded fall into {len(groups)} groups that disagree: {listed}")
    return flags


# -- what the probe and convert commands (compat.cli) call -----------------------------------


def loader_environments(text: str) -> list[catalog.Environment]:
    """Catalog ids and ad-hoc specs (``py3.12:tensorflow-cpu==2.19.0,keras==3.9.2``), comma-separated;
    ``all``: every consumer of the catalog, in catalog order."""
    if text.strip() == ALL_LOADERS:
        return catalog.consumers()
    chosen = []
    for name in adhoc.split_environments(text):
        env = adhoc.environment(name, log=progress)
        catalog.require_consumer(env)
        chosen.append(env)
    if not chosen:
        raise ProbeError("--loaders names no environment")
    return chosen


def _diagnosis_dict(diagnosis: Diagnosis) -> dict:
    return {
        "ok": diagnosis.ok,
        "kind": diagnosis.kind,
        "format": diagnosis.format,
        "message": diagnosis.message,
        "advice": diagnosis.advice,
        "weights": diagnosis.weights,
        "bytes": diagnosis.nbytes,
        "keras_version": diagnosis.keras_version,
        "stored_bytecode": stored_bytecode(diagnosis) if diagnosis.ok else [],
    }


def stored_bytecode(diagnosis: Diagnosis) -> list[dict]:
    """Each function the file stores as bytecode (a Keras 2 Lambda's, a serialized lambda), with
    what it does read in the Python that reads it (``compat.userfiles.bytecode``); the file's
    code is never run. A file the scanner cannot read has none here: the probe goes on."""
    try:
        scanned = scan.scan(diagnosis.path)
        readings = scan.read_bytecode([scanned])
    except Exception:  # noqa: BLE001 - reading stored code must never stop a probe
        return []
    return [
        {
            "place": f.place,
            "kind": f.kind,
            "json_path": f.json_path,
            "sha256": bytecode.digest(f.code),
            **readings[bytecode.digest(f.code)],
        }
        for f in scanned.findings
        if f.code and bytecode.digest(f.code) in readings
    ]


def _stored_bytecode_lines(stored: list[dict]) -> list[str]:
    """One block per stored function: where, the Python that reads it, what it does (its first
    lines); a code already shown is named, not shown again."""
    lines = []
    shown: dict[str, str] = {}
    for entry in stored:
        if entry["sha256"] in shown:
            lines.append(f"  {entry['place']}: same code as {shown[entry['sha256']]}")
            continue
        shown[entry["sha256"]] = entry["place"]
        lines += bytecode.block(entry["place"], entry)
    return ["stored code, read without running it:", *lines] if lines else []


def loadable(path, *, verbose: bool = False, command: str = "probe", architecture: bool = False) -> Diagnosis:
    """The diagnosis of ``path``, or the one line that says why it cannot be loaded.

    A file that holds only weights is refused unless the model they belong to is known:
    given (``architecture``, the user's ``--architecture``) or FaceNet's, which compat builds.
    """
    diagnosis = diagnose(path)
    if not diagnosis.ok:
        if verbose:
            print(f"compat {command}: diagnosis {_diagnosis_dict(diagnosis)}", file=sys.stderr)
        raise ProbeError(diagnosis.line())
    if diagnosis.format == "json" and not diagnosis.weights:
        raise ProbeError(diagnosis.line())
    if diagnosis.format in WEIGHTS_FORMATS and not architecture and not has_facenet_layers(diagnosis.path):
        raise ProbeError(diagnosis.line())
    if diagnosis.format in WEIGHTS_FORMATS and architecture:
        return dataclasses.replace(diagnosis, advice="the model they belong to: your --architecture")
    return diagnosis


def require_ran(document: dict) -> None:
    """A probe whose environments did not all run, or whose written loaders did not reproduce
    the reference standalone, is the harness's failure (exit status 3), not a finding."""
    failed = [env["id"] for env in document["environments"] if env["error"]]
    if failed:
        raise HarnessFailure(
            f"could not run {', '.join(failed)}: "
            + "; ".join(env["error"] for env in document["environments"] if env["error"])
        )
    unproven = [
        env["id"]
        for env in document["environments"]
        if env.get("loader") and env["loader"]["path"] and not env["loader"]["verified"]
    ]
    if unproven:
        # the same recipe passed in the worker: a script that does not is the harness's fault
        raise HarnessFailure(
            f"the written loader for {', '.join(unproven)} did not reproduce the reference "
            f"standalone (see its standalone: line)"
        )


@dataclasses.dataclass(frozen=True)
class Options:
    """What probe and convert share of the command line, checked before any environment starts."""

    input: str | None
    reference: str | None
    shapes: dict
    size: str | None
    variant: str
    timeout: float
    functions: tuple = ()
    """``engine.UserFunction`` per Lambda layer the user gave code for (``--function``)."""
    architecture: engine.UserFunction | None = None
    """The user's code returning the model (``--architecture``)."""


def prepare(
    diagnosis: Diagnosis,
    loaders: list[catalog.Environment],
    options: Options,
    *,
    sandboxed: bool,
    log,
    broken: dict[str, str] | None = None,
) -> tuple:
    """``(model, batch, reference or None)``: the file read, its interface learnt where the host
    cannot read it (unless ``--input`` says what to feed), the batch and the given reference.
    ``broken``: environments ``build_environments`` could not build, not asked."""
    model = dataclasses.replace(
        engine.open_model(diagnosis), functions=tuple(options.functions), architecture=options.architecture
    )
    if model.interface is None and not options.input:
        usable = [env for env in loaders if env.id not in (broken or {})]
        [(_, model)], why = engine.learn_interfaces(
            usable, [("model", model)], sandboxed=sandboxed, timeout=options.timeout, log=log
        )
        if why:
            raise ProbeError(
                f"{Path(model.path).name}: the file records no inputs the host can read and no loader "
                f"could read them ({why['model']}); give --input (a .npy or .npz batch)"
            )
    batch = engine.make_batch(model, options.input, options.shapes)
    reference = engine.given_reference(options.reference, batch) if options.reference else None
    return model, batch, reference
