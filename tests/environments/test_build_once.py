"""Two workers of a fresh run start at once and each finds its environment unbuilt: one builds
it, the other waits and uses it (a second ``uv venv --clear`` under the first one's install left
it half installed and stamped as built)."""

from __future__ import annotations

import threading
import time

from compat import catalog
from compat.environments import envs


def test_an_environment_is_built_by_one_thread_while_the_others_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPAT_VENV_DIR", str(tmp_path))
    env = catalog.get("tf221")
    building, most, calls = [], [], []

    def create(env, log=print):
        calls.append(env.id)
        building.append(1)
        most.append(len(building))
        time.sleep(0.3)  # long enough for the other threads to arrive meanwhile
        envs.venv_python(env).parent.mkdir(parents=True)
        envs.venv_python(env).touch()
        (envs.venv_path(env) / ".compat-lock").write_text(envs.lock_digest(env))
        building.pop()

    monkeypatch.setattr(envs, "create", create)
    monkeypatch.setattr(envs, "compile_bytecode", lambda env, log=print: None)
    threads = [threading.Thread(target=envs.ensure_built, args=(env,), kwargs={"log": print}) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["tf221"] and max(most) == 1
    assert envs.is_built(env)
