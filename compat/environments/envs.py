"""Finding interpreters, locking requirements and building each catalog environment with uv.

Environments live in ``.venvs/<id>`` (or ``$COMPAT_VENV_DIR/<id>``) and are rebuilt only
when their lock changes, so a warm machine pays nothing to reuse them.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from compat.catalog import Environment
from compat.errors import BadInput
from compat.paths import PROJECT_ROOT


class EnvironmentError_(BadInput):
    """A one-line, user-facing reason an environment cannot be built or used."""


def venv_root() -> Path:
    return Path(os.environ.get("COMPAT_VENV_DIR", PROJECT_ROOT / ".venvs"))


def venv_path(env: Environment) -> Path:
    return venv_root() / env.id


def venv_python(env: Environment) -> Path:
    return venv_path(env) / "bin" / "python"


def _reports_version(candidate: str, minor: str) -> bool:
    try:
        out = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == minor


def _candidates(minor: str):
    # On the PATH, but not pyenv's shims: they fail unless that version is selected.
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if "shims" in Path(folder).parts:
            continue
        exe = Path(folder) / f"python{minor}"
        if exe.is_file():
            yield str(exe)
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for folder in sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{minor}.*")), reverse=True):
        yield os.path.join(folder, "bin", f"python{minor}")
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run([uv, "python", "find", minor], capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip():
            yield found.stdout.strip()


def find_interpreter(minor: str, env_id: str = "") -> str:
    """Path of a working CPython ``minor``; a clear one-line error when there is none."""
    for candidate in _candidates(minor):
        if _reports_version(candidate, minor):
            return candidate
    who = f"environment {env_id} needs " if env_id else ""
    raise EnvironmentError_(
        f"{who}CPython {minor}, which was not found on the PATH, in pyenv's versions "
        f"folder or among uv's interpreters (install it with `uv python install {minor}` "
        f"or `pyenv install {minor}`)"
    )


def uv_executable() -> str:
    uv = shutil.which("uv")
    if uv:
        return uv
    try:
        import uv as uv_package  # the PyPI `uv` wheel ships the binary

        return uv_package.find_uv_bin()
    except Exception:  # noqa: BLE001 - any failure means the same thing to the user
        raise EnvironmentError_("uv was not found; install it with `python3 -m pip install uv`") from None


def compile_lock(env: Environment) -> Path:
    """Resolve ``env.requirements`` for its interpreter into the committed lock file."""
    python = find_interpreter(env.python, env.id)
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / f"{env.id}.in"
        req.write_text("\n".join(env.requirements) + "\n")
        resolve(python, req, env.lock_path, env.overrides)
    header = (
        f"# Lock for the `{env.id}` environment (CPython {env.python}): {env.summary}.\n"
        f"# Regenerate with `python -m compat lock {env.id}`.\n"
    )
    env.lock_path.write_text(header + env.lock_path.read_text())
    return env.lock_path


def resolve(python: str, requirements: Path, output: Path, overrides=(), what: str = "") -> None:
    """``uv pip compile`` of a requirements file into ``output`` for the interpreter ``python``.

    Run from the requirements' folder with relative names, so no temporary path ends up
    in the lock; ``overrides`` are written beside the requirements, so give them only for
    a requirements file in a scratch folder. A requirement set that does not resolve is
    bad input, in uv's own words.
    """
    folder = requirements.resolve().parent
    cmd = [
        uv_executable(),
        "pip",
        "compile",
        "--quiet",
        "--python",
        python,
        "--no-header",
        "--annotation-style",
        "line",
        requirements.name,
        "-o",
        str(output.resolve()),
    ]
    if overrides:
        (folder / "overrides.txt").write_text("\n".join(overrides) + "\n")
        cmd += ["--override", "overrides.txt"]
    # uv wraps its messages at $COLUMNS; unwrapped, each cause is one line to keep.
    done = subprocess.run(
        cmd,
        cwd=str(folder),
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, COLUMNS="100000", NO_COLOR="1"),
    )
    if done.returncode != 0:
        raise EnvironmentError_(f"uv cannot resolve {what or requirements.name}: {uv_reason(done.stderr)}")


_UV_MARKS = "\u00d7\u2570\u2500\u25b6\u2502 "  # the box drawing uv prefixes its causes with


def uv_reason(stderr: str) -> str:
    """uv's error and its causes in one line, without the source excerpt under a parse error."""
    kept = []
    for line in stderr.splitlines():
        text = line.strip()
        marked = text[:1] in _UV_MARKS[:-1]
        text = text.lstrip(_UV_MARKS).strip()
        for prefix in ("error:", "cause:", "help:"):
            if text.startswith(prefix):
                text, marked = text[len(prefix) :].strip(), True
        if marked and text:
            kept.append(text.rstrip(":"))
    if not kept:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        kept = lines[-1:] or ["no reason given"]
    return ": ".join(kept)


