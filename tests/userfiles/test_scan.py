"""``compat scan``: every place a saved model keeps code is named, clean files give nothing.

Two kinds of tests. Pure-host ones build small files by hand (h5py, json, zipfile, and the
scan's own SavedModel messages) around real marshalled bytecode of a host function, which
is never run. Those marked ``envs`` write the code corpus (``compat/inside/corpus_code.py``)
with real Keras in tf215 and tf221, scan it, then load every file with the worker and check
that each file whose stored code ran in some loader was flagged.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from compat import cli
from compat.userfiles import savedmodelpb, scan, storedcode

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"


def _code() -> str:
    """Keras' stored form of a function: base64 of its marshalled code object."""
    return base64.b64encode(marshal.dumps((lambda x: x * 2).__code__)).decode("ascii")


def _lambda_layer(name="lambda", keras3=False):
    if keras3:
        function = {"class_name": "__lambda__", "config": {"code": _code(), "defaults": None, "closure": None}}
        return {
            "module": "keras.layers",
            "class_name": "Lambda",
            "registered_name": None,
            "config": {"name": name, "function": function, "arguments": {}},
        }
    return {
        "class_name": "Lambda",
        "config": {
            "name": name,
            "function": [_code(), None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "arguments": {},
        },
        "name": name,
        "inbound_nodes": [[["x", 0, 0, {}]]],
    }


def _dense(name="dense", **extra):
    return {
        "class_name": "Dense",
        "config": {"name": name, "units": 2, "activation": "linear", **extra},
        "name": name,
        "inbound_nodes": [[["x", 0, 0, {}]]],
    }


def _input(name="x"):
    return {
        "class_name": "InputLayer",
        "config": {"batch_input_shape": [None, 4], "name": name},
        "name": name,
        "inbound_nodes": [],
    }


def _functional(name, layers):
    return {"class_name": "Functional", "config": {"name": name, "layers": layers}}


def _h5(path: Path, config: dict, training: dict | None = None) -> Path:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"] = "2.15.0"
        if training is not None:
            handle.attrs["training_config"] = json.dumps(training)
        handle.create_group("model_weights")
    return path


def _keras_zip(path: Path, config: dict) -> Path:
    h5py = pytest.importorskip("h5py")
    weights = path.with_suffix(".tmp.h5")
    with h5py.File(weights, "w") as handle:
        handle.create_group("layers")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.write(weights, "model.weights.h5")
    weights.unlink()
    return path


def _savedmodel(folder: Path, metadata: list[tuple[str, dict]] = (), ops=(), function_ops=()) -> Path:
    """A SavedModel folder built with the scan's own messages: Keras metadata per object, graph
    ops at the top level and in functions (``(function name, op)``)."""
    messages = savedmodelpb.messages()
    folder.mkdir()
    if metadata:
        keras = messages["SavedMetadata"]()
        for number, (node_path, document) in enumerate(metadata):
            node = keras.nodes.add()
            node.node_id, node.node_path, node.metadata = number, node_path, json.dumps(document)
            node.identifier = "_tf_keras_layer"
        (folder / "keras_metadata.pb").write_bytes(keras.SerializeToString())
    saved = messages["SavedModel"]()
    saved.saved_model_schema_version = 1
    meta = saved.meta_graphs.add()
    for number, op in enumerate(ops):
        node = meta.graph_def.node.add()
        node.name, node.op = f"{op.lower()}_{number}", op
    for function_name, op in function_ops:
        function = meta.graph_def.library.function.add()
        function.signature.name = function_name
        node = function.node_def.add()
        node.name, node.op = "op", op
    (folder / "saved_model.pb").write_bytes(saved.SerializeToString())
    (folder / "variables").mkdir()
    return folder


def _places(result: scan.FileScan) -> list[tuple[str, str]]:
    return [(f.kind, f.place) for f in result.findings]


# -- the six shapes, by hand -----------------------------------------------------------------


def test_top_level_lambda_h5(tmp_path):
    path = _h5(tmp_path / "m.h5", _functional("model", [_input(), _lambda_layer()]))
    assert _places(scan.scan(path)) == [("lambda_bytecode", "model/lambda")]


def test_lambda_in_nested_functional_h5(tmp_path):
    inner = _functional("sub_model", [_input("inner"), _dense("d"), _lambda_layer()])
    path = _h5(tmp_path / "m.h5", _functional("model", [_input(), inner]))
    found = scan.scan(path).findings
    assert _places(scan.scan(path)) == [("lambda_bytecode", "model/sub_model/lambda")]
    assert found[0].json_path == "model_config$.config.layers[1].config.layers[2].config.function"


def test_lambda_in_time_distributed_h5(tmp_path):
    wrapper = {
        "class_name": "TimeDistributed",
        "config": {"name": "time_distributed", "layer": _lambda_layer()},
        "name": "time_distributed",
        "inbound_nodes": [],
    }
    path = _h5(tmp_path / "m.h5", _functional("model", [_input(), wrapper]))
    assert _places(scan.scan(path)) == [("lambda_bytecode", "model/time_distributed/lambda")]


def test_lambda_in_nested_sequential_keras(tmp_path):
    inner = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sub_sequential", "layers": [_dense("d"), _lambda_layer(keras3=True)]},
    }
    path = _keras_zip(tmp_path / "m.keras", _functional("model", [_input(), inner]))
    assert _places(scan.scan(path)) == [("lambda_bytecode", "model/sub_sequential/lambda")]


