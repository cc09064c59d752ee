"""``compat probe PATH``: which way of loading works for your own model file, per environment.

The file is diagnosed first (``compat.diagnose``), so a web page saved as ``.h5`` is
reported in one line instead of as an ``OSError`` from every environment. Then each
loader environment runs every strategy on the file in a bubblewrap sandbox
(``compat.sandbox``: a model file can run code when loaded), which sees the file
read-only and nothing of the user's; ``--no-sandbox`` opts out, and the output and the
results say which isolation each attempt ran under. All outputs are compared against one reference: ``--reference`` when
given, else the output of the first strategy that loads in the first loader.

Exit status: 0 when the probe ran (strategies that fail are findings), 2 for a bad file,
bad options or no usable bubblewrap, 3 when a loader environment could not be run at all.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compat import adhoc, catalog, envs, families, fixtures, results, sandbox, table, workerclient
from compat import loaders as loaders_
from compat.diagnose import Diagnosis, diagnose
from compat.errors import EXIT_OK, BadInput, HarnessFailure
from compat.userfiles import scan
from compat.verdicts import Verdict, compare

SCHEMA = "compat.probe/1"
DEFAULT_INPUT_SHAPE = (160, 160, 3)
DEFAULT_VARIANT = "lambda"
SEED = 0
BATCH = 3


class ProbeError(BadInput):
    """Bad input to the probe, reported in one line (exit status 2)."""


# -- inputs --------------------------------------------------------------------------------

def parse_shape(text: str) -> tuple[int, ...]:
    """``160,160,3`` or ``160x160x3``: the input shape without the batch axis."""
    parts = [part.strip() for part in text.replace("x", ",").split(",")]
    if not text.strip() or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise ProbeError(f"--input-shape {text!r} must be positive whole sizes such as 160,160,3")
    return tuple(int(part) for part in parts)


def check_shape(shape: tuple[int, ...], recorded: tuple | None, what: str) -> None:
    """An input that cannot fit the shape the file records is refused before any load."""
    if recorded is None:
        return
    fits = len(shape) == len(recorded) and all(r is None or r == s for s, r in zip(shape, recorded))
    if not fits:
        wanted = ",".join("any" if r is None else str(r) for r in recorded)
        raise ProbeError(f"{what} has shape {','.join(map(str, shape))} per sample, but the file's model "
                         f"takes {wanted}")


def seeded_batch(shape: tuple[int, ...], count: int = BATCH) -> np.ndarray:
    """A reproducible, prewhitened batch; for FaceNet's shape, the fixtures' own batch."""
    from compat.inside import facenet  # numpy only: safe on the host
    if tuple(shape) == facenet.INPUT_SHAPE:
        return facenet.reference_input(SEED, count)
    rng = np.random.RandomState(SEED + 1)
    return facenet.prewhiten_batch(rng.randint(0, 256, (count,) + tuple(shape)).astype(np.uint8))


def load_array(path: str, what: str) -> np.ndarray:
    if not path.endswith(".npy"):
        raise ProbeError(f"{what} {path} must be a .npy file (numpy.save), used as it is")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"{what} {path} cannot be read as a .npy array ({exc})") from None


def probe_fixture(diagnosis: Diagnosis, size: str, variant: str = DEFAULT_VARIANT) -> dict:
    """The fixture dict the strategies read, for the user's file."""
    return {"id": "probe", "variant": variant, "format": diagnosis.format,
            "path": Path(diagnosis.path).name, "weights": diagnosis.weights, "size": size,
            "saved_by_keras": diagnosis.keras_version}


# -- running -------------------------------------------------------------------------------

