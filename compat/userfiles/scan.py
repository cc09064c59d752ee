"""``compat scan``: an inventory of the code a saved model carries, read without running it.

A Keras file can hold code in many places besides a top-level ``Lambda``: a Lambda inside a
nested model or a wrapper (``TimeDistributed``, ``Bidirectional``), a lambda given as the
loss, a metric, an initializer or a regularizer (Keras >= 2.13 and 3 store it as
``__lambda__`` bytecode), a function or class named by ``module`` that a loader imports,
and in a SavedModel the Keras metadata (``keras_metadata.pb``, or older, inside
``saved_model.pb``'s object graph) plus graph ops that act on the world when the graph runs.
``scan(path)`` finds them all statically: TensorFlow is never imported on the host and
nothing stored in the file is run. Each finding names its place (``model/sub_model/
time_distributed/lambda`` and the JSON path), its kind and, from the published matrix's
canary fixtures, which environments run such code at load, which at the first call, which
refuse it and which loading strategies avoid it.

Host side: h5py for HDF5, protobuf for the SavedModel protos. The message descriptors are
built here with the field numbers of TensorFlow's and Keras' .proto files: the one PyPI
package of TF's compiled protos (tensorflow-protobuf 2.11.0, 2022, not TensorFlow's own)
installs them as a top-level ``tensorflow`` package, which would shadow a real TensorFlow
and put ``tensorflow`` modules on a host that must have none.
"""
from __future__ import annotations

import base64
import builtins
import dataclasses
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

from compat.errors import EXIT_OK, BadInput
from compat.userfiles import diagnose as diagnose_
from compat.userfiles import savedmodelpb

EXIT_FOUND = 1  # code found: the scan's own meaning of 1, as `compat regress` has "regressed"

# -- kinds -------------------------------------------------------------------------------------

LAMBDA_BYTECODE = "lambda_bytecode"
LAMBDA_NAMED = "lambda_named_function"
SERIALIZED_LAMBDA = "serialized_lambda"
BYTECODE = "bytecode"
MODULE_FUNCTION = "module_function"
BUILTIN_FUNCTION = "builtin_function"
MODULE_CLASS = "module_class"
GRAPH_OP = "graph_op"
CHECKPOINT_OP = "checkpoint_op"  # a note: checkpoint I/O outside the SavedModel's own saver
CUSTOM_CLASS = "custom_class"  # a note: the loader must supply it; the file holds no code for it
CUSTOM_FUNCTION = "custom_function"  # a note, likewise

KINDS = {
    LAMBDA_BYTECODE: ("error", "Lambda layer with Python bytecode stored in the file",
                      "Keras 2 marshals a Lambda's function into the file; loaders that revive it run it."),
    LAMBDA_NAMED: ("error", "Lambda layer whose function the file names",
                   ("Keras 3 stores a Lambda's named function by module and name; a loader that resolves the "
                   "name (custom_objects, its registry or, before Keras 3.9, any importable module) calls it.")),
    SERIALIZED_LAMBDA: ("error", "lambda stored as bytecode in a config (__lambda__)",
                        ("Keras >= 2.13 and 3 store a lambda given as loss, metric, initializer, regularizer, "
                        "constraint, activation or schedule as marshalled bytecode.")),
    BYTECODE: ("error", "marshalled Python bytecode in a config value",
               "A base64 string that decodes to a marshalled code object, outside the places Keras puts it."),
    MODULE_FUNCTION: ("error", "function named by a module outside Keras",
                      ("The config names a function by module (e.g. os.system); Keras 3 before 3.9 imports "
                      "any module a .keras config names (CVE-2025-1550).")),
    BUILTIN_FUNCTION: ("error", "Python builtin named as a function",
                       "The config names a function of Python's builtins (e.g. eval, exec, open)."),
    MODULE_CLASS: ("error", "class named by a system module",
                   "The config names a class in a module of the standard library that acts on the system."),
    GRAPH_OP: ("error", "graph op that acts on the world when the graph runs",
               "A SavedModel's graph holds an op that reads, writes or lists files, or calls into Python."),
    CHECKPOINT_OP: ("note", "checkpoint op outside the SavedModel's saver",
                    ("TF 1's Keras export leaves a second checkpoint saver (SaveV2, RestoreV2, MergeV2Checkpoints) "
                     "in every graph it writes; such ops read or write checkpoint files only when run by name.")),
    CUSTOM_CLASS: ("note", "custom class the loader must supply",
                   "The file names a class outside Keras; it holds no code for it."),
    CUSTOM_FUNCTION: ("note", "custom function the loader must supply",
                      "The file names a function only custom_objects or a registry can resolve."),
}
CODE_KINDS = tuple(kind for kind, (level, _, _) in KINDS.items() if level == "error")

