"""Carry a stored Keras architecture into this Keras by named rules, then give it the file's weights.

A saved model stores its architecture as a config: the HDF5 file's ``model_config``, a
``.keras`` zip's ``config.json``, a ``model.to_json()`` file, a Keras SavedModel's metadata.
Another Keras refuses what its own deserialiser no longer (or does not yet) knows: Keras 3
rejects a DepthwiseConv2D with ``groups``, an LSTM with ``time_major``, a ``TFOpLambda``;
Keras 2 rejects Keras 3's ``batch_shape`` and dtype policies. Each ``Rule`` below names the
Keras versions it spans, what it rewrites and the public error it fixes; ``load_model`` applies every rule that
matches, builds the model with this Keras's own ``from_config``, and sets each layer's
weights from the file by layer name (else in the order of the layers that hold weights).
Some rules keep the numbers, not only the config: Keras 3's ``hard_sigmoid`` is Keras 2's at
1.2 times the input, so a recurrent layer's gate weights are scaled to compute what the
file's Keras computed.

Every change is reported (``Translation.changes``), as ``tf_upgrade_v2`` reports each edit.

This file is standalone: a loader copies it beside itself and imports it; it imports nothing
but the standard library, numpy, h5py (for HDF5 weights), TensorFlow (for a SavedModel's
variables) and the Keras it is handed. It runs on CPython 3.6 and up.
"""

import copy
import fnmatch
import json
import os
import re
import shutil
import tempfile
import zipfile

import numpy as np

# -- what is read from the file ---------------------------------------------------------------


class Stored:
    """A file's architecture (``config``), where its weights are, and the Keras that wrote it."""

    def __init__(self, config, keras_version, weights):
        self.config = config
        self.keras_version = keras_version or ""
        # ("h5", path, group) | ("keras_zip", path) | ("v3_h5", path) | ("savedmodel", path, metadata)
        self.weights = weights

    @property
    def generation(self):
        """2 or 3: the Keras generation that wrote the config."""
        if self.keras_version[:1].isdigit():
            return 3 if int(self.keras_version.split(".")[0]) >= 3 else 2
        return 3 if self.config and _has_keras3_nodes(self.config) else 2


class NotTranslatable(Exception):
    """The file cannot be carried over here, with the one-line reason."""


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _has_keras3_nodes(config):
    for layer in _layers(config):
        for node in layer.get("inbound_nodes") or []:
            if isinstance(node, dict):
                return True
    return False


