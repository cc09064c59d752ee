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
    from compat import catalog
    from compat.environments import envs
    env = catalog.get(env_id)
    python = envs.ensure_built(env)
    done = subprocess.run([str(python), "-m", module, *args], env=envs.inside_env(env, extra_env),
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def full_size_report(tmp_path_factory) -> tuple[Path, int]:
    """The report of synthetic results for the whole catalog, and its attempt count.

    Rendered once per test session: the page and the browser tests read the same files.
    """
    from test_report import synthesize_full

    from compat import cli
    folder = tmp_path_factory.mktemp("full-size")
    attempts = synthesize_full(folder / "results")
    out = folder / "report"
    assert cli.main(["report", "--results", str(folder / "results"), "--out", str(out)]) == 0
    return out, attempts


@pytest.fixture(scope="session")
def corpus_oracle_verdicts() -> dict:
    """The independent oracle's line for every file of the foreign corpus under tf215 and tf221.

    ``{(consumer, producer, model id): {"verdict", "error_type", "message", ...}}``, run once per
    session: the truth the probe, gate and convert tests compare the project's loaders against.
    """
    from test_corpus import oracle_verdicts
    return oracle_verdicts()


def load_json(path) -> dict:
    return json.loads(Path(path).read_text())


def tracked_copy(target: Path, drop: tuple[str, ...] = ()) -> Path:
    """The tracked files of this work tree, as a clone of it would have them, minus ``drop``."""
    from compat.devtools.trackedcopy import tracked_copy as copy
    return copy(target, drop, ROOT)


def compat_in(folder: Path, *args: str, venvs: Path | None = None, timeout: float = 900,
              extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m compat ARGS`` run from ``folder``, so the copy's own package is imported."""
    import os

    from compat.environments import envs
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_")}
    env["COMPAT_VENV_DIR"] = str(venvs or envs.venv_root())
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "compat", *args], cwd=str(folder), env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
