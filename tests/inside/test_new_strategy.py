"""A new loading technique is one class: added to ``strategies.py`` in a copy of the project,
with no other edit, it runs in the matrix (a keyed attempt in the consumer's results, a row
of the report) and in the probe of a user's file, with its own recipe in each.

Real runs in a tracked copy of the project with the shared environments.
"""

from __future__ import annotations

import json

import pytest

from compat.harness import fixtures
from compat.records import results
from tests.conftest import compat_in, producer_reference, tracked_copy

pytestmark = pytest.mark.envs

CONSUMER, PRODUCER, FIXTURE = "tf215", "tf210", "builtin-h5"
TOY = "toy_reload"
TOY_CLASS = """

class ToyReload(Strategy):
    name = "toy_reload"
    summary = "load_model(path, compile=False), then a clone with the same weights"
    load_line = "model = keras.models.clone_model(keras.models.load_model(MODEL_PATH, compile=False))"

    def open(self, ctx, root, fixture):
        loaded = ctx.keras.models.load_model(_path(root, fixture), compile=False)
        clone = ctx.keras.models.clone_model(loaded)
        clone.set_weights(loaded.get_weights())
        return clone


"""


def add_toy_strategy(project) -> None:
    """The one edit: a class before the registry, and its instance at the registry's end."""
    path = project / "compat" / "inside" / "strategies.py"
    source = path.read_text()
    registry = source.index("\nSTRATEGIES = (")
    end = source.index("\n)\n", registry)
    path.write_text(source[:registry] + TOY_CLASS + source[registry:end] + "\n    ToyReload()," + source[end:])


def test_a_strategy_added_as_one_class_runs_in_the_matrix_and_the_probe(tmp_path):
    project = tracked_copy(tmp_path / "project")
    add_toy_strategy(project)

    load = compat_in(project, "load", CONSUMER, PRODUCER, "--fixtures", FIXTURE, "--strategies", TOY, "--quiet")
    assert load.returncode == 0, load.stderr
    measured = results.read(project / "reports" / "results" / f"{CONSUMER}.json")
    (attempt,) = [a for a in measured["attempts"] if a["strategy"] == TOY]
    assert attempt["verdict"] == "pass", attempt
    assert attempt["key"]["code"] and "keras.models.clone_model" in attempt["recipe"]
    assert TOY in [s["name"] for s in measured["strategies"]]

    # From the results files alone: the published matrix.json was measured before the
    # strategy existed, and the report refuses to mix two strategy lists.
    report = compat_in(project, "report", "--fresh")
    assert report.returncode == 0, report.stderr
    assert TOY in (project / "reports" / "matrix.md").read_text()

    model = tmp_path / "user" / "model.h5"
    model.parent.mkdir()
    model.write_bytes((fixtures.unpacked(PRODUCER) / "builtin.h5").read_bytes())
    out = tmp_path / "probe.json"
    # The producer's own numbers: a pass is a match with them, not with another attempt.
    reference, batch = producer_reference(fixtures.fixture_dir(PRODUCER), "builtin", tmp_path)
    probe = compat_in(
        project,
        "probe",
        str(model),
        "--loaders",
        CONSUMER,
        "--reference",
        reference,
        "--input",
        batch,
        "--json",
        str(out),
    )
    assert probe.returncode == 0, probe.stderr + probe.stdout
    document = json.loads(out.read_text())
    assert document["reference"]["source"] == "file"
    attempts = [a for env in document["environments"] for a in env["attempts"] if a["strategy"] == TOY]
    assert [a["verdict"] for a in attempts] == ["pass"], attempts
    assert "keras.models.clone_model" in attempts[0]["recipe"]
