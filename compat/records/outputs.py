"""The numeric check on a model's named outputs: each output paired with its reference by name
(else by shape, else by position) and checked as the matrix checks FaceNet's embeddings.

The engine for users' files and the matrix's reported-failure fixtures, which have named
outputs of any shape, both judge with ``compare_outputs``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from compat.records.verdicts import Verdict, compare


def pair_outputs(reference: list[tuple], actual: list[tuple]) -> list[tuple] | str:
    """``[(reference name, reference array, actual array)]``, or why the outputs cannot be paired.

    By name first (dict keys, output layer names and signature keys agree across
    environments), then by shape where one output alone has it, then by position.
    """
    if len(reference) != len(actual):
        return (
            f"{len(actual)} outputs ({', '.join(n for n, _ in actual)}), reference "
            f"{len(reference)} ({', '.join(n for n, _ in reference)})"
        )
    left: OrderedDict[str, np.ndarray] = OrderedDict(reference)
    right: OrderedDict[str, np.ndarray] = OrderedDict(actual)
    pairs = [(name, left.pop(name), right.pop(name)) for name in list(left) if name in right]
    for name in list(left):
        same = [other for other, value in right.items() if value.shape == left[name].shape]
        alike = [n for n, v in left.items() if v.shape == left[name].shape]
        if len(same) == 1 and len(alike) == 1:
            pairs.append((name, left.pop(name), right.pop(same[0])))
    pairs += [(name, value, other) for (name, value), other in zip(left.items(), right.values(), strict=False)]
    order = [name for name, _ in reference]
    return sorted(pairs, key=lambda pair: order.index(pair[0]))


def compare_outputs(reference: list[tuple], actual: list[tuple]) -> dict:
    """The matrix's numeric check on every output; the verdict is the worst, and says which output."""
    pairs = pair_outputs(reference, actual)
    if isinstance(pairs, str):
        return {"verdict": Verdict.MISMATCH, "max_abs_diff": None, "cosine": None, "detail": pairs}
    worst, compared = None, []
    for name, expected, got in pairs:
        if got.shape != expected.shape:
            numbers = {
                "verdict": Verdict.MISMATCH,
                "max_abs_diff": None,
                "cosine": None,
                "detail": f"output shape {list(got.shape)}, reference {list(expected.shape)}",
            }
        else:
            numbers = _numeric(expected, got)
        numbers["output"] = name
        compared.append(numbers)
        if worst is None or (numbers["verdict"] is not Verdict.PASS and worst["verdict"] is Verdict.PASS):
            worst = numbers
    assert worst is not None, "a model has at least one output"
    result = dict(worst)
    result["max_abs_diff"] = max((n["max_abs_diff"] for n in compared if n["max_abs_diff"] is not None), default=None)
    cosines = [n["cosine"] for n in compared if n["cosine"] is not None]
    result["cosine"] = min(cosines) if cosines else None
    if result["verdict"] is Verdict.MISMATCH and len(pairs) > 1:
        result["detail"] = f"output {worst['output']}: " + (
            worst.get("detail") or f"max |diff| {worst['max_abs_diff']:.3g}, cosine {worst['cosine']}"
        )
    if len(pairs) == 1:
        result.pop("output", None)
    return result


def _numeric(expected: np.ndarray, got: np.ndarray) -> dict:
    """The matrix's check on one output, row by row (whatever the output's rank). A row that is
    zero in both has no direction: the cosine is taken over the other rows, while the
    difference still covers every value."""
    rows = max(1, len(expected))
    expected, got = expected.reshape(rows, -1), got.reshape(rows, -1)
    numbers = compare(expected, got)
    silent = (np.linalg.norm(expected, axis=1) == 0) & (np.linalg.norm(got, axis=1) == 0)
    if numbers["verdict"] is Verdict.MISMATCH and silent.any() and numbers["max_abs_diff"] is not None:
        if silent.all():
            numbers.update(verdict=Verdict.PASS if numbers["max_abs_diff"] == 0 else Verdict.MISMATCH, cosine=None)
            return numbers
        within = compare(expected[~silent], got[~silent])
        numbers.update(verdict=within["verdict"], cosine=within["cosine"])
    return numbers
