"""A FaceNet-like Inception-ResNet-v1 with the layer names of the shared facenet_keras.h5.

The same code builds the model under standalone Keras 2.1.2 (TF 1.3, Python 3.6),
tf.keras 1.15-2.15, tf_keras and Keras 3 on any backend. ``size="full"`` is the true
22.8M-parameter model layer for layer, including the unnamed ``Lambda`` / ``add``
layers whose automatic names (``lambda_1``, ``add_1`` in Keras 2) come from the
version that builds it; ``size="tiny"`` keeps every stage and every name but is narrow
and has one block per repeat, so committed fixtures stay small.

Variants, the ways people really saved such models:

- ``builtin``: built-in layers only; each residual scale is folded into the weights of
  the block's 1x1 up-projection instead of being a layer.
- ``lambda``: ``Lambda(scaling, arguments={"scale": s})`` as in the original.
- ``custom``: custom ``ScaleLayer`` and ``L2Normalize`` classes (need ``custom_objects``).
- ``compiled``: the ``lambda`` model compiled with a custom triplet loss and saved with
  optimizer state after one training step.
"""
import os
import zlib

import numpy as np

from compat.inside import kerasapi

VARIANTS = ("builtin", "lambda", "custom", "compiled")
EMBEDDING_SIZE = 128
INPUT_SHAPE = (160, 160, 3)
DEFAULT_SCALES = {"Block35": 0.17, "Block17": 0.1, "Block8": 0.2}

# (width divisor, repeats of Block35, Block17, Block8 before the final Block8)
SIZES = {"full": (1, (5, 10, 5)), "tiny": (32, (1, 1, 1))}


def scaling(x, scale):
    """The residual scaling the original model runs through a Lambda layer."""
    return x * scale


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


def triplet_loss(y_true, y_pred):
    """FaceNet's triplet loss over a batch laid out as anchor, positive, negative, ..."""
    ops = kerasapi.backend_ops()
    anchor, positive, negative = y_pred[0::3], y_pred[1::3], y_pred[2::3]
    pos = ops.sum(ops.square(anchor - positive), axis=-1)
    neg = ops.sum(ops.square(anchor - negative), axis=-1)
    return ops.mean(ops.maximum(pos - neg + 0.2, 0.0))


_classes = {}


def custom_classes():
    """The custom layer classes, created on first use (they subclass this Keras's Layer)."""
    if not _classes:
        keras = kerasapi.keras()
        ops = kerasapi.backend_ops()

        class ScaleLayer(keras.layers.Layer):
            def __init__(self, scale=1.0, **kwargs):
                super(ScaleLayer, self).__init__(**kwargs)
                self.scale = float(scale)

            def call(self, inputs):
                return inputs * self.scale

            def compute_output_shape(self, input_shape):
                return input_shape

            def get_config(self):
                config = super(ScaleLayer, self).get_config()
                config["scale"] = self.scale
                return config

        class L2Normalize(keras.layers.Layer):
            def __init__(self, epsilon=1e-10, **kwargs):
                super(L2Normalize, self).__init__(**kwargs)
                self.epsilon = float(epsilon)

            def call(self, inputs):
                squared = ops.sum(ops.square(inputs), axis=-1, keepdims=True)
                return inputs / ops.sqrt(ops.maximum(squared, self.epsilon))

            def compute_output_shape(self, input_shape):
                return input_shape

            def get_config(self):
                config = super(L2Normalize, self).get_config()
                config["epsilon"] = self.epsilon
                return config

        _classes.update(ScaleLayer=ScaleLayer, L2Normalize=L2Normalize)
    return _classes


def custom_objects():
    """Everything a loader must be told about to rebuild any variant."""
    objects = dict(custom_classes())
    objects.update(scaling=scaling, canary_scaling=canary_scaling, triplet_loss=triplet_loss)
    return objects


