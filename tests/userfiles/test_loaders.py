"""``compat probe --write-loader``: the written script is the recipe with only its paths changed, and
a real probe's scripts reproduce the reference standalone."""

from __future__ import annotations

import json
import shutil

import pytest

from compat import cli
from compat.environments import standalone
from compat.harness import fixtures
from compat.userfiles import loaders
from tests.conftest import producer_reference

RECIPE = '''"""Loading strategy rebuild_weights: rebuild, then load_weights.

Usage: python load_tf215.py INPUT.npy OUTPUT.npy
"""
import os
import sys

import numpy as np
from tensorflow import keras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # facenet_arch.py sits beside this script
import facenet_arch  # the architecture file

MODEL_PATH = "lambda.h5"

images = np.load(sys.argv[1])
model = facenet_arch.build("lambda", size="tiny")
model.load_weights(MODEL_PATH)
embeddings = model.predict(images, verbose=0)
np.save(sys.argv[2], np.asarray(embeddings))'''


def test_script_is_the_recipe_with_only_the_model_path_made_absolute(tmp_path):
    model = tmp_path / "models" / "lambda.h5"
    text = loaders.script_text(RECIPE, model, "tf215", {"python": "3.11.7", "tensorflow": "2.15.1"})
    head, body = text.splitlines()[: loaders.HEAD_LINES], text.splitlines()[loaders.HEAD_LINES :]
    assert head[0] == "# Verified in tf215 (Python 3.11.7, TensorFlow 2.15.1)."
    changed = [(a, b) for a, b in zip(RECIPE.splitlines(), body, strict=False) if a != b]
    assert changed == [('MODEL_PATH = "lambda.h5"', f'MODEL_PATH = "{model.resolve()}"')]
    assert len(body) == len(RECIPE.splitlines())


def test_the_outcome_goes_under_the_opening_comment(tmp_path):
    script = tmp_path / "load_tf215.py"
    script.write_text(loaders.script_text(RECIPE, tmp_path / "lambda.h5", "tf215", {}))
    loaders.note_result(script, True, "max |diff| 0")
    lines = script.read_text().splitlines()
    assert lines[loaders.HEAD_LINES] == "# standalone: verified (max |diff| 0)"
    assert lines[loaders.HEAD_LINES + 1].startswith('"""Loading strategy')


def test_architecture_file_only_where_the_recipe_imports_it():
    assert [p.name for p in standalone.companions(RECIPE)] == ["facenet_arch.py"]
    assert not standalone.companions(RECIPE.replace("import facenet_arch", "import keras_arch"))
    assert [p.name for p in standalone.companions(RECIPE + "\nimport translate\n")] == [
        "facenet_arch.py",
        "translate.py",
    ]
    assert loaders.script_name("adhoc-1a2b") == "load_adhoc-1a2b.py"
    assert loaders.script_name("py3.12:tf==2") == "load_py3.12_tf__2.py"


def test_write_loader_into_a_file_is_exit_2(tmp_path, capsys):
    model = tmp_path / "lambda.h5"
    shutil.copy(fixtures.unpacked("keras212") / "lambda.h5", model)
    (tmp_path / "taken").write_text("")
    args = cli.build_parser().parse_args(
        ["probe", str(model), "--loaders", "tf215", "--write-loader", str(tmp_path / "taken")]
    )
    assert cli.invoke(cli.probe.run, args) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.envs
def test_probe_writes_loaders_verified_standalone_under_tf215_and_tf221(tmp_path, capsys):
    model = tmp_path / "models" / "lambda.h5"
    model.parent.mkdir()
    shutil.copy(fixtures.unpacked("keras212") / "lambda.h5", model)
    folder, out = tmp_path / "loaders", tmp_path / "probe.json"
    # The scripts are checked against keras212's own numbers, not against a load of the probe's.
    reference, batch = producer_reference(fixtures.fixture_dir("keras212"), "lambda", tmp_path)
    assert (
        cli.main(
            [
                "probe",
                str(model),
                "--loaders",
                "tf215,tf221",
                "--write-loader",
                str(folder),
                "--json",
                str(out),
                "--reference",
                reference,
                "--input",
                batch,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for env_id in ("tf215", "tf221"):
        script = folder / f"load_{env_id}.py"
        assert f"{script}: standalone: verified (max |diff|" in printed
        text = script.read_text()
        assert text.startswith(f"# Verified in {env_id} (")
        assert f'MODEL_PATH = "{model.resolve()}"' in text
    assert (folder / "facenet_arch.py").exists()
    document = json.loads(out.read_text())
    assert document["reference"]["source"] == "file"
    assert all(env["loader"]["verified"] for env in document["environments"])
