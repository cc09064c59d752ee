"""The engine every command on a user's file runs: read the model, feed it, run strategies, judge.

``compat probe``, the gate (``compat regress --models``), ``compat convert`` and the written
loaders all go through here, so a file gets the same answer from each:

1. ``open_model``: the diagnosis, whether the file is FaceNet (its layer names: the only
   case where FaceNet's batch, prewhitening and rebuilds apply), and the interface read
   from the file (``compat.userfiles.interface``);
2. ``describe``: where the file keeps no interface the host can read (a SavedModel), the
   first environment loads it and reports its serving signature;
3. ``make_batch``: a seeded batch in each input's valid range (token ids below the
   Embedding's ``input_dim``, booleans for masks), or the user's ``--input``; every open
   dimension gets a stated default, and the batch says where each part came from;
4. ``run_models``: every strategy on every file in one environment, through one worker
   (``compat.inside.worker``, one TensorFlow import) that a crash or hang replaces;
5. ``judge``: every attempt judged by the matrix's judge (``compat.records.judge``), with
   every output compared with the reference's output of the same name (else the same
   shape, else the same position), each by the matrix's numeric check.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from compat import catalog
from compat.environments import envs, sandbox, workerclient
from compat.errors import BadInput, HarnessFailure
from compat.paths import cache_root
from compat.records import families, summary
from compat.records.attempt import MEASURED, plain_error
from compat.records.judge import LOADED
from compat.records.judge import judge as judge_result
from compat.records.outputs import compare_outputs
from compat.records.verdicts import Verdict
from compat.userfiles import interface as interfaces
from compat.userfiles import scan
from compat.userfiles.diagnose import Diagnosis, has_facenet_layers

SEED = 0
BATCH = 3
OPEN_DIMENSION = 16
"""The length given to a dimension the model leaves open (a variable-length sequence)."""
KEPT = (*MEASURED, "reason", "error", "worker_log")
"""What an engine attempt keeps of the worker's result beside its status and outputs: what the
matrix records of every attempt, why it did not load, and the worker's log."""


class EngineError(BadInput):
    """Bad input to a command on a user's file, in one line (exit status 2)."""


# -- the file --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UserFunction:
    """``--function LAYER=FILE.py:NAME``: the user's code for one Lambda layer."""

    layer: str
    path: Path
    name: str


def parse_functions(given: list[str]) -> tuple[UserFunction, ...]:
    """Each ``LAYER=FILE.py:NAME``, checked before any environment starts."""
    found: dict[str, UserFunction] = {}
    for text in given:
        layer, equals, rest = text.partition("=")
        path, colon, name = rest.rpartition(":")
        if not (equals and colon and layer and path and name.isidentifier()):
            raise EngineError(f"--function {text}: give LAYER=FILE.py:NAME (the Lambda layer, your file, its function)")
        file = Path(path).expanduser().resolve()
        if file.suffix != ".py" or not file.is_file():
            raise EngineError(f"--function {text}: {path} is not a Python file")
        if layer in found:
            raise EngineError(f"--function {text}: layer {layer} is given twice")
        names = {f.path.name: f.path for f in found.values()}
        if names.get(file.name, file) != file:
            raise EngineError(f"--function {text}: two files named {file.name} (a loader keeps them side by side)")
        found[layer] = UserFunction(layer, file, name)
    return tuple(found.values())


def parse_architecture(text: str | None) -> UserFunction | None:
    """``--architecture FILE.py:NAME``: the user's function or class returning the model."""
    if not text:
        return None
    path, colon, name = text.rpartition(":")
    if not (colon and path and name.isidentifier()):
        raise EngineError(
            f"--architecture {text}: give FILE.py:NAME (your file, the function or class returning the model)"
        )
    file = Path(path).expanduser().resolve()
    if file.suffix != ".py" or not file.is_file():
        raise EngineError(f"--architecture {text}: {path} is not a Python file")
    return UserFunction("", file, name)


