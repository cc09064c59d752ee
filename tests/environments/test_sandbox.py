"""The sandbox a probe loads untrusted files in: a hostile model file touches nothing of the user's.

The hostile fixture (``compat.inside.hostile``) is generated under tf215, where Keras 2
runs the bytecode stored in its Lambdas at load. Probed, it tries to write into the
folder the probe was started from, into ``$HOME`` and next to the model file, to read a
key the test puts in ``$HOME`` and to reach a listener on 127.0.0.1. The same probe with
``--no-sandbox`` shows those writes happen, so the checks can fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from compat import catalog
from compat.environments import envs, sandbox
from compat.harness import fixtures
from compat.inside import hostile
from compat.paths import cache_root
from tests.conftest import producer_reference

ROOT = Path(__file__).resolve().parents[2]


# -- a user's machine, a listener, the probe -------------------------------------------------


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection and what it was sent.

    Port 0 lets the OS choose a free port (``self.port``).
    """

    def __init__(self, port: int = 0):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind(("127.0.0.1", port))
        except OSError as exc:
            self.socket.close()
            raise AssertionError(
                f"127.0.0.1:{port} is taken by another process ({exc}); the hostile "
                f"file's stored code names that port, so this test needs it"
            ) from None
        self.port = self.socket.getsockname()[1]
        self.socket.listen(16)
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                chunks = []
                try:
                    while True:
                        chunk = connection.recv(65536)
                        if not chunk:
                            break
                        chunks.append(chunk)
                except OSError:
                    pass
                self.received.append(b"".join(chunks))

    def close(self):
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread waits in
        self.socket.close()
        self.thread.join(timeout=5)


class Machine:
    """Where the user starts the probe, their home with a private key, the model's folder."""

    def __init__(self, base: Path, model: Path):
        self.start, self.home, self.models, self.out = (base / n for n in ("start", "home", "models", "out"))
        for folder in (self.start, self.home / ".ssh", self.models, self.out):
            folder.mkdir(parents=True)
        self.secret = f"compat-test-private-key-{uuid.uuid4().hex}"
        (self.home / hostile.SECRET).write_text(self.secret + "\n")
        self.model = self.models / model.name
        shutil.copy2(model, self.model)
        self.before = self.listing()

    def listing(self) -> dict:
        return {
            str(folder): sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
            for folder in (self.start, self.home, self.models)
        }

    def planted(self) -> list[Path]:
        return [folder / hostile.PLANTED for folder in (self.start, self.home, self.models)]

    def probe(self, *options: str, extra_env=None) -> subprocess.CompletedProcess:
        child = dict(os.environ, HOME=str(self.home), PWD=str(self.start), PYTHONPATH=str(ROOT))
        child.update(extra_env or {})
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "compat",
                "probe",
                str(self.model),
                "--loaders",
                "tf215",
                "--json",
                str(self.out / "probe.json"),
                *options,
            ],
            cwd=str(self.start),
            env=child,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("hostile") / "generated"
    fixtures.run_generator(catalog.get("tf215"), raw, variants=["hostile"])
    return raw / "hostile.h5"


@pytest.fixture
def listener():
    """The port the hostile file's stored code connects to: fixed in that code, so fixed here."""
    opened = Listener(hostile.PORT)
    yield opened
    opened.close()


@pytest.fixture
def free_listener():
    """A listener on whatever port the OS gives, for code that is told the port."""
    opened = Listener()
    yield opened
    opened.close()


def _attempts(machine: Machine) -> dict:
    document = json.loads((machine.out / "probe.json").read_text())
    [env] = document["environments"]
    return {a["strategy"]: a for a in env["attempts"]}


# -- the hostile file, sandboxed and not --------------------------------------------------------


@pytest.mark.envs
def test_hostile_file_in_the_sandbox_touches_nothing(tmp_path, hostile_model, listener):
    machine = Machine(tmp_path, hostile_model)
    # The generator's own numbers for the hostile model, so a pass is against them.
    reference, batch = producer_reference(hostile_model.parent, "hostile", tmp_path)
    done = machine.probe("--reference", reference, "--input", batch)
    assert done.returncode == 0, done.stderr[-3000:]
    assert machine.listing() == machine.before  # no write in the start folder, the home or beside the model
    assert not any(path.exists() for path in machine.planted())
    assert listener.received == []  # no connection reached the host's loopback
    results = (machine.out / "probe.json").read_text()
    for text in (done.stdout, done.stderr, results):
        assert machine.secret not in text
    assert json.loads((machine.out / "probe.json").read_text())["reference"]["source"] == "file"
    attempts = _attempts(machine)
    assert attempts["load_model"]["code_executed"] is True  # the attack did run: Keras 2 revived it
    assert attempts["load_model"]["verdict"] == "pass"
    assert attempts["rebuild_weights"]["verdict"] == "pass"
    assert {a["isolation"] for a in attempts.values()} == {"bubblewrap"}
    assert "load_model: stored code ran (sandboxed)" in done.stdout
    assert "isolation: bubblewrap" in done.stdout


