"""The reported failures carried over: ``compat convert FILE --to tf221 -o OUT.keras`` as a user
runs it, then the written ``.keras`` checked by the independent oracle (``tests/oracle/oracle.py``:
the environment's own interpreter with ``-I``, a plain ``load_model``, nothing of the project)
under tf221 (Keras 3 on TensorFlow) and keras315jax (Keras 3 on JAX, no TensorFlow), against
the numbers the saving stack itself computed (the corpus reference npz).

Every case is a file from ``fixtures/corpus/reported/<producer>/``; its id names the public
reports its manifest note cites. The conversions run once per module, two at a time.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from compat import catalog
from compat.environments import envs
from compat.harness import corpus

pytestmark = pytest.mark.envs

ORACLE = Path(__file__).resolve().parents[1] / "oracle" / "oracle.py"
ROOT = Path(__file__).resolve().parents[2]
TARGET = "tf221"
ORACLE_ENVS = ("tf221", "keras315jax")

# (producer, corpus model id): the files translate carries into Keras 3.15, each with its reports.
CARRIED = {
    "tf24-depthwise_groups-h5 (keras-team/keras#19441, #19151; Shawn-Shan/fawkes#186)": ("tf24", "depthwise_groups-h5"),
    "tf215-depthwise_groups-h5 (keras-team/keras#19441, #19151; Shawn-Shan/fawkes#186)": (
        "tf215",
        "depthwise_groups-h5",
    ),
    "tf215-bilstm-h5 (keras-team/keras#19898, #18913, #19615)": ("tf215", "bilstm-h5"),
    "tf215-bilstm-keras (keras-team/keras#19898, #18913, #19615)": ("tf215", "bilstm-keras"),
    "keras212-gru_keras212-h5 (xiaochus/TrafficFlowPrediction#10; Tony607/Keras-Trigger-Word#15)": (
        "keras212",
        "gru_keras212-h5",
    ),
    "keras315jax-keras3_h5-h5 (tensorflow/tensorflow#66381, #64685)": ("keras315jax", "keras3_h5-h5"),
    "tf215-preprocessing_savedmodel-h5 (tensorflow/tensorflow#46427; keras-team/keras#15348)": (
        "tf215",
        "preprocessing_savedmodel-h5",
    ),
    "tf215-tfoplambda-h5 (hyunnamlee/RAPUNet#4)": ("tf215", "tfoplambda-h5"),
    # Keras SavedModels: the architecture from keras_metadata.pb, the weights from the checkpoint.
    "tf215-two_input_savedmodel-savedmodel (keras-team/keras#20813)": ("tf215", "two_input_savedmodel-savedmodel"),
    "tf215-preprocessing_savedmodel-savedmodel (tensorflow/tensorflow#46427; keras-team/keras#15348)": (
        "tf215",
        "preprocessing_savedmodel-savedmodel",
    ),
}
# Refused: a Lambda holding Python 3.11 bytecode, which Python 3.13 cannot read, and no --function.
REFUSED = {
    "tf215-lambda_no_output_shape-h5 (keras-team/keras#21089; sizhuoli/TreeCountSegHeight#6; "
    "matterport/Mask_RCNN#3038)": ("tf215", "lambda_no_output_shape-h5"),
}
# The same file with the user's function for its Lambda (--function): a def, saved by name.
WITH_FUNCTION = ("tf215", "lambda_no_output_shape-h5")
USER_CODE = """import keras


def add_channel_axis(x):
    return keras.ops.expand_dims(x, axis=-1)