# Modules a config may name without leaving Keras.
KERAS_MODULES = ("keras", "tensorflow", "tf_keras", "keras_core", "keras_nlp", "keras_hub", "keras_cv")
# Standard-library modules that act on the system: a class named there is never a layer.
SYSTEM_MODULES = ("os", "posix", "nt", "sys", "subprocess", "shutil", "socket", "builtins", "importlib",
                  "runpy", "pickle", "marshal", "ctypes", "code", "pty", "webbrowser", "urllib", "http",
                  "io", "pathlib", "tempfile", "multiprocessing", "threading", "signal")

# Graph ops that act on the world when a graph runs, from TensorFlow's op registry (the
# REGISTER_OP calls in the TF source files named beside each group).
WORLD_OPS = {
    # tensorflow/core/ops/script_ops.cc: call a Python function registered in the process
    "PyFunc": "calls Python", "PyFuncStateless": "calls Python", "EagerPyFunc": "calls Python",
    # tensorflow/core/ops/io_ops.cc: files
    "ReadFile": "reads a file", "WriteFile": "writes a file", "MatchingFiles": "lists files",
    "Save": "writes a checkpoint file", "SaveSlices": "writes a checkpoint file", "SaveV2": "writes a checkpoint file",
    "Restore": "reads a checkpoint file", "RestoreSlice": "reads a checkpoint file",
    "RestoreV2": "reads a checkpoint file", "MergeV2Checkpoints": "writes and deletes checkpoint files",
    "WholeFileReader": "reads files", "WholeFileReaderV2": "reads files",
    "TextLineReader": "reads files", "TextLineReaderV2": "reads files",
    "FixedLengthRecordReader": "reads files", "FixedLengthRecordReaderV2": "reads files",
    "TFRecordReader": "reads files", "TFRecordReaderV2": "reads files", "LMDBReader": "reads files",
    # tensorflow/core/ops/dataset_ops.cc and experimental_dataset_ops.cc: files
    "TFRecordDataset": "reads files", "TFRecordDatasetV2": "reads files",
    "FixedLengthRecordDataset": "reads files", "FixedLengthRecordDatasetV2": "reads files",
    "TextLineDataset": "reads files", "MatchingFilesDataset": "lists files",
    "ExperimentalMatchingFilesDataset": "lists files", "LMDBDataset": "reads files",
    "ExperimentalLMDBDataset": "reads files", "SaveDataset": "writes files", "SaveDatasetV2": "writes files",
    "LoadDataset": "reads files", "SnapshotDataset": "writes files", "SnapshotDatasetV2": "writes files",
    "ExperimentalSqlDataset": "runs SQL on a database file", "SqlDataset": "runs SQL on a database file",
    # tensorflow/core/ops/lookup_ops.cc: a table filled from a text file
    "InitializeTableFromTextFile": "reads a file", "InitializeTableFromTextFileV2": "reads a file",
    # tensorflow/core/ops/logging_ops.cc: output_stream may name a file
    "PrintV2": "writes to a stream or file",
    # tensorflow/core/ops/summary_ops.cc: event files in a log folder
    "CreateSummaryFileWriter": "writes files", "CreateSummaryDbWriter": "writes a database file",
    # tensorflow/core/ops/array_ops.cc: maps a file into memory
    "ImmutableConst": "reads a file",
    # tensorflow/core/ops/debug_ops.cc: sends tensors to file:// or grpc:// URLs
    "DebugIdentity": "writes to a debug URL", "DebugIdentityV2": "writes to a debug URL",
    "DebugNanCount": "writes to a debug URL", "DebugNumericSummary": "writes to a debug URL",
    # tensorflow/core/ops/checkpoint_ops.cc: reads checkpoints and vocabularies
    "LoadAndRemapMatrix": "reads a checkpoint file", "GenerateVocabRemapping": "reads files",
}
# Every SavedModel saves and restores its own variables with these; inside the functions the
# saver traced (or TF 1's save/ scope) they are the format, not the model's doing.
CHECKPOINT_OPS = {"Save", "SaveSlices", "SaveV2", "Restore", "RestoreSlice", "RestoreV2", "MergeV2Checkpoints"}
SAVER_FUNCTION_PREFIXES = ("__inference__traced_save_", "__inference__traced_restore_")
SAVER_SCOPES = ("save/", "save_1/")

MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".json")
SAVEDMODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
# Keys under which a config holds layers: the layer path grows only through them.
LAYER_KEYS = ("layers", "layer", "forward_layer", "backward_layer", "cell", "cells")
# Keys that wrap a config without being a place of their own.
TRANSPARENT_KEYS = ("config", "model_config", "items", "value", "code")
MARSHAL_CODE = (0x63, 0xE3)  # marshal's code-object type byte, without and with its reference flag


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str
    place: str
    """Where in the model: layer path, then the config key (``model/sub_model/lambda``)."""
    json_path: str
    """Where in the stored document: ``<source>$.config.layers[1].config.function``."""
    detail: str

    @property
    def level(self) -> str:
        return KINDS[self.kind][0]

    @property
    def is_code(self) -> bool:
        return self.level == "error"


