"""Benchmark: a consumer run's wall time against its floor.

The floor is one interpreter that imports TensorFlow once and makes the same load and
predict calls bare (``compat.inside.bare``). The run is ``compat load`` end to end
(host start, worker start, every attempt, results written). Prints the measured ratio
and writes ``reports/bench.json``. Targets are checked here, by measurement, not by
timed tests.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compat import catalog, envs, results, runner
from compat.envs import PROJECT_ROOT

TARGET_RATIO = 1.3
BENCH_FILE = PROJECT_ROOT / "reports" / "bench.json"


def time_run(consumer: str, producers: list[str], output: Path) -> float:
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "compat", "load", consumer, *producers, "--quiet",
                           "--output", str(output)], cwd=str(PROJECT_ROOT))
    if done.returncode != 0:
        raise RuntimeError(f"the run of {consumer} failed (exit {done.returncode})")
    return time.time() - started


def bare_plan(document: dict, producers: list[str]) -> list[dict]:
    """The applicable attempts of a run, as the bare script needs them."""
    applicable = {results.attempt_key(a) for a in document["attempts"]
                  if a["verdict"] not in ("not_applicable", "crash", "timeout")}
    names = [s["name"] for s in document["strategies"]]
    return [{k: r[k] for k in ("root", "fixture", "strategy", "input")}
            for r in runner.plan_attempts(producers, names)
            if (r["producer"], r["fixture"]["id"], r["strategy"]) in applicable]


def time_floor(consumer: str, plan: list[dict]) -> float:
    env = catalog.get(consumer)
    python = envs.ensure_built(env)
    with tempfile.TemporaryDirectory() as tmp:
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(json.dumps(plan))
        started = time.time()
        done = subprocess.run([str(python), "-m", "compat.inside.bare", str(plan_path)],
                              env=envs.inside_env(env), cwd=tmp, capture_output=True, text=True)
        elapsed = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"the bare floor run failed: {done.stderr.strip().splitlines()[-1:]}")
    return elapsed


def bench_consumer(consumer: str, producers: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "run.json"
        run_seconds = time_run(consumer, producers, output)
        document = results.read(output)
    plan = bare_plan(document, producers)
    floor_seconds = time_floor(consumer, plan)
    return {"consumer": consumer, "producers": producers, "attempts": len(document["attempts"]),
            "applicable_attempts": len(plan), "run_seconds": round(run_seconds, 2),
            "floor_seconds": round(floor_seconds, 2), "ratio": round(run_seconds / floor_seconds, 3),
            "tensorflow_imports": document["run"]["tensorflow_imports"]}


def time_env_creation(env_id: str) -> float:
    """Seconds to create an environment from its lock with a warm uv cache."""
    env = catalog.get(env_id)
    stamp = envs.venv_path(env) / ".compat-lock"
    if stamp.exists():
        stamp.unlink()  # forces a rebuild; the uv cache stays warm
    started = time.time()
    envs.ensure_built(env, log=lambda *_: None)
    return time.time() - started


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m compat.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", default="tf215,tf221")
    parser.add_argument("--producers", default="keras212,tf215,tf221")
    parser.add_argument("--env", default="tf215", help="environment to time creation of")
    args = parser.parse_args(argv)
    producers = args.producers.split(",")
    report = {"target_ratio": TARGET_RATIO, "consumers": [], "env_creation_seconds": None}
    for consumer in args.consumers.split(","):
        measured = bench_consumer(consumer, producers)
        report["consumers"].append(measured)
        verdict = "within" if measured["ratio"] <= TARGET_RATIO else "OVER"
        print(f"{consumer}: run {measured['run_seconds']}s, floor {measured['floor_seconds']}s, "
              f"ratio {measured['ratio']} ({verdict} the {TARGET_RATIO}x target; "
              f"{measured['applicable_attempts']} loads, {measured['tensorflow_imports']} TF import)")
    report["env_creation_seconds"] = round(time_env_creation(args.env), 2)
    print(f"environment {args.env} from a warm uv cache: {report['env_creation_seconds']}s")
    BENCH_FILE.parent.mkdir(parents=True, exist_ok=True)
    BENCH_FILE.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
