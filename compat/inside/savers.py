"""Every way a producer can write a model, with the version gates beside each writer.

Each writer returns the list of paths it wrote, or raises ``NotWritable(reason)`` when
this Keras cannot write that format (the manifest records the reason).
"""

import os

from compat.inside import kerasapi

# Format ids, in the order a reader meets them in the report.
FORMATS = ("h5", "h5_weights", "json", "savedmodel", "keras", "weights_h5", "export")
FORMAT_LABELS = {
    "h5": ".h5 whole model",
    "h5_weights": ".h5 weights only",
    "json": "JSON architecture + weights",
    "savedmodel": "SavedModel directory",
    "keras": ".keras zip",
    "weights_h5": "*.weights.h5",
    "export": "Keras 3 export",
    "frozen_pb": "TF 1 frozen graph (.pb)",
    "tf1_checkpoint": "TF 1 checkpoint (.meta + .index/.data)",
}
WEIGHTS_ONLY = ("h5_weights", "weights_h5")
# FaceNet's own distribution (davidsandberg/facenet): TensorFlow graph files, not Keras ones,
# written from a ``Tf1Graph``. Their tensors are named as FaceNet's are. Graphs are serialised
# with their attribute maps in key order (protobuf's deterministic mode): otherwise the map
# order, and so the bytes, differ from one run to the next.
TF1_FORMATS = ("frozen_pb", "tf1_checkpoint")
TF1_TENSORS = {"input": "input:0", "output": "embeddings:0"}


class NotWritable(Exception):
    """This producer cannot write the format; the message says why."""


def _tf_minor():
    version = kerasapi.tf_version()
    if not version:
        return None
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _keras_minor():
    major, minor = kerasapi.version().split(".")[:2]
    return int(major), int(minor.split("-")[0])


def save_h5(model, folder, variant):
    path = os.path.join(folder, variant + ".h5")
    model.save(path)
    return [path]


def _legacy_weights_path(folder, variant):
    return os.path.join(folder, variant + "_weights.h5")


def save_h5_weights(model, folder, variant):
    if kerasapi.is_keras3():
        raise NotWritable("Keras 3 writes weights only as *.weights.h5 (the new layout)")
    path = _legacy_weights_path(folder, variant)
    model.save_weights(path)
    return [path]


def save_json(model, folder, variant):
    path = os.path.join(folder, variant + ".json")
    with open(path, "w") as handle:
        handle.write(model.to_json())
    if kerasapi.is_keras3():
        weights = os.path.join(folder, variant + ".weights.h5")
    else:
        weights = _legacy_weights_path(folder, variant)
    if not os.path.exists(weights):
        model.save_weights(weights)
    return [path, weights]


def save_savedmodel(model, folder, variant):
    if kerasapi.is_keras3():
        raise NotWritable("Keras 3 cannot write a Keras SavedModel (model.export writes one for inference)")
    if kerasapi.api_name() == "keras":
        raise NotWritable("standalone Keras 2 has no SavedModel writer")
    path = os.path.join(folder, variant + "_savedmodel")
    if _tf_minor() < (2, 0):
        import tensorflow as tf

        tf.keras.experimental.export_saved_model(model, path)
    else:
        model.save(path, save_format="tf")
    return [path]


def save_keras(model, folder, variant):
    if not kerasapi.is_keras3() and (kerasapi.api_name() == "keras" or _keras_minor() < (2, 12)):
        raise NotWritable(f"Keras {kerasapi.version()} has no .keras zip format (it came with 2.12)")
    path = os.path.join(folder, variant + ".keras")
    if not kerasapi.is_keras3() and _keras_minor() < (2, 13):
        # 2.12 writes a SavedModel directory named x.keras unless told otherwise.
        model.save(path, save_format="keras_v3")
    else:
        model.save(path)
    return [path]


def save_keras_naming_module(model, folder, variant):
    """A ``.keras`` whose Lambda config names its function by module, as a crafted file does.

    Keras 3 writes a plain function as ``{"module": "builtins", "config": name}`` and finds
    it again only through ``custom_objects`` or its registry; this rewrites that module to
    the function's real one, which loaders before the module allow-list import (CVE-2025-1550).
    """
    from compat.inside import facenet

    if not kerasapi.is_keras3():
        raise NotWritable(
            f"Keras {kerasapi.version()} stores a Lambda's function as bytecode; naming it by module is Keras 3's form"
        )
    path = save_keras(model, folder, variant)[0]

    def to_module(node):
        if node.get("class_name") == "function" and str(node.get("config", "")).startswith("canary"):
            node["module"] = getattr(facenet, node["config"]).__module__
            return node["config"]
        return None

    if not rewrite_keras_config(path, to_module):
        raise NotWritable(f"Keras {kerasapi.version()} wrote no Lambda function by name to point at a module")
    return [path]


def save_weights_h5(model, folder, variant):
    if not kerasapi.is_keras3() and (kerasapi.api_name() == "keras" or _keras_minor() < (2, 12)):
        raise NotWritable(f"Keras {kerasapi.version()} has no *.weights.h5 layout (it came with 2.12)")
    path = os.path.join(folder, variant + ".weights.h5")
    if not os.path.exists(path):
        model.save_weights(path)
    return [path]


def save_export(model, folder, variant):
    if not kerasapi.is_keras3():
        raise NotWritable("model.export is Keras 3 only")
    if not kerasapi.has_tensorflow():
        raise NotWritable("model.export writes a TF SavedModel and this environment has no TensorFlow")
    path = os.path.join(folder, variant + "_export")
    try:
        model.export(path, verbose=False)  # newer Keras 3 prints the signature otherwise
    except TypeError:
        model.export(path)
    return [path]