def isolation_for(sandboxed: bool, models: list[tuple], data: list) -> tuple:
    """How the workers that load users' files are isolated (the probe's and the gate's), and
    where they see those files: ``(isolation, label, roots, inside)``.

    ``models`` are ``(path, companions)``: a model file or folder and the files read beside
    it; ``data`` the other files a worker reads (the input batches). In the sandbox the
    models are read-only at ``/input`` (one model) or ``/input/<n>`` (several, whose names
    may repeat); without it (``--no-sandbox``) in their own folders. ``roots[i]`` is the
    folder model ``i`` is read from as the worker sees it, ``inside(path)`` a data file's path.
    """
    if not sandboxed:
        roots = [str(Path(path).resolve().parent) for path, _ in models]
        return workerclient.LightIsolation(), sandbox.NO_SANDBOX, roots, str
    read_only, roots = {}, []
    for number, (path, companions) in enumerate(models):
        folder = sandbox.INPUT_DIR if len(models) == 1 else f"{sandbox.INPUT_DIR}/{number}"
        for host, inside in sandbox.model_paths(path, companions).items():
            read_only[host] = folder + inside[len(sandbox.INPUT_DIR):]
        roots.append(folder)
    for path in data:
        read_only.update(sandbox.data_path(path))
    box = sandbox.Bubblewrap(read_only)
    return box, sandbox.ISOLATION, roots, box.inside


def run_models(env: catalog.Environment, models: list[dict], *, timeout: float, extra_env: dict,
               log=print, isolation=None, on_attempt=None) -> dict:
    """Every strategy on each of many files in ``env``, all through one worker client.

    ``models`` are ``{"key", "fixture", "root", "input", "skip"}``: ``input`` a .npy batch
    used as it is, ``skip(strategy) -> reason or None`` marks strategies not applicable
    without a load. One worker (one TensorFlow import) serves every file; one that dies
    or hangs on an attempt is replaced, so the rest still run. Returns the environment's
    record with ``runtime``, ``strategies``, ``models`` (``{key: [attempts]}``, each
    keeping its raw ``embeddings``), ``error``, ``seconds``, ``workers`` and
    ``tensorflow_imports``.
    """
    started = time.time()
    outcome = dict(envs.record(env), runtime=None, strategies=None, models={}, model_seconds={},
                   error=None, workers=0, tensorflow_imports=0)

    def worker_started(info):
        outcome["runtime"], outcome["strategies"] = info["runtime"], info["strategies"]
        outcome["workers"] += 1
        outcome["tensorflow_imports"] += 1 if info["runtime"].get("tensorflow") else 0

    number = 0
    try:
        with workerclient.Client(env, fixtures.cache_root() / "logs", extra_env=extra_env,
                                 isolation=isolation or workerclient.LightIsolation(),
                                 on_start=worker_started, log=log) as client:
            client.start()
            for model in models:
                attempts = outcome["models"].setdefault(model["key"], [])
                model_started = time.time()
                for strategy in outcome["strategies"]:
                    number += 1
                    reason = model["skip"](strategy) if model.get("skip") else None
                    if reason:
                        attempt = {"strategy": strategy["name"], "status": Verdict.NOT_APPLICABLE.value,
                                   "reason": reason}
                    else:
                        request = {"op": "attempt", "id": number, "producer": "probe", "root": model["root"],
                                   "fixture": model["fixture"], "strategy": strategy["name"],
                                   "input": model["input"], "input_kind": "raw_npy"}
                        attempt = _record(strategy["name"], client.attempt(request, timeout))
                    attempts.append(attempt)
                    if on_attempt:
                        on_attempt(model["key"], attempt)
                outcome["model_seconds"][model["key"]] = round(time.time() - model_started, 2)
                loaded = sum(a["status"] == "ok" for a in attempts)
                log(f"[{env.id}] {model['key']}: {loaded} of {len(attempts)} strategies loaded "
                    f"({outcome['model_seconds'][model['key']]:.1f}s)")
    except HarnessFailure as exc:
        outcome["error"] = str(exc)
    outcome["seconds"] = round(time.time() - started, 1)
    return outcome


def run_environment(env: catalog.Environment, fixture: dict, root: str, input_path: str, *,
                    timeout: float, extra_env: dict, log=print, isolation=None, skip=None) -> dict:
    """Every strategy on the user's file in ``env``: ``{"id", "runtime", "strategies", "attempts"}``.

    Each attempt keeps its raw ``embeddings`` (an array) for judging afterwards.
    """
    def progress(_, attempt):
        log(f"[probe] {env.id} {attempt['strategy']}: {attempt['status']}")

    model = {"key": fixture["path"], "fixture": fixture, "root": root, "input": input_path, "skip": skip}
    outcome = run_models(env, [model], timeout=timeout, extra_env=extra_env, log=log, isolation=isolation,
                         on_attempt=progress)
    outcome["attempts"] = outcome.pop("models").get(fixture["path"], [])
    outcome.pop("model_seconds")
    return outcome


