"""The published matrix is reproducible: re-running a sample of its cells gives its verdicts."""
from __future__ import annotations

import pytest

from compat.harness import runner
from compat.paths import PROJECT_ROOT
from compat.records import matrixdoc, results

pytestmark = pytest.mark.envs
MATRIX = PROJECT_ROOT / "reports" / "matrix.json"
SAMPLE = [("tf215", ["keras212", "tf221"], ["lambda-h5", "builtin-h5"]),
          ("tf221", ["keras212", "tf215"], ["lambda-h5", "builtin-savedmodel"]),
          # The security view: stored code run at load (Keras 2), at the first call (Keras 3.5),
          # and a module a crafted .keras names, imported by Keras 3.5.
          ("tf215", ["tf215"], ["canary-h5"]),
          ("tf217", ["tf215", "tf217"], ["canary-h5", "canarymodule-keras"])]


def _observed(attempt: dict) -> tuple:
    if not attempt["fixture"].startswith("canary"):
        return (attempt["verdict"],)  # matrix.json keeps the canary readings on canaries only
    return attempt["verdict"], attempt.get("code_executed"), attempt.get("code_executed_by_predict")


@pytest.mark.parametrize("consumer,producers,fixture_ids", SAMPLE)
def test_a_sample_of_published_cells_reproduces(consumer, producers, fixture_ids, tmp_path):
    published = matrixdoc.read(MATRIX)
    expected = {results.attempt_key(a): _observed(a) for a in published["attempts"]
                if a["consumer"] == consumer and a["producer"] in producers and a["fixture"] in fixture_ids}
    assert expected, f"the published matrix has no {consumer} cells for {producers} / {fixture_ids}"
    output = tmp_path / "rerun.json"
    runner.Run(consumer, producers, fixture_ids=fixture_ids, output=output, log=lambda *_: None).execute()
    rerun = {results.attempt_key(a): _observed(a) for a in results.read(output)["attempts"]}
    assert {key: rerun.get(key) for key in expected} == expected
    if any(fixture.startswith("canary") for fixture in fixture_ids):
        assert any(observed[2] for observed in expected.values()), "the sample should include code that ran"
