"""``python -m compat.devtools.bench --only scan``: ``compat scan`` over every committed fixture, timed
per file, beside modelscan on the same files.

The scan runs in a fresh interpreter that times ``scan.scan`` on each file and then lists
the TensorFlow / Keras modules it holds (none: the proof that the host imports no
TensorFlow). The whole command (``compat scan`` over every producer's folder, matrix
annotations included) is timed end to end as well. modelscan (with its ``tensorflow``
extra) is installed in its own virtual environment under ``.cache/``, never into the
project's, and run once per producer folder. Both also run over the code corpus that
tf215 and tf221 write (``compat/inside/corpus_code.py``), where the issue's six shapes are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compat import catalog
from compat.environments import envs
from compat.harness import fixtures
from compat.paths import PROJECT_ROOT

MODELSCAN = "modelscan[tensorflow]==0.8.8"
MODELSCAN_PYTHON = "3.11"
CORPUS_ENVS = ("tf215", "tf221")
SIX_SHAPES = (
    "lambda-top-h5",
    "lambda-nested-functional-h5",
    "lambda-timedistributed-h5",
    "lambda-nested-sequential-keras",
    "loss-lambda-keras",
    "lambda-nested-savedmodel",
)

# Run in a fresh interpreter: per-file times, then what it imported.
_CHILD = """
import json, sys, time
from compat.userfiles import scan
paths = json.loads(sys.stdin.read())
started = time.perf_counter()
rows = []
for path in paths:
    began = time.perf_counter()
    result = scan.scan(path)
    rows.append({"path": path, "ms": round((time.perf_counter() - began) * 1000, 3), "flagged": result.has_code,
                 "findings": len(result.findings)})
total = time.perf_counter() - started
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax"))
print(json.dumps({"rows": rows, "seconds": total, "heavy_modules": heavy}))
"""


def committed_files() -> list[tuple[str, str, Path]]:
    """``(producer, fixture id, path)`` of every committed fixture's model file or folder."""
    found = []
    for producer in sorted(p.name for p in fixtures.FIXTURES_DIR.iterdir() if (p / "manifest.json").is_file()):
        folder = fixtures.unpacked(producer)
        for entry in fixtures.load_manifest(producer)["fixtures"]:
            found.append((producer, entry["id"], folder / entry["path"]))
    return found


def time_compat(paths: list[Path]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps([str(p) for p in paths]),
        capture_output=True,
        text=True,
        env=env,
        cwd=str(PROJECT_ROOT),
        check=True,
    )
    return json.loads(done.stdout)


