"""The fixtures' weights are discriminative: three kinds of damage each fail the check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compat.harness import fixtures
from compat.records.verdicts import Verdict, compare
from tests.conftest import run_inside

pytestmark = pytest.mark.envs


@pytest.fixture(scope="module")
def embeddings():
    return json.loads(run_inside("tf215", "compat.inside.mutations"))


@pytest.fixture(scope="module")
def reference():
    return np.load(fixtures.fixture_dir("tf215") / "reference" / "lambda.npy")


def test_untouched_model_passes(embeddings, reference):
    # Guards the three tests below: the check is not simply failing everything.
    assert compare(reference, embeddings["untouched"])["verdict"] == Verdict.PASS


@pytest.mark.parametrize("damage", ["wrong_residual_scale", "swapped_layers", "batchnorm_reset"])
def test_damaged_copy_fails_the_numeric_check(embeddings, reference, damage):
    result = compare(reference, embeddings[damage])
    assert result["verdict"] == Verdict.MISMATCH, result
