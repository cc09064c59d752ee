"""The user's code, handed over by flag: a Lambda's function from another Python (``--function``)
and the model a weights-only file belongs to (``--architecture``), in real environments.

Each verdict is judged against numbers no strategy of the run produced: the producer's own
reference (the fixtures' manifest) or the corpus's saving-stack outputs given as ``--reference``.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from compat import cli
from compat.harness import corpus, fixtures
from tests.conftest import producer_reference
from tests.userfiles.test_probe import _args

pytestmark = pytest.mark.envs

SCALING = '''"""FaceNet's residual scaling: what each of its Lambda layers computes."""


def scaling(x, scale):
    return x * scale
'''

ARCHITECTURE = '''"""The model multi_input's weights belong to: two named inputs, joined, one prediction."""
try:
    import keras
except ImportError:  # TF 1.x and 2.x without a standalone keras package
    from tensorflow import keras


def build():
    features = keras.Input(shape=(8,), name="features")
    extra = keras.Input(shape=(4,), name="extra")
    a = keras.layers.Dense(6, activation="tanh", name="features_dense")(features)
    b = keras.layers.Dense(3, activation="tanh", name="extra_dense")(extra)
    joined = keras.layers.Concatenate(name="joined")([a, b])
    prediction = keras.layers.Dense(2, name="prediction")(joined)
    return keras.Model([features, extra], prediction, name="multi_input")
'''


def test_a_lambda_saved_under_python_3_6_loads_under_3_13_with_its_function(tmp_path, capsys):
    """keras212's FaceNet (Python 3.6, Keras 2.1.2) under tf221 (Python 3.13, Keras 3.15): its
    Lambdas' bytecode is unreadable there; with the function given by layer pattern, translate
    gives keras212's own embeddings, and the loader it writes reproduces them standalone."""
    folder = fixtures.unpacked("keras212")
    model = tmp_path / "lambda.h5"
    shutil.copy(folder / "lambda.h5", model)
    (tmp_path / "scaling.py").write_text(SCALING)
    reference, batch = producer_reference(folder, "lambda", tmp_path)
    out = tmp_path / "probe.json"
    status = cli.invoke(
        cli.probe.run,
        _args(
            model,
            loaders="tf221",
            function=f"lambda_*={tmp_path / 'scaling.py'}:scaling",
            reference=reference,
            input=batch,
            json_out=str(out),
            write_loader=str(tmp_path / "loaders"),
        ),
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    document = json.loads(out.read_text())
    (env,) = document["environments"]
    verdicts = {a["strategy"]: a for a in env["attempts"]}
    assert verdicts["translate"]["verdict"] == "pass", verdicts["translate"]
    assert verdicts["load_model"]["verdict"] == "error"  # the bytecode itself: refused by safe_mode
    assert env["recommended"]["strategy"] == "translate"
    assert env["loader"]["verified"], env["loader"]
    assert (tmp_path / "loaders" / "scaling.py").exists() and (tmp_path / "loaders" / "translate.py").exists()
    # The Lambda's stored code, as Python 3.6 reads it, without running it.
    assert "read in Python 3.6" in printed and "scaling(x, scale)" in printed


@pytest.mark.parametrize("name", ["multi_input_weights.h5", "multi_input.weights.h5"])
def test_a_weights_only_file_loads_into_the_users_architecture(tmp_path, capsys, name):
    """A weights-only file (legacy HDF5 and the .weights.h5 layout) with the user's builder: it
    probes under tf215 and tf221 with the saving stack's numbers, and the loaders it writes
    (the user's file copied beside them) reproduce them standalone."""
    folder = corpus.unpacked("foreign", "tf215")
    shutil.copy(folder / name, tmp_path / name)
    (tmp_path / "arch.py").write_text(ARCHITECTURE)
    saved = np.load(folder / "reference" / "multi_input-h5.npz")
    np.savez(tmp_path / "batch.npz", features=saved["input:features"], extra=saved["input:extra"])
    np.save(tmp_path / "prediction.npy", saved["output:prediction"])
    out = tmp_path / "probe.json"
    status = cli.invoke(
        cli.probe.run,
        _args(
            tmp_path / name,
            loaders="tf215,tf221",
            architecture=f"{tmp_path / 'arch.py'}:build",
            input=str(tmp_path / "batch.npz"),
            reference=str(tmp_path / "prediction.npy"),
            json_out=str(out),
            write_loader=str(tmp_path / "loaders"),
        ),
    )
    assert status == 0, capsys.readouterr().out
    for env in json.loads(out.read_text())["environments"]:
        verdicts = {a["strategy"]: a["verdict"] for a in env["attempts"]}
        assert verdicts["translate"] == "pass", (env["id"], verdicts)
        assert env["loader"]["verified"], env["loader"]
    assert (tmp_path / "loaders" / "arch.py").exists()


@pytest.mark.parametrize("to,name", [("tf221", "multi_input.keras"), ("tf215", "multi_input.h5")])
def test_a_weights_only_file_converts_into_the_users_architecture(tmp_path, capsys, to, name):
    """convert with --architecture writes the target's own file, proven by its plain load_model in
    a fresh process (for Keras 3, on TensorFlow and on JAX)."""
    folder = corpus.unpacked("foreign", "tf215")
    shutil.copy(folder / "multi_input_weights.h5", tmp_path / "weights.h5")
    (tmp_path / "arch.py").write_text(ARCHITECTURE)
    saved = np.load(folder / "reference" / "multi_input-h5.npz")
    np.savez(tmp_path / "batch.npz", features=saved["input:features"], extra=saved["input:extra"])
    np.save(tmp_path / "prediction.npy", saved["output:prediction"])
    out = tmp_path / "out"
    out.mkdir()
    status = cli.main(
        [
            "convert",
            str(tmp_path / "weights.h5"),
            "--architecture",
            f"{tmp_path / 'arch.py'}:build",
            "--to",
            to,
            "-o",
            str(out / name),
            "--loaders",
            to,
            "--input",
            str(tmp_path / "batch.npz"),
            "--reference",
            str(tmp_path / "prediction.npy"),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert (out / name).exists() and "loaded with translate" in printed
    assert "proof on TensorFlow: passed" in printed
    assert ("proof on JAX: passed" in printed) == (to == "tf221")
