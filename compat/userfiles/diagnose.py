"""What a model file really is, found before any environment is started.

A user's "model.h5" is often not a model: a web page the download link returned, a Git
LFS pointer, a copy cut short, the weights without the architecture. Keras then fails
with an error about something else entirely (``OSError: Unable to open file``,
``EOF read where object expected``) in every environment, and the reader blames the
versions. ``diagnose(path)`` reads the bytes first and says in one line what the file
is and what to do about it; for a usable file it names the format id the loading
strategies work with (``h5``, ``h5_weights``, ``json``, ``savedmodel``, ``keras``,
``weights_h5``). A TF 1 graph file (FaceNet's own distribution: a frozen ``.pb`` or a
checkpoint's ``.meta``) is named as such and not taken for a Keras model.

Host side: stdlib and numpy only. h5py is used when it is importable; without it the
HDF5 checks fall back to the superblock and to the attribute names stored in the bytes.
A TF 1 graph file is read with protobuf, as the scan reads SavedModels.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

from compat.userfiles import storedcode

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
# A text file bigger than this is not sniffed as JSON (architectures are a few MB at most).
MAX_JSON_BYTES = 64 << 20
# The full FaceNet is ~90 MB in any format and the tiny fixtures are under 1 MB.
FULL_SIZE_BYTES = 10 << 20

FORMATS = ("h5", "h5_weights", "json", "savedmodel", "keras", "weights_h5")
TF1_GRAPH = "tf1_graph"
"""The kind of a TF 1 graph file: not a Keras model, so not ``ok`` for the Keras loaders."""
TF1_GRAPH_FILES = {".pb": ("GraphDef", "frozen_pb"), ".meta": ("MetaGraphDef", "tf1_checkpoint")}
"""Suffix -> (the message the file holds, the matrix's format id)."""
WEIGHTS_FORMATS = ("h5_weights", "weights_h5")
FACENET_LAYERS = (b"Conv2d_1a_3x3", b"Mixed_6a", b"Mixed_7a", b"Bottleneck")
"""Layer names every FaceNet build has; a file without them is not FaceNet's architecture."""

ARCHITECTURE_FLAG = "--architecture FILE.py:NAME"
"""How a user hands over the code that builds the model (a function or class returning it):
with it the weights-level strategies (rebuild_weights, rebuild_by_name, h5_transplant) apply
to any file, not only to FaceNet's."""
FUNCTION_FLAG = "--function LAYER=FILE.py:NAME"
"""How a user hands over a Lambda layer's function, by the layer's name."""
ARCHITECTURE_ADVICE = (
    f"the file holds only weights: give the model they belong to with {ARCHITECTURE_FLAG} "
    "(your function or class that returns it)"
)
FACENET_WEIGHTS_ADVICE = (
    "the file holds only weights, FaceNet's: rebuild FaceNet in code and call model.load_weights(path) "
    "(the rebuild_weights and h5_transplant strategies, which compat probe runs)"
)


def weights_advice(path) -> str:
    """What to do with a file that holds only weights: FaceNet's fit the architecture compat
    builds; any other needs the user's code for the model they belong to."""
    return FACENET_WEIGHTS_ADVICE if has_facenet_layers(path) else ARCHITECTURE_ADVICE


_REDOWNLOAD = "download it again and check that its size matches the original"

# Magic numbers of archives people wrap models in, so the advice can say "unpack it".
_ARCHIVES = (
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    path: str
    ok: bool
    kind: str
    """What the path is: a format id when ``ok``, else a problem id such as ``html``."""
    message: str
    """One line: what the path really is."""
    advice: str = ""
    """What to do about it (for a usable file: what to expect when loading it)."""
    format: str | None = None
    """The strategies' format id, only when ``ok``."""
    weights: str | None = None
    """Base name of the weights file beside a JSON architecture."""
    nbytes: int = 0
    input_shape: tuple | None = None
    """The model's input shape without the batch axis, when the file records it."""
    keras_version: str | None = None

    def line(self) -> str:
        name = os.path.basename(self.path.rstrip(os.sep)) or self.path.strip()
        text = f"{name}: {self.message}" if name else self.message
        return f"{text}; {self.advice}" if self.advice else text

    @property
    def size_guess(self) -> str:
        """``full`` for a real-size FaceNet, ``tiny`` for the small fixtures."""
        return "full" if self.nbytes >= FULL_SIZE_BYTES else "tiny"


def diagnose(path, expect: str = "any") -> Diagnosis:
    """Say what ``path`` is. ``expect="model"`` also refuses weights-only files."""
    if expect not in ("any", "model"):
        raise ValueError(f"expect must be 'any' or 'model', not {expect!r}")
    path = os.fspath(path)
    if not path.strip():
        found = _bad(path, "missing", "no path given", "pass the model file or SavedModel folder to check")
    elif os.path.islink(path) and not os.path.exists(path):
        found = _bad(
            path,
            "missing",
            f"a symbolic link to {os.readlink(path)}, which does not exist",
            "point the link at the model file, or pass the file itself",
        )
    elif not os.path.exists(path):
        found = _bad(path, "missing", "no such file or folder", _missing_advice(path))
    elif os.path.isdir(path):
        found = _folder(path)
    else:
        found = _file(path)
    if expect == "model" and found.ok and found.format in WEIGHTS_FORMATS:
        return dataclasses.replace(
            found,
            ok=False,
            kind="weights_only",
            format=None,
            message=f"{found.message}, not a whole model (no architecture for load_model to read)",
            advice=weights_advice(path),
        )
    return found


def _bad(path, kind, message, advice, **extra) -> Diagnosis:
    return Diagnosis(path=path, ok=False, kind=kind, message=message, advice=advice, **extra)


def _good(path, fmt, message, advice="", **extra) -> Diagnosis:
    return Diagnosis(path=path, ok=True, kind=fmt, format=fmt, message=message, advice=advice, **extra)


def _missing_advice(path) -> str:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"its folder {parent} does not exist either"
    near = difflib.get_close_matches(os.path.basename(path), os.listdir(parent), n=3, cutoff=0.6)
    if near:
        return "did you mean " + ", ".join(near[:5]) + "?"
    return "check the path"


def has_facenet_layers(path: str) -> bool:
    """Whether the model's layer names are FaceNet's: the only case a FaceNet rebuild applies.

    HDF5 keeps group and attribute names as plain bytes; a SavedModel folder its layer
    names in its protobufs; a ``.keras`` zip in its (compressed) config.json.
    """
    target = Path(path)
    files = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else [target]
    for file in files:
        if zipfile.is_zipfile(file):
            try:
                with zipfile.ZipFile(file) as archive:
                    data = archive.read("config.json")
            except (KeyError, OSError, zipfile.BadZipFile):
                continue
        else:
            data = file.read_bytes()
        if all(name in data for name in FACENET_LAYERS):
            return True
    return False


# -- files ---------------------------------------------------------------------------------


def _file(path) -> Diagnosis:
    size = os.path.getsize(path)
    if size == 0:
        return _bad(
            path, "empty", "the file is empty (0 bytes)", "the download or copy did not complete; " + _REDOWNLOAD
        )
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if os.path.basename(path) in ("saved_model.pb", "saved_model.pbtxt"):
        return _bad(
            path,
            "savedmodel_file",
            "the graph file of a SavedModel, not the SavedModel itself",
            f"pass the folder that holds it ({os.path.dirname(os.path.abspath(path))})",
            nbytes=size,
        )
    if head.startswith(HDF5_SIGNATURE):
        return _hdf5(path, size)
    # A zip before an HDF5 user block: an uncompressed .keras holds its model.weights.h5 whole,
    # and that HDF5 signature can fall at 512, 1024, 2048... bytes into the archive.
    if head.startswith(ZIP_SIGNATURES) and zipfile.is_zipfile(path):
        return _zip(path, size)
    if _hdf5_offset(path, head) is not None:
        return _hdf5(path, size)
    if head.startswith(ZIP_SIGNATURES):
        return _zip(path, size)
    graph = _tf1_graph_file(path, size)
    if graph is not None:
        return graph
    text = _as_text(head)
    if text is not None:
        return _text(path, size, text)
    for magic, what in _ARCHIVES:
        if head.startswith(magic):
            return _bad(
                path,
                "archive",
                f"{what}, not a model file",
                "unpack it and pass the model file (or SavedModel folder) inside",
                nbytes=size,
            )
    if len(head) > 262 and head[257:262] == b"ustar":
        return _bad(
            path,
            "archive",
            "a tar archive, not a model file",
            "unpack it and pass the model file (or SavedModel folder) inside",
            nbytes=size,
        )
    return _bad(
        path,
        "unknown_bytes",
        f"not a model file: no HDF5 signature, not a zip, not text (it starts with bytes {head[:8].hex(' ')})",
        "it is damaged or something else saved under this name; " + _REDOWNLOAD,
        nbytes=size,
    )


def tf1_graph(path) -> tuple[str, Any] | None:
    """``(format, graph)`` when ``path`` is a TF 1 graph file: a frozen graph (``.pb``, a
    GraphDef) or a checkpoint's graph (``.meta``, a MetaGraphDef), parsed; else None."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in TF1_GRAPH_FILES:
        return None
    message, fmt = TF1_GRAPH_FILES[suffix]
    try:
        from compat.userfiles import savedmodelpb

        parsed = savedmodelpb.parse(message, Path(path).read_bytes())
    except ImportError:  # no protobuf on this host: the file is not read at all
        return None
    except savedmodelpb.Unreadable:
        return None
    nodes = (parsed.graph_def if message == "MetaGraphDef" else parsed).node
    # Other bytes can parse as a message of unknown fields; a graph has nodes, each naming its op.
    if not nodes or not all(node.op and node.name for node in nodes):
        return None
    return fmt, parsed


def _tf1_graph_file(path, size) -> Diagnosis | None:
    found = tf1_graph(path)
    if found is None:
        return None
    fmt, parsed = found
    if fmt == "frozen_pb":
        what = f"a TF 1 frozen graph (GraphDef, {len(parsed.node)} nodes), not a Keras model file"
        advice = (
            "run it with TensorFlow's graph API: tf.compat.v1.GraphDef, import_graph_def and a Session "
            "(the tf1_graph strategy's recipe)"
        )
    else:
        what = f"a TF 1 checkpoint's graph (MetaGraphDef, {len(parsed.graph_def.node)} nodes), not a Keras model file"
        advice = (
            "restore it with tf.compat.v1.train.import_meta_graph and saver.restore(session, the checkpoint's "
            "prefix) (the tf1_graph strategy's recipe)"
        )
    return _bad(path, TF1_GRAPH, what, advice, nbytes=size)


def _as_text(head: bytes) -> str | None:
    """The decoded start of the file when it looks like text, else ``None``."""
    if b"\x00" in head:
        return None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    # A block boundary can split one multi-byte character; anything more is binary.
    if text.count("\ufffd") > 1:
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if text and printable >= 0.95 * len(text) else None


def _text(path, size, head: str) -> Diagnosis:
    start = head.lstrip()
    lower = start[:2048].lower()
    if lower.startswith(("<!doctype html", "<html")) or re.search(r"<(head|body|title)[\s>]", lower):
        title = re.search(r"<title[^>]*>(.*?)</title>", head, re.IGNORECASE | re.DOTALL)
        named = f" titled {' '.join(title.group(1).split())[:80]!r}" if title else ""
        return _bad(
            path,
            "html",
            f"an HTML web page{named}, not a model",
            "the download saved the page the link returned (a sign-in, quota or "
            "'confirm download' page) instead of the file; download the file itself "
            "again, e.g. through the page's download button, and check its size",
            nbytes=size,
        )
    if start.startswith("version https://git-lfs.github.com/spec/"):
        return _bad(
            path,
            "lfs_pointer",
            "a Git LFS pointer, not the model it stands for",
            "fetch the real file with `git lfs pull` (or download it from the repository's web page)",
            nbytes=size,
        )
    if start.startswith(("{", "[")):
        return _json_file(path, size)
    words = " ".join(start.split())
    first = words if len(words) <= 200 else words[:199] + "\u2026"
    return _bad(
        path,
        "text",
        f"a text file, not a model (it reads {first!r})",
        "this is not the model; find the real file (a note or error message was saved under the model's name)",
        nbytes=size,
    )


def _json_file(path, size) -> Diagnosis:
    if size > MAX_JSON_BYTES:
        return _bad(
            path, "text", "a text file too large to be a model architecture", "pass the model file itself", nbytes=size
        )
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        return _bad(
            path,
            "bad_json",
            f"JSON that does not parse ({exc})",
            "the file was cut short or edited; " + _REDOWNLOAD,
            nbytes=size,
        )
    if not _is_keras_config(config):
        keys = ", ".join(list(config)[:6]) if isinstance(config, dict) else type(config).__name__
        return _bad(
            path,
            "json_not_keras",
            f"JSON, but not a Keras model architecture (no class_name/config; it has: {keys})",
            "pass the model file, or the architecture written by model.to_json()",
            nbytes=size,
        )
    weights = _companion_weights(path)
    if weights is None:
        return _good(
            path,
            "json",
            f"a Keras model architecture (JSON, {config['class_name']}) with no weights file beside it",
            f"put its weights next to it as {Path(path).stem}_weights.h5 or {Path(path).stem}.weights.h5",
            nbytes=size,
            input_shape=_input_shape(config),
            keras_version=config.get("keras_version"),
        )
    weights_bytes = os.path.getsize(os.path.join(os.path.dirname(os.path.abspath(path)), weights))
    return _good(
        path,
        "json",
        f"a Keras model architecture (JSON, {config['class_name']}{_code_note(config)}) with weights {weights}",
        weights=weights,
        nbytes=weights_bytes,
        input_shape=_input_shape(config),
        keras_version=config.get("keras_version"),
    )


def _companion_weights(path) -> str | None:
    """The weights file saved beside ``x.json``, by the names Keras 2 and 3 users give it."""
    folder = os.path.dirname(os.path.abspath(path))
    stem = Path(path).stem
    for name in (f"{stem}_weights.h5", f"{stem}.weights.h5", f"{stem}_weights.hdf5"):
        if os.path.isfile(os.path.join(folder, name)):
            return name
    return None


def _is_keras_config(config) -> bool:
    return isinstance(config, dict) and "class_name" in config and isinstance(config.get("config"), dict)


def _code_note(*configs) -> str:
    """``compat scan``'s summary of the code these config documents store or name (Lambda layers
    at any depth, lambdas in compile or layer configs, functions named outside Keras)."""
    findings = [
        f
        for number, config in enumerate(configs)
        if config is not None
        for f in storedcode.scan_config(config, f"[{number}]")[0]
    ]
    return f", {storedcode.summary_text(findings)}" if findings else ""


def _input_shape(config) -> tuple | None:
    """The first InputLayer's shape without the batch axis (Keras 2 and 3 spellings)."""
    try:
        layers = config["config"]["layers"]
    except (KeyError, TypeError):
        return None
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict) and layer.get("class_name") == "InputLayer":
            inner = layer.get("config") or {}
            shape = inner.get("batch_input_shape") or inner.get("batch_shape")
            if shape and all(isinstance(d, int) for d in shape[1:]):
                return tuple(shape[1:])
    return None


