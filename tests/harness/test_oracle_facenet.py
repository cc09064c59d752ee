"""The harness's plain-load verdicts against an independent oracle, on the slice the suite
asserts on: consumers tf215 and tf221, producers keras212, tf215 and tf221, the strategies
load_model and no_compile, every model file a plain ``load_model`` may be given.

The oracle (``tests/oracle/plain_load.py``) runs in the consumer's own interpreter with
``-I`` and imports nothing of the project: its own Keras import, its own standardisation of
the producer's input batch, ``predict``, and its own comparison with the producer's
reference. The harness must agree with it attempt by attempt: the same pass or mismatch,
and where the oracle's load failed, an error of the same exception type whose message
holds the oracle's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from compat import catalog
from compat.environments import envs
from compat.harness import fixtures, runner
from compat.records import results

pytestmark = pytest.mark.envs

ORACLE = Path(__file__).resolve().parents[1] / "oracle" / "plain_load.py"
CONSUMERS = ("tf215", "tf221")
PRODUCERS = ("keras212", "tf215", "tf221")
MODES = ("load_model", "no_compile")
FIXTURES = fixtures.FIXTURES_DIR


def _model_files(producer: str) -> list[dict]:
    """The committed manifest's whole-model files (not weights, not a JSON architecture)."""
    manifest = json.loads((FIXTURES / producer / "manifest.json").read_text())
    return [f for f in manifest["fixtures"] if f["kind"] == "model" and f["format"] != "json"]


def oracle(consumer: str, producer: str, tmp: Path, fixture_ids=None, modes=MODES, canary=False) -> dict:
    """``{(fixture id, mode): case}`` from the oracle, one process per reference variant.

    ``fixture_ids``: only those (default: every whole-model file); ``canary``: also say whether
    stored code ran (the canary Lambda's marker, in a folder of its own under ``tmp``).
    """
    # Built here if no test before this one built it: the oracle must not depend on test order.
    python = envs.ensure_built(catalog.get(consumer))
    manifest = json.loads((FIXTURES / producer / "manifest.json").read_text())
    folder = fixtures.unpacked(producer)
    by_variant: dict[str, list[dict]] = {}
    for fixture in _model_files(producer):
        if fixture_ids is None or fixture["id"] in fixture_ids:
            by_variant.setdefault(fixture["variant"], []).append(fixture)
    # A clean process: only what a user's shell would pass, nothing of the project's.
    child = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "COMPAT_", "KERAS_", "TF_USE_", "VIRTUAL_ENV"))
    }
    found = {}
    for variant, files in by_variant.items():
        command = [
            str(python),
            "-I",
            str(ORACLE),
            "--input",
            str(FIXTURES / producer / manifest["reference"]["input"]),
            "--reference",
            str(FIXTURES / producer / manifest["reference"]["embeddings"][variant]),
        ]
        if canary:
            marks = tmp / f"canary-{consumer}-{producer}-{variant}"
            marks.mkdir(exist_ok=True)
            command += ["--canary-dir", str(marks)]
        paths = {}
        for fixture in files:
            path = str(folder / fixture["path"])
            paths[path] = fixture["id"]
            for mode in modes:
                command += ["--mode", mode, path]
        done = subprocess.run(
            command, cwd=str(tmp), env=child, capture_output=True, text=True, timeout=1800, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                case = json.loads(line)
                found[paths[case["path"]], case["mode"]] = case
    return found


@pytest.fixture(scope="module", params=CONSUMERS)
def compared(request, tmp_path_factory) -> tuple[str, dict, dict]:
    consumer = request.param
    tmp = tmp_path_factory.mktemp(f"oracle-{consumer}")
    output = tmp / "harness.json"
    facenet = sorted({f["id"] for p in PRODUCERS for f in fixtures.load_manifest(p)["fixtures"]})
    runner.open_run(
        consumer, list(PRODUCERS), strategies=list(MODES), fixture_ids=facenet, output=output, log=lambda *_: None
    ).execute()
    harness = {(a["producer"], a["fixture"], a["strategy"]): a for a in results.read(output)["attempts"]}
    plain = {
        (producer, fixture, mode): case
        for producer in PRODUCERS
        for (fixture, mode), case in oracle(consumer, producer, tmp).items()
    }
    return consumer, harness, plain


def _agrees(attempt: dict, case: dict) -> bool:
    if attempt["verdict"] != case["verdict"]:
        return False
    if case["verdict"] != "error":
        return True
    # The harness records load_seconds once load_model returned: the failure came at the call.
    if ("load_seconds" in attempt) != (case["stage"] == "predict"):
        return False
    error = attempt["error"]
    said, seen, traceback = _plain(case["error"]["message"]), _plain(error["message"]), _plain(error.get("traceback"))
    # The harness reports the innermost line of an error TensorFlow wraps; the oracle the first.
    return error["type"] == case["error"]["type"] and (said in seen or seen in said or said in traceback)


PATH = re.compile(r"/[^\s'\"`,()]+(/[^\s'\"`,()]+)*")


def _plain(message: str | None) -> str:
    """The message with each absolute path cut to its last part: the unpacked fixtures' folder
    differs between checkouts (the published matrix was measured in another)."""
    return PATH.sub(lambda match: match.group(0).rsplit("/", 1)[-1], message or "")


def test_the_harness_agrees_with_a_plain_load_attempt_by_attempt(compared, capsys):
    consumer, harness, plain = compared
    assert len(plain) == sum(len(_model_files(p)) for p in PRODUCERS) * len(MODES)
    rows, disagreements = [], []
    for key, case in sorted(plain.items()):
        attempt = harness.get(key)
        assert attempt is not None, f"the harness planned no attempt {key}"
        shown = attempt["verdict"] + (f" {attempt['error']['type']}" if attempt["verdict"] == "error" else "")
        said = case["verdict"] + (f" {case['error']['type']}" if case["verdict"] == "error" else "")
        rows.append(f"{consumer} {'/'.join(key):45} oracle {said:28} harness {shown}")
        if not _agrees(attempt, case):
            disagreements.append((key, case, {k: attempt.get(k) for k in ("verdict", "error", "max_abs_diff")}))
    counts = {}
    for case in plain.values():
        counts[case["verdict"]] = counts.get(case["verdict"], 0) + 1
    with capsys.disabled():
        print("\n[oracle] " + "\n[oracle] ".join(rows))
        print(
            f"[oracle] {consumer}: {len(plain)} attempts, oracle {counts}, "
            f"{len(plain) - len(disagreements)} agree, {len(disagreements)} disagree"
        )
    assert not disagreements, "\n".join(map(str, disagreements))
    # Both outcomes occur on the slice, so agreement is not the oracle failing or passing everything.
    assert {c["verdict"] for c in plain.values()} >= {"pass", "error"}