KEPT = ("recipe", "reason", "error", "load_seconds", "predict_seconds", "code_executed",
        "code_executed_by_predict", "worker_log")


def _record(strategy: str, result: dict) -> dict:
    """A probe attempt from the worker client's result; a loaded output kept as an array."""
    record = {"strategy": strategy, "status": result["status"]}
    record.update({key: result[key] for key in KEPT if key in result})
    if result["status"] == "ok":
        record["embeddings"] = np.asarray(result["embeddings"], dtype=np.float64)
    return record


# -- judging (pure) ------------------------------------------------------------------------

def judge(environments: list[dict], reference=None) -> dict:
    """Give every attempt a verdict against one reference; returns where the reference came from.

    Without a given ``reference`` the first attempt that loaded (first loader, registry
    order) is the reference and is marked ``is_reference``.
    """
    source = {"source": "file", "label": "--reference"}
    if reference is None:
        for env in environments:
            for attempt in env["attempts"]:
                if attempt["status"] == "ok":
                    reference = attempt["embeddings"]
                    attempt["is_reference"] = True
                    source = {"source": "attempt", "label": f"{env['id']}/{attempt['strategy']}"}
                    break
            if reference is not None:
                break
    if reference is None:
        source = {"source": None, "label": None}
    for env in environments:
        for attempt in env["attempts"]:
            status = attempt["status"]
            if status != "ok":
                attempt["verdict"] = status  # error, crash, timeout, not_applicable: the verdict names
                continue
            numbers = compare(reference, attempt["embeddings"])
            attempt.update(verdict=numbers.pop("verdict").value, **numbers)
    return source


def recommended(env: dict) -> dict | None:
    """The first passing strategy in registry order (attempts are run in that order)."""
    for attempt in env["attempts"]:
        if attempt.get("verdict") == Verdict.PASS.value:
            return attempt
    return None


def agreement_groups(environments: list[dict]) -> list[list[str]]:
    """Outputs that loaded, grouped by agreeing with each other (each group's first is its anchor)."""
    groups: list[tuple[np.ndarray, list[str]]] = []
    for env in environments:
        for attempt in env["attempts"]:
            if attempt["status"] != "ok":
                continue
            label = f"{env['id']}/{attempt['strategy']}"
            for anchor, members in groups:
                if compare(anchor, attempt["embeddings"])["verdict"] is Verdict.PASS:
                    members.append(label)
                    break
            else:
                groups.append((attempt["embeddings"], [label]))
    return [members for _, members in groups]


# -- output --------------------------------------------------------------------------------

def render(document: dict) -> str:
    environments = document["environments"]
    lines = [f"probe {document['path']}: {document['diagnosis']['message']}",
             (f"size {document['size']}, input {document['input']['description']}, "
             f"reference {document['reference']['label'] or '(nothing loaded)'}"), ""]
    order = []
    for env in environments:
        for s in env["strategies"] or []:
            if s["name"] not in order:
                order.append(s["name"])
    width = max([len(n) for n in order] + [8])
    columns = [max(len(env["id"]), 5) for env in environments]
    lines.append("strategy".ljust(width) + "  " + "  ".join(e["id"].ljust(w) for e, w in zip(environments, columns)))
    for name in order:
        cells = []
        for env in environments:
            attempt = next((a for a in env["attempts"] if a["strategy"] == name), None)
            cells.append(_symbol(attempt))
        lines.append(name.ljust(width) + "  " + "  ".join(c.ljust(w) for c, w in zip(cells, columns)))
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
    return table.SYMBOLS.get(attempt.get("verdict"), "?")


def _env_section(env: dict, fmt: str | None = None) -> list[str]:
    runtime = env["runtime"] or {}
    stack = ", ".join(f"{name} {runtime[key]}" for key, name in
                      (("python", "Python"), ("tensorflow", "TF"), ("keras", "Keras"), ("jax", "JAX")) if runtime.get(key))
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
    contained = {sandbox.ISOLATION: "sandboxed", sandbox.NO_SANDBOX: "not sandboxed: --no-sandbox"}.get(
        isolation, f"isolation {isolation}")
    for attempt in env["attempts"]:
        if attempt.get("code_executed") or attempt.get("code_executed_by_predict"):
            lines.append(f"  {attempt['strategy']}: stored code ran ({contained})")
    for attempt in env["attempts"]:
        if attempt["verdict"] in (Verdict.ERROR.value, Verdict.CRASH.value, Verdict.TIMEOUT.value):
            why = attempt.get("error") or {}
            text = f"{why.get('type')}: {why.get('message')}" if why else attempt.get("reason", "")
            lines.append(f"  {attempt['strategy']} {attempt['verdict']}: {text[:300]}")
            family = error_family(env, attempt, fmt)
            if family:
                lines.append(f"      ({family.label}: {family.action})")
    lines.append("")
    return lines


