"""The worker for a user's own files: the fixtures' worker protocol, for any model.

``python -m compat.inside.userworker`` speaks the protocol of ``worker.py`` (one JSON object
per line; ``ready`` once, then ``started`` and ``result`` per request) with two requests:

- ``{"op": "describe", "id", "root", "fixture"}``: what the model takes and returns, read
  by loading it the plainest way here (``anymodel.describe``), for a file whose interface
  the host could not read;
- ``{"op": "attempt", "id", "root", "fixture", "strategy", "input", "spec"}``: one strategy
  on the file, fed ``input`` (a ``.npz`` of the named input arrays, used as they are);
  the result carries every output by name, the recipe written for this file and
  whether code stored in the file ran.

It is apart from ``worker.py`` so that the fixtures' attempts, whose keys digest the code
that runs them, do not depend on it.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import traceback

import numpy as np

from compat.inside import worker as protocol

CALL_WRAPPER = "Exception encountered when calling"


def _error(exc):
    return {"type": type(exc).__name__, "message": first_line(exc), "traceback": traceback.format_exc()[-2000:]}


def first_line(exc):
    """The worker's first line, unless Keras 3 wrapped the real error ("Exception encountered
    when calling TFSMLayer.call()."), whose next line that says something names it."""
    line = protocol._first_line(exc)
    if not line.startswith(CALL_WRAPPER):
        return line
    rest = [
        part.strip()
        for part in str(exc).splitlines()[1:]
        if part.strip() and not part.strip().startswith(("Arguments received", "•", "\u2022"))
    ]
    return (line + " " + rest[0])[:500] if rest else line


def run_attempt(ctx, request, batch):
    from compat.inside import anymodel, kerasapi, strategies

    strategy = strategies.BY_NAME[request["strategy"]]
    fixture = request["fixture"]
    result = {"id": request["id"]}
    reason = strategy.applies(ctx, fixture) or (
        None if fixture.get("facenet") else anymodel.not_facenet_reason(ctx, strategy, fixture)
    )
    if reason:
        result.update(status="not_applicable", reason=reason)
        return result
    spec = request["spec"]
    result["recipe"] = (
        strategy.render_recipe(ctx, fixture)
        if fixture.get("facenet")
        else anymodel.recipe(ctx, strategy.name, fixture, spec)
    )
    canary_dir = tempfile.mkdtemp(prefix="compat-canary-")
    os.environ["COMPAT_CANARY_DIR"] = canary_dir
    marker = os.path.join(canary_dir, "canary-ran")
    try:
        kerasapi.clear_session()
        protocol._inject_fault(request)
        started = time.time()
        try:
            call = anymodel.load(ctx, strategy.name, request["root"], fixture)
            result["load_seconds"] = round(time.time() - started, 4)
            result["code_executed"] = protocol.stored_code_ran(marker)
            started = time.time()
            outputs = call(batch)
            result["predict_seconds"] = round(time.time() - started, 4)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to record
            result.update(status="error", error=_error(exc))
            result.setdefault("code_executed", protocol.stored_code_ran(marker))
            result["code_executed_by_predict"] = protocol.stored_code_ran(marker)
            return result
        result.update(
            status="ok",
            code_executed_by_predict=protocol.stored_code_ran(marker),
            outputs=[
                {"name": name, "shape": list(value.shape), "values": np.asarray(value, dtype=np.float64).tolist()}
                for name, value in outputs
            ],
        )
        return result
    finally:
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


def read_batch(path, names):
    """The named input arrays of a ``.npz``, in the order the host gives."""
    with np.load(path, allow_pickle=False) as arrays:
        return [(name, arrays[name]) for name in names]


def main():
    channel = protocol._open_protocol_channel()
    from compat.inside import strategies

    ctx = strategies.Context()
    if ctx.tf_version:
        import tensorflow  # noqa: F401 - imported once here, not per attempt
    protocol._collect_less()
    protocol._send(
        channel,
        {
            "event": "ready",
            "pid": os.getpid(),
            "runtime": protocol.runtime_versions(ctx),
            "strategies": strategies.describe(),
        },
    )
    batches = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "exit":
            break
        protocol._send(channel, {"event": "started", "id": request["id"]})
        if request["op"] == "describe":
            protocol._send(channel, dict(run_describe(ctx, request), event="result"))
            continue
        names = tuple(item["name"] for item in request["spec"]["inputs"])
        key = (request["input"], names)
        if key not in batches:
            from collections import OrderedDict

            batches[key] = OrderedDict(read_batch(request["input"], names))
        protocol._send(channel, dict(run_attempt(ctx, request, batches[key]), event="result"))
    channel.close()


if __name__ == "__main__":
    main()
