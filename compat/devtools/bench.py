"""Benchmark: a consumer run's wall time against its floor, environments, disk.

The floor is the honest lower bound of the same attempts: one interpreter that imports
TensorFlow once and, per attempt, makes the strategy's load, one forward pass and the
numeric check, bare (``compat.inside.bare``). The run is ``compat load`` end to end (host
start, worker start, every attempt, results written). ``--only speed`` compares this code
with the release before the speed work (``compat.devtools.benchspeed``). It also times
creating an environment from a warm uv cache, measures the disk the environments use, and
with ``--from-nothing`` creates every environment with an empty uv cache (downloads
included) in a scratch folder, and times headless Chromium opening the committed
``reports/matrix.html`` (against one second), the probe of a normal file in the bubblewrap
sandbox against the same probe with ``--no-sandbox`` (against 1.10x), and the pre-upgrade
gate over ten small models against one TensorFlow import per environment plus its loads,
``compat scan`` per file beside modelscan (``compat.devtools.benchscan``), and a small model
probed under every consumer stack at once against 90 s (``compat.devtools.benchprobe``).
Prints what it
measured and writes ``reports/bench.json`` (a measurement not repeated keeps its earlier
figures). Targets are checked here, by measurement, not by timed tests.
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
from compat.devtools import benchprobe, benchspeed, benchtranslate
from compat.devtools.trackedcopy import tracked_copy
from compat.environments import envs
from compat.harness import runner
from compat.paths import PROJECT_ROOT
from compat.records import results
from compat.records.attempt import attempt_id

TARGET_RATIO = 1.3
BENCH_FILE = PROJECT_ROOT / "reports" / "bench.json"


def time_run(consumer: str, producers: list[str], output: Path) -> float:
    started = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "compat",
            "load",
            consumer,
            *producers,
            "--quiet",
            "--rerun",
            "--workers",
            "1",
            "--output",
            str(output),
        ],  # the floor is one interpreter too
        cwd=str(PROJECT_ROOT),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the run of {consumer} failed (exit {done.returncode})")
    return time.time() - started


def bare_plan(document: dict, producers: list[str]) -> list[dict]:
    """The applicable attempts of a run, as the bare script needs them."""
    applicable = {
        attempt_id(a) for a in document["attempts"] if a["verdict"] not in ("not_applicable", "crash", "timeout")
    }
    names = [s["name"] for s in document["strategies"]]
    return [
        {k: r[k] for k in ("root", "fixture", "strategy", "input", "reference")}
        for r in map(runner.locate, runner.plan_attempts(producers, names))
        if (r["producer"], r["fixture"]["id"], r["strategy"]) in applicable
    ]


def time_floor(consumer: str, plan: list[dict]) -> float:
    env = catalog.get(consumer)
    python = envs.ensure_built(env)
    with tempfile.TemporaryDirectory() as tmp:
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(json.dumps(plan))
        started = time.time()
        done = subprocess.run(
            [str(python), "-m", "compat.inside.bare", str(plan_path)],
            env=envs.inside_env(env),
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"the bare floor run failed: {done.stderr.strip().splitlines()[-1:]}")
    return elapsed


def bench_consumer(consumer: str, producers: list[str]) -> dict:
    """The run against its floor. The floor leaves out the attempts that crashed (they would
    end the bare process), so it also starts one interpreter only; the run must start a
    fresh worker after each crash, and the floor counts a TensorFlow import for each."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "run.json"
        run_seconds = time_run(consumer, producers, output)
        document = results.read(output)
    plan = bare_plan(document, producers)
    floor_seconds = time_floor(consumer, plan)
    restarts = document["run"]["tensorflow_imports"] - 1
    restart_seconds = restarts * time_import(consumer) if restarts > 0 else 0.0
    floor = floor_seconds + restart_seconds
    return {
        "consumer": consumer,
        "producers": producers,
        "attempts": len(document["attempts"]),
        "applicable_attempts": len(plan),
        "run_seconds": round(run_seconds, 2),
        "floor_seconds": round(floor, 2),
        "bare_seconds": round(floor_seconds, 2),
        "restart_seconds": round(restart_seconds, 2),
        "ratio": round(run_seconds / floor, 3),
        "tensorflow_imports": document["run"]["tensorflow_imports"],
    }