# -- HDF5 ----------------------------------------------------------------------------------


def _hdf5_offset(path, head: bytes) -> int | None:
    """Where the HDF5 signature is: at 0, or after a user block of 512, 1024, 2048... bytes."""
    if head.startswith(HDF5_SIGNATURE):
        return 0
    size = os.path.getsize(path)
    offset = 512
    with open(path, "rb") as handle:
        while offset + len(HDF5_SIGNATURE) <= size and offset <= (1 << 20):
            handle.seek(offset)
            if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return offset
            offset *= 2
    return None


def hdf5_end_of_file(path) -> tuple[int, int | None]:
    """``(offset of the superblock, absolute end-of-file address it records)``.

    The address is ``None`` when the superblock itself is cut short or of an unknown
    version; HDF5 stores it relative to the base address (superblock versions 0-3).
    """
    with open(path, "rb") as handle:
        head = handle.read(8)
    offset = _hdf5_offset(path, head)
    if offset is None:
        raise ValueError(f"{path} has no HDF5 signature")
    with open(path, "rb") as handle:
        handle.seek(offset)
        block = handle.read(256)
    if len(block) < 9:
        return offset, None
    version = block[8]
    if version in (0, 1):
        if len(block) < 16:
            return offset, None
        size_of_offsets = block[13]
        # signature, 8 one-byte fields, two 2-byte Ks, 4-byte flags; v1 adds 4 more bytes.
        start = 24 + (4 if version == 1 else 0)
        fields = 4  # base, free-space info, end of file, driver info
    elif version in (2, 3):
        if len(block) < 12:
            return offset, None
        size_of_offsets = block[9]
        start = 12
        fields = 3  # base, superblock extension, end of file
    else:
        return offset, None
    fmt = {2: "<H", 4: "<I", 8: "<Q"}.get(size_of_offsets)
    if fmt is None or len(block) < start + fields * size_of_offsets:
        return offset, None
    base = struct.unpack_from(fmt, block, start)[0]
    eof = struct.unpack_from(fmt, block, start + 2 * size_of_offsets)[0]
    if eof >= (1 << (8 * size_of_offsets)) - 1:
        return offset, None  # "undefined address": nothing to check against
    return offset, base + eof