def read(path, weights_path=None):
    """What ``path`` stores: an HDF5 model, a ``.keras`` zip, a JSON architecture (+ weights) or a
    Keras SavedModel folder."""
    if os.path.isdir(path):
        return _read_savedmodel(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json").decode("utf-8"))
            names = archive.namelist()
            meta = json.loads(archive.read("metadata.json").decode("utf-8")) if "metadata.json" in names else {}
        return Stored(config, meta.get("keras_version"), ("keras_zip", path))
    if path.endswith(".json"):
        with open(path) as handle:
            config = json.load(handle)
        if not weights_path:
            raise NotTranslatable("a JSON architecture needs its weights file")
        return Stored(config, config.get("keras_version"), _h5_weights(weights_path))
    import h5py

    with h5py.File(path, "r") as handle:
        if "model_config" not in handle.attrs:
            raise NotTranslatable("the file stores weights only, no architecture to translate")
        config = json.loads(_text(handle.attrs["model_config"]))
        version = _text(handle.attrs.get("keras_version", ""))
    return Stored(config, version, _h5_weights(path))


def read_weights_only(path):
    """A file read only for its weights: the architecture comes from the user's code."""
    if os.path.isdir(path):
        return Stored(None, _savedmodel_tf_version(path), ("savedmodel", path, _savedmodel_metadata(path)))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            meta = json.loads(archive.read("metadata.json").decode("utf-8")) if "metadata.json" in names else {}
        return Stored(None, meta.get("keras_version"), ("keras_zip", path))
    import h5py

    with h5py.File(path, "r") as handle:
        holder = handle.get("model_weights", handle)
        version = _text(holder.attrs.get("keras_version", handle.attrs.get("keras_version", "")))
    return Stored(None, version, _h5_weights(path))


def _model_config(model):
    """What the weight readers and rules need of a built model: its layers, in order, with configs."""

    def layer_config(layer):
        try:
            config = layer.get_config()
        except (NotImplementedError, TypeError, ValueError):
            config = {"name": layer.name}
        if hasattr(layer, "layers") and isinstance(config, dict):
            config = dict(config, layers=[layer_config(inner) for inner in layer.layers])
        return {"class_name": type(layer).__name__, "name": layer.name, "config": config}

    return {
        "class_name": type(model).__name__,
        "config": {"name": model.name, "layers": [layer_config(layer) for layer in model.layers]},
    }


def _h5_weights(path):
    import h5py

    with h5py.File(path, "r") as handle:
        if "layer_names" in handle.attrs or "model_weights" in handle:
            return ("h5", path, "model_weights" if "model_weights" in handle else "")
    return ("v3_h5", path)


# -- a Keras SavedModel: the architecture in its metadata, the weights in its checkpoint --------
# tf.keras 2.0 - 2.15 saves a model's config as the JSON metadata of the SavedModel's root object:
# in ``keras_metadata.pb`` from TF 2.5, before that in ``saved_model.pb``'s object graph. Both
# are read here as protobuf wire data (field numbers from TensorFlow's .proto files), so no
# TensorFlow is needed for the architecture; the variables need TensorFlow's checkpoint reader.


def _varint(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _proto_fields(data):
    """``(field number, value)`` of one protobuf message: an int, or the bytes of a nested message or string."""
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        kind = tag & 7
        if kind == 0:
            value, at = _varint(data, at)
        elif kind == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        elif kind in (1, 5):
            size = 8 if kind == 1 else 4
            value, at = data[at : at + size], at + size
        else:
            raise NotTranslatable(f"the SavedModel's protobuf data cannot be read (wire type {kind})")
        yield tag >> 3, value


def _proto_field(data, number, default=b""):
    for field, value in _proto_fields(data):
        if field == number:
            return value
    return default


def _proto_repeated(data, number):
    return [value for field, value in _proto_fields(data) if field == number]


def _read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def _savedmodel_metadata(path):
    """``[(node path, metadata dict)]`` of every Keras object the SavedModel records."""
    keras_pb = os.path.join(path, "keras_metadata.pb")
    found = []
    if os.path.exists(keras_pb):
        # SavedMetadata.nodes (1): SavedObject {node_path (3), metadata (5)}
        for node in _proto_repeated(_read_bytes(keras_pb), 1):
            found.append((_text(_proto_field(node, 3)), _text(_proto_field(node, 5))))
    else:
        # SavedModel.meta_graphs (2) -> MetaGraphDef.object_graph_def (7) -> SavedObjectGraph.nodes (1);
        # a node's children (1: ObjectReference {node_id (1), local_name (2)}), its user_object (4)
        # whose metadata (3) is Keras's JSON. A node's path is the first one a breadth-first walk finds.
        graphs = _proto_repeated(_read_bytes(os.path.join(path, "saved_model.pb")), 2)
        nodes = _proto_repeated(_proto_field(graphs[0], 7), 1) if graphs else []
        paths, queue = ({0: "root"}, [0]) if nodes else ({}, [])  # a TF 1 SavedModel has no object graph
        while queue:
            current = queue.pop(0)
            for child in _proto_repeated(nodes[current], 1):
                node_id, name = _proto_field(child, 1, 0), _text(_proto_field(child, 2))
                if node_id not in paths and node_id < len(nodes):
                    paths[node_id] = paths[current] + "." + name
                    queue.append(node_id)
        for node_id, node_path in sorted(paths.items()):
            found.append((node_path, _text(_proto_field(_proto_field(nodes[node_id], 4), 3))))
    return [(node_path, json.loads(text, object_hook=_keras2_json)) for node_path, text in found if text]


def _keras2_json(value):
    """tf.keras writes a SavedModel's metadata with its own JSON encoder, which spells a tuple
    ``{"class_name": "__tuple__", "items": [...]}`` and a TensorShape likewise; the HDF5 config
    of the same model has plain lists there."""
    if value.get("class_name") in ("__tuple__", "TensorShape") and "items" in value:
        return list(value["items"])
    return value


def _savedmodel_tf_version(path):
    """The TensorFlow that wrote it (its MetaInfoDef), whose tf.keras wrote the metadata: Keras 2."""
    graphs = _proto_repeated(_read_bytes(os.path.join(path, "saved_model.pb")), 2)
    version = _text(_proto_field(_proto_field(graphs[0], 1), 5)) if graphs else ""
    return version if version[:1] == "2" else "2"


def _read_savedmodel(path):
    metadata = _savedmodel_metadata(path)
    root = dict(metadata).get("root") or {}
    if not isinstance(root.get("config"), dict) or "layers" not in root["config"]:
        raise NotTranslatable(
            "the SavedModel records no Keras architecture (a TF 1 SavedModel, or one written by "
            "tf.saved_model.save or model.export): call its signature instead"
        )
    config = {"class_name": root.get("class_name"), "config": root["config"]}
    return Stored(config, _savedmodel_tf_version(path), ("savedmodel", path, metadata))


LAYER_EDGE = re.compile(r"layer(_with_weights)?-\d+$")


def _savedmodel_weights(path, metadata):
    """Layer name -> its variables from the SavedModel's checkpoint, in the layer's own order
    (each layer object's ``variables`` list in the checkpoint's object graph)."""
    try:
        import tensorflow as tf
    except ImportError:
        raise NotTranslatable(
            "reading a SavedModel's variables needs TensorFlow, which is not installed here"
        ) from None
    prefix = os.path.join(path, "variables", "variables")
    if hasattr(tf.train, "load_checkpoint"):
        reader = tf.train.load_checkpoint(prefix)
    else:  # TF 1.3's Keras 2.1 stack
        reader = tf.train.NewCheckpointReader(prefix)
    graph = reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    graph = graph.item() if isinstance(graph, np.ndarray) else graph
    # TrackableObjectGraph.nodes (1): children (1: {node_id (1), local_name (2)}),
    # attributes (2: {name (1), checkpoint_key (3)})
    nodes = []
    for node in _proto_repeated(graph, 1):
        children = [(_text(_proto_field(c, 2)), _proto_field(c, 1, 0)) for c in _proto_repeated(node, 1)]
        keys = [
            _text(_proto_field(a, 3)) for a in _proto_repeated(node, 2) if _text(_proto_field(a, 1)) == "VARIABLE_VALUE"
        ]
        nodes.append((children, keys))

    def walk(node_path):
        current = 0
        for name in node_path.split(".")[1:]:
            current = dict(nodes[current][0]).get(name)
            if current is None:
                return None
        return current

    def variables(node_id):
        listed = dict(nodes[node_id][0]).get("variables")
        members = [node for _, node in nodes[listed][0]] if listed is not None else [n for _, n in nodes[node_id][0]]
        keys = [nodes[member][1][0] for member in members if nodes[member][1]]
        # A variable listed twice (Normalization's mean and variance are also its state) is one weight.
        return [key for index, key in enumerate(keys) if key not in keys[:index]]

    found = {}
    for node_path, meta in metadata:
        if not LAYER_EDGE.match(node_path.split(".")[-1]) or meta.get("class_name") in MODEL_CLASSES:
            continue
        node_id = walk(node_path)
        keys = variables(node_id) if node_id is not None else []
        if keys and meta.get("name") not in found:
            found[meta.get("name")] = [reader.get_tensor(key) for key in keys]
    return found


# -- the layers of a config -------------------------------------------------------------------

MODEL_CLASSES = ("Functional", "Model", "Sequential")
WRAPPED = ("layer", "backward_layer", "cell")


def _sequential_as_dict(value):
    """Keras <= 2.1 stored a Sequential's config as the bare list of its layers; the rules read the
    form every later Keras writes, {name, layers}."""
    if isinstance(value, dict):
        if value.get("class_name") == "Sequential" and isinstance(value.get("config"), list):
            value["config"] = {"name": value.get("name") or "sequential", "layers": value["config"]}
        for child in value.values():
            _sequential_as_dict(child)
    elif isinstance(value, list):
        for child in value:
            _sequential_as_dict(child)


def _sequential_as_list(value):
    if isinstance(value, dict):
        for child in value.values():
            _sequential_as_list(child)
        if value.get("class_name") == "Sequential" and isinstance(value.get("config"), dict):
            value["config"] = value["config"].get("layers") or []
    elif isinstance(value, list):
        for child in value:
            _sequential_as_list(child)


def _layers(config):
    """Every layer config in a model config, nested models and wrapped layers included."""
    inner = config.get("config")
    if not isinstance(inner, dict):
        return
    children = inner.get("layers")
    if isinstance(children, list):
        for child in children:
            yield child
            for below in _layers(child):
                yield below
    for key in WRAPPED:
        child = inner.get(key)
        if isinstance(child, dict) and "class_name" in child:
            yield child
            for below in _layers(child):
                yield below


def _name(layer):
    return layer.get("name") or (layer.get("config") or {}).get("name")


# -- the rules --------------------------------------------------------------------------------


def _installed_keras():
    """The keras package's version: tf.keras in TF 2.13 - 2.15 has no __version__ of its own."""
    try:
        from importlib import metadata
    except ImportError:  # Python 3.6 / 3.7: their tf.keras and keras have __version__
        return None
    try:
        return metadata.version("keras")
    except Exception:  # noqa: BLE001 - no keras package
        return None


class Target:
    """The Keras the model is carried into."""

    def __init__(self, keras):
        self.keras = keras
        version = getattr(keras, "__version__", None) or _installed_keras() or "2.0.0"
        parts = version.split(".")
        self.version = version
        self.minor = (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0))
        self.generation = 3 if self.minor[0] >= 3 else 2


class Rule:
    """One named rewrite: which Keras it spans, what it changes, the public error it fixes."""

    def __init__(self, name, spans, rewrites, fixes, reports, edit, arrays=None):
        self.name = name
        self.spans = spans
        self.rewrites = rewrites
        self.fixes = fixes
        self.reports = reports
        self.edit = edit  # edit(layer, stored, target, translation) -> what changed, or None
        self.arrays = arrays  # arrays(layer_config, arrays, stored, target) -> arrays, for rules that keep numbers


def _drop_neutral(key, classes, neutral, generation=3):
    """An edit dropping ``key`` from ``classes`` where its value does what its absence does."""

    def edit(layer, stored, target, translation):
        config = layer.get("config") or {}
        if target.generation != generation or layer.get("class_name") not in classes or key not in config:
            return None
        value = config[key]
        if value not in neutral:
            raise NotTranslatable(
                f"layer {_name(layer)!r}: {key}={value!r} has no equivalent in Keras {target.version}"
            )
        del config[key]
        return f"dropped {key}={value!r}"

    return edit


def _input_shape_key(layer, stored, target, translation):
    config = layer.get("config") or {}
    if layer.get("class_name") != "InputLayer":
        return None
    if target.generation == 2 and "batch_shape" in config:
        config["batch_input_shape"] = config.pop("batch_shape")
        config.pop("optional", None)
        return "batch_shape -> batch_input_shape"
    return None


def _dtype_policy(layer, stored, target, translation):
    if target.generation != 2:
        return None
    changed = []
    for holder in [layer.get("config") or {}]:
        dtype = holder.get("dtype")
        if isinstance(dtype, dict):
            name = (dtype.get("config") or {}).get("name") or "float32"
            holder["dtype"] = "float32" if name == "mixed_float16" else name
            changed.append("dtype policy -> {!r}".format(holder["dtype"]))
    return ", ".join(changed) or None


def _keras2_modules(layer, stored, target, translation):
    """Keras 2.13 - 2.15 write Keras 3's ``module`` keys; Keras 3 then reads a layer as its own
    format and skips the legacy conversions (a BatchNormalization's ``axis: [3]``). A layer inside
    a wrapper (Bidirectional, TimeDistributed) is read by Keras 3's own deserialiser, which needs
    the module: it gets ``keras.layers`` where it has none."""
    if stored.generation != 2 or target.generation != 3:
        return None
    if id(layer) in translation.wrapped:
        if "module" in layer or not hasattr(target.keras.layers, layer.get("class_name", "")):
            return None
        layer["module"], layer["registered_name"] = "keras.layers", None
        return "module keras.layers for a wrapped layer"
    if "module" not in layer:
        return None
    for key in ("module", "registered_name", "build_config"):
        layer.pop(key, None)
    _strip_modules(layer.get("config"), keep_layers=True)
    return "read as a Keras 2 config (module keys dropped)"


def _keras3_keys(layer, stored, target, translation):
    """Keras 3's serialisation keys inside a layer's config that Keras 2 takes as arguments."""
    if target.generation != 2:
        return None
    config = layer.get("config") or {}
    dropped = [key for key in ("quantization_config",) if key in config]
    for key in dropped:
        del config[key]
    _strip_modules(config)
    return ("dropped " + ", ".join(dropped)) if dropped else None


def _strip_modules(value, keep_layers=False):
    """Keras 3 serialised objects ({module, class_name, config, registered_name}) as Keras 2 reads them;
    ``keep_layers`` leaves a wrapped layer (a dict with ``module: keras.layers``) as it is."""
    if isinstance(value, dict):
        if keep_layers and value.get("module") == "keras.layers":
            return
        if "class_name" in value and "config" in value:
            value.pop("module", None)
            value.pop("registered_name", None)
            value.pop("build_config", None)
            value.pop("compile_config", None)
        for child in value.values():
            _strip_modules(child, keep_layers)
    elif isinstance(value, list):
        for child in value:
            _strip_modules(child, keep_layers)


def _keras3_nodes(layer, stored, target, translation):
    """Keras 3's inbound nodes ({args, kwargs} with __keras_tensor__) as Keras 2's lists.

    Keras 2 counts a nested model's own input-to-output node as its node 0, so the model's first
    call is its node 1 (Keras 3 numbers that call 0): a reference to a nested model moves up by
    one, else Keras 2's from_config waits for a node that never comes, for ever."""
    if target.generation != 2:
        return None
    done = []
    children = (layer.get("config") or {}).get("layers") if isinstance(layer.get("config"), dict) else None
    if isinstance(children, list) and _has_keras3_nodes(layer):
        translation.networks.update(_name(child) for child in children if _calls_itself_first(child))
        moved = [
            key for key in ("input_layers", "output_layers") if _shift_references(layer["config"], key, translation)
        ]
        if moved:
            done.append("a nested model's call as its node 1 in " + ", ".join(moved))
    nodes = layer.get("inbound_nodes")
    if isinstance(nodes, list) and any(isinstance(node, dict) for node in nodes):
        legacy = []
        for node in nodes:
            tensors = []
            _collect_tensors(node.get("args"), tensors)
            legacy.append([_keras2_reference(history, translation) + [{}] for history in tensors])
        layer["inbound_nodes"] = legacy
        done.append("inbound nodes in Keras 2's form")
    return "; ".join(done) or None


def _nested_calls(layer, stored, target, translation):
    """Keras 2 gives a nested model a node of its own before its first call, which it numbers 1;
    Keras 3 reading Keras 2's node lists takes the number as it is, except in a model's own
    input/output layers, where it renumbers a nested functional model (not a Sequential) itself."""
    if stored.generation != 2 or target.generation != 3 or not isinstance(layer.get("config"), dict):
        return None
    children = layer["config"].get("layers") or []
    nested = set(_name(child) for child in children if _calls_itself_first(child))
    if not nested:
        return None
    calls, ends = _references(layer["config"], children)
    sequentials = set(_name(child) for child in children if child.get("class_name") == "Sequential")
    moved = _renumber_down(calls, nested) + _renumber_down(ends, sequentials)
    return "{} call(s) of {} numbered from 0".format(moved, ", ".join(sorted(nested))) if moved else None


def _references(config, children):
    """A Keras 2 model config's references to its layers' nodes, ``[layer, node, tensor...]``: those
    its children's inbound nodes make, and its own input/output layers (one, or a list of them)."""
    calls = [
        r for child in children for node in child.get("inbound_nodes") or [] if isinstance(node, list) for r in node
    ]
    ends = []
    for key in ("input_layers", "output_layers"):
        found = config.get(key)
        if isinstance(found, list) and found:
            ends += [found] if isinstance(found[0], str) else found
    return calls, ends


def _renumber_down(references, names):
    moved = 0
    for reference in references:
        named = isinstance(reference, list) and len(reference) >= 3 and reference[0] in names
        if named and isinstance(reference[1], int) and reference[1] > 0:
            reference[1] -= 1
            moved += 1
    return moved


def _sequential_input(layer, stored, target, translation):
    """Keras 2 kept a nested Sequential's input shape on its first layer (batch_input_shape) where
    it was built without an InputLayer; Keras 3 reads that as the shape of one sample, an axis too
    many, and the Sequential then refuses its input. The shape goes to an InputLayer of its own."""
    nested = "inbound_nodes" in layer  # the model itself is read right
    if target.generation != 3 or layer.get("class_name") != "Sequential" or not nested:
        return None
    children = (layer.get("config") or {}).get("layers") if isinstance(layer.get("config"), dict) else None
    if not children or children[0].get("class_name") == "InputLayer":
        return None
    first = children[0].get("config") or {}
    shape = first.pop("batch_input_shape", None)
    if not shape:
        return None
    dtype = first.get("dtype") if isinstance(first.get("dtype"), str) else "float32"
    name = f"{_name(children[0])}_input"
    children.insert(0, {"class_name": "InputLayer", "config": {"batch_shape": shape, "dtype": dtype, "name": name}})
    return f"the input shape of {_name(children[1])} as InputLayer {name}"


def _calls_itself_first(layer):
    """Whether Keras 2 gives this layer a node of its own before its first call (a nested model,
    Sequential or functional), so that its first call is its node 1."""
    return layer.get("class_name") in MODEL_CLASSES


def _keras2_reference(history, translation):
    """[layer, node, tensor] with the node numbered as Keras 2 numbers it."""
    name, node, tensor = list(history)[:3]
    return [name, node + 1 if name in getattr(translation, "networks", ()) else node, tensor]


def _shift_references(config, key, translation):
    """A model's input_layers/output_layers naming a nested model, renumbered for Keras 2."""
    references = config.get(key)
    if not isinstance(references, list) or not references:
        return False
    single = isinstance(references[0], str)
    shifted = [_keras2_reference(r, translation) for r in ([references] if single else references)]
    if shifted == ([references] if single else references):
        return False
    config[key] = shifted[0] if single else shifted
    return True


def _unreachable_node(config):
    """The first reference in a Keras 2 config to a node its layer will never have, as
    ``(layer, node, nodes it has)``, or None: Keras 2's from_config waits for such a node for ever."""
    inner = config.get("config")
    children = inner.get("layers") if isinstance(inner, dict) else inner  # Keras <= 2.1: a bare list
    if not isinstance(children, list) or not children:
        return None
    count = {}
    for child in children:
        nodes = child.get("inbound_nodes") or []
        own = 1 if child.get("class_name") == "InputLayer" or _calls_itself_first(child) else 0
        count[_name(child)] = own + len(nodes)
    calls, ends = _references(inner if isinstance(inner, dict) else {}, children)
    for reference in calls + ends:
        if not (isinstance(reference, list) and len(reference) >= 3 and isinstance(reference[0], str)):
            return None  # not Keras 2's list form: nothing to check
        name, node = reference[0], reference[1]
        if name in count and isinstance(node, int) and node >= count[name]:
            return name, node, count[name]
    for child in children:
        found = _unreachable_node(child)
        if found:
            return found
    return None


def _collect_tensors(value, found):
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(list(value["config"]["keras_history"]))
            return
        for child in value.values():
            _collect_tensors(child, found)
    elif isinstance(value, list):
        for child in value:
            _collect_tensors(child, found)


def _reset_after(layer, stored, target, translation):
    """Keras <= 2.2 computed a GRU without reset_after (and stored no such key); later Keras default to True."""
    config = layer.get("config") or {}
    if layer.get("class_name") not in ("GRU", "GRUCell") or "reset_after" in config:
        return None
    if target.generation == 2 and target.minor < (2, 2):
        return None  # this Keras's GRU has no reset_after either
    config["reset_after"] = False
    return "reset_after=False (the file's Keras computed a GRU that way)"


# The gates each recurrent layer computes with recurrent_activation, as column blocks of its kernels.
GATES = {"LSTM": (4, (0, 1, 3)), "LSTMCell": (4, (0, 1, 3)), "GRU": (3, (0, 1)), "GRUCell": (3, (0, 1))}
HARD_SIGMOID_RATIO = 1.2  # Keras 2's hard_sigmoid(x) = clip(0.2 x + 0.5) = Keras 3's at 1.2 x


def _hard_sigmoid_changes(layer, stored, target):
    config = layer.get("config") or {}
    if layer.get("class_name") not in GATES or stored.generation == target.generation:
        return False
    return config.get("recurrent_activation") == "hard_sigmoid"


def _hard_sigmoid(layer, stored, target, translation):
    if not _hard_sigmoid_changes(layer, stored, target):
        return None
    factor = HARD_SIGMOID_RATIO if target.generation == 3 else round(1 / HARD_SIGMOID_RATIO, 6)
    return f"gate weights scaled by {factor} so hard_sigmoid computes Keras {stored.generation}'s"


def _hard_sigmoid_arrays(layer, arrays, stored, target):
    inner = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    if layer.get("class_name") == "Bidirectional" and isinstance(inner.get("layer"), dict):
        # The forward layer's weights, then the backward one's: each half scaled as its layer says.
        backward = inner.get("backward_layer") if isinstance(inner.get("backward_layer"), dict) else inner["layer"]
        half = len(arrays) // 2
        return _hard_sigmoid_arrays(inner["layer"], list(arrays[:half]), stored, target) + _hard_sigmoid_arrays(
            backward, list(arrays[half:]), stored, target
        )
    if layer.get("class_name") == "RNN" and isinstance(inner.get("cell"), dict):
        return _hard_sigmoid_arrays(inner["cell"], arrays, stored, target)
    if not _hard_sigmoid_changes(layer, stored, target):
        return arrays
    factor = HARD_SIGMOID_RATIO if target.generation == 3 else 1.0 / HARD_SIGMOID_RATIO
    blocks, gates = GATES[layer["class_name"]]
    scaled = []
    for array in arrays:  # kernel, recurrent_kernel, bias (a GRU's bias may be (2, 3u))
        array = np.array(array, dtype=array.dtype, copy=True)
        width = array.shape[-1] // blocks
        for gate in gates:
            array[..., gate * width : (gate + 1) * width] *= factor
        scaled.append(array)
    return scaled


def _lambda_function(layer, stored, target, translation):
    """A Lambda's function as this Python can run it: the user's (by layer name or pattern), or one
    handed over by the name the file gives it; bytecode stored in the file is never run."""
    if layer.get("class_name") != "Lambda":
        return None
    config = layer["config"]
    name = _name(layer)
    given = [pattern for pattern in translation.functions if fnmatch.fnmatchcase(name, pattern)]
    function = translation.functions[given[0]] if given else None  # by name, or a pattern (lambda_*)
    how = f"the function given for {given[0]!r}" if given else ""
    if function is None:
        function, how = _stored_function(config, stored, name)
    if function is None:
        named = _function_name(config.get("function"))
        if named and named not in translation.objects:
            # A module the file names is never imported here: the function comes from the user.
            raise NotTranslatable(
                f"Lambda layer {name!r} names its function {named!r}, which the file does not hold: "
                f"give it with --function {name}=FILE.py:NAME"
            )
        if not named:
            return None
        function, how = translation.objects[named], f"{named!r}, handed over by name"
    key = f"compat_translated_{name}"
    translation.objects[key] = function
    config["function"] = key
    config["function_type"] = "function"
    shape = config.get("output_shape")
    if isinstance(shape, dict) and shape.get("class_name") == "__tuple__":
        config["output_shape"] = list(shape["config"]["value"])
    if target.generation == 2:  # Keras 2 reads the types; Keras 2.1 takes no module fields
        config.setdefault("output_shape_type", "raw")
        config.pop("module", None)
        config.pop("output_shape_module", None)
    if target.generation == 3:
        for field in ("function_type", "module", "output_shape_type", "output_shape_module"):
            config.pop(field, None)
        # The output shape as a function: the stored shape, else the function run once on zeros
        # (Keras 3 cannot trace every function on symbolic tensors; 3.3 keeps a list shape as a list).
        shape = _output_shape(function, config.get("output_shape"), config.get("arguments"))
        translation.objects[key + "_shape"] = shape
        config["output_shape"] = _by_name(key + "_shape")
        # Keras 3's own form for this layer: its legacy reader puts the function object into the
        # config it is handed, then serialises that config again (Keras 3.3) and fails.
        layer["module"], layer["registered_name"] = "keras.layers", None
        config["function"] = _by_name(key)
    return "function: " + how


def _function_name(function):
    """The name a Lambda's function is stored by (Keras 2's ``function_type: function``, Keras 3's
    ``{class_name: function, config: NAME}``), else None."""
    if isinstance(function, str):
        return function
    if isinstance(function, dict) and function.get("class_name") == "function":
        return str(function.get("config"))
    return None


def _by_name(key):
    return {"module": "builtins", "class_name": "function", "config": key, "registered_name": "function"}


def _output_shape(function, stored_shape, arguments):
    """``output_shape(input_shape)`` for Keras 3's Lambda: with the batch dimension, as it expects."""

    def output_shape(input_shape):
        nested = isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple))
        first = input_shape[0] if nested else input_shape
        if stored_shape is not None:
            return (first[0],) + tuple(stored_shape)
        shapes = input_shape if nested else [input_shape]
        zeros = [np.zeros((1,) + tuple(1 if d is None else d for d in shape[1:]), dtype="float32") for shape in shapes]
        result = function(zeros if nested else zeros[0], **(arguments or {}))
        return (first[0],) + tuple(int(d) for d in np.shape(result)[1:])

    return output_shape