def test_lambda_as_compiled_loss_keras(tmp_path):
    config = _functional("model", [_input(), _dense()])
    config["compile_config"] = {
        "optimizer": "sgd",
        "loss": {"class_name": "__lambda__", "config": {"value": [_code(), None, None]}},
    }
    found = scan.scan(_keras_zip(tmp_path / "m.keras", config)).findings
    assert [(f.kind, f.place, f.json_path) for f in found] == [
        ("serialized_lambda", "model/compile_config/loss", "config.json$.compile_config.loss")
    ]


def test_nested_lambda_in_keras2_savedmodel_is_named_once_at_its_deepest_place(tmp_path):
    stored = {"class_name": "__tuple__", "items": [_code(), None, None]}
    lam = {"class_name": "Lambda", "config": {"name": "lambda", "function": stored, "function_type": "lambda"}}
    inner = {"class_name": "Functional", "config": {"name": "sub_model", "layers": [lam]}}
    root = {"name": "model", "class_name": "Functional", "config": {"name": "model", "layers": [inner]}}
    folder = _savedmodel(
        tmp_path / "sm",
        [
            ("root", root),
            ("root.layer-0", dict(inner, name="sub_model")),
            ("root.layer-0.layer-0", dict(lam, name="lambda")),
        ],
    )
    assert _places(scan.scan(folder)) == [("lambda_bytecode", "model/sub_model/lambda")]


# -- more places ------------------------------------------------------------------------------


def test_shared_and_bidirectional_and_initializers(tmp_path):
    rnn = {
        "class_name": "SimpleRNN",
        "config": {
            "name": "rnn",
            "kernel_initializer": {"class_name": "__lambda__", "config": {"value": [_code(), None, None]}},
            "kernel_regularizer": {"class_name": "__lambda__", "config": {"value": [_code(), None, None]}},
        },
    }
    bidirectional = {
        "class_name": "Bidirectional",
        "config": {"name": "bidirectional", "layer": rnn},
        "name": "bidirectional",
    }
    shared = _lambda_layer("shared_lambda")
    shared["inbound_nodes"] = [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]
    path = _h5(tmp_path / "m.h5", _functional("model", [_input("a"), _input("b"), shared, bidirectional]))
    assert _places(scan.scan(path)) == [
        ("lambda_bytecode", "model/shared_lambda"),
        ("serialized_lambda", "model/bidirectional/rnn/kernel_initializer"),
        ("serialized_lambda", "model/bidirectional/rnn/kernel_regularizer"),
    ]


def test_bytecode_hidden_in_a_custom_config_is_found(tmp_path):
    layer = {"class_name": "MyLayer", "config": {"name": "mine", "payload": [_code(), None]}, "name": "mine"}
    path = _h5(tmp_path / "m.h5", _functional("model", [_input(), layer]))
    assert _places(scan.scan(path)) == [("bytecode", "model/mine/payload")]


