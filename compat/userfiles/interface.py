"""What a user's model takes and returns, read from the file: inputs, outputs, custom classes.

A model's interface is read, never assumed. The Keras config that ``.h5`` (``model_config``),
``.keras`` (``config.json``) and JSON architecture files carry names every input layer
with its shape and dtype, the output layers, and what each layer is; an ``Embedding``
fed straight from an input says the ids it takes are below its ``input_dim``. A
SavedModel's serving signature is read from its ``saved_model.pb`` with the protobuf
package (``savedmodelpb``): the host holds no TensorFlow.

Where the file does not tell, ``read`` returns None and says so; nothing is guessed.
Host side: stdlib and h5py.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

from compat.errors import BadInput
from compat.userfiles import savedmodelpb

SEQUENTIAL = ("Sequential",)


class InterfaceError(BadInput):
    """What could not be read of a model's interface, in one line (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple | None
    """With the batch axis first (``None``), ``None`` for any open dimension."""
    dtype: str = "float32"
    below: int | None = None
    """For token ids: every valid value is below this (the ``input_dim`` of the Embedding fed)."""

    def to_dict(self) -> dict:
        found = {"name": self.name, "shape": list(self.shape) if self.shape is not None else None, "dtype": self.dtype}
        if self.below is not None:
            found["range"] = f"ids from 0 to {self.below - 1}"
        return found


@dataclasses.dataclass(frozen=True)
class Interface:
    inputs: tuple
    outputs: tuple
    source: str
    """Where it was read: the file's config, a SavedModel's signature as an environment loads it."""
    custom_classes: tuple = ()
    """Class names the config uses that no Keras defines (their code is not in the file)."""
    lambdas: tuple = ()
    """Layer paths of the Lambda layers, whose Python code the file stores."""

    def spec(self) -> dict:
        """What the worker and the recipes are told of it."""
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [{"name": t.name, "shape": list(t.shape) if t.shape else None} for t in self.outputs],
        }


def read(path: str, fmt: str) -> Interface | None:
    """The interface recorded in the file, or None where the file keeps none the host can read."""
    if fmt in ("savedmodel", "export"):
        return _signature(path)
    config = model_config(path, fmt)
    if config is None:
        return None
    return from_config(config, source=_SOURCES[fmt])


def _signature(folder: str) -> Interface | None:
    """A SavedModel's serving signature, read from its ``saved_model.pb`` (names, shapes, dtypes)."""
    _reader("google.protobuf", "a SavedModel's serving signature", package="protobuf")
    try:
        found = savedmodelpb.signature(folder)
    except savedmodelpb.Unreadable:
        return None
    if not found or not found["inputs"]:
        return None

    def tensor(item):
        return Tensor(item["name"], tuple(item["shape"]) if item["shape"] is not None else None, item["dtype"])

    return Interface(
        tuple(tensor(i) for i in found["inputs"]),
        tuple(tensor(o) for o in found["outputs"]),
        source="the SavedModel's serving signature",
    )


_SOURCES = {"h5": "the file's model config", "keras": "the .keras file's config.json", "json": "the JSON architecture"}