def time_cli(folders: list[Path], out: Path) -> dict:
    """``compat scan`` end to end over the folders (matrix annotations included)."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "compat", "scan", *map(str, folders), "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(PROJECT_ROOT),
        check=False,
    )
    seconds = time.perf_counter() - started
    document = json.loads(out.read_text())
    return {"seconds": round(seconds, 2), "exit_status": done.returncode, **document["counts"]}


def modelscan_executable(root: Path, log=print) -> Path:
    """modelscan in its own environment under ``.cache`` (made once)."""
    venv = root / "bench-modelscan"
    executable = venv / "bin" / "modelscan"
    if not executable.exists():
        log(f"[bench] installing {MODELSCAN} into {venv}")
        uv = envs.uv_executable()
        subprocess.run([uv, "venv", "-q", "-p", MODELSCAN_PYTHON, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "-q", MODELSCAN], check=True, env=dict(os.environ, VIRTUAL_ENV=str(venv)))
    return executable


def run_modelscan(executable: Path, folder: Path, out: Path) -> dict:
    """One modelscan run over a folder: seconds, files it scanned, and the files it flagged
    (a SavedModel's issue names one of its files: the folder is what is flagged)."""
    started = time.perf_counter()
    subprocess.run(
        [str(executable), "-p", str(folder), "-r", "json", "-o", str(out)],
        capture_output=True,
        check=False,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    seconds = time.perf_counter() - started
    report = json.loads(out.read_text())
    flagged = set()
    for issue in report.get("issues") or []:
        # "x.keras:config.json" names the member of a zip; "x_savedmodel/keras_metadata.pb" a
        # SavedModel's file
        source = Path(folder, issue["source"].split(":", 1)[0])
        flagged.add(str(source.parent if source.name.endswith(".pb") else source))
    scanned = (report.get("summary") or {}).get("scanned", {}).get("total_scanned", 0)
    return {"seconds": seconds, "scanned": scanned, "flagged": flagged}


def write_corpus(env_id: str, out: Path) -> list[dict]:
    env = catalog.get(env_id)
    code = (
        "import json, sys; from compat.inside import corpus_code; "
        "print('ENTRIES' + json.dumps(corpus_code.write_all(sys.argv[1])))"
    )
    done = subprocess.run(
        [str(envs.ensure_built(env)), "-c", code, str(out)],
        env=envs.inside_env(env),
        capture_output=True,
        text=True,
        cwd=str(PROJECT_ROOT),
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("ENTRIES"))
    return json.loads(line[len("ENTRIES") :])


def _share(rows) -> str:
    return f"{sum(rows)} of {len(rows)}"


def run(scratch: Path, log=print) -> dict:
    files = committed_files()
    paths = [path for _, _, path in files]
    compat_run = time_compat(paths)
    times = sorted(row["ms"] for row in compat_run["rows"])
    by_path = {row["path"]: row for row in compat_run["rows"]}
    cli = time_cli(sorted({path.parent for path in paths}), scratch / "scan.json")

    executable = modelscan_executable(PROJECT_ROOT / ".cache", log)
    modelscan_flagged, modelscan_seconds, modelscan_scanned = set(), 0.0, 0
    for number, folder in enumerate(sorted({path.parent for path in paths})):
        measured = run_modelscan(executable, folder, scratch / f"modelscan-{number}.json")
        modelscan_flagged |= measured["flagged"]
        modelscan_seconds += measured["seconds"]
        modelscan_scanned += measured["scanned"]

    variants: dict[str, dict] = {}
    for _, fixture_id, path in files:
        variant = fixture_id.split("-", 1)[0]
        counts = variants.setdefault(variant, {"files": 0, "compat": 0, "modelscan": 0})
        counts["files"] += 1
        counts["compat"] += by_path[str(path)]["flagged"]
        counts["modelscan"] += str(path) in modelscan_flagged

    corpus = {}
    for env_id in CORPUS_ENVS:
        out = scratch / f"corpus-{env_id}"
        entries = [e for e in write_corpus(env_id, out) if "skipped" not in e]
        corpus_paths = [out / e["path"] for e in entries]
        compat_corpus = time_compat(corpus_paths)
        flagged_ms = run_modelscan(executable, out, scratch / f"modelscan-corpus-{env_id}.json")["flagged"]
        corpus[env_id] = {
            e["id"]: {"compat": row["flagged"], "modelscan": str(out / e["path"]) in flagged_ms}
            for e, row in zip(entries, compat_corpus["rows"], strict=False)
        }
    six = {
        shape: {env_id: corpus[env_id][shape] for env_id in CORPUS_ENVS if shape in corpus[env_id]}
        for shape in SIX_SHAPES
    }
    return {
        "files": len(paths),
        "producers": len({p for p, _, _ in files}),
        "compat": {
            "per_file_ms_median": times[len(times) // 2],
            "per_file_ms_max": times[-1],
            "per_file_ms_mean": round(sum(times) / len(times), 3),
            "seconds": round(compat_run["seconds"], 2),
            "flagged": sum(row["flagged"] for row in compat_run["rows"]),
            "tensorflow_modules_on_host": compat_run["heavy_modules"],
        },
        "compat_cli": cli,
        "modelscan": {
            "version": MODELSCAN,
            "seconds": round(modelscan_seconds, 2),
            "per_file_ms_mean": round(1000 * modelscan_seconds / len(paths), 1),
            "files_it_scanned": modelscan_scanned,
            "flagged": sum(str(path) in modelscan_flagged for path in paths),
            "runs": len({path.parent for path in paths}),
        },
        "by_variant": variants,
        "corpus": corpus,
        "six_shapes": six,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
    }


def line(measured: dict) -> str:
    compat, modelscan = measured["compat"], measured["modelscan"]
    six_compat = [all(v["compat"] for v in by_env.values()) for by_env in measured["six_shapes"].values()]
    six_ms = [any(v["modelscan"] for v in by_env.values()) for by_env in measured["six_shapes"].values()]
    return (
        f"scan of {measured['files']} committed fixture files: compat {compat['per_file_ms_median']} ms a "
        f"file (median; mean {compat['per_file_ms_mean']}, max {compat['per_file_ms_max']}), "
        f"{compat['flagged']} flagged, TensorFlow modules on the host: {compat['tensorflow_modules_on_host']}; "
        f"`compat scan` end to end {measured['compat_cli']['seconds']}s; modelscan {modelscan['seconds']}s "
        f"({modelscan['per_file_ms_mean']} ms a file, {modelscan['runs']} runs), {modelscan['flagged']} flagged; "
        f"the six shapes: compat {_share(six_compat)}, modelscan {_share(six_ms)}"
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="compat-bench-scan-", dir=str(PROJECT_ROOT / ".cache")) as tmp:
        print(line(run(Path(tmp))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