@dataclasses.dataclass(frozen=True)
class FileScan:
    path: str
    format: str | None
    findings: tuple = ()
    notes: tuple = ()
    """Custom classes and functions the loader must supply: named, not stored."""
    sources: tuple = ()
    """What was read: ``model_config``, ``config.json``, ``keras_metadata.pb``, ``saved_model.pb`` ..."""

    @property
    def has_code(self) -> bool:
        return bool(self.findings)

    def summary(self) -> str:
        return summary_text(self.findings)


def summary_text(findings) -> str:
    """One phrase: ``no stored code`` or ``stored code: 2 (lambda_bytecode at model/lambda, ...)``."""
    if not findings:
        return "no stored code found"
    shown = ", ".join(f"{f.kind} at {f.place}" for f in findings[:3])
    more = f", and {len(findings) - 3} more" if len(findings) > 3 else ""
    return f"stored code: {len(findings)} finding{'s' if len(findings) != 1 else ''} ({shown}{more})"


class ScanInputError(BadInput):
    """A path that is not a model file compat can read: its diagnosis, in one line (exit 2)."""


# -- configs -----------------------------------------------------------------------------------

def _is_marshalled_code(text) -> bool:
    if not isinstance(text, str) or len(text) < 24:
        return False
    try:
        raw = base64.b64decode(text[:64].replace("\n", "") + "==", validate=False)
    except (ValueError, TypeError):
        return False
    # Keras' func_dump: base64 of marshal.dumps(code); marshal of a code object starts with 'c'.
    return bool(raw) and raw[0] in MARSHAL_CODE and text.lstrip()[:1] in ("4", "Y")


def _bytecode_of(value):
    """The base64 text when ``value`` is a stored function in any of Keras' forms, else ``None``:
    a string, a ``[code, defaults, closure]`` list, TF's ``{"class_name": "__tuple__", "items":
    [...]}`` (SavedModel metadata) or Keras 3's ``{"class_name": "__lambda__", "config":
    {"code" or "value": ...}}``."""
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__":
            return _bytecode_of(value.get("items"))
        if value.get("class_name") == "__lambda__" and isinstance(value.get("config"), dict):
            inner = value["config"]
            return _bytecode_of(inner.get("code", inner.get("value")))
        return None
    if isinstance(value, (list, tuple)) and value:
        return _bytecode_of(value[0])
    if _is_marshalled_code(value):
        return value
    return None


def _names_function(value) -> bool:
    """Keras 3's ``{"module": ..., "class_name": "function" (or builtin_function_or_method),
    "config": name}``."""
    return isinstance(value, dict) and isinstance(value.get("config"), str) and \
        (value.get("class_name") in ("function", "builtin_function_or_method") or "module" in value)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]


def _in_keras(module) -> bool:
    return isinstance(module, str) and module.split(".")[0] in KERAS_MODULES


