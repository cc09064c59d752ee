"""The code corpus: small models that carry code in every place a saved Keras file can hold it,
and clean ones that carry none, written by this environment's Keras.

``write_all(out_dir)`` writes each shape this Keras can write and returns one entry per
shape: ``{"id", "path", "format", "files", "weights", "inputs", "outputs", "note"}``, or
``{"id", "skipped": reason}`` where this Keras cannot write it. Paths are relative to
``out_dir``. The runner (``python -m compat.inside.corpus OUT --set code``) and the host
packing read these entries; ``compat scan``'s tests compare its findings with what loading
each file really ran.

Every piece of stored code is a canary: when run, it appends a line to
``$COMPAT_CANARY_DIR/canary-ran`` if that variable is set, and otherwise does nothing but
its arithmetic. It is written as a ``lambda`` expression, because Keras 3 stores only a
lambda's bytecode (a ``def`` is stored by name) and Keras 2 stores both as bytecode. The
bytecode is revived with the loader's globals, not this module's, so each one imports what
it uses inside its own body (``__import__``). Runs on CPython 3.6 and up.
"""

import os

from compat.inside import kerasapi, savers

# The marker line: anything but "module" counts as the file's code (worker.stored_code_ran).
MARKER = "file"

# Each canary is one expression: (leave the marker, then the value the layer needs)[1]. CPython
# closes the unnamed file as soon as the write returns.
canary_identity = lambda x: (
    [
        open(__import__("os").path.join(d, "canary-ran"), "a").write("file\n")  # noqa: SIM115 - no `with` in a lambda
        for d in [__import__("os").environ.get("COMPAT_CANARY_DIR")]
        if d
    ],
    x,
)[1]

canary_loss = lambda y_true, y_pred: (
    [
        open(__import__("os").path.join(d, "canary-ran"), "a").write("file\n")  # noqa: SIM115 - no `with` in a lambda
        for d in [__import__("os").environ.get("COMPAT_CANARY_DIR")]
        if d
    ],
    (y_true - y_pred) * (y_true - y_pred),
)[1]

canary_initializer = lambda shape, dtype=None, **kwargs: (
    [
        open(__import__("os").path.join(d, "canary-ran"), "a").write("file\n")  # noqa: SIM115 - no `with` in a lambda
        for d in [__import__("os").environ.get("COMPAT_CANARY_DIR")]
        if d
    ],
    __import__("numpy").full(tuple(shape), 0.01, dtype="float32"),
)[1]

canary_regularizer = lambda weight: (
    [
        open(__import__("os").path.join(d, "canary-ran"), "a").write("file\n")  # noqa: SIM115 - no `with` in a lambda
        for d in [__import__("os").environ.get("COMPAT_CANARY_DIR")]
        if d
    ],
    0.0 * weight,
)[1]


def canary_named(x):
    """A function a ``.keras`` config names by module (this one), as a crafted file does: a
    loader runs it only if it imports the module the file names (CVE-2025-1550)."""
    folder = os.environ.get("COMPAT_CANARY_DIR")
    if folder:
        try:
            with open(os.path.join(folder, "canary-ran"), "a") as marker:
                marker.write("imported\n")
        except OSError:
            pass
    return x


class NotWritable(Exception):
    """This Keras cannot write the shape; the message says why."""


def _keras3():
    return kerasapi.is_keras3()


def _keras2_minor():
    major, minor = kerasapi.version().split(".")[:2]
    return int(major), int(minor.split("-")[0])


def _needs_keras_zip():
    if not _keras3() and (kerasapi.api_name() == "keras" or _keras2_minor() < (2, 13)):
        raise NotWritable(f"Keras {kerasapi.version()} has no .keras writer used here (it came with 2.13)")


def _needs_savedmodel():
    if _keras3():
        raise NotWritable("Keras 3 cannot write a Keras SavedModel")
    if kerasapi.api_name() == "keras" or not kerasapi.has_tensorflow():
        raise NotWritable("standalone Keras has no SavedModel writer")


def _model(inputs, outputs, name):
    return kerasapi.keras().Model(inputs, outputs, name=name)


def _dense_input(k, width=4):
    return k.Input(shape=(width,), name="x")


# -- the shapes ---------------------------------------------------------------------------


def lambda_top(k):
    x = _dense_input(k)
    y = k.layers.Lambda(canary_identity, name="lambda")(x)
    return _model(x, k.layers.Dense(2, name="dense")(y), "model"), "a Lambda at the top level"


def lambda_nested_functional(k):
    inner_in = k.Input(shape=(4,), name="inner_x")
    inner = _model(
        inner_in, k.layers.Lambda(canary_identity, name="lambda")(k.layers.Dense(4, name="d")(inner_in)), "sub_model"
    )
    x = _dense_input(k)
    return _model(x, k.layers.Dense(2, name="dense")(inner(x)), "model"), "a Lambda inside a nested Functional model"


