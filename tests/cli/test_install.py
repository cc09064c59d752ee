"""The user's install path: a fresh clone, a fresh virtual environment, ``pip install -e .``
and nothing else (no test extras, nothing of this interpreter's packages), then the commands
the README gives, run as a user runs them.

The catalog's TensorFlow environments are the shared ones (COMPAT_VENV_DIR), so only the
host side is installed fresh; uv's and pip's caches are reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compat import catalog
from compat.environments import envs
from tests.conftest import ROOT, plain_reference

pytestmark = [pytest.mark.envs, pytest.mark.network]


def _clean_env(venv: Path, **extra) -> dict:
    """A shell of the user's: the fresh environment first on the PATH, nothing of this run's."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COMPAT_", "VIRTUAL_ENV", "TOX_"))}
    child.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        VIRTUAL_ENV=str(venv),
        COMPAT_VENV_DIR=str(envs.venv_root()),
        **extra,
    )
    return child


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """``(clone, venv)``: ``git clone`` of this checkout, and a venv holding ``pip install -e .``."""
    base = tmp_path_factory.mktemp("install")
    clone, venv = base / "compat", base / "venv"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, capture_output=True, timeout=300)
    subprocess.run(
        [sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, str(venv)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # `pip install -e .` as the README says, through uv's pip (its cache makes it quick).
    done = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "--python", str(venv / "bin" / "python"), "-e", "."],
        cwd=str(clone),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return clone, venv


def _run(installed, *command, timeout=1800, **extra) -> subprocess.CompletedProcess:
    clone, venv = installed
    return subprocess.run(
        list(command),
        cwd=str(clone),
        env=_clean_env(venv, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_installed_command_runs_and_refuses_a_typo(installed):
    _, venv = installed
    compat = str(venv / "bin" / "compat")
    helped = _run(installed, compat, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "probe" in helped.stdout and "load" in helped.stdout
    typo = _run(installed, compat, "lod", "tf215", "tf210")
    assert typo.returncode == 2 and typo.stdout == ""
    assert "Traceback" not in typo.stderr
    # The reason is one line that names the valid choices (argparse puts its usage above it).
    error = typo.stderr.strip().splitlines()[-1]
    assert error.startswith("compat: error: ") and "'lod'" in error and "'load'" in error


def test_the_readme_main_job_prints_its_table(installed):
    clone, venv = installed
    assert "tox -e tf215-load-tf210" in (clone / "README.md").read_text()
    done = _run(installed, str(venv / "bin" / "tox"), "-e", "tf215-load-tf210", COLUMNS="200")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("fixture") for line in lines), done.stdout[-3000:]
    assert "rebuild_weights" in done.stdout, done.stdout[-3000:]


DENSE = """
import sys
from tensorflow import keras
inputs = keras.Input((6,))
x = keras.layers.Dense(5, activation="relu")(inputs)
outputs = keras.layers.Dense(3)(x)
keras.Model(inputs, outputs).save(sys.argv[1])
"""


def test_probe_of_a_model_that_is_not_facenet(installed, tmp_path):
    _, venv = installed
    model = tmp_path / "dense.h5"
    python = envs.ensure_built(catalog.get("tf215"))  # whatever ran before this test
    made = subprocess.run(
        [str(python), "-I", "-c", DENSE, str(model)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**_clean_env(venv), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert made.returncode == 0, made.stderr[-3000:]
    batch = tmp_path / "batch.npy"
    np.save(batch, np.random.RandomState(3).normal(size=(4, 6)).astype(np.float32))
    reference = plain_reference("tf215", model, batch, tmp_path / "reference.npy", "from tensorflow import keras")
    out = tmp_path / "probe.json"
    done = _run(
        installed,
        str(venv / "bin" / "compat"),
        "probe",
        str(model),
        "--loaders",
        "tf215",
        "--reference",
        reference,
        "--input",
        str(batch),
        "--json",
        str(out),
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    document = json.loads(out.read_text())
    assert document["reference"]["source"] == "file"
    [env] = document["environments"]
    passed = [a["strategy"] for a in env["attempts"] if a["verdict"] == "pass"]
    assert passed, {a["strategy"]: (a["verdict"], a.get("reason") or a.get("error")) for a in env["attempts"]}
