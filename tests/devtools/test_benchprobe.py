"""The probe-all benchmark's own arithmetic (its figures come from real runs:
``python -m compat.devtools.bench --only probe-all``)."""

from __future__ import annotations

from compat.devtools import benchprobe


def _measured(warm: list[float]) -> dict:
    run = {"slowest": {"id": "tf219", "seconds": 7.6, "load_and_predict_seconds": 0.56}, "load_average_before": 1.5}
    return {
        "model": benchprobe.DEFAULT_MODEL,
        "stacks": 17,
        "cores": 2,
        "jobs": 2,
        "first": {"seconds": 50.0},
        "warm": {"parallel": [dict(run, seconds=s) for s in warm]},
        "warm_seconds": warm,
        "warm_sequential_seconds": [60.0],
        "target_seconds": benchprobe.TARGET_SECONDS,
        "within_target": max(warm) <= benchprobe.TARGET_SECONDS,
    }


def test_the_line_gives_stacks_cores_and_the_target():
    said = benchprobe.line(_measured([42.3, 35.8]))
    assert "17 stacks on 2 cores, 2 at once: warm 42.3s, 35.8s (slowest within the 90 s target)" in said
    assert "warm with --jobs 1 60.0s" in said and "slowest environment tf219 7.6s" in said


def test_the_slowest_warm_run_decides():
    assert "OVER the 90 s target" in benchprobe.line(_measured([42.3, 90.5]))