def _stored_function(config, stored, name):
    """None where the Lambda's function is not stored as bytecode; else the refusal: translate never
    runs code stored in the file (only the Python minor that wrote it reads it, and reading it runs it)."""
    function = config.get("function")
    stored_code = (config.get("function_type") == "lambda" and isinstance(function, list)) or (
        isinstance(function, dict) and function.get("class_name") == "__lambda__"
    )
    if not stored_code:
        return None, None
    raise NotTranslatable(
        f"Lambda layer {name!r} stores its function as Python bytecode, which translate never runs (only "
        f"the Python minor that wrote it reads it): give the function with --function {name}=FILE.py:NAME"
    )


def _lambda_keras2_fields(layer, stored, target, translation):
    """A Keras 2 Lambda's serialisation fields, which Keras 3's Lambda takes as unknown arguments."""
    config = layer.get("config") or {}
    if layer.get("class_name") != "Lambda" or target.generation != 3:
        return None
    dropped = [key for key in ("function_type", "module", "output_shape_type", "output_shape_module") if key in config]
    for key in dropped:
        del config[key]
    return ("dropped " + ", ".join(dropped)) if dropped else None


def _model_class(layer, stored, target, translation):
    """``Functional`` came with TF 2.4's Keras; older Keras names a functional model ``Model``."""
    if layer.get("class_name") == "Functional" and target.generation == 2 and target.minor < (2, 4):
        layer["class_name"] = "Model"
        return "Functional -> Model"
    return None


