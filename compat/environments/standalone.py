"""Running a script the way a user would: standalone, isolated, judged by the matrix's check.

The recipe check, the probe's written loaders and convert's proof all run a Python script
with ``python -I`` from a folder holding only the model file(s), the architecture file and
the script, in an environment holding nothing of this project, and judge its OUTPUT.npy
with the numeric check. What they share lives here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from compat.errors import BadInput
from compat.paths import ARCHITECTURE, COMPANIONS, cache_root
from compat.records.recipetext import PATH_LINE
from compat.records.verdicts import Verdict, compare


class StandaloneError(BadInput):
    """Bad input to a standalone run, in one line (exit status 2)."""


def standalone_script(text: str, folder: Path) -> str:
    """The recipe with each path line pointing into ``folder``: the only change made."""

    def point(match):
        relative = json.loads(match["value"])
        return f"{match['name']} = {json.dumps(str(folder / relative))}"

    return PATH_LINE.sub(point, text)


def isolated_env(home, path: str | None = None, jax_cache: bool = True) -> dict:
    """What a user's shell would hand over: no PYTHONPATH, no KERAS_BACKEND, nothing of ours.

    Plus JAX's compilation cache, which changes no number: Keras 3 on JAX compiles one
    weight initialiser per kernel shape when it builds a model, 25 s of every cold run here.
    (``jax_cache=False`` where the project's cache folder is out of sight, as in the sandbox.)
    """
    variables = {"PATH": path or os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    if jax_cache:
        variables.update(jax_cache_variables())
    return variables


def jax_cache_variables() -> dict:
    """The variables that point JAX at the project's compilation cache (workers may share it)."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str(cache_root() / "jax-compilation-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


def finished(process: subprocess.Popen, timeout: float) -> str | None:
    """Wait for a standalone script; why it gave no output, or None when it exited 0."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return f"no output within {timeout:.0f}s"
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        return f"exit {process.returncode}: {lines[-1] if lines else ''}"[:300]
    return None


def judged(reference, output: Path) -> tuple[bool, str]:
    """The matrix's numeric check of a script's OUTPUT.npy: ``(passed, detail)``."""
    try:
        produced = np.load(output, allow_pickle=False)
    except (OSError, ValueError) as exc:
        return False, f"its OUTPUT.npy cannot be read ({exc})"
    numbers = compare(reference, produced)
    passed = numbers["verdict"] is Verdict.PASS
    detail = numbers.get("detail") or f"max |diff| {numbers['max_abs_diff']:.2g}, cosine {numbers['cosine']:.7f}"
    return passed, detail


def write_architecture(folder: Path) -> Path:
    """Write ``facenet_arch.py`` into ``folder`` (created if missing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StandaloneError(f"{folder} is a file, not a folder to write {ARCHITECTURE.name} into")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ARCHITECTURE.name
    shutil.copyfile(ARCHITECTURE, target)
    return target


def companions(recipe: str) -> list[Path]:
    """The project's files ``recipe`` imports from beside itself (facenet_arch.py, translate.py)."""
    return [path for path in COMPANIONS if re.search(rf"^import {path.stem}\b", recipe, re.MULTILINE)]


def write_companions(folder: Path, recipe: str) -> list[Path]:
    """Write beside a script in ``folder`` every file of the project it imports."""
    written = []
    for path in companions(recipe):
        shutil.copyfile(path, Path(folder) / path.name)
        written.append(Path(folder) / path.name)
    return written
