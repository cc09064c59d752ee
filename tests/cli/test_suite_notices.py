"""The suite notices a broken strategy: a copy of the project whose load_model hands back
wrong numbers (the model's output with its components reversed: finite, the right shape and
norm, so only a comparison with a reference can tell), run through the real worker in
tf215, fails the assertions that guard load_model, and the oracle disagrees with it.

The copy is the tracked files with one line of ``compat/inside/strategies.py`` changed; its
worker imports that copy (the worker's PYTHONPATH is the project it was started from).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from compat import catalog
from compat.environments import envs
from compat.harness import fixtures
from compat.records import results
from tests.conftest import compat_in, producer_reference, tracked_copy
from tests.harness import test_loading, test_oracle_facenet

pytestmark = pytest.mark.envs

ORIGINAL = "        return ctx.keras.models.load_model(_path(root, fixture))\n"
BROKEN = (
    ORIGINAL + "\n"
    "    def load(self, ctx, root, fixture):\n"
    "        call = keras_call(ctx, self.open(ctx, root, fixture))\n"
    "        # deliberately broken: components reversed\n"
    "        return lambda batch: [(name, value[:, ::-1]) for name, value in call(batch)]\n"
)


def _break_load_model(project) -> None:
    path = project / "compat" / "inside" / "strategies.py"
    source = path.read_text()
    assert source.count(ORIGINAL) == 1, "LoadModel.open changed: update this test's mutation"
    path.write_text(source.replace(ORIGINAL, BROKEN))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = tracked_copy(tmp_path_factory.mktemp("broken") / "project", drop=("reports/matrix.json",))
    _break_load_model(project)
    return project


@pytest.fixture(scope="module")
def broken(project) -> dict:
    output = project / "broken.json"
    done = compat_in(
        project,
        "load",
        "tf215",
        "tf215",
        "--fixtures",
        "lambda-h5",
        "--strategies",
        "load_model,rebuild_weights",
        "--output",
        str(output),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return results.read(output)


def test_the_broken_strategy_is_a_mismatch_and_the_others_are_untouched(broken):
    verdicts = {a["strategy"]: a["verdict"] for a in broken["attempts"]}
    assert verdicts == {"load_model": "mismatch", "rebuild_weights": "pass"}


def test_the_loading_tests_assertion_fails_on_it(broken):
    # test_loading's check that a model loads as it is where it was made, fed the broken run.
    with pytest.raises(AssertionError, match="mismatch"):
        test_loading.test_a_model_loads_as_it_is_where_it_was_made(broken, broken)
    # Had the broken attempt been called a pass, the tolerance re-check against the reference file
    # is the assertion that stops it.
    with pytest.raises(AssertionError) as failed:
        test_loading.test_every_pass_is_within_tolerance_and_every_attempt_is_accounted_for(
            dict(broken, attempts=[dict(a, verdict="pass") for a in broken["attempts"]]), broken
        )
    assert 'attempt["max_abs_diff"] <=' in str(failed.traceback[-1].statement)


def test_the_oracle_disagrees_with_it(broken, tmp_path):
    manifest = fixtures.load_manifest("tf215")
    folder = fixtures.fixture_dir("tf215")
    python = envs.ensure_built(catalog.get("tf215"))  # whatever ran before this test
    child = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COMPAT_", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [
            str(python),
            "-I",
            str(test_oracle_facenet.ORACLE),
            "--input",
            str(folder / manifest["reference"]["input"]),
            "--reference",
            str(folder / manifest["reference"]["embeddings"]["lambda"]),
            "--mode",
            "load_model",
            str(fixtures.unpacked("tf215") / "lambda.h5"),
        ],
        cwd=str(tmp_path),
        env=child,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [case] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert case["verdict"] == "pass"  # the file itself is fine
    [attempt] = [a for a in broken["attempts"] if a["strategy"] == "load_model"]
    assert not test_oracle_facenet._agrees(attempt, case)


def _probe(project, tmp_path, *options) -> dict:
    model = tmp_path / "lambda.h5"
    if not model.exists():
        model.write_bytes((fixtures.unpacked("tf215") / "lambda.h5").read_bytes())
    out = tmp_path / f"probe{len(options)}.json"
    done = compat_in(project, "probe", str(model), "--loaders", "tf215", "--json", str(out), *options)
    assert done.returncode == 0, done.stderr[-3000:]
    [env] = json.loads(out.read_text())["environments"]
    return {a["strategy"]: a for a in env["attempts"]}


def test_the_probe_notices_it_against_the_producers_reference_and_not_against_itself(project, tmp_path):
    reference, batch = producer_reference(fixtures.fixture_dir("tf215"), "lambda", tmp_path)
    judged = _probe(project, tmp_path, "--reference", reference, "--input", batch)
    assert judged["load_model"]["verdict"] == "mismatch"
    assert judged["rebuild_weights"]["verdict"] == "pass"
    # Why the probe tests pass a reference: without one the broken attempt, the first that
    # loads, becomes the reference, passes against itself, and the correct loads "mismatch".
    alone = _probe(project, tmp_path)
    assert alone["load_model"]["verdict"] == "pass" and alone["load_model"].get("is_reference")
    assert alone["rebuild_weights"]["verdict"] == "mismatch"
