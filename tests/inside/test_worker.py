"""The worker under stress: isolation, injected crashes and hangs, a killed run resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from compat.harness import runner
from compat.records import results
from compat.records.attempt import attempt_id
from tests.conftest import compat_env, interruptible, tracked_copy

pytestmark = pytest.mark.envs

# A slice on which every strategy applies somewhere: a TF 2.15 SavedModel (load_model
# family, tf_keras, savedmodel_inference), a JSON pair and a custom-class .h5 (custom
# objects, safe_mode, rebuild by topology and by name, transplant).
CONSUMER, PRODUCER = "tf221", "tf215"
SLICE = ["lambda-savedmodel", "custom-json", "custom-h5"]
# Where a test starts a worker per attempt or waits out a hang, the files that load in a second
# or two: a JSON pair and a custom-class .h5 (no SavedModel revival).
QUICK = ["custom-json", "custom-h5"]


def _verdicts(document, fixtures=SLICE):
    return {attempt_id(a): a["verdict"] for a in document["attempts"] if a["fixture"] in fixtures}


def _run(tmp_path, name, fixtures=SLICE, **options):
    output = tmp_path / f"{name}.json"
    runner.open_run(CONSUMER, [PRODUCER], fixture_ids=fixtures, output=output, log=lambda *_: None, **options).execute()
    return results.read(output)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("shared"), "shared")


# A per-attempt timeout for the fault test over QUICK: its loads take under 2 s on a quiet
# machine and several times that on cores other jobs share; only the injected hang may reach it
# (the hang costs this much per parametrisation, so no more than that margin).
ATTEMPT_TIMEOUT = 30
# The timeout of runs that a test stops itself: longer than any test waits.
NEVER = 3600


def _held_open(shared) -> str:
    """A fault spec that hangs the last attempt the run plans that reaches a worker.

    Every other attempt finishes; the run then waits on that one, so a signal sent once enough
    attempts are recorded always finds it running, however fast the machine is.
    """
    plan = runner.plan_attempts([PRODUCER], runner.strategy_names(), fixture_filter=SLICE)
    applied = {key for key, verdict in _verdicts(shared).items() if verdict != "not_applicable"}
    last = [r for r in plan if (r["producer"], r["fixture"]["id"], r["strategy"]) in applied][-1]
    return f"hang:{last['strategy']}:{last['fixture']['id']}"


def _recorded(output) -> list:
    """What a running ``compat load`` has recorded: its last snapshot and its journal."""
    snapshot = results.read(output)["attempts"] if output.exists() else []
    journaled = [a for journal in results.journals(output) for a in results.read_journal(journal)]
    return list({attempt_id(a): a for a in snapshot + journaled}.values())


def _wait_for(process, output, count: int) -> None:
    deadline = time.time() + 600
    while time.time() < deadline and len(_recorded(output)) < count:
        assert process.poll() is None, "the run ended before the test could stop it"
        time.sleep(0.2)
    assert len(_recorded(output)) >= count, "the run recorded too little in 600 s"


def test_every_strategy_is_exercised_by_the_slice(shared):
    """Every strategy that reads one of the slice's formats (a TF 1 graph's reader reads none of
    them: tests/inside/test_tf1_graph.py runs it)."""
    applied = {a["strategy"] for a in shared["attempts"] if a["verdict"] != "not_applicable"}
    formats = {a["format"] for a in shared["attempts"]}
    assert applied == {s["name"] for s in shared["strategies"] if formats & set(s["formats"])}
    assert len(applied) >= len(shared["strategies"]) - 1


def test_isolated_attempts_give_the_same_verdicts(shared, tmp_path):
    isolated = _run(tmp_path, "isolated", fixtures=QUICK, isolate=True)
    assert isolated["run"]["mode"] == "isolate"
    assert len(isolated["attempts"]) == len(_verdicts(shared, QUICK))
    assert _verdicts(isolated, QUICK) == _verdicts(shared, QUICK)


def test_workers_sharing_a_run_give_the_same_verdicts(shared, tmp_path):
    two = _run(tmp_path, "two", workers=2)
    assert two["run"]["workers_started"] == two["run"]["tensorflow_imports"] == 2
    assert len(two["attempts"]) == len(shared["attempts"])
    assert _verdicts(two) == _verdicts(shared)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_segfault_and_a_hang_cost_one_attempt_each(shared, tmp_path, workers):
    faults = "segfault:custom_objects:custom-h5;hang:json_weights:custom-json"
    faulty = _run(
        tmp_path,
        "faulty",
        fixtures=QUICK,
        timeout=ATTEMPT_TIMEOUT,
        extra_env={"COMPAT_INJECT_FAULT": faults},
        workers=workers,
    )
    verdicts, clean = _verdicts(faulty, QUICK), _verdicts(shared, QUICK)
    assert len(faulty["attempts"]) == len(clean)
    crashed = (PRODUCER, "custom-h5", "custom_objects")
    hung = (PRODUCER, "custom-json", "json_weights")
    assert verdicts[crashed] == "crash"
    assert verdicts[hung] == "timeout"
    crash = next(a for a in faulty["attempts"] if attempt_id(a) == crashed)
    assert crash["signal"] == "SIGSEGV"
    for key in clean:
        if key not in (crashed, hung):
            assert verdicts[key] == clean[key], key
    # A fresh worker after each, when that worker's thread has attempts left to take
    # (with one worker it always has; with two the fault may be its thread's last).
    started = faulty["run"]["workers_started"]
    assert started == 3 if workers == 1 else workers + 1 <= started <= workers + 2


def test_ctrl_c_stops_every_worker_and_records_no_death_it_caused(shared, tmp_path):
    """Ctrl-C reaches the workers too; the deaths it causes are not crashes of a strategy."""
    project = tracked_copy(tmp_path / "project", drop=("reports/matrix.json",))
    output = tmp_path / "stopped.json"
    command = [
        sys.executable,
        "-m",
        "compat",
        "load",
        CONSUMER,
        PRODUCER,
        "--quiet",
        "--workers",
        "2",
        "--fixtures",
        ",".join(SLICE),
        "--output",
        str(output),
        "--timeout",
        str(NEVER),
    ]
    process = subprocess.Popen(
        interruptible(command),
        cwd=str(project),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=compat_env(extra_env={"COMPAT_INJECT_FAULT": _held_open(shared)}),
    )
    _wait_for(process, output, 8)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends to the foreground group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "compat load: interrupted (what was measured is kept)"
    recorded = results.read(output)["attempts"] + [
        a for journal in results.journals(output) for a in results.read_journal(journal)
    ]
    assert len(recorded) >= 8
    assert not [a for a in recorded if a["verdict"] in ("crash", "timeout")]


def test_a_killed_run_resumes_without_redoing_work(shared, tmp_path):
    # A copy without the published matrix, so the slice is measured here whatever it holds.
    project = tracked_copy(tmp_path / "project", drop=("reports/matrix.json",))
    output = tmp_path / "killed.json"
    command = [
        sys.executable,
        "-m",
        "compat",
        "load",
        CONSUMER,
        PRODUCER,
        "--quiet",
        "--fixtures",
        ",".join(SLICE),
        "--output",
        str(output),
    ]
    process = subprocess.Popen(
        [*command, "--timeout", str(NEVER)],
        cwd=str(project),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=compat_env(extra_env={"COMPAT_INJECT_FAULT": _held_open(shared)}),
    )
    _wait_for(process, output, 8)
    json.loads(output.read_text())  # the snapshot on disk is whole JSON, never half-written
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = results.read(output)  # a snapshot: complete JSON whenever it was cut
    assert not interrupted["run"]["complete"]
    journaled = [a for journal in results.journals(output) for a in results.read_journal(journal)]
    kept = len({attempt_id(a) for a in interrupted["attempts"] + journaled})
    assert kept >= 8

    resumed = subprocess.run(command, cwd=str(project), capture_output=True, text=True, check=False, env=compat_env())
    assert resumed.returncode == 0, resumed.stderr
    total = len(shared["attempts"])
    assert (
        f"{total - kept} attempts to run over 1 producer(s), {kept} known by their keys"
        in resumed.stdout + resumed.stderr
    )
    final = results.read(output)
    assert final["run"]["complete"]
    assert len(final["attempts"]) == total
    assert len({attempt_id(a) for a in final["attempts"]}) == total
    assert _verdicts(final) == _verdicts(shared)


# What an attempt loads into the architecture a worker keeps must not reach the next one.
_REUSE_CHECK = """
import json, sys
import numpy as np
from compat.inside import facenet_arch, kerasapi, strategies
ctx = strategies.Context()
kerasapi.clear_session()
model = ctx.architecture("lambda", "tiny")
first = [w.copy() for w in model.get_weights()]
names = [layer.name for layer in model.layers]
model.load_weights(sys.argv[1])
loaded = any(not np.array_equal(a, b) for a, b in zip(first, model.get_weights()))
batch = np.random.RandomState(0).normal(size=(2, 160, 160, 3)).astype("float32")
with_loaded = strategies.embeddings(ctx, model, batch)
ctx.end_attempt()
kerasapi.clear_session()
again = ctx.architecture("lambda", "tiny")
restored = all(np.array_equal(a, b) for a, b in zip(first, again.get_weights()))
again.load_weights(sys.argv[1])
# Two forward passes of one model need not agree to the bit (oneDNN may split the work
# differently between threads); what a leak from the last attempt would change is far larger.
same_output = bool(np.allclose(strategies.embeddings(ctx, again, batch), with_loaded, rtol=0, atol=1e-5))
ctx.end_attempt()
kerasapi.clear_session()
fresh_model = facenet_arch.build("lambda", "tiny")
fresh = [layer.name for layer in fresh_model.layers]
fresh_model.load_weights(sys.argv[1])
fresh_output = bool(np.allclose(strategies.embeddings(ctx, fresh_model, batch), with_loaded, rtol=0, atol=1e-5))
print(json.dumps({"same": again is model, "loaded": loaded, "restored": restored, "names": names == fresh,
                  "same_output": same_output, "fresh_output": fresh_output}))