class _Walker:
    """Walks one config document, collecting findings with their places."""

    def __init__(self, source: str):
        self.source = source
        self.findings: list[Finding] = []
        self.notes: list[Finding] = []

    def add(self, kind, place, json_path, detail):
        target = self.notes if KINDS[kind][0] == "note" else self.findings
        target.append(Finding(kind, "/".join(p for p in place if p) or "(root)",
                              f"{self.source}{json_path}", detail))

    def walk(self, node, json_path="$", place=(), key=None):
        if isinstance(node, dict):
            self._dict(node, json_path, place, key)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                self.walk(item, f"{json_path}[{index}]", place, key)
        elif isinstance(node, str) and _is_marshalled_code(node):
            self.add(BYTECODE, place + (key,), json_path, f"marshalled code ({len(node)} base64 characters, "
                                                           f"sha256 {_digest(node)})")

    def _dict(self, node, json_path, place, key):
        class_name = node.get("class_name")
        config = node.get("config")
        here = place
        if isinstance(class_name, str) and isinstance(config, dict) and isinstance(config.get("name"), str) \
                and (key in LAYER_KEYS or not place):
            here = place + (config["name"],)
        elif key is not None and key not in LAYER_KEYS + TRANSPARENT_KEYS:
            here = place + (key,)
        if class_name == "__lambda__":
            code = _bytecode_of(node) or ""
            self.add(SERIALIZED_LAMBDA, here, json_path,
                     f"lambda bytecode ({len(code)} base64 characters, sha256 {_digest(code)})")
            return
        if _names_function(node):
            self._named_function(node, json_path, here)
            return
        if isinstance(class_name, str) and ("module" in node or node.get("registered_name")):
            self._named_class(node, json_path, here)
        for name, value in node.items():
            if name == "config" and class_name == "Lambda" and isinstance(value, dict):
                handled = self._lambda(value, f"{json_path}.config", here)
                for inner, item in value.items():
                    if inner not in handled:
                        self.walk(item, f"{json_path}.config.{inner}", here, inner)
            elif name == "config" and isinstance(value, list) and class_name in ("Sequential", "Model"):
                self.walk(value, f"{json_path}.config", here, "layers")  # Keras 2.1 Sequential: a list
            else:
                self.walk(value, f"{json_path}.{name}", here, name)

    def _lambda(self, config, json_path, place) -> set:
        """A Lambda layer: its function (and output_shape / mask functions) stored or named.
        Returns the config keys it accounted for."""
        handled = set()
        for attr in ("function", "output_shape", "mask"):
            value = config.get(attr)
            if value is None:
                continue
            code = _bytecode_of(value)
            kind_of = config.get(f"{attr}_type")
            if code is not None:
                self.add(LAMBDA_BYTECODE, place, f"{json_path}.{attr}",
                         f"{attr}: marshalled bytecode ({len(code)} base64 characters, sha256 {_digest(code)})")
            elif _names_function(value):
                module, name = value.get("module"), value["config"]
                self.add(LAMBDA_NAMED, place, f"{json_path}.{attr}",
                         f"{attr}: {module + '.' if module else ''}{name} ({self._resolution(module, name)})")
            elif attr == "function" and isinstance(value, str) and kind_of in ("function", None):
                module = config.get("module")
                self.add(LAMBDA_NAMED, place, f"{json_path}.{attr}",
                         f"{attr}: {module + '.' if module else ''}{value} (by name)")
            else:
                continue
            handled.add(attr)
        if "function" not in handled:
            self.add(LAMBDA_NAMED, place, json_path, "a Lambda layer whose function is not stored in a known form")
        return handled

    @staticmethod
    def _resolution(module, name) -> str:
        if _in_keras(module):
            return "a Keras function"
        if module == "builtins":
            return "a Python builtin" if hasattr(builtins, name) else "resolved only through custom_objects"
        return f"a loader that imports {module} calls it"

    def _named_function(self, node, json_path, place):
        module, name = node.get("module"), node.get("config")
        if not isinstance(name, str) or _in_keras(module):
            return
        full = f"{module}.{name}" if module else name
        if module == "builtins":
            if hasattr(builtins, name):
                self.add(BUILTIN_FUNCTION, place, json_path, f"builtins.{name}")
            else:
                self.add(CUSTOM_FUNCTION, place, json_path, f"{name} (resolved only through custom_objects)")
        elif module:
            self.add(MODULE_FUNCTION, place, json_path, f"{full} (a loader that imports {module} calls it)")

    def _named_class(self, node, json_path, place):
        module, name = node.get("module"), node["class_name"]
        registered = node.get("registered_name")
        if _in_keras(module) and (not registered or registered == name):
            return
        if isinstance(module, str) and module.split(".")[0] in SYSTEM_MODULES:
            self.add(MODULE_CLASS, place, json_path, f"{module}.{name}")
        elif module or (registered and registered != name):
            where = f"{module}.{name}" if module else name
            reg = f", registered as {registered}" if registered and registered != name else ""
            self.add(CUSTOM_CLASS, place, json_path, f"{where}{reg}")


def scan_config(document, source: str) -> tuple[list[Finding], list[Finding]]:
    """Findings and notes of one parsed config document; ``source`` prefixes each JSON path."""
    walker = _Walker(source)
    walker.walk(document)
    return walker.findings, walker.notes


def _parse_json(text, source: str):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return None


# -- protobuf ----------------------------------------------------------------------------------

def _keras_metadata_findings(metadata_objects, source: str):
    """Findings of Keras objects' JSON metadata: ``[(node path, metadata text)]``."""
    findings, notes = [], []
    for node_path, text in metadata_objects:
        document = _parse_json(text, source)
        if not isinstance(document, dict):
            continue
        # Each object's metadata is one layer's (or the model's) serialized form; its place starts
        # at its own name, and the JSON path says which object it came from.
        walker = _Walker(f"{source}[{node_path or '?'}]")
        walker.walk(document)
        findings += walker.findings
        notes += walker.notes
    return findings, notes


def _saver_nodes(meta) -> set[str]:
    """The graph nodes that TF 1's saver runs: the save and restore ops its SaverDef names and
    everything they read from (their inputs, transitively)."""
    nodes = {node.name: node for node in meta.graph_def.node}
    wanted = [name.split(":")[0] for name in (meta.saver_def.save_tensor_name, meta.saver_def.restore_op_name)
              if name]
    seen: set[str] = set()
    while wanted:
        name = wanted.pop().lstrip("^").split(":")[0]
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        wanted.extend(nodes[name].input)
    return seen


