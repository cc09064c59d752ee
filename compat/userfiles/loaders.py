"""``compat probe --write-loader DIR``: the recommended recipe as a script the user keeps, proven.

Each environment's script is its recommended strategy's recipe with only the model's path
changed (to the file's absolute path, so it runs from any folder), under one opening
comment naming the environment. It is then run as a user would run it,
``python -I load_<env>.py INPUT OUTPUT`` from DIR, in that environment: in the
sandbox it sees DIR and the model read-only at their own paths and writes OUTPUT in its
scratch folder. Every output it writes must pass the matrix's numeric check against the
probe's reference (``outputs.compare_outputs``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from compat import catalog
from compat.environments import envs, sandbox, standalone
from compat.errors import BadInput
from compat.records.outputs import compare_outputs
from compat.userfiles import engine

HEAD_LINES = 3


def script_name(env_id: str) -> str:
    return f"load_{re.sub(r'[^A-Za-z0-9_.-]', '_', env_id)}.py"


def stack(runtime: dict) -> str:
    return ", ".join(
        f"{name} {runtime[key]}"
        for key, name in (("python", "Python"), ("tensorflow", "TensorFlow"), ("keras", "Keras"), ("jax", "JAX"))
        if runtime.get(key)
    )


def script_text(recipe: str, model: Path, env_id: str, runtime: dict) -> str:
    """The recipe with its path lines pointing at the model's folder, under the opening comment."""
    head = (
        f"# Verified in {env_id} ({stack(runtime)}).\n"
        f"# `compat probe --write-loader` ran this script there standalone (python -I, from this\n"
        f"# folder) and compared every output it writes with the probe's reference.\n"
    )
    return head + standalone.standalone_script(recipe, Path(model).resolve().parent) + "\n"


def prepare(folder) -> Path:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--write-loader {folder} is a file, not a folder to write the scripts into")
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def write(folder: Path, env_id: str, recipe: str, model: Path, runtime: dict) -> Path:
    """Write ``load_<env>.py`` (and the project's files it imports: facenet_arch.py, translate.py) into ``folder``."""
    target = folder / script_name(env_id)
    target.write_text(script_text(recipe, model, env_id, runtime))
    standalone.write_companions(folder, recipe)
    return target


def verify(
    env: catalog.Environment,
    script: Path,
    model_files: list[Path],
    batch: engine.Batch,
    reference,
    *,
    sandboxed: bool,
    timeout: float = 600.0,
    files: list[Path] | None = None,
) -> tuple[bool, str]:
    """Run ``script`` standalone in ``env`` from its folder, as a user of that stack would
    (``python -I``, nothing of the project, only the stack's own switches such as
    KERAS_BACKEND), and judge every output it writes against ``reference`` (``[(name, array)]``)
    with the engine's check. ``files``: what else beside it the script reads (default: what
    ``beside`` finds it importing)."""
    python = envs.ensure_built(env)
    scratch = Path(tempfile.mkdtemp(prefix="compat-loader-"))
    folder = script.parent
    switches = dict(env.env_vars)
    shown = [script.resolve(), *(beside(script)[1:] if files is None else [Path(f).resolve() for f in files])]
    try:
        batch_path = script_input(batch, scratch / "input")
        output = "output.npz" if len(reference) > 1 else "output.npy"
        if sandboxed:
            # The script names the model by its absolute path: the sandbox shows it there. Only
            # the files the script reads are shown, each at its own path: the folder itself may be
            # /tmp, where the sandbox's own writable scratch must stay visible.
            read_only = {path: str(path) for path in shown}
            read_only.update({Path(p).resolve(): str(Path(p).resolve()) for p in model_files})
            read_only.update(sandbox.data_path(batch_path))
            box = sandbox.Bubblewrap(read_only)
            process = box.start(
                env,
                python,
                ["-I", script.name, box.inside(batch_path), f"{sandbox.WORK_DIR}/{output}"],
                scratch,
                chdir=str(folder),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                variables={
                    **standalone.isolated_env(
                        sandbox.HOME_DIR, f"{sandbox.VENV_DIR}/bin:/usr/bin:/bin", jax_cache=False
                    ),
                    **switches,
                },
            )
            produced = scratch / "rw" / "work" / output
        else:
            home = scratch / "home"
            home.mkdir()
            produced = scratch / output
            process = subprocess.Popen(
                [str(python), "-I", script.name, str(batch_path), str(produced)],
                cwd=str(folder),
                env={**standalone.isolated_env(home), **switches},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        failed = standalone.finished(process, timeout)
        if failed:
            return False, failed
        try:
            outputs = engine.load_outputs(produced)
        except BadInput as exc:
            return False, str(exc)
        numbers = compare_outputs(reference, outputs)
        detail = numbers.get("detail") or f"max |diff| {numbers['max_abs_diff']:.2g}, cosine {numbers['cosine']:.7f}"
        return numbers["verdict"].value == "pass", detail
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def beside(script: Path) -> list[Path]:
    """The script and the files it imports or reads from its own folder: the project's companions
    (facenet_arch.py, translate.py) and the user's code it names by ``os.path.join(here, NAME)``."""
    text = script.read_text()
    names = {path.name for path in standalone.companions(text)}
    names |= set(re.findall(r'os\.path\.join\(here, "([^"/]+)"\)', text))
    return [script.resolve()] + sorted(
        (script.parent / name).resolve() for name in names if (script.parent / name).exists()
    )


def script_input(batch: engine.Batch, stem: Path) -> Path:
    """The batch as a script reads it: one array as ``.npy``, several by name as ``.npz``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    if len(batch.arrays) == 1:
        np.save(stem.with_suffix(".npy"), next(iter(batch.arrays.values())))
        return stem.with_suffix(".npy")
    return batch.save(stem.with_suffix(".npz"))


def note_result(script: Path, verified: bool, detail: str) -> None:
    """Add the verification's outcome under the opening comment (comments only)."""
    lines = script.read_text().splitlines(keepends=True)
    said = (
        f"# standalone: verified ({detail})\n"
        if verified
        else f"# standalone: NOT verified ({detail}); do not rely on this script\n"
    )
    script.write_text("".join(lines[:HEAD_LINES] + [said] + lines[HEAD_LINES:]))