class _Builder(object):
    def __init__(self, variant, size, scales, lambda_function):
        if variant not in VARIANTS and variant not in CANARY_FUNCTIONS:
            raise ValueError("unknown variant %r" % (variant,))
        self.keras = kerasapi.keras()
        self.layers = self.keras.layers
        self.variant = variant
        self.divisor, self.repeats = SIZES[size]
        self.scales = dict(DEFAULT_SCALES, **(scales or {}))
        self.lambda_function = lambda_function

    def width(self, filters):
        return max(2, filters // self.divisor)

    def conv_bn(self, x, filters, kernel_size, name, strides=1, padding="same",
                activation="relu", use_bias=False, exact_filters=False):
        L = self.layers
        filters = filters if exact_filters else self.width(filters)
        x = L.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                     use_bias=use_bias, name=name)(x)
        if not use_bias:
            x = L.BatchNormalization(axis=3, momentum=0.995, epsilon=0.001, scale=False,
                                     name=name + "_BatchNorm")(x)
        if activation is not None:
            x = L.Activation(activation, name=name + "_Activation")(x)
        return x

    def residual(self, x, scale, block_type, index, activation="relu"):
        L = self.layers
        prefix = "%s_%d" % (block_type, index)

        def branch(i, name):
            return "%s_Branch_%d_%s" % (prefix, i, name)

        if block_type == "Block35":
            b0 = self.conv_bn(x, 32, 1, branch(0, "Conv2d_1x1"))
            b1 = self.conv_bn(x, 32, 1, branch(1, "Conv2d_0a_1x1"))
            b1 = self.conv_bn(b1, 32, 3, branch(1, "Conv2d_0b_3x3"))
            b2 = self.conv_bn(x, 32, 1, branch(2, "Conv2d_0a_1x1"))
            b2 = self.conv_bn(b2, 32, 3, branch(2, "Conv2d_0b_3x3"))
            b2 = self.conv_bn(b2, 32, 3, branch(2, "Conv2d_0c_3x3"))
            branches = [b0, b1, b2]
        elif block_type == "Block17":
            b0 = self.conv_bn(x, 128, 1, branch(0, "Conv2d_1x1"))
            b1 = self.conv_bn(x, 128, 1, branch(1, "Conv2d_0a_1x1"))
            b1 = self.conv_bn(b1, 128, [1, 7], branch(1, "Conv2d_0b_1x7"))
            b1 = self.conv_bn(b1, 128, [7, 1], branch(1, "Conv2d_0c_7x1"))
            branches = [b0, b1]
        else:
            b0 = self.conv_bn(x, 192, 1, branch(0, "Conv2d_1x1"))
            b1 = self.conv_bn(x, 192, 1, branch(1, "Conv2d_0a_1x1"))
            b1 = self.conv_bn(b1, 192, [1, 3], branch(1, "Conv2d_0b_1x3"))
            b1 = self.conv_bn(b1, 192, [3, 1], branch(1, "Conv2d_0c_3x1"))
            branches = [b0, b1]
        mixed = L.Concatenate(axis=3, name=prefix + "_Concatenate")(branches)
        channels = kerasapi.int_shape(x)[3]
        up = self.conv_bn(mixed, channels, 1, prefix + "_Conv2d_1x1", activation=None,
                          use_bias=True, exact_filters=True)
        if self.variant == "builtin":
            pass  # the scale lives in the up-projection's weights (see seed_weights)
        elif self.variant == "custom":
            up = custom_classes()["ScaleLayer"](scale, name=prefix + "_ScaleSum")(up)
        else:
            # Unnamed, as in the original: Keras names it lambda_N itself.
            up = L.Lambda(self.lambda_function, output_shape=kerasapi.int_shape(up)[1:],
                          arguments={"scale": scale})(up)
        x = L.add([x, up])
        if activation is not None:
            x = L.Activation(activation, name=prefix + "_Activation")(x)
        return x

    def build(self):
        L = self.layers
        inputs = L.Input(shape=INPUT_SHAPE)
        x = self.conv_bn(inputs, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
        x = self.conv_bn(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
        x = self.conv_bn(x, 64, 3, "Conv2d_2b_3x3")
        x = L.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
        x = self.conv_bn(x, 80, 1, "Conv2d_3b_1x1", padding="valid")
        x = self.conv_bn(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
        x = self.conv_bn(x, 256, 3, "Conv2d_4b_3x3", strides=2, padding="valid")
        n35, n17, n8 = self.repeats
        for i in range(1, n35 + 1):
            x = self.residual(x, self.scales["Block35"], "Block35", i)

        def mixed(name, i, part):
            return "%s_Branch_%d_%s" % (name, i, part)

        b0 = self.conv_bn(x, 384, 3, mixed("Mixed_6a", 0, "Conv2d_1a_3x3"), strides=2, padding="valid")
        b1 = self.conv_bn(x, 192, 1, mixed("Mixed_6a", 1, "Conv2d_0a_1x1"))
        b1 = self.conv_bn(b1, 192, 3, mixed("Mixed_6a", 1, "Conv2d_0b_3x3"))
        b1 = self.conv_bn(b1, 256, 3, mixed("Mixed_6a", 1, "Conv2d_1a_3x3"), strides=2, padding="valid")
        bp = L.MaxPooling2D(3, strides=2, padding="valid", name=mixed("Mixed_6a", 2, "MaxPool_1a_3x3"))(x)
        x = L.Concatenate(axis=3, name="Mixed_6a")([b0, b1, bp])
        for i in range(1, n17 + 1):
            x = self.residual(x, self.scales["Block17"], "Block17", i)

        b0 = self.conv_bn(x, 256, 1, mixed("Mixed_7a", 0, "Conv2d_0a_1x1"))
        b0 = self.conv_bn(b0, 384, 3, mixed("Mixed_7a", 0, "Conv2d_1a_3x3"), strides=2, padding="valid")
        b1 = self.conv_bn(x, 256, 1, mixed("Mixed_7a", 1, "Conv2d_0a_1x1"))
        b1 = self.conv_bn(b1, 256, 3, mixed("Mixed_7a", 1, "Conv2d_1a_3x3"), strides=2, padding="valid")
        b2 = self.conv_bn(x, 256, 1, mixed("Mixed_7a", 2, "Conv2d_0a_1x1"))
        b2 = self.conv_bn(b2, 256, 3, mixed("Mixed_7a", 2, "Conv2d_0b_3x3"))
        b2 = self.conv_bn(b2, 256, 3, mixed("Mixed_7a", 2, "Conv2d_1a_3x3"), strides=2, padding="valid")
        bp = L.MaxPooling2D(3, strides=2, padding="valid", name=mixed("Mixed_7a", 3, "MaxPool_1a_3x3"))(x)
        x = L.Concatenate(axis=3, name="Mixed_7a")([b0, b1, b2, bp])
        for i in range(1, n8 + 1):
            x = self.residual(x, self.scales["Block8"], "Block8", i)
        x = self.residual(x, 1.0, "Block8", n8 + 1, activation=None)

        x = L.GlobalAveragePooling2D(name="AvgPool")(x)
        x = L.Dropout(0.2, name="Dropout")(x)
        x = L.Dense(EMBEDDING_SIZE, use_bias=False, name="Bottleneck")(x)
        x = L.BatchNormalization(momentum=0.995, epsilon=0.001, scale=False,
                                 name="Bottleneck_BatchNorm")(x)
        if self.variant == "custom":
            x = custom_classes()["L2Normalize"](name="L2Normalize")(x)
        return self.keras.models.Model(inputs, x, name="inception_resnet_v1")


def build(variant="lambda", size="tiny", scales=None, lambda_function=None):
    """Build the architecture (random initial weights: call ``seed_weights`` next)."""
    builder = _Builder(variant, size, scales,
                       lambda_function or CANARY_FUNCTIONS.get(variant, scaling))
    model = builder.build()
    if variant == "compiled":
        model.compile(optimizer="adam", loss=triplet_loss)
    return model


def final_block8_name(size):
    return "Block8_%d" % (SIZES[size][1][2] + 1)


def up_projection_scales(size, scales=None):
    """``{up-projection layer name: residual scale}`` for every residual block."""
    scales = dict(DEFAULT_SCALES, **(scales or {}))
    n35, n17, n8 = SIZES[size][1]
    found = {}
    for block, count in (("Block35", n35), ("Block17", n17), ("Block8", n8)):
        for i in range(1, count + 1):
            found["%s_%d_Conv2d_1x1" % (block, i)] = scales[block]
    found[final_block8_name(size) + "_Conv2d_1x1"] = 1.0
    return found


def _seeded_values(layer_name, index, shape, kind, seed):
    rng = np.random.RandomState((zlib.crc32(layer_name.encode("utf-8")) + 7919 * index + seed) % (2 ** 32))
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
        return kinds[len(kinds) - count:]
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


def reference_images(seed=0, count=3):
    """A seeded batch of face-sized uint8 images: smooth 8x8-pixel blobs.

    Blocky on purpose: the batch compresses to a few KB, so every fixture set can carry it.
    """
    rng = np.random.RandomState(seed + 1)
    low = rng.randint(0, 256, (count, 20, 20, 3))
    return low.repeat(8, axis=1).repeat(8, axis=2).astype(np.uint8)


def reference_input(seed=0, count=3):
    """The reference images, prewhitened as FaceNet expects them."""
    return prewhiten_batch(reference_images(seed, count))


def prewhiten_batch(images):
    return np.stack([prewhiten(image.astype(np.float64)) for image in images]).astype(np.float32)


def prewhiten(image):
    """FaceNet's per-image standardisation."""
    mean, std = image.mean(), image.std()
    std_adj = max(std, 1.0 / np.sqrt(image.size))
    return (image - mean) / std_adj
