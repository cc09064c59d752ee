"""Recipes a user can run: the architecture file, whole-program recipes, and recipe truth.

The unit tests render every strategy's recipe on the host (plain string work) and check the
grouping the check does; the ``envs`` tests load a slice of fixtures in real consumers and
run each distinct recipe that passed there as a standalone script.
"""

from __future__ import annotations

import ast
import base64
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compat import catalog, cli
from compat.environments import envs, standalone
from compat.harness import recipes
from compat.inside import facenet, facenet_arch, kerasapi, savers, strategies

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "results"
ALLOWED_IMPORTS = {
    "os",
    "re",
    "shutil",
    "tempfile",
    "zipfile",
    "numpy",
    "h5py",
    "keras",
    "tensorflow",
    "tf_keras",
    "importlib",
}


# -- the architecture file ----------------------------------------------------------------
def test_the_architecture_file_imports_nothing_of_this_project():
    tree = ast.parse(standalone.ARCHITECTURE.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import needs the package around it"
            found.add(node.module.split(".")[0])
    assert found <= ALLOWED_IMPORTS, found - ALLOWED_IMPORTS


def test_the_harness_builds_with_the_architecture_file_itself():
    assert facenet.custom_objects is facenet_arch.custom_objects
    assert facenet.prewhiten_batch is facenet_arch.prewhiten_batch
    assert kerasapi.keras is facenet_arch.keras and kerasapi.set_values is facenet_arch.set_values
    # the committed canarymodule files name this function by module: it must stay there
    assert facenet.canary_imported.__module__ == "compat.inside.facenet"


def test_cli_writes_the_architecture_file(tmp_path, capsys):
    assert cli.main(["architecture", "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "facenet_arch.py").read_bytes() == standalone.ARCHITECTURE.read_bytes()
    (tmp_path / "file").write_text("x")
    assert cli.main(["architecture", "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_the_page_embeds_the_architecture_file_as_a_download(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["report", "--results", str(DATA), "--out", str(out)]) == 0
    html = (out / "matrix.html").read_text()
    [href] = re.findall(r'<a id="architecture" download="facenet_arch.py" href="([^"]+)"', html)
    prefix = "data:text/x-python;charset=utf-8;base64,"
    assert href.startswith(prefix)
    assert base64.b64decode(href[len(prefix) :]) == standalone.ARCHITECTURE.read_bytes()


# -- rendered recipes ---------------------------------------------------------------------
class _Ctx(strategies.Context):
    """An environment described, not imported: rendering a recipe is string work."""

    def __init__(self, api, keras, tf=None, env_vars=()):
        self.api, self.version, self.tf_version, self.env_vars = api, keras, tf, list(env_vars)
        self.keras_minor = tuple(int(p.split("-")[0]) for p in keras.split(".")[:2])
        self.keras3 = self.keras_minor[0] >= 3
        self.tf2 = bool(tf) and int(tf.split(".")[0]) >= 2


CONTEXTS = {
    "keras212": _Ctx("keras", "2.1.2", "1.3.0"),
    "tf115": _Ctx("tf.keras", "2.2.4-tf", "1.15.5"),
    "tf215": _Ctx("tf.keras", "2.15.0", "2.15.1"),
    "tf216": _Ctx("keras", "3.3.3", "2.16.2"),
    "tf221": _Ctx("keras", "3.15.1", "2.21.0"),
    "tfkeras221": _Ctx("tf_keras", "2.21.0", "2.21.0", [("TF_USE_LEGACY_KERAS", "1")]),
    "keras315jax": _Ctx("keras", "3.15.1", None, [("KERAS_BACKEND", "jax")]),
}


def _fixture(variant, fmt, saved_by="2.15.0"):
    path = {
        "json": f"{variant}.json",
        "savedmodel": f"{variant}_savedmodel",
        "export": f"{variant}_export",
        "keras": f"{variant}.keras",
        "weights_h5": f"{variant}.weights.h5",
        "h5_weights": f"{variant}_weights.h5",
        "frozen_pb": f"{variant}.pb",
        "tf1_checkpoint": f"{variant}_checkpoint/model-{variant}.meta",
    }.get(fmt, f"{variant}.h5")
    fixture = {
        "id": f"{variant}-{fmt}",
        "variant": variant,
        "format": fmt,
        "path": path,
        "size": "tiny",
        "weights": f"{variant}_weights.h5" if fmt == "json" else None,
        "saved_by_keras": saved_by,
    }
    if fmt in savers.TF1_FORMATS:
        # A TF 1 graph's manifest entry names the tensors to feed and fetch, and the checkpoint's prefix.
        fixture["tensors"] = dict(savers.TF1_TENSORS)
        if fmt == "tf1_checkpoint":
            fixture["checkpoint"] = f"{variant}_checkpoint/model-{variant}.ckpt-0"
    return fixture


def _every_recipe():
    for env, ctx in CONTEXTS.items():
        for strategy in strategies.STRATEGIES:
            for variant in ("builtin", "lambda", "custom", "compiled", "canary", "canarymodule"):
                for fmt in strategy.formats:
                    yield env, strategy, _fixture(variant, fmt), strategy.render_recipe(ctx, _fixture(variant, fmt))


def test_every_recipe_is_a_whole_program_that_needs_nothing_of_this_project():
    for env, strategy, fixture, text in _every_recipe():
        where = f"{env} {strategy.name} {fixture['id']}"
        compile(text, where, "exec")
        assert not re.search(r"^\s*(from|import) compat\b", text, re.MULTILINE), where
        assert len(re.findall(r"^MODEL_PATH = ", text, re.MULTILINE)) == 1, where
        assert text.rstrip().endswith("np.save(sys.argv[2], np.asarray(embeddings))"), where
        assert "np.load(sys.argv[1])" in text and "prewhiten" in text, where
        uses_arch = "facenet_arch." in text.split('"""', 2)[2]
        assert uses_arch == ("\nimport facenet_arch  # the architecture file" in text), where
        if uses_arch:
            assert "compat architecture -o ." in text and "sys.path.insert(0, " in text, where
        if "facenet_arch.build(" in text:
            assert 'size="full" for the real 22.8M-parameter facenet_keras.h5' in text, where


def test_a_cell_sets_its_environment_before_keras_is_imported():
    for env, strategy, _fixture, text in _every_recipe():
        for name, value in CONTEXTS[env].env_vars:
            line = f'os.environ["{name}"] = "{value}"'
            assert line in text, (env, strategy.name)
            first_import = re.search(r"^(import (keras|tensorflow|tf_keras)|from tensorflow)", text, re.MULTILINE)
            assert text.index(line) < first_import.start(), (env, strategy.name)


def test_the_recipe_says_when_loading_runs_code_stored_in_the_file():
    ctx = CONTEXTS["tf215"]
    note = "code stored in the file"

    def render(name, fixture):
        return strategies.BY_NAME[name].render_recipe(ctx, fixture)

    assert note in render("load_model", _fixture("lambda", "h5", "2.1.2"))
    assert note in render("unsafe", _fixture("compiled", "h5"))
    assert note in render("json_plain", _fixture("canary", "json"))
    assert note not in render("load_model", _fixture("builtin", "h5"))
    assert note not in render("custom_objects", _fixture("custom", "h5"))
    assert note not in render("rebuild_weights", _fixture("lambda", "h5", "2.1.2"))
    assert note not in render("savedmodel_inference", _fixture("lambda", "savedmodel"))
    # Keras 3 stores a Lambda's function by name; the recipe hands it over
    assert note not in strategies.BY_NAME["custom_objects"].render_recipe(
        CONTEXTS["tf221"], _fixture("lambda", "keras", "3.15.1")
    )
    assert "names its function by module" in render("load_model", _fixture("canarymodule", "keras", "3.5.0"))


def test_outputs_are_named_by_what_the_model_returns():
    fixture = dict(
        _fixture("builtin", "h5"),
        outputs="outputs",
        input_note="INPUT.npy: your batch, as it is.",
        output_note="OUTPUT.npy: what the model returns.",
    )
    text = strategies.BY_NAME["load_model"].render_recipe(CONTEXTS["tf221"], fixture)
    assert "outputs = model.predict(images, verbose=0)" in text and "embeddings" not in text
    assert "your batch, as it is" in text


# -- grouping -----------------------------------------------------------------------------
def _attempt(text, consumer="tf215", fixture="lambda-h5", verdict="pass", strategy="load_model"):
    variant, fmt = fixture.split("-", 1)
    return {
        "consumer": consumer,
        "producer": "tf215",
        "fixture": fixture,
        "variant": variant,
        "format": fmt,
        "strategy": strategy,
        "verdict": verdict,
        "recipe": text,
    }


def test_recipes_differing_only_in_their_paths_are_one():
    one = 'import keras\n\nMODEL_PATH = "lambda.h5"\nmodel = keras.models.load_model(MODEL_PATH)'
    other = one.replace("lambda.h5", "builtin.h5")
    runnable, apart = recipes.distinct(
        [_attempt(one), _attempt(other, fixture="builtin-h5"), _attempt(one + "\n# x", verdict="error")]
    )
    assert [(r.fixture, r.attempts) for r in runnable] == [("lambda-h5", 2)] and apart == []
    assert recipes.normalized(one) == recipes.normalized(other)


def test_a_recipe_runs_for_a_file_that_needs_nothing_of_this_project():
    text = 'MODEL_PATH = "x.keras"'
    runnable, apart = recipes.distinct(
        [_attempt(text, fixture="canarymodule-keras"), _attempt(text, fixture="lambda-keras")]
    )
    assert [r.fixture for r in runnable] == ["lambda-keras"] and apart == []
    runnable, apart = recipes.distinct([_attempt(text + "\n# module", fixture="canarymodule-keras")])
    assert runnable == [] and [r.fixture for r in apart] == ["canarymodule-keras"]


def test_only_the_path_lines_change_when_run_standalone(tmp_path):
    text = strategies.BY_NAME["json_weights"].render_recipe(CONTEXTS["tf221"], _fixture("lambda", "json"))
    script = standalone.standalone_script(text, tmp_path)
    changed = [(a, b) for a, b in zip(text.splitlines(), script.splitlines(), strict=False) if a != b]
    assert changed == [
        ('MODEL_PATH = "lambda.json"', f'MODEL_PATH = "{tmp_path}/lambda.json"'),
        ('WEIGHTS_PATH = "lambda_weights.h5"', f'WEIGHTS_PATH = "{tmp_path}/lambda_weights.h5"'),
    ]


def test_bad_sources_get_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "other.json").write_text('{"schema": "something/1"}')
    for path in (tmp_path / "missing.json", tmp_path / "other.json"):
        assert cli.main(["recipes", str(path)]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_counting_the_recipes_of_results_files(capsys):
    assert cli.main(["recipes", *map(str, sorted(DATA.glob("*.json")))]) == 0
    assert re.search(r"\[recipes\] \d+ distinct recipes over \d+ passing attempts", capsys.readouterr().out)


# -- real environments ------------------------------------------------------------------------
# Runs of a few fixtures on which every strategy that applies in the consumer passes at
# least once (builtin files need no custom object; lambda files carry the stored-code
# comment). A SavedModel is loaded only by the strategies nothing else covers: Keras 2
# takes 9-11 s to revive one.
SLICE = [
    ("keras212", ["keras212"], "lambda-h5,lambda-json", None),
    ("tf215", ["tf215"], "builtin-h5,builtin-json", None),
    ("tf215", ["tf215"], "builtin-savedmodel", "savedmodel_inference"),
    ("tf221", ["tf221"], "builtin-h5,builtin-json", None),
    ("tf221", ["tf215"], "builtin-h5,builtin-savedmodel", "tf_keras,savedmodel_inference,savedmodel_signature"),
    ("keras315jax", ["keras315jax"], "builtin-h5,builtin-json", None),
    ("tf221", ["tf115"], "tf1graph-frozen_pb,tf1graph-tf1_checkpoint", "tf1_graph"),
]


def _load(number: int, folder: Path) -> Path:
    consumer, producers, fixture_ids, strategy_names = SLICE[number]
    output = folder / f"{number}-{consumer}.json"
    command = [
        sys.executable,
        "-m",
        "compat",
        "load",
        consumer,
        *producers,
        "--fixtures",
        fixture_ids,
        "--output",
        str(output),
        "--quiet",
        "--rerun",
    ]  # measured now, never taken from matrix.json
    if strategy_names:
        command += ["--strategies", strategy_names]
    # The check's JAX compilation cache, shared with the workers: it changes no number.
    variables = dict(os.environ, **standalone.jax_cache_variables())
    done = subprocess.run(command, check=False, cwd=str(ROOT), env=variables, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return output


@pytest.mark.envs
def test_every_distinct_recipe_of_a_slice_runs_standalone(tmp_path, capsys):
    started = time.time()
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(pool.map(lambda number: _load(number, tmp_path), range(len(SLICE))))
    loaded = time.time() - started
    attempts = recipes.read_attempts(outputs)
    runnable, apart = recipes.distinct(attempts)
    assert apart == []
    assert {r.consumer for r in runnable} == {run[0] for run in SLICE}
    assert {r.strategy for r in runnable} == {s.name for s in strategies.STRATEGIES}
    started = time.time()
    outcomes = recipes.check(runnable, jobs=2)
    failed = [f"{o.recipe.label}: {o.detail}" for o in outcomes if not o.passed]
    assert failed == []
    with capsys.disabled():
        print(
            f"\n[timing] slice loads {loaded:.0f}s; {len(outcomes)} of {len(outcomes)} distinct recipes "
            f"ran standalone and reproduced the reference in {time.time() - started:.0f}s"
        )


@pytest.mark.envs
@pytest.mark.parametrize("env_id", ["keras212", "tf115", "tf215", "tfkeras221", "keras315jax"])
def test_left_to_itself_the_architecture_file_finds_the_catalogs_keras(env_id, tmp_path):
    env = catalog.get(env_id)
    (tmp_path / "facenet_arch.py").write_bytes(standalone.ARCHITECTURE.read_bytes())
    probe = (
        f"import os, sys\n"
        f"for name, value in {list(env.env_vars)!r}: os.environ[name] = value\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        f"import facenet_arch\n"
        f"model = facenet_arch.build('custom', size='tiny')\n"
        f"print(facenet_arch.api_name(), model.count_params())\n"
    )
    done = subprocess.run(
        [str(envs.ensure_built(env)), "-I", "-c", probe],
        check=False,
        cwd=str(tmp_path),
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    api, parameters = done.stdout.split()[-2:]
    assert api == env.keras_api and int(parameters) > 0
