"""The translator's rules on configs and arrays: pure logic, no Keras.

What it loads is measured by the matrix's ``translate`` column and by the reported-failures
corpus; here each rule is held to what it says it does: which configs it rewrites, which
it refuses, and that a rule keeping the numbers keeps them.
"""

from __future__ import annotations

import base64
import marshal
import types

import h5py
import numpy as np
import pytest

from compat.inside import translate


def target(generation: int, version: str = "") -> types.SimpleNamespace:
    version = version or ("3.15.1" if generation == 3 else "2.15.0")
    parts = version.split(".")
    return types.SimpleNamespace(
        generation=generation, version=version, minor=(int(parts[0]), int(parts[1])), keras=None
    )


def stored(config: dict, keras_version: str = "2.15.0") -> translate.Stored:
    return translate.Stored(config, keras_version, ("h5", "unused.h5", ""))


def translation(config: dict, keras_version: str = "2.15.0", generation: int = 3, **kw) -> translate.Translation:
    return translate.Translation(stored(config, keras_version), target(generation), **kw)


def layer(class_name: str, **config) -> dict:
    return {
        "class_name": class_name,
        "config": dict(config, name=config.get("name", class_name.lower())),
        "name": config.get("name", class_name.lower()),
        "inbound_nodes": [],
    }


def model(*layers: dict) -> dict:
    return {"class_name": "Functional", "config": {"name": "m", "layers": list(layers)}}


def test_groups_of_one_is_dropped_for_keras_3_and_other_groups_refused():
    edit = translate.BY_NAME["groups"].edit
    depthwise = layer("DepthwiseConv2D", groups=1, kernel_size=[3, 3])
    assert edit(depthwise, stored({}), target(3), None) == "dropped groups=1"
    assert "groups" not in depthwise["config"]
    grouped = layer("Conv2DTranspose", groups=2)
    with pytest.raises(translate.NotTranslatable, match="groups=2 has no equivalent"):
        edit(grouped, stored({}), target(3), None)
    kept = layer("DepthwiseConv2D", groups=1)
    assert edit(kept, stored({}), target(2), None) is None and kept["config"]["groups"] == 1


def test_a_gru_without_reset_after_keeps_what_its_keras_computed():
    gru = layer("GRU", units=4, recurrent_activation="hard_sigmoid")
    assert translate.BY_NAME["gru_reset_after"].edit(gru, stored({}, "2.1.2"), target(3), None)
    assert gru["config"]["reset_after"] is False
    modern = layer("GRU", units=4, reset_after=True)
    assert translate.BY_NAME["gru_reset_after"].edit(modern, stored({}), target(3), None) is None


def keras2_hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def keras3_hard_sigmoid(x):
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


@pytest.mark.parametrize("class_name,blocks,gates", [("LSTM", 4, (0, 1, 3)), ("GRU", 3, (0, 1))])
def test_scaled_gate_weights_make_keras_3_hard_sigmoid_compute_keras_2s(class_name, blocks, gates):
    rng = np.random.RandomState(0)
    units, features = 5, 3
    kernel = rng.uniform(-2, 2, (features, blocks * units)).astype("float32")
    recurrent = rng.uniform(-2, 2, (units, blocks * units)).astype("float32")
    bias = rng.uniform(-1, 1, (blocks * units,)).astype("float32")
    config = layer(class_name, units=units, recurrent_activation="hard_sigmoid")
    scaled = translate.BY_NAME["hard_sigmoid"].arrays(config, [kernel, recurrent, bias], stored({}), target(3))
    x, h = rng.uniform(-3, 3, (7, features)), rng.uniform(-1, 1, (7, units))
    before = x @ kernel + h @ recurrent + bias
    after = x @ scaled[0] + h @ scaled[1] + scaled[2]
    for block in range(blocks):
        columns = slice(block * units, (block + 1) * units)
        if block in gates:  # a gate: Keras 3's activation of the scaled sum is Keras 2's of the file's
            np.testing.assert_allclose(
                keras3_hard_sigmoid(after[:, columns]), keras2_hard_sigmoid(before[:, columns]), atol=1e-6
            )
        else:  # the candidate (tanh) is untouched
            np.testing.assert_array_equal(after[:, columns], before[:, columns])
    # Keras 3's file under Keras 2: the inverse scaling, back to the same arrays.
    back = translate.BY_NAME["hard_sigmoid"].arrays(config, scaled, stored({}, "3.15.1"), target(2))
    for original, restored in zip([kernel, recurrent, bias], back, strict=True):
        np.testing.assert_allclose(restored, original, rtol=1e-6)


