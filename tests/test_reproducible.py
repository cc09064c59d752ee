"""The published matrix is reproducible: re-running a sample of its cells gives its verdicts."""
from __future__ import annotations

import json

import pytest

from compat import results, runner
from compat.envs import PROJECT_ROOT

pytestmark = pytest.mark.envs
MATRIX = PROJECT_ROOT / "reports" / "matrix.json"
SAMPLE = [("tf215", ["keras212", "tf221"], ["lambda-h5", "builtin-h5"]),
          ("tf221", ["keras212", "tf215"], ["lambda-h5", "builtin-savedmodel"])]


@pytest.mark.parametrize("consumer,producers,fixture_ids", SAMPLE)
def test_a_sample_of_published_cells_reproduces(consumer, producers, fixture_ids, tmp_path):
    published = json.loads(MATRIX.read_text())
    expected = {results.attempt_key(a): a["verdict"] for a in published["attempts"]
                if a["consumer"] == consumer and a["producer"] in producers and a["fixture"] in fixture_ids}
    assert expected, f"the published matrix has no {consumer} cells for {producers} / {fixture_ids}"
    output = tmp_path / "rerun.json"
    runner.Run(consumer, producers, fixture_ids=fixture_ids, output=output, log=lambda *_: None).execute()
    rerun = {results.attempt_key(a): a["verdict"] for a in results.read(output)["attempts"]}
    assert {key: rerun.get(key) for key in expected} == expected
