"""Shared test helpers. Tests marked `envs` run real catalog environments (TensorFlow)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_inside(env_id: str, module: str, *args: str, extra_env=None, timeout=900) -> str:
    """Run ``python -m module`` inside a catalog environment; return its stdout."""
    from compat import catalog, envs
    env = catalog.get(env_id)
    python = envs.ensure_built(env)
    done = subprocess.run([str(python), "-m", module, *args], env=envs.inside_env(env, extra_env),
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def load_json(path) -> dict:
    return json.loads(Path(path).read_text())
