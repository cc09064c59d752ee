"""Write one corpus set: models that are not the fixtures' FaceNet, with their reference numbers.

Run inside a catalog environment: ``python -m compat.inside.corpus OUT_DIR --set NAME``.
It imports ``compat.inside.corpus_<NAME>`` and calls its ``write_all(out_dir)``, which
returns one entry per model file::

    {"id", "path", "format", "files": [relative paths], "weights": companion path or None,
     "inputs": [{"name", "shape", "dtype"}], "outputs": [{"name", "shape"}], "note": str}

or ``{"id", "skipped": reason}`` for one this producer's Keras cannot write. A model with
reference numbers also wrote ``reference/<id>.npz`` (keys ``input:<name>`` and
``output:<name>``). This module adds the provenance and every file's size and sha256, and
writes ``manifest.json``: ``models`` (the written entries, ``files`` expanded to
``{"path", "bytes", "sha256"}`` and ``reference`` set to the npz or None) and ``skipped``.
"""

import argparse
import datetime
import importlib
import io
import json
import os
import platform
import sys
import time
import zipfile

import numpy as np

from compat.inside import generate, kerasapi

MANIFEST_SCHEMA = 1
REFERENCE_DIR = "reference"
ENTRY_KEYS = ("id", "path", "format", "files", "weights", "inputs", "outputs", "note")
# A fixed date for every member of a reference archive, so the same arrays give the same bytes
# (numpy's own savez stamps the current time).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def reference_path(model_id):
    return os.path.join(REFERENCE_DIR, model_id + ".npz")


def write_npz(path, arrays):
    """``[(name, array)]`` as an npz at ``path`` whose bytes depend on the arrays alone (a fixed
    date on every member), so that a file hashed into a key is the same file each time."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def write_reference(out_dir, model_id, inputs, outputs):
    """``reference/<id>.npz`` with ``input:<name>`` and ``output:<name>`` arrays, byte-reproducible.

    ``inputs`` and ``outputs`` map names to arrays. Readable with ``numpy.load`` like any npz.
    """
    arrays = [("input:" + name, value) for name, value in sorted(inputs.items())]
    arrays += [("output:" + name, value) for name, value in sorted(outputs.items())]
    path = os.path.join(out_dir, reference_path(model_id))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    write_npz(path, arrays)
    return path


def _absolute(out_dir, relative):
    return os.path.join(out_dir, relative)


def _checked_entry(out_dir, entry):
    """The manifest's form of a written entry: files described, reference found."""
    missing = [key for key in ENTRY_KEYS if key not in entry]
    if missing:
        raise ValueError("corpus entry {!r} lacks {}".format(entry.get("id"), ", ".join(missing)))
    for relative in entry["files"]:
        if not os.path.exists(_absolute(out_dir, relative)):
            raise ValueError("corpus entry {!r} names {} which was not written".format(entry["id"], relative))
    described = dict(entry)
    described["files"] = generate.describe_files([_absolute(out_dir, f) for f in entry["files"]], out_dir)
    reference = reference_path(entry["id"])
    described["reference"] = reference if os.path.exists(_absolute(out_dir, reference)) else None
    return described


def write_set(out_dir, set_name, log=sys.stderr):
    started = time.time()
    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    module = importlib.import_module("compat.inside.corpus_" + set_name)
    entries = module.write_all(out_dir)
    models, skipped = [], []
    for entry in entries:
        if "skipped" in entry:
            skipped.append({"id": entry["id"], "reason": str(entry["skipped"])})
        else:
            models.append(_checked_entry(out_dir, entry))
    ids = [entry["id"] for entry in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError("corpus ids used twice: " + ", ".join(duplicates))
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "set": set_name,
        "producer": os.environ.get("COMPAT_ENV_ID", "unknown"),
        "keras_api": kerasapi.api_name(),
        "versions": generate.package_versions(),
        "platform": platform.platform(),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "models": models,
        "skipped": skipped,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.write("\n")
    log.write(f"[corpus] {set_name}: {len(models)} models, {len(skipped)} skipped, {time.time() - started:.1f}s\n")
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument(
        "--set", required=True, dest="set_name", help="the set to write: the module compat.inside.corpus_<NAME>"
    )
    args = parser.parse_args(argv)
    manifest = write_set(args.out_dir, args.set_name)
    print(json.dumps({"models": len(manifest["models"]), "skipped": len(manifest["skipped"])}))


if __name__ == "__main__":
    main()
