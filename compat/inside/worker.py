"""The worker: imports TensorFlow / Keras once, then runs load attempts on request.

Protocol (one JSON object per line): the host writes requests to stdin and the worker
answers on its private copy of stdout with ``{"event": "ready", ...}`` once, then
``{"event": "started", "id": ...}`` and ``{"event": "result", "id": ..., ...}`` per request.
Everything TensorFlow and Keras print goes to stderr, so it can never corrupt the protocol.

- ``{"op": "attempt", "id", "root", "fixture", "strategy", "input"}``: one strategy on a
  fixture of the matrix, fed ``input`` (a ``.npz`` of images the worker prewhitens); the
  result carries the embeddings;
- the same with ``"spec"`` (the model's named inputs and outputs): one strategy on a user's
  file, fed ``input`` (a ``.npz`` of the named input arrays, used as they are); the result
  carries every output by name;
- ``{"op": "describe", "id", "root", "fixture"}``: what a user's model takes and returns,
  read by loading it the plainest way here (``anymodel.describe``);
- ``{"op": "exit"}``.

Every attempt runs through ``run_attempt``, whatever the file. Attempts must not leak into
each other: each one starts from a cleared session, custom objects are passed per call
(never registered globally), the canary folder is per attempt, and the one FaceNet build
the weights-level strategies share gets its first weights back before every use
(``strategies.Context.architecture``). What is paid once per worker: the TensorFlow
import, that build, and the op kernels TensorFlow instantiates (clearing the session
keeps them). ``--isolate`` on the host runs one worker per attempt to prove that
verdicts do not depend on it.
"""

import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import OrderedDict

import numpy as np


def _open_protocol_channel():
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # from now on, prints (progress bars, TF logs) go to stderr
    sys.stdout = sys.stderr
    return channel


def _send(channel, message):
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def runtime_versions(ctx):
    versions = {
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "keras": ctx.version,
        "tensorflow": ctx.tf_version,
        "numpy": np.__version__,
        "keras_api": ctx.api,
    }
    try:
        import h5py

        versions["h5py"] = h5py.__version__
    except ImportError:
        versions["h5py"] = None
    return versions


def _inject_fault(request):
    """Test hook: COMPAT_INJECT_FAULT="segfault:<strategy>:<fixture>" or "hang:..."."""
    spec = os.environ.get("COMPAT_INJECT_FAULT", "")
    for item in filter(None, spec.split(";")):
        kind, strategy, fixture = item.split(":")
        if strategy == request["strategy"] and fixture == request["fixture"]["id"]:
            if kind == "segfault":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif kind == "hang":
                while True:
                    time.sleep(60)


WRAPPER_HEADERS = ("in user code:", "in converted code:")
CALL_WRAPPER = "Exception encountered when calling"


