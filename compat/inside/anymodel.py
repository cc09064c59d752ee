"""Any saved model, whatever its inputs and outputs: how a strategy calls, describes and writes it.

A fixture is FaceNet: one image batch in, one embedding out. A user's file can take
several named inputs (token ids, masks, two feature vectors) and return several named
outputs (a list, a dict). So every strategy (``strategies.py``) calls what it loaded
through this module:

- the batch's inputs are matched to the model's by name (else by position);
- every output comes back with its name: the dict key, the output layer's name, or the
  signature's output key;

and writes the recipe of a file that is not FaceNet with ``program``, from the lines the
strategy gives. The host compares outputs by name; each environment names them the way
the model does. Runs inside the consumer environment, on CPython 3.6 up, with only its
packages.
"""

import os
import re

import numpy as np

SIGNATURE = "serving_default"
SAVEDMODEL_FORMATS = ("savedmodel", "export")
ENV_VAR_NOTES = {
    "KERAS_BACKEND": "before Keras is imported: Keras 3 on this backend",
    "TF_USE_LEGACY_KERAS": "before TensorFlow is imported: tf.keras is then tf_keras (Keras 2)",
}


# -- what the model takes and returns ------------------------------------------------------


def dtype_name(dtype):
    """``float32``, ``int32``, ``bool``... for a numpy, TF or Keras dtype (or its name)."""
    name = getattr(dtype, "name", None) or str(dtype)
    return name.replace("<dtype: '", "").replace("'>", "")


def shape_list(shape):
    """A shape as a list, ``None`` for an open dimension (TF 1's Dimension included)."""
    if shape is None:
        return None
    try:
        dims = list(shape.as_list()) if hasattr(shape, "as_list") else list(shape)
    except ValueError:  # TF 1: a shape of unknown rank
        return None
    return [
        None if d is None else int(getattr(d, "value", d)) if getattr(d, "value", d) is not None else None for d in dims
    ]


def input_names(model):
    names = getattr(model, "input_names", None)
    if names:
        return list(names)
    return [t.name.split(":")[0] for t in model.inputs]


def output_names(model):
    names = getattr(model, "output_names", None)
    return list(names) if names else []


def describe_keras(model):
    """The inputs (name, shape, dtype) and outputs (name, shape) of a loaded Keras model."""
    inputs = [
        {"name": name, "shape": shape_list(getattr(t, "shape", None)), "dtype": dtype_name(t.dtype)}
        for name, t in zip(input_names(model), model.inputs)
    ]
    outputs = model.outputs if isinstance(model.outputs, (list, tuple)) else list(model.outputs.values())
    names = output_names(model) or [f"output_{i}" for i in range(len(outputs))]
    return {
        "inputs": inputs,
        "outputs": [{"name": n, "shape": shape_list(getattr(t, "shape", None))} for n, t in zip(names, outputs)],
    }


def describe_signature(signature):
    """The inputs and outputs of a TF 2 concrete function (a SavedModel's serving signature)."""
    specs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    return {
        "inputs": [
            {"name": name, "shape": shape_list(spec.shape), "dtype": dtype_name(spec.dtype)}
            for name, spec in sorted(specs.items())
        ],
        "outputs": [{"name": name, "shape": shape_list(spec.shape)} for name, spec in sorted(outputs.items())],
    }


def describe_tf1_signature(signature):
    def shape(info):
        if info.tensor_shape.unknown_rank:
            return None
        return [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]

    def dtype(info):
        import tensorflow as tf

        return tf.as_dtype(info.dtype).name

    return {
        "inputs": [{"name": n, "shape": shape(i), "dtype": dtype(i)} for n, i in sorted(signature.inputs.items())],
        "outputs": [{"name": n, "shape": shape(i)} for n, i in sorted(signature.outputs.items())],
    }


def describe(ctx, root, fixture):
    """What the file's model takes and returns, read by loading it the plainest way here."""
    path = os.path.join(root, fixture["path"])
    if fixture["format"] in SAVEDMODEL_FORMATS:
        if not ctx.tf_version:
            raise ValueError("reading a SavedModel's signature needs TensorFlow, which this environment does not have")
        import tensorflow as tf

        if ctx.tf2:
            loaded = tf.saved_model.load(path, tags=["serve"])
            return describe_signature(loaded.signatures[SIGNATURE])
        session = tf.Session(graph=tf.Graph())
        with session.graph.as_default():
            meta = tf.saved_model.loader.load(session, ["serve"], path)
        return describe_tf1_signature(meta.signature_def[SIGNATURE])
    if fixture["format"] == "json":
        with open(path) as handle:
            model = ctx.keras.models.model_from_json(handle.read())
    else:
        model = ctx.keras.models.load_model(path, compile=False)
    return describe_keras(model)


# -- calling it ----------------------------------------------------------------------------


def _ordered(batch, names):
    """The batch's arrays in the order of ``names``: by name where they match, else by position."""
    values = list(batch.values())
    if all(name in batch for name in names):
        return [batch[name] for name in names]
    if len(values) != len(names):
        raise ValueError(
            "the model takes {} inputs ({}), the batch holds {} ({})".format(
                len(names), ", ".join(names), len(values), ", ".join(batch)
            )
        )
    return values