@dataclasses.dataclass(frozen=True)
class ModelFile:
    diagnosis: Diagnosis
    facenet: bool
    interface: interfaces.Interface | None
    """What the file records of its inputs and outputs; None where the host cannot read it."""

    @property
    def path(self) -> str:
        return self.diagnosis.path

    stored_code: str = ""
    """What code the file stores (``compat scan``'s summary), for a recipe's comment; "" when none."""
    functions: tuple[UserFunction, ...] = ()
    """The user's code for Lambda layers (``--function``)."""
    architecture: UserFunction | None = None
    """The user's code returning the model (``--architecture``)."""

    @property
    def function_files(self) -> list[Path]:
        """The user's Python files the worker imports (mounted read-only, copied beside loaders)."""
        given = list(self.functions) + ([self.architecture] if self.architecture else [])
        return sorted({f.path for f in given})

    def fixture(self, key: str, size: str, variant: str, script: str | None = None, where=str) -> dict:
        """What the worker's strategies are handed for this file; ``where`` maps a host path to the
        worker's view of it (the sandbox's)."""
        found: dict[str, Any] = {
            "id": key,
            "variant": variant if self.facenet else "user",
            "format": self.diagnosis.format,
            "path": Path(self.path).name,
            "weights": self.diagnosis.weights,
            "size": size,
            "saved_by_keras": self.diagnosis.keras_version,
            "facenet": self.facenet,
            "custom_classes": list(self.interface.custom_classes) if self.interface else [],
            "stored_code": self.stored_code,
        }
        if script:
            found["script"] = script
        if self.functions:
            found["functions"] = {f.layer: [where(f.path), f.name] for f in self.functions}
        if self.architecture:
            found["architecture"] = [where(self.architecture.path), self.architecture.name]
        return found


def open_model(diagnosis: Diagnosis) -> ModelFile:
    assert diagnosis.format is not None, "a usable file's diagnosis names its format"
    found = scan.scan(diagnosis.path)
    stored = scan.summary_text(found.findings) if found.has_code else ""
    return ModelFile(
        diagnosis, has_facenet_layers(diagnosis.path), interfaces.read(diagnosis.path, diagnosis.format), stored
    )


# -- the batch ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Batch:
    arrays: OrderedDict
    """Input name -> the array fed to it (the batch axis first)."""
    described: str
    """One line: what the batch is and where its shapes came from."""
    spec: dict
    """What the worker and the recipes are told: inputs (name, shape, dtype, range) and outputs."""

    def save(self, path: Path) -> Path:
        np.savez(path, **self.arrays)
        return path


def make_batch(model: ModelFile, given: str | None = None, shapes: dict | None = None, count: int = BATCH) -> Batch:
    """The batch every environment is fed: ``given`` (a .npy or .npz) as it is, else seeded."""
    read = model.interface
    if given:
        return _given_batch(given, read)
    if read is None or not read.inputs:
        raise EngineError(
            f"{Path(model.path).name}: its inputs are not recorded where the host can read them; "
            f"give --input (a .npy or .npz batch) or --input-shape"
        )
    if model.facenet and len(read.inputs) == 1 and not shapes:
        from compat.inside import facenet  # numpy only: safe on the host

        arrays = OrderedDict([(read.inputs[0].name, facenet.reference_input(SEED, count))])
        return Batch(
            arrays, f"FaceNet's seeded batch {list(arrays[read.inputs[0].name].shape)} (prewhitened)", read.spec()
        )
    rng = np.random.RandomState(SEED + 1)
    arrays, parts, inputs = OrderedDict(), [], []
    for tensor in read.inputs:
        tensor, note = _shaped(tensor, shapes or {}, len(read.inputs))
        arrays[tensor.name] = _seeded(rng, tensor, count)
        inputs.append(tensor.to_dict())
        parts.append(f"{tensor.name} {tensor.dtype} {list(arrays[tensor.name].shape)}" + _range(tensor) + note)
    described = f"seeded batch: {'; '.join(parts)} (shapes from {read.source})"
    return Batch(arrays, described, dict(read.spec(), inputs=inputs))


