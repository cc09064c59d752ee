"""FaceNet (Inception-ResNet-v1) in Keras, layer for layer as the widely shared facenet_keras.h5.

One file to keep beside your script. It needs numpy, a Keras and, for
``set_weights_from_file``, h5py; it runs on standalone Keras 2.1.2 with TF 1.3 (Python 3.6),
tf.keras 1.15-2.15, tf_keras, and Keras 3 on TensorFlow or JAX (Python 3.13)::

    import keras                    # or: from tensorflow import keras / import tf_keras as keras
    import facenet_arch
    facenet_arch.use(keras)         # optional: without it, facenet_arch picks a Keras itself
    model = facenet_arch.build("lambda", size="full")      # the real 22,808,144-parameter model
    model.load_weights("facenet_keras.h5")                  # or set_weights_from_file(model, path)
    embeddings = model.predict(facenet_arch.prewhiten_batch(faces))  # faces: uint8 (N, 160, 160, 3)

Sizes: ``full`` is the true model, including the unnamed ``Lambda`` / ``add`` layers whose
automatic names (``lambda_1``, ``add_1`` in Keras 2) come from the Keras that builds it;
``tiny`` keeps every stage and every layer name at 1/32 of the width with one block per
repeat (small test files).

Variants, the ways such models were saved:

- ``builtin``: built-in layers only; each residual scale is folded into the weights of the
  block's 1x1 up-projection instead of being a layer.
- ``lambda``: ``Lambda(scaling, arguments={"scale": s})`` as in the original.
- ``custom``: custom ``ScaleLayer`` and ``L2Normalize`` classes.
- ``compiled``: the ``lambda`` model compiled with FaceNet's triplet loss.

Loading a whole saved model that has custom parts needs ``custom_objects()``.
"""

import os
import re
import shutil
import tempfile
import zipfile

import numpy as np

VARIANTS = ("builtin", "lambda", "custom", "compiled")
EMBEDDING_SIZE = 128
INPUT_SHAPE = (160, 160, 3)
DEFAULT_SCALES = {"Block35": 0.17, "Block17": 0.1, "Block8": 0.2}

# (width divisor, repeats of Block35, Block17, Block8 before the final Block8)
SIZES = {"full": (1, (5, 10, 5)), "tiny": (32, (1, 1, 1))}


# -- which Keras -------------------------------------------------------------------------
# "keras" (standalone: 2.x on TF 1, 3.x), "tf.keras" or "tf_keras" (the Keras 2 package
# beside TF >= 2.16). The compat harness names it in COMPAT_KERAS_API.
_chosen = {"module": None, "api": None}


def use(module):
    """Build with this Keras module (``keras``, ``tensorflow.keras`` or ``tf_keras``)."""
    name = getattr(module, "__name__", "")
    if name.startswith("tf_keras"):
        api = "tf_keras"
    elif name == "keras":
        api = "keras"
    else:
        api = "tf.keras"
    _chosen.update(module=module, api=api)
    return module


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes")


def _detect_api():
    if _truthy(os.environ.get("TF_USE_LEGACY_KERAS", "")):
        try:
            import tf_keras  # noqa: F401

            return "tf_keras"
        except ImportError:
            pass
    try:
        import keras as standalone
    except ImportError:
        return "tf.keras"
    if int(str(getattr(standalone, "__version__", "2")).split(".")[0]) >= 3:
        return "keras"
    tf_major = (tf_version() or "1").split(".")[0]
    # Keras 2 beside TF 2 is tf.keras's own implementation: use it through TF.
    return "keras" if int(tf_major) < 2 else "tf.keras"


def api_name():
    if _chosen["api"] is None:
        _chosen["api"] = os.environ.get("COMPAT_KERAS_API") or _detect_api()
    return _chosen["api"]


def keras():
    """The Keras module everything here builds with."""
    if _chosen["module"] is None:
        api = api_name()
        if api == "tf.keras":
            import tensorflow as tf

            module = tf.keras
        elif api == "tf_keras":
            import tf_keras as module
        else:
            import keras as module
        _chosen["module"] = module
    return _chosen["module"]


