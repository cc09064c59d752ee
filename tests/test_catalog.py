"""The catalog is the one source of truth: locks, interpreters, tox's and nox's lists."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from compat import catalog
from compat.environments import envs, frontends
from compat.paths import PROJECT_ROOT


def test_ids_are_unique_and_every_environment_has_a_lock():
    ids = catalog.ids()
    assert len(ids) == len(set(ids)) == 20
    # 17 pinned stacks that write and load, 3 as pip installs them that only load
    assert len(catalog.producers()) == 17 and len(catalog.consumers()) == 20
    for env in catalog.ENVIRONMENTS:
        assert env.lock_path.exists(), env.id
        pins = env.locked_versions()
        for requirement in env.requirements:
            name = re.split(r"[=<>~\[;]", requirement)[0].strip().lower()
            assert name in pins, f"{env.id}: {name} missing from its lock"


def test_locks_pin_exact_versions_the_catalog_asks_for():
    assert catalog.get("keras212").locked_versions()["keras"] == "2.1.2"
    assert catalog.get("keras212").locked_versions()["tensorflow"] == "1.3.0"
    assert catalog.get("tf216").locked_versions()["keras"] == "3.3.3"
    assert catalog.get("tfkeras221").locked_versions()["tf-keras"].startswith("2.21")
    # tf-keras must not drag in a second TensorFlow beside tensorflow-cpu
    assert "tensorflow" not in catalog.get("tfkeras221").locked_versions()
    # as installed today: the h5py 3 an old Keras cannot read, an early Keras 3, no tf-keras
    assert catalog.get("keras224pip").locked_versions()["h5py"].startswith("3.")
    assert catalog.get("tf216k30").locked_versions()["keras"].startswith("3.0.")
    assert "tf-keras" not in catalog.get("tf221pip").locked_versions()


def test_unknown_environment_names_the_catalog():
    with pytest.raises(catalog.UnknownEnvironment, match="keras212"):
        catalog.get("tf999")


def _tox(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "tox", *args], capture_output=True, text=True, cwd=str(PROJECT_ROOT), check=True
    ).stdout


def _tox_list(*args: str) -> list[str]:
    return [line.strip() for line in _tox("list", "--no-desc", *args).splitlines() if line.strip()]


def _nox_sessions() -> dict[str, bool]:
    """Every nox session, and whether bare `nox` runs it."""
    out = subprocess.run(
        [sys.executable, "-m", "nox", "-l"], capture_output=True, text=True, cwd=str(PROJECT_ROOT), check=True
    ).stdout
    return {
        line[2:].split(" -> ")[0].strip(): line.startswith("* ")
        for line in out.splitlines()
        if line[:2] in ("* ", "- ")
    }


def test_tox_environments_are_the_catalogs_and_bare_tox_runs_only_fast():
    listed = _tox_list()
    assert len(listed) == len(set(listed))
    assert set(listed) == set(frontends.env_names()) | {"fast"}
    assert _tox_list("-d") == ["fast"]


@pytest.mark.parametrize("label, names", [("load", frontends.load_all_names()), ("gen", frontends.gen_names())])
def test_tox_labels_are_the_catalogs(label, names):
    assert _tox_list("-m", label) == names


def test_a_generated_tox_environment_runs_its_compat_command():
    shown = _tox("config", "-e", "tf215-load-tf210", "-k", "commands", "description")
    assert "commands = python -m compat run-named tf215-load-tf210" in shown
    assert "description = load tf210's fixtures under tf215" in shown


def test_nox_sessions_equal_the_catalog_and_bare_nox_runs_only_fast():
    sessions = _nox_sessions()
    assert set(sessions) - {"fast", "tests", "matrix"} == set(frontends.env_names())
    assert [name for name, default in sessions.items() if default] == ["fast"]


def test_every_interpreter_the_catalog_needs_is_found():
    for minor in sorted({env.python for env in catalog.ENVIRONMENTS}):
        found = envs.find_interpreter(minor)
        assert "shims" not in found


def test_a_missing_interpreter_names_the_environment_and_the_version():
    with pytest.raises(envs.EnvironmentError_) as raised:
        envs.find_interpreter("2.5", "keras999")
    message = str(raised.value)
    assert "keras999" in message and "CPython 2.5" in message and "\n" not in message


def test_named_commands_cover_every_front_end_name():
    from compat.cli.run_named import named_command

    assert named_command("tf215-load-tf210") == ["load", "tf215", "tf210"]
    assert named_command("tf215-load-all") == ["load", "tf215", "all"]
    assert named_command("gen-keras212") == ["gen", "keras212"]
    assert named_command("regress-tf215-to-tf216") == ["regress", "--from", "tf215", "--to", "tf216"]
    for name in frontends.env_names():
        named_command(name)