"""


@pytest.mark.parametrize("consumer", ["tf215", "tf221", "keras224", "keras212"])
def test_the_architecture_a_worker_keeps_is_a_fresh_build_every_time(consumer):
    from compat import catalog
    from compat.environments import envs
    from compat.harness import fixtures

    env = catalog.get(consumer)
    python = envs.ensure_built(env)
    weights = fixtures.unpacked("keras212") / "lambda_weights.h5"  # legacy HDF5: every Keras reads it
    done = subprocess.run(
        [str(python), "-c", _REUSE_CHECK, str(weights)],
        env=envs.inside_env(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {
        "same": True,
        "loaded": True,
        "restored": True,
        "names": True,
        "same_output": True,
        "fresh_output": True,
    }


@pytest.mark.parametrize("consumer", ["tf215", "keras212"])
def test_a_worker_imports_its_stack_from_bytecode_compiled_once(consumer):
    """Workers never write bytecode, so an environment without it would compile TensorFlow
    from source at every worker start; building an environment compiles it once."""
    from compat import catalog
    from compat.environments import envs

    env = catalog.get(consumer)
    python = envs.ensure_built(env)
    module = "tensorflow" if consumer == "tf215" else "keras"
    code = f"import os, sys, {module} as m; print(sys.dont_write_bytecode, os.path.exists(m.__cached__))"
    done = subprocess.run(
        [str(python), "-c", code], env=envs.inside_env(env), capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["True", "True"]
