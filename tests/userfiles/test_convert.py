"""``compat convert``: options are checked before anything runs; real conversions are proven by a
plain load in a fresh process of the target."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from compat import catalog, cli
from compat.environments import envs
from compat.errors import HarnessFailure
from compat.harness import fixtures
from compat.userfiles import convert
from tests.conftest import plain_reference, producer_reference


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "lambda.h5"
    shutil.copy(fixtures.unpacked("keras212") / "lambda.h5", path)
    return path


@pytest.mark.parametrize(
    "to, out, extra, message",
    [
        ("tf221", "x.h5", [], "Keras 3, whose own format is a .keras file"),
        ("tf221", "x.keras", ["--format", "h5"], "--format is for Keras 2 targets"),
        ("tf215", "x.keras", [], "--format h5 writes a .h5 file"),
        ("tf215", "x.h5", ["--format", "savedmodel"], "a SavedModel is a folder"),
        ("tf215", "missing/x.h5", [], "does not exist"),
        ("nosuchenv", "x.h5", [], "nosuchenv"),
        ("tf215", "x.h5", ["--reference", "r.npy"], "--reference needs --input"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path, model, capsys, to, out, extra, message):
    status = cli.main(["convert", str(model), "--to", to, "-o", str(tmp_path / out), *extra])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert message in err and len(err.splitlines()) == 1


def test_existing_output_is_refused(tmp_path, model, capsys):
    (tmp_path / "x.h5").write_text("")
    assert cli.main(["convert", str(model), "--to", "tf215", "-o", str(tmp_path / "x.h5")]) == 2
    assert "overwrites nothing" in capsys.readouterr().err


def test_bad_file_is_exit_2(tmp_path, capsys):
    page = tmp_path / "facenet_keras.h5"
    page.write_text("<html>not a model</html>")
    assert cli.main(["convert", str(page), "--to", "tf221", "-o", str(tmp_path / "x.keras")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_target_format_follows_the_environments_keras():
    assert convert.is_keras3(catalog.get("tf221")) and not convert.is_keras3(catalog.get("tf215"))
    assert not convert.is_keras3(catalog.get("keras212"))


def test_shown_load_is_the_programs_imports_and_load():
    program = "\n".join(
        [  # noqa: FLY002 - one line of the program per item
            '"""doc',
            "import keras here",
            '"""',
            "import os",
            'os.environ["KERAS_BACKEND"] = "jax"',
            "import sys",
            "import numpy as np",
            "import keras",
            "sys.path.insert(0, '.')",
            "import facenet_arch",
            'MODEL_PATH = "m.keras"',
            "images = np.load(sys.argv[1])",
            "facenet_arch.use(keras)",
            "model = keras.models.load_model(MODEL_PATH)",
            "embeddings = model.predict(images, verbose=0)",
        ]
    )
    assert convert.load_lines(program, "/x/m.keras") == [
        'os.environ["KERAS_BACKEND"] = "jax"',
        "import keras",
        "import facenet_arch",
        "facenet_arch.use(keras)",
        'model = keras.models.load_model("/x/m.keras")',
    ]


def test_candidates_skip_what_gives_no_keras_model():
    document = {
        "environments": [
            {
                "id": "tf221",
                "attempts": [
                    {"strategy": "load_model", "verdict": "error"},
                    {"strategy": "savedmodel_inference", "verdict": "pass"},
                    {"strategy": "rebuild_weights", "verdict": "pass"},
                ],
            }
        ]
    }
    assert convert.candidates(document, "tf221") == ["rebuild_weights"]


# -- real environments -----------------------------------------------------------------------