def named(result, names):
    """``[(name, array)]`` for what a model or signature returned: a dict keeps its keys, a
    list takes the output names (or ``output_<i>``), a single array the first name."""
    if isinstance(result, dict):
        return [(str(key), np.asarray(value)) for key, value in result.items()]
    if isinstance(result, (list, tuple)):
        names = list(names) + [f"output_{i}" for i in range(len(names), len(result))]
        return [(name, np.asarray(value)) for name, value in zip(names, result)]
    return [((names or ["output"])[0], np.asarray(result))]


def call_keras(ctx, model, batch):
    if not hasattr(model, "inputs"):
        # load_model gave no Keras model (a SavedModel without one): what the recipe's call meets
        return named(model.predict(next(iter(batch.values()))), [])
    names = input_names(model)
    feed = _ordered(batch, names)
    feed = feed[0] if len(feed) == 1 else feed
    if not ctx.eager:
        result = model.predict_on_batch(feed)
    elif ctx.tf_version:
        import tensorflow as tf

        tensors = [tf.constant(f) for f in feed] if isinstance(feed, list) else tf.constant(feed)
        result = model(tensors, training=False)
    else:
        result = model(feed, training=False)
    return named(result, output_names(model))


def signature_caller(ctx, path):
    """A function from the batch to the serving signature's named outputs, and what it keeps alive."""
    import tensorflow as tf

    if ctx.keras3:
        layer = ctx.keras.layers.TFSMLayer(path, call_endpoint=SIGNATURE)
        names = (
            sorted(layer._endpoint_signatures[SIGNATURE].structured_input_signature[1])
            if hasattr(layer, "_endpoint_signatures")
            else None
        )

        def call(batch):
            if len(batch) == 1:
                return named(layer(next(iter(batch.values()))), [])
            return named(layer(dict(zip(names or list(batch), _ordered(batch, names or list(batch))))), [])

        return call, layer
    if ctx.tf2:
        # The loaded object is kept while the signature runs: TF 2.4-2.6 free the variables
        # of a loaded object nothing refers to, and its signature then reads freed ones.
        loaded = tf.saved_model.load(path, tags=["serve"])
        serve = loaded.signatures[SIGNATURE]
        specs = serve.structured_input_signature[1]
        names = sorted(specs)

        def call(batch):
            values = _ordered(batch, names)
            outputs = serve(**{n: tf.constant(v, dtype=specs[n].dtype) for n, v in zip(names, values)})
            return [(key, np.asarray(outputs[key])) for key in sorted(outputs)]

        return call, loaded
    session = tf.Session(graph=tf.Graph())
    with session.graph.as_default():
        meta = tf.saved_model.loader.load(session, ["serve"], path)
    signature = meta.signature_def[SIGNATURE]
    names = sorted(signature.inputs)

    def call(batch):
        values = _ordered(batch, names)
        fetched = sorted(signature.outputs)
        results = session.run(
            [signature.outputs[k].name for k in fetched], {signature.inputs[n].name: v for n, v in zip(names, values)}
        )
        return [(key, np.asarray(value)) for key, value in zip(fetched, results)]

    return call, session


# -- its recipe: a whole program for the file at hand --------------------------------------


def identifier(name, fallback="outputs"):
    """A Python name for what the model returns (``class_probs``), from an output's name."""
    text = re.sub(r"\W+", "_", str(name).split("/")[0].split(":")[0]).strip("_").lower()
    if not text or text[0].isdigit() or text in ("model", "batch", "inputs", "sys", "np", "os", "keras", "tf"):
        return fallback
    return text


def _io_lines(spec):
    inputs, outputs = spec["inputs"], spec["outputs"]
    several_in, several_out = len(inputs) > 1, len(outputs) > 1
    lines = [
        "Usage: python {} INPUT.{} OUTPUT.{}".format(
            spec.get("script") or "recipe.py", "npz" if several_in else "npy", "npz" if several_out else "npy"
        )
    ]
    lines.append("INPUT.npz: one array per input, by name:" if several_in else "INPUT.npy: the model's input:")
    for item in inputs:
        shape = ", ".join(
            "N" if i == 0 else ("any" if d is None else str(d)) for i, d in enumerate(item["shape"] or ["N"])
        )
        extra = " ({})".format(item["range"]) if item.get("range") else ""
        lines.append("    {}: {} ({}){}".format(item["name"], item.get("dtype") or "float32", shape, extra))
    lines.append("OUTPUT.npz: one array per output, by name:" if several_out else "OUTPUT.npy: what the model returns:")
    for item in outputs:
        lines.append("    {}".format(item["name"]))
    lines += [
        "The reference numbers were computed on a seeded batch of these shapes and types (random",
        "values in each input's valid range); real inputs need the model's own preprocessing,",
        "which the file does not record.",
    ]
    return lines