def error_family(env: dict, attempt: dict, fmt: str | None):
    """The known failure family of an errored attempt, from its message and the reader's versions."""
    error = attempt.get("error")
    if not error:
        return None
    runtime = env.get("runtime") or {}
    python = ".".join(str(runtime.get("python") or "").split(".")[:2]) or None
    return families.classify(error.get("type") or "", error.get("message") or "", error.get("traceback") or "",
                             strategy=attempt["strategy"], fmt=fmt,
                             consumer_python=python, consumer_keras=runtime.get("keras"))


def _disagreements(environments: list[dict], reference: dict, groups: list[list[str]]) -> list[str]:
    flags = []
    for env in environments:
        for attempt in env["attempts"]:
            if attempt.get("verdict") == Verdict.MISMATCH.value:
                detail = attempt.get("detail") or (f"max |diff| {attempt['max_abs_diff']:.3g}, "
                                                   f"cosine {attempt['cosine']}")
                flags.append(f"{env['id']}/{attempt['strategy']} loads but its numbers differ from "
                             f"{reference['label']} ({detail})")
    if len(groups) > 1:
        listed = "; ".join("{" + ", ".join(g) + "}" for g in groups)
        flags.append(f"the outputs that loaded fall into {len(groups)} groups that disagree: {listed}")
    return flags


def _public(environments: list[dict]) -> list[dict]:
    """The environments without raw embeddings, for the JSON document."""
    out = []
    for env in environments:
        env = dict(env, attempts=[{k: v for k, v in a.items() if k != "embeddings"} for a in env["attempts"]])
        if env.get("recommended"):
            env["recommended"] = {k: env["recommended"].get(k) for k in ("strategy", "recipe")}
        out.append(env)
    return out


# -- command -------------------------------------------------------------------------------

def _loaders(text: str) -> list[catalog.Environment]:
    """Catalog ids and ad-hoc specs (``py3.12:tensorflow-cpu==2.19.0,keras==3.9.2``), comma-separated."""
    chosen = []
    for name in adhoc.split_environments(text):
        env = adhoc.environment(name, log=_log)
        if not env.consumes:
            raise ProbeError(f"{name} is not a consumer environment")
        chosen.append(env)
    if not chosen:
        raise ProbeError("--loaders names no environment")
    return chosen


def _log(message):  # progress goes to stderr so stdout stays the report
    print(message, file=sys.stderr)


