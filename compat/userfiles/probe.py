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
import shutil
import sys
import tempfile
import time
from pathlib import Path

from compat import catalog
from compat.environments import adhoc, sandbox
from compat.errors import BadInput, HarnessFailure, progress
from compat.publish import table
from compat.records.verdicts import Verdict
from compat.userfiles import engine
from compat.userfiles import loaders as loaders_
from compat.userfiles.diagnose import Diagnosis, diagnose

SCHEMA = "compat.probe/2"
DEFAULT_VARIANT = "lambda"


class ProbeError(BadInput):
    """Bad input to the probe, reported in one line (exit status 2)."""


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
) -> dict:
    """Run the probe; the returned document is what ``render`` prints and ``--json`` writes.

    ``sandboxed``: every worker runs in bubblewrap, seeing the file read-only and nothing
    of the user's; without it (``--no-sandbox``), only the lighter limits apply.
    ``write_loader``: a folder that gets each environment's recommended recipe as
    ``load_<env>.py``, each then run there standalone (``compat.userfiles.loaders``).
    ``keep_reference``: the document also holds the reference outputs themselves
    (``[(name, array)]`` or None) under ``reference_values`` (not JSON: take it out before writing).
    """
    scratch = Path(tempfile.mkdtemp(prefix="compat-probe-"))
    try:
        home = scratch / "home"
        home.mkdir()
        input_path = batch.save(scratch / "input.npz")
        fixture = model.fixture(Path(model.path).name, size, variant)
        isolation, label, [root], inside = engine.isolation_for(
            sandboxed, [(model.path, [model.diagnosis.weights])], [input_path]
        )
        environments = []
        for env in loaders:
            named = dict(fixture, script=loaders_.script_name(env.id)) if write_loader else fixture
            outcome = run_environment(
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
            outcome["isolation"] = label
            for attempt in outcome["attempts"]:
                attempt["isolation"] = label
            environments.append(outcome)
        source = engine.judge(environments, reference)
        for outcome in environments:
            outcome["recommended"] = engine.recommended(outcome)
        reference = reference if reference is not None else engine.reference_outputs(environments)
        if write_loader:
            files = [Path(model.path)] + (
                [Path(model.path).parent / model.diagnosis.weights] if model.diagnosis.weights else []
            )
            for env, outcome in zip(loaders, environments, strict=False):
                outcome["loader"] = _write_loader(
                    env, outcome, Path(write_loader), files, batch, reference, sandboxed, timeout, log
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
    }


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
    """Write and verify one environment's ``load_<env>.py``; what the document records of it."""
    best = outcome["recommended"]
    if outcome["error"] or best is None or not best.get("recipe"):
        why = outcome["error"] or "no strategy gives the reference numbers"
        return {"path": None, "verified": False, "detail": f"no script written: {why}"}
    script = loaders_.write(folder, env.id, best["recipe"], models[0], outcome["runtime"] or {})
    log(f"[probe] {env.id}: wrote {script}; running it standalone")
    started = time.time()
    verified, detail = loaders_.verify(env, script, models, batch, reference, sandboxed=sandboxed, timeout=timeout)
    loaders_.note_result(script, verified, detail)
    return {"path": str(script), "verified": verified, "detail": detail, "seconds": round(time.time() - started, 1)}


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


def render(document: dict) -> str:
    environments = document["environments"]
    lines = [
        f"probe {document['path']}: {document['diagnosis']['message']}",
        f"input: {document['input']['description']}",
    ]
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
        lines.extend(_env_section(env, (document.get("fixture") or {}).get("format")))
    for flag in document["disagreements"]:
        lines.append(f"[!] {flag}")
    for env in environments:
        loader = env.get("loader")
        if loader:
            lines.append(_loader_line(env["id"], loader))
    return "\n".join(lines)


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


def _env_section(env: dict, fmt: str | None = None) -> list[str]:
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
        lines = [f"{head}: no strategy gives the reference numbers"]
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
            why = attempt.get("error") or {}
            text = f"{why.get('type')}: {why.get('message')}" if why else attempt.get("reason", "")
            lines.append(f"  {attempt['strategy']} {attempt['verdict']}: {text[:300]}")
            family = engine.error_family(env, attempt, fmt)
            if family:
                lines.append(f"      ({family.label}: {family.action})")
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
    """Catalog ids and ad-hoc specs (``py3.12:tensorflow-cpu==2.19.0,keras==3.9.2``), comma-separated."""
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
    }


def loadable(path, *, verbose: bool = False, command: str = "probe") -> Diagnosis:
    """The diagnosis of ``path``, or the one line that says why it cannot be loaded."""
    diagnosis = diagnose(path)
    if not diagnosis.ok:
        if verbose:
            print(f"compat {command}: diagnosis {_diagnosis_dict(diagnosis)}", file=sys.stderr)
        raise ProbeError(diagnosis.line())
    if diagnosis.format == "json" and not diagnosis.weights:
        raise ProbeError(diagnosis.line())
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


def prepare(
    diagnosis: Diagnosis, loaders: list[catalog.Environment], options: Options, *, sandboxed: bool, log
) -> tuple:
    """``(model, batch, reference or None)``: the file read, its interface learnt where the host
    cannot read it (unless ``--input`` says what to feed), the batch and the given reference."""
    model = engine.open_model(diagnosis)
    if model.interface is None and not options.input:
        [(_, model)], why = engine.learn_interfaces(
            loaders, [("model", model)], sandboxed=sandboxed, timeout=options.timeout, log=log
        )
        if why:
            raise ProbeError(
                f"{Path(model.path).name}: the file records no inputs the host can read and no loader "
                f"could read them ({why['model']}); give --input (a .npy or .npz batch)"
            )
    batch = engine.make_batch(model, options.input, options.shapes)
    reference = engine.given_reference(options.reference, batch) if options.reference else None
    return model, batch, reference
