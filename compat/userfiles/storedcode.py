"""The code a saved model stores or names, found in its configs and protobufs without running it.

What ``compat scan`` reports and the diagnosis summarises: Lambda layers at any depth, lambdas
and bytecode anywhere in a config, functions and classes named outside Keras, and in a
SavedModel its Keras metadata and the graph ops that act on the world. No TensorFlow is
imported; nothing stored in a file runs. The command around it (finding files, the matrix's
canary notes, text, JSON and SARIF) is ``compat.userfiles.scan``.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import hashlib
import json
from pathlib import Path

from compat.errors import BadInput
from compat.userfiles import savedmodelpb

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
    LAMBDA_BYTECODE: (
        "error",
        "Lambda layer with Python bytecode stored in the file",
        "Keras 2 marshals a Lambda's function into the file; loaders that revive it run it.",
    ),
    LAMBDA_NAMED: (
        "error",
        "Lambda layer whose function the file names",
        (
            "Keras 3 stores a Lambda's named function by module and name; a loader that resolves the "
            "name (custom_objects, its registry or, before Keras 3.9, any importable module) calls it."
        ),
    ),
    SERIALIZED_LAMBDA: (
        "error",
        "lambda stored as bytecode in a config (__lambda__)",
        (
            "Keras >= 2.13 and 3 store a lambda given as loss, metric, initializer, regularizer, "
            "constraint, activation or schedule as marshalled bytecode."
        ),
    ),
    BYTECODE: (
        "error",
        "marshalled Python bytecode in a config value",
        "A base64 string that decodes to a marshalled code object, outside the places Keras puts it.",
    ),
    MODULE_FUNCTION: (
        "error",
        "function named by a module outside Keras",
        (
            "The config names a function by module (e.g. os.system); Keras 3 before 3.9 imports "
            "any module a .keras config names (CVE-2025-1550)."
        ),
    ),
    BUILTIN_FUNCTION: (
        "error",
        "Python builtin named as a function",
        "The config names a function of Python's builtins (e.g. eval, exec, open).",
    ),
    MODULE_CLASS: (
        "error",
        "class named by a system module",
        "The config names a class in a module of the standard library that acts on the system.",
    ),
    GRAPH_OP: (
        "error",
        "graph op that acts on the world when the graph runs",
        "A SavedModel's graph holds an op that reads, writes or lists files, or calls into Python.",
    ),
    CHECKPOINT_OP: (
        "note",
        "checkpoint op outside the SavedModel's saver",
        (
            "TF 1's Keras export leaves a second checkpoint saver (SaveV2, RestoreV2, MergeV2Checkpoints) "
            "in every graph it writes; such ops read or write checkpoint files only when run by name."
        ),
    ),
    CUSTOM_CLASS: (
        "note",
        "custom class the loader must supply",
        "The file names a class outside Keras; it holds no code for it.",
    ),
    CUSTOM_FUNCTION: (
        "note",
        "custom function the loader must supply",
        "The file names a function only custom_objects or a registry can resolve.",
    ),
}
CODE_KINDS = tuple(kind for kind, (level, _, _) in KINDS.items() if level == "error")

# Modules a config may name without leaving Keras.
KERAS_MODULES = ("keras", "tensorflow", "tf_keras", "keras_core", "keras_nlp", "keras_hub", "keras_cv")
# Standard-library modules that act on the system: a class named there is never a layer.
SYSTEM_MODULES = (
    "os",
    "posix",
    "nt",
    "sys",
    "subprocess",
    "shutil",
    "socket",
    "builtins",
    "importlib",
    "runpy",
    "pickle",
    "marshal",
    "ctypes",
    "code",
    "pty",
    "webbrowser",
    "urllib",
    "http",
    "io",
    "pathlib",
    "tempfile",
    "multiprocessing",
    "threading",
    "signal",
)

# Graph ops that act on the world when a graph runs, from TensorFlow's op registry (the
# REGISTER_OP calls in the TF source files named beside each group).
WORLD_OPS = {
    # tensorflow/core/ops/script_ops.cc: call a Python function registered in the process
    "PyFunc": "calls Python",
    "PyFuncStateless": "calls Python",
    "EagerPyFunc": "calls Python",
    # tensorflow/core/ops/io_ops.cc: files
    "ReadFile": "reads a file",
    "WriteFile": "writes a file",
    "MatchingFiles": "lists files",
    "Save": "writes a checkpoint file",
    "SaveSlices": "writes a checkpoint file",
    "SaveV2": "writes a checkpoint file",
    "Restore": "reads a checkpoint file",
    "RestoreSlice": "reads a checkpoint file",
    "RestoreV2": "reads a checkpoint file",
    "MergeV2Checkpoints": "writes and deletes checkpoint files",
    "WholeFileReader": "reads files",
    "WholeFileReaderV2": "reads files",
    "TextLineReader": "reads files",
    "TextLineReaderV2": "reads files",
    "FixedLengthRecordReader": "reads files",
    "FixedLengthRecordReaderV2": "reads files",
    "TFRecordReader": "reads files",
    "TFRecordReaderV2": "reads files",
    "LMDBReader": "reads files",
    # tensorflow/core/ops/dataset_ops.cc and experimental_dataset_ops.cc: files
    "TFRecordDataset": "reads files",
    "TFRecordDatasetV2": "reads files",
    "FixedLengthRecordDataset": "reads files",
    "FixedLengthRecordDatasetV2": "reads files",
    "TextLineDataset": "reads files",
    "MatchingFilesDataset": "lists files",
    "ExperimentalMatchingFilesDataset": "lists files",
    "LMDBDataset": "reads files",
    "ExperimentalLMDBDataset": "reads files",
    "SaveDataset": "writes files",
    "SaveDatasetV2": "writes files",
    "LoadDataset": "reads files",
    "SnapshotDataset": "writes files",
    "SnapshotDatasetV2": "writes files",
    "ExperimentalSqlDataset": "runs SQL on a database file",
    "SqlDataset": "runs SQL on a database file",
    # tensorflow/core/ops/lookup_ops.cc: a table filled from a text file
    "InitializeTableFromTextFile": "reads a file",
    "InitializeTableFromTextFileV2": "reads a file",
    # tensorflow/core/ops/logging_ops.cc: output_stream may name a file
    "PrintV2": "writes to a stream or file",
    # tensorflow/core/ops/summary_ops.cc: event files in a log folder
    "CreateSummaryFileWriter": "writes files",
    "CreateSummaryDbWriter": "writes a database file",
    # tensorflow/core/ops/array_ops.cc: maps a file into memory
    "ImmutableConst": "reads a file",
    # tensorflow/core/ops/debug_ops.cc: sends tensors to file:// or grpc:// URLs
    "DebugIdentity": "writes to a debug URL",
    "DebugIdentityV2": "writes to a debug URL",
    "DebugNanCount": "writes to a debug URL",
    "DebugNumericSummary": "writes to a debug URL",
    # tensorflow/core/ops/checkpoint_ops.cc: reads checkpoints and vocabularies
    "LoadAndRemapMatrix": "reads a checkpoint file",
    "GenerateVocabRemapping": "reads files",
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
    code: str = dataclasses.field(default="", compare=False, repr=False)
    """The stored bytecode (base64) when the finding is a function stored as bytecode, else empty."""

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
    return (
        isinstance(value, dict)
        and isinstance(value.get("config"), str)
        and (value.get("class_name") in ("function", "builtin_function_or_method") or "module" in value)
    )


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

    def add(self, kind, place, json_path, detail, code=""):
        target = self.notes if KINDS[kind][0] == "note" else self.findings
        where = "/".join(p for p in place if p) or "(root)"
        target.append(Finding(kind, where, f"{self.source}{json_path}", detail, code))

    def walk(self, node, json_path="$", place=(), key=None):
        if isinstance(node, dict):
            self._dict(node, json_path, place, key)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                self.walk(item, f"{json_path}[{index}]", place, key)
        elif isinstance(node, str) and _is_marshalled_code(node):
            self.add(
                BYTECODE,
                place + (key,),
                json_path,
                f"marshalled code ({len(node)} base64 characters, sha256 {_digest(node)})",
                node,
            )

    def _dict(self, node, json_path, place, key):
        class_name = node.get("class_name")
        config = node.get("config")
        here = place
        if (
            isinstance(class_name, str)
            and isinstance(config, dict)
            and isinstance(config.get("name"), str)
            and (key in LAYER_KEYS or not place)
        ):
            here = place + (config["name"],)
        elif key is not None and key not in LAYER_KEYS + TRANSPARENT_KEYS:
            here = place + (key,)
        if class_name == "__lambda__":
            code = _bytecode_of(node) or ""
            self.add(
                SERIALIZED_LAMBDA,
                here,
                json_path,
                f"lambda bytecode ({len(code)} base64 characters, sha256 {_digest(code)})",
                code,
            )
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
                self.add(
                    LAMBDA_BYTECODE,
                    place,
                    f"{json_path}.{attr}",
                    f"{attr}: marshalled bytecode ({len(code)} base64 characters, sha256 {_digest(code)})",
                    code,
                )
            elif _names_function(value):
                module, name = value.get("module"), value["config"]
                self.add(
                    LAMBDA_NAMED,
                    place,
                    f"{json_path}.{attr}",
                    f"{attr}: {module + '.' if module else ''}{name} ({self._resolution(module, name)})",
                )
            elif attr == "function" and isinstance(value, str) and kind_of in ("function", None):
                module = config.get("module")
                self.add(
                    LAMBDA_NAMED,
                    place,
                    f"{json_path}.{attr}",
                    f"{attr}: {module + '.' if module else ''}{value} (by name)",
                )
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
    wanted = [name.split(":")[0] for name in (meta.saver_def.save_tensor_name, meta.saver_def.restore_op_name) if name]
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
        found += meta_graph_findings(meta, f"{source}$.meta_graphs[{number}].graph_def")
    return found


def meta_graph_findings(meta, where: str) -> list[Finding]:
    """The ops of one MetaGraphDef's graph that act on the world; ``where`` is the graph's
    place in its file (``saved_model.pb$.meta_graphs[0].graph_def``)."""
    found = []
    graph = meta.graph_def
    saver = _saver_nodes(meta)
    for node in graph.node:
        if node.op in CHECKPOINT_OPS and (node.name in saver or node.name.startswith(SAVER_SCOPES)):
            continue
        if node.op in WORLD_OPS:
            found.append(
                Finding(
                    CHECKPOINT_OP if node.op in CHECKPOINT_OPS else GRAPH_OP,
                    f"graph/{node.name}",
                    where,
                    f"{node.op}: {WORLD_OPS[node.op]}",
                )
            )
    for function in graph.library.function:
        fname = function.signature.name
        in_saver = fname.startswith(SAVER_FUNCTION_PREFIXES)
        for node in function.node_def:
            if node.op in WORLD_OPS and not (in_saver and node.op in CHECKPOINT_OPS):
                kind = CHECKPOINT_OP if node.op in CHECKPOINT_OPS else GRAPH_OP
                found.append(
                    Finding(
                        kind,
                        f"function/{fname}/{node.name}",
                        f"{where}.library",
                        f"{node.op}: {WORLD_OPS[node.op]}",
                    )
                )
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
        found, noted = _keras_metadata_findings([(n.node_path, n.metadata) for n in parsed.nodes], "keras_metadata.pb")
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
            user = [
                (paths.get(i, f"node{i}"), n.user_object.metadata)
                for i, n in enumerate(objects.nodes)
                if n.user_object.metadata
            ]
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
        if not any(
            k.kind == finding.kind and k.detail == finding.detail and k.place.split("/")[-len(parts) :] == parts
            for k in kept
        ):
            kept.append(finding)
    return tuple(f for f in findings if f in kept)


def savedmodel_summary(folder) -> str:
    """The summary of a SavedModel folder, read without diagnosing it first (the diagnosis asks)."""
    findings, _, _ = _scan_savedmodel(Path(folder))
    return summary_text(_dedupe(findings))