def version():
    """Version string of the Keras in use (tf.keras 2.13+ has no ``__version__``)."""
    found = getattr(keras(), "__version__", None)
    if found:
        return found
    try:
        from importlib import metadata

        return metadata.version("keras")
    except Exception:  # noqa: BLE001 - Python 3.6/3.7 lack importlib.metadata
        return "unknown"


def major():
    return int(version().split(".")[0])


def is_keras3():
    return major() >= 3


def has_tensorflow():
    try:
        import tensorflow  # noqa: F401

        return True
    except ImportError:
        return False


def tf_version():
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return getattr(tf, "__version__", None) or tf.VERSION


def backend_ops():
    """Tensor maths for custom code: ``keras.ops`` in Keras 3, the backend module before."""
    k = keras()
    return k.ops if hasattr(k, "ops") else k.backend


def int_shape(tensor):
    """Static shape as a tuple of ints / None (Keras 3 dropped ``backend.int_shape``)."""
    backend = keras().backend
    if hasattr(backend, "int_shape"):
        return backend.int_shape(tensor)
    return tuple(tensor.shape)


def set_values(pairs):
    """Assign ``(variable, array)`` pairs at once: one session run under graph-mode Keras."""
    backend = keras().backend
    if hasattr(backend, "batch_set_value"):
        backend.batch_set_value(pairs)
    else:  # Keras 3 has no batch_set_value; its variables assign eagerly
        for variable, value in pairs:
            variable.assign(value)


# -- the custom parts --------------------------------------------------------------------
def scaling(x, scale):
    """The residual scaling the original model runs through a Lambda layer."""
    return x * scale


def triplet_loss(y_true, y_pred):
    """FaceNet's triplet loss over a batch laid out as anchor, positive, negative, ..."""
    ops = backend_ops()
    anchor, positive, negative = y_pred[0::3], y_pred[1::3], y_pred[2::3]
    pos = ops.sum(ops.square(anchor - positive), axis=-1)
    neg = ops.sum(ops.square(anchor - negative), axis=-1)
    return ops.mean(ops.maximum(pos - neg + 0.2, 0.0))


_classes = {}


def custom_classes():
    """``ScaleLayer`` and ``L2Normalize``, subclassing the Layer of the Keras in use.

    Made on first use, once per Keras module: they cannot exist before a Keras is chosen.
    Saved files name them by class name only, which is how loaders find them again.
    """
    k = keras()
    if id(k) not in _classes:
        ops = backend_ops()

        class ScaleLayer(k.layers.Layer):
            def __init__(self, scale=1.0, **kwargs):
                super().__init__(**kwargs)
                self.scale = float(scale)

            def call(self, inputs):
                return inputs * self.scale

            def compute_output_shape(self, input_shape):
                return input_shape

            def get_config(self):
                config = super().get_config()
                config["scale"] = self.scale
                return config

        class L2Normalize(k.layers.Layer):
            def __init__(self, epsilon=1e-10, **kwargs):
                super().__init__(**kwargs)
                self.epsilon = float(epsilon)

            def call(self, inputs):
                squared = ops.sum(ops.square(inputs), axis=-1, keepdims=True)
                return inputs / ops.sqrt(ops.maximum(squared, self.epsilon))

            def compute_output_shape(self, input_shape):
                return input_shape

            def get_config(self):
                config = super().get_config()
                config["epsilon"] = self.epsilon
                return config

        _classes[id(k)] = {"ScaleLayer": ScaleLayer, "L2Normalize": L2Normalize}
    return dict(_classes[id(k)])


def register():
    """Make ``ScaleLayer`` and ``L2Normalize`` known to this Keras by name, for a plain
    ``load_model(path)`` of a file that holds them (such as one ``compat convert`` wrote)."""
    k = keras()
    registry = (
        k.saving.get_custom_objects()
        if hasattr(k, "saving") and hasattr(k.saving, "get_custom_objects")
        else k.utils.get_custom_objects()
    )
    registry.update(custom_classes())


def custom_objects():
    """What ``load_model`` / ``model_from_json`` must be handed to rebuild any variant."""
    objects = custom_classes()
    objects.update(scaling=scaling, triplet_loss=triplet_loss)
    return objects


