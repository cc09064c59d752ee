"""The one client of ``compat.inside.worker``: the matrix runner, the probe, convert and the
regression gate all drive a consumer environment through it.

A worker imports TensorFlow once and answers attempt requests one at a time, streaming
JSON lines. The client watches each attempt with a timeout; a worker that hangs is
killed and one that dies (a segmentation fault is a real finding) is reaped, the attempt
gets a ``timeout`` / ``crash`` outcome, and the next attempt starts a fresh worker.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from compat import catalog
from compat.environments import envs
from compat.errors import HarnessFailure
from compat.records.verdicts import Verdict

READY_TIMEOUT = 600.0


class WorkerDied(Exception):
    def __init__(self, returncode, stderr_tail):
        super().__init__(returncode)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class LightIsolation:
    """Limits for a worker: a memory cap (RLIMIT_AS) and, where the kernel lets this user
    make one, a new network namespace with nothing but loopback (``unshare --net``).

    The working folder is a throwaway folder and time is capped per attempt by the client;
    the file system is otherwise the user's. ``compat.environments.sandbox`` is the real sandbox.
    """

    name = "light"

    def __init__(self, memory_bytes: int = 12 * 1024**3):
        self.memory_bytes = memory_bytes
        self.network_isolated = _can_unshare_network()

    def command(self, command: list[str]) -> list[str]:
        return (["unshare", "--net"] + command) if self.network_isolated else command

    def limit(self):  # runs in the child, before exec
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))

    def start(
        self, env: catalog.Environment, python: Path, arguments: list[str], scratch: Path, extra_env=None, **io
    ) -> subprocess.Popen:
        return subprocess.Popen(
            self.command([str(python), *arguments]),
            env=envs.inside_env(env, extra_env),
            cwd=str(scratch),
            preexec_fn=self.limit,
            **io,
        )  # noqa: PLW1509 - rlimits are set in the child

    @staticmethod
    def exit_status(returncode: int | None) -> int | None:
        return returncode


def _can_unshare_network() -> bool:
    try:
        return (
            subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10, check=False).returncode == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def signal_name(returncode: int | None) -> str | None:
    if returncode is not None and returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return None


class Worker:
    """One ``compat.inside.worker`` process in a consumer environment."""

    def __init__(
        self,
        env: catalog.Environment,
        python: Path,
        log_dir: Path,
        extra_env=None,
        isolation=None,
        module: str = "compat.inside.worker",
    ):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{env.id}-{os.getpid()}-{time.time_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - open for the worker's life, closed in _cleanup
        self.scratch = tempfile.mkdtemp(prefix=f"compat-{env.id}-")
        self.isolation = isolation
        arguments = ["-m", module]
        io: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": self._log}
        if isolation is None:
            self.process = subprocess.Popen(
                [str(python), *arguments], env=envs.inside_env(env, extra_env), cwd=self.scratch, **io
            )
        else:  # the isolation builds the command line, the variables and the working folder
            self.process = isolation.start(env, python, arguments, Path(self.scratch), extra_env, **io)
        # The pipes io asks for, kept typed: Popen's own attributes are None for a stream not piped.
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin, self._stdout = self.process.stdin, self.process.stdout
        self._events: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.info: dict | None = None

    def _pump(self):
        for line in self._stdout:
            try:
                self._events.put(json.loads(line))
            except ValueError:
                continue
        self._events.put(None)

    def next_event(self, timeout: float) -> dict:
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        if event is None:
            raise WorkerDied(self.exit_status(), self.stderr_tail())
        return event

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict:
        try:
            event = self.next_event(timeout)
        except TimeoutError:
            self.kill()
            raise HarnessFailure(f"the worker did not start within {timeout:.0f}s") from None
        except WorkerDied as died:
            raise HarnessFailure(f"the worker failed to start (exit {died.returncode}): {died.stderr_tail}") from None
        self.info = event
        return event

    def exit_status(self) -> int:
        """The worker's exit status once it has ended, a signal as Popen says it (-N)."""
        self.process.wait()
        return self.isolation.exit_status(self.process.returncode) if self.isolation else self.process.returncode

    def send(self, request: dict) -> None:
        self._stdin.write((json.dumps(request) + "\n").encode())
        self._stdin.flush()

    def stderr_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._cleanup()

    def close(self):
        if self.process.poll() is None:
            try:
                self.send({"op": "exit"})
                self._stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._cleanup()

    def _cleanup(self):
        self._log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class Client:
    """Attempts in one consumer environment, through as many workers as it takes.

    ``on_start(info)`` is called with each new worker's ready message (its runtime
    versions and strategy registry), so callers can count TensorFlow imports.
    """

    def __init__(
        self,
        env: catalog.Environment,
        log_dir: Path,
        *,
        extra_env=None,
        isolation=None,
        on_start=None,
        log=print,
        module: str = "compat.inside.worker",
    ):
        self.env = env
        self.log_dir = log_dir
        self.extra_env = extra_env or {}
        self.isolation = isolation
        self.on_start = on_start
        self.log = log
        self.module = module
        """The worker's module: the fixtures' (``compat.inside.worker``) or the user files' one."""
        self.worker: Worker | None = None
        self.info: dict | None = None

    def start(self) -> dict:
        """The running worker's ready message, starting a worker if none is alive."""
        if self.worker is None or self.worker.process.poll() is not None:
            python = envs.ensure_built(self.env, log=self.log)
            self.worker = Worker(self.env, python, self.log_dir, self.extra_env, self.isolation, self.module)
            self.info = self.worker.wait_ready()
            if self.on_start:
                self.on_start(self.info)
        assert self.info is not None, "a live worker has sent its ready message (wait_ready raises otherwise)"
        return self.info

    def attempt(self, request: dict, timeout: float) -> dict:
        """The worker's result for one request, or a ``timeout`` / ``crash`` outcome.

        A result is the worker's event: ``status`` ``ok`` / ``error`` / ``not_applicable``
        with what it measured. A hung or dead worker is gone afterwards; the next attempt
        starts a fresh one.
        """
        self.start()
        worker = self.worker
        assert worker is not None, "start() leaves a live worker or raises"
        started = time.time()
        try:
            worker.send(request)
            while True:
                event = worker.next_event(max(1.0, timeout - (time.time() - started)))
                if event.get("event") == "result" and event.get("id") == request["id"]:
                    return event
        except TimeoutError:
            self.retire(kill=True)
            return {
                "status": Verdict.TIMEOUT.value,
                "seconds": round(time.time() - started, 2),
                "reason": f"no result within {timeout:.0f}s; the worker was killed",
            }
        except (WorkerDied, BrokenPipeError) as died:
            returncode = died.returncode if isinstance(died, WorkerDied) else worker.exit_status()
            tail = died.stderr_tail if isinstance(died, WorkerDied) else worker.stderr_tail()
            self.retire(kill=True)
            name = signal_name(returncode)
            return {
                "status": Verdict.CRASH.value,
                "signal": name,
                "exit_code": returncode,
                "reason": f"the worker died ({name or f'exit {returncode}'})",
                "worker_log_tail": tail,
                "worker_log": str(worker.log_path),
            }

    def retire(self, kill: bool = False) -> None:
        if self.worker is not None:
            self.worker.kill() if kill else self.worker.close()
            self.worker = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.retire(kill=exc_info[0] is not None)