def _read_lines(spec):
    inputs = spec["inputs"]
    if len(inputs) == 1:
        return ["x = np.load(sys.argv[1])"], "x"
    names = "[" + ", ".join(_quote(i["name"]) for i in inputs) + "]"
    return [
        "batch = np.load(sys.argv[1])",
        f"inputs = {{name: batch[name] for name in {names}}}  # fed by name",
    ], "inputs"


def _save_lines(spec, result):
    outputs = spec["outputs"]
    if len(outputs) == 1:
        out = identifier(outputs[0]["name"])
        return [f"{out} = {result}" if result != out else None, f"np.save(sys.argv[2], np.asarray({out}))"]
    names = "[" + ", ".join(_quote(o["name"]) for o in outputs) + "]"
    return [
        f"outputs = {result}" if result != "outputs" else None,
        "if not isinstance(outputs, dict):  # a list, in the order of the model's outputs",
        f"    outputs = dict(zip({names}, outputs))",
        "np.savez(sys.argv[2], **{name: np.asarray(value) for name, value in outputs.items()})",
    ]


def _quote(text):
    return '"{}"'.format(str(text).replace("\\", "\\\\").replace('"', '\\"'))


def program(ctx, strategy, fixture, spec, body, imports, paths=()):
    """The whole program for ``python recipe.py INPUT OUTPUT`` on a file that is not FaceNet.

    ``spec`` is what the host knows of the model: ``inputs`` (name, shape, dtype, range)
    and ``outputs`` (names), read from the file or from the first load. ``body`` is the
    strategy's load lines, then the expression that calls the model on ``FED``; ``paths``
    are the ``(NAME, fixture key)`` constants it reads besides ``MODEL_PATH``.
    """
    lines = [f'"""Loading strategy {strategy.name}: {strategy.any_summary or strategy.summary}.', ""]
    lines += _io_lines(dict(spec, script=fixture.get("script")))
    lines += ['"""', "import os"]
    for name, value in ctx.env_vars:
        lines.append(
            "os.environ[{}] = {}  # {}".format(
                _quote(name), _quote(value), ENV_VAR_NOTES.get(name, "as this environment sets it")
            )
        )
    lines += ["import sys", "", "import numpy as np"]
    lines += list(imports) + [""]
    lines.append("MODEL_PATH = {}".format(_quote(fixture["path"])))
    for name, key in paths:
        lines.append(f"{name} = {_quote(fixture[key])}")
    read, fed = _read_lines(spec)
    lines += [""] + read
    if fixture.get("stored_code") and strategy.runs_stored_code:
        lines += [
            "# Can run code stored in the file ({}):".format(fixture["stored_code"]),
            "# Keras rebuilds it when it loads or first calls the model. Load only files you trust.",
        ]
    result = body[-1].replace(FED, fed)
    lines += [line.replace(FED, fed) for line in body[:-1]]
    lines += [line for line in _save_lines(spec, result) if line]
    return "\n".join(lines)


FED = "<FED>"
"""Where a body line names the model's input (``x``, or ``inputs`` for several)."""
PREDICT = "model.predict(<FED>, verbose=0)"


def signature_body(ctx, spec):
    """Serving a SavedModel's signature: the load lines, the call on ``FED``; and the imports."""
    several = len(spec["inputs"]) > 1
    if ctx.keras3:
        result = (
            "list(outputs.values())[0] if isinstance(outputs, dict) else outputs"
            if len(spec["outputs"]) == 1
            else "outputs"
        )
        return (
            [
                'layer = keras.layers.TFSMLayer(MODEL_PATH, call_endpoint="serving_default")',
                "outputs = layer(<FED>)  # a dict when the signature names its outputs",
                result,
            ],
            ["import keras"],
        )
    if ctx.tf2:
        feed = (
            "{name: tf.constant(value) for name, value in <FED>.items()}"
            if several
            else "{list(serve.structured_input_signature[1])[0]: tf.constant(<FED>)}"
        )
        return (
            [
                (
                    'loaded = tf.saved_model.load(MODEL_PATH, tags=["serve"])  # keep it: the signature only '
                    "borrows its variables"
                ),
                'serve = loaded.signatures["serving_default"]',
                "result = serve(**" + feed + ")",
                "outputs = {name: value.numpy() for name, value in result.items()}",
                _signature_result(spec),
            ],
            ["import tensorflow as tf"],
        )
    feed = (
        "{signature.inputs[name].name: value for name, value in <FED>.items()}"
        if several
        else "{list(signature.inputs.values())[0].name: <FED>}"
    )
    return (
        [
            "session = tf.Session(graph=tf.Graph())",
            "with session.graph.as_default():",
            '    meta = tf.saved_model.loader.load(session, ["serve"], MODEL_PATH)',
            'signature = meta.signature_def["serving_default"]',
            "fetched = sorted(signature.outputs)",
            "outputs = dict(zip(fetched, session.run([signature.outputs[k].name for k in fetched], " + feed + ")))",
            _signature_result(spec),
        ],
        ["import tensorflow as tf"],
    )


def _signature_result(spec):
    if len(spec["outputs"]) == 1:
        return "list(outputs.values())[0]"
    return "outputs"
