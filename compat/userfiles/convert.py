"""``compat convert PATH --to ENV -o OUT``: the model in ENV's own format, proven by a plain load.

The probe runs first (``compat.userfiles.probe``, sandboxed unless ``--no-sandbox``) over the
reference environments and ENV: the reference is ``--reference`` on ``--input``, else the
first environment that loads the file, and ENV's recommended strategy is the way in.
Inside ENV, ``compat.inside.convert`` loads the file that way and saves it: ``.keras`` for
Keras 3, ``.h5`` or a SavedModel (``--format``) for Keras 2. A FaceNet whose Lambda layers
hold bytecode is carried over to the architecture file's ``ScaleLayer`` first, since a
safe load refuses such code.

The proof is a fresh process of ENV running the script written beside OUT, the load the
output shows (plain ``load_model``, default ``safe_mode``; at most facenet_arch.py beside
it), under ``python -I`` like any standalone loader (``compat.userfiles.loaders.verify``).

Exit status: 0 only when the proof passed; 2 for bad input; 3 when the conversion or
its proof did not succeed.
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
    return [line.replace("MODEL_PATH", json.dumps(str(model))) for line in code if line.startswith(SHOWN)]


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
    the reference there, write the proof script beside ``aim.out`` and run it in a fresh process."""
    path = diagnosis.path
    chosen = references + ([env] if env.id not in [e.id for e in references] else [])
    model, batch, reference = probe.prepare(diagnosis, chosen, options, sandboxed=sandboxed, log=progress)
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
    result = convert_file(
        model,
        env,
        aim,
        ways[0],
        size=size,
        variant=options.variant,
        spec=batch.spec,
        sandboxed=sandboxed,
        timeout=options.timeout,
    )
    if result["status"] != "ok":
        raise HarnessFailure(f"converting in {env.id} with {ways[0]} failed: {result['error']}")
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
    if result["uses_architecture"]:
        standalone.write_architecture(aim.out.parent)
    aim.script.write_text(standalone.standalone_script(result["program"], aim.out.parent) + "\n")
    print("load it with" + (f" (facenet_arch.py is beside {aim.out.name}):" if result["uses_architecture"] else ":"))
    for line in load_lines(result["program"], aim.out):
        print("    " + line)
    verified, detail = loaders.verify(
        env, aim.script, [aim.out], batch, reference, sandboxed=sandboxed, timeout=options.timeout
    )
    where = "in the sandbox" if sandboxed else "without the sandbox"
    if not verified:
        print(f"proof: NOT passed: a fresh {env.id} process ran {aim.script} ({where}): {detail}")
        raise HarnessFailure(f"the converted file did not reproduce the reference in {env.id}: {detail}")
    print(f"proof: passed: a fresh {env.id} process ran {aim.script} (python -I, {where}): {detail}")
    return EXIT_OK
