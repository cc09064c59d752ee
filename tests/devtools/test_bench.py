"""The benchmark's own arithmetic (its figures come from real runs: ``python -m compat.devtools.bench``)."""

from __future__ import annotations

import os

from compat.devtools import bench


def test_tree_bytes_counts_hard_linked_files_once(tmp_path):
    (tmp_path / "a").mkdir()
    data = tmp_path / "a" / "wheel.so"
    data.write_bytes(b"x" * 100_000)
    os.link(data, tmp_path / "a" / "linked.so")  # uv links environments to its cache like this
    (tmp_path / "b.txt").write_bytes(b"y" * 10)
    one = bench.tree_bytes(tmp_path)
    assert 100_000 <= one < 100_000 + 3 * 8192
    (tmp_path / "copy.so").write_bytes(data.read_bytes())
    assert bench.tree_bytes(tmp_path) >= one + 100_000


def test_tree_bytes_of_nothing(tmp_path):
    assert bench.tree_bytes(tmp_path / "missing") == 0


def test_per_strategy_time_counts_loads_only():
    from compat.devtools import benchspeed

    document = {
        "attempts": [
            {"strategy": "load_model", "verdict": "pass", "load_seconds": 1.0, "predict_seconds": 0.25},
            {"strategy": "load_model", "verdict": "error", "load_seconds": 0.5},
            {"strategy": "tf_keras", "verdict": "not_applicable", "reason": "no"},
        ]
    }
    assert benchspeed.per_strategy(document) == {"load_model": {"loads": 2, "seconds": 1.75}}


def test_differing_verdicts_names_each_attempt_once():
    from compat.devtools import benchspeed

    old = [
        {"producer": "tf210", "fixture": "lambda-h5", "strategy": "load_model", "verdict": "error"},
        {"producer": "tf210", "fixture": "lambda-h5", "strategy": "no_compile", "verdict": "pass"},
    ]
    new = [dict(old[0], verdict="pass"), dict(old[1])]
    assert benchspeed.differing_verdicts(old, new) == [" tf210 lambda-h5 load_model: error -> pass"]
    assert benchspeed.differing_verdicts(old, old[:1]) == [" tf210 lambda-h5 no_compile: pass -> None"]
