"""An independent check of the harness's FaceNet verdicts: load a fixture file the plainest
way the stack offers and compare its numbers with the producer's own reference.

It imports nothing of the project: run it with the consumer environment's interpreter and
``-I`` (no script folder, no PYTHONPATH, no user site on sys.path), so a bug in the
harness's strategies, worker, preprocessing or numeric check cannot leak into its answer.

    python -I plain_load.py --input input.npz --reference lambda.npy \\
        --mode load_model MODEL_PATH [--mode no_compile MODEL_PATH ...]

``--input`` is the producer's reference batch (an .npz holding uint8 ``images``), which is
standardised here per image as FaceNet expects; ``--reference`` the embeddings the producer
computed from it. Several cases may share one process (one TensorFlow import); the
session is cleared between them, as a user loading several files in one script would.
Each case prints one JSON line: ``{"path", "mode", "verdict": "pass" | "mismatch" |
"error", "max_abs_diff", "stage": "load" | "predict", "error": {"type", "message"}}``
(the message's first line; ``stage`` says whether ``load_model`` returned). With
``--canary-dir``, also ``code_ran_at_load`` and ``code_ran`` (by the end of the case): the
fixtures' canary Lambda appends to ``canary-ran`` in that folder whenever it runs.
Written for CPython 3.6 and up.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

TOLERANCE = 1e-4  # max |diff| <= TOLERANCE * max(1, max |reference|)


def keras_module():
    """The Keras a user of this environment imports: the ``keras`` package where there is one
    (standalone Keras 2, the Keras 2.x TensorFlow ships beside itself, Keras 3), else
    TensorFlow's own ``tf.keras`` (TF 1.15 alone)."""
    try:
        import keras

        return keras
    except ImportError:
        from tensorflow import keras

        return keras


def standardised(images):
    """Each image minus its mean, over its standard deviation (not below 1/sqrt(pixels))."""
    out = []
    for image in np.asarray(images, dtype=np.float64):
        spread = max(float(image.std()), 1.0 / np.sqrt(image.size))
        out.append((image - image.mean()) / spread)
    return np.stack(out).astype(np.float32)


def first_line(exc):
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def judge(reference, output):
    output = np.asarray(output, dtype=np.float64)
    if output.shape != reference.shape:
        return {
            "verdict": "mismatch",
            "max_abs_diff": None,
            "detail": f"shape {list(output.shape)} against {list(reference.shape)}",
        }
    if not np.all(np.isfinite(output)):
        return {"verdict": "mismatch", "max_abs_diff": None, "detail": "NaN or infinity"}
    worst = float(np.max(np.abs(output - reference)))
    limit = TOLERANCE * max(1.0, float(np.max(np.abs(reference))))
    return {"verdict": "pass" if worst <= limit else "mismatch", "max_abs_diff": worst}


def load(keras, mode, path):
    if mode == "load_model":
        return keras.models.load_model(path)
    if mode == "no_compile":
        return keras.models.load_model(path, compile=False)
    raise SystemExit(f"unknown mode {mode!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--mode", nargs=2, action="append", metavar=("MODE", "PATH"), required=True)
    parser.add_argument(
        "--canary-dir",
        default=None,
        help="a folder for the marker the fixtures' canary Lambda leaves when it runs "
        "(it reads COMPAT_CANARY_DIR); each case then says when stored code ran",
    )
    args = parser.parse_args()
    if args.canary_dir:
        os.environ["COMPAT_CANARY_DIR"] = args.canary_dir
    batch = standardised(np.load(args.input)["images"])
    reference = np.asarray(np.load(args.reference), dtype=np.float64)
    keras = keras_module()
    for mode, path in args.mode:
        case = {"path": path, "mode": mode, "stage": "load"}
        marker = os.path.join(args.canary_dir, "canary-ran") if args.canary_dir else None
        if marker and os.path.exists(marker):
            os.remove(marker)
        try:
            keras.backend.clear_session()
            model = load(keras, mode, path)
            case["stage"] = "predict"
            if marker:
                case["code_ran_at_load"] = os.path.exists(marker)
            output = model.predict(batch, verbose=0)
            case.update(judge(reference, output))
        except Exception as exc:  # noqa: BLE001 - a failed load is the answer
            case.update(
                verdict="error", max_abs_diff=None, error={"type": type(exc).__name__, "message": first_line(exc)}
            )
        if marker:
            case.setdefault("code_ran_at_load", os.path.exists(marker))
            case["code_ran"] = os.path.exists(marker)
        sys.stdout.write(json.dumps(case) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