def _graph_findings(saved_model, source: str) -> list[Finding]:
    found = []
    for number, meta in enumerate(saved_model.meta_graphs):
        graph = meta.graph_def
        saver = _saver_nodes(meta)
        for node in graph.node:
            if node.op in CHECKPOINT_OPS and (node.name in saver or node.name.startswith(SAVER_SCOPES)):
                continue
            if node.op in WORLD_OPS:
                found.append(Finding(CHECKPOINT_OP if node.op in CHECKPOINT_OPS else GRAPH_OP, f"graph/{node.name}",
                                     f"{source}$.meta_graphs[{number}].graph_def", f"{node.op}: {WORLD_OPS[node.op]}"))
        for function in graph.library.function:
            fname = function.signature.name
            in_saver = fname.startswith(SAVER_FUNCTION_PREFIXES)
            for node in function.node_def:
                if node.op in WORLD_OPS and not (in_saver and node.op in CHECKPOINT_OPS):
                    kind = CHECKPOINT_OP if node.op in CHECKPOINT_OPS else GRAPH_OP
                    found.append(Finding(kind, f"function/{fname}/{node.name}",
                                         f"{source}$.meta_graphs[{number}].graph_def.library",
                                         f"{node.op}: {WORLD_OPS[node.op]}"))
    return found


def _object_paths(graph) -> dict[int, str]:
    """SavedObjectGraph node id -> ``root.child.grandchild`` (the first path found)."""
    paths = {0: "root"}
    queue = [0]
    while queue:
        current = queue.pop(0)
        if current >= len(graph.nodes):
            continue
        for child in graph.nodes[current].children:
            if child.node_id not in paths:
                paths[child.node_id] = f"{paths[current]}.{child.local_name}"
                queue.append(child.node_id)
    return paths


def _scan_savedmodel(folder: Path) -> tuple[list, list, list]:
    findings, notes, sources = [], [], []
    metadata = folder / "keras_metadata.pb"
    if metadata.is_file():
        sources.append("keras_metadata.pb")
        try:
            parsed = savedmodelpb.parse("SavedMetadata", metadata.read_bytes())
        except savedmodelpb.Unreadable as exc:
            raise ScanInputError(f"{folder.name}: keras_metadata.pb does not parse ({exc})") from None
        found, noted = _keras_metadata_findings([(n.node_path, n.metadata) for n in parsed.nodes],
                                                "keras_metadata.pb")
        findings += found
        notes += noted
    # TF 1's tf.keras.experimental.export_saved_model keeps the model's JSON in assets/.
    for asset in sorted((folder / "assets").glob("*.json")) if (folder / "assets").is_dir() else []:
        document = _parse_json(asset.read_bytes(), asset.name)
        if document is not None:
            sources.append(f"assets/{asset.name}")
            got, noted = scan_config(document, f"assets/{asset.name}")
            findings += got
            notes += noted
    graph_file = next((folder / name for name in SAVEDMODEL_FILES if (folder / name).is_file()), None)
    if graph_file is not None:
        sources.append(graph_file.name)
        try:
            saved = savedmodelpb.parse("SavedModel", graph_file.read_bytes(), text=graph_file.suffix == ".pbtxt")
        except savedmodelpb.Unreadable as exc:
            raise ScanInputError(f"{folder.name}: {graph_file.name} does not parse ({exc})") from None
        for meta in saved.meta_graphs:
            objects = meta.object_graph_def
            paths = _object_paths(objects)
            # TF 2.0-2.4 kept each Keras object's metadata here, before keras_metadata.pb.
            user = [(paths.get(i, f"node{i}"), n.user_object.metadata) for i, n in enumerate(objects.nodes)
                    if n.user_object.metadata]
            found, noted = _keras_metadata_findings(user, graph_file.name + ":object_graph")
            findings += found
            notes += noted
        for finding in _graph_findings(saved, graph_file.name):
            (findings if finding.is_code else notes).append(finding)
    return findings, notes, sources


# -- files -------------------------------------------------------------------------------------

def _h5_documents(path: str) -> list[tuple[str, object]]:
    import h5py
    documents = []
    with h5py.File(path, "r") as handle:
        for name, value in handle.attrs.items():
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
                parsed = _parse_json(value, name)
                if parsed is not None:
                    documents.append((name, parsed))
    return documents