def _h5py():
    try:
        import h5py
    except ImportError:
        return None
    return h5py


def _share(part: int, whole: int) -> str:
    """``37%``, or ``under 1%`` rather than a misleading ``0%`` for a file that holds something."""
    percent = 100.0 * part / whole
    return "under 1%" if 0 < percent < 1 else f"{percent:.0f}%"


def _hdf5(path, size) -> Diagnosis:
    try:
        _, end = hdf5_end_of_file(path)
    except OSError as exc:
        return _bad(path, "unreadable", f"cannot be read ({exc.strerror or exc})", "check its permissions")
    if end is None and size < 96:
        return _bad(
            path,
            "truncated",
            f"an HDF5 file cut short inside its superblock ({size} bytes)",
            "the download or copy stopped early; " + _REDOWNLOAD,
            nbytes=size,
        )
    if end is not None and size < end:
        return _bad(
            path,
            "truncated",
            f"a truncated HDF5 file: {size:,} bytes of the {end:,} its header records ({_share(size, end)})",
            "the download or copy stopped early; " + _REDOWNLOAD,
            nbytes=size,
        )
    h5py = _h5py()
    if h5py is None:
        return _hdf5_by_bytes(path, size)
    try:
        with h5py.File(path, "r") as handle:
            return _hdf5_contents(path, size, handle)
    except OSError as exc:
        first = (str(exc).splitlines() or [""])[0][:200]
        return _bad(
            path,
            "damaged_hdf5",
            f"an HDF5 file that cannot be read ({first})",
            "it is damaged; " + _REDOWNLOAD,
            nbytes=size,
        )