def time_env_creation(env_id: str) -> tuple[float, float]:
    """Seconds to create an environment from its lock with a warm uv cache, and then to
    compile its packages to bytecode (once per environment)."""
    env = catalog.get(env_id)
    started = time.time()
    envs.create(env, log=lambda *_: None)  # afresh; the uv cache stays warm
    created = time.time()
    envs.compile_bytecode(env, log=lambda *_: None)
    return created - started, time.time() - created


def tree_bytes(path: Path) -> int:
    """Bytes a folder holds, hard links counted once (uv links files in from its cache)."""
    seen, total = set(), 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def disk_use() -> dict:
    """Disk used by every built environment, in MB."""
    per_env = {
        env.id: round(tree_bytes(envs.venv_path(env)) / 1e6)
        for env in catalog.ENVIRONMENTS
        if envs.venv_path(env).exists()
    }
    return {
        "environments_mb": per_env,
        "total_mb": round(tree_bytes(envs.venv_root()) / 1e6),
        "folder": str(envs.venv_root()),
    }


def time_from_nothing(env_ids: list[str], scratch: Path) -> dict:
    """Create environments with an empty uv cache and an empty environments folder."""
    cache, venvs = scratch / "uv-cache", scratch / "venvs"
    saved = {key: os.environ.get(key) for key in ("UV_CACHE_DIR", "COMPAT_VENV_DIR")}
    os.environ.update(UV_CACHE_DIR=str(cache), COMPAT_VENV_DIR=str(venvs))
    seconds = {}
    try:
        for env_id in env_ids:
            started = time.time()
            envs.ensure_built(catalog.get(env_id), log=lambda *_: None)
            seconds[env_id] = round(time.time() - started, 1)
            print(f"from nothing: {env_id} in {seconds[env_id]}s")
        measured = {
            "seconds": seconds,
            "total_seconds": round(sum(seconds.values()), 1),
            "environments_mb": round(tree_bytes(venvs) / 1e6),
            "uv_cache_mb": round(tree_bytes(cache) / 1e6),
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(scratch, ignore_errors=True)
    return measured


def time_matrix(fixture_ids: str | None, jobs: int, scratch: Path) -> dict:
    """``compat matrix`` over the whole catalog (warm environments) into a scratch folder."""
    from compat.harness import matrix

    consumers: list[matrix.Pass | str] = [env.id for env in catalog.consumers()]
    ids = [str(c) for c in consumers]
    planned = matrix.plan_passes(ids, matrix.default_outputs(ids, scratch), fixture_ids, rerun=True, settle=False)
    estimated = matrix.estimated_wall([p for p in planned if p.todo], jobs)  # what --dry-run --rerun says
    started = time.time()
    try:
        finished = matrix.run_consumers(
            consumers, jobs, rerun=True, fixture_ids=fixture_ids, log=lambda *_: None, results_dir=scratch
        )
        seconds = time.time() - started
        documents = [results.read(path) for path in sorted(scratch.glob("*.json"))]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if any(code != 0 for code in finished.values()):
        raise RuntimeError(f"the matrix run failed: {finished}")
    attempts = sum(len(d["attempts"]) for d in documents)
    return {
        "fixtures": fixture_ids or "all",
        "consumers": len(consumers),
        "jobs": jobs,
        "attempts": attempts,
        "seconds": round(seconds, 1),
        "estimated_seconds": round(estimated, 1),
        "estimate_ratio": round(estimated / seconds, 2),
        "attempts_per_second": round(attempts / seconds, 2),
        "tensorflow_imports": sum(d["run"]["tensorflow_imports"] for d in documents),
    }


GATE_MODELS = (
    "builtin.h5",
    "lambda.h5",
    "custom.h5",
    "compiled.h5",
    "builtin_savedmodel",
    "lambda_savedmodel",
    "custom_savedmodel",
    "builtin.keras",
    "custom.keras",
    "lambda.keras",
)


def time_import(env_id: str) -> float:
    """Seconds for a fresh interpreter in the environment to import TensorFlow."""
    env = catalog.get(env_id)
    python = envs.ensure_built(env)
    started = time.time()
    subprocess.run([str(python), "-c", "import tensorflow"], env=envs.inside_env(env), check=True, capture_output=True)
    return time.time() - started


def time_gate(old: str, new: str, scratch: Path) -> dict:
    """``compat regress --models`` over ten small models saved by tf215, against its floor:
    one TensorFlow import per environment plus the loads and predictions themselves."""
    from compat.harness import fixtures

    source = fixtures.unpacked("tf215")
    folder = scratch / "models"
    folder.mkdir(parents=True)
    for name in GATE_MODELS:
        (shutil.copytree if (source / name).is_dir() else shutil.copy)(source / name, folder / name)
    out = scratch / "gate.json"
    try:
        started = time.time()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "compat",
                "regress",
                "--from",
                old,
                "--to",
                new,
                "--models",
                str(folder),
                "--json",
                str(out),
            ],
            cwd=str(PROJECT_ROOT),
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.time() - started
        if done.returncode not in (0, 1):
            raise RuntimeError(f"the gate failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
        document = json.loads(out.read_text())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    sides = ("from",) if document["same_environment"] else ("from", "to")
    work = sum(
        (a.get("load_seconds") or 0) + (a.get("predict_seconds") or 0)
        for model in document["models"]
        for side in sides
        for a in model["attempts"][side]
    )
    imports = {env_id: round(time_import(env_id), 2) for env_id in dict.fromkeys((old, new))}
    floor = sum(imports.values()) + work
    return {
        "from": old,
        "to": new,
        "models": len(document["models"]),
        "seconds": round(seconds, 1),
        "loads": document["timing"]["loads"],
        "tensorflow_imports": document["timing"]["tensorflow_imports"],
        "load_and_predict_seconds": round(work, 1),
        "import_seconds": imports,
        "floor_seconds": round(floor, 1),
        "ratio": round(seconds / floor, 3),
        "regressed": len(document["regressed"]),
        "isolation": document.get("isolation"),
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 1),
    }


