"""Write one producer's fixture set: every variant in every format it can write.

Run inside a catalog environment:
``python -m compat.inside.generate OUT_DIR [--size tiny|full] [--variants a,b]``.
It writes the model files, ``reference/input.npy``, ``reference/<variant>.npy`` (the
embeddings this producer computed) and ``manifest.json`` (provenance and, per file,
variant, format, size and sha256; per format it could not write, the reason).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
import time
import traceback

import numpy as np

from compat.inside import facenet, hostile, kerasapi, savers

MANIFEST_SCHEMA = 1
SEED = 0

# Which formats each variant is saved in. A compiled model's point is its compile state,
# which weights-only files and bare JSON don't carry.
VARIANT_FORMATS = {
    "builtin": savers.FORMATS,
    "lambda": savers.FORMATS,
    "custom": savers.FORMATS,
    "compiled": ("h5", "savedmodel", "keras"),
    "canary": ("h5", "json", "savedmodel", "keras"),
    "canarymodule": ("keras",),
    "tf1graph": savers.TF1_FORMATS,
}
# Variants whose files are written differently from the format's usual writer.
SPECIAL_WRITERS = {("canarymodule", "keras"): savers.save_keras_naming_module}
# Variants saved as a TF 1 graph (FaceNet's own distribution), not as a Keras model: the
# Keras variant the graph is made of.
GRAPH_VARIANTS = {"tf1graph": "builtin"}


def package_versions():
    versions = {
        "python": platform.python_version(),
        "keras": kerasapi.version(),
        "tensorflow": kerasapi.tf_version(),
        "numpy": np.__version__,
    }
    try:
        import h5py

        versions["h5py"] = h5py.__version__
    except ImportError:
        versions["h5py"] = None
    try:
        import jax

        versions["jax"] = jax.__version__
    except ImportError:
        pass
    return versions


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(paths, root):
    """Every file written, directories expanded, with size and sha256."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    found.append(os.path.join(folder, name))
        else:
            found.append(path)
    return [{"path": os.path.relpath(p, root), "bytes": os.path.getsize(p), "sha256": sha256_of(p)} for p in found]


def _seeded(variant, size):
    model = facenet.build(variant, size)
    facenet.seed_weights(model, variant, size, seed=SEED)
    return model


def build_variant(variant, size):
    """The model to save: a seeded Keras model, or for a graph variant a ``savers.Tf1Graph``
    (which raises ``savers.NotWritable`` where this producer does not write one)."""
    kerasapi.clear_session()
    kerasapi.set_random_seed(SEED)
    if variant in GRAPH_VARIANTS:
        return savers.Tf1Graph(lambda: _seeded(GRAPH_VARIANTS[variant], size))
    if variant in hostile.VARIANTS:
        # The lambda model with the attacking function in its Lambdas: same weights, same numbers.
        model = facenet.build("lambda", size, lambda_function=hostile.hostile_scaling)
        facenet.seed_weights(model, "lambda", size, seed=SEED)
        return model
    model = _seeded(variant, size)
    if variant == "compiled":
        # One training step, so the file carries optimizer state as a trained model's does.
        batch = facenet.reference_input(SEED)
        model.train_on_batch(batch, np.zeros((len(batch), facenet.EMBEDDING_SIZE), np.float32))
    return model


def fixture_entry(variant, fmt, written, out_dir):
    """The manifest's entry for the files ``written`` of one variant in one format."""
    entry = {
        "id": f"{variant}-{fmt}",
        "variant": variant,
        "format": fmt,
        "path": os.path.relpath(written[0], out_dir),
        "weights": os.path.relpath(written[1], out_dir) if len(written) > 1 else None,
        "kind": "weights" if fmt in savers.WEIGHTS_ONLY else "model",
        "files": describe_files(written, out_dir),
    }
    if fmt in savers.TF1_FORMATS:
        entry.update(savers.tf1_entry(fmt, written, out_dir))
    return entry


def generate(out_dir, size="tiny", variants=None, log=sys.stderr):
    reference_dir = os.path.join(out_dir, "reference")
    if not os.path.isdir(reference_dir):
        os.makedirs(reference_dir)
    images = facenet.reference_images(SEED)
    np.savez_compressed(os.path.join(reference_dir, "input.npz"), images=images)
    batch = facenet.prewhiten_batch(images)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "producer": os.environ.get("COMPAT_ENV_ID", "unknown"),
        "keras_api": kerasapi.api_name(),
        "versions": package_versions(),
        "platform": platform.platform(),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "size": size,
        "seed": SEED,
        "parameters": None,
        "reference": {"input": "reference/input.npz", "preprocessing": "prewhiten", "embeddings": {}},
        "fixtures": [],
        "not_written": [],
    }
    for variant in variants or list(VARIANT_FORMATS):
        started = time.time()
        try:
            model = build_variant(variant, size)
        except savers.NotWritable as reason:
            for fmt in VARIANT_FORMATS[variant]:
                manifest["not_written"].append({"variant": variant, "format": fmt, "reason": str(reason)})
            log.write(f"[generate] {variant} not written here: {reason}\n")
            continue
        manifest["parameters"] = int(model.count_params())
        embeddings = np.asarray(model.predict(batch), dtype=np.float32)
        ref_path = os.path.join("reference", variant + ".npy")
        np.save(os.path.join(out_dir, ref_path), embeddings)
        manifest["reference"]["embeddings"][variant] = ref_path
        for fmt in VARIANT_FORMATS.get(variant) or hostile.VARIANTS[variant]:
            try:
                written = SPECIAL_WRITERS.get((variant, fmt), savers.WRITERS[fmt])(model, out_dir, variant)
            except savers.NotWritable as reason:
                manifest["not_written"].append({"variant": variant, "format": fmt, "reason": str(reason)})
                continue
            except Exception as exc:  # noqa: BLE001 - a failed save is a finding to record
                first = (str(exc).strip().splitlines() or [""])[0]
                manifest["not_written"].append(
                    {
                        "variant": variant,
                        "format": fmt,
                        "reason": f"saving failed: {type(exc).__name__}: {first[:300]}",
                    }
                )
                log.write(traceback.format_exc())
                continue
            manifest["fixtures"].append(fixture_entry(variant, fmt, written, out_dir))
        if not any(f["variant"] == variant for f in manifest["fixtures"]):
            # Nothing of this variant could be written here (canarymodule under Keras 2):
            # no file refers to a reference, so none is kept.
            os.remove(os.path.join(out_dir, ref_path))
            del manifest["reference"]["embeddings"][variant]
        log.write(f"[generate] {variant} done in {time.time() - started:.1f}s\n")
    with open(os.path.join(out_dir, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--size", default="tiny", choices=sorted(facenet.SIZES))
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated subset; `hostile` (the sandbox test's attacker) only when named",
    )
    args = parser.parse_args(argv)
    variants = args.variants.split(",") if args.variants else None
    manifest = generate(args.out_dir, args.size, variants)
    print(json.dumps({"fixtures": len(manifest["fixtures"]), "not_written": len(manifest["not_written"])}))


if __name__ == "__main__":
    main()
