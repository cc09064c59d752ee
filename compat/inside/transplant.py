"""Copy weights from an HDF5 file into a rebuilt model with h5py, layer by layer, by name.

It reads the numbers only, so it works whatever Keras can or cannot deserialise:
Keras 2's legacy layout (``model_weights/<layer>/<layer>/kernel:0``, whole-model or
weights-only), the new layout of ``*.weights.h5`` (``layers/<layer>/vars/0``, or
``_layer_checkpoint_dependencies/<layer>/vars/0`` in Keras 2.13-2.15) and the
``model.weights.h5`` inside a ``.keras`` zip. Layers without weights (``lambda_1``,
``add_1`` against Keras 3's ``lambda``, ``add``) need no match, so automatic names
never get in the way.
"""
import os
import shutil
import tempfile
import zipfile

import numpy as np


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

    def visit(name, obj):
        parts = name.split("/")
        if parts[-1] != "vars" or len(parts) < 2 or "optimizer" in parts:
            return
        keys = sorted(obj.keys(), key=int)
        if keys:
            found[parts[-2]] = [np.asarray(obj[k]) for k in keys]
    handle.visititems(visit)
    return found


def weights_by_layer(path):
    """``{layer name: [arrays in get_weights order]}`` read from an HDF5 weights source."""
    import h5py
    with h5py.File(path, "r") as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" in root.attrs:
            return _legacy_layers(root)
        return _new_layout_layers(handle)


def set_weights_from_file(model, path):
    """Set every weighted layer of ``model`` from the same-named layer in ``path``."""
    scratch = None
    try:
        if zipfile.is_zipfile(path):
            scratch = tempfile.mkdtemp(prefix="compat-transplant-")
            with zipfile.ZipFile(path) as archive:
                archive.extract("model.weights.h5", scratch)
            path = os.path.join(scratch, "model.weights.h5")
        source = weights_by_layer(path)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    copied = 0
    for layer in model.layers:
        expected = layer.get_weights()
        if not expected:
            continue
        if layer.name not in source:
            raise KeyError("layer %r has no weights in the file (it has %d weighted layers)"
                           % (layer.name, len(source)))
        arrays = source[layer.name]
        shapes = [a.shape for a in arrays]
        if shapes != [e.shape for e in expected]:
            raise ValueError("layer %r: the file has shapes %s, the model wants %s"
                             % (layer.name, shapes, [e.shape for e in expected]))
        layer.set_weights(arrays)
        copied += 1
    return copied
