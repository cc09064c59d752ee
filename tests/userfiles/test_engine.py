"""The engine for a user's files: reading a model's interface, seeding its batch, judging every output.

Pure logic on small hand-made configs and arrays; the real loads are in test_userfiles_corpus.py.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest

from compat.inside import facenet
from compat.records.outputs import compare_outputs
from compat.userfiles import engine, interface, probe
from compat.userfiles.diagnose import Diagnosis

RIGHT = [[1.0, 2.0, 3.0], [0.5, 0.1, 0.2]]
WRONG = [[1.5, 2.0, 3.0], [0.5, 0.1, 0.9]]


def _out(values, name="output"):
    return [(name, np.asarray(values, dtype=np.float64))]


def _env(env_id, *attempts):
    return {
        "id": env_id,
        "summary": "",
        "runtime": {"tensorflow": "2.x", "keras": "x"},
        "strategies": [{"name": a["strategy"]} for a in attempts],
        "attempts": list(attempts),
        "error": None,
        "seconds": 1.0,
    }


def _ok(strategy, outputs):
    return {"strategy": strategy, "status": "ok", "outputs": outputs, "recipe": f"# {strategy}"}


def _failed(strategy, status="error"):
    return {"strategy": strategy, "status": status, "error": {"type": "ValueError", "message": "no"}}


# -- judging ---------------------------------------------------------------------------------


def test_first_working_load_of_the_first_loader_is_the_reference():
    environments = [
        _env("tf215", _failed("load_model"), _ok("rebuild_weights", _out(RIGHT)), _ok("h5_transplant", _out(RIGHT))),
        _env(
            "tf221", _ok("load_model", _out(WRONG)), _ok("rebuild_weights", _out(RIGHT)), _failed("tf_keras", "crash")
        ),
    ]
    source = engine.judge(environments)
    assert source == {"source": "attempt", "label": "tf215/rebuild_weights"}
    tf215, tf221 = environments
    assert [a["verdict"] for a in tf215["attempts"]] == ["error", "pass", "pass"]
    assert tf215["attempts"][1]["is_reference"]
    assert [a["verdict"] for a in tf221["attempts"]] == ["mismatch", "pass", "crash"]
    assert engine.recommended(tf221)["strategy"] == "rebuild_weights"  # load_model loads wrong numbers
    assert engine.agreement_groups(environments) == [
        ["tf215/rebuild_weights", "tf215/h5_transplant", "tf221/rebuild_weights"],
        ["tf221/load_model"],
    ]


def test_given_reference_judges_every_attempt():
    environments = [_env("tf215", _ok("load_model", _out(WRONG)), _ok("rebuild_weights", _out(RIGHT)))]
    assert engine.judge(environments, _out(RIGHT))["source"] == "file"
    assert [a["verdict"] for a in environments[0]["attempts"]] == ["mismatch", "pass"]
    assert not any(a.get("is_reference") for a in environments[0]["attempts"])


def test_nothing_loads_means_no_reference():
    environments = [_env("tf215", _failed("load_model"))]
    assert engine.judge(environments) == {"source": None, "label": None}
    assert engine.recommended(environments[0]) is None


def test_outputs_pair_by_name_whatever_their_order():
    score, probs = np.zeros((2, 1)), np.ones((2, 3))
    reference = [("score", score), ("probs", probs)]
    assert compare_outputs(reference, [("probs", probs), ("score", score)])["verdict"].value == "pass"


def test_outputs_named_otherwise_pair_by_their_distinct_shapes():
    """One environment returns a dict by key, another a list by output layer name."""
    score, probs = np.zeros((2, 1)), np.ones((2, 3))
    reference = [("score", score), ("probs", probs)]
    actual = [("probs_dense", probs), ("score_dense", score)]
    assert compare_outputs(reference, actual)["verdict"].value == "pass"


def test_a_differing_output_is_named():
    score, probs = np.zeros((2, 1)), np.ones((2, 3))
    found = compare_outputs([("score", score), ("probs", probs)], [("score", score), ("probs", probs * 2)])
    assert found["verdict"].value == "mismatch" and found["output"] == "probs"
    assert found["detail"].startswith("output probs: max |diff| 1")


def test_a_missing_output_is_a_mismatch_that_says_so():
    found = compare_outputs([("a", np.zeros((2, 1))), ("b", np.zeros((2, 1)))], [("a", np.zeros((2, 1)))])
    assert found["verdict"].value == "mismatch" and found["detail"] == "1 outputs (a), reference 2 (a, b)"


def test_one_dimensional_and_three_dimensional_outputs_are_compared_row_by_row():
    flat = np.linspace(-1, 1, 3)
    cube = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    assert compare_outputs(_out(flat), _out(flat))["verdict"].value == "pass"
    assert compare_outputs(_out(cube), _out(cube + 1e-9))["verdict"].value == "pass"
    assert compare_outputs(_out(cube), _out(cube[:, ::-1]))["verdict"].value == "mismatch"


def test_render_flags_disagreement_and_shows_recipes():
    environments = [_env("tf215", _ok("load_model", _out(RIGHT))), _env("tf221", _ok("load_model", _out(WRONG)))]
    source = engine.judge(environments)
    for env in environments:
        env["recommended"] = engine.recommended(env)
    groups = engine.agreement_groups(environments)
    document = {
        "path": "m.h5",
        "diagnosis": {"message": "a whole Keras model"},
        "facenet": False,
        "input": {"description": "seeded"},
        "reference": source,
        "interface": {"outputs": [{"name": "output"}]},
        "environments": probe._public(environments),
        "disagreements": probe._disagreements(environments, source, groups),
    }
    text = probe.render(document)
    assert "tf215 (TF 2.x, Keras x, 1.0s): use load_model\n    # load_model" in text
    assert "tf221 (TF 2.x, Keras x, 1.0s): no strategy gives the reference numbers" in text
    assert "[!] tf221/load_model loads but its numbers differ from tf215/load_model" in text
    assert "fall into 2 groups" in text and "size" not in text
    json.dumps(document)  # the --json document holds no arrays


# -- the interface, read from a config -----------------------------------------------------------

KERAS2_TEXT = {
    "class_name": "Model",
    "config": {
        "layers": [
            {
                "class_name": "InputLayer",
                "name": "tokens",
                "config": {"batch_input_shape": [None, None], "dtype": "float32", "name": "tokens"},
                "inbound_nodes": [],
            },
            {
                "class_name": "InputLayer",
                "name": "mask",
                "config": {"batch_input_shape": [None, 12], "dtype": "bool", "name": "mask"},
                "inbound_nodes": [],
            },
            {
                "class_name": "Embedding",
                "name": "embed",
                "config": {"name": "embed", "input_dim": 50},
                "inbound_nodes": [[["tokens", 0, 0, {}]]],
            },
            {"class_name": "AttentionPool", "name": "pool", "config": {"name": "pool"}, "inbound_nodes": []},
            {
                "class_name": "TimeDistributed",
                "name": "td",
                "config": {
                    "name": "td",
                    "layer": {"class_name": "Lambda", "config": {"name": "inner", "function": "xx"}},
                },
            },
            {"class_name": "Dense", "name": "probs", "config": {"name": "probs"}, "inbound_nodes": []},
        ],
        "input_layers": [["tokens", 0, 0], ["mask", 0, 0]],
        "output_layers": [["probs", 0, 0]],
    },
}

KERAS3_DICT = {
    "module": "keras",
    "class_name": "Functional",
    "config": {
        "layers": [
            {
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": {
                    "batch_shape": [None, 6],
                    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
                    "name": "measurements",
                },
            }
        ],
        "input_layers": ["measurements", 0, 0],
        "output_layers": {"score": ["score_dense", 0, 0], "probs": ["probs_dense", 0, 0]},
    },
}


def test_a_keras2_config_gives_names_shapes_dtypes_and_token_ranges():
    read = interface.from_config(KERAS2_TEXT, "the file's model config")
    tokens, mask = read.inputs
    assert (tokens.name, tokens.shape, tokens.dtype, tokens.below) == ("tokens", (None, None), "int32", 50)
    assert (mask.name, mask.shape, mask.dtype, mask.below) == ("mask", (None, 12), "bool", None)
    assert [o.name for o in read.outputs] == ["probs"]
    assert read.custom_classes == ("AttentionPool",)
    assert read.lambdas == ("td/inner",)


def test_keras3_dict_outputs_keep_their_keys_and_one_input_its_policy_dtype():
    read = interface.from_config(KERAS3_DICT, "config.json")
    assert [(t.name, t.shape, t.dtype) for t in read.inputs] == [("measurements", (None, 6), "float32")]
    assert [o.name for o in read.outputs] == ["score", "probs"]
    assert read.custom_classes == ()


def _model(read, facenet_file=False, fmt="h5"):
    return engine.ModelFile(
        Diagnosis(path="/m/model.h5", ok=True, kind=fmt, format=fmt, message="m"), facenet_file, read
    )


def test_the_seeded_batch_fills_open_dimensions_and_keeps_every_input_in_range():
    batch = engine.make_batch(_model(interface.from_config(KERAS2_TEXT, "the file's model config")))
    tokens, mask = batch.arrays["tokens"], batch.arrays["mask"]
    assert tokens.shape == (3, engine.OPEN_DIMENSION) and tokens.dtype == np.int32
    assert tokens.min() >= 0 and tokens.max() < 50
    assert mask.dtype == bool and mask.shape == (3, 12)
    assert f"open dimensions 1 set to {engine.OPEN_DIMENSION}" in batch.described.replace("dimension ", "dimensions ")
    assert "ids below 50" in batch.described
    again = engine.make_batch(_model(interface.from_config(KERAS2_TEXT, "the file's model config")))
    np.testing.assert_array_equal(again.arrays["tokens"], tokens)


def test_input_shape_overrides_by_name_and_is_checked_against_the_file():
    read = interface.from_config(KERAS2_TEXT, "the file's model config")
    batch = engine.make_batch(_model(read), shapes=engine.parse_shapes(["tokens=40"]))
    assert batch.arrays["tokens"].shape == (3, 40) and "(from --input-shape)" in batch.described
    with pytest.raises(engine.EngineError, match="does not fit the model's input mask, which takes 12"):
        engine.make_batch(_model(read), shapes=engine.parse_shapes(["mask=13"]))


def test_facenet_gets_the_fixtures_batch_and_nothing_else_does():
    one = interface.Interface((interface.Tensor("input_1", (None, 160, 160, 3)),), (), "config")
    np.testing.assert_array_equal(
        engine.make_batch(_model(one, facenet_file=True)).arrays["input_1"], facenet.reference_input(0)
    )
    plain = engine.make_batch(_model(one)).arrays["input_1"]
    assert plain.shape == (3, 160, 160, 3) and not np.array_equal(plain, facenet.reference_input(0))


def test_a_file_without_a_readable_interface_needs_input(tmp_path):
    with pytest.raises(engine.EngineError, match="give --input"):
        engine.make_batch(_model(None))
    batch_path = tmp_path / "batch.npz"
    np.savez(batch_path, a=np.zeros((2, 3)), b=np.ones((2, 1)))
    given = engine.make_batch(_model(None), given=str(batch_path))
    assert list(given.arrays) == ["a", "b"] and given.described.startswith(f"{batch_path} as it is")


def test_a_given_batch_must_fit_the_recorded_input(tmp_path):
    read = interface.from_config(KERAS3_DICT, "config.json")
    np.save(tmp_path / "x.npy", np.zeros((2, 7), dtype=np.float32))
    with pytest.raises(engine.EngineError, match="measurements has shape 7 per sample, but the model takes 6"):
        engine.make_batch(_model(read), given=str(tmp_path / "x.npy"))


def test_a_reference_names_its_outputs_or_takes_the_only_one(tmp_path):
    read = interface.from_config(KERAS3_DICT, "config.json")
    batch = engine.Batch(OrderedDict(measurements=np.zeros((2, 6))), "given", read.spec())
    np.savez(tmp_path / "ref.npz", score=np.zeros((2, 1)), probs=np.zeros((2, 3)))
    assert [n for n, _ in engine.given_reference(str(tmp_path / "ref.npz"), batch)] == ["score", "probs"]
    np.save(tmp_path / "short.npy", np.zeros((3, 1)))
    with pytest.raises(engine.EngineError, match="--reference has 3 rows but the input has 2"):
        engine.given_reference(str(tmp_path / "short.npy"), batch)


def test_a_missing_reader_is_said_not_guessed(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "h5py", None)  # as on a host where h5py is not installed
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(
        interface.InterfaceError, match="cannot read an HDF5 file's model config: h5py is not installed"
    ):
        interface.read(str(tmp_path / "m.h5"), "h5")


def test_user_code_flags_are_checked_before_any_environment_starts(tmp_path):
    code = tmp_path / "arch.py"
    code.write_text("def build():\n    return None\n")
    (found,) = engine.parse_functions([f"lambda_*={code}:build"])
    assert (found.layer, found.path, found.name) == ("lambda_*", code.resolve(), "build")
    assert engine.parse_architecture(f"{code}:build").path == code.resolve()
    assert engine.parse_architecture(None) is None
    for bad in ("lambda_1", f"lambda_1={code}", f"lambda_1={tmp_path}/missing.py:f", f"lambda_1={code}:1f"):
        with pytest.raises(engine.EngineError, match="--function"):
            engine.parse_functions([bad])
    with pytest.raises(engine.EngineError, match="given twice"):
        engine.parse_functions([f"a={code}:build", f"a={code}:build"])
    with pytest.raises(engine.EngineError, match="not a Python file"):
        engine.parse_architecture(f"{tmp_path}/arch.txt:build")
