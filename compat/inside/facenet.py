"""The fixtures' FaceNet: the architecture file plus what only the harness needs.

The architecture itself (every variant and size, the custom objects, the Keras resolver,
prewhitening) lives in ``facenet_arch.py``, the one file a user takes beside a recipe; it
is re-exported here so the harness builds exactly what users are given. This module adds
the canary Lambda functions that show whether loading ran code stored in a file, the
seeded weights every producer gives its model, and the reference input.

Variants beyond the architecture file's: ``canary`` (the ``lambda`` model whose Lambda
leaves a marker file when it runs) and ``canarymodule`` (the same, saved by Keras 3 with
its function named by this module, as a crafted file would).
"""

import os
import zlib

import numpy as np

from compat.inside import facenet_arch
from compat.inside.facenet_arch import (  # noqa: F401 - the harness's names for them
    DEFAULT_SCALES,
    EMBEDDING_SIZE,
    INPUT_SHAPE,
    SIZES,
    VARIANTS,
    custom_classes,
    custom_objects,
    prewhiten,
    prewhiten_batch,
    scaling,
    triplet_loss,
)


def canary_scaling(x, scale):
    """``scaling`` that also leaves a marker file when COMPAT_CANARY_DIR is set.

    Harmless by design: it shows whether loading a file ran code stored in it. Each call
    appends one line: ``module`` when this very function ran (the caller supplied it, e.g.
    through ``custom_objects``), anything else when the body came out of the file's
    marshalled bytecode (a new code object; fixtures written before this distinction
    store a body that writes ``ran``). Self-contained, imports included: revived from a
    file, its globals are the loader's, not this module's.
    """
    import os
    import sys

    folder = os.environ.get("COMPAT_CANARY_DIR")
    if folder:
        own = getattr(sys.modules.get("compat.inside.facenet"), "canary_scaling", None)
        origin = "module" if getattr(own, "__code__", None) is sys._getframe().f_code else "file"
        try:
            with open(os.path.join(folder, "canary-ran"), "a") as marker:
                marker.write(origin + "\n")
        except OSError:
            pass
    return x * scale


def canary_imported(x, scale):
    """``scaling`` for the ``canarymodule`` fixture, whose config names this function by module.

    Never handed to a loader (it is not in ``custom_objects``): it runs only if a loader
    imports whatever module a file names, the form of CVE-2025-1550. Marker line: ``imported``.
    It always runs from this module, so unlike ``canary_scaling`` it may call a helper.
    """
    _leave_marker("imported")
    return x * scale


def _leave_marker(origin):
    folder = os.environ.get("COMPAT_CANARY_DIR")
    if folder:
        try:
            with open(os.path.join(folder, "canary-ran"), "a") as marker:
                marker.write(origin + "\n")
        except OSError:
            pass


CANARY_FUNCTIONS = {"canary": canary_scaling, "canarymodule": canary_imported}


def build(variant="lambda", size="tiny", scales=None, lambda_function=None):
    """Build the architecture (random initial weights: call ``seed_weights`` next).

    The canary variants are the ``lambda`` architecture with a canary as the Lambda function.
    """
    if variant in CANARY_FUNCTIONS:
        return facenet_arch.build("lambda", size, scales, lambda_function or CANARY_FUNCTIONS[variant])
    return facenet_arch.build(variant, size, scales, lambda_function)


def final_block8_name(size):
    return f"Block8_{SIZES[size][1][2] + 1}"


def up_projection_scales(size, scales=None):
    """``{up-projection layer name: residual scale}`` for every residual block."""
    scales = dict(DEFAULT_SCALES, **(scales or {}))
    n35, n17, n8 = SIZES[size][1]
    found = {}
    for block, count in (("Block35", n35), ("Block17", n17), ("Block8", n8)):
        for i in range(1, count + 1):
            found[f"{block}_{i}_Conv2d_1x1"] = scales[block]
    found[final_block8_name(size) + "_Conv2d_1x1"] = 1.0
    return found


def _seeded_values(layer_name, index, shape, kind, seed):
    rng = np.random.RandomState((zlib.crc32(layer_name.encode("utf-8")) + 7919 * index + seed) % (2**32))
    if kind == "kernel":
        fan_in = int(np.prod(shape[:-1]))
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    if kind == "bias":
        return rng.normal(0.0, 0.05, shape)
    if kind == "gamma":
        return 1.0 + rng.normal(0.0, 0.1, shape)
    if kind == "beta":
        return rng.normal(0.0, 0.1, shape)
    if kind == "moving_mean":
        return rng.normal(0.0, 0.2, shape)
    if kind == "moving_variance":
        return rng.uniform(0.5, 1.5, shape)
    raise ValueError(kind)


def _weight_kinds(layer, count):
    if layer.__class__.__name__ == "BatchNormalization":
        kinds = ["gamma", "beta", "moving_mean", "moving_variance"]
        return kinds[len(kinds) - count :]
    return ["kernel", "bias"][:count]


def seed_weights(model, variant, size="tiny", seed=0):
    """Give every layer weights that depend only on its name, the seed and the shape.

    The values are the same in every Keras version, so two producers' models compute
    the same function, and they are discriminative: scales, BatchNorm statistics and
    every kernel matter to the output.
    """
    folded = up_projection_scales(size) if variant == "builtin" else {}
    for layer in model.layers:
        current = layer.get_weights()
        if not current:
            continue
        kinds = _weight_kinds(layer, len(current))
        values = []
        for index, (weight, kind) in enumerate(zip(current, kinds)):
            value = _seeded_values(layer.name, index, weight.shape, kind, seed)
            if layer.name in folded:
                value = value * folded[layer.name]
            values.append(value.astype(np.float32))
        layer.set_weights(values)
    return model


REFERENCE_COUNT = 3


def reference_images(seed=0, count=REFERENCE_COUNT):
    """A seeded batch of face-sized uint8 images: smooth 8x8-pixel blobs.

    Blocky on purpose: the batch compresses to a few KB, so every fixture set can carry it.
    """
    rng = np.random.RandomState(seed + 1)
    low = rng.randint(0, 256, (count, 20, 20, 3))
    return low.repeat(8, axis=1).repeat(8, axis=2).astype(np.uint8)


def reference_input(seed=0, count=REFERENCE_COUNT):
    """The reference images, prewhitened as FaceNet expects them."""
    return prewhiten_batch(reference_images(seed, count))