def _lambda_keras3_fields(layer, stored, target, translation):
    """A Keras 3 Lambda names its function ({class_name: function, config: NAME}); Keras 2 wants
    ``function_type: function`` and the bare name, resolved through custom_objects."""
    config = layer.get("config") or {}
    if layer.get("class_name") != "Lambda" or target.generation != 2 or "function_type" in config:
        return None
    function = config.get("function")
    if isinstance(function, dict) and function.get("class_name") == "function":
        config["function"] = function.get("config")
    shape = config.get("output_shape")
    if isinstance(shape, dict) and shape.get("class_name") == "__tuple__":
        config["output_shape"] = list(shape["config"]["value"])
    config.update(function_type="function", output_shape_type="raw")
    config.pop("module", None)
    config.pop("output_shape_module", None)
    return "function by name: " + str(config["function"])


# Keras < 2.2.3 has VarianceScaling but not the classes that name its common settings.
VARIANCE_SCALING = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "normal"),
}


def _initializer_aliases(layer, stored, target, translation):
    config = layer.get("config") or {}
    if target.generation != 2 or not isinstance(config, dict):
        return None
    initializers = getattr(target.keras, "initializers", None)
    changed = []
    for key, value in sorted(config.items()):
        if isinstance(value, dict) and value.get("class_name") in VARIANCE_SCALING:
            if getattr(initializers, value["class_name"], None) is not None:
                continue
            scale, mode, distribution = VARIANCE_SCALING[value["class_name"]]
            seed = (value.get("config") or {}).get("seed")
            config[key] = {
                "class_name": "VarianceScaling",
                "config": {"scale": scale, "mode": mode, "distribution": distribution, "seed": seed},
            }
            changed.append(f"{key} {value['class_name']} -> VarianceScaling")
    return ", ".join(changed) or None