def test_a_bidirectional_layers_halves_are_each_scaled_as_its_own_layer():
    """A Bidirectional LSTM of Keras <= 2.2 (hard_sigmoid by default) holds the forward layer's
    kernel, recurrent kernel and bias, then the backward one's: both halves are gate-scaled."""
    lstm = layer("LSTM", units=2, recurrent_activation="hard_sigmoid")
    wrapper = {"class_name": "Bidirectional", "config": {"name": "bilstm", "layer": lstm}}
    arrays = [np.ones((3, 8), "float32"), np.ones((2, 8), "float32"), np.ones((8,), "float32")] * 2
    scaled = translate.BY_NAME["hard_sigmoid"].arrays(wrapper, arrays, stored({}, "2.2.4"), target(3))
    gates = np.array([1.2, 1.2, 1.2, 1.2, 1.0, 1.0, 1.2, 1.2], "float32")  # i, f scaled; c not; o scaled
    for array in scaled:
        np.testing.assert_allclose(array, np.broadcast_to(gates, array.shape), rtol=1e-6)
    sigmoid = dict(lstm, config=dict(lstm["config"], recurrent_activation="sigmoid"))
    plain = {"class_name": "Bidirectional", "config": {"name": "bilstm", "layer": sigmoid}}
    kept = translate.BY_NAME["hard_sigmoid"].arrays(plain, arrays, stored({}, "2.15.0"), target(3))
    assert all(a is b for a, b in zip(kept, arrays, strict=True))


def test_a_sigmoid_recurrent_layer_is_left_as_it_is():
    config = layer("LSTM", units=2, recurrent_activation="sigmoid")
    arrays = [np.ones((3, 8), "float32")]
    assert translate.BY_NAME["hard_sigmoid"].arrays(config, arrays, stored({}, "2.1.2"), target(3)) is arrays