def _attr_text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _json_attr(handle, name):
    try:
        return json.loads(_attr_text(handle.attrs[name])) if name in handle.attrs else None
    except ValueError:
        return None


def _hdf5_contents(path, size, handle) -> Diagnosis:
    attrs = set(handle.attrs.keys())
    version = _attr_text(handle.attrs["keras_version"]) if "keras_version" in attrs else None
    saved_by = f", saved by Keras {version}" if version else ""
    if "model_config" in attrs:
        try:
            config = json.loads(_attr_text(handle.attrs["model_config"]))
        except ValueError:
            return _bad(
                path,
                "damaged_hdf5",
                "an HDF5 model whose model_config attribute is not valid JSON",
                "the file was edited or damaged; re-save the model from its source",
                nbytes=size,
            )
        if "model_weights" not in handle:
            return _bad(
                path,
                "no_weights",
                f"an HDF5 model architecture without its weights{saved_by}",
                "save the model again with its weights (model.save)",
                nbytes=size,
            )
        training = _json_attr(handle, "training_config")
        return _good(
            path,
            "h5",
            f"a whole Keras model (HDF5, {config.get('class_name', '?')}{saved_by}{_code_note(config, training)})",
            nbytes=size,
            input_shape=_input_shape(config),
            keras_version=version,
        )
    if any(name == "layer_names" or name.startswith("layer_names") for name in attrs):
        layers = len(handle.attrs["layer_names"]) if "layer_names" in attrs else None
        counted = f", {layers} layers" if layers is not None else ""
        return _weights_only(path, size, "h5_weights", f"Keras 2 layout{counted}{saved_by}", version)
    if "layers" in handle or "vars" in handle:
        return _weights_only(path, size, "weights_h5", "Keras 3 *.weights.h5 layout", version)
    keys = ", ".join(list(handle.keys())[:6]) or "nothing"
    return _bad(
        path,
        "hdf5_not_keras",
        f"an HDF5 file that Keras did not write (no model_config, no layer_names; it holds: {keys})",
        "pass the Keras model file itself",
        nbytes=size,
    )