def _shaped(tensor: interfaces.Tensor, shapes: dict, inputs: int) -> tuple[interfaces.Tensor, str]:
    """The tensor with every open dimension given: by ``--input-shape`` (by name, or the only
    input's), else the stated default; and what the output says about it."""
    given = shapes.get(tensor.name) or (shapes.get(None) if inputs == 1 else None)
    if given is not None:
        if tensor.shape is not None and len(tensor.shape) - 1 != len(given):
            raise EngineError(
                f"--input-shape {','.join(map(str, given))} has {len(given)} dimensions, but the "
                f"model's input {tensor.name} has {len(tensor.shape) - 1}"
            )
        for size, recorded in zip(given, (tensor.shape or ())[1:], strict=False):
            if recorded is not None and recorded != size:
                raise EngineError(
                    f"--input-shape {','.join(map(str, given))} does not fit the model's input "
                    f"{tensor.name}, which takes {_shown(tensor.shape)}"
                )
        return dataclasses.replace(tensor, shape=(None,) + tuple(given)), " (from --input-shape)"
    if tensor.shape is None:
        raise EngineError(
            f"the model's input {tensor.name} has no recorded shape; give --input-shape {tensor.name}=SHAPE or --input"
        )
    open_axes = [i for i, d in enumerate(tensor.shape) if d is None and i > 0]
    if not open_axes:
        return tensor, ""
    shape = tuple(OPEN_DIMENSION if (d is None and i > 0) else d for i, d in enumerate(tensor.shape))
    return (
        dataclasses.replace(tensor, shape=shape),
        (
            f" (open dimension{'s' if len(open_axes) > 1 else ''} {', '.join(map(str, open_axes))} "
            f"set to {OPEN_DIMENSION}: --input-shape to choose)"
        ),
    )


def _range(tensor: interfaces.Tensor) -> str:
    if tensor.below:
        return f" ids below {tensor.below}"
    if np.dtype(tensor.dtype).kind in "iu":
        return " integers 0-9 (the file records no range)"
    return ""


def _shown(shape) -> str:
    return ",".join("any" if d is None else str(d) for d in (shape or ())[1:])


def _seeded(rng: np.random.RandomState, tensor: interfaces.Tensor, count: int) -> np.ndarray:
    """Seeded values in the input's valid range: ids below the Embedding's size, booleans
    for masks, small integers, or floats around zero."""
    assert tensor.shape is not None, "every dimension is given by _shaped"
    shape = (count,) + tuple(tensor.shape[1:])
    dtype = np.dtype(tensor.dtype if tensor.dtype != "string" else "float32")
    if dtype.kind in "iu":
        return rng.randint(0, tensor.below or 10, shape).astype(dtype)
    if dtype.kind == "b":
        return rng.randint(0, 2, shape).astype(bool)
    return rng.standard_normal(shape).astype(dtype)


def _given_batch(path: str, read: interfaces.Interface | None) -> Batch:
    arrays = read_arrays(path, "--input")
    names = [t.name for t in read.inputs] if read else []
    if len(arrays) == 1 and len(names) == 1:
        arrays = OrderedDict([(names[0], next(iter(arrays.values())))])
    elif names and set(arrays) != set(names):
        raise EngineError(f"--input {path} holds {', '.join(arrays)}, but the model takes {', '.join(names)}")
    lengths = {len(a) for a in arrays.values() if a.ndim}
    if any(a.ndim < 1 for a in arrays.values()) or len(lengths) != 1:
        raise EngineError(f"--input {path}: every array needs the same first (batch) axis")
    for tensor in read.inputs if read else ():
        given = arrays[tensor.name].shape[1:]
        if tensor.shape is not None and not _fits(given, tensor.shape[1:]):
            raise EngineError(
                f"--input {path}: {tensor.name} has shape {','.join(map(str, given)) or 'scalar'} "
                f"per sample, but the model takes {_shown(tensor.shape)}"
            )
    inputs = [{"name": n, "shape": [None] + list(a.shape[1:]), "dtype": str(a.dtype)} for n, a in arrays.items()]
    outputs = read.spec()["outputs"] if read else []
    shown = "; ".join(f"{n} {a.dtype} {list(a.shape)}" for n, a in arrays.items())
    return Batch(arrays, f"{path} as it is: {shown}", {"inputs": inputs, "outputs": outputs})