def _dedupe(findings) -> tuple:
    """One finding per stored object: a SavedModel repeats a nested layer's metadata at every
    level (the model's, the sub-model's, the layer's own), each with a shorter place; the
    deepest place names it best, and a place that ends another is the same object."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: -len(f.place.split("/"))):
        parts = finding.place.split("/")
        if not any(k.kind == finding.kind and k.detail == finding.detail and
                   k.place.split("/")[-len(parts):] == parts for k in kept):
            kept.append(finding)
    return tuple(f for f in findings if f in kept)


def scan(path) -> FileScan:
    """Scan one model file or SavedModel folder. Raises ``ScanInputError`` (its diagnosis in
    one line) for a path that is not a model file compat reads."""
    path = os.fspath(path)
    target = Path(path)
    if target.is_file() and target.name in SAVEDMODEL_FILES + ("keras_metadata.pb",):
        target = target.parent  # a pre-commit hook passes the files of a SavedModel folder
    found = diagnose_.diagnose(str(target))
    if not found.ok:
        if found.kind == "weights_only":
            return FileScan(path, "weights")
        raise ScanInputError(found.line())
    findings, notes, sources = [], [], []
    if found.format in ("h5", "h5_weights", "weights_h5"):
        for name, document in _h5_documents(str(target)):
            sources.append(name)
            got, noted = scan_config(document, name)
            findings += got
            notes += noted
    elif found.format == "keras":
        with zipfile.ZipFile(target) as archive:
            for name in archive.namelist():
                if name.endswith(".json"):
                    document = _parse_json(archive.read(name), name)
                    if document is not None:
                        sources.append(name)
                        got, noted = scan_config(document, name)
                        findings += got
                        notes += noted
    elif found.format == "json":
        sources.append(target.name)
        got, noted = scan_config(json.loads(target.read_text(encoding="utf-8-sig")), target.name)
        findings += got
        notes += noted
        if found.weights:
            weights = target.parent / found.weights
            for name, document in _h5_documents(str(weights)):
                sources.append(f"{found.weights}:{name}")
                got, noted = scan_config(document, f"{found.weights}:{name}")
                findings += got
                notes += noted
    elif found.format == "savedmodel":
        findings, notes, sources = _scan_savedmodel(target)
    return FileScan(path, found.format, _dedupe(findings), _dedupe(notes), tuple(sources))


def summary(path) -> str:
    """The scan's one phrase for a path (``no stored code found``, ``stored code: ...``), or why
    it could not be scanned: what the probe, the gate and the diagnosis show first."""
    try:
        return scan(path).summary()
    except ScanInputError as exc:
        return f"not scanned: {exc}"
    except Exception as exc:  # noqa: BLE001 - a file the scanner cannot read must not stop a probe or gate
        return f"not scanned: {type(exc).__name__}: {exc}"


def savedmodel_summary(folder) -> str:
    """The summary of a SavedModel folder, read without diagnosing it first (the diagnosis asks)."""
    findings, _, _ = _scan_savedmodel(Path(folder))
    return summary_text(_dedupe(findings))


def find_files(paths: list[str]) -> list[str]:
    """Every model file and SavedModel folder under ``paths``; a named path is always kept."""
    found, seen = [], set()
    for given in paths:
        for candidate in _candidates(given):
            if os.path.basename(candidate) in SAVEDMODEL_FILES + ("keras_metadata.pb",):
                candidate = os.path.dirname(candidate) or "."  # one SavedModel, however many of its files
            real = os.path.realpath(candidate)
            if real not in seen:
                seen.add(real)
                found.append(candidate)
    return found


def _is_savedmodel(path: str) -> bool:
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, f)) for f in SAVEDMODEL_FILES)


def _candidates(given: str):
    if not os.path.isdir(given) or _is_savedmodel(given):
        yield given
        return
    for folder, subfolders, files in os.walk(given):
        for sub in sorted(subfolders):
            if sub.startswith(".") or _is_savedmodel(os.path.join(folder, sub)):
                subfolders.remove(sub)
                if not sub.startswith("."):
                    yield os.path.join(folder, sub)
        subfolders.sort()
        for name in sorted(files):
            if name.lower().endswith(MODEL_SUFFIXES) and not name.startswith("."):
                full = os.path.join(folder, name)
                if name.lower().endswith(".json") and not diagnose_.diagnose(full).ok:
                    continue  # some other JSON in a searched folder (package.json, a report)
                yield full


# -- what the matrix measured ------------------------------------------------------------------

# The canary fixture whose measurements stand for each kind of finding in each format.
CANARY_FIXTURES = {
    ("h5", "bytecode"): "canary-h5", ("json", "bytecode"): "canary-json",
    ("savedmodel", "bytecode"): "canary-savedmodel", ("keras", "bytecode"): "canary-keras",
    ("keras", "named"): "canarymodule-keras",
}
BYTECODE_KINDS = (LAMBDA_BYTECODE, SERIALIZED_LAMBDA, BYTECODE)
NAMED_KINDS = (LAMBDA_NAMED, MODULE_FUNCTION, BUILTIN_FUNCTION, MODULE_CLASS)


def canary_fixture(fmt: str | None, kind: str) -> str | None:
    family = "bytecode" if kind in BYTECODE_KINDS else "named" if kind in NAMED_KINDS else None
    return CANARY_FIXTURES.get((fmt, family)) if family else None


class Measured:
    """What the published matrix measured for the canary fixtures, read once, only if asked."""

    def __init__(self, matrix_path=None):
        from compat.paths import PROJECT_ROOT
        self.path = Path(matrix_path) if matrix_path else PROJECT_ROOT / "reports" / "matrix.json"
        self._grouped = None

    def _load(self) -> dict:
        if self._grouped is None:
            self._grouped = {}
            if self.path.is_file():
                from compat.records import matrixdoc, results
                document = results.read_document(self.path, matrixdoc.READABLE)
                # Only the canary loads are expanded: the rest of the matrix is not needed here.
                wanted = set(CANARY_FIXTURES.values()) | {"canary-keras"}
                document["loads"] = [g for g in document.get("loads") or [] if g.get("fixture") in wanted]
                matrix = matrixdoc.expand(document)
                for attempt in matrix["attempts"]:
                    self._grouped.setdefault(attempt["fixture"], {}).setdefault(attempt["consumer"], {}) \
                        .setdefault(attempt["producer"], {})[attempt["strategy"]] = attempt
        return self._grouped

    def for_fixture(self, fixture: str | None) -> dict | None:
        """``{"fixture", "at_load", "at_first_call", "refused", "avoided_by"}`` or ``None``."""
        if fixture is None:
            return None
        grouped = self._load().get(fixture)
        if not grouped:
            return None
        from compat.publish import advisories, cells
        control_id = advisories.CONTROLS.get(fixture)
        states = {"at_load": [], "at_first_call": [], "refused": []}
        for consumer in sorted(grouped):
            outcomes = []
            for producer, by_strategy in grouped[consumer].items():
                if fixture.endswith("-json"):
                    # A JSON architecture's plain load is model_from_json, not load_model.
                    by_strategy = dict(by_strategy, **{advisories.DEFAULT_STRATEGY: by_strategy.get("json_plain")})
                control = self._load().get(control_id, {}).get(consumer, {}).get(producer) if control_id else None
                outcomes.append(advisories.file_outcome(by_strategy, control)[0])
            if "ran at load" in outcomes:
                states["at_load"].append(consumer)
            elif "ran at first call" in outcomes:
                states["at_first_call"].append(consumer)
            elif "refused" in outcomes:
                states["refused"].append(consumer)
        ran, passed = set(), set()
        for by_producer in grouped.values():
            for by_strategy in by_producer.values():
                for name, attempt in by_strategy.items():
                    if cells.code_ran_when(attempt) != "no":
                        ran.add(name)
                    if attempt.get("verdict") == "pass":
                        passed.add(name)
        return {"fixture": fixture, **states, "avoided_by": sorted(passed - ran)}


def annotate(scans: list[FileScan], measured: Measured | None) -> dict:
    """``{fixture id: measured}`` for every canary fixture the findings stand for."""
    if measured is None:
        return {}
    wanted = {canary_fixture(s.format, f.kind) for s in scans for f in s.findings}
    return {fixture: m for fixture in sorted(w for w in wanted if w)
            if (m := measured.for_fixture(fixture)) is not None}


# -- outputs -----------------------------------------------------------------------------------

def _finding_dict(scan_: FileScan, finding: Finding) -> dict:
    return {"kind": finding.kind, "level": finding.level, "place": finding.place, "json_path": finding.json_path,
            "detail": finding.detail, "canary": canary_fixture(scan_.format, finding.kind)}


def document(scans: list[FileScan], skipped: list[tuple[str, str]], measured: dict) -> dict:
    return {
        "schema": "compat.scan/1",
        "files": [{"path": s.path, "format": s.format, "has_code": s.has_code, "summary": s.summary(),
                   "sources": list(s.sources), "findings": [_finding_dict(s, f) for f in s.findings],
                   "notes": [_finding_dict(s, f) for f in s.notes]} for s in scans],
        "not_scanned": [{"path": p, "diagnosis": line} for p, line in skipped],
        "measured": measured,
        "counts": {"files": len(scans), "with_code": sum(s.has_code for s in scans),
                   "findings": sum(len(s.findings) for s in scans)},
    }


def _measured_lines(measured: dict, fixture: str | None, indent: str) -> list[str]:
    entry = measured.get(fixture) if fixture else None
    if not entry:
        return []
    parts = []
    for key, label in (("at_load", "runs it at load"), ("at_first_call", "runs it at the first call"),
                       ("refused", "refuses it (safe_mode)")):
        if entry[key]:
            parts.append(f"{label}: {', '.join(entry[key])}")
    lines = [f"{indent}measured on {fixture}: " + "; ".join(parts)] if parts else []
    if entry["avoided_by"]:
        lines.append(f"{indent}strategies that load it without running it: {', '.join(entry['avoided_by'])}")
    return lines


def text(doc: dict) -> str:
    lines = []
    for entry in doc["files"]:
        lines.append(f"{entry['path']}: {entry['summary']}")
        shown_measured = set()
        for finding in entry["findings"]:
            lines.append(f"  {finding['kind']:22} {finding['place']}  {finding['detail']}")
            lines.append(f"  {'':22} {finding['json_path']}")
            if finding["canary"] not in shown_measured:
                lines += _measured_lines(doc["measured"], finding["canary"], "  " + " " * 23)
                shown_measured.add(finding["canary"])
        for note in entry["notes"]:
            lines.append(f"  note: {note['kind']} {note['place']}  {note['detail']}")
    for item in doc["not_scanned"]:
        lines.append(f"{item['path']}: not scanned: {item['diagnosis']}")
    counts = doc["counts"]
    lines.append(f"{counts['files']} files scanned, {counts['with_code']} with stored code, "
                 f"{counts['findings']} findings")
    return "\n".join(lines)


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif(doc: dict, base: str | None = None) -> dict:
    """SARIF 2.1.0 for GitHub code scanning: one result per finding (notes at level note)."""
    base = os.path.abspath(base or os.getcwd())
    rules = [{"id": kind, "name": kind, "shortDescription": {"text": short}, "fullDescription": {"text": full},
              "defaultConfiguration": {"level": level}, "help": {"text": full}}
             for kind, (level, short, full) in KINDS.items()]
    index = {rule["id"]: number for number, rule in enumerate(rules)}
    results_ = []
    for entry in doc["files"]:
        uri = os.path.relpath(os.path.abspath(entry["path"]), base).replace(os.sep, "/")
        if uri.startswith("../"):
            uri = Path(os.path.abspath(entry["path"])).as_uri()
        for finding in entry["findings"] + entry["notes"]:
            measured = doc["measured"].get(finding["canary"] or "")
            extra = ""
            if measured:
                extra = (f" Measured on {finding['canary']}: runs at load in {len(measured['at_load'])} "
                         f"environments, at the first call in {len(measured['at_first_call'])}, refused by "
                         f"{len(measured['refused'])}; avoided by {', '.join(measured['avoided_by']) or 'none'}.")
            results_.append({
                "ruleId": finding["kind"], "ruleIndex": index[finding["kind"]], "level": finding["level"],
                "message": {"text": f"{KINDS[finding['kind']][1]} at {finding['place']}: {finding['detail']}.{extra}"},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": uri, **({"uriBaseId": "%SRCROOT%"}
                                                                             if not uri.startswith("file:") else {})},
                                         "region": {"startLine": 1}},
                    "logicalLocations": [{"fullyQualifiedName": finding["place"], "kind": "member"}],
                }],
                "partialFingerprints": {"compatScan/v1": _digest(f"{uri}|{finding['kind']}|{finding['place']}|"
                                                                 f"{finding['detail']}")},
                "properties": {"json_path": finding["json_path"]},
            })
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "compat scan", "semanticVersion": "0.1.0", "rules": rules}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(base).as_uri() + "/"}},
        "results": results_,
    }]}


# -- command -----------------------------------------------------------------------------------

def main(args) -> int:
    paths = list(args.paths)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise ScanInputError(diagnose_.diagnose(missing[0]).line())
    files = find_files(paths)
    if not files:
        raise ScanInputError(f"no model file in {', '.join(paths)} (.h5, .hdf5, .keras, Keras .json, "
                             f"SavedModel folders)")
    named = {os.path.realpath(os.path.dirname(p) or ".") if os.path.basename(p) in SAVEDMODEL_FILES +
             ("keras_metadata.pb",) else os.path.realpath(p) for p in paths}
    scans, skipped = [], []
    for path in files:
        try:
            scans.append(scan(path))
        except ScanInputError as exc:
            if os.path.realpath(path) in named:
                raise  # a path the user named that is not a model: bad input, in one line
            skipped.append((path, str(exc)))
    measured = annotate(scans, Measured(getattr(args, "matrix", None)))
    doc = document(scans, skipped, measured)
    if getattr(args, "json_out", None):
        _write(args.json_out, json.dumps(doc, indent=1))
    if getattr(args, "sarif", None):
        _write(args.sarif, json.dumps(sarif(doc), indent=1))
    if getattr(args, "json_out", None) != "-":  # JSON on stdout stays parseable
        print(text(doc))
    return EXIT_FOUND if any(s.has_code for s in scans) else EXIT_OK


def _write(target: str, content: str) -> None:
    if target == "-":
        sys.stdout.write(content + "\n")
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(content + "\n")


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help="list the code stored in model files, without running it",
                       description="Statically list the code model files carry (Lambda layers at any depth, "
                                   "lambdas and bytecode anywhere in a config, functions and classes named "
                                   "outside Keras, SavedModel graph ops that act on the world) with what the "
                                   "published matrix measured loaders do with such code. TensorFlow is not "
                                   "imported. Exit 1 when code is found, 0 when none, 2 for bad input.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="model files or folders to search")
    p.add_argument("--json", dest="json_out", default=None, metavar="FILE", help="also write JSON (- for stdout)")
    p.add_argument("--sarif", default=None, metavar="FILE", help="also write SARIF 2.1.0 for code scanning")
    p.add_argument("--matrix", default=None, metavar="FILE",
                   help="matrix.json whose canary measurements annotate the findings (default reports/matrix.json)")
    p.set_defaults(func=main)