def probe(path: str, loaders: list[catalog.Environment], *, diagnosis: Diagnosis, size: str,
          variant: str = DEFAULT_VARIANT, batch=None, reference=None, input_description="",
          timeout: float = 600.0, sandboxed: bool = True, log=print, write_loader=None,
          keep_reference: bool = False) -> dict:
    """Run the probe; the returned document is what ``render`` prints and ``--json`` writes.

    ``sandboxed``: every worker runs in bubblewrap, seeing the file read-only and nothing
    of the user's; without it (``--no-sandbox``), only the lighter limits apply.
    ``write_loader``: a folder that gets each environment's recommended recipe as
    ``load_<env>.py``, each then run there standalone (``compat.loaders``).
    ``keep_reference``: the document also holds the reference output itself, as an array
    (or None), under ``reference_values`` (not JSON: take it out before writing).
    """
    scratch = Path(tempfile.mkdtemp(prefix="compat-probe-"))
    try:
        home = scratch / "home"
        home.mkdir()
        input_path = scratch / "input.npy"
        np.save(input_path, np.asarray(batch))
        fixture = probe_fixture(diagnosis, size, variant)
        isolation, label, [root], inside = isolation_for(sandboxed, [(diagnosis.path, [diagnosis.weights])],
                                                         [input_path])
        worker_input = inside(input_path)
        environments = []
        skip = facenet_skip(diagnosis.path)
        for env in loaders:
            named = dict(fixture, script=loaders_.script_name(env.id)) if write_loader else fixture
            outcome = run_environment(env, named, root, worker_input, timeout=timeout,
                                      extra_env={"HOME": str(home)}, log=log, isolation=isolation, skip=skip)
            outcome["isolation"] = label
            for attempt in outcome["attempts"]:
                attempt["isolation"] = label
            environments.append(outcome)
        source = judge(environments, reference)
        for env in environments:
            env["recommended"] = recommended(env)
        reference = reference if reference is not None else _reference_output(environments)
        if write_loader:
            models = [Path(diagnosis.path)] + ([Path(diagnosis.path).parent / diagnosis.weights]
                                               if diagnosis.weights else [])
            for env, outcome in zip(loaders, environments):
                outcome["loader"] = _write_loader(env, outcome, Path(write_loader), models, input_path,
                                                  reference, sandboxed, timeout, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    groups = agreement_groups(environments)
    kept = {"reference_values": reference} if keep_reference else {}
    return {**kept, "schema": SCHEMA, "path": str(path), "diagnosis": _diagnosis_dict(diagnosis),
            "fixture": fixture, "size": size,
            "input": {"description": input_description, "shape": list(np.shape(batch))},
            "reference": source, "environments": _public(environments),
            "disagreements": _disagreements(environments, source, groups), "groups": groups}


def _reference_output(environments: list[dict]):
    for env in environments:
        for attempt in env["attempts"]:
            if attempt.get("is_reference"):
                return attempt["embeddings"]
    return None


def _write_loader(env: catalog.Environment, outcome: dict, folder: Path, models: list[Path], batch_path: Path,
                  reference, sandboxed: bool, timeout: float, log) -> dict:
    """Write and verify one environment's ``load_<env>.py``; what the document records of it."""
    best = outcome["recommended"]
    if outcome["error"] or best is None or not best.get("recipe"):
        why = outcome["error"] or "no strategy gives the reference numbers"
        return {"path": None, "verified": False, "detail": f"no script written: {why}"}
    script = loaders_.write(folder, env.id, best["recipe"], models[0], outcome["runtime"] or {})
    log(f"[probe] {env.id}: wrote {script}; running it standalone")
    started = time.time()
    verified, detail = loaders_.verify(env, script, models, batch_path, reference, sandboxed=sandboxed,
                                       timeout=timeout)
    loaders_.note_result(script, verified, detail)
    return {"path": str(script), "verified": verified, "detail": detail, "seconds": round(time.time() - started, 1)}


def _diagnosis_dict(diagnosis: Diagnosis) -> dict:
    return {"ok": diagnosis.ok, "kind": diagnosis.kind, "format": diagnosis.format,
            "message": diagnosis.message, "advice": diagnosis.advice, "weights": diagnosis.weights,
            "bytes": diagnosis.nbytes, "keras_version": diagnosis.keras_version}


FACENET_LAYERS = (b"Conv2d_1a_3x3", b"Mixed_6a", b"Mixed_7a", b"Bottleneck")
"""Layer names every FaceNet build has; a file without them is not FaceNet's architecture."""


def has_facenet_layers(path: str) -> bool:
    """Whether the model's layer names are FaceNet's: the only case a FaceNet rebuild applies.

    HDF5 keeps group and attribute names as plain bytes; a SavedModel folder its layer
    names in its protobufs; a ``.keras`` zip in its (compressed) config.json.
    """
    import zipfile
    target = Path(path)
    files = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target]
    for file in files:
        if zipfile.is_zipfile(file):
            try:
                with zipfile.ZipFile(file) as archive:
                    data = archive.read("config.json")
            except (KeyError, OSError, zipfile.BadZipFile):
                continue
        else:
            data = file.read_bytes()
        if all(name in data for name in FACENET_LAYERS):
            return True
    return False


def facenet_skip(path: str):
    """The ``skip`` of a file: rebuilding FaceNet applies only to a file with FaceNet's layers."""
    return None if has_facenet_layers(path) else _not_facenet


