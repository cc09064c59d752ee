"""The floor a consumer run is measured against: the same loads, made bare.

``python -m compat.inside.bare PLAN.json`` imports TensorFlow once and makes exactly
the load and predict calls a run's applicable attempts made, in one process, with no
protocol, no timeouts, no session clearing and no result records. It prints the
seconds it took from interpreter start, TensorFlow import included.
"""
import json
import sys
import time

STARTED = time.time()


def main(plan_path):
    import numpy as np

    from compat.inside import facenet, kerasapi, strategies
    ctx = strategies.Context()
    if ctx.tf_version:
        import tensorflow  # noqa: F401
    with open(plan_path) as handle:
        plan = json.load(handle)
    inputs = {}
    for item in plan:
        if item["input"] not in inputs:
            inputs[item["input"]] = facenet.prewhiten_batch(np.load(item["input"])["images"])
        strategy = strategies.BY_NAME[item["strategy"]]
        try:
            strategy.load(ctx, item["root"], item["fixture"])(inputs[item["input"]])
        except Exception:  # noqa: BLE001, S110 - failing loads cost time in the run too
            pass
    kerasapi.keras()
    print(json.dumps({"seconds": time.time() - STARTED, "attempts": len(plan)}))


if __name__ == "__main__":
    main(sys.argv[1])
