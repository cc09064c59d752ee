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
}
WEIGHTS_ONLY = ("h5_weights", "weights_h5")


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


WRITERS = {
    "h5": save_h5,
    "h5_weights": save_h5_weights,
    "json": save_json,
    "savedmodel": save_savedmodel,
    "keras": save_keras,
    "weights_h5": save_weights_h5,
    "export": save_export,
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
