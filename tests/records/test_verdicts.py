from __future__ import annotations

import numpy as np

from compat.records.verdicts import Verdict, compare

REFERENCE = np.array([[20.0, -26.0, 7.0], [1.0, 2.0, 3.0]])


def test_round_off_passes():
    result = compare(REFERENCE, REFERENCE + 1e-5)
    assert result["verdict"] == Verdict.PASS
    assert result["max_abs_diff"] < 2e-5 and result["cosine"] > 0.99999


def test_a_small_but_real_difference_is_a_mismatch():
    changed = REFERENCE.copy()
    changed[1, 2] += 0.05
    assert compare(REFERENCE, changed)["verdict"] == Verdict.MISMATCH


def test_wrong_shape_and_nan_are_mismatches_with_a_reason():
    assert "shape" in compare(REFERENCE, REFERENCE[:1])["detail"]
    broken = REFERENCE.copy()
    broken[0, 0] = np.nan
    assert compare(REFERENCE, broken)["verdict"] == Verdict.MISMATCH


def test_scaled_output_fails_on_difference_even_with_perfect_cosine():
    result = compare(REFERENCE, REFERENCE * 1.01)
    assert result["cosine"] > 0.999999
    assert result["verdict"] == Verdict.MISMATCH
