"""``compat probe``: bad files stop early; judging is pure; real environments load real files."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from compat import catalog, cli
from compat.harness import fixtures
from compat.inside import facenet
from compat.userfiles import probe
from compat.userfiles.diagnose import ARCHITECTURE_FLAG
from tests.conftest import plain_reference, producer_reference


def _args(path, **options):
    """The probe's arguments as its own parser reads them (``loaders`` defaults to tf215)."""
    options.setdefault("loaders", "tf215")
    argv = ["probe", str(path)]
    for name, value in options.items():
        flag = "--" + {"json_out": "json"}.get(name, name).replace("_", "-")
        argv += [flag] if value is True else [] if value is False or value is None else [flag, str(value)]
    return cli.build_parser().parse_args(argv)


# -- bad input: exit 2, one line, no traceback -----------------------------------------------


def test_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "facenet_keras.h5"
    path.write_text("<html><head><title>Sign in</title></head><body></body></html>")
    assert cli.invoke(cli.probe.run, _args(path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTML web page" in err
    assert "Traceback" not in err


def test_missing_file_is_exit_2(tmp_path, capsys):
    assert cli.invoke(cli.probe.run, _args(tmp_path / "nothing.h5")) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_json_without_weights_is_exit_2(tmp_path, capsys):
    shutil.copy(fixtures.unpacked("tf215") / "lambda.json", tmp_path / "model.json")
    assert cli.invoke(cli.probe.run, _args(tmp_path / "model.json")) == 2
    assert "no weights file beside it" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["multi_input_weights.h5", "multi_input.weights.h5"])
@pytest.mark.parametrize("given_input", [False, True])
def test_a_weights_only_file_is_one_line_and_exit_2_whatever_input_says(tmp_path, capsys, name, given_input):
    from compat.harness import corpus

    path = tmp_path / name
    shutil.copy(corpus.unpacked("foreign", "tf215") / name, path)
    batch = tmp_path / "batch.npz"
    np.savez(batch, a=np.zeros((3, 4), np.float32), b=np.zeros((3, 6), np.float32))
    options = {"input": str(batch)} if given_input else {}
    assert cli.invoke(cli.probe.run, _args(path, loaders="tf215,tf221", **options)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the file holds only weights" in err
    assert ARCHITECTURE_FLAG in err and "rebuild_weights" not in err


def test_facenet_weights_are_probed_since_compat_builds_facenet():
    found = probe.loadable(fixtures.unpacked("tf215") / "lambda_weights.h5")
    assert found.format == "h5_weights"


def _failed(strategy, message="Unknown layer: 'Scale'"):
    return {
        "strategy": strategy,
        "status": "error",
        "verdict": "error",
        "error": {"type": "ValueError", "message": message},
    }


def _document(environments):
    return {
        "path": "/models/custom.h5",
        "diagnosis": {"message": "a whole Keras model"},
        "facenet": False,
        "fixture": {"format": "h5", "facenet": False, "custom_classes": ["Scale"], "saved_by_keras": "2.15.0"},
        "input": {"description": "seeded"},
        "reference": {"source": None, "label": None},
        "environments": environments,
        "disagreements": [],
    }


def _environment(env_id, attempts, keras="3.15.1"):
    return {
        "id": env_id,
        "runtime": {"python": "3.13.0", "tensorflow": "2.21.0", "keras": keras},
        "seconds": 1.0,
        "error": None,
        "recommended": None,
        "strategies": [{"name": a["strategy"]} for a in attempts],
        "attempts": attempts,
    }


def test_nothing_loading_is_said_plainly():
    styled = "\x1b[1mUnknown layer: 'Scale'\x1b[0m"
    custom = {
        "strategy": "custom_objects",
        "status": "not_applicable",
        "verdict": "not_applicable",
        "reason": "the file names custom classes or functions (Scale): hand their code over in custom_objects",
    }
    weights = {"strategy": "rebuild_weights", "status": "not_applicable", "verdict": "not_applicable", "reason": "x"}
    text = probe.render(
        _document(
            [
                _environment("tf215", [_failed("load_model"), custom, weights], keras="2.15.0"),
                _environment("tf221", [_failed("load_model", styled), custom, weights]),
            ]
        )
    )
    assert "nothing loads custom.h5 in tf215, tf221" in text
    assert "tf221 (Python 3.13.0, TF 2.21.0, Keras 3.15.1, 1.0s): nothing loads the file here" in text
    assert "no strategy gives the reference numbers" not in text
    hints = [line for line in text.splitlines() if line.startswith("      (")]
    assert hints and all(ARCHITECTURE_FLAG in line for line in hints)
    assert not any("custom_objects" in line or "rebuild_weights" in line for line in hints)
    assert "\x1b" not in text


@pytest.mark.parametrize(
    "options, message",
    [
        ({"loaders": "tf999"}, "unknown environment 'tf999'"),
        ({"input": "batch.txt"}, "must be a .npy (one array) or .npz (arrays by name) file"),
        ({"input": "missing.npz"}, "cannot be read as a numpy file"),
        ({"input_shape": "160,abc"}, "must be positive whole sizes"),
        ({"input_shape": "64,x"}, "must be positive whole sizes"),
        ({"input_shape": "64,64,3"}, "does not fit the model's input input_1, which takes 160,160,3"),
        ({"input_shape": "64,64"}, "has 2 dimensions, but the model's input input_1 has 3"),
        ({"reference": "ref.npy"}, "--reference needs --input"),
        ({"timeout": 0}, "--timeout must be a positive number"),
    ],
)
def test_bad_options_are_exit_2(tmp_path, capsys, options, message, monkeypatch):
    path = tmp_path / "lambda.h5"
    shutil.copy(fixtures.unpacked("tf215") / "lambda.h5", path)
    monkeypatch.chdir(tmp_path)
    assert cli.invoke(cli.probe.run, _args(path, no_sandbox=True, **options)) == 2
    assert message in capsys.readouterr().err


# -- real environments -----------------------------------------------------------------------


@pytest.mark.envs
def test_probe_tiny_keras212_model_under_tf215(tmp_path, capsys):
    path = tmp_path / "lambda.h5"
    shutil.copy(fixtures.unpacked("keras212") / "lambda.h5", path)
    out = tmp_path / "probe.json"
    reference, batch = producer_reference(fixtures.fixture_dir("keras212"), "lambda", tmp_path)
    assert (
        cli.invoke(cli.probe.run, _args(path, loaders="tf215", json_out=str(out), reference=reference, input=batch))
        == 0
    )
    document = json.loads(out.read_text())
    assert document["reference"]["source"] == "file"  # keras212's own numbers, not an attempt's
    [env] = document["environments"]
    attempts = {a["strategy"]: a for a in env["attempts"]}
    assert attempts["rebuild_weights"]["verdict"] == "pass"
    # Python 3.6 bytecode in the Lambdas: CPython 3.11's marshal stops short.
    assert attempts["load_model"]["verdict"] == "error"
    assert attempts["load_model"]["error"]["type"] == "EOFError"
    assert "EOF read where object expected" in attempts["load_model"]["error"]["message"]
    assert env["recommended"]["strategy"] == "rebuild_weights"
    assert document["size"] == "tiny" and document["fixture"]["format"] == "h5"
    assert "use rebuild_weights" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.envs
def test_probe_full_size_facenet_from_keras212(tmp_path, capsys):
    raw = tmp_path / "keras212-full"
    started = time.time()
    fixtures.run_generator(catalog.get("keras212"), raw, size="full", variants=["lambda"])
    generated = time.time() - started
    model = raw / "lambda.h5"
    assert model.stat().st_size > 80e6
    images = np.load(raw / "reference" / "input.npz")["images"]
    np.save(tmp_path / "input.npy", facenet.prewhiten_batch(images))
    out = tmp_path / "probe.json"
    reference, batch = str(raw / "reference" / "lambda.npy"), str(tmp_path / "input.npy")
    started = time.time()
    status = cli.invoke(
        cli.probe.run,
        _args(
            model,
            loaders="tf215,tf221",
            reference=reference,
            input=batch,
            json_out=str(out),
            write_loader=str(tmp_path / "loaders"),
        ),
    )
    probed = time.time() - started
    assert status == 0
    document = json.loads(out.read_text())
    assert document["size"] == "full" and document["reference"]["source"] == "file"
    for env in document["environments"]:
        verdicts = {a["strategy"]: a["verdict"] for a in env["attempts"]}
        assert verdicts["rebuild_weights"] == "pass", env["id"]
        assert verdicts["h5_transplant"] == "pass", env["id"]
        assert env["loader"]["verified"], env["loader"]
    timings = ", ".join(
        f"{env['id']} {env['seconds']}s, its load_{env['id']}.py standalone "
        f"{env['loader']['seconds']}s ({env['loader']['detail']})"
        for env in document["environments"]
    )
    with capsys.disabled():
        print(f"\n[timing] generate full lambda.h5 {generated:.0f}s; probe --write-loader {probed:.0f}s ({timings})")
    for to, name in (("tf221", "facenet.keras"), ("tf215", "facenet.h5")):
        converted = tmp_path / f"convert-{to}" / name
        converted.parent.mkdir()
        started = time.time()
        status = cli.main(
            [
                "convert",
                str(model),
                "--to",
                to,
                "-o",
                str(converted),
                "--loaders",
                to,
                "--reference",
                reference,
                "--input",
                batch,
            ]
        )
        printed = capsys.readouterr().out
        assert status == 0, printed
        assert f"proof on TensorFlow: passed: a fresh {to} process" in printed
        if to == "tf221":  # a Keras 3 file is proven on JAX too
            assert "proof on JAX: passed: a fresh keras315jax process" in printed
        proof = "; ".join(line for line in printed.splitlines() if line.startswith("proof on "))
        with capsys.disabled():
            print(f"[timing] convert --to {to} {time.time() - started:.0f}s; {proof}")


@pytest.mark.envs
def test_a_model_that_is_not_facenet_gets_no_facenet_rebuild(tmp_path, capsys):
    from compat.environments import envs

    env = catalog.get("tf215")
    model = tmp_path / "embedder.h5"
    code = (
        "from tensorflow import keras\n"
        "inputs = keras.Input((160, 160, 3))\n"
        "x = keras.layers.Conv2D(4, 3, strides=4)(inputs)\n"
        "x = keras.layers.GlobalAveragePooling2D()(x)\n"
        "outputs = keras.layers.Dense(128)(x)\n"
        f"keras.Model(inputs, outputs).save({str(model)!r})\n"
    )
    import subprocess

    subprocess.run(
        [str(envs.ensure_built(env)), "-c", code],
        env=envs.inside_env(env),
        check=True,
        capture_output=True,
        cwd=str(tmp_path),
    )
    batch = tmp_path / "batch.npy"
    np.save(batch, np.random.RandomState(1).normal(size=(3, 160, 160, 3)).astype(np.float32))
    reference = plain_reference("tf215", model, batch, tmp_path / "reference.npy", "from tensorflow import keras")
    out = tmp_path / "probe.json"
    assert (
        cli.invoke(
            cli.probe.run, _args(model, loaders="tf215", json_out=str(out), reference=reference, input=str(batch))
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "[!]" not in printed and "use load_model" in printed
    document = json.loads(out.read_text())
    assert document["reference"]["source"] == "file"
    [env_result] = document["environments"]
    assert {a["strategy"]: a["verdict"] for a in env_result["attempts"]}["load_model"] == "pass"
    weights = {
        a["strategy"]: a
        for a in env_result["attempts"]
        if a["strategy"] in ("rebuild_weights", "rebuild_by_name", "h5_transplant")
    }
    assert len(weights) == 3
    for attempt in weights.values():
        assert attempt["verdict"] == "not_applicable" and "not FaceNet's" in attempt["reason"]


UNKNOWN_CLASS_MODEL = (
    "from tensorflow import keras\n"
    "class Scale(keras.layers.Layer):\n"
    "    def call(self, x):\n"
    "        return x * 2.0\n"
    "inputs = keras.Input((6,), name='features')\n"
    "keras.Model(inputs, keras.layers.Dense(2, name='out')(Scale(name='scale')(inputs))).save({path!r})\n"
)


def unknown_class_model(folder) -> str:
    """A Keras 2.15 model with a custom layer class, saved by tf215: without the class's code it
    loads nowhere (the gate's tests use it too)."""
    import subprocess

    from compat.environments import envs

    env = catalog.get("tf215")
    path = folder / "unknown_class.h5"
    subprocess.run(
        [str(envs.ensure_built(env)), "-c", UNKNOWN_CLASS_MODEL.format(path=str(path))],
        env=envs.inside_env(env),
        check=True,
        capture_output=True,
        cwd=str(folder),
    )
    return str(path)


def _hint_lines(printed: str) -> list[str]:
    return [line for line in printed.splitlines() if line.startswith("      (")]


@pytest.mark.envs
def test_keras2_depthwise_under_keras3_keeps_groups_and_is_called_older(tmp_path, capsys):
    from compat.harness import corpus
    from compat.userfiles import hints

    path = tmp_path / "depthwise_groups.h5"
    shutil.copy(corpus.unpacked("reported", "tf215") / "depthwise_groups.h5", path)
    out = tmp_path / "probe.json"
    assert cli.invoke(cli.probe.run, _args(path, loaders="tf215,tf221", json_out=str(out))) == 0
    printed = capsys.readouterr().out
    keras3 = json.loads(out.read_text())["environments"][1]
    assert keras3["runtime"]["keras"].startswith("3.")
    load = next(a for a in keras3["attempts"] if a["strategy"] == "load_model")
    assert load["verdict"] == "error"  # Keras 3 has no DepthwiseConv2D(groups=...)
    section = printed[printed.index("tf221 (") :]
    line = next(x for x in section.splitlines() if x.startswith("  load_model error:"))
    assert line.endswith("DepthwiseConv2D: {'groups': 1}"), line
    said = _hint_lines(section)
    assert said and all("older Keras" in x and "newer" not in x for x in said)
    not_applied = [a["strategy"] for a in keras3["attempts"] if a["verdict"] == "not_applicable"]
    assert not [(name, x) for x in said for name in not_applied if hints._mentions(x, name)]
    assert "\x1b" not in printed


@pytest.mark.envs
def test_a_model_that_loads_nowhere_says_nothing_loads(tmp_path, capsys):
    path = unknown_class_model(tmp_path)
    out = tmp_path / "probe.json"
    assert cli.invoke(cli.probe.run, _args(path, loaders="tf215,tf221", json_out=str(out))) == 0
    printed = capsys.readouterr().out
    document = json.loads(out.read_text())
    assert not any(a["status"] == "ok" for env in document["environments"] for a in env["attempts"])
    assert "nothing loads unknown_class.h5 in tf215, tf221" in printed
    assert "no strategy gives the reference numbers" not in printed
    said = _hint_lines(printed)
    assert said and all(ARCHITECTURE_FLAG in x and "custom_objects" not in x for x in said)


def test_an_error_shows_its_message_not_tensorflows_header():
    from compat.inside import worker

    wrapped = ValueError(
        'in user code:\n\n    File "training.py", line 2440, in predict_function  *\n'
        "        return step_function(self, iterator)\n\n"
        '    ValueError: Input 0 of layer "model" is incompatible with the layer'
    )
    assert worker.first_line(wrapped) == 'ValueError: Input 0 of layer "model" is incompatible with the layer'
    assert worker.first_line(ValueError("Unknown layer: ScaleLayer\nmore")) == "Unknown layer: ScaleLayer"


def test_an_environment_without_tensorflow_is_not_called_tf_none():
    env = {
        "id": "keras315jax",
        "runtime": {"python": "3.12.1", "keras": "3.15.1", "tensorflow": None},
        "seconds": 3.0,
        "error": None,
        "recommended": None,
        "attempts": [],
    }
    head = probe._env_section(env)[0]
    assert head.startswith("keras315jax (Python 3.12.1, Keras 3.15.1, 3.0s)") and "None" not in head


def test_every_probe_and_convert_option_has_help():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("probe", "convert"):
        for action in commands[name]._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"