def test_keras_3_nodes_become_keras_2_lists():
    dense = layer("Dense", units=2)
    dense["inbound_nodes"] = [
        {"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["inputs", 0, 0]}}], "kwargs": {}}
    ]
    assert translate.BY_NAME["keras3_nodes"].edit(dense, stored({}, "3.15.1"), target(2), None)
    assert dense["inbound_nodes"] == [[["inputs", 0, 0, {}]]]


def keras3_call(dense: dict, *sources: str) -> dict:
    history = [{"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}} for name in sources]
    dense["inbound_nodes"] = [{"args": history, "kwargs": {}}]
    return dense


def rewritten(config: dict, keras_version: str, generation: int) -> dict:
    """The config as the rules leave it, with no layer classes to check arguments against."""
    carried = translation(config, keras_version, generation=generation)
    carried.target.keras = types.SimpleNamespace(layers=types.SimpleNamespace())
    return carried.rewrite()


def test_a_nested_models_call_is_its_node_1_in_keras_2():
    # Keras 2 gives a nested model a node of its own before its first call; a config that calls
    # its node 0 makes Keras 2's from_config wait for ever.
    inner = model(layer("InputLayer", name="inner_in"), keras3_call(layer("Dense", name="d"), "inner_in"))
    inner.update(name="inner", inbound_nodes=[])
    inner["config"].update(name="inner", input_layers=[["inner_in", 0, 0]], output_layers=[["d", 0, 0]])
    keras3_call(inner, "x")
    outer = model(layer("InputLayer", name="x"), inner, keras3_call(layer("Dense", name="head"), "inner"))
    outer["config"].update(input_layers=[["x", 0, 0]], output_layers=[["inner", 0, 0]])
    config = rewritten(outer, "3.15.1", generation=2)
    head = config["config"]["layers"][2]
    assert head["inbound_nodes"] == [[["inner", 1, 0, {}]]]
    assert config["config"]["output_layers"] == [["inner", 1, 0]]
    assert config["config"]["layers"][1]["inbound_nodes"] == [[["x", 0, 0, {}]]]
    assert translate._unreachable_node(config) is None
    head["inbound_nodes"] = [[["inner", 2, 0, {}]]]
    assert translate._unreachable_node(config) == ("inner", 2, 2)


def test_a_keras_2_nested_models_calls_are_numbered_from_0_for_keras_3():
    # Keras 2 (here 2.1, whose Sequential config is a bare list) numbers a nested model's first
    # call 1; Keras 3 takes a legacy node number as it is, and renumbers only a functional model
    # named in the outputs itself. A nested Sequential's input shape becomes an InputLayer.
    inner = {
        "class_name": "Sequential",
        "name": "refine",
        "config": [{"class_name": "Dense", "config": {"name": "d", "units": 3, "batch_input_shape": [None, 4]}}],
        "inbound_nodes": [[["encoder", 1, 0, {}]]],
    }
    encoder = dict(model(layer("InputLayer", name="e_in")), name="encoder", inbound_nodes=[[["x", 0, 0, {}]]])
    outer = model(layer("InputLayer", name="x"), encoder, inner)
    outer["config"].update(input_layers=[["x", 0, 0]], output_layers=[["refine", 1, 0]])
    config = rewritten(outer, "2.1.2", generation=3)
    refine = config["config"]["layers"][2]
    assert refine["inbound_nodes"] == [[["encoder", 0, 0, {}]]]
    assert config["config"]["output_layers"] == [["refine", 0, 0]]
    first, dense = refine["config"]["layers"]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"] == [None, 4]
    assert "batch_input_shape" not in dense["config"]


def test_the_target_keras_version_comes_from_the_package_where_tf_keras_has_none(monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda name: {"keras": "2.15.0"}[name])
    bare = types.SimpleNamespace()  # tf.keras in TF 2.13 - 2.15 has no __version__
    assert translate.Target(bare).minor == (2, 15)
    assert translate.Target(types.SimpleNamespace(__version__="3.15.1")).generation == 3


def test_input_batch_shape_and_dtype_policy_for_keras_2():
    inputs = layer(
        "InputLayer",
        batch_shape=[None, 4],
        optional=False,
        dtype={"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
    )
    translate.BY_NAME["batch_shape"].edit(inputs, stored({}, "3.15.1"), target(2), None)
    translate.BY_NAME["dtype_policy"].edit(inputs, stored({}, "3.15.1"), target(2), None)
    assert inputs["config"]["batch_input_shape"] == [None, 4]
    assert "batch_shape" not in inputs["config"] and "optional" not in inputs["config"]
    assert inputs["config"]["dtype"] == "float32"


def lambda_layer(code: bytes, name: str = "scale") -> dict:
    text = base64.encodebytes(code).decode("ascii")
    return layer(
        "Lambda",
        name=name,
        function=[text, None, None],
        function_type="lambda",
        module="__main__",
        output_shape=None,
        output_shape_type="raw",
        output_shape_module=None,
        arguments={},
    )


def test_a_lambda_stored_as_bytecode_asks_for_its_function_by_layer_name():
    """Translate never runs the bytecode, whichever Python wrote it: the function comes from the user."""
    work = translation(model())
    bytecode = lambda_layer(marshal.dumps((lambda x: x * 2).__code__))
    with pytest.raises(translate.NotTranslatable, match=r"never runs.*--function scale=FILE\.py:NAME"):
        translate.BY_NAME["lambda_function"].edit(bytecode, work.stored, work.target, work)


def test_a_lambda_given_by_the_user_is_used_by_name_with_its_output_shape():
    def doubled(x):
        return x * 2

    work = translation(model(), functions={"scale": doubled})
    config = lambda_layer(b"not read")
    change = translate.BY_NAME["lambda_function"].edit(config, work.stored, work.target, work)
    assert change == "function: the function given for 'scale'"
    assert work.objects["compat_translated_scale"] is doubled
    shape = work.objects["compat_translated_scale_shape"]
    assert shape((None, 3, 2)) == (None, 3, 2)
    assert config["config"]["function"]["config"] == "compat_translated_scale"
    assert "function_type" not in config["config"]


def test_neutral_arguments_are_dropped_and_meaningful_ones_refused():
    class OldInitializer:
        def __init__(self, seed=None):
            self.seed = seed

    config = {"seed": None, "input_axes": None}
    assert translate._drop_unknown(OldInitializer, config, "layer") == ["input_axes"]
    with pytest.raises(translate.NotTranslatable, match="takes no 'output_axes'"):
        translate._drop_unknown(OldInitializer, {"output_axes": [0]}, "layer")


def test_saving_library_groups_are_named_by_class_in_layer_order():
    assert translate._snake("Conv2D") == "conv2d"
    assert translate._snake("BatchNormalization") == "batch_normalization"
    assert translate._snake("DepthwiseConv2D") == "depthwise_conv2d"


def test_legacy_hdf5_weights_are_read_by_layer_and_weight_order(tmp_path):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights")
        root.attrs["layer_names"] = [b"dense", b"empty"]
        group = root.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        group.create_dataset("dense/kernel:0", data=np.ones((2, 3)))
        group.create_dataset("dense/bias:0", data=np.zeros(3))
        root.create_group("empty").attrs["weight_names"] = []
    found = translate._legacy_h5_weights(str(path), "model_weights")
    assert list(found) == ["dense"]
    assert [a.shape for a in found["dense"]] == [(2, 3), (3,)]


def test_a_nested_keras_3_sequentials_weights_are_found_by_their_inner_layer(tmp_path):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights")
        root.attrs["layer_names"] = [b"refine", b"encoder"]
        for group_name, names in (("refine", ["refine/dense/kernel"]), ("encoder", ["hidden/kernel"])):
            group = root.create_group(group_name)
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name in names:
                group.create_dataset(name, data=np.ones((2, 2)))
    found = translate._legacy_h5_weights(str(path), "model_weights")
    assert set(found) == {"refine", "encoder", "dense", "hidden"}


def test_the_report_has_a_line_per_rule_and_change_with_its_public_reports():
    work = translation(model())
    work.changes = [("groups", f"dw{i}", "dropped groups=1") for i in range(5)]
    assert work.report() == ["groups: dropped groups=1: dw0, dw1, dw2 and 2 more (keras-team/keras#19441)"]


def test_every_rule_names_its_span_its_rewrite_its_error_and_a_public_report():
    for rule in translate.RULES:
        assert rule.name and rule.spans and rule.rewrites and rule.fixes
        assert rule.reports and all("#" in report and "/" in report for report in rule.reports)


def test_a_pattern_gives_one_function_to_every_lambda_it_matches(tmp_path):
    source = tmp_path / "scaling.py"
    source.write_text("def scaling(x, scale):\n    return x * scale\n")
    scaling = translate.function_from(str(source), "scaling")
    assert scaling(2.0, scale=0.5) == 1.0
    work = translation(model(), functions={"lambda_*": scaling})
    for name in ("lambda_1", "lambda_2"):
        config = lambda_layer(b"not read", name)
        assert translate.BY_NAME["lambda_function"].edit(config, work.stored, work.target, work)
        assert work.objects[f"compat_translated_{name}"] is scaling
    with pytest.raises(translate.NotTranslatable, match="defines no 'missing'"):
        translate.function_from(str(source), "missing")


def test_a_keras_savedmodels_architecture_is_read_from_its_metadata_without_tensorflow():
    """TF 2.15 keeps it in keras_metadata.pb, TF 2.4 in saved_model.pb's object graph; a TF 1.15
    SavedModel records none and is refused in one line (committed files, read as protobuf wire data)."""
    from compat.harness import corpus, fixtures

    folder = corpus.unpacked("reported", "tf215")
    found = translate.read(str(folder / "two_input_savedmodel_savedmodel"))
    assert found.generation == 2 and found.keras_version.startswith("2.15")
    layers = {translate._name(layer): layer for layer in translate._layers(found.config)}
    assert {"anchor", "candidate", "encode_hidden", "same_person"} <= set(layers)
    # tf.keras's own JSON spelling of a tuple is read as the list an HDF5 config holds
    assert layers["anchor"]["config"]["batch_input_shape"] == [None, 12]
    assert found.weights[0] == "savedmodel"

    older = translate.read(str(fixtures.unpacked("tf24") / "custom_savedmodel"))
    assert older.keras_version.startswith("2.4") and older.config["class_name"] == "Functional"
    assert any(layer.get("class_name") == "ScaleLayer" for layer in translate._layers(older.config))

    with pytest.raises(translate.NotTranslatable, match="records no Keras architecture"):
        translate.read(str(fixtures.unpacked("tf115") / "custom_savedmodel"))


def test_protobuf_wire_fields_are_read_as_numbers_and_bytes():
    # field 1 varint 300, field 2 bytes "ab", field 3 fixed64
    data = bytes([0x08, 0xAC, 0x02, 0x12, 0x02]) + b"ab" + bytes([0x19]) + bytes(8)
    assert list(translate._proto_fields(data)) == [(1, 300), (2, b"ab"), (3, bytes(8))]
    assert translate._proto_field(data, 2) == b"ab" and translate._proto_repeated(data, 9) == []
