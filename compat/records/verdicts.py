"""Verdicts: the status enum, and the numeric check that turns embeddings into one.

A load that succeeds but computes different numbers is ``mismatch``: silent
corruption, the worst outcome, never reported as a pass.
"""

from __future__ import annotations

import enum
import math

import numpy as np

# Embeddings pass when both hold. Cross-version float32 round-off measured on the
# fixtures is ~1e-6 relative; a wrong residual scale, swapped layers or reset BatchNorm
# statistics move them by 1e-2 or more.
RELATIVE_TOLERANCE = 1e-4
MIN_COSINE = 0.99999


class Verdict(str, enum.Enum):
    PASS = "pass"
    MISMATCH = "mismatch"
    ERROR = "error"
    CRASH = "crash"
    TIMEOUT = "timeout"
    NOT_APPLICABLE = "not_applicable"

    def __str__(self) -> str:  # so f-strings and JSON show the plain value
        return self.value


def compare(reference, actual) -> dict:
    """Max absolute difference and the lowest per-row cosine similarity, and whether they pass."""
    reference = np.asarray(reference, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != reference.shape:
        return {
            "verdict": Verdict.MISMATCH,
            "max_abs_diff": None,
            "cosine": None,
            "detail": f"output shape {list(actual.shape)}, reference {list(reference.shape)}",
        }
    if not np.all(np.isfinite(actual)):
        return {
            "verdict": Verdict.MISMATCH,
            "max_abs_diff": None,
            "cosine": None,
            "detail": "output holds NaN or infinity",
        }
    max_abs = float(np.max(np.abs(actual - reference)))
    norms = np.linalg.norm(actual, axis=1) * np.linalg.norm(reference, axis=1)
    cosines = np.sum(actual * reference, axis=1) / np.where(norms == 0, 1.0, norms)
    cosine = float(np.min(cosines))
    scale = max(1.0, float(np.max(np.abs(reference))))
    passed = max_abs <= RELATIVE_TOLERANCE * scale and cosine >= MIN_COSINE
    return {
        "verdict": Verdict.PASS if passed else Verdict.MISMATCH,
        "max_abs_diff": max_abs,
        "cosine": cosine if math.isfinite(cosine) else None,
    }