def first_line(exc):
    """The most informative line of an error: its first, unless a wrapper hides the real error.

    TF wraps it in a trace ("in user code:" ... "ValueError: ..."), whose last line names it;
    Keras 3 prefixes "Exception encountered when calling TFSMLayer.call().", whose next line
    that says something names it.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0] in WRAPPER_HEADERS and len(lines) > 1:
        return lines[-1][:500]
    if lines[0].startswith(CALL_WRAPPER):
        rest = [line for line in lines[1:] if not line.startswith(("Arguments received", "\u2022"))]
        return (lines[0] + " " + rest[0])[:500] if rest else lines[0][:500]
    return lines[0][:500]


def _error(exc):
    # The last frames of the traceback say where it failed.
    return {"type": type(exc).__name__, "message": first_line(exc), "traceback": traceback.format_exc()[-2000:]}


def stored_code_ran(marker):
    """Did code stored in the file run? Lines written by the project's own function
    (``module``: supplied by the caller) don't count; any other line came from the file.
    So does an empty marker: bytecode of another Python can run far enough to create the
    file and then fail before writing (3.8 bytecode under 3.9 and 3.10 does)."""
    try:
        with open(marker) as handle:
            lines = [line.strip() for line in handle]
    except OSError:
        return False
    return not any(lines) or any(line != "module" for line in lines if line)


def run_attempt(ctx, request, batch):
    """One strategy on one file: the result the host records, whatever the file.

    ``batch`` maps the model's input names to arrays (a fixture's one input is its
    prewhitened images). A fixture's result carries its embeddings; a user's file's
    (``request["spec"]``) every output by name.
    """
    from compat.inside import kerasapi, strategies

    strategy = strategies.BY_NAME[request["strategy"]]
    fixture = request["fixture"]
    result = {"id": request["id"]}
    reason = strategy.applies(ctx, fixture)
    if reason:
        result.update(status="not_applicable", reason=reason)
        return result
    result["recipe"] = strategy.render_recipe(ctx, fixture, request.get("spec"))
    canary_dir = tempfile.mkdtemp(prefix="compat-canary-")
    os.environ["COMPAT_CANARY_DIR"] = canary_dir
    marker = os.path.join(canary_dir, "canary-ran")
    try:
        kerasapi.clear_session()
        _inject_fault(request)
        started = time.time()
        try:
            call = strategy.load(ctx, request["root"], fixture)
            result["load_seconds"] = round(time.time() - started, 4)
            # Two readings: Keras 2 runs a Lambda while rebuilding the graph, Keras 3 (which
            # is given the output shape) only at the first call, which is still this attempt.
            result["code_executed"] = stored_code_ran(marker)
            started = time.time()
            outputs = call(batch)
            result["predict_seconds"] = round(time.time() - started, 4)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to record
            result.update(status="error", error=_error(exc))
            result.setdefault("code_executed", stored_code_ran(marker))
            result["code_executed_by_predict"] = stored_code_ran(marker)
            return result
        result.update(status="ok", code_executed_by_predict=stored_code_ran(marker))
        if "spec" in request:
            result["outputs"] = [
                {"name": name, "shape": list(value.shape), "values": np.asarray(value, dtype=np.float64).tolist()}
                for name, value in outputs
            ]
        else:
            result["embeddings"] = np.asarray(outputs[0][1], dtype=np.float64).tolist()
        return result
    finally:
        # No gc.collect() here: at ~0.25 s an attempt it was a quarter of a run's time, and
        # clear_session() already drops what Keras holds; Python collects the rest itself.
        ctx.end_attempt()
        os.environ.pop("COMPAT_CANARY_DIR", None)
        shutil.rmtree(canary_dir, ignore_errors=True)


def run_describe(ctx, request):
    from compat.inside import anymodel, kerasapi

    kerasapi.clear_session()
    try:
        return {
            "id": request["id"],
            "status": "ok",
            "interface": anymodel.describe(ctx, request["root"], request["fixture"]),
        }
    except Exception as exc:  # noqa: BLE001 - the host says what could not be read
        return {"id": request["id"], "status": "error", "error": _error(exc)}
    finally:
        ctx.end_attempt()


def read_batch(request):
    """The attempt's input batch, by the model's input names."""
    from compat.inside import facenet

    spec = request.get("spec")
    if spec is None:
        images = np.load(request["input"])["images"]
        return OrderedDict([("images", facenet.prewhiten_batch(images))])
    names = [item["name"] for item in spec["inputs"]]
    with np.load(request["input"], allow_pickle=False) as arrays:
        return OrderedDict((name, arrays[name]) for name in names)


def _collect_less():
    """Python's cycle collector, tuned for a process that makes and drops TF graphs all day.

    A SavedModel load allocates hundreds of thousands of objects, so with the default
    thresholds the collector ran many full passes per attempt over everything TensorFlow
    holds; it took about a sixth of a SavedModel attempt. What was imported is moved out of
    its sight (``gc.freeze``, Python 3.7+), and it runs after 50,000 new objects instead
    of 700. It still runs: memory stays bounded. What a strategy does is unchanged.
    """
    if hasattr(gc, "freeze"):
        gc.freeze()
    gc.set_threshold(50000, 20, 20)


def main():
    channel = _open_protocol_channel()
    from compat.inside import strategies

    ctx = strategies.Context()
    if ctx.tf_version:
        import tensorflow  # noqa: F401 - imported once here, not per attempt
    _collect_less()
    _send(
        channel,
        {"event": "ready", "pid": os.getpid(), "runtime": runtime_versions(ctx), "strategies": strategies.describe()},
    )
    batches = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "exit":
            break
        _send(channel, {"event": "started", "id": request["id"]})
        if request["op"] == "describe":
            _send(channel, dict(run_describe(ctx, request), event="result"))
            continue
        spec = request.get("spec")
        key = (request["input"], tuple(item["name"] for item in spec["inputs"]) if spec else None)
        if key not in batches:
            batches[key] = read_batch(request)
        _send(channel, dict(run_attempt(ctx, request, batches[key]), event="result"))
    channel.close()


if __name__ == "__main__":
    main()