@pytest.mark.envs
@pytest.mark.parametrize("to, name", [("tf221", "facenet.keras"), ("tf215", "facenet.h5")])
def test_lambda_h5_converts_and_a_plain_load_proves_it(tmp_path, model, capsys, to, name):
    out = tmp_path / "converted" / name
    out.parent.mkdir()
    # Proven against keras212's own numbers: without them the proof's reference would be the
    # very load the conversion was made with.
    reference, batch = producer_reference(fixtures.fixture_dir("keras212"), "lambda", tmp_path)
    assert (
        cli.main(
            [
                "convert",
                str(model),
                "--to",
                to,
                "-o",
                str(out),
                "--loaders",
                "tf215",
                "--reference",
                reference,
                "--input",
                batch,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "carried over to facenet_arch's ScaleLayer" in printed
    assert f"proof on TensorFlow: passed: a fresh {to} process (" in printed
    assert out.exists() and (out.parent / "facenet_arch.py").exists()
    script = (out.parent / f"load_{out.stem}.py").read_text()
    assert "\nmodel = keras.models.load_model(MODEL_PATH)  # plain" in script and "safe_mode=" not in script
    assert "custom_objects" not in script


@pytest.mark.envs
def test_a_plain_keras2_classifier_converts_to_keras3(tmp_path, capsys):
    env = catalog.get("tf215")
    model = tmp_path / "classifier.h5"
    code = (
        "from tensorflow import keras\n"
        "model = keras.Sequential([keras.layers.Conv2D(4, 3, activation='relu', input_shape=(32, 32, 3)),\n"
        "    keras.layers.Flatten(), keras.layers.Dense(10, activation='softmax')])\n"
        "model.compile(optimizer='adam', loss='categorical_crossentropy')\n"
        f"model.save({str(model)!r})\n"
    )
    subprocess.run(
        [str(envs.ensure_built(env)), "-c", code],
        env=envs.inside_env(env),
        check=True,
        capture_output=True,
        cwd=str(tmp_path),
    )
    batch = tmp_path / "batch.npy"
    np.save(batch, np.random.RandomState(2).uniform(size=(4, 32, 32, 3)).astype(np.float32))
    reference = plain_reference("tf215", model, batch, tmp_path / "reference.npy", "from tensorflow import keras")
    out = tmp_path / "classifier.keras"
    assert (
        cli.main(
            ["convert", str(model), "--to", "tf221", "-o", str(out), "--reference", reference, "--input", str(batch)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "loaded with load_model" in printed and "ScaleLayer" not in printed
    assert "proof on TensorFlow: passed" in printed and "proof on JAX: passed" in printed
    assert not (tmp_path / "facenet_arch.py").exists()
    script = (tmp_path / "load_classifier.py").read_text()
    assert "facenet_arch" not in script and "OUTPUT.npy: what the model returns" in script


def test_a_tf_keras_load_is_not_saved_as_keras3():
    tf221, tf215 = catalog.get("tf221"), catalog.get("tf215")
    assert convert.way_in(["tf_keras", "rebuild_weights"], tf221) == "rebuild_weights"
    assert convert.way_in(["translate", "tf_keras"], tf221) == "translate"
    assert convert.way_in(["load_model"], tf215) == "load_model"
    with pytest.raises(HarnessFailure) as refused:
        convert.way_in(["tf_keras"], tf221)
    said = str(refused.value)
    assert "Keras 2's format" in said and "no .keras written" in said and "\n" not in said


def test_keras3_is_proven_on_both_backends():
    assert [e.id for e in convert.proof_environments(catalog.get("tf221"))] == ["tf221", "keras315jax"]
    assert [e.id for e in convert.proof_environments(catalog.get("keras315jax"))] == ["keras315jax", "tf221"]
    assert [e.id for e in convert.proof_environments(catalog.get("tf215"))] == ["tf215"]


@pytest.mark.parametrize("fails", ["tf221", "keras315jax"])
def test_a_failed_proof_leaves_nothing_at_out(tmp_path, monkeypatch, capsys, fails):
    """Wherever -o points, a proof that fails removes the file, its script and what convert wrote
    beside them; files that were there before stay."""
    folder = tmp_path / "out"
    folder.mkdir()
    mine = folder / "mine.txt"
    mine.write_text("the user's")
    code = tmp_path / "fns.py"
    code.write_text("def f(x):\n    return x\n")
    model = SimpleNamespace(function_files=[code])
    aim = convert.target(str(folder / "m.keras"), catalog.get("tf221"), None)

    def fake_convert(*_args, **_kwargs):
        aim.out.write_text("converted")
        return {
            "status": "ok",
            "strategy": "translate",
            "runtime": {"python": "3.13.0", "keras": "3.15.1"},
            "carried_over": False,
            "uses_architecture": True,
            "lambda_layers": 1,
            "functions": [{"layer": "l", "file": "fns.py", "name": "f", "stored_as": "f"}],
            "program": "import keras\nMODEL_PATH = 'm.keras'\nmodel = keras.models.load_model(MODEL_PATH)\n",
        }

    def fake_prove(env, *_args, **_kwargs):
        assert aim.out.exists() and aim.script.exists() and (folder / "fns.py").exists()
        return (env.id != fails), "max |diff| 1"

    document = {
        "environments": [{"id": "tf221", "error": None, "attempts": [{"strategy": "translate", "verdict": "pass"}]}],
        "reference": {"label": "--reference"},
        "reference_values": [("y", np.zeros(2))],
    }
    batch = SimpleNamespace(spec={})
    monkeypatch.setattr(convert.probe, "prepare", lambda *a, **k: (model, batch, None))
    monkeypatch.setattr(convert.probe, "probe", lambda *a, **k: dict(document))
    monkeypatch.setattr(convert, "convert_file", fake_convert)
    monkeypatch.setattr(convert.loaders, "verify", fake_prove)
    diagnosis = SimpleNamespace(path="x.h5", size_guess="tiny")
    options = SimpleNamespace(size=None, variant="lambda", timeout=60.0)
    with pytest.raises(HarnessFailure, match=f"did not reproduce the reference in {fails}"):
        convert.convert_and_prove(diagnosis, catalog.get("tf221"), aim, [], options, sandboxed=True)
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]
    assert "NOT passed" in capsys.readouterr().out
