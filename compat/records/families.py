"""Why a load failed: known failure signatures, each with its cause and what to do.

A Keras error rarely names its cause. ``EOFError: EOF read where object expected`` means
a Lambda's bytecode was written by another Python minor version; ``Could not deserialize
class 'Functional'`` means a Keras 2 ``.keras`` file under Keras 3 (or the other way
round, depending on which module the file names). ``classify`` maps an error's type and
text, and where the text alone is ambiguous the strategy, the file's format and the
producer's and consumer's Python and Keras versions, to a ``Family``: a short label, the
cause and what to do. An error no signature knows gives ``None``, and the caller shows
the raw message: an unknown error is never dressed up as a known one.

The signatures were read off every error in the committed ``reports/matrix.json``;
``census`` applies them to a whole matrix (or results) document and counts what each
family covers and what stays unclassified (none in the committed matrix; the tests hold
that count, so a new kind of error fails them until it is explained here).

Host side, stdlib only.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, OrderedDict

from compat import catalog
from compat.records import strategyinfo


@dataclasses.dataclass(frozen=True)
class Family:
    id: str
    label: str
    """A few words, read after the exception type: ``EOFError: <label>``."""
    cause: str
    action: str
    """What to do, naming the strategies that work around it."""
    reports: tuple[str, ...] = ()
    """Public reports of this failure (``owner/repo#N``), shown on the page under "why"."""

    def line(self, error_type: str = "") -> str:
        return f"{error_type}: {self.label}" if error_type else self.label


_REBUILD = "rebuild the model in code and load only the weights (rebuild_weights, h5_transplant)"
_TRANSLATE = "translate its stored architecture into this Keras (the translate strategy)"

FAMILIES = OrderedDict(
    (family.id, family)
    for family in (
        # -- Lambda layers: code stored in the file ------------------------------------------
        Family(
            "lambda_bytecode",
            "Lambda bytecode from another Python",
            "a Lambda layer stores its function as marshalled CPython bytecode, which only the "
            "Python minor version that saved the file can read and run",
            f"{_REBUILD}, or load it under the Python minor version that saved it",
            (
                "keras-team/keras#14875",
                "keras-team/keras#7440",
                "tensorflow/tensorflow#56403",
                "SeldonIO/alibi-detect#321",
                "susantabiswas/facial-login-web#12",
            ),
        ),
        Family(
            "lambda_safe_mode",
            "Lambda refused by safe_mode",
            "Keras 3 and Keras 2.13+ refuse to revive a Lambda that holds Python bytecode, since "
            "loading it runs code taken from the file",
            "if you trust the file, load_model(path, safe_mode=False) (the unsafe strategy), or for a JSON "
            "architecture, whose model_from_json takes no safe_mode, the same with safe mode turned off "
            "around it (the json_unsafe strategy); the bytecode still has to come from your Python minor "
            f"version; otherwise {_REBUILD}",
            ("keras-team/keras#18284", "keras-team/tf-keras#44", "tensorflow/tensorflow#61211"),
        ),
        Family(
            "lambda_function_by_name",
            "Lambda function stored by name",
            "the file names the Lambda's function (module and name) instead of storing its code, "
            "and this Keras only finds a function that is registered or handed over",
            f"pass the function in custom_objects (the custom_objects strategy), or {_REBUILD}",
        ),
        Family(
            "lambda_trackedlist",
            "Keras 3.3 cannot call this Lambda",
            'Keras 3.3 fails inside Lambda.call (\'can only concatenate tuple (not "TrackedList") '
            "to tuple') for a Lambda with stored arguments, whichever Keras wrote the file; "
            "Keras 3.5 and later call it",
            f"use Keras 3.5 or later, or {_REBUILD}",
        ),
        # -- Keras generations ---------------------------------------------------------------
        Family(
            "keras2_under_keras3",
            "Keras 2 file under Keras 3",
            "the file names Keras 2 classes or modules (keras.engine.functional, a bare 'Model' or "
            "'Functional') that Keras 3 does not have",
            f"{_TRANSLATE}, load it with tf_keras (the tf_keras strategy), or {_REBUILD}",
            ("keras-team/keras#19089", "keras-team/keras#20081"),
        ),
        Family(
            "keras3_under_keras2",
            "Keras 3 file under Keras 2",
            "the file was written by Keras 3: its configs use Keras 3 names (batch_shape, "
            "keras.src.models.functional) that Keras 2 and tf_keras do not know",
            f"{_TRANSLATE}, load it with Keras 3, or {_REBUILD}",
            ("tensorflow/tensorflow#66381",),
        ),
        Family(
            "keras2_module_moved",
            ".keras from another Keras 2 line",
            "a Keras 2 .keras archive names each class by module path, and Keras 2.12 "
            "(keras.engine), 2.13-2.15 (keras.src.engine) and tf_keras (tf_keras.src.engine) each "
            "have their own",
            f"{_TRANSLATE}, load it with the Keras line that saved it, or {_REBUILD}",
        ),
        Family(
            "newer_config",
            "an argument this Keras does not take",
            "the file's layer or graph configs carry arguments this Keras rejects: ones a later Keras "
            "added (keepdims, ragged, optional, a new node layout), or ones Keras 3 dropped (groups, "
            "time_major)",
            f"{_TRANSLATE}, load it with a Keras at least as new as the one that saved it, or {_REBUILD}",
            ("keras-team/keras#19441", "keras-team/keras#19898"),
        ),
        Family(
            "initializer_arguments",
            "initializer arguments changed",
            "the file's initializer configs carry arguments or names this Keras's initializers do not "
            "take (dtype from TF 1.x, input_axes/output_axes from recent Keras 3, Orthogonal spelled "
            "OrthogonalInitializer or the other way); a trained model never uses its initializers, yet "
            "the load fails on them",
            f"{_TRANSLATE}, {_REBUILD}, or load it with the Keras generation that saved it",
        ),
        Family(
            "compile_config",
            "training config from another Keras",
            "the optimizer or loss config saved with the model was written by another Keras, "
            "whose optimizer arguments or config layout this one does not accept",
            "load_model(path, compile=False) (the no_compile strategy), and compile again before training",
        ),
        Family(
            "functional_class_unknown",
            "'Functional' unknown before Keras 2.4",
            "files from TF 2.4 and later, and from Keras 3, name the model class 'Functional'; "
            "Keras 2.1-2.3 only know 'Model'",
            f"{_TRANSLATE}, or {_REBUILD}",
            (
                "Shawn-Shan/fawkes#131",
                "gmalivenko/onnx2keras#85",
                "swghosh/DeepFace#11",
                "LucasNolasco/DeepDFML-NILM#3",
            ),
        ),
        # -- custom objects ------------------------------------------------------------------
        Family(
            "custom_objects_missing",
            "custom classes not handed over",
            "the file uses custom layers, losses or functions, and this load was not given them (Keras "
            "3.0 to 3.2 also dropped what load_model was handed for a .h5 with safe_mode given)",
            "pass them: load_model(path, custom_objects={...}) (the custom_objects strategy); "
            "for a custom loss alone, compile=False also works; under Keras 3.0-3.2, Keras 3.3 or later",
            ("keras-team/keras#7585", "tensorflow/tensorflow#43498", "keras-team/keras#19373"),
        ),
        Family(
            "recurrent_weight_count",
            "a recurrent layer built with other weights than the file's",
            "the reading Keras builds the (Bidirectional) recurrent layer with another number of "
            "weights than the saving one stored: Keras 3.0 gives a Bidirectional LSTM 9 where Keras 2 "
            "saved 6",
            "load it with Keras 3.3 or later (the translate strategy there), or with tf_keras",
        ),
        Family(
            "custom_classes_other_keras",
            "custom classes written for another Keras",
            "the custom classes handed over subclass this environment's Keras 3 layers, but "
            "tf_keras builds a Keras 2 model and cannot use them",
            "hand tf_keras classes that subclass tf_keras.layers.Layer, or load it with Keras 3",
        ),
        # -- formats a loader does not read ------------------------------------------------------
        Family(
            "keras_zip_old_keras",
            ".keras archive under Keras before 2.12",
            "the .keras zip format came with Keras 2.12; older loaders read the path as HDF5 "
            "('file signature not found') or as a SavedModel folder",
            "load it with Keras 2.12 or later, or rebuild the model in code and take the weights "
            "from the archive with h5py (h5_transplant)",
        ),
        Family(
            "savedmodel_under_keras3",
            "SavedModel under Keras 3",
            "Keras 3's load_model reads only .keras and .h5 files, not a SavedModel folder",
            "keras.layers.TFSMLayer(path, call_endpoint='serving_default') for inference (the "
            "savedmodel_inference strategy), or, for a Keras model of this Keras, translate the "
            "architecture its metadata stores (the translate strategy), or tf_keras.models.load_model "
            "(the tf_keras strategy)",
            ("Hrushi11/Real-TIme-Skin-Type-Detection#1",),
        ),
        Family(
            "savedmodel_under_standalone_keras",
            "SavedModel under standalone Keras",
            "standalone Keras 2.1-2.2 reads only HDF5; given a SavedModel folder, h5py cannot open it",
            "run its serving signature with TensorFlow (the savedmodel_inference strategy), or load an .h5 copy",
        ),
        Family(
            "savedmodel_without_keras_model",
            "SavedModel without a Keras model to revive",
            "load_model gave back a plain TensorFlow object, neither callable nor with a predict: the "
            "SavedModel has no Keras metadata this Keras can use (an inference export, or a TF 1 SavedModel)",
            "call its serving signature (the savedmodel_inference strategy)",
            ("Hrushi11/Real-TIme-Skin-Type-Detection#1", "spotify/basic-pitch#117"),
        ),
        Family(
            "tf1_savedmodel",
            "TF 1 SavedModel under the TF 2 Keras loader",
            "a TF 1.x SavedModel has no object graph, and the TF 2 Keras loader indexes into one",
            "call its serving signature (the savedmodel_inference strategy), or rebuild the model "
            "in code and load the weights",
        ),
        Family(
            "lambda_global_name",
            "a Lambda's function names a module the loader does not have",
            "a Lambda revived from bytecode runs with the loading module's globals, not the ones it was "
            "written with: a name it uses (tf, K, a constant) is not defined there",
            "hand that name over in custom_objects ({'tf': tf}), give the function itself "
            f"(--function, the translate strategy), or {_REBUILD}",
            (
                "keras-team/keras#5298",
                "keras-team/keras#15759",
                "krasserm/super-resolution#7",
                "tensorflow/tensorflow#50082",
            ),
        ),
        Family(
            "savedmodel_without_architecture",
            "a SavedModel with no Keras architecture to translate",
            "translate reads the model config tf.keras 2 stored in a SavedModel's metadata; a TF 1 "
            "SavedModel, or one written by tf.saved_model.save or model.export, stores none",
            "call its serving signature (the savedmodel_inference or savedmodel_signature strategy), or "
            "rebuild the model in code and load the weights",
        ),
        Family(
            "savedmodel_keras_metadata",
            "Keras metadata moved out (TF 2.5+)",
            "from TF 2.5 a Keras SavedModel keeps its Keras metadata in keras_metadata.pb; TF 2.4 "
            "reads the empty metadata left in saved_model.pb and cannot parse it",
            "load it under TF 2.5 or later, or call its serving signature (the savedmodel_inference strategy)",
        ),
        Family(
            "savedmodel_tags",
            "SavedModel with several MetaGraphs",
            "a TF 1 SavedModel saved with train, eval and serve graphs; loading it has to name the one it wants",
            "tf.saved_model.load(path, tags=['serve'])",
        ),
        Family(
            "graph_newer_than_tf",
            "graph ops newer than this TensorFlow",
            "the SavedModel's graph uses ops, op attributes or dtypes added in a later TensorFlow "
            "(DisableCopyOnRead, StatefulPartitionedCall, FusedBatchNormV3, debug_name...)",
            "load it with a TensorFlow at least as new as the one that saved it, or rebuild the "
            "model in code and load the weights",
        ),
        Family(
            "savedmodel_object_freed",
            "loaded SavedModel freed before use",
            "TF 2.4-2.6 free the variables of the object tf.saved_model.load returns once nothing "
            "refers to it, so a signature taken from it finds its variables gone",
            "keep a reference: loaded = tf.saved_model.load(path); serve = loaded.signatures['serving_default']",
        ),
        # -- weights files -------------------------------------------------------------------
        Family(
            "weights_new_layout",
            "new weights layout under a legacy loader",
            "the weights use the layout of Keras 2.12+ native files and Keras 3 (.weights.h5, the "
            "weights inside .keras): no layer_names attribute, so a legacy loader finds 0 layers",
            "load them with Keras 2.12+ or Keras 3, or copy them with h5py (h5_transplant reads both layouts)",
        ),
        Family(
            "native_numbering",
            "native weights numbered differently",
            "the native layout (.keras, .weights.h5) of Keras 2.12/2.13 numbers each layer's "
            "variables differently from Keras 2.15 and Keras 3, so either side finds no variables "
            "where it looks",
            "copy them with h5py (h5_transplant, which matches layers by class and rank), or load "
            "them with the Keras that saved them",
            ("tensorflow/tensorflow#65395", "tensorflow/tensorflow#62363"),
        ),
        Family(
            "keras3_by_name",
            "load_weights(by_name=True) in Keras 3.3-3.7",
            "Keras 3.3-3.7 read a legacy .h5 by name as if it held the model's top-level weights, "
            "find none and give up",
            "load_weights without by_name (rebuild_weights), h5_transplant, or Keras 3.10 or later",
        ),
        Family(
            "backend_unknown",
            "weights from a backend this Keras does not know",
            "the file records the backend that wrote it ('jax'); Keras 2.1 looks it up in its own "
            "list of backends to decide whether to flip kernels, and fails",
            "copy the weights with h5py (h5_transplant), or save them again from TensorFlow",
        ),
        Family(
            "h5py_strings",
            "h5py 3 string attributes under an older Keras",
            "h5py 3 returns HDF5 string attributes as str where h5py 2 returned bytes, and Keras "
            "before TF 2.5 calls .decode on them",
            "install h5py<3 beside that Keras, or load it with TF 2.5 or later",
            ("tensorflow/tensorflow#44467", "matterport/Mask_RCNN#2660"),
        ),
        Family(
            "tf_op_layer",
            "a raw TF op saved as a layer (TFOpLambda)",
            "Keras 2.4-2.15 store a TensorFlow op called on Keras tensors (x * 0.17, "
            "tf.nn.l2_normalize) as a TFOpLambda layer, which Keras 3 does not have",
            f"{_TRANSLATE}, or load it with tf_keras (the tf_keras strategy)",
            ("hyunnamlee/RAPUNet#4",),
        ),
        Family(
            "tf1_graph_api",
            "TF 1's graph API under TF 2",
            "a frozen graph (.pb) or TF 1 checkpoint is read with TF 1's API (tf.GraphDef, tf.Session, "
            "tf.gfile, tf.import_graph_def), which TF 2 keeps only under tf.compat.v1",
            "read it with tf.compat.v1: GraphDef, import_graph_def and a Session over the graph, or "
            "import_meta_graph and restore for a checkpoint (the tf1_graph strategy)",
            (
                "tensorflow/tensorflow#32068",
                "tensorflow/tensorflow#84039",
                "tensorflow/models#7703",
                "susheelsk/image-background-removal#9",
            ),
        ),
        Family(
            "gru_reset_after",
            "a GRU from Keras 2.1 or 2.2",
            "Keras before 2.3 computed a GRU without reset_after and stored no such key; later Keras "
            "build reset_after=True, whose bias has another shape",
            f"{_TRANSLATE}: it builds reset_after=False, or rebuild the layer with GRU(reset_after=False)",
            ("xiaochus/TrafficFlowPrediction#10",),
        ),
        Family(
            "tfsmlayer_positional",
            "a signature with several inputs called by position",
            "TFSMLayer calls a SavedModel's serving signature with positional arguments, and a "
            "signature with several named inputs takes them only by name",
            "call the signature with its inputs by name: loaded.signatures['serving_default'](**inputs) "
            "(the savedmodel_signature strategy), or translate its stored architecture into this Keras "
            "(the translate strategy)",
            ("keras-team/keras#20813",),
        ),
        Family(
            "savedmodel_optimizer_slots",
            "a SavedModel's optimizer slots without tf_keras",
            "a model compiled and saved as a SavedModel by TF 2.10 or older keeps its optimizer's slot "
            "variables; TF 2.16+ revives that optimizer through tf_keras, and where tf_keras is not "
            "installed (pip install tensorflow alone) tf.saved_model.load and TFSMLayer fail",
            "install tf-keras of your TensorFlow's minor beside it (TensorFlow then revives the optimizer "
            "itself, and the load works as before), or save the model again without its optimizer "
            "(include_optimizer=False)",
            ("tensorflow/tensorflow#52370", "tensorflow/tensorflow#52091", "tensorflow/tensorflow#56997"),
        ),
        Family(
            "lambda_output_shape",
            "a Lambda's output shape Keras 3 cannot infer",
            "Keras 3 traces a Lambda without output_shape on symbolic tensors to learn its shape, "
            "which fails for functions written for TensorFlow tensors",
            f"{_TRANSLATE} with the function given (--function), which states the shape, or set "
            "output_shape on the Lambda in your code",
            ("sizhuoli/TreeCountSegHeight#6",),
        ),
        # -- translate: what its rules cannot carry over ------------------------------------
        Family(
            "lambda_needs_function",
            "Lambda bytecode: translate needs the function as code",
            "a Lambda layer stores its function as Python bytecode, which translate never runs (only "
            "the Python minor that wrote it reads it, and reading it runs code from the file), or names "
            "a function the file does not hold",
            "give the function with --function LAYER=FILE.py:NAME (translate), or rebuild the model "
            "in code and load only the weights (rebuild_weights, h5_transplant)",
            ("keras-team/keras#14875",),
        ),
        Family(
            "untranslatable_argument",
            "an argument this Keras cannot take",
            "the file sets an argument to a value this Keras has no equivalent for, so no rule "
            "carries it over without changing what the model computes",
            "load it with a Keras that takes the argument, or rebuild that layer in your own code",
        ),
        Family(
            "untranslatable_op",
            "a TF op no Keras 3 layer computes",
            "a Keras 2 TFOpLambda calls a TensorFlow op that translate has no Keras 3 layer for",
            "rebuild that step as a layer of your own code, or load the file with tf_keras",
            ("hyunnamlee/RAPUNet#4",),
        ),
        Family(
            "weights_only",
            "weights file without a model config",
            "the file holds weights only (no model_config), so load_model has no architecture to build",
            "rebuild the architecture in code and call model.load_weights(path) (rebuild_weights, h5_transplant)",
        ),
    )
)


@dataclasses.dataclass(frozen=True)
class _Context:
    strategy: str | None
    fmt: str | None
    producer_python: str | None
    consumer_python: str | None
    consumer_keras: str | None

    @property
    def other_python(self) -> bool:
        """Known to differ in the Python minor version (bytecode does not travel)."""
        mine, theirs = _minor(self.producer_python), _minor(self.consumer_python)
        return mine is not None and theirs is not None and mine != theirs

    @property
    def reader_keras(self) -> int | None:
        """The Keras major version that read the file (tf_keras is Keras 2 beside Keras 3)."""
        if strategyinfo.legacy_keras(self.strategy):
            return 2
        try:
            return int(str(self.consumer_keras).split(".")[0])
        except ValueError:
            return None


def _minor(version) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", str(version or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _other_python(ctx: _Context) -> bool:
    return ctx.other_python


def _reader(major: int):
    return lambda ctx: ctx.reader_keras == major


def _legacy_keras(ctx: _Context) -> bool:
    return strategyinfo.legacy_keras(ctx.strategy)


def _format(*names: str):
    return lambda ctx: ctx.fmt in names


def _nothing_handed_over(ctx: _Context) -> bool:
    """Keras read the file's config and was handed none of its code: an unknown custom class
    is then the expected outcome."""
    return (
        ctx.strategy is not None
        and strategyinfo.reads_config(ctx.strategy)
        and not strategyinfo.hands_over(ctx.strategy)
    )


_FILE_MODULE = (
    r"Could not deserialize class '\w+' because its parent module \S+ cannot be imported\. "
    r"Full object config: \{'module': '"
)

# (family, exception types (empty: any), pattern searched in message + traceback tail, condition).
# The first match wins, so the specific inner causes come before the wrappers that carry them.
_SIGNATURES = (
    ("tf_op_layer", (), r"Unknown layer: '?(TFOpLambda|SlicingOpLambda|TensorFlowOpLayer)\b", None),
    ("gru_reset_after", (), r"GRU\(reset_after=False\) is not compatible with GRU\(reset_after=True\)", None),
    (
        "gru_reset_after",
        (),
        r"Shape mismatch in layer #\d+ \(named \w+\)\s*for weight \S*gru_cell\S*/bias"
        r"|variable\.shape=\(2, \d+\), Received: value\.shape=\(\d+,\)\. Target variable: .*gru_cell/bias",
        None,
    ),
    (
        "tfsmlayer_positional",
        (),
        r"Binding inputs to tf\.function failed due to `(too many positional arguments|missing a required argument)",
        None,
    ),
    ("savedmodel_optimizer_slots", (), r"'_UserObject' object has no attribute 'add_slot'", None),
    (
        "tf1_graph_api",
        ("AttributeError",),
        r"module 'tensorflow' has no attribute '(GraphDef|Session|gfile|import_graph_def|placeholder)'",
        None,
    ),
    ("lambda_output_shape", (), r"could not automatically infer the shape of the Lambda", None),
    ("lambda_safe_mode", (), r"Requested the deserialization of a `?Lambda`? layer", None),
    (
        "lambda_bytecode",
        (),
        (
            r"EOF read where object expected|bad marshal data|unknown opcode"
            r"|popped block is not an except handler"
        ),
        None,
    ),
    ("lambda_trackedlist", (), r'can only concatenate tuple \(not "TrackedList"\)', None),
    # Bytecode run under another Python fails in arbitrary ways once the Lambda is called.
    (
        "lambda_bytecode",
        (),
        (
            r'Exception encountered when calling (Lambda\.call\(\)|layer "lambda")'
            r"|'encoding' not supported between instances of 'type' and 'type'"
        ),
        _other_python,
    ),
    (
        "initializer_arguments",
        (),
        (
            r"(Uniform|Normal|Scaling|Orthogonal|Zeros|Ones|Constant|Identity"
            r"|Initializer)\.__init__\(\) got an unexpected keyword argument"
        ),
        None,
    ),
    (
        "keras3_under_keras2",
        (),
        (
            r"(Unrecognized keyword arguments|Keyword argument not understood)"
            r"\W[^\n]*batch_shape|using config=\{'batch_shape'"
        ),
        None,
    ),
    ("keras3_under_keras2", (), _FILE_MODULE + r"keras\.src\.models\.", None),
    ("keras2_under_keras3", (), _FILE_MODULE + r"(tf_)?keras\.(src\.)?engine\.", _reader(3)),
    ("keras2_module_moved", (), _FILE_MODULE + r"(tf_)?keras\.(src\.)?engine\.", _reader(2)),
    ("keras2_under_keras3", (), r"Could not locate class '(Functional|Model|Sequential)'", _reader(3)),
    # After the module rules: a Functional that cannot be imported dumps its whole config,
    # Lambda functions included, so only the lookup of a function itself counts here.
    (
        "lambda_function_by_name",
        (),
        (
            r"Could not locate function '"
            r"|Full object config: \{'module': '[\w.]+', 'class_name': 'function'"
        ),
        None,
    ),
    (
        "compile_config",
        (),
        (
            r"passed to optimizer|is not a valid argument, kwargs should be empty"
            r"|_resolve_compile_arguments"
        ),
        None,
    ),
    (
        "newer_config",
        (),
        (
            r"Unrecognized keyword arguments|Keyword argument not understood"
            r"|__init__\(\) got an unexpected keyword argument|__init__\(\) got multiple values for keyword argument"
            r"|functional_from_config\.<locals>\.get_tensor\(\) takes"
        ),
        None,
    ),
    ("functional_class_unknown", (), r"Unknown layer: '?Functional\b", None),
    (
        "custom_objects_missing",
        (),
        (
            r"Unknown (layer|loss function|metric|activation|optimizer)\b"
            r"|Could not locate class '(?!Functional'|Model'|Sequential')"
        ),
        None,
    ),
    ("custom_objects_missing", ("TypeError",), r"'str' object is not callable", _nothing_handed_over),
    # Keras 3 gives a custom class a registered name (builtins have None); the kept tail of
    # the traceback may start inside the key, hence only its end.
    (
        "custom_objects_missing",
        (),
        (
            r"could not be deserialized properly[\s\S]*"
            r"ed_name': '(?!function')\w+'"
        ),
        _nothing_handed_over,
    ),
    ("custom_classes_other_keras", (), r"object has no attribute '_set_dtype_policy'", None),
    ("custom_classes_other_keras", ("IndexError",), r"_inbound_nodes\[", _legacy_keras),
    ("keras_zip_old_keras", (), r"SavedModel file does not exist at: \S*\.keras/", None),
    ("keras_zip_old_keras", (), r"file signature not found", _format("keras")),
    ("savedmodel_under_keras3", (), r"Keras 3 only supports V3 `\.keras` files", None),
    (
        "savedmodel_under_standalone_keras",
        (),
        r"Unable to open file \(file read failed",
        _format("savedmodel", "export"),
    ),
    (
        "savedmodel_without_keras_model",
        (),
        r"'(_UserObject|AutoTrackable)' object (has no attribute|is not callable)"
        r"|'Functional' object has no attribute 'predict(_on_batch)?'",
        None,
    ),
    ("tf1_savedmodel", ("IndexError",), r"_generate_object_paths", None),
    ("lambda_global_name", ("NameError",), r"name '\w+' is not defined", None),
    (
        "recurrent_weight_count",
        (),
        r"Weight count mismatch for layer #\d+ \(named \w*(lstm|gru|rnn)\w*"
        r"|layer '\w*(lstm|gru|rnn)\w*' holds weights of shapes .* the file gives",
        None,
    ),
    ("savedmodel_without_architecture", ("NotTranslatable",), r"the SavedModel records no Keras architecture", None),
    (
        "initializer_arguments",
        (),
        r"Could not interpret initializer identifier: \{.*'class_name': '\w+'|Unknown initializer: '?\w+Initializer\b",
        None,
    ),
    (
        "savedmodel_keras_metadata",
        ("JSONDecodeError",),
        r"Expecting value: line 1 column 1 \(char 0\)",
        _format("savedmodel"),
    ),
    ("savedmodel_tags", (), r"requires a \W?tags=\W? argument if there is more than one MetaGraph", None),
    (
        "graph_newer_than_tf",
        (),
        (
            r"Op type not registered|No op named \w+ in defined operations"
            r"|NodeDef mentions attr '\w+' not in Op|Cannot convert \d+ to a dtype"
        ),
        None,
    ),
    (
        "savedmodel_object_freed",
        (),
        (
            r"(Could not find variable|Error while reading resource variable) "
            r"_AnonymousVar\d+"
        ),
        None,
    ),
    (
        "weights_new_layout",
        (),
        (
            r"can't locate attribute: 'layer_names'|found 0 saved layers"
            r"|weight file containing 0 layers"
        ),
        None,
    ),
    (
        "native_numbering",
        (),
        (
            r"expected \d+ variables, but received 0 variables during loading"
            r"|objects could not be loaded"
        ),
        None,
    ),
    ("keras3_by_name", (), r"Weight count mismatch for top-level weights of model", None),
    ("backend_unknown", ("KeyError",), r"\A'(jax|torch|theano|cntk)'$", None),
    ("h5py_strings", (), r"'str' object has no attribute 'decode'", None),
    ("weights_only", (), r"No model (config )?found in (the )?(config )?file", None),
    (
        "lambda_needs_function",
        ("NotTranslatable",),
        r"stores its function as Python bytecode|names its function '[^']*', which the file does not hold",
        None,
    ),
    ("untranslatable_argument", ("NotTranslatable",), r"has no equivalent in Keras|in this Keras takes no '", None),
    ("untranslatable_op", ("NotTranslatable",), r"TFOpLambda '[^']*' (calls tf\.|is called)", None),
)
_COMPILED = tuple(
    (family, types, re.compile(pattern, re.MULTILINE), when) for family, types, pattern, when in _SIGNATURES
)


def classify(
    error_type: str,
    message: str,
    detail: str = "",
    *,
    strategy: str | None = None,
    fmt: str | None = None,
    producer_python: str | None = None,
    consumer_python: str | None = None,
    consumer_keras: str | None = None,
) -> Family | None:
    """The family of one error, or ``None`` when no known signature fits.

    ``detail`` is the rest of the error text (the traceback's tail), where Keras puts the
    real cause behind wrappers such as "could not be deserialized properly". ``fmt`` is the
    fixture format id (``h5``, ``keras``, ``savedmodel``, ``export``...), the Pythons are
    ``"3.11"``-style versions and ``consumer_keras`` the reading environment's Keras version.
    """
    ctx = _Context(strategy, fmt, producer_python, consumer_python, consumer_keras)
    text = f"{message or ''}\n{detail or ''}"
    for family, types, pattern, when in _COMPILED:
        if types and error_type not in types:
            continue
        if pattern.search(text) and (when is None or when(ctx)):
            return FAMILIES[family]
    return None


# -- applied to documents ----------------------------------------------------------------------


def _environments(document: dict) -> dict[str, tuple]:
    """``{id: (python, keras)}`` from what the document says, else from the catalog."""
    found: dict[str, tuple] = {env.id: (env.python, None) for env in catalog.ENVIRONMENTS}
    for entry in document.get("catalog") or []:
        found[entry["id"]] = (entry.get("python"), (entry.get("runtime") or {}).get("keras"))
    consumer = document.get("consumer")
    if isinstance(consumer, dict) and consumer.get("id"):
        found[consumer["id"]] = (consumer.get("python"), (consumer.get("runtime") or {}).get("keras"))
    return found


def _classify_with(environments: dict, attempt: dict) -> Family | None:
    error = attempt.get("error") or {}
    producer = environments.get(attempt.get("producer"), (None, None))
    consumer = environments.get(attempt.get("consumer"), (None, None))
    return classify(
        error.get("type", ""),
        error.get("message", ""),
        error.get("traceback", ""),
        strategy=attempt.get("strategy"),
        fmt=attempt.get("format"),
        producer_python=producer[0],
        consumer_python=consumer[0],
        consumer_keras=consumer[1],
    )


def classify_attempt(document: dict, attempt: dict) -> Family | None:
    """``classify`` for one errored attempt of a matrix or results document."""
    if "consumer" not in attempt and isinstance(document.get("consumer"), dict):
        attempt = dict(attempt, consumer=document["consumer"].get("id"))
    return _classify_with(_environments(document), attempt)


@dataclasses.dataclass(frozen=True)
class Census:
    attempts: int
    """Attempts whose verdict is an error."""
    errors: int
    """Distinct error records (type, message, traceback) among them."""
    families: tuple
    """``(family id, attempts, distinct errors)``, most attempts first; families with none left out."""
    unclassified_attempts: int
    unclassified_errors: int
    """Distinct error records no family explains."""
    unclassified: tuple
    """Each distinct unclassified error as ``"Type: message"``, raw."""


def census(document: dict) -> Census:
    """How many of a document's errors each family explains, and which none does."""
    environments = _environments(document)
    consumer: dict = document["consumer"] if isinstance(document.get("consumer"), dict) else {}
    attempts: Counter = Counter()
    records: dict[str, set] = {}
    every: set = set()
    unclassified_attempts = 0
    unclassified: dict[tuple, None] = {}
    for attempt in document["attempts"]:
        error = attempt.get("error")
        if not error:
            continue
        if "consumer" not in attempt:
            attempt = dict(attempt, consumer=consumer.get("id"))
        record = (error.get("type"), error.get("message"), error.get("traceback"))
        every.add(record)
        family = _classify_with(environments, attempt)
        if family is None:
            unclassified_attempts += 1
            unclassified.setdefault(record, None)
            continue
        attempts[family.id] += 1
        records.setdefault(family.id, set()).add(record)
    ranked = tuple((name, count, len(records[name])) for name, count in attempts.most_common())
    lines = tuple(dict.fromkeys(f"{kind}: {message}" for kind, message, _ in unclassified))
    return Census(
        attempts=sum(attempts.values()) + unclassified_attempts,
        errors=len(every),
        families=ranked,
        unclassified_attempts=unclassified_attempts,
        unclassified_errors=len(unclassified),
        unclassified=lines,
    )
