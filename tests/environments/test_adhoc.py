"""Ad-hoc environments: spec parsing and what a resolved stack means (pure), and uv for real."""

from __future__ import annotations

import pytest

from compat import catalog, cli
from compat.environments import adhoc, envs
from compat.userfiles import probe

# -- parsing (pure) ------------------------------------------------------------------------


def test_requirements_spec():
    spec = adhoc.parse("py3.12:tensorflow-cpu==2.19.0,keras==3.9.2")
    assert spec.python == "3.12" and spec.file is None
    assert spec.requirements == ("tensorflow-cpu==2.19.0", "keras==3.9.2")


def test_a_version_range_with_a_comma_stays_one_requirement():
    spec = adhoc.parse("py3.11: tensorflow-cpu>=2.16,<2.17 , keras==3.3.3")
    assert spec.requirements == ("tensorflow-cpu>=2.16,<2.17", "keras==3.3.3")


@pytest.mark.parametrize("text", ["py3.11:path/to/requirements.txt", "py3.11:locks.txt", "py3.10:reqs.in"])
def test_file_spec(text):
    spec = adhoc.parse(text)
    assert spec.file == text.split(":", 1)[1] and spec.requirements == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("py3.12:", "names no requirements"),
        ("py3:tensorflow==2.15.1", "neither a catalog id nor a spec"),
        ("python3.12:keras", "neither a catalog id nor a spec"),
        ("py3.12:tensorflow-cpu===,keras", "is not a requirement"),
    ],
)
def test_malformed_specs(text, message):
    with pytest.raises(adhoc.SpecError, match=message):
        adhoc.parse(text)


def test_environment_lists_split_between_ids_and_specs():
    assert adhoc.split_environments("tf215,py3.12:tensorflow-cpu==2.19.0,keras==3.9.2,tf221") == [
        "tf215",
        "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2",
        "tf221",
    ]
    assert adhoc.split_environments("py3.11:a==1,b>=2,<3,py3.12:c==1") == ["py3.11:a==1,b>=2,<3", "py3.12:c==1"]
    assert adhoc.split_environments(" tf215 , tf221 ") == ["tf215", "tf221"]


def test_unknown_id_names_the_catalog_and_the_spec_form():
    with pytest.raises(adhoc.SpecError, match=r"unknown environment 'tf999'; the catalog has: .*py3\.12:"):
        adhoc.environment("tf999")


@pytest.mark.parametrize(
    "pins, api, variables",
    [
        ({"tensorflow-cpu": "2.19.0", "keras": "3.9.2"}, "keras", ()),
        ({"tensorflow": "2.15.1", "keras": "2.15.0"}, "tf.keras", ()),
        ({"tensorflow": "2.10.1"}, "tf.keras", ()),
        ({"tensorflow": "1.3.0", "keras": "2.1.2"}, "keras", ()),
        ({"keras": "3.15.1", "jax": "0.6.0"}, "keras", (("KERAS_BACKEND", "jax"),)),
    ],
)
def test_keras_api_of_a_resolved_stack(pins, api, variables):
    assert adhoc.keras_api(pins) == (api, variables)


def test_a_stack_without_tensorflow_or_keras_is_refused():
    with pytest.raises(adhoc.SpecError, match="neither TensorFlow nor Keras"):
        adhoc.keras_api({"numpy": "2.1.0"})
    with pytest.raises(adhoc.SpecError, match="without TensorFlow, JAX or torch"):
        adhoc.keras_api({"keras": "3.9.2"})


def test_uv_reason_is_one_line():
    stderr = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because there is no version of tensorflow-cpu==9.9.9 and you require "
        "tensorflow-cpu==9.9.9, we can conclude that your requirements are unsatisfiable.\n"
    )
    reason = envs.uv_reason(stderr)
    assert "\n" not in reason
    assert reason.startswith("No solution found when resolving dependencies: Because there is no version")
    boxed = "  \u00d7 No solution found:\n  \u2570\u2500\u25b6 Because x was not found.\n"
    assert envs.uv_reason(boxed) == "No solution found: Because x was not found."


def test_a_catalog_lock_and_an_ad_hoc_lock_are_read_alike(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nkeras==3.5.0  # via -r requirements.in\nnumpy==1.26.4 ; python_version < '4'\n")
    env = catalog.Environment("adhoc-x", "3.11", ("keras==3.5.0",), "keras", "", lock_file=str(lock))
    assert env.lock_path == lock
    assert env.locked_versions() == {"keras": "3.5.0", "numpy": "1.26.4"}
    assert catalog.get("tf215").lock_path == catalog.LOCK_DIR / "tf215.txt"


# -- uv for real (the package index) ---------------------------------------------------------


@pytest.mark.envs
@pytest.mark.network
def test_an_unresolvable_spec_is_exit_2_with_uvs_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPAT_VENV_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "40")  # uv wraps at the terminal's width unless told otherwise
    args = cli.build_parser().parse_args(["regress", "--from", "tf215", "--to", "py3.11:tensorflow-cpu==9.9.9"])
    assert cli.invoke(cli.regress.run, args) == 2
    progress, error = capsys.readouterr().err.splitlines()
    assert progress == "[compat] locking py3.11:tensorflow-cpu==9.9.9 with uv"
    assert error.startswith("compat: error: uv cannot resolve py3.11:tensorflow-cpu==9.9.9: ")
    # uv's meaning, not its wording (which changes between uv releases): no version satisfies the pin.
    reason = error.split(": ", 3)[-1].lower()
    assert "tensorflow-cpu" in reason and "9.9.9" in reason
    assert any(word in reason for word in ("no solution", "unsatisfiable", "no version", "not found")), reason
    assert not list((tmp_path / "adhoc-locks").glob("*.txt"))


@pytest.mark.envs
@pytest.mark.network
def test_a_spec_is_locked_once_and_named_by_its_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPAT_VENV_DIR", str(tmp_path))
    spec = "py3.11:tensorflow-cpu==2.16.2,keras==3.5.0"
    env = adhoc.environment(spec, log=lambda *_: None)
    assert env.id == f"adhoc-{envs.lock_digest(env)}" and env.spec == spec and env.consumes and not env.produces
    pins = env.locked_versions()
    assert pins["tensorflow-cpu"] == "2.16.2" and pins["keras"] == "3.5.0" and "tensorflow" not in pins
    assert env.keras_api == "keras" and "keras 3.5.0" in env.summary
    stamp = env.lock_path.stat().st_mtime_ns
    again = adhoc.environment(spec, log=lambda *_: None)
    assert again == env and env.lock_path.stat().st_mtime_ns == stamp  # the lock is reused, not remade
    assert probe.loader_environments(f"tf215,{spec}")[1] == env
