"""Copy weights from an HDF5 file into a rebuilt model with h5py, layer by layer, by name.

It reads the numbers only, so it works whatever Keras can or cannot deserialise:
Keras 2's legacy layout (``model_weights/<layer>/<layer>/kernel:0``, whole-model or
weights-only) is matched by layer name; layers without weights (``lambda_1``, ``add_1``
against Keras 3's ``lambda``, ``add``) need no match, so automatic names never get in
the way. The new layout of ``*.weights.h5`` and of the ``model.weights.h5`` inside a
``.keras`` zip does not store layer names at all: it keys each layer by its class and
its rank among the model's layers of that class (``layers/conv2d_3/vars/0``; Keras 2.12
and 2.13 say ``_layer_checkpoint_dependencies/conv2d_3/vars/0``), so there the rebuilt
model's layer order is what matches.
"""
import os
import re
import shutil
import tempfile
import zipfile

import numpy as np

from compat.inside import kerasapi


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
    # Keras 3 and 2.14+ file layers under "layers"; 2.12 and 2.13 under this longer name.
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
    (``conv2d``, ``conv2d_2``, ``conv2d_4``...), which is why Keras 2.14+ cannot read
    their ``.keras`` files; the order within each class is still the model's.
    """
    by_class = {}
    for key in file_keys:
        base, number = _split_key(key)
        by_class.setdefault(base, []).append((number, key))
    ranked = dict((base, [key for _, key in sorted(keys)]) for base, keys in by_class.items())
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
        root = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" in root.attrs:
            return _legacy_layers(root)
        by_key, all_keys = _new_layout_layers(handle)
    if model is None:
        return by_key
    return dict((name, by_key[key]) for name, key in new_layout_keys(model, all_keys).items()
                if key in by_key)


def set_weights_from_file(model, path):
    """Set every weighted layer of ``model`` from the same-named layer in ``path``."""
    scratch = None
    try:
        if zipfile.is_zipfile(path):
            scratch = tempfile.mkdtemp(prefix="compat-transplant-")
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
            raise KeyError("layer %r has no weights in the file (it has %d weighted layers)"
                           % (layer.name, len(source)))
        shapes = [tuple(a.shape) for a in source[layer.name]]
        if shapes != expected:
            raise ValueError("layer %r: the file has shapes %s, the model wants %s"
                             % (layer.name, shapes, expected))
        pairs.extend(zip(layer.weights, source[layer.name]))
        copied += 1
    kerasapi.set_values(pairs)
    return copied