# -- the architecture --------------------------------------------------------------------
class _Builder:
    def __init__(self, variant, size, scales, lambda_function, scale_layers=False):
        if variant not in VARIANTS:
            raise ValueError("unknown variant {!r} (known: {})".format(variant, ", ".join(VARIANTS)))
        if size not in SIZES:
            raise ValueError("unknown size {!r} (known: {})".format(size, ", ".join(sorted(SIZES))))
        self.keras = keras()
        self.layers = self.keras.layers
        self.variant = variant
        self.divisor, self.repeats = SIZES[size]
        self.scales = dict(DEFAULT_SCALES, **(scales or {}))
        self.lambda_function = lambda_function
        self.scale_layers = scale_layers

    def width(self, filters):
        return max(2, filters // self.divisor)

    def conv_bn(
        self,
        x,
        filters,
        kernel_size,
        name,
        strides=1,
        padding="same",
        activation="relu",
        use_bias=False,
        exact_filters=False,
    ):
        L = self.layers
        filters = filters if exact_filters else self.width(filters)
        x = L.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
        if not use_bias:
            x = L.BatchNormalization(axis=3, momentum=0.995, epsilon=0.001, scale=False, name=name + "_BatchNorm")(x)
        if activation is not None:
            x = L.Activation(activation, name=name + "_Activation")(x)
        return x

    def residual(self, x, scale, block_type, index, activation="relu"):
        L = self.layers
        prefix = f"{block_type}_{index}"

        def branch(i, name):
            return f"{prefix}_Branch_{i}_{name}"

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
        channels = int_shape(x)[3]
        up = self.conv_bn(
            mixed, channels, 1, prefix + "_Conv2d_1x1", activation=None, use_bias=True, exact_filters=True
        )
        if self.variant == "builtin":
            pass  # the scale lives in the up-projection's weights
        elif self.variant == "custom" or self.scale_layers:
            up = custom_classes()["ScaleLayer"](scale, name=prefix + "_ScaleSum")(up)
        else:
            # Unnamed, as in the original: Keras names it lambda_N itself.
            up = L.Lambda(self.lambda_function, output_shape=int_shape(up)[1:], arguments={"scale": scale})(up)
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
            return f"{name}_Branch_{i}_{part}"

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
        x = L.BatchNormalization(momentum=0.995, epsilon=0.001, scale=False, name="Bottleneck_BatchNorm")(x)
        if self.variant == "custom":
            x = custom_classes()["L2Normalize"](name="L2Normalize")(x)
        return self.keras.models.Model(inputs, x, name="inception_resnet_v1")


def build(variant="lambda", size="full", scales=None, lambda_function=None, scale_layers=False):
    """The architecture with fresh weights: load the saved ones into it next.

    ``scales`` overrides the residual scales per block type; ``lambda_function`` replaces
    ``scaling`` in the Lambda layers (its name is what a Keras 3 file records).
    ``scale_layers``: a ``ScaleLayer`` where the variant has a ``Lambda``; the same weights
    and numbers, in a model that saves no code (a safe load accepts it).
    """
    model = _Builder(variant, size, scales, lambda_function or scaling, scale_layers).build()
    if variant == "compiled":
        model.compile(optimizer="adam", loss=triplet_loss)
    return model


# -- the input ---------------------------------------------------------------------------
def prewhiten(image):
    """FaceNet's per-image standardisation: minus the mean, over the standard deviation."""
    mean, std = image.mean(), image.std()
    std_adj = max(std, 1.0 / np.sqrt(image.size))
    return (image - mean) / std_adj


def prewhiten_batch(images):
    """uint8 face crops (N, 160, 160, 3), RGB 0-255 -> the float32 batch the model expects."""
    return np.stack([prewhiten(np.asarray(image).astype(np.float64)) for image in images]).astype(np.float32)


# -- weights read with h5py --------------------------------------------------------------
# Only the numbers are read, so this works whatever Keras can or cannot deserialise.
# Keras 2's legacy layout (model_weights/<layer>/<layer>/kernel:0, whole model or weights
# only) is matched by layer name; layers without weights (lambda_1, add_1 against Keras 3's
# lambda, add) need no match. The new layout of *.weights.h5 and of the model.weights.h5
# inside a .keras zip stores no layer names: it keys each layer by its class and its rank
# among the model's layers of that class (layers/conv2d_3/vars/0; Keras 2.12 and 2.13 say
# _layer_checkpoint_dependencies/conv2d_3/vars/0), so there the model's layer order matches.


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _legacy_layers(root):
    found = {}
    for layer_name in root.attrs["layer_names"]:
        layer_name = _text(layer_name)
        group = root[layer_name]
        names = [_text(n) for n in group.attrs.get("weight_names", [])]
        if names:
            found[layer_name] = [np.asarray(group[n]) for n in names]
    return found


def _new_layout_layers(handle):
    found = {}
    folder = next((name for name in ("layers", "_layer_checkpoint_dependencies") if name in handle), None)
    if folder is None:
        return found, []
    keys = list(handle[folder].keys())
    for key in keys:
        group = handle[folder][key]
        if "vars" in group and len(group["vars"]):
            found[key] = [np.asarray(group["vars"][k]) for k in sorted(group["vars"].keys(), key=int)]
    return found, keys


def _snake_case(name):
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _split_key(key):
    """``"conv2d_12"`` -> ``("conv2d", 12)``; ``"conv2d"`` -> ``("conv2d", 0)``."""
    match = re.match(r"^(.*?)(?:_(\d+))?$", key)
    return match.group(1), int(match.group(2) or 0)


def new_layout_keys(model, file_keys):
    """``{layer name: key}``: the n-th layer of a class takes the n-th key of that class.

    Ranks, not exact keys: Keras 2.12 and 2.13 count every layer twice when they write
    (``conv2d``, ``conv2d_2``, ``conv2d_4``...); the order within each class is still the model's.
    """
    by_class = {}
    for key in file_keys:
        base, number = _split_key(key)
        by_class.setdefault(base, []).append((number, key))
    ranked = {base: [key for _, key in sorted(keys)] for base, keys in by_class.items()}
    counts, keys = {}, {}
    for layer in model.layers:
        base = _snake_case(layer.__class__.__name__)
        rank = counts.get(base, 0)
        counts[base] = rank + 1
        if rank < len(ranked.get(base, [])):
            keys[layer.name] = ranked[base][rank]
    return keys


def weights_by_layer(path, model=None):
    """``{layer name: [arrays in get_weights order]}`` read from an HDF5 weights source."""
    import h5py

    with h5py.File(path, "r") as handle:
        root = handle.get("model_weights", handle)
        if "layer_names" in root.attrs:
            return _legacy_layers(root)
        by_key, all_keys = _new_layout_layers(handle)
    if model is None:
        return by_key
    return {name: by_key[key] for name, key in new_layout_keys(model, all_keys).items() if key in by_key}


def set_weights_from_file(model, path):
    """Set every weighted layer of ``model`` from ``path`` (.h5, .weights.h5 or .keras), read with h5py."""
    scratch = None
    try:
        if zipfile.is_zipfile(path):
            scratch = tempfile.mkdtemp(prefix="facenet-arch-")
            with zipfile.ZipFile(path) as archive:
                archive.extract("model.weights.h5", scratch)
            path = os.path.join(scratch, "model.weights.h5")
        source = weights_by_layer(path, model)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    pairs = []
    copied = 0
    for layer in model.layers:
        # Shapes from the variables themselves, and every value set in one go at the end:
        # under TF1 graph mode get_weights() is a session run per layer and set_weights()
        # adds ops each time (16 s for FaceNet under Keras 2.2.4; 2 s in one go).
        expected = [tuple(int(d) for d in w.shape) for w in layer.weights]
        if not expected:
            continue
        if layer.name not in source:
            raise KeyError(f"layer {layer.name!r} has no weights in the file (it has {len(source)} weighted layers)")
        shapes = [tuple(a.shape) for a in source[layer.name]]
        if shapes != expected:
            raise ValueError(f"layer {layer.name!r}: the file has shapes {shapes}, the model wants {expected}")
        pairs.extend(zip(layer.weights, source[layer.name]))
        copied += 1
    set_values(pairs)
    return copied