def _axis_list(layer, stored, target, translation):
    """Keras 2.3+ and 3 write a BatchNormalization's axis as a list; Keras 2.1 - 2.2 index with it."""
    config = layer.get("config") or {}
    axis = config.get("axis") if isinstance(config, dict) else None
    if layer.get("class_name") != "BatchNormalization" or target.generation != 2 or target.minor >= (2, 3):
        return None
    if isinstance(axis, list) and len(axis) == 1:
        config["axis"] = axis[0]
        return f"axis {axis} -> {axis[0]}"
    return None


def _io_layers(layer, stored, target, translation):
    """Keras 3 writes a model's single input or output as one ``[name, node, tensor]``; earlier
    Keras (3.0 - 3.x and 2) read a list of them, and take the name's letters for arguments."""
    config = layer.get("config") or {}
    if layer.get("class_name") not in MODEL_CLASSES or not isinstance(config, dict):
        return None
    changed = []
    for key in ("input_layers", "output_layers"):
        value = config.get(key)
        if isinstance(value, list) and value and isinstance(value[0], str):
            config[key] = [value]
            changed.append(key)
    return ("one [name, node, tensor] as a list of them: " + ", ".join(changed)) if changed else None


def _is_history(value):
    """A Keras 2 node's reference to a tensor: ``[layer, node, tensor]`` (kwargs may follow)."""
    return (
        isinstance(value, list)
        and len(value) >= 3
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and isinstance(value[2], int)
    )


