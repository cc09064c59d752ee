"""Benchmark: ``compat probe SMALL_MODEL --loaders all``, every consumer stack of the catalog.

The target: a small model answers every stack in at most 90 s, warm (every environment
built, not the first probe after building), on the development machine's 2 cores. Every
environment is built first; the first probe after that is timed and kept apart ("first"),
then the warm probes alternate between the default (one environment per core) and
``--jobs 1`` (one after another), so both see the same machine. Each figure is the whole
command's wall time; the probe's own document gives each environment's seconds and what
the slowest one spent loading and predicting. The model is one of the committed foreign
corpus's small files (``fixtures/corpus/foreign``), probed in the bubblewrap sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compat import catalog
from compat.paths import PROJECT_ROOT
from compat.userfiles import probe

TARGET_SECONDS = 90.0
DEFAULT_MODEL = "foreign/tf215/multi_input.h5"
"""Corpus set / producer / file: a Keras 2.15 ``.h5`` with two named inputs (89 parameters)."""


def small_model(spec: str, scratch: Path) -> Path:
    """The corpus file ``set/producer/file``, copied alone into ``scratch``."""
    from compat.harness import corpus

    set_name, producer, name = spec.split("/", 2)
    model = scratch / Path(name).name
    source = corpus.unpacked(set_name, producer) / name
    if source.is_dir():
        shutil.copytree(source, model)
    else:
        shutil.copy2(source, model)
    return model


def time_probe_all(model: Path, jobs: int | None, cwd: Path) -> dict:
    """One ``compat probe MODEL --loaders all`` end to end: its wall time and what it says."""
    out = cwd / "probe.json"
    command = [sys.executable, "-m", "compat", "probe", str(model), "--loaders", probe.ALL_LOADERS, "--json", str(out)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    load = os.getloadavg()[0]
    started = time.time()
    done = subprocess.run(
        command,
        cwd=str(cwd),
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    document = json.loads(out.read_text())
    environments = document["environments"]
    slowest = max(environments, key=lambda env: env["seconds"])
    return {
        "jobs": jobs or probe.default_jobs(),
        "seconds": round(seconds, 2),
        "stacks": len(environments),
        "could_not_run": [env["id"] for env in environments if env["error"]],
        "environment_seconds": {env["id"]: env["seconds"] for env in environments},
        "slowest": {
            "id": slowest["id"],
            "seconds": slowest["seconds"],
            "load_and_predict_seconds": round(
                sum((a.get("load_seconds") or 0) + (a.get("predict_seconds") or 0) for a in slowest["attempts"]), 2
            ),
        },
        "load_average_before": round(load, 2),
    }


def run(model_spec: str = DEFAULT_MODEL, repeats: int = 2, scratch_root: Path | None = None) -> dict:
    """Every consumer built, one first probe, then ``repeats`` warm probes on each side."""
    scratch = Path(tempfile.mkdtemp(prefix="compat-bench-probe-all-", dir=str(scratch_root) if scratch_root else None))
    try:
        model = small_model(model_spec, scratch)
        built_started = time.time()
        broken = probe.build_environments(catalog.consumers(), log=print)
        build_seconds = time.time() - built_started
        if broken:
            raise RuntimeError(
                "environments that cannot be built: " + "; ".join(f"{k}: {v}" for k, v in broken.items())
            )
        first = time_probe_all(model, None, scratch)
        warm: dict[str, list[dict]] = {"parallel": [], "sequential": []}
        for _ in range(repeats):
            warm["parallel"].append(time_probe_all(model, None, scratch))
            warm["sequential"].append(time_probe_all(model, 1, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    slowest_warm = max(r["seconds"] for r in warm["parallel"])
    return {
        "model": model_spec,
        "stacks": first["stacks"],
        "cores": os.cpu_count(),
        "jobs": first["jobs"],
        "build_check_seconds": round(build_seconds, 2),
        "first": first,
        "warm": warm,
        "warm_seconds": [r["seconds"] for r in warm["parallel"]],
        "warm_sequential_seconds": [r["seconds"] for r in warm["sequential"]],
        "target_seconds": TARGET_SECONDS,
        "within_target": slowest_warm <= TARGET_SECONDS,
    }


def line(measured: dict) -> str:
    """What the bench prints of it."""
    warm = ", ".join(f"{s}s" for s in measured["warm_seconds"])
    sequential = ", ".join(f"{s}s" for s in measured["warm_sequential_seconds"])
    verdict = "within" if measured["within_target"] else "OVER"
    slowest = measured["warm"]["parallel"][-1]["slowest"]
    return (
        f"probe {measured['model']} --loaders all: {measured['stacks']} stacks on {measured['cores']} cores, "
        f"{measured['jobs']} at once: warm {warm} (slowest {verdict} the {measured['target_seconds']:g} s target); "
        f"first probe after building {measured['first']['seconds']}s; warm with --jobs 1 {sequential}; "
        f"slowest environment {slowest['id']} {slowest['seconds']}s ({slowest['load_and_predict_seconds']}s of "
        f"it loading and predicting); load average before the warm probes "
        f"{', '.join(str(r['load_average_before']) for r in measured['warm']['parallel'])}"
    )