PAGE_TARGET_MS = 1000


def time_page(page: Path, repeats: int = 3) -> dict:
    """How long headless Chromium takes to open the report, a fresh profile each time."""
    from compat.devtools import browser

    scratch = Path(tempfile.mkdtemp(prefix="compat-bench-page-", dir=str(_scratch_root())))
    runs = []
    try:
        for number in range(repeats):
            driver = browser.start(scratch / f"profile-{number}")
            try:
                runs.append(browser.open_timings(driver, page))
            finally:
                driver.quit()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    slowest = max(run["dom_content_loaded_ms"] for run in runs)
    return {
        "page": str(page),
        "bytes": page.stat().st_size,
        "runs": runs,
        "target_ms": PAGE_TARGET_MS,
        "ratio": round(slowest / PAGE_TARGET_MS, 2),
    }


SANDBOX_TARGET_RATIO = 1.10


def time_probe(path: Path, loaders: str, sandboxed: bool, cwd: Path) -> float:
    """Wall time of ``compat probe`` end to end, in bubblewrap or with ``--no-sandbox``.

    (Not CPU time: the workers in bwrap's PID namespace are not reaped into the probe's.)
    """
    command = [sys.executable, "-m", "compat", "probe", str(path), "--loaders", loaders]
    started = time.time()
    done = subprocess.run(
        command + ([] if sandboxed else ["--no-sandbox"]),
        cwd=str(cwd),
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return time.time() - started


def time_interpreter_start(env_id: str, repeats: int = 11) -> dict:
    """Median seconds to start and end the environment's bare interpreter, each way.

    The sandbox's own cost (building the mount tree, copying the worker's code), without
    the noise of TensorFlow and of whatever else the machine runs.
    """
    from compat.environments import sandbox, workerclient

    env = catalog.get(env_id)
    python = envs.ensure_built(env)
    ways: dict[str, sandbox.Bubblewrap | workerclient.LightIsolation] = {
        "bubblewrap": sandbox.Bubblewrap({}),
        "none": workerclient.LightIsolation(),
    }
    seconds: dict[str, list[float]] = {side: [] for side in ways}
    for _ in range(repeats):
        for side, isolation in ways.items():
            scratch = Path(tempfile.mkdtemp(prefix="compat-bench-start-"))
            try:
                started = time.time()
                isolation.start(env, python, ["-c", "pass"], scratch).wait()
                seconds[side].append(time.time() - started)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    median = {side: round(sorted(times)[len(times) // 2], 4) for side, times in seconds.items()}
    return {
        "environment": env_id,
        "repeats": repeats,
        "bubblewrap_seconds": median["bubblewrap"],
        "none_seconds": median["none"],
        "added_seconds": round(median["bubblewrap"] - median["none"], 4),
    }


def time_sandbox(producer: str, fixture_path: str, loaders: str, repeats: int) -> dict:
    """The probe of a committed fixture in the sandbox against without, alternating runs.

    Each side's figure is its median run; the ratio is sandboxed over not. On a busy
    machine the runs scatter far more than the sandbox costs, so the sandbox's own cost
    is also measured alone (``interpreter_start``: what it adds to each worker's start).
    """
    from compat.harness import fixtures

    source = fixtures.unpacked(producer) / fixture_path
    scratch = Path(tempfile.mkdtemp(prefix="compat-bench-sandbox-", dir=str(_scratch_root())))
    runs: dict[str, list[float]] = {"bubblewrap": [], "none": []}
    load = os.getloadavg()[0]
    try:
        model = scratch / source.name
        shutil.copy2(source, model)
        for _ in range(repeats):
            for side, times in runs.items():
                times.append(round(time_probe(model, loaders, side == "bubblewrap", scratch), 2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    median = {side: sorted(times)[repeats // 2] for side, times in runs.items()}
    start = time_interpreter_start(loaders.split(",")[0])
    return {
        "fixture": f"{producer}/{fixture_path}",
        "loaders": loaders,
        "repeats": repeats,
        "runs": runs,
        "sandboxed_seconds": median["bubblewrap"],
        "unsandboxed_seconds": median["none"],
        "ratio": round(median["bubblewrap"] / median["none"], 3),
        "target_ratio": SANDBOX_TARGET_RATIO,
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
        "interpreter_start": start,
        "added_share": round(start["added_seconds"] / median["none"], 4),
    }


def time_recorded_table(scratch: Path, name: str = "tf215-load-tf210") -> dict:
    """README's main job on a fresh clone, through tox: every attempt is recorded, so the
    table comes from the committed matrix. Timed twice: the first run includes tox making
    its own environment; no catalog environment may be built by either."""
    tox = shutil.which("tox")
    if tox is None:
        raise RuntimeError("tox is not installed (a core dependency: pip install -e .)")
    clone, venvs = scratch / "clone", scratch / "venvs"
    tracked_copy(clone)
    venvs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPAT_", "TOX_", "PYTHONPATH"))}
    env["COMPAT_VENV_DIR"] = str(venvs)
    seconds = []
    for _ in range(2):
        started = time.time()
        done = subprocess.run([tox, "-e", name], cwd=str(clone), env=env, capture_output=True, text=True, check=False)
        seconds.append(round(time.time() - started, 2))
        if done.returncode != 0 or "recorded, not measured now" not in done.stdout:
            raise RuntimeError(
                f"tox -e {name} did not print the recorded table: {done.stdout[-500:]} {done.stderr[-500:]}"
            )
    if any(venvs.iterdir()):
        raise RuntimeError(f"tox -e {name} built an environment with nothing to measure")
    return {
        "command": f"tox -e {name}",
        "first_seconds": seconds[0],
        "again_seconds": seconds[1],
        "environments_built": 0,
        "table_lines": done.stdout.count("\n"),
    }


def _scratch_root() -> Path:
    """Beside the project's other caches: same disk as the environments, so uv can hard-link."""
    root = PROJECT_ROOT / ".cache"
    root.mkdir(exist_ok=True)
    return root


def _parser():
    import argparse

    parser = argparse.ArgumentParser(prog="python -m compat.devtools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", default="tf215,tf221")
    parser.add_argument("--producers", default="keras212,tf215,tf221")
    parser.add_argument("--env", default="tf215", help="environment to time creation of")
    parser.add_argument(
        "--from-nothing",
        action="store_true",
        help="also create every environment with an empty uv cache (downloads: slow)",
    )
    parser.add_argument(
        "--matrix-fixtures",
        default=None,
        help="also time `compat matrix` over every consumer for these fixture ids "
        "(`all`: the full matrix, hours on two cores)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="consumers at once (matrix)")
    parser.add_argument("--page", default=str(BENCH_FILE.parent / "matrix.html"), help="report page to open (page)")
    parser.add_argument(
        "--sandbox-fixture",
        default="tf215/lambda.h5",
        help="committed fixture the sandbox bench probes (producer/file)",
    )
    parser.add_argument("--sandbox-loaders", default="tf215", help="loaders of the sandbox bench's probes")
    parser.add_argument("--repeats", type=int, default=3, help="probes on each side (sandbox)")
    parser.add_argument("--gate", default="tf215,tf221", help="OLD,NEW environments of the gate (gate)")
    parser.add_argument(
        "--probe-model",
        default=benchprobe.DEFAULT_MODEL,
        help="corpus file (set/producer/file) probed under every consumer (probe-all)",
    )
    parser.add_argument("--probe-repeats", type=int, default=2, help="warm probes on each side (probe-all)")
    parser.add_argument(
        "--old-tree",
        default=str(PROJECT_ROOT.parent / f"old-{benchspeed.OLD_COMMIT}"),
        help=f"worktree of the earlier release {benchspeed.OLD_COMMIT} (made when missing) (speed)",
    )
    parser.add_argument(
        "--speed-pairs",
        default="tf221:tf210,tf215:tf210",
        help="consumer:producer runs compared with the earlier release (speed)",
    )
    parser.add_argument("--speed-rounds", type=int, default=2, help="old-then-new rounds per pair (speed)")
    parser.add_argument(
        "--speed-fixtures",
        default="lambda-h5,custom-savedmodel",
        help="fixture ids of the matrix subset compared with the earlier release (speed)",
    )
    parser.add_argument(
        "--only",
        choices=(
            "runs",
            "disk",
            "from-nothing",
            "matrix",
            "page",
            "sandbox",
            "gate",
            "speed",
            "no-change",
            "scan",
            "recorded-table",
            "probe-all",
            "translate",
        ),
        default=None,
        help="measure only this, keeping the other figures in bench.json",
    )
    return parser


def _measure_page_sandbox_speed_scan(args, report: dict) -> None:
    if args.only in (None, "page"):
        from compat.devtools import browser

        if browser.missing():
            print(f"page: not measured: {browser.missing()}")
        else:
            report["page"] = time_page(Path(args.page))
            print(
                f"page {args.page} ({report['page']['bytes'] // 1024} KiB): DOMContentLoaded "
                f"{', '.join(str(r['dom_content_loaded_ms']) for r in report['page']['runs'])} ms, "
                f"load {', '.join(str(r['load_ms']) for r in report['page']['runs'])} ms; slowest / "
                f"{PAGE_TARGET_MS} ms target = {report['page']['ratio']}"
            )
    if args.only in (None, "sandbox"):
        producer, _, fixture_path = args.sandbox_fixture.partition("/")
        measured = time_sandbox(producer, fixture_path, args.sandbox_loaders, args.repeats)
        report["sandbox"] = measured
        verdict = "within" if measured["ratio"] <= SANDBOX_TARGET_RATIO else "OVER"
        print(
            f"probe of {measured['fixture']} under {measured['loaders']}: bubblewrap "
            f"{measured['sandboxed_seconds']}s, --no-sandbox {measured['unsandboxed_seconds']}s "
            f"(medians of {args.repeats}, load average {measured['load_average'][0]} to "
            f"{measured['load_average'][1]} on {measured['cores']} cores), ratio {measured['ratio']} "
            f"({verdict} the {SANDBOX_TARGET_RATIO}x target)"
        )
        start = measured["interpreter_start"]
        print(
            f"  the sandbox alone: {start['environment']}'s interpreter started and ended in "
            f"{start['bubblewrap_seconds']}s in bubblewrap, {start['none_seconds']}s without (medians of "
            f"{start['repeats']}): {start['added_seconds']}s added per worker, {measured['added_share']:.2%} "
            f"of the probe"
        )
    if args.only in (None, "speed"):
        pairs = [tuple(pair.split(":")) for pair in args.speed_pairs.split(",")]
        report["speed"] = benchspeed.run(Path(args.old_tree), pairs, args.speed_rounds, args.speed_fixtures, args.jobs)
    if args.only == "no-change":
        with tempfile.TemporaryDirectory(prefix="compat-bench-no-change-", dir=str(_scratch_root())) as tmp:
            report.setdefault("speed", {})["no_change_whole"] = benchspeed.no_change_whole(Path(tmp))
        print(benchspeed.no_change_line(report["speed"]["no_change_whole"]))
    if args.only in (None, "scan"):
        from compat.devtools import benchscan

        with tempfile.TemporaryDirectory(prefix="compat-bench-scan-", dir=str(_scratch_root())) as tmp:
            report["scan"] = benchscan.run(Path(tmp))
        print(benchscan.line(report["scan"]))


def _measure_probe_all(args, report: dict) -> None:
    """A small model probed under every consumer stack, warm, against 90 s (a few minutes)."""
    if args.only in (None, "probe-all"):
        report["probe_all"] = benchprobe.run(args.probe_model, args.probe_repeats, _scratch_root())
        print(benchprobe.line(report["probe_all"]))


def _measure_translate(args, report: dict) -> None:
    """translate's share of the Keras 3 cells where FaceNet's rebuild passes (reads the matrix: instant)."""
    if args.only in (None, "translate"):
        from compat.paths import PUBLISHED_MATRIX

        report["translate"] = benchtranslate.run(PUBLISHED_MATRIX)
        print(benchtranslate.line(report["translate"]))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.only == "matrix" and not args.matrix_fixtures:
        parser.error("--only matrix needs --matrix-fixtures (fixture ids, or `all`)")
    producers = args.producers.split(",")
    report = json.loads(BENCH_FILE.read_text()) if BENCH_FILE.exists() else {}
    report["target_ratio"] = TARGET_RATIO
    if args.only in (None, "disk"):
        report["disk"] = disk_use()
        print(
            f"disk: {report['disk']['total_mb']} MB in {len(report['disk']['environments_mb'])} "
            f"environments under {report['disk']['folder']}"
        )
    if args.from_nothing or args.only == "from-nothing":
        scratch = Path(tempfile.mkdtemp(prefix="compat-bench-", dir=str(_scratch_root())))
        report["from_nothing"] = time_from_nothing(catalog.ids(), scratch)
        print(
            f"every environment from nothing: {report['from_nothing']['total_seconds']}s; "
            f"the new uv cache holds {report['from_nothing']['uv_cache_mb']} MB "
            "(unpacked, linked into the environments)"
        )
    if args.matrix_fixtures and args.only in (None, "matrix"):
        scratch = Path(tempfile.mkdtemp(prefix="compat-bench-matrix-", dir=str(_scratch_root())))
        wanted = None if args.matrix_fixtures == "all" else args.matrix_fixtures
        measured = time_matrix(wanted, args.jobs, scratch)
        report.setdefault("matrix", {})[measured["fixtures"]] = measured
        print(
            f"matrix over {measured['fixtures']}: {measured['attempts']} attempts by {measured['consumers']} "
            f"consumers in {measured['seconds']}s with {measured['jobs']} at once "
            f"({measured['attempts_per_second']} attempts/s, {measured['tensorflow_imports']} TF imports); "
            f"`compat matrix --dry-run --rerun` had said {measured['estimated_seconds']}s "
            f"(estimate / measured = {measured['estimate_ratio']})"
        )
        if report.get("from_nothing"):
            print(f"  from nothing: + {report['from_nothing']['total_seconds']}s to create every environment")
    if args.only in (None, "gate"):
        old, new = args.gate.split(",")
        scratch = Path(tempfile.mkdtemp(prefix="compat-bench-gate-", dir=str(_scratch_root())))
        measured = time_gate(old, new, scratch)
        report["gate"] = measured
        imports = " + ".join(f"{env_id} {s}s" for env_id, s in measured["import_seconds"].items())
        print(
            f"gate {old} -> {new} over {measured['models']} models: {measured['seconds']}s with "
            f"{measured['tensorflow_imports']} TF imports and {measured['loads']} loads; floor "
            f"{measured['floor_seconds']}s (imports {imports}, loads and predictions "
            f"{measured['load_and_predict_seconds']}s), ratio {measured['ratio']}; isolation "
            f"{measured['isolation']}, load average {measured['load_average']} on {measured['cores']} cores"
        )
    _measure_page_sandbox_speed_scan(args, report)
    _measure_probe_all(args, report)
    _measure_translate(args, report)
    if args.only == "recorded-table":
        with tempfile.TemporaryDirectory(prefix="compat-bench-table-", dir=str(_scratch_root())) as tmp:
            report["recorded_table"] = measured = time_recorded_table(Path(tmp))
        print(
            f"{measured['command']} on a fresh clone, nothing to measure: {measured['first_seconds']}s "
            f"(tox making its environment), then {measured['again_seconds']}s; no environment built"
        )
    if args.only not in (None, "runs"):
        return _write(report)
    wanted = args.consumers.split(",")
    report["consumers"] = [c for c in report.get("consumers", []) if c["consumer"] not in wanted]
    for consumer in wanted:
        measured = bench_consumer(consumer, producers)
        report["consumers"].append(measured)
        verdict = "within" if measured["ratio"] <= TARGET_RATIO else "OVER"
        print(
            f"{consumer}: run {measured['run_seconds']}s, floor {measured['floor_seconds']}s (bare "
            f"{measured['bare_seconds']}s + {measured['restart_seconds']}s for the workers that crashes "
            f"ended), ratio {measured['ratio']} ({verdict} the {TARGET_RATIO}x target; "
            f"{measured['applicable_attempts']} loads, {measured['tensorflow_imports']} TF imports)"
        )
    created, compiled = time_env_creation(args.env)
    report["env_creation_seconds"], report["env_bytecode_seconds"] = round(created, 2), round(compiled, 2)
    print(
        f"environment {args.env} from a warm uv cache: {report['env_creation_seconds']}s, then its packages "
        f"compiled to bytecode once: {report['env_bytecode_seconds']}s"
    )
    return _write(report)


def _write(report: dict) -> int:
    BENCH_FILE.parent.mkdir(parents=True, exist_ok=True)
    BENCH_FILE.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
