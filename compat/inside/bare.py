"""The floor a consumer run is measured against: the honest lower bound of its attempts.

``python -m compat.inside.bare PLAN.json`` imports TensorFlow once, then for each of a
run's applicable attempts makes that strategy's load, one forward pass (the strategy's
own, as in a run) and the numeric check against the reference, in one process, with no
protocol, no timeouts, no canary folder and no result records. It keeps what any long
process of loads needs, as the worker does: the session cleared between loads (Keras'
global state otherwise grows and every later load slows) and the collector tuned. It
prints the seconds it took from interpreter start, TensorFlow import included.
"""

import json
import sys
import time

STARTED = time.time()


def check(reference, actual):
    """What the host's check computes: max |difference| and the lowest row cosine."""
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    difference = float(np.max(np.abs(actual - reference)))
    norms = np.linalg.norm(actual, axis=1) * np.linalg.norm(reference, axis=1)
    cosine = float(np.min(np.sum(actual * reference, axis=1) / np.where(norms == 0, 1.0, norms)))
    return difference, cosine


def main(plan_path):
    import numpy as np

    from compat.inside import facenet, kerasapi, strategies
    from compat.inside.worker import _collect_less

    ctx = strategies.Context()
    if ctx.tf_version:
        import tensorflow  # noqa: F401
    _collect_less()
    with open(plan_path) as handle:
        plan = json.load(handle)
    inputs, references = {}, {}
    for item in plan:
        if item["input"] not in inputs:
            inputs[item["input"]] = facenet.prewhiten_batch(np.load(item["input"])["images"])
        if item["reference"] not in references:
            references[item["reference"]] = np.load(item["reference"]).astype(np.float64)
        strategy = strategies.BY_NAME[item["strategy"]]
        kerasapi.clear_session()
        try:
            embeddings = strategy.load(ctx, item["root"], item["fixture"])(inputs[item["input"]])
            check(references[item["reference"]], embeddings)
        except Exception:  # noqa: BLE001, S110 - failing loads cost time in the run too
            pass
        finally:
            ctx.end_attempt()
    kerasapi.keras()
    print(json.dumps({"seconds": time.time() - STARTED, "attempts": len(plan)}))


if __name__ == "__main__":
    main(sys.argv[1])
