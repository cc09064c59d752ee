"""A SavedModel's protobufs, read on the host with the protobuf package: no TensorFlow.

``compat scan`` reads the object graph, the functions' ops and the Keras metadata; the
engine reads the serving signature (what the model takes and returns). Both parse with
message classes built here from descriptors, so neither holds a parser of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# tensorflow/core/framework/types.proto: the DataType values a signature's tensors use.
DTYPES = {
    1: "float32",
    2: "float64",
    3: "int32",
    4: "uint8",
    5: "int16",
    6: "int8",
    7: "string",
    9: "int64",
    10: "bool",
    14: "bfloat16",
    17: "uint16",
    19: "float16",
    22: "uint32",
    23: "uint64",
}
SERVE = "serve"


_MESSAGES: dict = {}


def messages() -> dict:
    """SavedModel and Keras metadata message classes, built from descriptors declared here.

    Field numbers are those of tensorflow/core/protobuf/saved_model.proto, meta_graph.proto (its
    maps declared as the repeated key/value entries they are on the wire), tensor_shape.proto,
    saved_object_graph.proto, trackable_object_graph.proto, saver.proto,
    tensorflow/core/framework/graph.proto, node_def.proto, function.proto, op_def.proto and
    Keras' protobuf/saved_metadata.proto. Only the fields the scan reads are declared;
    protobuf keeps the others as unknown fields, so the messages still parse whole.
    """
    if _MESSAGES:
        return _MESSAGES
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="compat_savedmodel.proto", package="compat_savedmodel", syntax="proto3"
    )

    def message(name, *fields):
        msg = proto.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            field = msg.field.add(
                name=field_name, number=number, type=kind, label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
            )
            if type_name:
                field.type_name = f".compat_savedmodel.{type_name}"

    S, I64, I32, M = F.TYPE_STRING, F.TYPE_INT64, F.TYPE_INT32, F.TYPE_MESSAGE
    message("OpDef", ("name", 1, S, None, False))
    message("NodeDef", ("name", 1, S, None, False), ("op", 2, S, None, False), ("input", 3, S, None, True))
    message("FunctionDef", ("signature", 1, M, "OpDef", False), ("node_def", 3, M, "NodeDef", True))
    message("FunctionDefLibrary", ("function", 1, M, "FunctionDef", True))
    message("GraphDef", ("node", 1, M, "NodeDef", True), ("library", 2, M, "FunctionDefLibrary", False))
    message("ObjectReference", ("node_id", 1, I32, None, False), ("local_name", 2, S, None, False))
    message("SavedUserObject", ("identifier", 1, S, None, False), ("metadata", 3, S, None, False))
    message(
        "SavedObject",
        ("children", 1, M, "ObjectReference", True),
        ("user_object", 4, M, "SavedUserObject", False),
        ("registered_name", 13, S, None, False),
    )
    message("SavedObjectGraph", ("nodes", 1, M, "SavedObject", True))
    message(
        "SaverDef",
        ("filename_tensor_name", 1, S, None, False),
        ("save_tensor_name", 2, S, None, False),
        ("restore_op_name", 3, S, None, False),
    )
    message("Dim", ("size", 1, I64, None, False), ("name", 2, S, None, False))
    message("TensorShapeProto", ("dim", 2, M, "Dim", True), ("unknown_rank", 3, F.TYPE_BOOL, None, False))
    message(
        "TensorInfo",
        ("name", 1, S, None, False),
        ("dtype", 2, I32, None, False),
        ("tensor_shape", 3, M, "TensorShapeProto", False),
    )
    message("TensorInfoEntry", ("key", 1, S, None, False), ("value", 2, M, "TensorInfo", False))
    message(
        "SignatureDef",
        ("inputs", 1, M, "TensorInfoEntry", True),
        ("outputs", 2, M, "TensorInfoEntry", True),
        ("method_name", 3, S, None, False),
    )
    message("SignatureDefEntry", ("key", 1, S, None, False), ("value", 2, M, "SignatureDef", False))
    message("MetaInfoDef", ("tags", 4, S, None, True))
    message(
        "MetaGraphDef",
        ("meta_info_def", 1, M, "MetaInfoDef", False),
        ("graph_def", 2, M, "GraphDef", False),
        ("saver_def", 3, M, "SaverDef", False),
        ("signature_def", 5, M, "SignatureDefEntry", True),
        ("object_graph_def", 7, M, "SavedObjectGraph", False),
    )
    message(
        "SavedModel", ("saved_model_schema_version", 1, I64, None, False), ("meta_graphs", 2, M, "MetaGraphDef", True)
    )
    message(
        "KerasSavedObject",
        ("node_id", 2, I32, None, False),
        ("node_path", 3, S, None, False),
        ("identifier", 4, S, None, False),
        ("metadata", 5, S, None, False),
    )
    message("SavedMetadata", ("nodes", 1, M, "KerasSavedObject", True))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    # A TF 1 frozen graph (.pb) is a bare GraphDef; a checkpoint's graph (.meta) a MetaGraphDef.
    for name in ("SavedModel", "SavedMetadata", "MetaGraphDef", "GraphDef"):
        descriptor = pool.FindMessageTypeByName(f"compat_savedmodel.{name}")
        _MESSAGES[name] = message_factory.GetMessageClass(descriptor)
    return _MESSAGES


class Unreadable(Exception):
    pass


def parse(name: str, data: bytes, text: bool = False):
    from google.protobuf import message as message_
    from google.protobuf import text_format

    msg = messages()[name]()
    try:
        if text:
            text_format.Parse(data.decode("utf-8", "replace"), msg, allow_unknown_field=True)
        else:
            msg.ParseFromString(data)
    except (message_.DecodeError, text_format.ParseError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{exc}") from None
    return msg


def saved_model(folder) -> Any:
    """The folder's ``saved_model.pb`` (or ``.pbtxt``), parsed; ``Unreadable`` when it cannot be.

    Typed Any: the message class is built from descriptors at run time (``messages``), so its
    fields are unknown to a type checker."""
    folder = Path(folder)
    binary = folder / "saved_model.pb"
    if binary.exists():
        return parse("SavedModel", binary.read_bytes())
    text = folder / "saved_model.pbtxt"
    try:
        return parse("SavedModel", text.read_bytes(), text=True)
    except OSError as exc:
        raise Unreadable(str(exc)) from None


def signature(folder, name: str = "serving_default") -> dict | None:
    """The serving MetaGraph's signature ``name``: ``{"inputs": [...], "outputs": [...]}``, each
    ``{"name", "shape" (batch axis first, None where open), "dtype"}`` sorted by name; None
    when the SavedModel has no such signature."""
    saved = saved_model(folder)
    graphs = [m for m in saved.meta_graphs if SERVE in m.meta_info_def.tags] or list(saved.meta_graphs)
    for graph in graphs:
        for entry in graph.signature_def:
            if entry.key == name:
                return {
                    "inputs": [_tensor(e) for e in sorted(entry.value.inputs, key=lambda e: e.key)],
                    "outputs": [_tensor(e) for e in sorted(entry.value.outputs, key=lambda e: e.key)],
                }
    return None


def _tensor(entry) -> dict:
    info = entry.value
    shape = (
        None if info.tensor_shape.unknown_rank else [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
    )
    return {"name": entry.key, "shape": shape, "dtype": DTYPES.get(info.dtype, f"dtype {info.dtype}")}