def lambda_time_distributed(k):
    x = k.Input(shape=(3, 4), name="x")
    y = k.layers.TimeDistributed(k.layers.Lambda(canary_identity, name="lambda"), name="time_distributed")(x)
    return _model(x, k.layers.Dense(2, name="dense")(y), "model"), "a Lambda wrapped in TimeDistributed"


def lambda_nested_sequential(k):
    inner = k.Sequential(
        [k.layers.Dense(4, name="d"), k.layers.Lambda(canary_identity, name="lambda")], name="sub_sequential"
    )
    x = _dense_input(k)
    return _model(x, k.layers.Dense(2, name="dense")(inner(x)), "model"), "a Lambda inside a nested Sequential"


def lambda_shared(k):
    a = k.Input(shape=(4,), name="a")
    b = k.Input(shape=(4,), name="b")
    shared = k.layers.Lambda(canary_identity, name="shared_lambda")
    y = k.layers.Concatenate(name="concat")([shared(a), shared(b)])
    return _model([a, b], k.layers.Dense(2, name="dense")(y), "model"), "one Lambda layer shared by two inputs"


def loss_lambda(k):
    model, _ = clean(k)
    model.compile(optimizer="sgd", loss=canary_loss)
    return model, "a lambda as the compiled loss (compile_config)"


def bidirectional_activation(k):
    if not _keras3():
        # Keras 2 stores an activation function by its bare name, never its code or module.
        raise NotWritable("Keras 2 stores an activation function by name only: no code or module in the file")
    # Keras 3 rebuilds it too and cannot read a lambda activation back, so the RNN names a
    # registered function, which the writer then points at its module: a crafted file's form.
    k.saving.register_keras_serializable(package="compat_corpus", name="canary_named")(canary_named)
    x = k.Input(shape=(3, 4), name="x")
    y = k.layers.Bidirectional(k.layers.SimpleRNN(2, activation=canary_named, name="rnn"), name="bidirectional")(x)
    return _model(
        x, k.layers.Dense(2, name="dense")(y), "model"
    ), "an RNN inside Bidirectional whose activation names compat.inside.corpus_code.canary_named"


def initializer_lambda(k):
    x = _dense_input(k)
    y = k.layers.Dense(2, kernel_initializer=canary_initializer, name="dense")(x)
    return _model(x, y, "model"), "a lambda as a Dense layer's kernel initializer"


def regularizer_lambda(k):
    x = _dense_input(k)
    y = k.layers.Dense(2, kernel_regularizer=canary_regularizer, name="dense")(x)
    return _model(x, y, "model"), "a lambda as a Dense layer's kernel regularizer"


def module_builtins(k):
    if not _keras3():
        raise NotWritable("Keras 2 stores a Lambda's function as bytecode, not by module")
    x = _dense_input(k)
    y = k.layers.Lambda(abs, name="lambda")(x)  # harmless: Keras 3 names it {"module": "builtins", "config": "abs"}
    return _model(x, k.layers.Dense(2, name="dense")(y), "model"), "a Lambda naming builtins.abs by module"


def module_canary(k):
    if not _keras3():
        raise NotWritable("Keras 2 stores a Lambda's function as bytecode, not by module")
    x = _dense_input(k)
    y = k.layers.Lambda(canary_named, name="lambda")(x)
    return _model(
        x, k.layers.Dense(2, name="dense")(y), "model"
    ), "a Lambda naming compat.inside.corpus_code.canary_named by module"


def clean(k):
    x = _dense_input(k)
    y = k.layers.Dense(3, activation="relu", name="hidden")(x)
    return _model(x, k.layers.Dense(2, name="dense")(y), "model"), "no code: Dense layers only"


def clean_nested(k):
    inner = k.Sequential([k.layers.Dense(4, activation="tanh", name="d")], name="sub_sequential")
    x = k.Input(shape=(3, 4), name="x")
    y = k.layers.TimeDistributed(k.layers.Dense(2, name="td_dense"), name="time_distributed")(inner(x))
    model = _model(x, k.layers.Flatten(name="flatten")(y), "model")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model, "no code: nested Sequential, TimeDistributed, built-in loss and metric"


# -- writers ------------------------------------------------------------------------------


def _save_h5(model, folder, name):
    path = os.path.join(folder, name + ".h5")
    model.save(path)
    return [path]


def _save_keras(model, folder, name):
    _needs_keras_zip()
    path = os.path.join(folder, name + ".keras")
    model.save(path)
    return [path]


def _save_savedmodel(model, folder, name):
    _needs_savedmodel()
    path = os.path.join(folder, name + "_savedmodel")
    model.save(path, save_format="tf")
    return [path]