def lock_digest(env: Environment) -> str:
    return hashlib.sha256(env.lock_path.read_bytes()).hexdigest()[:16]


def record(env: Environment) -> dict:
    """What an output says about the environment it measured: for an ad-hoc one its spec and
    everything its lock resolved to, so a result can be traced to the exact stack."""
    return {
        "id": env.id,
        "summary": env.summary,
        "python": env.python,
        "spec": env.spec or None,
        "lock_digest": lock_digest(env),
        "lock": env.locked_versions(),
    }


def is_built(env: Environment) -> bool:
    stamp = venv_path(env) / ".compat-lock"
    return venv_python(env).exists() and stamp.exists() and stamp.read_text() == lock_digest(env)


BYTECODE_STAMP = ".compat-bytecode"


def compile_bytecode(env: Environment, log=print) -> None:
    """Compile the environment's packages to bytecode once, where none was compiled yet.

    Workers run with ``PYTHONDONTWRITEBYTECODE`` (they never write into the project or an
    environment), so without this every worker start compiled TensorFlow's Python from
    source again: 8 s of a 9 s ``import tensorflow`` on this machine, 3 s with bytecode.
    The environment's own interpreter compiles (uv's ``--compile-bytecode`` fails on 3.6).
    A file that does not compile is left alone: importing it fails the same way.
    """
    stamp = venv_path(env) / BYTECODE_STAMP
    if stamp.exists():
        return
    started = time.time()
    subprocess.run(
        [str(venv_python(env)), "-m", "compileall", "-q", "-j", "0", str(venv_path(env) / "lib")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    stamp.touch()  # `create` starts from an empty folder, so a rebuilt environment compiles again
    log(f"[compat] {env.id}: packages compiled to bytecode ({time.time() - started:.1f}s)")


def ensure_built(env: Environment, log=print) -> Path:
    """Create (or repair) the environment from its lock; cheap when it is up to date."""
    if not env.lock_path.exists():
        raise EnvironmentError_(f"environment {env.id} has no lock; run `python -m compat lock {env.id}`")
    if not (is_built(env) and (venv_path(env) / BYTECODE_STAMP).exists()):
        with _building(env):
            if not is_built(env):  # another process or thread may have built it meanwhile
                create(env, log)
            compile_bytecode(env, log)
    return venv_python(env)


@contextlib.contextmanager
def _building(env: Environment):
    """One builder of an environment at a time, across threads and processes: two workers of a
    fresh run each found it unbuilt, and a second ``uv venv --clear`` under the first one's
    ``uv pip sync`` left it half installed and stamped as built."""
    venv_root().mkdir(parents=True, exist_ok=True)
    with open(venv_root() / f".{env.id}.building", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # each open() is its own lock: threads wait too
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def create(env: Environment, log=print) -> None:
    """The environment made afresh from its lock by uv (links from uv's cache)."""
    python = find_interpreter(env.python, env.id)
    uv = uv_executable()
    path = venv_path(env)
    log(f"[compat] building environment {env.id} (CPython {env.python}) in {path}")
    subprocess.run([uv, "venv", "--quiet", "--clear", "--python", python, str(path)], check=True)
    result = subprocess.run(
        [uv, "pip", "sync", "--quiet", "--python", str(venv_python(env)), str(env.lock_path)],
        check=False,
    )
    if result.returncode != 0:
        raise EnvironmentError_(f"installing the lock of {env.id} failed (uv exit {result.returncode})")
    (path / ".compat-lock").write_text(lock_digest(env))


def worker_variables(env: Environment) -> dict:
    """The variables code inside ``env`` needs, whatever else its process inherits."""
    variables = {
        "COMPAT_ENV_ID": env.id,
        "COMPAT_KERAS_API": env.keras_api,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the project; environments: compile_bytecode
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONUNBUFFERED": "1",
    }
    variables.update(dict(env.env_vars))
    # Which of these a recipe must set itself: the worker sees only their values.
    variables["COMPAT_CATALOG_ENV_VARS"] = ",".join(name for name, _ in env.env_vars)
    return variables


def inside_env(env: Environment, extra: dict | None = None) -> dict:
    """Process environment for code run inside ``env``: the project on the path, quiet TF."""
    child = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KERAS_BACKEND", "TF_USE_LEGACY_KERAS")
    }
    child["PYTHONPATH"] = str(PROJECT_ROOT)
    child.update(worker_variables(env))
    child.update(extra or {})
    return child