def _weights_only(path, size, fmt, layout, version) -> Diagnosis:
    return _good(
        path,
        fmt,
        f"weights only (HDF5, {layout})",
        weights_advice(path),
        nbytes=size,
        keras_version=version,
    )


def _contains(path, needles: tuple[bytes, ...]) -> set[bytes]:
    """Which of ``needles`` occur in the file, read in blocks that overlap by a needle."""
    found: set[bytes] = set()
    overlap = max(len(n) for n in needles)
    tail = b""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            window = tail + block
            found.update(n for n in needles if n in window)
            if len(found) == len(needles):
                break
            tail = window[-overlap:]
    return found


def _hdf5_by_bytes(path, size) -> Diagnosis:
    # HDF5 keeps attribute and group names as plain bytes, so without h5py their
    # presence still tells a whole model from its weights.
    found = _contains(path, (b"model_config", b"layer_names", b"layers\x00", b"vars\x00"))
    unchecked = " (contents not checked: h5py is not installed on this machine)"
    if b"model_config" in found:
        return _good(path, "h5", "a whole Keras model (HDF5)" + unchecked, nbytes=size)
    if b"layer_names" in found:
        return _weights_only(path, size, "h5_weights", "Keras 2 layout", None)
    if {b"layers\x00", b"vars\x00"} <= found:
        return _weights_only(path, size, "weights_h5", "Keras 3 *.weights.h5 layout", None)
    return _bad(
        path,
        "hdf5_not_keras",
        "an HDF5 file that Keras did not write (no model_config, no layer_names)",
        "pass the Keras model file itself",
        nbytes=size,
    )