def test_module_functions_and_classes(tmp_path):
    dense = _dense(
        "dense",
        activation={"module": "os", "class_name": "function", "config": "system", "registered_name": "function"},
    )
    printer = {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}
    custom_loss = {"module": "builtins", "class_name": "function", "config": "triplet_loss"}
    pathlike = {"module": "subprocess", "class_name": "Popen", "config": {"name": "popen"}}
    scale = {
        "module": "my_project.layers",
        "class_name": "ScaleLayer",
        "registered_name": "my_project>ScaleLayer",
        "config": {"name": "scale"},
    }
    config = _functional("model", [_input(), dense, scale, pathlike])
    config["compile_config"] = {"loss": custom_loss, "metrics": [printer]}
    result = scan.scan(_keras_zip(tmp_path / "m.keras", config))
    assert [(f.kind, f.place, f.detail.split(" ")[0]) for f in result.findings] == [
        ("module_function", "model/dense/activation", "os.system"),
        ("module_class", "model/popen", "subprocess.Popen"),
        ("builtin_function", "model/compile_config/metrics", "builtins.exec"),
    ]
    # named, not stored: the loader must supply them, so they are notes, not code in the file
    assert sorted(n.kind for n in result.notes) == ["custom_class", "custom_function"]


def test_keras_functions_and_classes_are_not_findings(tmp_path):
    dense = _dense(
        "dense",
        activation={"module": "keras.activations", "class_name": "function", "config": "relu"},
        kernel_initializer={"module": "keras.initializers", "class_name": "GlorotUniform", "config": {}},
    )
    result = scan.scan(_keras_zip(tmp_path / "m.keras", _functional("model", [_input(), dense])))
    assert result.findings == () and result.notes == () and not result.has_code


def test_graph_ops_that_act_on_the_world(tmp_path):
    folder = _savedmodel(
        tmp_path / "sm",
        ops=("Placeholder", "PyFunc", "MatMul"),
        function_ops=[
            ("__inference_call_12", "WriteFile"),
            ("__inference_call_12", "Relu"),
            ("__inference__traced_save_40", "SaveV2"),
            ("__inference_other_7", "RestoreV2"),
        ],
    )
    result = scan.scan(folder)
    assert [(f.kind, f.place, f.detail) for f in result.findings] == [
        ("graph_op", "graph/pyfunc_1", "PyFunc: calls Python"),
        ("graph_op", "function/__inference_call_12/op", "WriteFile: writes a file"),
    ]
    # the saver's own SaveV2 is the format; a RestoreV2 elsewhere is said, as a note
    assert [(n.kind, n.place) for n in result.notes] == [("checkpoint_op", "function/__inference_other_7/op")]


def test_world_ops_name_their_tensorflow_sources():
    source = Path(storedcode.__file__).read_text()
    for op_file in ("tensorflow/core/ops/io_ops.cc", "tensorflow/core/ops/script_ops.cc"):
        assert op_file in source
    assert {"PyFunc", "EagerPyFunc", "ReadFile", "WriteFile", "MatchingFiles"} <= set(scan.WORLD_OPS)


def test_json_architecture_and_its_weights(tmp_path):
    inner = {"class_name": "Sequential", "config": {"name": "sub", "layers": [_lambda_layer()]}}
    (tmp_path / "m.json").write_text(json.dumps(_functional("model", [_input(), inner])))
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "m_weights.h5", "w") as handle:
        handle.attrs["layer_names"] = [b"lambda"]
    result = scan.scan(tmp_path / "m.json")
    assert _places(result) == [("lambda_bytecode", "model/sub/lambda")]
    assert result.sources == ("m.json",)