def _op_call(layer):
    """``(first tensor, other arguments)`` of a TFOpLambda's one call, from its inbound node."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) != 1:
        raise NotTranslatable(f"TFOpLambda {_name(layer)!r} is called {len(nodes)} times: only one call is translated")
    node = nodes[0]
    call = node if _is_history(node) else (node[0] if node and _is_history(node[0]) else None)
    if call is None:
        raise NotTranslatable(f"TFOpLambda {_name(layer)!r}: its call is not one tensor and its arguments")
    arguments = dict(call[3]) if len(call) > 3 and isinstance(call[3], dict) else {}
    arguments.pop("name", None)
    return list(call[:3]), arguments


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tf_op_layer(op, arguments):
    """The Keras layer computing the TF op with these arguments: ``(class, config, other inputs)``."""
    y = arguments.get("y")
    if op in ("math.multiply", "__operators__.mul") and _number(y):
        return "Rescaling", {"scale": float(y), "offset": 0.0}, []
    if op in ("math.multiply", "__operators__.mul") and _is_history(y):
        return "Multiply", {}, [y]
    if op in ("math.add", "__operators__.add") and _is_history(y):
        return "Add", {}, [y]
    if op in ("math.add", "__operators__.add") and _number(y):
        return "Rescaling", {"scale": 1.0, "offset": float(y)}, []
    if op in ("math.subtract", "__operators__.sub") and _is_history(y):
        return "Subtract", {}, [y]
    if op in ("math.subtract", "__operators__.sub") and _number(y):
        return "Rescaling", {"scale": 1.0, "offset": -float(y)}, []
    if op in ("math.truediv", "__operators__.truediv", "math.divide") and _number(y) and y:
        return "Rescaling", {"scale": 1.0 / float(y), "offset": 0.0}, []
    if op in ("math.l2_normalize", "nn.l2_normalize") and set(arguments) <= {"axis", "x"}:
        return "UnitNormalization", {"axis": arguments.get("axis", -1)}, []
    if op in ("nn.relu", "math.sigmoid", "math.tanh", "nn.relu6", "nn.silu", "math.softplus") and not arguments:
        return "Activation", {"activation": op.split(".")[-1]}, []
    if op == "nn.softmax" and set(arguments) <= {"axis"}:
        return "Softmax", {"axis": arguments.get("axis", -1)}, []
    return None


def _tf_op_lambda(layer, stored, target, translation):
    """A raw TF op on Keras tensors (Keras 2's TFOpLambda) as the Keras 3 layer that computes it."""
    if layer.get("class_name") not in ("TFOpLambda", "SlicingOpLambda") or target.generation != 3:
        return None
    op = (layer.get("config") or {}).get("function")
    first, arguments = _op_call(layer)
    found = _tf_op_layer(op, arguments)
    if found is None:
        raise NotTranslatable(
            f"TFOpLambda {_name(layer)!r} calls tf.{op}({', '.join(sorted(arguments))}), which no Keras 3 layer "
            "computes here: rebuild that step as a layer of your own code"
        )
    class_name, config, others = found
    old = layer.get("config") or {}
    layer.clear()
    name = old.get("name")
    layer.update(
        class_name=class_name,
        name=name,
        config=dict(config, name=name, trainable=old.get("trainable", True), dtype=old.get("dtype", "float32")),
        inbound_nodes=[[first + [{}]] + [list(other[:3]) + [{}] for other in others]],
    )
    return f"tf.{op} -> {class_name}"


# Arguments every layer takes through its base class (the constructors take them as **kwargs).
LAYER_ARGUMENTS = frozenset(
    (
        "name",
        "trainable",
        "dtype",
        "dynamic",
        "input_shape",
        "input_dim",
        "batch_input_shape",
        "batch_size",
        "weights",
        "activity_regularizer",
        "autocast",
        "input_length",
        "implementation",
    )
)
NEUTRAL = (None, False, [], {})
# Values that mean what the argument's absence means in a Keras that does not take it.
NO_OP = {"groups": (1,), "renorm_momentum": (0.99,), "ragged": (False,), "sparse": (False,), "dtype": ("float32",)}


def _accepted(cls, layer=True):
    """The argument names ``cls`` takes, or None where it takes any (a layer's ``**kwargs`` are
    its base class's arguments; a class without its own constructor takes none)."""
    import inspect

    if cls.__init__ is object.__init__:
        return set()
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return None
    names = set(name for name in parameters if name != "self")
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        if not layer:
            return None
        names |= LAYER_ARGUMENTS
    return names


def _drop_unknown(cls, config, where, layer=True):
    accepted = _accepted(cls, layer) if cls is not None else None
    if accepted is None:
        return []
    dropped = []
    for key in sorted(set(config) - accepted):
        if config[key] not in NEUTRAL and config[key] not in NO_OP.get(key, ()):
            raise NotTranslatable(
                f"{where}: {cls.__name__} in this Keras takes no {key!r} (the file sets {key}={config[key]!r})"
            )
        del config[key]
        dropped.append(key)
    return dropped


def _neutral_arguments(layer, stored, target, translation):
    """Arguments one Keras added that the other does not take, dropped where the file sets them to what
    their absence means (None, False, groups=1): Keras 3.15's initializers' input_axes, Dense's lora_rank,
    an InputLayer's ragged for Keras 2.1..."""
    name = layer.get("class_name")
    config = layer.get("config")
    if name in MODEL_CLASSES or not isinstance(config, dict):
        return None
    if name in translation.objects or name in ("Lambda", "TFOpLambda"):
        return None
    dropped = _drop_unknown(getattr(target.keras.layers, name, None), config, f"layer {_name(layer)!r}")
    for key, value in sorted(config.items()):
        if isinstance(value, dict) and isinstance(value.get("config"), dict) and "class_name" in value:
            found = _object_class(target.keras, value["class_name"])
            dropped += [
                f"{key}.{k}" for k in _drop_unknown(found, value["config"], f"layer {_name(layer)!r} {key}", False)
            ]
    return ("dropped " + ", ".join(dropped)) if dropped else None


def _object_class(keras, class_name):
    for module in ("initializers", "regularizers", "constraints"):
        found = getattr(getattr(keras, module, None), class_name, None)
        if isinstance(found, type):
            return found
    return None


RULES = (
    Rule(
        "groups",
        "Keras 2.4 - 2.15 -> Keras 3",
        "drops groups=1 from DepthwiseConv2D and Conv2DTranspose (Keras 3 takes no such argument)",
        "Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}",
        ("keras-team/keras#19441",),
        _drop_neutral("groups", ("DepthwiseConv2D", "Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose"), (1,)),
    ),
    Rule(
        "time_major",
        "Keras 2 -> Keras 3",
        "drops time_major=False from recurrent layers",
        "Unrecognized keyword arguments passed to LSTM: {'time_major': False}",
        ("keras-team/keras#19898",),
        _drop_neutral("time_major", ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional"), (False,)),
    ),
    Rule(
        "batch_shape",
        "Keras 3 -> Keras 2",
        "InputLayer batch_shape -> batch_input_shape",
        "Unrecognized keyword arguments: ['batch_shape']",
        ("tensorflow/tensorflow#66381",),
        _input_shape_key,
    ),
    Rule(
        "dtype_policy",
        "Keras 3 -> Keras 2",
        "a DTypePolicy object as its dtype name",
        "Could not interpret dtype: {'module': 'keras', 'class_name': 'DTypePolicy', ...}",
        ("tensorflow/tensorflow#64685",),
        _dtype_policy,
    ),
    Rule(
        "keras2_serialisation",
        "Keras 2.13 - 2.15 -> Keras 3",
        "drops the module keys Keras 2.13+ writes, so Keras 3 converts the config as Keras 2's",
        "int() argument must be a string, a bytes-like object or a real number, not 'list' (BatchNormalization axis)",
        ("keras-team/keras#19089",),
        _keras2_modules,
    ),
    Rule(
        "keras3_serialisation",
        "Keras 3 -> Keras 2",
        "drops module / registered_name / build_config from serialised objects",
        "('Keyword argument not understood:', 'module')",
        ("tensorflow/tensorflow#66381",),
        _keras3_keys,
    ),
    Rule(
        "nested_calls",
        "Keras 2 -> Keras 3",
        "a nested model's calls numbered from 0 (Keras 2 numbered them from 1)",
        "Invalid Functional model configuration. The graph of the Functional model either has loops or "
        "disconnected nodes",
        ("keras-team/keras#19669", "keras-team/keras#19509"),
        _nested_calls,
    ),
    Rule(
        "sequential_input",
        "Keras 2 -> Keras 3",
        "a nested Sequential's batch_input_shape (on its first layer) as an InputLayer",
        "Invalid input shape for input ... Expected shape (None, None, 4), but input has incompatible shape (2, 4)",
        ("tensorflow/tensorflow#70757",),
        _sequential_input,
    ),
    Rule(
        "keras3_nodes",
        "Keras 3 -> Keras 2",
        "inbound nodes {args, kwargs} -> [[layer, node, tensor, kwargs]], a nested model's first call as its node 1",
        "TypeError: list indices must be integers or slices, not str",
        ("tensorflow/tensorflow#66381", "keras-team/keras#19509"),
        _keras3_nodes,
    ),
    Rule(
        "functional_class",
        "Keras 2.4+ -> Keras < 2.4",
        "Functional -> Model",
        "Unknown layer: Functional",
        ("Shawn-Shan/fawkes#131", "gmalivenko/onnx2keras#85"),
        _model_class,
    ),
    Rule(
        "gru_reset_after",
        "Keras <= 2.2 -> Keras 2.3+ and 3",
        "reset_after=False where the file's GRU has no such key (the default became True)",
        "Layer 'gru_cell' expected 3 variables, but received 0 / a bias shape mismatch",
        ("xiaochus/TrafficFlowPrediction#10",),
        _reset_after,
    ),
    Rule(
        "hard_sigmoid",
        "Keras 2 <-> Keras 3",
        "scales the gate columns of a recurrent layer's kernels and bias by 1.2 (or 1/1.2)",
        "no error: Keras 3's hard_sigmoid is relu6(x + 3) / 6, Keras 2's clip(0.2 x + 0.5): numbers off by ~6e-3",
        ("tensorflow/tensorflow#65381", "keras-team/keras#19477"),
        _hard_sigmoid,
        _hard_sigmoid_arrays,
    ),
    Rule(
        "lambda_function",
        "any Python -> any Python",
        "a Lambda's function by name: the user's (--function) or one handed over by name; its bytecode is never run",
        "bad marshal data (unknown type code)",
        ("keras-team/keras#14875", "keras-team/keras#7440"),
        _lambda_function,
    ),
    Rule(
        "lambda_fields",
        "Keras 2 -> Keras 3",
        "drops a Keras 2 Lambda's function_type, module and output_shape_type",
        "Unrecognized keyword arguments passed to Lambda: {'function_type': 'lambda', ...}",
        ("keras-team/keras#19151",),
        _lambda_keras2_fields,
    ),
    Rule(
        "neutral_arguments",
        "Keras 2 <-> Keras 3",
        "drops arguments the target's class does not take where the file sets them to None or False",
        "Error when deserializing class 'Conv2D' ... 'input_axes': None (Keras 3.15 initializers under Keras 2)",
        ("tensorflow/tensorflow#66381",),
        _neutral_arguments,
    ),
    Rule(
        "lambda_named",
        "Keras 3 -> Keras 2",
        "a Lambda's function named Keras 3's way -> function_type: function and the name",
        "KeyError: 'function_type'",
        ("tensorflow/tensorflow#66381",),
        _lambda_keras3_fields,
    ),
    Rule(
        "initializer_names",
        "Keras 2.2.3+ and 3 -> Keras < 2.2.3",
        "GlorotUniform, HeNormal... -> the VarianceScaling they name (initial values only: no loaded number changes)",
        "Unknown initializer: GlorotUniform",
        ("keras-team/keras#11424",),
        _initializer_aliases,
    ),
    Rule(
        "single_io",
        "Keras 3 (later) -> Keras 2 and earlier Keras 3",
        "a model's one input or output [name, node, tensor] -> [[name, node, tensor]]",
        "functional_from_config.<locals>.get_tensor() takes 3 positional arguments but 11 were given",
        ("keras-team/keras#19089",),
        _io_layers,
    ),
    Rule(
        "axis_list",
        "Keras 2.3+ and 3 -> Keras 2.1 - 2.2",
        "a BatchNormalization's axis [3] -> 3",
        "TypeError: tuple indices must be integers or slices, not list",
        ("keras-team/keras#11424",),
        _axis_list,
    ),
    Rule(
        "tf_op_layers",
        "Keras 2.4 - 2.15 -> Keras 3",
        "TFOpLambda (a raw TF op on Keras tensors) -> the Keras layer computing it (Rescaling, Add, Multiply, "
        "UnitNormalization, Activation, Softmax)",
        "Unknown layer: 'TFOpLambda'",
        ("hyunnamlee/RAPUNet#4",),
        _tf_op_lambda,
    ),
)
BY_NAME = {rule.name: rule for rule in RULES}


# -- the translation --------------------------------------------------------------------------


class Translation:
    """One file carried into one Keras: the model, and every change made on the way."""

    def __init__(self, stored, target, functions=None, custom_objects=None, architecture=None):
        self.stored = stored
        self.architecture = architecture  # the user's function or class returning the model
        self.target = target
        self.functions = dict(functions or {})
        self.objects = dict(custom_objects or {})
        self.changes = []  # (rule, layer, what changed)
        self.wrapped = set()  # id() of the layer configs inside a wrapper (Bidirectional, TimeDistributed)
        self.networks = set()  # names of nested models (Keras 2 numbers their first call 1)
        self.model = None

    def rewrite(self):
        config = json.loads(json.dumps(self.stored.config))  # a copy to edit
        _sequential_as_dict(config)
        layers = [config] + list(_layers(config))
        for layer in layers:
            inner = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            self.wrapped.update(id(inner[key]) for key in WRAPPED if isinstance(inner.get(key), dict))
        for layer in layers:
            for rule in RULES:
                change = rule.edit(layer, self.stored, self.target, self)
                if change:
                    self.changes.append((rule.name, _name(layer) or layer.get("class_name"), change))
        if self.target.generation == 2 and self.target.minor < (2, 2):
            _sequential_as_list(config)  # the only form this Keras's Sequential.from_config reads
        return config

    def build(self):
        if self.architecture is not None:
            self.model = self.architecture()
            config = _model_config(self.model)
            if self.stored.config is None:  # the saving library's groups follow the model's layers
                self.stored.config = config
            self._set_weights(config)
            return self.model
        config = self.rewrite()
        # Only a Keras 3 config renumbered for Keras 2 is checked: a Keras 2 file is Keras's own business.
        renumbered = self.target.generation == 2 and self.stored.generation == 3
        unreachable = _unreachable_node(config) if renumbered else None
        if unreachable:
            raise NotTranslatable("the model calls node {1} of layer {0}, which has {2} node(s)".format(*unreachable))
        kept = copy.deepcopy(config)  # from_config edits the dicts it is handed
        keras = self.target.keras
        with keras.utils.custom_object_scope(self.objects):
            if self.target.generation == 3 and "module" not in config:  # Keras 2's form, or Keras 3's legacy .h5
                model_class = keras.Sequential if config.get("class_name") == "Sequential" else keras.Model
                self.model = model_class.from_config(config["config"], custom_objects=self.objects)
            else:
                self.model = keras.models.model_from_json(json.dumps(config), custom_objects=self.objects)
        self._set_weights(kept)
        return self.model

    def _set_weights(self, config):
        stored_arrays = read_weights(self.stored)
        configs = {_name(layer): layer for layer in _layers(config)}
        layers = list(_weighted_layers(self.model))
        missing = [layer.name for layer in layers if layer.name not in stored_arrays]
        if missing:
            # The file's layers by position instead, where it holds as many weighted layers as
            # the model and every shape fits (the topology).
            found = list(stored_arrays.values())
            if len(found) != len(layers) or not all(_fits(layer, arrays) for layer, arrays in zip(layers, found)):
                raise NotTranslatable(
                    "the file holds no weights for layer(s) {} of the model, and its {} weighted layers do not "
                    "fit the model's {} in order".format(", ".join(missing[:5]), len(found), len(layers))
                )
            given = list(zip(layers, found))
        else:
            given = [(layer, stored_arrays[layer.name]) for layer in layers]
        pairs = []
        for layer, arrays in given:
            rule_config = configs.get(layer.name) or {}
            for rule in RULES:
                if rule.arrays is not None:
                    arrays = rule.arrays(rule_config, arrays, self.stored, self.target)
            if not _fits(layer, arrays):
                shapes, given_shapes = _shapes(layer.weights), [list(np.shape(a)) for a in arrays]
                raise NotTranslatable(
                    f"layer {layer.name!r} holds weights of shapes {shapes}; the file gives {given_shapes}"
                )
            pairs += list(zip(layer.weights, arrays))
        _assign(self.target.keras, pairs)
        for layer, _ in given:
            # Keras 3's preprocessing layers derive their state from the set variables here
            # (Normalization's mean and variance), as its own loaders do after reading weights.
            if hasattr(layer, "finalize_state"):
                layer.finalize_state()

    def report(self):
        """The changes, one line per rule and change, as ``tf_upgrade_v2`` lists its edits."""
        grouped = {}
        for rule, layer, change in self.changes:
            grouped.setdefault((rule, change), []).append(layer)
        lines = []
        for (rule, change), layers in grouped.items():
            shown = ", ".join(str(name) for name in layers[:3]) + (
                f" and {len(layers) - 3} more" if len(layers) > 3 else ""
            )
            lines.append(f"{rule}: {change}: {shown} ({', '.join(BY_NAME[rule].reports)})")
        return lines


def _shapes(variables):
    """Each variable's shape as a list (TF 1's TensorShape included)."""
    found = []
    for variable in variables:
        shape = variable.shape
        dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
        found.append([None if d is None else int(d) for d in dims])
    return found


def _fits(layer, arrays):
    return len(layer.weights) == len(arrays) and _shapes(layer.weights) == [list(np.shape(a)) for a in arrays]


def _assign(keras, pairs):
    """Every variable its value at once: graph-mode Keras (TF 1) runs one session call, not one
    per layer; Keras 3 assigns each variable."""
    batch = getattr(getattr(keras, "backend", None), "batch_set_value", None)
    if batch is not None:
        batch([(variable, np.asarray(value)) for variable, value in pairs])
    else:
        for variable, value in pairs:
            variable.assign(np.asarray(value))


def _weighted_layers(model):
    """The layers to give weights, outermost first: a nested model's own layers one by one."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.weights and not layer.__class__.__name__.startswith("Bidirectional"):
            yield from _weighted_layers(layer)
        elif layer.weights:
            yield layer


# -- the weights in the file ------------------------------------------------------------------


def read_weights(stored):
    """Layer name -> its arrays in the order the layer holds them."""
    kind = stored.weights[0]
    if kind == "savedmodel":
        return _savedmodel_weights(stored.weights[1], stored.weights[2])
    if kind == "h5":
        return _legacy_h5_weights(stored.weights[1], stored.weights[2])
    if kind == "keras_zip":
        import h5py

        folder = tempfile.mkdtemp(prefix="translate-")
        try:  # a file on disk: old h5py opens no file objects
            with zipfile.ZipFile(stored.weights[1]) as archive:
                path = archive.extract("model.weights.h5", folder)
            with h5py.File(path, "r") as handle:
                return _saving_lib_weights(handle, stored.config)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    import h5py

    with h5py.File(stored.weights[1], "r") as handle:
        return _saving_lib_weights(handle, stored.config)


def _legacy_h5_weights(path, group):
    """``model.save`` / ``save_weights`` HDF5: a group per layer, ``weight_names`` in order."""
    import h5py

    found = {}
    with h5py.File(path, "r") as handle:
        root = handle[group] if group else handle
        for layer_name in [_text(n) for n in root.attrs["layer_names"]]:
            layer = root[layer_name]
            names = [_text(n) for n in layer.attrs.get("weight_names", [])]
            if not names:
                continue
            arrays = [np.asarray(layer[name]) for name in names]
            found[layer_name] = arrays
            # A nested model's group holds its layers' weights as "inner/kernel:0" (Keras 2, and
            # Keras 3's functional models) or "model/inner/kernel" (Keras 3's Sequential): by inner name too.
            for name, array in zip(names, arrays):
                parts = name.split("/")
                if len(parts) > 1:
                    inner = parts[1] if parts[0] == layer_name and len(parts) > 2 else parts[0]
                    found.setdefault("@" + inner, []).append(array)
    for key in [k for k in found if k.startswith("@")]:
        found.setdefault(key[1:], found[key])
        del found[key]
    return found


def _snake(name):
    """A class name as Keras's saving library names its group (``Conv2D`` -> ``conv2d``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _saving_lib_weights(handle, config):
    """``.keras`` / ``.weights.h5``: a group per layer named by its class (``conv2d_3``), in the
    order of the model's layers, each with ``vars/0``... (Keras 2.13+ and 3)."""
    found = {}
    _walk_saving_lib(handle, config, found)
    return found


def _walk_saving_lib(handle, config, found):
    children = (config.get("config") or {}).get("layers") or []
    container = handle["layers"] if "layers" in handle else handle.get("_layer_checkpoint_dependencies")
    if container is None:
        return
    by_class = {}
    for child in children:
        by_class.setdefault(_snake(child.get("class_name", "")), []).append(child)
    for prefix, layers in by_class.items():
        for child, key in zip(layers, _numbered(container, prefix, len(layers))):
            if key not in container:
                continue
            group = container[key]
            if child.get("class_name") in MODEL_CLASSES:
                _walk_saving_lib(group, child, found)
                continue
            arrays = _vars(group)
            if arrays:
                found[_name(child)] = arrays


def _numbered(container, prefix, count):
    """The group names of a class's layers in order: ``conv2d``, ``conv2d_1``... Keras 2.12 and
    2.13 count in twos (``conv2d``, ``conv2d_2``...): the groups there are, in number order, when
    there is one per layer."""
    pattern = re.compile(re.escape(prefix) + r"(?:_(\d+))?$")
    there = sorted((int(match.group(1) or 0), name) for name in container for match in [pattern.match(name)] if match)
    if len(there) == count:
        return [name for _, name in there]
    return [prefix] + [f"{prefix}_{n}" for n in range(1, count)]


def _vars(group):
    """A layer's variables in order: its own ``vars`` then each sub-layer's (a wrapper's, a cell's)."""
    arrays = []
    if "vars" in group:
        arrays += [np.asarray(group["vars"][str(i)]) for i in range(len(group["vars"]))]
    # A Bidirectional's forward layer holds its first weights; other sub-layers in name order.
    for key in sorted((k for k in group if k != "vars"), key=lambda k: (k != "forward_layer", k)):
        arrays += _vars(group[key]) if hasattr(group[key], "keys") else []
    return arrays


# -- the one call a loader makes --------------------------------------------------------------


def function_from(path, name):
    """``name`` from the Python file ``path``: the user's code for a Lambda, run by this Python."""
    import importlib.util

    module_name = "user_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise NotTranslatable(f"{path} is not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise NotTranslatable(f"{path} defines no {name!r}")
    return getattr(module, name)


def load_model(path, keras, weights=None, functions=None, custom_objects=None, architecture=None):
    """``path`` carried into ``keras``: the ``Translation`` (``.model``, ``.report()``). With
    ``architecture`` (the user's function or class returning the model) only the file's weights
    are read, into the model it builds."""
    stored = read_weights_only(weights or path) if architecture is not None else read(path, weights)
    translation = Translation(stored, Target(keras), functions, custom_objects, architecture)
    translation.build()
    return translation