def _not_facenet(strategy: dict) -> str | None:
    if strategy.get("kind") == "weights":
        return ("the file's layer names are not FaceNet's (no Conv2d_1a_3x3, Mixed_6a, Mixed_7a, "
                "Bottleneck), so rebuilding FaceNet to take its weights does not apply")
    return None


def loadable(args, command: str = "probe") -> Diagnosis:
    """The diagnosis of ``args.path``, or the one line that says why it cannot be loaded."""
    diagnosis = diagnose(args.path)
    if not diagnosis.ok:
        if getattr(args, "verbose", False):
            print(f"compat {command}: diagnosis {_diagnosis_dict(diagnosis)}", file=sys.stderr)
        raise ProbeError(diagnosis.line())
    if diagnosis.format == "json" and not diagnosis.weights:
        raise ProbeError(diagnosis.line())
    return diagnosis


def main(args) -> int:
    diagnosis = loadable(args)
    loaders = _loaders(getattr(args, "loaders", None) or "tf215,tf221")
    size, timeout, batch, described, reference = read_options(args, diagnosis)
    sandboxed = not getattr(args, "no_sandbox", False)
    write_loader = getattr(args, "write_loader", None)
    if write_loader:
        write_loader = loaders_.prepare(write_loader)
    if sandboxed:
        sandbox.check()  # no bubblewrap: refuse before any environment starts

    log = _log
    print(f"compat probe: {scan.summary(args.path)}", file=sys.stderr)
    print(f"compat probe: {diagnosis.line()}", file=sys.stderr)
    document = probe(args.path, loaders, diagnosis=diagnosis, size=size,
                     variant=getattr(args, "variant", None) or DEFAULT_VARIANT, batch=batch,
                     reference=reference, input_description=described, timeout=timeout,
                     sandboxed=sandboxed, log=log, write_loader=write_loader)
    print(render(document))
    json_out = getattr(args, "json_out", None)
    if json_out:
        results.write_atomically(Path(json_out), document)
    failed = [env["id"] for env in document["environments"] if env["error"]]
    if failed:
        raise HarnessFailure(f"could not run {', '.join(failed)}: "
                             + "; ".join(env["error"] for env in document["environments"] if env["error"]))
    unproven = [env["id"] for env in document["environments"]
                if env.get("loader") and env["loader"]["path"] and not env["loader"]["verified"]]
    if unproven:
        # the same recipe passed in the worker: a script that does not is the harness's fault
        raise HarnessFailure(f"the written loader for {', '.join(unproven)} did not reproduce the reference "
                             f"standalone (see its standalone: line)")
    return EXIT_OK


def read_options(args, diagnosis: Diagnosis) -> tuple:
    """``(size, timeout, batch, input description, reference or None)`` from the options."""
    size = getattr(args, "size", None) or diagnosis.size_guess
    if size not in ("full", "tiny"):
        raise ProbeError(f"--size must be full or tiny, not {size!r}")
    timeout = getattr(args, "timeout", None)
    timeout = 600.0 if timeout is None else float(timeout)
    if timeout <= 0:
        raise ProbeError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    if getattr(args, "reference", None) and not getattr(args, "input", None):
        raise ProbeError("--reference needs --input: the batch its numbers were computed on "
                         "(without it the probe would compare them with its own batch)")
    if getattr(args, "input", None):
        if getattr(args, "input_shape", None):
            raise ProbeError("give --input or --input-shape, not both")
        batch = load_array(args.input, "--input")
        if batch.ndim < 2:
            raise ProbeError(f"--input {args.input} has shape {list(batch.shape)}: a batch needs a first axis")
        check_shape(tuple(batch.shape[1:]), diagnosis.input_shape, f"--input {args.input}")
        described = f"{args.input} {list(batch.shape)} as it is"
    else:
        shape_text = getattr(args, "input_shape", None)
        shape = parse_shape(shape_text) if shape_text else (diagnosis.input_shape or DEFAULT_INPUT_SHAPE)
        check_shape(shape, diagnosis.input_shape, "--input-shape")
        batch = seeded_batch(shape)
        described = f"seeded batch {list(batch.shape)} (prewhitened)"
    reference = load_array(args.reference, "--reference") if getattr(args, "reference", None) else None
    if reference is not None and len(reference) != len(batch):
        raise ProbeError(f"--reference has {len(reference)} rows but --input has {len(batch)}")
    return size, timeout, batch, described, reference
