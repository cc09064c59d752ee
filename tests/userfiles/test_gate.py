"""``compat gate`` (also spelt ``compat regress --models``): finding models, classifying each,
the CI outputs; and real gates."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections import OrderedDict

import numpy as np
import pytest

from compat import cli
from compat.harness import fixtures
from compat.records.change import Change
from compat.userfiles import engine, gate, gatereport

RIGHT = [[1.0, 2.0, 3.0], [0.5, 0.1, 0.2]]
WRONG = [[1.5, 2.0, 3.0], [0.5, 0.1, 0.9]]
OTHER = [[9.0, 2.0, 3.0], [0.5, 7.1, 0.2]]


def ok(strategy, values=RIGHT):
    return {
        "strategy": strategy,
        "status": "ok",
        "outputs": [("output", np.asarray(values, dtype=np.float64))],
        "recipe": f"# {strategy} recipe\nmodel = {strategy}()",
    }


def failed(strategy, kind="ValueError", message="Unknown layer: Lambda", status="error"):
    return {"strategy": strategy, "status": status, "error": {"type": kind, "message": message}}


def skipped(strategy):
    return {"strategy": strategy, "status": "not_applicable", "reason": "does not read this format"}


# -- classification (pure) -------------------------------------------------------------------


def test_same_way_same_numbers_is_unchanged():
    entry = gate.compare_model([ok("load_model"), ok("rebuild_weights")], [ok("load_model"), ok("rebuild_weights")])
    assert entry["change"] == Change.UNCHANGED and not entry["regressed"]
    assert entry["old_best"] == entry["new_best"] == "load_model"


def test_only_another_strategy_is_a_regression_naming_it_with_its_recipe():
    entry = gate.compare_model(
        [ok("load_model"), ok("rebuild_weights")], [failed("load_model"), ok("rebuild_weights")], "tf215", "tf221"
    )
    assert entry["change"] == Change.SWITCH and entry["regressed"]
    assert entry["switch_to"] == {
        "strategy": "rebuild_weights",
        "recipe": "# rebuild_weights recipe\nmodel = rebuild_weights()",
    }
    assert entry["old_best_under_new"]["error"] == "ValueError: Unknown layer: Lambda"
    assert entry["reference"] == "tf215/load_model"


def test_nothing_loading_is_stopped():
    entry = gate.compare_model(
        [ok("load_model"), skipped("h5_transplant")], [failed("load_model", status="crash"), skipped("h5_transplant")]
    )
    assert entry["change"] == Change.STOPPED and entry["regressed"] and entry["switch_to"] is None


def test_the_way_of_today_giving_other_numbers_is_a_regression():
    entry = gate.compare_model(
        [ok("load_model"), ok("rebuild_weights")], [ok("load_model", WRONG), ok("rebuild_weights")]
    )
    assert entry["change"] == Change.NUMBERS and entry["regressed"]
    assert entry["old_best_under_new"]["verdict"] == "mismatch"


def test_another_way_that_matched_now_giving_other_numbers_is_a_regression_too():
    entry = gate.compare_model(
        [ok("load_model"), ok("rebuild_weights")], [ok("load_model"), ok("rebuild_weights", OTHER)]
    )
    assert entry["change"] == Change.NUMBERS and entry["wrong_numbers"] == ["rebuild_weights"]


def test_started_improved_and_still_broken_are_not_regressions():
    started = gate.compare_model(
        [failed("load_model"), failed("rebuild_weights")], [failed("load_model"), ok("rebuild_weights")]
    )
    improved = gate.compare_model(
        [failed("load_model"), ok("rebuild_weights")], [ok("load_model"), ok("rebuild_weights")]
    )
    broken = gate.compare_model([failed("load_model")], [failed("load_model")])
    assert (started["change"], improved["change"], broken["change"]) == (
        Change.STARTED,
        Change.IMPROVED,
        Change.STILL_BROKEN,
    )
    assert not any(e["regressed"] for e in (started, improved, broken))


def test_judging_leaves_the_measurements_alone():
    old, new = [ok("load_model")], [ok("load_model")]
    gate.compare_model(old, new)
    assert "verdict" not in old[0] and "verdict" not in new[0]


# -- the document and its renderings (pure) ------------------------------------------------------


def _outcome(env_id, models, spec=None):
    return {
        "id": env_id,
        "summary": "",
        "python": "3.11",
        "spec": spec,
        "lock_digest": "0123456789abcdef",
        "lock": {"tensorflow-cpu": "2.16.2", "keras": "3.5.0"},
        "runtime": {"python": "3.11.7", "tensorflow": "2.16.2", "keras": "3.5.0"},
        "seconds": 10.0,
        "workers": 1,
        "tensorflow_imports": 1,
        "error": None,
        "models": models,
        "model_seconds": {key: 1.5 for key in models},
    }


SAFE_MODE = (
    "Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. "
    "This carries a potential risk of arbitrary code execution"
)


def _document():
    from compat.userfiles.diagnose import Diagnosis

    found = [
        (
            name,
            engine.ModelFile(
                Diagnosis(path=name, ok=True, kind="h5", format="h5", message="a whole Keras model"), False, None
            ),
        )
        for name in ("models/a.h5", "models/b<1>.h5", "models/c.h5", "models/d.h5")
    ]
    broken = Diagnosis(
        path="models/x.h5", ok=False, kind="html", message="an HTML web page, not a model", advice="download it again"
    )
    old = _outcome(
        "tf215",
        {
            "models/a.h5": [ok("load_model"), ok("rebuild_weights")],
            "models/b<1>.h5": [ok("load_model"), ok("rebuild_weights")],
            "models/c.h5": [ok("load_model", WRONG)],
            "models/d.h5": [ok("load_model"), ok("rebuild_weights")],
        },
    )
    new = _outcome(
        "adhoc-0123456789abcdef",
        {
            "models/a.h5": [ok("load_model"), ok("rebuild_weights")],
            "models/b<1>.h5": [failed("load_model", message="can't <load> & | pipe"), ok("rebuild_weights")],
            "models/c.h5": [ok("load_model", WRONG)],
            "models/d.h5": [failed("load_model", message=SAFE_MODE), ok("rebuild_weights")],
        },
        spec="py3.11:tensorflow-cpu==2.16.2,keras==3.5.0",
    )
    inputs = {name: engine.Batch(OrderedDict(), "seeded batch [3, 160, 160, 3]", {}) for name, _ in found}
    return gate.build_document(old, new, found, [("models/x.h5", broken)], inputs, 42.0)


def test_document_counts_and_exit_status():
    document = _document()
    assert document["regressed"] == ["models/b<1>.h5", "models/d.h5"] and document["exit_status"] == 1
    assert document["counts"][Change.SWITCH] == 2 and document["counts"][Change.UNCHANGED] == 2
    assert document["diagnosed"] == [
        {
            "path": "models/x.h5",
            "kind": "html",
            "diagnosis": "an HTML web page, not a model; download it again",
            "line": "models/x.h5: an HTML web page, not a model; download it again",
        }
    ]
    assert document["to"]["spec"] == "py3.11:tensorflow-cpu==2.16.2,keras==3.5.0"
    assert document["timing"]["tensorflow_imports"] == 2 and document["timing"]["loads"] == 14
    assert json.loads(json.dumps(document)) == document  # no arrays left in it


def test_junit_has_one_case_per_model_and_the_regression_as_failure():
    root = ET.fromstring(gatereport.junit(_document()))
    suite = root.find("testsuite")
    assert suite.get("tests") == "5" and suite.get("failures") == "2" and suite.get("skipped") == "1"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["models/a.h5", "models/b<1>.h5", "models/c.h5", "models/d.h5", "models/x.h5"]
    failure = cases["models/b<1>.h5"].find("failure")
    assert failure.get("type") == "switch_strategy"
    assert failure.get("message") == (
        "load_model under tf215 -> rebuild_weights under adhoc-0123456789abcdef: ValueError: can't <load> & | pipe"
    )
    assert "model = rebuild_weights()" in failure.text
    assert cases["models/a.h5"].find("failure") is None
    # A known cause is named by its family; the raw message and what to do are in the body.
    family = cases["models/d.h5"].find("failure")
    assert family.get("message") == (
        "load_model under tf215 -> rebuild_weights under adhoc-0123456789abcdef: "
        "ValueError: Lambda refused by safe_mode"
    )
    assert f"load_model under adhoc-0123456789abcdef: ValueError: {SAFE_MODE}" in family.text
    assert "what to do: if you trust the file, load_model(path, safe_mode=False)" in family.text
    assert cases["models/x.h5"].find("skipped").get("message").startswith("models/x.h5: an HTML web page")
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["to"] == (
        "adhoc-0123456789abcdef = py3.11:tensorflow-cpu==2.16.2,keras==3.5.0 (Python 3.11.7, TF 2.16.2, Keras 3.5.0)"
    )


def test_markdown_summary_for_a_pull_request():
    text = gatereport.markdown(_document())
    assert text.startswith("### compat regress tf215 → adhoc-0123456789abcdef: 2 of 4 models regressed")
    assert (
        "| `models/b<1>.h5` | load_model | rebuild_weights | **regressed**: loads only with another strategy |" in text
    )
    assert "| `models/a.h5` | load_model | load_model | still loads the way it does today |" in text
    assert "can't &lt;load&gt; &amp; | pipe" in text  # inside <summary>, HTML-escaped
    assert "```python\n# rebuild_weights recipe\nmodel = rebuild_weights()\n```" in text
    assert "- `models/x.h5`: an HTML web page, not a model; download it again" in text


def test_text_marks_each_model():
    text = gatereport.text(_document())
    assert "REGRESSED models/b<1>.h5" in text and "ok        models/a.h5" in text
    assert "SKIPPED   models/x.h5: an HTML web page" in text


def _nowhere_document():
    """A model that loads under neither side (its errors styled as Keras 3 prints them) beside one
    that loads under both."""
    from compat.userfiles.diagnose import Diagnosis

    found = [
        (name, engine.ModelFile(Diagnosis(path=name, ok=True, kind="h5", format="h5", message="a model"), False, None))
        for name in ("models/ok.h5", "models/custom.h5")
    ]
    styled = "\x1b[1mUnknown layer: 'Scale'\x1b[0m. Please ensure you are using a custom_object_scope"
    old = _outcome(
        "tf215",
        {
            "models/ok.h5": [ok("load_model")],
            "models/custom.h5": [failed("load_model", message=styled), skipped("h5_transplant")],
        },
    )
    new = _outcome(
        "tf221",
        {
            "models/ok.h5": [ok("load_model")],
            "models/custom.h5": [
                skipped("load_model"),
                failed("no_compile", message="Could not locate class 'Scale'"),
                failed("tf_keras", message=styled),
            ],
        },
    )
    inputs = {name: engine.Batch(OrderedDict(), "seeded batch [3, 6]", {}) for name, _ in found}
    return gate.build_document(old, new, found, [], inputs, 3.0)


def test_a_model_that_loads_nowhere_is_skipped_with_the_first_error_under_each():
    document = _nowhere_document()
    entry = next(e for e in document["models"] if e["path"] == "models/custom.h5")
    assert entry["skipped"] == (
        "loads under neither tf215 nor tf221: "
        "tf215: load_model: ValueError: Unknown layer: 'Scale'. Please ensure you are using a custom_object_scope; "
        "tf221: no_compile: ValueError: Could not locate class 'Scale'"
    )
    assert not entry["regressed"] and document["exit_status"] == 0
    suite = ET.fromstring(gatereport.junit(document)).find("testsuite")
    assert suite.get("skipped") == "1" and suite.get("failures") == "0"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert cases["models/custom.h5"].find("skipped").get("message") == entry["skipped"]
    assert cases["models/ok.h5"].find("skipped") is None
    text = gatereport.text(document)
    assert "SKIPPED   models/custom.h5  loads under neither tf215 nor tf221: tf215: load_model" in text
    assert "| `models/custom.h5` | nothing | nothing | skipped: loads under neither" in gatereport.markdown(document)


def test_no_control_code_reaches_any_gate_output():
    document = _nowhere_document()
    for rendering in (gatereport.text, gatereport.junit, gatereport.markdown):
        assert "\x1b" not in rendering(document), rendering.__name__


def test_a_wrapped_keras_error_keeps_its_real_cause_in_the_gate():
    wrapped = "Error when deserializing class 'LSTM' using config={'name': 'lstm', 'units': 4, 'time_major"
    new = failed("load_model", kind="TypeError", message=wrapped)
    new["error"]["traceback"] = "TypeError: ...\n\nException encountered: Unrecognized keyword arguments passed to "
    new["error"]["traceback"] += "LSTM: {'time_major': False}\n"
    entry = gate.compare_model([ok("load_model"), ok("tf_keras")], [new, ok("tf_keras")], "tf215", "tf221")
    assert entry["old_best_under_new"]["error"].endswith("passed to LSTM: {'time_major': False}")


# -- finding the models (no TensorFlow) ------------------------------------------------------


def _model_folder(tmp_path):
    source = fixtures.unpacked("tf215")
    folder = tmp_path / "models"
    (folder / "nested").mkdir(parents=True)
    (folder / ".git").mkdir()
    for name in ("builtin.h5", "lambda.json", "lambda_weights.h5"):
        shutil.copy(source / name, folder / name)
    shutil.copy(source / "custom.keras", folder / "nested" / "custom.keras")
    shutil.copy(source / "builtin.h5", folder / ".git" / "hidden.h5")
    shutil.copy(source / "lambda.weights.h5", folder / "only.weights.h5")
    shutil.copytree(source / "builtin_savedmodel", folder / "exported")
    (folder / "settings.json").write_text('{"threshold": 0.5}')
    (folder / "notes.txt").write_text("not a model")
    (folder / "broken.h5").write_text("<html><head><title>Sign in</title></head></html>")
    return folder


def test_a_folder_is_searched_for_models(tmp_path):
    folder = _model_folder(tmp_path)
    models, diagnosed = gate.find_models([str(folder)])
    found = {shown[len(str(folder)) + 1 :]: d.format for shown, d in models}
    assert found == {
        "builtin.h5": "h5",
        "lambda.json": "json",
        "exported": "savedmodel",
        "nested/custom.keras": "keras",
    }
    assert {shown[len(str(folder)) + 1 :]: d.kind for shown, d in diagnosed} == {
        "broken.h5": "html",
        "only.weights.h5": "weights_only",
    }
    exported = dict(models)[str(folder / "exported")]
    assert exported.input_shape == (160, 160, 3)  # read from keras_metadata.pb


def test_a_path_given_twice_is_one_model_and_a_named_file_is_always_diagnosed(tmp_path):
    folder = _model_folder(tmp_path)
    models, diagnosed = gate.find_models([str(folder / "builtin.h5"), str(folder), str(folder / "settings.json")])
    assert [shown for shown, _ in models].count(str(folder / "builtin.h5")) == 1
    assert str(folder / "settings.json") in [shown for shown, _ in diagnosed]


# -- bad input: exit 2, one line, before any environment starts ---------------------------------


def _args(models, **options):
    """``compat regress`` arguments as its own parser reads them (tf215 -> tf221 by default)."""
    options = {
        "from": "tf215",
        "to": "tf221",
        **{({"old": "from", "new": "to"}).get(k, k): v for k, v in options.items()},
    }
    argv = ["regress"] + (["--models", *models] if models else [])
    for name, value in options.items():
        flag = "--" + {"json_out": "json"}.get(name, name).replace("_", "-")
        argv += [flag] if value is True else [] if value is False or value is None else [flag, str(value)]
    return cli.build_parser().parse_args(argv)


def _run(args) -> int:
    """The command the arguments were parsed for, run as ``compat`` runs it (an error is one line)."""
    return cli.invoke(args.func, args)


def test_no_loadable_model_is_exit_2(tmp_path, capsys):
    (tmp_path / "broken.h5").write_text("<html><title>Quota exceeded</title></html>")
    assert _run(_args([str(tmp_path)])) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"compat: error: no loadable model in {tmp_path} ({tmp_path}/broken.h5: an HTML")


def test_a_batch_that_fits_no_model_is_exit_2(tmp_path, capsys):
    shutil.copy(fixtures.unpacked("tf215") / "builtin.h5", tmp_path / "builtin.h5")
    np.save(tmp_path / "batch.npy", np.zeros((2, 64, 64, 3), dtype=np.float32))
    assert _run(_args([str(tmp_path)], input=str(tmp_path / "batch.npy"))) == 2
    err = capsys.readouterr().err
    assert "does not fit" in err and "input_1 has shape 64,64,3 per sample, but the model takes 160,160,3" in err


@pytest.mark.parametrize(
    "options, message",
    [
        ({"timeout": 0}, "--timeout must be a positive number"),
        ({"new": "tf999"}, "unknown environment 'tf999'"),
        ({"new": "keras212x"}, "unknown environment"),
    ],
)
def test_bad_options_with_models_are_exit_2(tmp_path, capsys, options, message):
    shutil.copy(fixtures.unpacked("tf215") / "builtin.h5", tmp_path / "builtin.h5")
    assert _run(_args([str(tmp_path)], **options)) == 2
    assert message in capsys.readouterr().err


def test_models_of_a_gate_are_each_in_their_own_folder_in_the_sandbox(tmp_path, monkeypatch):
    from compat.environments import sandbox

    # Only the mapping of paths is checked: no sandbox starts, so bubblewrap need not be usable.
    monkeypatch.setattr(sandbox, "check", lambda: "/usr/bin/bwrap")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for path in (
        tmp_path / "a" / "model.h5",
        tmp_path / "b" / "model.json",
        tmp_path / "b" / "model_weights.h5",
        tmp_path / "input-0.npy",
    ):
        path.write_bytes(b"x")
    box, label, roots, inside = engine.isolation_for(
        True,
        [(tmp_path / "a" / "model.h5", [None]), (tmp_path / "b" / "model.json", ["model_weights.h5"])],
        [tmp_path / "input-0.npy"],
    )
    assert label == sandbox.ISOLATION and roots == ["/input/0", "/input/1"]
    assert sorted(box.read_only.values()) == [
        "/data/input-0.npy",
        "/input/0/model.h5",
        "/input/1/model.json",
        "/input/1/model_weights.h5",
    ]
    assert inside(tmp_path / "input-0.npy") == "/data/input-0.npy"
    _, label, roots, inside = engine.isolation_for(False, [(tmp_path / "a" / "model.h5", [None])], [])
    assert label == sandbox.NO_SANDBOX and roots == [str(tmp_path / "a")] and inside("x") == "x"


@pytest.mark.parametrize(
    "argv, refused",
    [
        # the regression's options over the project's fixtures are not the gate's
        (["--models", "models/", "--producers", "keras212"], "--producers keras212"),
        (["--models", "models/", "--baseline", "reports/matrix.json"], "--baseline reports/matrix.json"),
        # and the gate's CI outputs and sandbox go only with --models
        (["--junit-xml", "out.xml"], "--junit-xml out.xml"),
        (["--no-sandbox"], "--no-sandbox"),
    ],
)
def test_the_gate_and_the_regression_each_take_only_their_own_options(capsys, argv, refused):
    assert cli.main(["regress", "--from", "tf215", "--to", "tf221", *argv]) == 2
    assert capsys.readouterr().err == (
        f"compat: error: unrecognized arguments: {refused} (see `compat regress --help`)\n"
    )


# -- real environments -----------------------------------------------------------------------

TF215_MODELS = ("builtin.h5", "custom.h5", "lambda.h5", "builtin_savedmodel", "builtin.keras")
NOWHERE = "unknown_class.h5"


def _tf215_folder(folder):
    """The models a team on TF 2.15 holds, saved by tf215, and one file that is not a model."""
    source = fixtures.unpacked("tf215")
    folder.mkdir()
    for name in TF215_MODELS:
        (shutil.copytree if (source / name).is_dir() else shutil.copy)(source / name, folder / name)
    (folder / "broken.h5").write_text(
        "<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body></body></html>"
    )
    return folder


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory):
    """One real gate tf215 -> tf221 over the folder; the tests below read its outputs."""
    import contextlib
    import io

    from test_probe import unknown_class_model

    root = tmp_path_factory.mktemp("gate")
    folder = _tf215_folder(root / "models")
    unknown_class_model(folder)  # loads under neither stack without its class's code: skipped
    outputs = {"json_out": root / "gate.json", "junit_xml": root / "junit.xml", "markdown": root / "pr.md"}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = _run(_args([str(folder)], new="tf221", **{k: str(v) for k, v in outputs.items()}))
    return {
        "status": status,
        "folder": folder,
        "out": out.getvalue(),
        "err": err.getvalue(),
        "document": json.loads(outputs["json_out"].read_text()),
        "junit": ET.parse(outputs["junit_xml"]).getroot(),
        "markdown": outputs["markdown"].read_text(),
    }


@pytest.mark.envs
def test_upgrade_gate_exits_1_and_names_the_switches(upgrade):
    assert upgrade["status"] == 1
    entries = {e["path"].rsplit("/", 1)[1]: e for e in upgrade["document"]["models"]}
    assert set(entries) == set(TF215_MODELS) | {NOWHERE}
    # Keras 3 refuses the Lambda's bytecode (and Python 3.13 could not run 3.11's anyway): the weights route.
    assert entries["lambda.h5"]["change"] == Change.SWITCH and entries["lambda.h5"]["old_best"] == "load_model"
    assert entries["lambda.h5"]["switch_to"]["strategy"] == "rebuild_weights"
    # Keras 3's load_model reads no SavedModel: its serving signature does, natively (TFSMLayer),
    # which is advised before the frozen Keras 2 package that also still reads it.
    assert entries["builtin_savedmodel"]["change"] == Change.SWITCH
    assert entries["builtin_savedmodel"]["switch_to"]["strategy"] == "savedmodel_inference"
    assert entries["builtin.h5"]["change"] == Change.UNCHANGED
    assert entries["custom.h5"]["change"] == Change.UNCHANGED and entries["custom.h5"]["old_best"] == "custom_objects"
    timing = upgrade["document"]["timing"]
    assert timing["tensorflow_imports"] == 2  # one worker per environment for all five models
    assert upgrade["document"]["to"]["runtime"]["keras"].startswith("3.")
    assert upgrade["document"]["isolation"] == "bubblewrap"


@pytest.mark.envs
def test_upgrade_gate_time(upgrade, capsys):
    import os

    timing = upgrade["document"]["timing"]
    with capsys.disabled():
        print(
            f"\n[timing] gate tf215 -> tf221 over the test folder ({len(TF215_MODELS) + 1} models, 1 broken file): "
            f"{timing['seconds']}s, {timing['loads']} loads, {timing['tensorflow_imports']} TensorFlow imports "
            f"({', '.join(f'{k} {v}s' for k, v in timing['environments'].items())}); "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    # The total and each environment's time are rounded to 0.1 s apiece, so the sum of the parts
    # may exceed the total by up to half a step per rounded figure.
    parts = timing["environments"].values()
    assert timing["seconds"] >= sum(parts) - 0.05 * (len(parts) + 1) - 1e-9


@pytest.mark.envs
def test_upgrade_gate_junit_lists_every_model(upgrade):
    suite = upgrade["junit"].find("testsuite")
    cases = {case.get("name").rsplit("/", 1)[1]: case for case in suite.findall("testcase")}
    assert set(cases) == set(TF215_MODELS) | {"broken.h5", NOWHERE}
    lambda_failure = cases["lambda.h5"].find("failure")
    assert lambda_failure.get("message").startswith("load_model under tf215 -> rebuild_weights under tf221: ")
    assert "Lambda" in lambda_failure.get("message")  # the error that stopped load_model
    assert (
        cases["builtin_savedmodel"]
        .find("failure")
        .get("message")
        .startswith("load_model under tf215 -> savedmodel_inference under tf221: ")
    )
    assert cases["builtin.h5"].find("failure") is None
    assert "HTML web page" in cases["broken.h5"].find("skipped").get("message")
    assert int(suite.get("failures")) == len(upgrade["document"]["regressed"]) >= 2


@pytest.mark.envs
def test_upgrade_gate_skips_a_model_that_loads_under_neither_stack(upgrade):
    entry = next(e for e in upgrade["document"]["models"] if e["path"].endswith(NOWHERE))
    tried = [a for side in ("from", "to") for a in entry["attempts"][side]]
    assert not any(a["verdict"] in ("pass", "mismatch") for a in tried)
    assert not entry["regressed"] and entry["change"] == Change.STILL_BROKEN
    assert entry["skipped"].startswith("loads under neither tf215 nor tf221: tf215: load_model: ValueError: Unknown")
    assert "; tf221: load_model: ValueError: Unknown layer: 'Scale'" in entry["skipped"]
    suite = upgrade["junit"].find("testsuite")
    case = next(c for c in suite.findall("testcase") if c.get("name").endswith(NOWHERE))
    assert case.find("skipped").get("message") == entry["skipped"] and case.find("failure") is None
    assert int(suite.get("skipped")) == 2  # the HTML page and this model
    assert f"SKIPPED   {entry['path']}" in upgrade["out"]


@pytest.mark.envs
def test_upgrade_gate_diagnoses_the_broken_file_in_one_line(upgrade):
    [item] = upgrade["document"]["diagnosed"]
    assert item["kind"] == "html"
    printed = [line for line in upgrade["out"].splitlines() if "broken.h5" in line]
    assert printed == [f"SKIPPED   {item['line']}"]
    assert "Quota exceeded" in item["line"]
    assert "**regressed**: loads only with another strategy" in upgrade["markdown"]


@pytest.mark.envs
def test_no_upgrade_exits_0(tmp_path, capsys):
    folder = _tf215_folder(tmp_path / "models")
    out = tmp_path / "gate.json"
    assert _run(_args([str(folder)], new="tf215", json_out=str(out))) == 0
    document = json.loads(out.read_text())
    assert document["same_environment"] and not document["regressed"]
    assert {e["change"] for e in document["models"]} == {Change.UNCHANGED}
    assert document["timing"]["tensorflow_imports"] == 1
    assert len(document["diagnosed"]) == 1


ADHOC = "py3.11:tensorflow-cpu==2.16.2,keras==3.5.0"  # not a catalog stack: tf216 has Keras 3.3 and tf-keras


@pytest.mark.envs
@pytest.mark.network
def test_an_ad_hoc_stack_as_the_target(tmp_path, capsys):
    from compat.environments import adhoc, envs

    source = fixtures.unpacked("tf215")
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copytree(source / "builtin_savedmodel", folder / "exported")
    out, junit = tmp_path / "gate.json", tmp_path / "junit.xml"
    status = _run(_args([str(folder)], new=ADHOC, json_out=str(out), junit_xml=str(junit)))
    document = json.loads(out.read_text())
    target = document["to"]
    env = adhoc.environment(ADHOC)
    assert target["id"] == env.id and target["spec"] == ADHOC and envs.is_built(env)
    assert target["lock"]["tensorflow-cpu"] == "2.16.2" and target["lock"]["keras"] == "3.5.0"
    assert target["runtime"]["tensorflow"] == "2.16.2" and target["runtime"]["keras"] == "3.5.0"
    [entry] = document["models"]
    # Keras 3's load_model reads no SavedModel, and this stack has no tf-keras to fall back on:
    # serving the SavedModel's signature (TFSMLayer) is what still gives tf215's numbers.
    assert status == 1 and entry["change"] == Change.SWITCH
    tried = {a["strategy"]: a for a in entry["attempts"]["to"]}
    assert tried["tf_keras"]["verdict"] == "not_applicable" and "not installed" in tried["tf_keras"]["reason"]
    assert entry["switch_to"]["strategy"] == "savedmodel_inference"
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties["to"].startswith(f"{env.id} = {ADHOC} (Python 3.11")
    assert f"to   {env.id} = {ADHOC}" in capsys.readouterr().out