# -- zip -----------------------------------------------------------------------------------


def _zip(path, size) -> Diagnosis:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            damaged = archive.testzip()
            config_text = archive.read("config.json") if "config.json" in names else None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        return _bad(
            path,
            "bad_zip",
            f"a damaged zip archive ({exc})",
            "the download or copy stopped early; " + _REDOWNLOAD,
            nbytes=size,
        )
    if damaged:
        return _bad(
            path, "bad_zip", f"a zip archive whose member {damaged} is damaged (CRC mismatch)", _REDOWNLOAD, nbytes=size
        )
    if config_text is None:
        inside = [n for n in names if n.endswith((".h5", ".keras", ".json", "saved_model.pb"))]
        if inside:
            return _bad(
                path,
                "zip_of_models",
                "a zip archive, not a Keras .keras file; it holds " + ", ".join(inside[:4]),
                "unzip it and pass the model inside",
                nbytes=size,
            )
        return _bad(
            path,
            "zip_not_keras",
            "a zip archive but not a Keras .keras file (no config.json)",
            "pass the model file itself",
            nbytes=size,
        )
    try:
        config = json.loads(config_text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return _bad(
            path,
            "keras_bad_config",
            f"a .keras archive whose config.json is not valid JSON ({exc})",
            "the architecture inside was edited or damaged; save the model again from its source, or download it again",
            nbytes=size,
        )
    if not _is_keras_config(config):
        return _bad(
            path,
            "keras_bad_config",
            "a .keras archive whose config.json is not a model architecture",
            "save the model again from its source, or download it again",
            nbytes=size,
        )
    if "model.weights.h5" not in names:
        return _bad(
            path,
            "keras_no_weights",
            "a .keras archive without model.weights.h5",
            "save the model again with model.save('x.keras')",
            nbytes=size,
        )
    version = _keras_zip_version(path)
    saved_by = f", saved by Keras {version}" if version else ""
    return _good(
        path,
        "keras",
        f"a Keras .keras archive ({config['class_name']}{saved_by}{_code_note(config)})",
        nbytes=size,
        input_shape=_input_shape(config),
        keras_version=version,
    )


def _keras_zip_version(path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("metadata.json")).get("keras_version")
    except (KeyError, ValueError, zipfile.BadZipFile):
        return None


# -- folders -------------------------------------------------------------------------------

_SAVEDMODEL_PARTS = ("variables", "keras_metadata.pb", "fingerprint.pb", "assets", "saved_model.json")


def _folder(path) -> Diagnosis:
    names = set(os.listdir(path))
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    if names & {"saved_model.pb", "saved_model.pbtxt"}:
        variables = os.path.join(path, "variables")
        if (
            os.path.isdir(variables)
            and os.listdir(variables)
            and not os.path.exists(os.path.join(variables, "variables.index"))
        ):
            return _bad(
                path,
                "savedmodel_incomplete",
                "a SavedModel folder whose variables/ lacks variables.index",
                "the weights were lost in copying or unzipping; copy the whole folder again",
                nbytes=size,
            )
        if "keras_metadata.pb" in names:
            what = "a Keras SavedModel folder"
        else:
            what = "a SavedModel folder without Keras metadata (an inference export)"
        what += _savedmodel_code_note(path)
        return _good(path, "savedmodel", what, nbytes=size, input_shape=_savedmodel_input_shape(path))
    present = sorted(names & set(_SAVEDMODEL_PARTS))
    if present:
        return _bad(
            path,
            "savedmodel_no_pb",
            f"a SavedModel folder without saved_model.pb (it has {', '.join(present)})",
            "the graph file was lost in copying or unzipping; copy the whole folder again",
            nbytes=size,
        )
    candidates = _model_like(path, names)
    if candidates:
        return _bad(
            path,
            "folder",
            "a folder, not a model; it holds " + ", ".join(candidates[:5]),
            "pass one of those",
            nbytes=size,
        )
    return _bad(
        path,
        "unrelated_folder",
        f"a folder with no model in it ({len(names)} entries, none a model file or SavedModel)",
        "pass the model file (.h5, .keras, .json) or a SavedModel folder",
        nbytes=size,
    )


def _savedmodel_code_note(path) -> str:
    try:
        found = storedcode.savedmodel_summary(path)
    except storedcode.ScanInputError as exc:
        return f" ({exc})"
    return f" ({found})" if found.startswith("stored code") else ""


# keras_metadata.pb keeps each layer's config as JSON text; the first InputLayer's shape is
# the model's, written as a list or, by TF 2.x, as a "__tuple__" object.
_SAVEDMODEL_INPUT = re.compile(
    rb'"class_name": "InputLayer", "config": \{"batch_input_shape": '
    rb'(?:\{"class_name": "__tuple__", "items": )?\[null((?:, \d+)+)\]'
)


def _savedmodel_input_shape(path) -> tuple | None:
    try:
        data = Path(path, "keras_metadata.pb").read_bytes()
    except OSError:
        return None
    found = _SAVEDMODEL_INPUT.search(data)
    return tuple(int(d) for d in found.group(1).split(b",")[1:]) if found else None


def _model_like(path, names) -> list[str]:
    found = []
    for name in sorted(names):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            if os.path.exists(os.path.join(full, "saved_model.pb")):
                found.append(name + "/")
        elif name.endswith((".h5", ".hdf5", ".keras")):
            found.append(name)
    return found
