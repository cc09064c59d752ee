"""``compat convert PATH --to ENV -o OUT``: the model in ENV's own format, proven by a plain load.

The probe runs first (``compat.userfiles.probe``, sandboxed unless ``--no-sandbox``) over the
reference environments and ENV: the reference is ``--reference`` on ``--input``, else the
first environment that loads the file, and ENV's recommended strategy is the way in.
Inside ENV, ``compat.inside.convert`` loads the file that way and saves it: ``.keras`` for
Keras 3, ``.h5`` or a SavedModel (``--format``) for Keras 2. A FaceNet whose Lambda layers
hold bytecode is carried over to the architecture file's ``ScaleLayer`` first, since a
safe load refuses such code.

The way in is the first passing strategy that gives a Keras model of ENV's own Keras: a
strategy that loads with tf_keras (the legacy Keras 2 package) would save Keras 2's format,
which Keras 3 cannot open, so when only such a strategy gives the reference numbers the
conversion is refused in one line. A Lambda whose function the user gave
(``--function LAYER=FILE.py:NAME``) is saved by its function's name; the proof load hands
the user's function over in ``custom_objects`` (the file is copied beside OUT), never
``safe_mode=False``; a Lambda that would be saved as bytecode is refused.

The proof is a fresh process running the script written beside OUT, the load the output
shows (``load_model``, default ``safe_mode``; at most facenet_arch.py or the user's
function files beside it), under ``python -I`` like any standalone loader, with nothing of
the project: in ENV, and for a Keras 3 ENV also on the other backend (``keras315jax``,
Keras 3 on JAX without TensorFlow, or ``tf221`` for a JAX ENV), each with only its stack's
own switches (``KERAS_BACKEND``). In the sandbox the script sees each file convert wrote
read-only at its own path, not OUT's whole folder: a folder mounted there would hide the
sandbox's own writable ``/tmp`` when OUT is directly in ``/tmp`` ("No usable temporary
directory found").

Nothing stays at OUT unless every proof passed: on any failure convert removes what it
wrote (OUT, its proof script, and the files it wrote beside them) before it exits.

Exit status: 0 only when every proof passed; 2 for bad input; 3 when the conversion or
a proof did not succeed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from compat import catalog
from compat.environments import envs, sandbox, standalone
from compat.errors import EXIT_OK, BadInput, HarnessFailure, progress
from compat.records import strategyinfo
from compat.userfiles import engine, loaders, probe
from compat.userfiles.diagnose import Diagnosis

FORMATS = ("h5", "savedmodel")


class ConvertError(BadInput):
    """Bad input to convert, in one line (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Target:
    """Where and how the converted model is written."""

    out: Path
    format: str  # keras | h5 | savedmodel
    script: Path


def is_keras3(env: catalog.Environment) -> bool:
    if env.keras_api != "keras":
        return False
    version = env.locked_versions().get("keras", "")
    return version[:1].isdigit() and int(version.split(".")[0]) >= 3


def target(out: str, env: catalog.Environment, fmt: str | None) -> Target:
    """Check OUT against ENV's format before anything runs."""
    path = Path(out).expanduser().absolute()
    if is_keras3(env):
        if fmt:
            raise ConvertError(f"--format is for Keras 2 targets; {env.id} has Keras 3, which writes .keras")
        if path.suffix != ".keras":
            raise ConvertError(f"-o {out}: {env.id} has Keras 3, whose own format is a .keras file")
        fmt = "keras"
    else:
        fmt = fmt or "h5"
        if fmt not in FORMATS:
            raise ConvertError(f"--format must be h5 or savedmodel, not {fmt!r}")
        if fmt == "h5" and path.suffix not in (".h5", ".hdf5"):
            raise ConvertError(f"-o {out}: --format h5 writes a .h5 file")
        if fmt == "savedmodel" and path.suffix in (".h5", ".hdf5", ".keras"):
            raise ConvertError(f"-o {out}: a SavedModel is a folder; give a name without {path.suffix}")
    if path.exists():
        raise ConvertError(f"-o {out} exists; convert writes a new file and overwrites nothing")
    if not path.parent.is_dir():
        raise ConvertError(f"-o {out}: folder {path.parent} does not exist")
    script = path.parent / loaders.script_name(path.stem if fmt != "savedmodel" else path.name)
    if script.exists():
        raise ConvertError(f"{script} exists; convert writes its proof script there")
    return Target(path, fmt, script)


def candidates(document: dict, env_id: str) -> list[str]:
    """ENV's passing strategies in the probe's order that give a Keras model to save."""
    [env] = [e for e in document["environments"] if e["id"] == env_id]
    return [
        a["strategy"] for a in env["attempts"] if a.get("verdict") == "pass" and strategyinfo.gives_model(a["strategy"])
    ]


def way_in(ways: list[str], env: catalog.Environment) -> str:
    """The first of ``ways`` that gives a model of ENV's own Keras; a legacy Keras 2 strategy
    (tf_keras) in a Keras 3 ENV would save Keras 2's format, which Keras 3 cannot open."""
    if not is_keras3(env):
        return ways[0]
    native = [way for way in ways if not strategyinfo.legacy_keras(way)]
    if native:
        return native[0]
    keras = env.locked_versions().get("keras", "3")
    raise HarnessFailure(
        f"only {ways[0]} (the legacy Keras 2 package) gives the reference numbers in {env.id}; it saves "
        f"Keras 2's format, which Keras {keras} cannot open: no .keras written"
    )


JAX = "keras315jax"
TENSORFLOW = "tf221"


def backend(env: catalog.Environment) -> str:
    return "JAX" if dict(env.env_vars).get("KERAS_BACKEND") == "jax" else "TensorFlow"


def proof_environments(env: catalog.Environment) -> list[catalog.Environment]:
    """Where the written file is proven: ENV, and for Keras 3 the other backend too."""
    if not is_keras3(env):
        return [env]
    other = catalog.get(TENSORFLOW if backend(env) == "JAX" else JAX)
    return [env, other]


def stack_of(env: catalog.Environment) -> str:
    """``Keras 3.15.1 on JAX 0.6.2``: the stack a proof runs on, from its lock."""
    pins = env.locked_versions()
    keras = pins.get("keras") or pins.get("tf-keras") or pins.get("tensorflow", "")
    engine_ = "jax" if backend(env) == "JAX" else next((n for n in ("tensorflow", "tensorflow-cpu") if n in pins), "")
    on = f" on {backend(env)} {pins[engine_]}" if engine_ in pins else ""
    return f"Keras {keras}{on}" + (", no TensorFlow" if backend(env) == "JAX" and "tensorflow" not in pins else "")


class Written:
    """What convert wrote at and beside OUT, removed again unless every proof passed."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def add(self, path: Path) -> Path:
        self.paths.append(path)
        return path

    def remove(self) -> None:
        for path in reversed(self.paths):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def run_inside(env: catalog.Environment, request: dict, isolation, scratch: Path, timeout: float) -> dict:
    """``compat.inside.convert`` once in ``env``; its result (the last JSON line it prints)."""
    python = envs.ensure_built(env)
    process = isolation.start(
        env,
        python,
        ["-m", "compat.inside.convert", request["request_path"]],
        scratch,
        {"HOME": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"status": "error", "error": f"no result within {timeout:.0f}s"}
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = stderr.decode(errors="replace").strip().splitlines()
    return {"status": "error", "error": f"exit {process.returncode}: {tail[-1] if tail else ''}"[:300]}


def convert_file(
    model: engine.ModelFile,
    env: catalog.Environment,
    aim: Target,
    strategy: str,
    *,
    size: str,
    variant: str,
    spec: dict,
    sandboxed: bool,
    timeout: float,
) -> dict:
    """Load with ``strategy`` in ``env`` and save at ``aim.out``; the inside result."""
    work = Path(tempfile.mkdtemp(prefix="compat-convert-"))
    try:
        request_file = work / "request.json"
        isolation, _, [root], inside = engine.isolation_for(
            sandboxed, [(model.path, [model.diagnosis.weights])], [request_file, *model.function_files]
        )
        written = (
            f"{sandbox.WORK_DIR}/converted/{aim.out.name}"
            if sandboxed
            else str(work / "box" / "converted" / aim.out.name)
        )
        (work / "box").mkdir()
        request = {
            "root": root,
            "fixture": model.fixture(Path(model.path).name, size, variant, where=inside),
            "strategy": strategy,
            "out": written,
            "format": aim.format,
            "script": aim.script.name,
            "spec": spec,
        }
        request_file.write_text(json.dumps(request))
        request["request_path"] = inside(request_file)
        result = run_inside(env, request, isolation, work / "box", timeout)
        if result["status"] == "ok":
            made = (work / "box" / "rw" / "work" / "converted" / aim.out.name) if sandboxed else Path(written)
            if made.is_dir():
                shutil.copytree(made, aim.out)
            else:
                shutil.copyfile(made, aim.out)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


SHOWN = (
    "custom_objects = ",
    "os.environ[",
    "from tensorflow import keras",
    "import keras",
    "import tf_keras",
    "import facenet_arch",
    "facenet_arch.",
    "model = ",
)


def load_lines(program: str, model: Path) -> list[str]:
    """What the output shows of the proof script: the variables, imports and the load itself."""
    lines = program.splitlines()
    code = lines[lines.index('"""', 1) + 1 :] if lines and lines[0].startswith('"""') else lines  # after the docstring
    return [
        line.replace("MODEL_PATH", json.dumps(str(model)))
        for line in code
        if line.startswith(SHOWN) or line.endswith(USER_CODE)
    ]


USER_CODE = "# your code for the Lambda layers, beside this script"
"""The comment the inside script ends the lines with that import the user's functions."""


def companions_beside(model: engine.ModelFile, aim: Target) -> None:
    """The user's function files go beside OUT: refuse before anything runs if another file holds a name."""
    for path in model.function_files:
        there = aim.out.parent / path.name
        if there.exists() and there.resolve() != path.resolve():
            raise ConvertError(f"{there} exists and is not your {path}: convert copies your function file there")


def convert_and_prove(
    diagnosis: Diagnosis,
    env: catalog.Environment,
    aim: Target,
    references: list[catalog.Environment],
    options: probe.Options,
    *,
    sandboxed: bool,
) -> int:
    """Probe the file in ``references`` and ``env``, convert it in ``env`` with the way that gives
    the reference there, write the proof script beside ``aim.out`` and run it in a fresh process
    of every proof environment; remove everything written unless every proof passed."""
    path = diagnosis.path
    chosen = references + ([env] if env.id not in [e.id for e in references] else [])
    model, batch, reference = probe.prepare(diagnosis, chosen, options, sandboxed=sandboxed, log=progress)
    companions_beside(model, aim)
    size = options.size or diagnosis.size_guess
    document = probe.probe(
        model,
        chosen,
        batch=batch,
        size=size,
        variant=options.variant,
        reference=reference,
        timeout=options.timeout,
        sandboxed=sandboxed,
        log=progress,
        keep_reference=True,
    )
    reference = document.pop("reference_values")
    broken = [e for e in document["environments"] if e["error"]]
    if broken:
        raise HarnessFailure("could not run " + "; ".join(f"{e['id']}: {e['error']}" for e in broken))
    if reference is None:
        raise HarnessFailure(
            f"nothing loads {path} in {', '.join(e.id for e in chosen)}: no reference to convert against"
        )
    ways = candidates(document, env.id)
    if not ways:
        raise HarnessFailure(
            f"no strategy gives the reference numbers in {env.id} "
            f"(reference {document['reference']['label']}): nothing to convert with"
        )
    way = way_in(ways, env)
    written = Written()
    proven = False
    try:
        result = convert_file(
            model,
            env,
            aim,
            way,
            size=size,
            variant=options.variant,
            spec=dict(batch.spec, outputs=document.get("outputs_learnt") or batch.spec.get("outputs") or []),
            sandboxed=sandboxed,
            timeout=options.timeout,
        )
        if result["status"] != "ok":
            said = " ".join(str(result["error"]).split())
            raise HarnessFailure(f"converting in {env.id} with {way} failed: {said}")
        written.add(aim.out)
        files = write_beside(model, aim, result, written)
        show(path, env, aim, result, document)
        prove_all(env, aim, files, batch, reference, options, sandboxed)
        proven = True
    finally:
        if not proven:
            written.remove()
    return EXIT_OK


def write_beside(model: engine.ModelFile, aim: Target, result: dict, written: Written) -> list[Path]:
    """The proof script and what it imports beside OUT (facenet_arch.py, the user's function files);
    the files the proof reads."""
    files = [aim.out]
    if result["uses_architecture"]:
        beside = aim.out.parent / "facenet_arch.py"
        if not beside.exists():
            written.add(beside)
        files.append(standalone.write_architecture(aim.out.parent))
    wanted = {f["file"] for f in result.get("functions") or []}
    for source in model.function_files:
        if source.name not in wanted:
            continue
        beside = aim.out.parent / source.name
        if not beside.exists():
            shutil.copyfile(source, written.add(beside))
        files.append(beside)
    written.add(aim.script).write_text(standalone.standalone_script(result["program"], aim.out.parent) + "\n")
    return files


def show(path: str, env: catalog.Environment, aim: Target, result: dict, document: dict) -> None:
    stack = loaders.stack(result["runtime"])
    print(
        f"convert {path} -> {aim.out} ({env.id}: {stack}), loaded with {result['strategy']}, "
        f"reference {document['reference']['label']}"
    )
    if result["carried_over"]:
        print(
            f"  the file's {result['lambda_layers']} Lambda layers hold Python bytecode, which a safe load "
            f"refuses: carried over to facenet_arch's ScaleLayer (same weights)"
        )
    for given in result.get("functions") or []:
        print(
            f"  Lambda layer {given['layer']!r}: your {given['name']} from {given['file']}, saved by the name "
            f"{given['stored_as']!r} (no bytecode); a load hands it over in custom_objects"
        )
    beside = [name for name, used in (("facenet_arch.py", result["uses_architecture"]),) if used]
    beside += sorted({f["file"] for f in result.get("functions") or []})
    print("load it with" + (f" ({', '.join(beside)} beside {aim.out.name}):" if beside else ":"))
    for line in load_lines(result["program"], aim.out):
        print("    " + line)


def prove_all(
    env: catalog.Environment,
    aim: Target,
    files: list[Path],
    batch: engine.Batch,
    reference,
    options: probe.Options,
    sandboxed: bool,
) -> None:
    """Every proof environment runs the script; the first that does not reproduce the reference fails."""
    where = "in the sandbox" if sandboxed else "without the sandbox"
    for proof in proof_environments(env):
        verified, detail = loaders.verify(
            proof, aim.script, [], batch, reference, sandboxed=sandboxed, timeout=options.timeout, files=files
        )
        said = f"a fresh {proof.id} process ({stack_of(proof)}) ran {aim.script}"
        if not verified:
            print(f"proof on {backend(proof)}: NOT passed: {said} ({where}): {detail}")
            raise HarnessFailure(
                f"the converted file did not reproduce the reference in {proof.id}: {detail}; "
                f"removed {aim.out} and what convert wrote beside it"
            )
        print(f"proof on {backend(proof)}: passed: {said} (python -I, {where}): {detail}")
