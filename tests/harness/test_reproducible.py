"""The published matrix is reproducible: re-running a sample of its cells gives its verdicts."""

from __future__ import annotations

import pytest

from compat.harness import runner
from compat.paths import PROJECT_ROOT
from compat.records import matrixdoc, results
from compat.records.attempt import attempt_id

pytestmark = pytest.mark.envs
MATRIX = PROJECT_ROOT / "reports" / "matrix.json"
SAMPLE = [
    ("tf215", ["keras212", "tf221"], ["lambda-h5", "builtin-h5"]),
    ("tf221", ["keras212", "tf215"], ["lambda-h5", "builtin-savedmodel"]),
    # The security view: stored code run at load (Keras 2), at the first call (Keras 3.5),
    # and a module a crafted .keras names, imported by Keras 3.5.
    ("tf215", ["tf215"], ["canary-h5"]),
    ("tf217", ["tf215", "tf217"], ["canary-h5", "canarymodule-keras"]),
]


def _observed(attempt: dict) -> tuple:
    if not attempt["fixture"].startswith("canary"):
        return (attempt["verdict"],)  # matrix.json keeps the canary readings on canaries only
    return attempt["verdict"], attempt.get("code_executed"), attempt.get("code_executed_by_predict")


@pytest.mark.parametrize("consumer,producers,fixture_ids", SAMPLE)
def test_a_sample_of_published_cells_reproduces(consumer, producers, fixture_ids, tmp_path):
    published = matrixdoc.read(MATRIX)
    expected = {
        attempt_id(a): _observed(a)
        for a in published["attempts"]
        if a["consumer"] == consumer and a["producer"] in producers and a["fixture"] in fixture_ids
    }
    assert expected, f"the published matrix has no {consumer} cells for {producers} / {fixture_ids}"
    output = tmp_path / "rerun.json"
    runner.open_run(consumer, producers, fixture_ids=fixture_ids, output=output, log=lambda *_: None).execute()
    rerun = {attempt_id(a): _observed(a) for a in results.read(output)["attempts"]}
    assert {key: rerun.get(key) for key in expected} == expected
    if any(fixture.startswith("canary") for fixture in fixture_ids):
        assert any(observed[2] for observed in expected.values()), "the sample should include code that ran"


# Re-running the harness says the harness is stable, not that it is right: the published
# load_model / no_compile verdicts of the same sample must also be what a plain load gives.
@pytest.mark.parametrize("consumer,producers,fixture_ids", [s for s in SAMPLE if s[0] in ("tf215", "tf221")])
def test_the_published_plain_loads_of_the_sample_are_what_an_independent_load_gives(
    consumer, producers, fixture_ids, tmp_path
):
    from tests.harness.test_oracle_facenet import MODES, _agrees, _model_files, oracle

    published = {
        (a["producer"], a["fixture"], a["strategy"]): a
        for a in matrixdoc.read(MATRIX)["attempts"]
        if a["consumer"] == consumer
    }
    compared = 0
    for producer in producers:
        for (fixture, mode), case in oracle(consumer, producer, tmp_path, fixture_ids=set(fixture_ids)).items():
            attempt = published[producer, fixture, mode]
            assert attempt["verdict"] == case["verdict"], (producer, fixture, mode, attempt, case)
            if case["verdict"] == "error" and case["stage"] == "load":
                assert _agrees(attempt, case), (producer, fixture, mode, attempt["error"], case["error"])
            compared += 1
    whole_models = sum(f["id"] in fixture_ids for producer in producers for f in _model_files(producer))
    assert compared == len(MODES) * whole_models > 0