def _save_json(model, folder, name):
    path = os.path.join(folder, name + ".json")
    with open(path, "w") as handle:
        handle.write(model.to_json())
    weights = os.path.join(folder, name + (".weights.h5" if _keras3() else "_weights.h5"))
    model.save_weights(weights)
    return [path, weights]


def _save_export(model, folder, name):
    if not _keras3() or not kerasapi.has_tensorflow():
        raise NotWritable("model.export is Keras 3 on TensorFlow only")
    path = os.path.join(folder, name + "_export")
    try:
        model.export(path, verbose=False)
    except TypeError:
        model.export(path)
    return [path]


def _save_keras_naming_module(model, folder, name):
    """``.keras`` whose Lambda names ``canary_named`` by its real module: Keras 3 writes the
    function's name but not always a module a loader would import."""
    path = _save_keras(model, folder, name)[0]

    def to_module(node):
        if node.get("class_name") == "function" and str(node.get("config")).split(">")[-1] == "canary_named":
            node["module"] = canary_named.__module__
            node["config"] = "canary_named"  # a registered name ("package>name") becomes the plain name
            return node["config"]
        return None

    if not savers.rewrite_keras_config(path, to_module):
        raise NotWritable(f"Keras {kerasapi.version()} wrote no function by name to point at a module")
    return [path]


# (id, builder, writer, format id of the strategies)
SHAPES = (
    ("lambda-top-h5", lambda_top, _save_h5, "h5"),
    ("lambda-nested-functional-h5", lambda_nested_functional, _save_h5, "h5"),
    ("lambda-timedistributed-h5", lambda_time_distributed, _save_h5, "h5"),
    ("lambda-nested-sequential-keras", lambda_nested_sequential, _save_keras, "keras"),
    ("loss-lambda-keras", loss_lambda, _save_keras, "keras"),
    ("lambda-nested-savedmodel", lambda_nested_functional, _save_savedmodel, "savedmodel"),
    ("lambda-shared-h5", lambda_shared, _save_h5, "h5"),
    ("lambda-nested-json", lambda_nested_sequential, _save_json, "json"),
    ("lambda-timedistributed-keras", lambda_time_distributed, _save_keras, "keras"),
    ("bidirectional-activation-keras", bidirectional_activation, _save_keras_naming_module, "keras"),
    ("initializer-lambda-keras", initializer_lambda, _save_keras, "keras"),
    ("regularizer-lambda-keras", regularizer_lambda, _save_keras, "keras"),
    ("module-builtins-keras", module_builtins, _save_keras, "keras"),
    ("module-canary-keras", module_canary, _save_keras_naming_module, "keras"),
    ("clean-h5", clean, _save_h5, "h5"),
    ("clean-keras", clean_nested, _save_keras, "keras"),
    ("clean-json", clean, _save_json, "json"),
    ("clean-savedmodel", clean_nested, _save_savedmodel, "savedmodel"),
    ("clean-export", clean, _save_export, "export"),
)


def _describe_inputs(model):
    found = []
    for tensor in model.inputs:
        name = getattr(tensor, "name", "input").split(":")[0]
        shape = [None if d is None else int(d) for d in kerasapi.int_shape(tensor)]
        found.append(
            {
                "name": name,
                "shape": shape,
                "dtype": str(getattr(tensor, "dtype", "float32")).split("'")[-1].replace("<dtype: ", "").rstrip(">"),
            }
        )
    return found


def _describe_outputs(model):
    return [
        {
            "name": getattr(t, "name", "output").split(":")[0],
            "shape": [None if d is None else int(d) for d in kerasapi.int_shape(t)],
        }
        for t in model.outputs
    ]


def write_all(out_dir):
    """Write every shape this Keras can write into ``out_dir``; one entry per shape."""
    k = kerasapi.keras()
    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    entries = []
    for shape_id, build, write, fmt in SHAPES:
        kerasapi.clear_session()
        try:
            model, note = build(k)
            written = write(model, out_dir, shape_id)
        except NotWritable as exc:
            entries.append({"id": shape_id, "skipped": str(exc)})
            continue
        except Exception as exc:  # noqa: BLE001 - what this Keras cannot build or save is a skip, with why
            entries.append(
                {
                    "id": shape_id,
                    "skipped": "{}: {}".format(type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""),
                }
            )
            continue
        files = [os.path.relpath(p, out_dir) for p in written]
        entries.append(
            {
                "id": shape_id,
                "path": files[0],
                "format": fmt,
                "files": files,
                "weights": files[1] if fmt == "json" else None,
                "inputs": _describe_inputs(model),
                "outputs": _describe_outputs(model),
                "note": note,
            }
        )
    return entries