def test_clean_files_have_no_findings(tmp_path):
    config = _functional("model", [_input(), _dense()])
    config_keras = dict(
        config,
        compile_config={"loss": "mse", "optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {}}},
    )
    for result in (
        scan.scan(_h5(tmp_path / "m.h5", config, {"loss": "mse"})),
        scan.scan(_keras_zip(tmp_path / "m.keras", config_keras)),
        scan.scan(_savedmodel(tmp_path / "sm", [("root", dict(config, name="model"))], ops=("Placeholder", "MatMul"))),
    ):
        assert not result.has_code, result.findings


# -- the command --------------------------------------------------------------------------------


def test_exit_status_1_with_code_0_without_2_for_bad_input(tmp_path, capsys):
    coded = _h5(tmp_path / "coded.h5", _functional("model", [_input(), _lambda_layer()]))
    clean = _h5(tmp_path / "clean.h5", _functional("model", [_input(), _dense()]))
    page = tmp_path / "page.h5"
    page.write_text("<!doctype html><html><title>Sign in</title></html>")
    assert cli.main(["scan", str(coded)]) == 1
    assert "model/lambda" in capsys.readouterr().out
    assert cli.main(["scan", str(clean)]) == 0
    assert cli.main(["scan", str(page)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "an HTML web page titled 'Sign in'" in err[0]
    assert cli.main(["scan", str(tmp_path / "nothing.h5")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_a_folder_is_searched_and_an_unreadable_file_in_it_is_said_not_fatal(tmp_path, capsys):
    models = tmp_path / "models"
    (models / "deep").mkdir(parents=True)
    _h5(models / "deep" / "coded.h5", _functional("model", [_input(), _lambda_layer()]))
    _h5(models / "clean.h5", _functional("model", [_input(), _dense()]))
    (models / "package.json").write_text('{"name": "not a model"}')
    (models / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 10)
    out = tmp_path / "scan.json"
    assert cli.main(["scan", str(models), "--json", str(out)]) == 1
    doc = json.loads(out.read_text())
    assert [Path(f["path"]).name for f in doc["files"]] == ["clean.h5", "coded.h5"]
    assert [Path(item["path"]).name for item in doc["not_scanned"]] == ["broken.h5"]
    assert doc["counts"] == {"files": 2, "with_code": 1, "findings": 1}


def test_sarif_validates_against_the_sarif_2_1_0_schema(tmp_path):
    inner = _functional("sub_model", [_lambda_layer()])
    _h5(tmp_path / "coded.h5", _functional("model", [_input(), inner]))
    _h5(tmp_path / "clean.h5", _functional("model", [_input(), _dense()]))
    target = tmp_path / "scan.sarif"
    assert cli.main(["scan", str(tmp_path), "--sarif", str(target)]) == 1
    sarif = json.loads(target.read_text())
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]) for r in results] == [
        ("lambda_bytecode", "model/sub_model/lambda")
    ]
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    done = subprocess.run(
        [checker, "--schemafile", str(SARIF_SCHEMA), str(target)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the checker does reject a document that breaks the schema
    broken = tmp_path / "broken.sarif"
    broken.write_text(json.dumps(dict(sarif, version="2.0.0")))
    assert (
        subprocess.run(
            [checker, "--schemafile", str(SARIF_SCHEMA), str(broken)], capture_output=True, check=False
        ).returncode
        == 1
    )


def test_no_tensorflow_is_imported_on_the_host(tmp_path):
    path = _h5(tmp_path / "m.h5", _functional("model", [_input(), _lambda_layer()]))
    folder = _savedmodel(tmp_path / "sm", ops=("PyFunc",))
    code = (
        "import sys; from compat import cli; status = cli.main(['scan', sys.argv[1], sys.argv[2]]); "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')); "
        "print('LOADED', loaded); sys.exit(status)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), str(folder)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "LOADED []" in done.stdout


def test_the_diagnosis_and_the_gate_carry_the_scan_summary(tmp_path):
    from compat.userfiles import gatereport
    from compat.userfiles.diagnose import diagnose

    inner = _functional("sub_model", [_lambda_layer()])
    path = _h5(tmp_path / "m.h5", _functional("model", [_input(), inner]))
    # the nested Lambda, which the old top-level count missed
    assert "stored code: 1 finding (lambda_bytecode at model/sub_model/lambda)" in diagnose(path).message
    from test_gate import _document

    document = _document()
    document["models"][0]["code"] = scan.summary(path)
    assert 'name="code" value="stored code: 1 finding' in gatereport.junit(document)
    assert "stored code: 1 finding (lambda_bytecode at model/sub_model/lambda)" in gatereport.markdown(document)
    assert "code: stored code: 1 finding" in gatereport.text(document)


def test_matrix_measurements_are_read_for_the_findings_kind_and_format():
    matrix = ROOT / "reports" / "matrix.json"
    if not matrix.is_file():
        pytest.skip("no published matrix in this checkout")
    measured = scan.Measured(matrix).for_fixture("canary-h5")
    # canary-h5 is a Lambda's bytecode in .h5: Keras 2 runs it at load, Keras 3.11.3+ refuses it
    assert "keras212" in measured["at_load"] and "tf220" in measured["refused"]
    assert "rebuild_weights" in measured["avoided_by"] and "load_model" not in measured["avoided_by"]
    assert scan.canary_fixture("keras", "module_function") == "canarymodule-keras"
    assert scan.canary_fixture("h5", "graph_op") is None


# -- the committed fixtures ------------------------------------------------------------------


def _producers():
    return sorted(p.name for p in (ROOT / "fixtures").iterdir() if (p / "manifest.json").is_file())


@pytest.mark.parametrize("producer", _producers())
def test_committed_fixtures(producer):
    """builtin and custom files carry no code; every lambda and canary file that holds an
    architecture is flagged (weights files and Keras 3 exports hold none)."""
    from compat.harness import fixtures

    folder = fixtures.unpacked(producer)
    checked = 0
    for entry in fixtures.load_manifest(producer)["fixtures"]:
        result = scan.scan(folder / entry["path"])
        if entry["variant"] in ("builtin", "custom"):
            assert not result.has_code, (entry["id"], result.findings)
            checked += 1
        elif entry["variant"] in ("lambda", "canary", "canarymodule"):
            holds = entry["format"] not in ("h5_weights", "weights_h5", "export")
            assert result.has_code == holds, (entry["id"], result.findings)
            if holds:
                assert all(f.kind in ("lambda_bytecode", "lambda_named_function") for f in result.findings)
            checked += 1
    assert checked


# -- real files from real Keras, and what loading them ran ------------------------------------

CORPUS_ENVS = ("tf215", "tf221")
# id -> (kind, place) every writer of it must produce
EXPECTED = {
    "lambda-top-h5": ("lambda_bytecode", "model/lambda"),
    "lambda-nested-functional-h5": ("lambda_bytecode", "model/sub_model/lambda"),
    "lambda-timedistributed-h5": ("lambda_bytecode", "model/time_distributed/lambda"),
    "lambda-nested-sequential-keras": ("lambda_bytecode", "model/sub_sequential/lambda"),
    "loss-lambda-keras": ("serialized_lambda", "model/compile_config/loss"),
    "lambda-nested-savedmodel": ("lambda_bytecode", "model/sub_model/lambda"),
    "lambda-shared-h5": ("lambda_bytecode", "model/shared_lambda"),
    "lambda-nested-json": ("lambda_bytecode", "model/sub_sequential/lambda"),
    "lambda-timedistributed-keras": ("lambda_bytecode", "model/time_distributed/lambda"),
    "bidirectional-activation-keras": ("module_function", "model/bidirectional/forward_rnn/activation"),
    "initializer-lambda-keras": ("serialized_lambda", "model/dense/kernel_initializer"),
    "regularizer-lambda-keras": ("serialized_lambda", "model/dense/kernel_regularizer"),
    "module-builtins-keras": ("lambda_named_function", "model/lambda"),
    "module-canary-keras": ("lambda_named_function", "model/lambda"),
}


@pytest.fixture(scope="session")
def code_corpus(tmp_path_factory) -> dict:
    """{env id: (folder, entries)}: corpus_code.write_all run inside each environment."""
    from compat import catalog
    from compat.environments import envs

    written = {}
    for env_id in CORPUS_ENVS:
        env = catalog.get(env_id)
        out = tmp_path_factory.mktemp(f"corpus-{env_id}")
        code = (
            "import json, sys; from compat.inside import corpus_code; "
            "print('ENTRIES' + json.dumps(corpus_code.write_all(sys.argv[1])))"
        )
        done = subprocess.run(
            [str(envs.ensure_built(env)), "-c", code, str(out)],
            env=envs.inside_env(env),
            capture_output=True,
            text=True,
            timeout=900,
            cwd=str(ROOT),
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        line = next(line for line in done.stdout.splitlines() if line.startswith("ENTRIES"))
        written[env_id] = (out, json.loads(line[len("ENTRIES") :]))
    return written


@pytest.mark.envs
def test_corpus_every_shape_is_flagged_at_its_place(code_corpus):
    for env_id, (folder, entries) in code_corpus.items():
        written = {e["id"]: e for e in entries if "skipped" not in e}
        # each of the six shapes where this Keras writes it (Keras 3: no Keras SavedModel)
        six = [
            "lambda-top-h5",
            "lambda-nested-functional-h5",
            "lambda-timedistributed-h5",
            "lambda-nested-sequential-keras",
            "loss-lambda-keras",
        ]
        assert set(six) <= set(written), (env_id, entries)
        assert ("lambda-nested-savedmodel" in written) == (env_id == "tf215")
        for shape_id, entry in written.items():
            result = scan.scan(folder / entry["path"])
            if shape_id.startswith("clean"):
                assert not result.has_code, (env_id, shape_id, result.findings)
            else:
                assert EXPECTED[shape_id] in _places(result), (env_id, shape_id, _places(result))


def _isolation(paths: list[tuple[Path, list]], batches: list[Path]):
    """The bubblewrap sandbox where it works here, else the lighter limits."""
    from compat.environments import sandbox
    from compat.userfiles import engine

    try:
        sandbox.check()
        usable = True
    except Exception:  # noqa: BLE001 - no usable bwrap on this machine: the light isolation
        usable = False
    return engine.isolation_for(usable, [(str(p), w) for p, w in paths], batches)


@pytest.mark.envs
def test_corpus_every_file_whose_code_ran_was_flagged(code_corpus, tmp_path):
    """The dynamic canary: load every corpus file with the worker in both environments; each
    one whose stored code ran in some strategy (at load or at the first call) is flagged."""
    import numpy as np

    from compat import catalog
    from compat.userfiles import engine

    files, batches = [], []
    for env_id, (folder, entries) in code_corpus.items():
        for entry in entries:
            if "skipped" in entry:
                continue
            # the inputs the producer recorded, not the scan's or the engine's reading of the file
            arrays = {
                i["name"]: np.random.RandomState(0)
                .normal(size=[2 if d is None else d for d in i["shape"]])
                .astype(i.get("dtype") or "float32")
                for i in entry["inputs"]
            }
            batch = tmp_path / f"{env_id}-{entry['id']}.npz"
            np.savez(batch, **arrays)
            weights = [entry["weights"]] if entry.get("weights") else []
            files.append((env_id, entry, folder / entry["path"], weights, batch))
            batches.append(batch)
    isolation, label, roots, inside = _isolation([(f[2], f[3]) for f in files], batches)
    models = []
    for (env_id, entry, path, weights, batch), root in zip(files, roots, strict=False):
        # stored_code is set for every file, so safe_mode=False is tried whatever the scan says
        fixture = {
            "id": "scan",
            "variant": "user",
            "format": entry["format"],
            "path": path.name,
            "weights": weights[0] if weights else None,
            "size": "tiny",
            "saved_by_keras": None,
            "facenet": False,
            "custom_classes": [],
            "stored_code": "the canary under test",
        }
        models.append(
            {
                "key": f"{env_id}/{entry['id']}",
                "fixture": fixture,
                "root": root,
                "input": inside(batch),
                "spec": {"inputs": entry["inputs"], "outputs": entry["outputs"]},
            }
        )
    ran: dict[str, list[str]] = {}
    for consumer in CORPUS_ENVS:
        outcome = engine.run_models(
            catalog.get(consumer),
            models,
            timeout=300,
            extra_env={"HOME": str(tmp_path)},
            isolation=isolation,
            log=lambda message: None,
        )
        assert outcome["error"] is None, outcome["error"]
        for key, attempts in outcome["models"].items():
            for attempt in attempts:
                if attempt.get("code_executed") or attempt.get("code_executed_by_predict"):
                    ran.setdefault(key, []).append(f"{consumer}:{attempt['strategy']}")
    flagged = {f"{env_id}/{entry['id']}": scan.scan(path).has_code for env_id, entry, path, _, _ in files}
    missed = {key: where for key, where in ran.items() if not flagged[key]}
    assert not missed, f"stored code ran but the scan found none ({label}): {missed}"
    # the canary is live: code did run somewhere, and never in a clean file
    assert ran and not any(key.split("/")[1].startswith("clean") for key in ran), ran


# -- pre-commit ------------------------------------------------------------------------------


@pytest.mark.envs
def test_pre_commit_hook_runs_in_another_repository(tmp_path):
    """``pre-commit try-repo`` against this work tree, in a throwaway repository holding a model
    with a Lambda and a clean one: the hook fails and names the Lambda's place."""
    pre_commit = shutil.which("pre-commit")
    if pre_commit is None:
        pytest.skip("pre-commit is not installed (pip install pre-commit, or the dev extra)")
    repo = tmp_path / "models-repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    inner = _functional("sub_model", [_lambda_layer()])
    _h5(repo / "coded.h5", _functional("model", [_input(), inner]))
    _h5(repo / "clean.h5", _functional("model", [_input(), _dense()]))
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    done = subprocess.run(
        [pre_commit, "try-repo", str(ROOT), "compat-scan", "--all-files", "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "model/sub_model/lambda" in done.stdout and "clean.h5: no stored code found" in done.stdout
    (repo / "coded.h5").unlink()
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    done = subprocess.run(
        [pre_commit, "try-repo", str(ROOT), "compat-scan", "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