"""
# Written directly into /tmp, where a user reported the proof found no usable temporary folder.
IN_TMP = ("keras315jax", "keras3_h5-h5")


def _model(producer: str, model_id: str) -> tuple[Path, dict]:
    folder = corpus.unpacked("reported", producer)
    [model] = [m for m in json.loads((folder / "manifest.json").read_text())["models"] if m["id"] == model_id]
    return folder, model


def _case(producer: str, model_id: str, work: Path, out: Path, extra: tuple = ()) -> dict:
    """``compat convert`` in a subprocess, as a user runs it, against the producer's own numbers."""
    folder, model = _model(producer, model_id)
    work.mkdir(parents=True, exist_ok=True)
    source = work / model["path"]
    if (folder / model["path"]).is_dir():  # a SavedModel folder
        shutil.copytree(folder / model["path"], source)
    else:
        shutil.copy(folder / model["path"], source)
    with np.load(folder / model["reference"]) as data:
        np.savez(work / "input.npz", **{k[6:]: data[k] for k in data.files if k.startswith("input:")})
        np.savez(work / "reference.npz", **{k[7:]: data[k] for k in data.files if k.startswith("output:")})
    command = [sys.executable, "-m", "compat", "convert", str(source), "--to", TARGET, "-o", str(out)]
    command += ["--loaders", TARGET, "--input", str(work / "input.npz"), "--reference", str(work / "reference.npz")]
    done = subprocess.run([*command, *extra], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    return {
        "status": done.returncode,
        "out": out,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "reference": folder / model["reference"],
        "note": model["note"],
    }


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Iterator[dict]:
    """Every case converted once: ``{case key: what convert did}``."""
    root = tmp_path_factory.mktemp("carry-over")
    (root / "code").mkdir()
    (root / "code" / "reshapers.py").write_text(USER_CODE)
    in_tmp = Path("/tmp") / f"compat-carry-over-{uuid.uuid4().hex[:8]}.keras"
    jobs = {
        key: (*where, root / f"case{n}", root / f"case{n}" / "out" / "model.keras", ())
        for n, (key, where) in enumerate({**CARRIED, **REFUSED}.items())
    }
    function = f"add_channel_axis={root / 'code' / 'reshapers.py'}:add_channel_axis"
    jobs["with-function"] = (*WITH_FUNCTION, root / "fn", root / "fn" / "out" / "model.keras", ("--function", function))
    jobs["in-tmp"] = (*IN_TMP, root / "tmp", in_tmp, ())
    for _, _, _, out, _ in jobs.values():
        if out.parent != Path("/tmp"):
            out.parent.mkdir(parents=True)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {key: pool.submit(_case, *job) for key, job in jobs.items()}
            results = {key: future.result() for key, future in futures.items()}
        yield results
    finally:
        for path in (in_tmp, in_tmp.parent / f"load_{in_tmp.stem}.py"):
            path.unlink(missing_ok=True)


def _oracle(env_id: str, models: list[tuple[str, Path, Path]], folder: Path) -> dict:
    """The oracle's line per converted file, run once in ``env_id`` from a folder holding only the
    files and their references (``[(id, converted file, reference npz)]``)."""
    folder.mkdir(parents=True)
    (folder / "reference").mkdir()
    manifest = {"models": []}
    for model_id, path, reference in models:
        shutil.copy(path, folder / f"{model_id}.keras")
        shutil.copy(reference, folder / "reference" / f"{model_id}.npz")
        manifest["models"].append(
            {"id": model_id, "path": f"{model_id}.keras", "reference": f"reference/{model_id}.npz"}
        )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    env = catalog.get(env_id)
    child = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3"}
    child.update(dict(env.env_vars))
    done = subprocess.run(
        [str(envs.ensure_built(env)), "-I", str(ORACLE)],
        cwd=str(folder),
        env=child,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(models), done.stderr[-2000:]
    return {line["id"]: line for line in lines}


@pytest.fixture(scope="module")
def oracle_lines(converted, tmp_path_factory) -> dict:
    """``{(environment, case key): oracle line}`` for every file convert wrote and proved."""
    root = tmp_path_factory.mktemp("oracle")
    keys = [*CARRIED, "in-tmp"]
    models = [(f"case{n}", converted[key]["out"], converted[key]["reference"]) for n, key in enumerate(keys)]
    found = {}
    for env_id in ORACLE_ENVS:
        lines = _oracle(env_id, [m for m in models if m[1].exists()], root / env_id)
        found.update({(env_id, key): lines.get(f"case{n}") for n, key in enumerate(keys)})
    return found


@pytest.mark.parametrize("key", list(CARRIED))
def test_carried_over_and_the_oracle_loads_it_on_tensorflow_and_jax(converted, oracle_lines, key):
    done = converted[key]
    assert done["status"] == 0, done["stderr"][-2000:]
    cited = re.search(r"[\w.-]+/[\w.-]+#\d+", key)
    assert cited and cited.group() in done["note"], done["note"]  # the case cites its manifest's report
    printed = done["stdout"]
    assert "proof on TensorFlow: passed: a fresh tf221 process" in printed
    assert "proof on JAX: passed: a fresh keras315jax process" in printed
    script = (done["out"].parent / "load_model.py").read_text()
    assert "safe_mode=" not in script and "tf_keras" not in script and "compat" not in script
    for env_id in ORACLE_ENVS:
        line = oracle_lines[(env_id, key)]
        assert line and line["loader"] == "load_model", line
        assert line["verdict"] == "pass", (env_id, line)


@pytest.mark.parametrize("key", list(REFUSED))
def test_a_case_translate_cannot_carry_is_refused_in_one_line(converted, key):
    done = converted[key]
    assert done["status"] == 3, done["stderr"][-2000:]
    said = [line for line in done["stderr"].splitlines() if line.startswith("compat convert: error:")]
    assert len(said) == 1 and "no strategy gives the reference numbers in tf221" in said[0], done["stderr"]
    assert "proof" not in done["stdout"]
    assert not any(done["out"].parent.iterdir())  # nothing written


def test_a_lambda_with_the_users_function_is_saved_by_name(converted, tmp_path):
    """keras-team/keras#21089: the Lambda carried with --function, loaded with custom_objects."""
    done = converted["with-function"]
    assert done["status"] == 0, done["stderr"][-2000:]
    assert "proof on TensorFlow: passed" in done["stdout"] and "proof on JAX: passed" in done["stdout"]
    folder = done["out"].parent
    script = (folder / "load_model.py").read_text()
    assert "custom_objects=custom_objects" in script and "safe_mode=" not in script
    assert (folder / "reshapers.py").exists()
    with zipfile.ZipFile(done["out"]) as archive:
        assert b"__lambda__" not in archive.read("config.json")  # no bytecode: the function by name
    # Independently of the proof script: a plain load handed the user's function, on both backends.
    check = (
        "import sys, numpy as np, keras\n"
        f"sys.path.insert(0, {str(folder)!r})\n"
        "import reshapers\n"
        f"model = keras.models.load_model({str(done['out'])!r}, "
        "custom_objects={'add_channel_axis': reshapers.add_channel_axis})\n"
        f"data = np.load({str(done['reference'])!r})\n"
        "got = model.predict(data['input:spectrum'], verbose=0)\n"
        "want = data['output:scores']\n"
        "assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, np.max(np.abs(want))), np.max(np.abs(got - want))\n"
    )
    for env_id in ORACLE_ENVS:
        env = catalog.get(env_id)
        child = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", **dict(env.env_vars)}
        ran = subprocess.run(
            [str(envs.ensure_built(env)), "-I", "-c", check], env=child, capture_output=True, text=True, check=False
        )
        assert ran.returncode == 0, (env_id, ran.stderr[-2000:])


def test_written_directly_in_tmp_is_proven_there(converted, oracle_lines):
    """tensorflow/tensorflow#66381: -o /tmp/NAME.keras, where the proof found no usable temporary folder."""
    done = converted["in-tmp"]
    assert done["status"] == 0, done["stderr"][-2000:]
    assert "No usable temporary directory" not in done["stdout"] + done["stderr"]
    assert done["out"].exists()
    for env_id in ORACLE_ENVS:
        assert oracle_lines[(env_id, "in-tmp")]["verdict"] == "pass", oracle_lines[(env_id, "in-tmp")]