def _reader(module: str, what: str, package: str | None = None):
    """A module the host reads files with; without it, the one line saying what cannot be read
    (never a guess in its place)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InterfaceError(
            f"cannot read {what}: {package or module} is not installed (`pip install -e .` installs it)"
        ) from None


def model_config(path: str, fmt: str) -> dict | None:
    """The Keras model config a file carries: ``{"class_name", "config"}``."""
    try:
        if fmt == "h5":
            h5py = _reader("h5py", "an HDF5 file's model config")
            with h5py.File(path, "r") as handle:
                text = handle.attrs.get("model_config")
            text = text.decode() if isinstance(text, bytes) else text
        elif fmt == "keras":
            with zipfile.ZipFile(path) as archive:
                text = archive.read("config.json").decode()
        elif fmt == "json":
            text = Path(path).read_text()
        else:
            return None
        return json.loads(text) if text else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def from_config(config: dict, source: str) -> Interface:
    inner = config.get("config")
    layers = inner if isinstance(inner, list) else (inner or {}).get("layers") or []
    if config.get("class_name") in SEQUENTIAL:
        inputs, outputs = _sequential(layers)
    else:
        inputs, outputs = _functional(inner or {}, layers)
    found = list(walk_layers(config))
    return Interface(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        source=source,
        custom_classes=tuple(sorted({c for _, c, layer in found if is_custom(layer)})),
        lambdas=tuple(p for p, c, _ in found if c == "Lambda"),
    )


def _sequential(layers: list) -> tuple[list, list]:
    layers = [layer for layer in layers if isinstance(layer, dict)]
    if not layers:
        return [], []
    first = layers[0]
    config = first.get("config") or {}
    shape = config.get("batch_input_shape") or config.get("batch_shape")
    name = config.get("name", "input") if first.get("class_name") == "InputLayer" else f"{config.get('name')}_input"
    feeds = layers[1] if first.get("class_name") == "InputLayer" and len(layers) > 1 else first
    below = (feeds.get("config") or {}).get("input_dim") if feeds.get("class_name") == "Embedding" else None
    inputs = [Tensor(name, _shape(shape), _dtype(config.get("dtype")) if not below else "int32", below)]
    last = layers[-1].get("config") or {}
    return inputs, [Tensor(last.get("name", "output"), None)]


def _functional(config: dict, layers: list) -> tuple[list, list]:
    by_name = {_name(layer): layer for layer in layers if isinstance(layer, dict)}
    inputs = []
    for _key, name in _endpoints(config.get("input_layers")):
        layer = by_name.get(name) or {}
        inner = layer.get("config") or {}
        shape = _shape(inner.get("batch_input_shape") or inner.get("batch_shape"))
        below = _embedding_below(name, layers)
        dtype = _dtype(inner.get("dtype"))
        inputs.append(Tensor(name, shape, "int32" if below and dtype.startswith("float") else dtype, below))
    outputs = [Tensor(key or name, None) for key, name in _endpoints(config.get("output_layers"))]
    return inputs, outputs


def _endpoints(value) -> list[tuple[str | None, str]]:
    """``[(dict key or None, layer name)]`` of ``input_layers`` / ``output_layers`` in any spelling:
    ``[[name, 0, 0], ...]``, a single ``[name, 0, 0]`` (Keras 3), or a dict of them."""
    if isinstance(value, dict):
        return [(key, item[0]) for key, item in value.items()]
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [(None, value[0])]
    return [(None, item[0]) for item in value or [] if isinstance(item, list) and item]


def _embedding_below(input_name: str, layers: list) -> int | None:
    """The ``input_dim`` of an Embedding fed straight from this input, else None."""
    for layer in layers:
        if (
            isinstance(layer, dict)
            and layer.get("class_name") == "Embedding"
            and input_name in set(_strings(layer.get("inbound_nodes")))
        ):
            return (layer.get("config") or {}).get("input_dim")
    return None


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _shape(shape) -> tuple | None:
    if isinstance(shape, dict) and shape.get("class_name") == "__tuple__":
        shape = shape.get("items")
    if not isinstance(shape, list):
        return None
    return tuple(d if isinstance(d, int) else None for d in shape)


def _dtype(value) -> str:
    """A dtype as Keras 2 (a name) or Keras 3 (a DTypePolicy dict) writes it."""
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name") or "float32"
    return str(value or "float32").replace("mixed_", "")


def walk_layers(config, path: str = ""):
    """``(layer path, class name, layer)`` for every layer at any depth: nested models,
    wrappers (``TimeDistributed``, ``Bidirectional``) and their inner layers."""
    if not isinstance(config, dict):
        return
    inner = config.get("config")
    layers = inner if isinstance(inner, list) else (inner or {}).get("layers") if isinstance(inner, dict) else None
    for layer in layers or []:
        if not isinstance(layer, dict):
            continue
        name = _name(layer) or layer.get("class_name")
        here = f"{path}/{name}" if path else str(name)
        yield here, layer.get("class_name"), layer
        yield from walk_layers(layer, here)
        wrapped = (layer.get("config") or {}).get("layer") if isinstance(layer.get("config"), dict) else None
        if isinstance(wrapped, dict):
            inner_name = _name(wrapped) or wrapped.get("class_name")
            yield f"{here}/{inner_name}", wrapped.get("class_name"), wrapped
            yield from walk_layers(wrapped, f"{here}/{inner_name}")


def _name(layer: dict) -> str | None:
    """A layer's name; Keras 2.1's nested Sequential keeps its layers as its whole config."""
    inner = layer.get("config")
    return (inner.get("name") if isinstance(inner, dict) else None) or layer.get("name")


def is_custom(layer: dict) -> bool:
    """Whether a layer's class comes from outside Keras: Keras 3 records the module of every
    class and a registered name for custom ones; Keras 2 records neither, so there a class
    counts as custom only when it is none of the layers Keras ships."""
    module = layer.get("module")
    if module is not None:
        return not str(module).startswith(("keras", "tf_keras", "tensorflow")) or ">" in str(
            layer.get("registered_name") or ""
        )
    return layer.get("class_name") not in KERAS2_LAYERS


# The layer classes Keras 2 ships, aliases included (Conv2D and Convolution2D, MaxPool2D and
# MaxPooling2D, ...): any other class_name in a Keras 2 config is a custom layer.
KERAS2_LAYERS = frozenset(
    [
        "Activation",
        "ActivityRegularization",
        "Add",
        "AdditiveAttention",
        "AlphaDropout",
        "Attention",
        "Average",
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "AvgPool1D",
        "AvgPool2D",
        "AvgPool3D",
        "BatchNormalization",
        "Bidirectional",
        "CategoryEncoding",
        "CenterCrop",
        "Concatenate",
        "Conv1D",
        "Conv1DTranspose",
        "Conv2D",
        "Conv2DTranspose",
        "Conv3D",
        "Conv3DTranspose",
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
        "Convolution1D",
        "Convolution2D",
        "Convolution3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "CuDNNGRU",
        "CuDNNLSTM",
        "Dense",
        "DenseFeatures",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "Discretization",
        "Dot",
        "Dropout",
        "ELU",
        "Embedding",
        "Flatten",
        "Functional",
        "GRU",
        "GRUCell",
        "GaussianDropout",
        "GaussianNoise",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
        "GlobalAvgPool1D",
        "GlobalAvgPool2D",
        "GlobalAvgPool3D",
        "GlobalMaxPool1D",
        "GlobalMaxPool2D",
        "GlobalMaxPool3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
        "Hashing",
        "InputLayer",
        "InputSpec",
        "IntegerLookup",
        "LSTM",
        "LSTMCell",
        "Lambda",
        "LayerNormalization",
        "LeakyReLU",
        "LocallyConnected1D",
        "LocallyConnected2D",
        "Masking",
        "MaxPool1D",
        "MaxPool2D",
        "MaxPool3D",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "Maximum",
        "Minimum",
        "Model",
        "MultiHeadAttention",
        "Multiply",
        "Normalization",
        "PReLU",
        "Permute",
        "RNN",
        "ReLU",
        "RepeatVector",
        "Rescaling",
        "Reshape",
        "Resizing",
        "SeparableConv1D",
        "SeparableConv2D",
        "SeparableConvolution1D",
        "SeparableConvolution2D",
        "Sequential",
        "SimpleRNN",
        "SimpleRNNCell",
        "Softmax",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "StackedRNNCells",
        "StringLookup",
        "Subtract",
        "TextVectorization",
        "ThresholdedReLU",
        "TimeDistributed",
        "UnitNormalization",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
    ]
)