class Tf1Graph:
    """A Keras model as FaceNet's TF 1 files hold it: called on a placeholder named ``input`` in
    TF 1's graph mode, in inference mode (learning phase 0, set before it is built), its output
    through ``tf.identity(..., name="embeddings")``, frozen with ``convert_variables_to_constants``.

    ``build()`` returns the seeded Keras model; it is called once the graph is ready for it.
    ``predict`` runs the frozen graph itself, imported into a graph of its own: the reference is
    what the written graph computes.
    """

    def __init__(self, build):
        reason = tf1_graph_reason()
        if reason:
            raise NotWritable(reason)
        import tensorflow as tf

        from compat.inside import facenet

        backend = kerasapi.keras().backend
        # Before the model exists: its BatchNorm and Dropout then build their inference branches only.
        backend.set_learning_phase(0)
        self.graph = tf.get_default_graph()
        names = {key: name.split(":")[0] for key, name in TF1_TENSORS.items()}
        self.images = tf.placeholder(tf.float32, (None,) + tuple(facenet.INPUT_SHAPE), name=names["input"])
        self.model = build()
        self.embeddings = tf.identity(self.model(self.images), name=names["output"])
        if (self.images.name, self.embeddings.name) != (TF1_TENSORS["input"], TF1_TENSORS["output"]):
            raise NotWritable(f"the graph named its tensors {self.images.name} and {self.embeddings.name}")
        self.session = backend.get_session()
        self.frozen = tf.graph_util.convert_variables_to_constants(
            self.session, self.graph.as_graph_def(), [names["output"]]
        )

    def count_params(self):
        return self.model.count_params()

    def predict(self, batch):
        import tensorflow as tf

        graph = tf.Graph()
        with graph.as_default():
            tf.import_graph_def(self.frozen, name="")
        with tf.Session(graph=graph) as session:
            return session.run(TF1_TENSORS["output"], {TF1_TENSORS["input"]: batch})


def tf1_graph_reason():
    """Why this producer does not write FaceNet's TF 1 graph files, or None."""
    version = _tf_minor()
    if version is None:
        return "no TensorFlow here: a frozen graph and a tf.train.Saver checkpoint are TensorFlow's files"
    if version >= (2, 0):
        return (
            f"TF {kerasapi.tf_version()}: FaceNet's TF 1 graph files are written by the TF 1 producers, "
            "as the original's were (TF 2 writes them only through tf.compat.v1)"
        )
    return None


def _graph_of(model, fmt):
    if not isinstance(model, Tf1Graph):
        raise NotWritable(f"{fmt} is written from a TF 1 graph (the tf1graph variant), not from a Keras model")
    return model


def save_frozen_pb(model, folder, variant):
    path = os.path.join(folder, variant + ".pb")
    with open(path, "wb") as handle:
        handle.write(_graph_of(model, "frozen_pb").frozen.SerializeToString(deterministic=True))
    return [path]


CHECKPOINT_STEP = 0


def save_tf1_checkpoint(model, folder, variant):
    """``model-<variant>.meta`` and ``model-<variant>.ckpt-0.{index,data-...}`` in a folder of
    their own, laid out as FaceNet's checkpoint (``model-20180402-114759.meta`` beside
    ``model-20180402-114759.ckpt-275.*``); no ``checkpoint`` state file, which records paths."""
    import tensorflow as tf

    graph = _graph_of(model, "tf1_checkpoint")
    directory = os.path.join(folder, variant + "_checkpoint")
    os.makedirs(directory)
    with graph.graph.as_default():
        saver = tf.train.Saver(var_list=graph.model.weights)
    stem = os.path.join(directory, "model-" + variant)
    prefix = saver.save(
        graph.session, stem + ".ckpt", global_step=CHECKPOINT_STEP, write_meta_graph=False, write_state=False
    )
    with open(stem + ".meta", "wb") as handle:
        handle.write(saver.export_meta_graph().SerializeToString(deterministic=True))
    shards = os.path.basename(prefix) + ".data-"
    data = sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.startswith(shards))
    return [stem + ".meta", prefix + ".index"] + data


def tf1_entry(fmt, written, folder):
    """What a manifest entry of a TF 1 graph file adds: the tensors to feed and fetch and, for
    a checkpoint, the prefix ``saver.restore`` takes."""
    entry = {"kind": "graph", "weights": None, "tensors": dict(TF1_TENSORS)}
    if fmt == "tf1_checkpoint":
        index = [path for path in written if path.endswith(".index")][0]
        entry["checkpoint"] = os.path.relpath(index[: -len(".index")], folder)
    return entry


WRITERS = {
    "h5": save_h5,
    "h5_weights": save_h5_weights,
    "json": save_json,
    "savedmodel": save_savedmodel,
    "keras": save_keras,
    "weights_h5": save_weights_h5,
    "export": save_export,
    "frozen_pb": save_frozen_pb,
    "tf1_checkpoint": save_tf1_checkpoint,
}


def rewrite_keras_config(path, edit):
    """Rewrite the ``config.json`` of the ``.keras`` zip at ``path`` in place, every other entry
    as it was: ``edit(node)`` is called on every dict of the config, changes it where it wants
    and returns what it changed (or None). Returns those, in order."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info.filename)) for info in source.infolist()]
    changed = []

    def walk(node):
        if isinstance(node, dict):
            done = edit(node)
            if done is not None:
                changed.append(done)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            if info.filename == "config.json":
                config = json.loads(data.decode("utf-8"))
                walk(config)
                data = json.dumps(config).encode("utf-8")
            target.writestr(info, data)
    return changed
