"""Bubblewrap: the sandbox a worker runs in when it loads a file nobody vouched for.

Loading a Keras 2 Lambda runs the Python bytecode stored in the file, so a worker that
loads a user's file gets a view of the machine that holds nothing worth stealing or
spoiling. Inside it sees:

- the system (``/usr`` and the ``/lib*`` and ``/bin`` links to it, the loader's ``/etc``
  files), the environment's packages at ``/env`` and its interpreter's prefix at the
  prefix's own path, all read-only; nothing else of the user's home;
- the worker's code (``compat/__init__.py`` and ``compat/inside/``) copied into the
  scratch folder and mounted read-only at ``/opt/compat``, not the project checkout;
- the model files read-only at ``/input/<name>`` and the other data it reads at
  ``/data/<name>``;
- one writable folder, ``/scratch`` (``HOME`` and the working folder are in it); results
  leave through the worker's stdout, which the host reads;
- its own ``/proc`` and ``/dev``, ``/tmp`` inside the scratch folder, the CPU topology
  (``/sys/devices/system/cpu``, read-only), and a root that is read-only too;
- no network at all (its own loopback only), its own PIDs, no capabilities, a new
  session (no typing into the user's terminal), and it dies with the process that
  started it.

The command line goes to bwrap through a pipe (``--args``), so the sandbox's PID 1 shows
no host path in ``/proc/1/cmdline``. A missing or unusable bwrap is ``SandboxUnavailable``:
one line saying how to install it; ``--no-sandbox`` is the user's explicit way round it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from compat import catalog
from compat.environments import envs
from compat.errors import BadInput
from compat.paths import PROJECT_ROOT

ISOLATION = "bubblewrap"
NO_SANDBOX = "none (--no-sandbox)"
BWRAP_VARIABLE = "COMPAT_BWRAP"  # names the bwrap binary (tests point it at one that is missing)
INSTALL = "apt-get install bubblewrap"
MEMORY_BYTES = 12 * 1024**3

INPUT_DIR = "/input"
DATA_DIR = "/data"
CODE_DIR = "/opt/compat"
SCRATCH_DIR = "/scratch"
VENV_DIR = "/env"
HOME_DIR = SCRATCH_DIR + "/home"
WORK_DIR = SCRATCH_DIR + "/work"

# Top-level system paths: merged-/usr systems have them as links into /usr.
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What the dynamic loader and the C library read; passwd and group are written fresh.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf")
# CPU topology, which TensorFlow reads to size its thread pools.
SYS_PATHS = ("/sys/devices/system/cpu",)
WORKER_CODE = ("compat/__init__.py", "compat/inside")
PASSED_THROUGH = ("COMPAT_INJECT_FAULT",)  # the worker's test hook (crashes and hangs on request)
COMMON = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL")


class SandboxUnavailable(BadInput):
    """bwrap is missing or cannot start here: the command refuses (exit status 2)."""

    def __init__(self, why: str):
        super().__init__(
            f"bubblewrap (bwrap) runs untrusted model files in a sandbox, and {why}; "
            f"install it with `{INSTALL}`, or pass --no-sandbox to load without it"
        )


def bwrap_binary() -> str:
    named = os.environ.get(BWRAP_VARIABLE)
    found = shutil.which(named or "bwrap")
    if not found:
        raise SandboxUnavailable(f"{named} was not found" if named else "it is not installed")
    return found


@functools.cache
def _works(binary: str) -> str | None:
    """Why ``binary`` cannot make a sandbox here, or None when it can."""
    try:
        done = subprocess.run(
            [binary, *COMMON, *_system_args(), "--", "/usr/bin/true"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{binary} cannot be run ({exc})"
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return f"{binary} cannot make a sandbox here ({said[:200]})"
    return None


def check() -> str:
    """The bwrap binary, once it is known to make a sandbox on this machine."""
    binary = bwrap_binary()
    why = _works(binary)
    if why:
        raise SandboxUnavailable(why)
    return binary


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in SYSTEM_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES + SYS_PATHS:
        args += ["--ro-bind-try", path, path]
    return args + ["--proc", "/proc", "--dev", "/dev"]


def interpreter_prefix(venv: Path) -> Path:
    """The base interpreter's prefix that a venv's ``bin/python`` runs from."""
    home = None
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            home = Path(value.strip())
    if home is None:
        raise envs.EnvironmentError_(f"{venv}/pyvenv.cfg names no base interpreter (home = ...)")
    return home.parent


class Bubblewrap:
    """Runs workers under bwrap with ``read_only`` host paths mapped to paths inside.

    ``read_only`` maps each host file or folder the worker may read to where it appears
    (use ``model_paths`` and ``data_path``); ``inside`` translates a host path for requests.
    """

    name = ISOLATION

    def __init__(self, read_only: dict, memory_bytes: int = MEMORY_BYTES):
        self.binary = check()
        self.read_only = {Path(host).resolve(): inside for host, inside in read_only.items()}
        self.memory_bytes = memory_bytes

    def inside(self, host_path) -> str:
        host_path = Path(host_path).resolve()
        for host, inside in self.read_only.items():
            if host_path == host:
                return inside
            if host in host_path.parents:
                return inside + "/" + host_path.relative_to(host).as_posix()
        raise ValueError(f"{host_path} is not visible inside the sandbox")

    def start(
        self,
        env: catalog.Environment,
        python: Path,
        arguments: list[str],
        scratch: Path,
        extra_env: dict | None = None,
        *,
        chdir: str = WORK_DIR,
        variables: dict | None = None,
        **popen,
    ) -> subprocess.Popen:
        """Start ``python *arguments`` in the sandbox; ``scratch`` is a fresh host folder.

        ``chdir`` is the working folder inside; ``variables``, when given, are the whole
        process environment instead of the worker's (a user's script gets nothing of ours).
        """
        venv = Path(python).parent.parent
        prefix = interpreter_prefix(venv)
        code, writable = _stage(Path(scratch))
        args = [*COMMON, *_system_args()]
        if not str(prefix).startswith("/usr/"):
            args += ["--ro-bind", str(prefix), str(prefix)]
        args += [
            "--ro-bind",
            str(venv),
            VENV_DIR,
            "--ro-bind",
            str(code),
            CODE_DIR,
            "--bind",
            str(writable),
            SCRATCH_DIR,
            "--bind",
            str(writable / "tmp"),
            "/tmp",
            "--ro-bind",
            str(code / "etc" / "passwd"),
            "/etc/passwd",
            "--ro-bind",
            str(code / "etc" / "group"),
            "/etc/group",
        ]
        for host, inside in self.read_only.items():
            args += ["--ro-bind", str(host), inside]
        args += ["--remount-ro", "/", "--chdir", chdir]  # the root bwrap builds in memory, too
        reader, writer = os.pipe()
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(b"".join(arg.encode() + b"\0" for arg in args))
        try:
            command = [self.binary, "--args", str(reader), "--", f"{VENV_DIR}/bin/python", *arguments]
            return subprocess.Popen(
                command,
                env=environment(env, extra_env) if variables is None else variables,
                cwd=str(scratch),
                pass_fds=(reader,),
                preexec_fn=self._limit,
                **popen,
            )  # noqa: PLW1509 - rlimits are set in the child
        finally:
            os.close(reader)

    def _limit(self):  # in the child, before exec: bwrap and everything it starts
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))

    @staticmethod
    def exit_status(returncode: int | None) -> int | None:
        """bwrap exits 128+N when the worker died of signal N; say it as Popen would (-N)."""
        if returncode is not None and 128 < returncode < 128 + 65:
            return 128 - returncode
        return returncode


def model_paths(path, companions=()) -> dict:
    """The model file or folder (and files read beside it) at ``/input/<name>``."""
    path = Path(path)
    mapped = {path: f"{INPUT_DIR}/{path.name}"}
    for name in companions:
        if name:
            mapped[path.parent / name] = f"{INPUT_DIR}/{name}"
    return mapped


def data_path(path) -> dict:
    return {Path(path): f"{DATA_DIR}/{Path(path).name}"}


def environment(env: catalog.Environment, extra_env: dict | None = None) -> dict:
    """The worker's variables, built from nothing: none of the user's (tokens, paths) get in."""
    child = {
        "PATH": f"{VENV_DIR}/bin:/usr/bin:/bin",
        "HOME": HOME_DIR,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
    }
    child.update(envs.worker_variables(env))
    child.update({k: v for k, v in (extra_env or {}).items() if k not in child or k.startswith("COMPAT_")})
    child.update({k: os.environ[k] for k in PASSED_THROUGH if k in os.environ})
    child["PYTHONPATH"] = CODE_DIR
    return child


def _stage(scratch: Path) -> tuple[Path, Path]:
    """``scratch/code`` (mounted read-only) and ``scratch/rw`` (the one writable folder)."""
    code, writable = scratch / "code", scratch / "rw"
    for relative in WORKER_CODE:
        source = PROJECT_ROOT / relative
        if source.is_dir():
            shutil.copytree(source, code / relative, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (code / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, code / relative)
    (code / "etc").mkdir()
    uid, gid = os.getuid(), os.getgid()
    (code / "etc" / "passwd").write_text(f"sandbox:x:{uid}:{gid}::{HOME_DIR}:/usr/sbin/nologin\n")
    (code / "etc" / "group").write_text(f"sandbox:x:{gid}:\n")
    for folder in ("home", "work", "tmp"):
        (writable / folder).mkdir(parents=True)
    return code, writable