@pytest.mark.envs
def test_the_same_file_without_the_sandbox_writes_everywhere(tmp_path, hostile_model, listener):
    machine = Machine(tmp_path, hostile_model)
    done = machine.probe("--no-sandbox")
    assert done.returncode == 0, done.stderr[-3000:]
    for path in machine.planted():
        assert path.exists(), path  # the checks above can fail
        assert machine.secret in path.read_text()  # and it read the key
    attempts = _attempts(machine)
    assert {a["isolation"] for a in attempts.values()} == {sandbox.NO_SANDBOX}
    assert "load_model: stored code ran (not sandboxed: --no-sandbox)" in done.stdout
    assert f"isolation: {sandbox.NO_SANDBOX}" in done.stdout


@pytest.mark.envs
def test_a_crash_and_a_hang_in_the_sandbox_cost_one_attempt_each(tmp_path):
    machine = Machine(tmp_path, fixtures.unpacked("tf215") / "lambda.h5")
    # tf215's own numbers: with load_model and no_compile gone, custom_objects would otherwise
    # be the probe's reference and pass against itself.
    reference, batch = producer_reference(fixtures.fixture_dir("tf215"), "lambda", tmp_path)
    # The probe names the file's attempts by the file's name, which the fault hook matches.
    name = machine.model.name
    done = machine.probe(
        "--timeout",
        "60",
        "--reference",
        reference,
        "--input",
        batch,
        extra_env={"COMPAT_INJECT_FAULT": f"segfault:load_model:{name};hang:no_compile:{name}"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    attempts = _attempts(machine)
    assert attempts["load_model"]["verdict"] == "crash"
    assert "SIGSEGV" in attempts["load_model"]["reason"]  # bwrap's 139 said as the signal it was
    assert attempts["no_compile"]["verdict"] == "timeout"
    assert attempts["custom_objects"]["verdict"] == "pass"  # a fresh sandboxed worker took over


# -- what the worker sees: every boundary, without TensorFlow ------------------------------------

LOOK_AROUND = r"""
import json, os, socket, sys
def can_write(path):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        return True
    except OSError:
        return False
def exists(path):
    return os.path.exists(path)
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
    connected = True
except OSError:
    connected = False
print(json.dumps({
    "cwd": os.getcwd(), "home": os.environ["HOME"], "variables": sorted(os.environ),
    "write_cwd": can_write("probe.txt"), "write_home": can_write(os.path.join(os.environ["HOME"], "x")),
    "write_input": can_write("/input/" + sys.argv[2]), "write_beside_input": can_write("/input/beside.txt"),
    "write_code": can_write("/opt/compat/compat/inside/x.py"), "write_usr": can_write("/usr/x"),
    "write_env": can_write("/env/x"), "read_input": open("/input/" + sys.argv[2]).read(),
    "seen": {p: exists(p) for p in sys.argv[3:]}, "connected": connected,
    "pid": os.getpid(), "pid1": open("/proc/1/cmdline", "rb").read().decode().replace("\0", " "),
}))
"""


def _beside(prefix: Path, home: Path) -> list[str]:
    """Everything in the home but the folders down to the interpreter's prefix (mounted on its own)."""
    if home not in prefix.parents:
        return [str(home)]
    found, folder = [], home
    for part in prefix.relative_to(home).parts:
        found += [str(folder / name) for name in os.listdir(folder) if name != part]
        folder = folder / part
    return found


@pytest.mark.envs
def test_inside_the_sandbox_only_the_scratch_folder_is_writable(tmp_path, free_listener, monkeypatch):
    listener = free_listener
    monkeypatch.setenv("COMPAT_TEST_TOKEN", "a variable of the user's")
    env = catalog.get("tf215")
    python = envs.ensure_built(env)
    model = tmp_path / "model.h5"
    model.write_text("weights")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    hidden = [str(ROOT), str(tmp_path), str(envs.venv_root()), str(cache_root())]
    hidden += _beside(sandbox.interpreter_prefix(python.parent.parent), Path(os.path.expanduser("~")))
    socket.create_connection(("127.0.0.1", listener.port), 5).close()  # from the host, it is reachable
    for _ in range(50):
        if listener.received:
            break
        time.sleep(0.1)
    assert listener.received == [b""]
    listener.received.clear()
    box = sandbox.Bubblewrap(sandbox.model_paths(model))
    process = box.start(
        env,
        python,
        ["-c", LOOK_AROUND, str(listener.port), model.name, *hidden],
        scratch,
        {"HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()[-2000:]
    seen = json.loads(out)
    assert seen["cwd"] == sandbox.WORK_DIR and seen["home"] == sandbox.HOME_DIR
    assert seen["write_cwd"] and seen["write_home"]
    assert {
        k: seen[k] for k in ("write_input", "write_beside_input", "write_code", "write_usr", "write_env")
    } == dict.fromkeys(("write_input", "write_beside_input", "write_code", "write_usr", "write_env"), False)
    assert seen["read_input"] == "weights"
    assert seen["seen"] == {path: False for path in hidden}
    assert not seen["connected"] and listener.received == []
    assert "COMPAT_TEST_TOKEN" not in seen["variables"]
    assert seen["pid"] != process.pid
    assert "--ro-bind" not in seen["pid1"] and str(scratch) not in seen["pid1"]  # options went through a pipe
    assert model.read_text() == "weights" and not (tmp_path / "beside.txt").exists()
    assert (scratch / "rw" / "work" / "probe.txt").exists()  # the one writable folder is the scratch one


# -- no bubblewrap: refuse in one line ------------------------------------------------------------


@pytest.mark.parametrize(
    "variables",
    [
        {sandbox.BWRAP_VARIABLE: "/nonexistent/bwrap"},  # named, missing
        {sandbox.BWRAP_VARIABLE: "", "PATH": "/nonexistent"},  # not on the PATH
        {sandbox.BWRAP_VARIABLE: "/usr/bin/false"},  # there, but cannot make a sandbox
    ],
)
def test_no_bubblewrap_is_exit_2_and_one_line(tmp_path, variables):
    model = tmp_path / "lambda.h5"
    shutil.copy(fixtures.unpacked("tf215") / "lambda.h5", model)
    child = dict(os.environ, PYTHONPATH=str(ROOT), **variables)
    done = subprocess.run(
        [sys.executable, "-m", "compat", "probe", str(model), "--loaders", "tf215"],
        cwd=str(tmp_path),
        env=child,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert sandbox.INSTALL in done.stderr and "--no-sandbox" in done.stderr
    assert done.stdout == ""


# -- pure parts ---------------------------------------------------------------------------------


def test_paths_inside_and_the_exit_status_of_a_signal(tmp_path):
    model = tmp_path / "m.json"
    model.write_text("{}")
    (tmp_path / "m_weights.h5").write_text("")
    folder = tmp_path / "sm"
    (folder / "variables").mkdir(parents=True)
    mapped = {**sandbox.model_paths(model, ["m_weights.h5"]), **sandbox.model_paths(folder)}
    assert sorted(mapped.values()) == ["/input/m.json", "/input/m_weights.h5", "/input/sm"]
    box = object.__new__(sandbox.Bubblewrap)
    box.read_only = {Path(k).resolve(): v for k, v in mapped.items()}
    assert box.inside(folder / "variables") == "/input/sm/variables"
    with pytest.raises(ValueError):
        box.inside(tmp_path)
    assert sandbox.Bubblewrap.exit_status(139) == -11 and sandbox.Bubblewrap.exit_status(1) == 1


def test_the_workers_variables_are_built_from_nothing(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not for the worker")
    child = sandbox.environment(catalog.get("tf215"), {"HOME": "/root", "COMPAT_INJECT_FAULT": "x"})
    assert "AWS_SECRET_ACCESS_KEY" not in child
    assert child["HOME"] == sandbox.HOME_DIR and child["PYTHONPATH"] == sandbox.CODE_DIR
    assert child["COMPAT_ENV_ID"] == "tf215" and child["COMPAT_INJECT_FAULT"] == "x"


def test_the_hostile_body_uses_the_names_the_test_checks():
    constants = []
    for constant in hostile.hostile_scaling.__code__.co_consts:
        constants += list(constant) if isinstance(constant, tuple) else [constant]
    assert hostile.PORT in constants and hostile.PLANTED in constants
    assert "id_ed25519" in constants and ".ssh" in constants
