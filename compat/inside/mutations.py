"""Copies of the reference model with one thing wrong, to prove the numeric check bites.

``python -m compat.inside.mutations`` prints, as JSON, the embeddings of the reference
input under the untouched ``lambda`` model and under three broken copies: one residual
scale wrong, two layers' weights swapped, BatchNorm moving statistics reset. The host
compares each with the producer's committed reference.
"""

import json
import sys

import numpy as np

from compat.inside import facenet, kerasapi, strategies

SWAPPED = ("Block35_1_Branch_1_Conv2d_0b_3x3", "Block35_1_Branch_2_Conv2d_0b_3x3")


def _model(scales=None):
    kerasapi.clear_session()
    model = facenet.build("lambda", "tiny", scales=scales)
    return facenet.seed_weights(model, "lambda", "tiny")


def _swap(model):
    first, second = (model.get_layer(name) for name in SWAPPED)
    a, b = first.get_weights(), second.get_weights()
    first.set_weights(b)
    second.set_weights(a)
    # and their BatchNorms, so the swap is of whole conv+BN units
    first_bn, second_bn = (model.get_layer(name + "_BatchNorm") for name in SWAPPED)
    a, b = first_bn.get_weights(), second_bn.get_weights()
    first_bn.set_weights(b)
    second_bn.set_weights(a)
    return model


def _reset_batchnorm(model):
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            values = layer.get_weights()
            # scale=False: [beta, moving_mean, moving_variance]
            values[-2] = np.zeros_like(values[-2])
            values[-1] = np.ones_like(values[-1])
            layer.set_weights(values)
    return model


def main():
    batch = facenet.reference_input()
    models = {
        "untouched": _model,
        "wrong_residual_scale": lambda: _model(scales={"Block35": 1.0}),
        "swapped_layers": lambda: _swap(_model()),
        "batchnorm_reset": lambda: _reset_batchnorm(_model()),
    }
    ctx = strategies.Context()
    out = {}
    for name, make in models.items():
        # The forward pass every attempt's check uses.
        out[name] = np.asarray(strategies.embeddings(ctx, make(), batch), dtype=np.float64).tolist()
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
