"""Shared test helpers. Tests marked `envs` run real catalog environments (TensorFlow)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# test_corpus (tests/harness) names the foreign corpus that tests/userfiles also read, whichever runs first
sys.path.insert(0, str(ROOT / "tests" / "harness"))


def run_inside(env_id: str, module: str, *args: str, extra_env=None, timeout=900) -> str:
    """Run ``python -m module`` inside a catalog environment; return its stdout."""
    from compat import catalog
    from compat.environments import envs

    env = catalog.get(env_id)
    python = envs.ensure_built(env)
    done = subprocess.run(
        [str(python), "-m", module, *args],
        env=envs.inside_env(env, extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@functools.lru_cache(maxsize=1)
def package_index_problem() -> str | None:
    """Why the package index uv resolves against cannot be reached, or None when it can."""
    index = (
        os.environ.get("UV_DEFAULT_INDEX")
        or os.environ.get("UV_INDEX_URL")
        or os.environ.get("PIP_INDEX_URL")
        or "https://pypi.org/simple/"
    )
    url = index.rstrip("/") + "/uv/"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read(1)
    except (OSError, ValueError) as exc:
        return f"the package index {index} is unreachable ({exc.__class__.__name__}: {exc})"
    return None


@pytest.fixture(autouse=True)
def _needs_package_index(request):
    # A test marked `network` asks uv to resolve against the index: without one it cannot say
    # anything about the product, so it is skipped with the reason rather than failed.
    if request.node.get_closest_marker("network") and package_index_problem():
        pytest.skip(package_index_problem())


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


def producer_reference(folder: Path, variant: str, out: Path) -> tuple[str, str]:
    """``(--reference, --input)`` for a probe or convert of a fixture file: the embeddings its
    producer computed (``folder``'s manifest names them) and the producer's input batch,
    prewhitened as every worker does, saved as ``out/input-<variant>.npy``.

    With these the probe judges every strategy against numbers no strategy produced; without
    them its reference is the first attempt that loaded, which then passes by construction.
    """
    import numpy as np

    from compat.inside import facenet

    manifest = load_json(Path(folder) / "manifest.json")
    images = np.load(Path(folder) / manifest["reference"]["input"])["images"]
    batch = Path(out) / f"input-{variant}.npy"
    np.save(batch, facenet.prewhiten_batch(images))
    return str(Path(folder) / manifest["reference"]["embeddings"][variant]), str(batch)


PLAIN_PREDICT = """
import sys
import numpy as np
{keras_import}
model = keras.models.load_model(sys.argv[1], compile=False)
np.save(sys.argv[3], np.asarray(model.predict(np.load(sys.argv[2]), verbose=0)))
"""


def plain_reference(env_id: str, model: Path, batch: Path, out: Path, keras_import: str) -> str:
    """The reference for a model that has no producer's numbers: this test's own plain load in
    ``env_id``'s interpreter (``-I``: nothing of the project importable), not the harness's."""
    from compat import catalog
    from compat.environments import envs

    python = envs.ensure_built(catalog.get(env_id))
    child = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COMPAT_", "VIRTUAL_ENV"))}
    child.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    done = subprocess.run(
        [str(python), "-I", "-c", PLAIN_PREDICT.format(keras_import=keras_import), str(model), str(batch), str(out)],
        env=child,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return str(out)


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


# Ctrl-C's default action, then the command itself (exec keeps the process and its pid).
_RESTORE_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


def interruptible(command: list[str]) -> list[str]:
    """``command`` as a terminal's foreground job would start it: stopped by SIGINT.

    A shell that starts a job in the background (``cmd &`` in a script, nohup, some CI
    runners) makes it ignore SIGINT, and an ignored signal stays ignored across exec: a
    test that stops a run with Ctrl-C would then wait forever on a run that rightly ignores it.
    """
    return [sys.executable, "-c", _RESTORE_SIGINT, *command]


def compat_env(venvs: Path | None = None, extra_env: dict | None = None) -> dict:
    """The variables of a ``compat`` run in a copy of the project: none of this process's
    ``COMPAT_`` settings, the built environments shared (or ``venvs``), then ``extra_env``."""
    from compat.environments import envs

    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_")}
    env["COMPAT_VENV_DIR"] = str(venvs or envs.venv_root())
    env.update(extra_env or {})
    return env


def compat_in(
    folder: Path, *args: str, venvs: Path | None = None, timeout: float = 900, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m compat ARGS`` run from ``folder``, so the copy's own package is imported."""
    return subprocess.run(
        [sys.executable, "-m", "compat", *args],
        cwd=str(folder),
        env=compat_env(venvs, extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
