"""The order a reader is advised strategies in, and the cell category it gives."""

from __future__ import annotations

from compat.records import summary

REGISTRY = [
    {"name": "load_model", "tier": "as_is"},
    {"name": "unsafe", "tier": "flag"},
    {"name": "translate", "tier": "flag"},
    {"name": "tf_keras", "tier": "flag"},
    {"name": "savedmodel_inference", "tier": "flag"},
    {"name": "json_plain", "tier": "as_is"},
    {"name": "rebuild_weights", "tier": "weights"},
]


def test_the_readers_own_keras_comes_first_then_translate_then_tf_keras_then_a_rebuild():
    assert summary.strategy_order(REGISTRY) == [
        "load_model",
        "unsafe",
        "savedmodel_inference",
        "json_plain",
        "translate",
        "tf_keras",
        "rebuild_weights",
    ]


def test_the_best_is_the_first_that_passes_in_that_order():
    passed = {"verdict": "pass"}
    row = {"tf_keras": passed, "savedmodel_inference": passed, "rebuild_weights": passed}
    assert summary.best_strategy(row, summary.strategy_order(REGISTRY)) == "savedmodel_inference"
    assert summary.category(row, REGISTRY) == summary.FLAG
    assert summary.category({"rebuild_weights": passed}, REGISTRY) == summary.WEIGHTS