def _fits(given: tuple, recorded: tuple) -> bool:
    return len(given) == len(recorded) and all(r is None or r == g for g, r in zip(given, recorded, strict=False))


def read_arrays(path: str, what: str) -> OrderedDict:
    """A ``.npy`` (one array) or ``.npz`` (arrays by name), checked before any environment starts."""
    if not path.endswith((".npy", ".npz")):
        raise EngineError(f"{what} {path} must be a .npy (one array) or .npz (arrays by name) file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EngineError(f"{what} {path} cannot be read as a numpy file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        return OrderedDict([(None, loaded)])
    with loaded:
        return OrderedDict((name, loaded[name]) for name in loaded.files)


def parse_shapes(texts: list[str] | None) -> dict:
    """``--input-shape 160,160,3`` (the only input) or ``--input-shape tokens=12`` (by name)."""
    shapes = {}
    for text in texts or []:
        name, _, dims = text.rpartition("=")
        parts = [part.strip() for part in dims.replace("x", ",").split(",")]
        if not dims.strip() or not all(part.isdigit() and int(part) > 0 for part in parts):
            raise EngineError(
                f"--input-shape {text!r} must be positive whole sizes such as 160,160,3 "
                f"(or NAME=12 for one of several inputs)"
            )
        shapes[name or None] = tuple(int(part) for part in parts)
    return shapes


# -- running ---------------------------------------------------------------------------------


def describe_many(
    env: catalog.Environment, models: list[tuple], *, isolation, extra_env: dict, timeout: float, log
) -> dict:
    """``describe`` for ``[(key, model, root)]`` through one worker: ``{key: {"interface"} or {"error"}}``."""
    found = {}
    with _client(env, isolation, extra_env, log) as client:
        for number, (key, model, root) in enumerate(models):
            request = {"op": "describe", "id": number, "root": root, "fixture": model.fixture(key, "tiny", "lambda")}
            result = client.attempt(request, timeout)
            if result.get("status") == LOADED:
                found[key] = {"interface": result["interface"]}
                continue
            error = result.get("error") or {}
            found[key] = {
                "error": f"{error.get('type')}: {error.get('message')}" if error else result.get("reason", "")
            }
    return found


def learn_interfaces(
    loaders: list[catalog.Environment], models: list[tuple[str, ModelFile]], *, sandboxed: bool, timeout: float, log
) -> tuple[list[tuple[str, ModelFile]], dict]:
    """The models with their interfaces: read from the files, else as the first of ``loaders``
    that can load each one reports it (a serving signature), one worker per environment.
    Returns the models and, for those no environment could read, why."""
    import shutil
    import tempfile

    learnt: dict[str, interfaces.Interface] = {}
    why: dict[str, list[str]] = {}
    for env in loaders:
        unknown = [(key, m) for key, m in models if m.interface is None and key not in learnt]
        if not unknown:
            break
        scratch = Path(tempfile.mkdtemp(prefix="compat-describe-"))
        try:
            isolation, _, roots, _ = isolation_for(sandboxed, [(m.path, [m.diagnosis.weights]) for _, m in unknown], [])
            log(f"[{env.id}] reading the inputs and outputs of {len(unknown)} model(s) where they load")
            found = describe_many(
                env,
                [(key, m, root) for (key, m), root in zip(unknown, roots, strict=False)],
                isolation=isolation,
                extra_env={"HOME": str(scratch)},
                timeout=timeout,
                log=log,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for key, _ in unknown:
            if "interface" in found[key]:
                learnt[key] = interface_from(found[key]["interface"], env.id)
                why.pop(key, None)
            else:
                why[key] = why.get(key, []) + [f"{env.id}: {found[key]['error']}"]
    return (
        [(key, dataclasses.replace(m, interface=learnt[key]) if key in learnt else m) for key, m in models],
        {key: "; ".join(reasons) for key, reasons in why.items()},
    )


def interface_from(described: dict, env_id: str) -> interfaces.Interface:
    """An ``Interface`` from what an environment reported (``describe``)."""

    def tensor(item):
        shape = tuple(item["shape"]) if item.get("shape") is not None else None
        return interfaces.Tensor(item["name"], shape, item.get("dtype") or "float32")

    return interfaces.Interface(
        tuple(tensor(i) for i in described["inputs"]),
        tuple(tensor(o) for o in described["outputs"]),
        source=f"the serving signature as {env_id} loads it",
    )


def _client(env, isolation, extra_env, log):
    return workerclient.Client(
        env,
        cache_root() / "logs",
        extra_env=extra_env,
        isolation=isolation or workerclient.LightIsolation(),
        log=log,
    )


def run_models(
    env: catalog.Environment,
    models: list[dict],
    *,
    timeout: float,
    extra_env: dict,
    log=print,
    isolation=None,
    on_attempt=None,
) -> dict:
    """Every strategy on each of many files in ``env``, all through one worker client.

    ``models`` are ``{"key", "fixture", "root", "input", "spec"}``: ``input`` the .npz batch
    as the worker sees it. One worker (one TensorFlow import) serves every file; one that
    dies or hangs on an attempt is replaced, so the rest still run. Returns the
    environment's record with ``runtime``, ``strategies``, ``models`` (``{key: [attempts]}``,
    each keeping its raw ``outputs``), ``error``, ``seconds``, ``workers`` and
    ``tensorflow_imports``.
    """
    started = time.time()
    outcome = dict(
        envs.record(env),
        runtime=None,
        strategies=None,
        models={},
        model_seconds={},
        error=None,
        workers=0,
        tensorflow_imports=0,
    )

    def worker_started(info):
        outcome["runtime"], outcome["strategies"] = info["runtime"], info["strategies"]
        outcome["workers"] += 1
        outcome["tensorflow_imports"] += 1 if info["runtime"].get("tensorflow") else 0

    number = 0
    try:
        with _client(env, isolation, extra_env, log) as client:
            client.on_start = worker_started
            client.start()
            for model in models:
                attempts = outcome["models"].setdefault(model["key"], [])
                model_started = time.time()
                for strategy in outcome["strategies"]:
                    number += 1
                    request = {
                        "op": "attempt",
                        "id": number,
                        "producer": "user",
                        "root": model["root"],
                        "fixture": model["fixture"],
                        "strategy": strategy["name"],
                        "input": model["input"],
                        "spec": model["spec"],
                    }
                    attempt = _record(strategy["name"], client.attempt(request, timeout))
                    attempts.append(attempt)
                    if on_attempt:
                        on_attempt(model["key"], attempt)
                outcome["model_seconds"][model["key"]] = round(time.time() - model_started, 2)
                loaded = sum(a["status"] == LOADED for a in attempts)
                log(
                    f"[{env.id}] {model['key']}: {loaded} of {len(attempts)} strategies loaded "
                    f"({outcome['model_seconds'][model['key']]:.1f}s)"
                )
    except HarnessFailure as exc:
        outcome["error"] = str(exc)
    outcome["seconds"] = round(time.time() - started, 1)
    return outcome


def _record(strategy: str, result: dict) -> dict:
    """An attempt from the worker client's result; a loaded output kept as arrays by name."""
    record = {"strategy": strategy, "status": result["status"]}
    record.update({key: result[key] for key in KEPT if key in result})
    if isinstance(record.get("error"), dict):
        record["error"] = plain_error(record["error"])
    if result["status"] == LOADED:
        record["outputs"] = [(o["name"], np.asarray(o["values"], dtype=np.float64)) for o in result["outputs"]]
    return record


def isolation_for(sandboxed: bool, models: list[tuple], data: list) -> tuple:
    """How the workers that load users' files are isolated, and where they see those files:
    ``(isolation, label, roots, inside)``.

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
            read_only[host] = folder + inside[len(sandbox.INPUT_DIR) :]
        roots.append(folder)
    for path in data:
        read_only.update(sandbox.data_path(path))
    box = sandbox.Bubblewrap(read_only)
    return box, sandbox.ISOLATION, roots, box.inside


# -- judging (pure) ------------------------------------------------------------------------


def judge(environments: list[dict], reference=None) -> dict:
    """Give every attempt a verdict against one reference (``compat.records.judge``, with
    ``compare_outputs`` as the check); returns where the reference came from.

    Without a given ``reference`` (``[(name, array)]``) the first attempt that loaded (first
    loader, registry order) is the reference and is marked ``is_reference``.
    """
    source: dict[str, str | None] = {"source": "file", "label": "--reference"}
    if reference is None:
        source = {"source": None, "label": None}
        for env in environments:
            attempt = next((a for a in env["attempts"] if a["status"] == LOADED), None)
            if attempt is not None:
                reference = attempt["outputs"]
                attempt["is_reference"] = True
                source = {"source": "attempt", "label": f"{env['id']}/{attempt['strategy']}"}
                break
    for env in environments:
        for attempt in env["attempts"]:
            found = judge_result(attempt["status"], attempt.get("outputs"), reference, check=compare_outputs)
            attempt.update(found.fields())
    return source


def reference_outputs(environments: list[dict]):
    for env in environments:
        for attempt in env["attempts"]:
            if attempt.get("is_reference"):
                return attempt["outputs"]
    return None


def given_reference(path: str, batch: Batch) -> list[tuple]:
    """``--reference``: one array (a model with one output) or arrays by output name."""
    arrays = read_arrays(path, "--reference")
    rows = len(next(iter(batch.arrays.values())))
    if any(len(a) != rows for a in arrays.values()):
        raise EngineError(
            f"--reference has {', '.join(str(len(a)) for a in arrays.values())} rows but the input has {rows}"
        )
    names = [o["name"] for o in batch.spec.get("outputs") or []]
    if list(arrays) == [None]:
        return [((names or ["output"])[0], np.asarray(arrays[None], dtype=np.float64))]
    return [(name, np.asarray(value, dtype=np.float64)) for name, value in arrays.items()]


def recommended(env: dict) -> dict | None:
    """The first passing strategy in the order a reader is advised them (``summary.strategy_order``;
    the attempts' own order where the environment's strategies are not known)."""
    passed = {a["strategy"]: a for a in env["attempts"] if a.get("verdict") == Verdict.PASS.value}
    order = summary.strategy_order(env.get("strategies") or []) + [a["strategy"] for a in env["attempts"]]
    return next((passed[name] for name in order if name in passed), None)


def agreement_groups(environments: list[dict]) -> list[list[str]]:
    """Outputs that loaded, grouped by agreeing with each other (each group's first is its anchor)."""
    groups: list[tuple[list, list[str]]] = []
    for env in environments:
        for attempt in env["attempts"]:
            if attempt["status"] != LOADED:
                continue
            label = f"{env['id']}/{attempt['strategy']}"
            for anchor, members in groups:
                if compare_outputs(anchor, attempt["outputs"])["verdict"] is Verdict.PASS:
                    members.append(label)
                    break
            else:
                groups.append((attempt["outputs"], [label]))
    return [members for _, members in groups]


def error_family(env: dict, attempt: dict, fmt: str | None):
    """The known failure family of an errored attempt, from its message and the reader's versions."""
    error = attempt.get("error")
    if not error:
        return None
    runtime = env.get("runtime") or {}
    python = ".".join(str(runtime.get("python") or "").split(".")[:2]) or None
    return families.classify(
        error.get("type") or "",
        error.get("message") or "",
        error.get("traceback") or "",
        strategy=attempt["strategy"],
        fmt=fmt,
        consumer_python=python,
        consumer_keras=runtime.get("keras"),
    )


def public(attempts: list[dict]) -> list[dict]:
    """Attempts without their raw outputs, for a JSON document."""
    return [{k: v for k, v in a.items() if k != "outputs"} for a in attempts]


def load_outputs(path: Path) -> list[tuple]:
    arrays = read_arrays(str(path), "the script's output")
    return [(name or "output", np.asarray(value, dtype=np.float64)) for name, value in arrays.items()]
