"""The loading strategies: the ways people really load a saved Keras model.

Each strategy is one class, for any model: a fixture of the matrix (FaceNet) or a user's
own file (``fixture["facenet"]`` says whether it has FaceNet's layers). It

- says when it applies: ``applies(ctx, fixture)`` is ``None``, else the reason it does
  not (the file's format, this environment, or what the file holds);
- loads the file exactly as its recipe shows a user typing: ``load(ctx, root, fixture)``
  returns ``call(batch) -> [(name, array)]``, with ``call.model`` the Keras model when
  there is one (what convert re-saves);
- writes that recipe: ``render_recipe(ctx, fixture, spec)``, a whole program for this
  environment (``python recipe.py INPUT OUTPUT``). A FaceNet file's imports nothing from
  outside the environment but the architecture file, ``facenet_arch.py``; any other
  file's reads and writes the model's own named inputs and outputs (``spec``).

The registry order is the order of preference the report uses: plain loading first,
weights-level strategies last. Adding a technique is adding one class here and naming it
in ``STRATEGIES``: the matrix, the probe, the recipes and the report take it from there.
"""

import contextlib
import os

import numpy as np

from compat.inside import anymodel, facenet, facenet_arch, kerasapi
from compat.inside.anymodel import ENV_VAR_NOTES, SAVEDMODEL_FORMATS

MODEL_FORMATS = ("h5", "savedmodel", "keras", "export")
LAMBDA_VARIANTS = ("lambda", "compiled", "canary", "canarymodule")


class Context:
    """What the consumer environment is, worked out once per worker."""

    def __init__(self):
        self.keras = kerasapi.keras()
        self.api = kerasapi.api_name()
        self.version = kerasapi.version()
        parts = self.version.split(".")
        self.keras_minor = (int(parts[0]), int(parts[1].split("-")[0]))
        self.keras3 = self.keras_minor[0] >= 3
        self.tf_version = kerasapi.tf_version()
        self.tf2 = bool(self.tf_version) and int(self.tf_version.split(".")[0]) >= 2
        # The catalog's environment variables for this environment (KERAS_BACKEND=jax...):
        # a recipe sets them itself, before Keras is imported.
        names = [n for n in os.environ.get("COMPAT_CATALOG_ENV_VARS", "").split(",") if n]
        self.env_vars = [(name, os.environ[name]) for name in names if name in os.environ]
        # TF 1 Keras runs graphs (and clear_session discards the default one); the rest is eager.
        self.eager = not self.tf_version or self.tf2
        self._architectures = {}
        self._scope = contextlib.ExitStack()

    def architecture(self, variant, size):
        """``facenet_arch.build(variant, size)``, built once per worker.

        Every later call restores the weights it was built with, so the model is what a
        fresh build gives: nothing an earlier attempt loaded into it remains (a by-name or
        partial load that skips a layer leaves that layer's first weights, as a fresh build
        would). It is built right after its first attempt cleared the session, so its
        automatic layer names (``lambda_1``...) are a fresh build's too. Under graph-mode
        Keras it lives in a graph and session of its own, which stay the defaults until
        ``end_attempt``: clearing the session resets only the global graph.
        """
        key = (variant, size)
        if key not in self._architectures:
            self._architectures[key] = self._build(variant, size)
        model, weights, scope = self._architectures[key]
        for manager in scope():
            self._scope.enter_context(manager)
        model.set_weights(weights)
        return model

    def _build(self, variant, size):
        if self.eager:
            model = facenet_arch.build(variant, size)
            return model, [np.array(w, copy=True) for w in model.get_weights()], lambda: ()
        import tensorflow as tf

        graph = tf.Graph()
        session = tf.Session(graph=graph, config=tf.ConfigProto(allow_soft_placement=True))
        with graph.as_default(), session.as_default():
            model = facenet_arch.build(variant, size)
            weights = [np.array(w, copy=True) for w in model.get_weights()]
            # Its predict function is made now, while Keras still knows this graph's
            # learning phase (clear_session forgets every graph's).
            model.predict_on_batch(np.zeros((1,) + facenet_arch.INPUT_SHAPE, dtype="float32"))
        return model, weights, lambda: (graph.as_default(), session.as_default())

    def end_attempt(self):
        """Leave the graph and session an attempt's kept architecture made the defaults."""
        self._scope.close()
        self._scope = contextlib.ExitStack()

    @property
    def module_line(self):
        """How a user of this environment imports Keras."""
        return {"tf.keras": "from tensorflow import keras", "tf_keras": "import tf_keras as keras"}.get(
            self.api, "import keras"
        )


def _path(root, fixture, key="path"):
    return os.path.join(root, fixture[key])


def is_facenet(fixture):
    """Does the file hold FaceNet's layers? Every fixture of the matrix does; a user's file says."""
    return fixture.get("facenet", True)


def keras_call(ctx, model):
    """``call(batch) -> [(name, array)]`` on a loaded Keras model, which ``call.model`` keeps."""

    def call(batch):
        return anymodel.call_keras(ctx, model, batch)

    call.model = model
    return call


def embeddings(ctx, model, images):
    """The one output of a FaceNet model on an image batch, by the call every attempt makes."""
    return keras_call(ctx, model)({"images": images})[0][1]


def _objects(fixture):
    """What the custom_objects strategies hand over; a canary file names its function canary_scaling."""
    objects = facenet_arch.custom_objects()
    if fixture["variant"] == "canary":
        objects["canary_scaling"] = facenet_arch.scaling
    return objects


# -- recipes: whole programs -------------------------------------------------------------
ARCH_IMPORT = (
    "import facenet_arch  # the architecture file: `compat architecture -o .` writes it, "
    "or download it from reports/matrix.html"
)
ARCH_PATH = "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # facenet_arch.py sits beside this script"
FACENET_INPUT = (
    "INPUT.npy: float32, shape (N, 160, 160, 3): RGB face crops (values 0-255), each prewhitened\n"
    "    (facenet_arch.prewhiten_batch: minus the image's mean, over its standard deviation).\n"
    f"    The reference embeddings were computed on {facenet.REFERENCE_COUNT} seeded images prewhitened this way."
)
FACENET_OUTPUT = "OUTPUT.npy: the embeddings, float32 (N, 128)."


def _stored_code_note(strategy, fixture):
    """The comment a recipe carries when loading runs code the file holds, else None."""
    if not strategy.runs_stored_code:
        return None
    if fixture["variant"] == "canarymodule":
        return (
            "# Can run code the file points at: its Lambda names its function by module, and a\n"
            "# loader that imports that module runs it. Load only files you trust."
        )
    if fixture["variant"] not in LAMBDA_VARIANTS:
        return None
    saved_by = str(fixture.get("saved_by_keras") or "")
    if saved_by[:1].isdigit() and int(saved_by.split(".")[0]) >= 3:
        return None  # Keras 3 stores a Lambda's function by name, handed over in custom_objects
    verb = "Can run" if fixture["format"] == "savedmodel" else "Runs"
    return (
        f"# {verb} code stored in the file: Keras rebuilds its Lambda layers from the Python\n"
        "# bytecode saved in it. Load only files you trust."
    )


def _size_comment(size):
    if size == "full":
        return '# the real 22.8M-parameter FaceNet; size="tiny" is the small test model'
    return '# size="full" for the real 22.8M-parameter facenet_keras.h5; these test files are "tiny"'


def program(ctx, fixture, strategy, body, imports=(), arch=False, paths=None):
    """A whole script for ``python recipe.py INPUT.npy OUTPUT.npy``.

    ``body`` computes the output from ``images`` and names it ``{out}``; ``paths`` are the
    ``(NAME, file)`` constants it reads (``MODEL_PATH`` first: the one line a user edits).
    """
    out = fixture.get("outputs") or "embeddings"
    lines = [
        f'"""Loading strategy {strategy.name}: {strategy.summary}.',
        "",
        "Usage: python %s INPUT.npy OUTPUT.npy" % (fixture.get("script") or "recipe.py"),
    ]
    lines += (fixture.get("input_note") or FACENET_INPUT).splitlines()
    lines += [fixture.get("output_note") or FACENET_OUTPUT.replace("embeddings", out, 1), '"""', "import os"]
    for name, value in ctx.env_vars:
        lines.append(
            "os.environ[{}] = {}  # {}".format(
                _quote(name), _quote(value), ENV_VAR_NOTES.get(name, "as this environment sets it")
            )
        )
    lines += ["import sys", "", "import numpy as np"]
    lines += list(imports)
    if arch:
        lines += ["", ARCH_PATH, ARCH_IMPORT]
    lines.append("")
    for name, value in paths or [("MODEL_PATH", fixture["path"])]:
        lines.append(f"{name} = {_quote(value)}")
    lines += ["", "images = np.load(sys.argv[1])"]
    note = _stored_code_note(strategy, fixture)
    if note:
        lines += note.splitlines()
    lines += [line.format(out=out) for line in body]
    lines.append(f"np.save(sys.argv[2], np.asarray({out}))")
    return "\n".join(lines)


def _quote(text):
    return '"{}"'.format(str(text).replace("\\", "\\\\").replace('"', '\\"'))


def _custom_objects_lines(ctx, fixture, module="keras"):
    """Imports and the lines that make ``custom_objects`` (what ``_objects`` hands over)."""
    lines = [
        f"facenet_arch.use({module})  # the custom classes subclass this Keras's Layer",
        "custom_objects = facenet_arch.custom_objects()  # ScaleLayer, L2Normalize, scaling, triplet_loss",
    ]
    if fixture["variant"] == "canary":
        lines.append('custom_objects["canary_scaling"] = facenet_arch.scaling  # the name this test file gives it')
    return lines


def _handed_over(fixture):
    """What a load that hands code over gives a FaceNet file; nothing for any other."""
    return _objects(fixture) if is_facenet(fixture) else None


class Strategy:
    name = ""
    summary = ""
    any_summary = ""  # the summary a recipe for a file that is not FaceNet carries, when it differs
    formats = MODEL_FORMATS
    kind = "model"  # "model": Keras deserialises the file; "weights": only the numbers are read
    tier = "flag"  # how the report colours a cell this strategy makes work: as_is | flag | weights
    load_line = ""
    any_load_line = ""  # the load line for a file that is not FaceNet, when it differs
    runs_stored_code = True  # Keras rebuilds code stored in the file (a Lambda) when this loads it
    any_paths = ()  # the (NAME, fixture key) constants a recipe reads besides MODEL_PATH
    # What the host's rules and pages need to know of a strategy, so none of them names one:
    reads_config = True  # Keras builds the model from the architecture the file stores
    hands_over = False  # the load is handed the model's own code (custom_objects)
    legacy_keras = False  # loads with tf_keras, the Keras 2 package, not this environment's Keras
    gives_model = True  # gives a Keras model that could be saved again
    label = ""  # the name a narrow cell of the page prints (default: the name)
    abbreviation = ""  # the terminal table's column head when full names do not fit

    def applies(self, ctx, fixture):
        if fixture["format"] not in self.formats:
            return "{} does not read {} files".format(self.name, fixture["format"])
        reason = self.environment_reason(ctx, fixture)
        if reason or is_facenet(fixture):
            return reason
        return self.file_reason(fixture)

    def environment_reason(self, ctx, fixture):
        """Why this environment cannot use the strategy on the file, or None."""
        return None

    def file_reason(self, fixture):
        """Why the strategy does not apply to a file that is not FaceNet, or None."""
        return None

    def open(self, ctx, root, fixture):
        """The loaded Keras model."""
        raise NotImplementedError

    def load(self, ctx, root, fixture):
        return keras_call(ctx, self.open(ctx, root, fixture))

    def render_recipe(self, ctx, fixture, spec=None):
        if is_facenet(fixture):
            return self.facenet_recipe(ctx, fixture)
        body, imports = self.any_body(ctx, spec)
        return anymodel.program(ctx, self, fixture, spec, body, imports, self.any_paths)

    def facenet_recipe(self, ctx, fixture):
        return program(
            ctx, fixture, self, [self.load_line, "{out} = model.predict(images, verbose=0)"], imports=[ctx.module_line]
        )

    def any_body(self, ctx, spec):
        """The load lines and the call on ``anymodel.FED`` for a file that is not FaceNet; the imports."""
        return [self.any_load_line or self.load_line, anymodel.PREDICT], [ctx.module_line]


def _hand_over_reason(fixture):
    custom = fixture.get("custom_classes") or []
    if custom:
        return (
            "the file names custom classes or functions ({}): hand their code over in custom_objects; "
            "compat does not have it".format(", ".join(custom[:5]))
        )
    return "the file names no custom classes or functions: there is nothing to hand over"


class LoadModel(Strategy):
    name = "load_model"
    abbreviation = "load"
    summary = "load_model(path) as it is"
    tier = "as_is"
    load_line = "model = keras.models.load_model(MODEL_PATH)"

    def open(self, ctx, root, fixture):
        return ctx.keras.models.load_model(_path(root, fixture))


class NoCompile(Strategy):
    name = "no_compile"
    abbreviation = "nocmp"
    summary = "load_model(path, compile=False)"
    load_line = "model = keras.models.load_model(MODEL_PATH, compile=False)"

    def open(self, ctx, root, fixture):
        return ctx.keras.models.load_model(_path(root, fixture), compile=False)


def _needs_scope(ctx, fixture):
    # Keras 3.0-3.2 ignore custom_objects when reading a legacy .h5; a scope still works.
    return ctx.keras3 and ctx.keras_minor < (3, 3) and fixture["format"] == "h5"


class CustomObjects(Strategy):
    name = "custom_objects"
    hands_over = True
    label = "custom_obj"
    abbreviation = "cust"
    summary = "load_model with the model's custom classes, loss and Lambda functions"
    any_summary = "load_model with the model's custom classes"

    def file_reason(self, fixture):
        return _hand_over_reason(fixture)

    def facenet_recipe(self, ctx, fixture):
        body = _custom_objects_lines(ctx, fixture)
        if _needs_scope(ctx, fixture):
            body += [
                "with keras.utils.custom_object_scope(custom_objects):  # Keras 3.0-3.2 need it for .h5",
                "    model = keras.models.load_model(MODEL_PATH, custom_objects=custom_objects)",
            ]
        else:
            body.append("model = keras.models.load_model(MODEL_PATH, custom_objects=custom_objects)")
        body.append("{out} = model.predict(images, verbose=0)")
        return program(ctx, fixture, self, body, imports=[ctx.module_line], arch=True)

    def open(self, ctx, root, fixture):
        objects = _objects(fixture)
        if _needs_scope(ctx, fixture):
            with ctx.keras.utils.custom_object_scope(objects):
                return ctx.keras.models.load_model(_path(root, fixture), custom_objects=objects)
        return ctx.keras.models.load_model(_path(root, fixture), custom_objects=objects)


class Unsafe(Strategy):
    name = "unsafe"
    hands_over = True
    abbreviation = "unsaf"
    summary = "load_model(..., custom_objects=..., safe_mode=False): allow code stored in the file"
    any_summary = "load_model(path, safe_mode=False): allow code stored in the file"
    any_load_line = "model = keras.models.load_model(MODEL_PATH, safe_mode=False)"

    def facenet_recipe(self, ctx, fixture):
        body = _custom_objects_lines(ctx, fixture) + [
            "# safe_mode=False: Keras may deserialise Lambda bytecode stored in the file (and run it)",
            "model = keras.models.load_model(MODEL_PATH, custom_objects=custom_objects, safe_mode=False)",
            "{out} = model.predict(images, verbose=0)",
        ]
        return program(ctx, fixture, self, body, imports=[ctx.module_line], arch=True)

    def environment_reason(self, ctx, fixture):
        if not ctx.keras3 and ctx.keras_minor < (2, 12):
            return f"Keras {ctx.version} has no safe_mode (it came with 2.12); Lambdas load without it"
        return None

    def file_reason(self, fixture):
        if not fixture.get("stored_code"):
            return "the file holds no stored code: safe_mode=False would load it exactly as load_model does"
        return None

    def open(self, ctx, root, fixture):
        return ctx.keras.models.load_model(_path(root, fixture), custom_objects=_handed_over(fixture), safe_mode=False)


class Translate(Strategy):
    name = "translate"
    label = "translate"
    abbreviation = "trans"
    summary = "translate the stored architecture into this Keras by named rules, then set the file's weights"
    any_summary = summary
    formats = ("h5", "json", "keras", "savedmodel", "h5_weights", "weights_h5")
    weights_formats = ("h5_weights", "weights_h5")
    hands_over = True  # a FaceNet file's custom classes; a user's file gets only the code the user gives
    runs_stored_code = False  # a Lambda's bytecode is never run: its function comes from the user
    any_paths = (("WEIGHTS_PATH", "weights"),)
    module_note = "translate.py sits beside this script (compat writes it with the script)"

    def applies(self, ctx, fixture):
        if fixture["format"] in self.weights_formats and not fixture.get("architecture"):
            return (
                "the file stores weights only: translate builds the model from your code "
                "(--architecture FILE.py:NAME) and reads the weights into it"
            )
        return Strategy.applies(self, ctx, fixture)

    def environment_reason(self, ctx, fixture):
        if fixture["format"] == "savedmodel":
            # The architecture is read without TensorFlow; the variables are a TF checkpoint.
            return None if ctx.tf_version else "no TensorFlow here: translate reads a SavedModel's variables with it"
        try:
            import h5py  # noqa: F401
        except ImportError:
            return "h5py is not installed: translate reads the weights with it"
        return None

    def _weights(self, root, fixture):
        return _path(root, fixture, "weights") if fixture["format"] == "json" else None

    @staticmethod
    def _functions(fixture):
        """``{layer: (path, name)}``: the functions a user gave for Lambda layers, as the worker sees them."""
        return {layer: tuple(given) for layer, given in (fixture.get("functions") or {}).items()}

    def open(self, ctx, root, fixture):
        from compat.inside import translate

        # The user's code: functions for Lambda layers by layer name (--function LAYER=FILE.py:NAME),
        # and the function or class returning the model (--architecture FILE.py:NAME).
        functions = {
            layer: translate.function_from(path, name) for layer, (path, name) in self._functions(fixture).items()
        }
        given = fixture.get("architecture")
        translation = translate.load_model(
            _path(root, fixture),
            ctx.keras,
            weights=self._weights(root, fixture),
            functions=functions,
            custom_objects=_handed_over(fixture),
            architecture=translate.function_from(given[0], given[1]) if given else None,
        )
        return translation.model

    def _lines(self, fixture, handed):
        weights = ", weights=WEIGHTS_PATH" if fixture["format"] == "json" else ""
        objects = ", custom_objects=custom_objects" if handed else ""
        given = self._functions(fixture)
        functions = ", functions=functions" if given else ""
        architecture = ", architecture=architecture" if fixture.get("architecture") else ""
        lines = [
            f"sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # {self.module_note}",
            "import translate",
        ]
        if given or architecture:
            lines.append("here = os.path.dirname(os.path.abspath(__file__))  # your code sits beside this script")
        if architecture:
            path, name = fixture["architecture"]
            beside = f"os.path.join(here, {_quote(os.path.basename(path))})"
            lines.append(f"architecture = translate.function_from({beside}, {_quote(name)})  # returns the model")
        if given:
            lines.append("functions = dict()  # your function for each Lambda layer, by layer name (or pattern)")
            for layer, (path, name) in sorted(given.items()):
                beside = f"os.path.join(here, {_quote(os.path.basename(path))})"
                lines.append(f"functions[{_quote(layer)}] = translate.function_from({beside}, {_quote(name)})")
        return lines + [
            f"translation = translate.load_model(MODEL_PATH, keras{weights}{objects}{functions}{architecture})",
            "for line in translation.report():  # each rule applied, with the public report it answers",
            "    print(line, file=sys.stderr)",
            "model = translation.model",
        ]

    def facenet_recipe(self, ctx, fixture):
        body = (
            _custom_objects_lines(ctx, fixture)
            + self._lines(fixture, True)
            + ["{out} = model.predict(images, verbose=0)"]
        )
        paths = [("MODEL_PATH", fixture["path"])]
        if fixture["format"] == "json":
            paths.append(("WEIGHTS_PATH", fixture["weights"]))
        return program(ctx, fixture, self, body, imports=[ctx.module_line], arch=True, paths=paths)

    def render_recipe(self, ctx, fixture, spec=None):
        if is_facenet(fixture):
            return self.facenet_recipe(ctx, fixture)
        body = self._lines(fixture, False) + [anymodel.PREDICT]
        paths = self.any_paths if fixture["format"] == "json" else ()
        return anymodel.program(ctx, self, fixture, spec, body, [ctx.module_line], paths)


class TfKeras(Strategy):
    name = "tf_keras"
    hands_over = True
    legacy_keras = True
    abbreviation = "tfk"
    summary = "the legacy Keras 2 package (tf_keras) beside TF >= 2.16"
    any_load_line = "model = tf_keras.models.load_model(MODEL_PATH)"

    def facenet_recipe(self, ctx, fixture):
        body = _custom_objects_lines(ctx, fixture, "tf_keras") + [
            "model = tf_keras.models.load_model(MODEL_PATH, custom_objects=custom_objects)",
            "{out} = model.predict(images, verbose=0)",
        ]
        return program(ctx, fixture, self, body, imports=["import tf_keras"], arch=True)

    def any_body(self, ctx, spec):
        return [self.any_load_line, anymodel.PREDICT], ["import tf_keras"]

    def environment_reason(self, ctx, fixture):
        if ctx.api == "tf_keras":
            return "this environment's Keras already is tf_keras (see the other strategies)"
        if not ctx.tf_version or tuple(int(p) for p in ctx.tf_version.split(".")[:2]) < (2, 16):
            return "tf_keras is the Keras 2 package for TF >= 2.16; here tf.keras is Keras 2 already"
        try:
            import tf_keras  # noqa: F401
        except ImportError:
            return "tf_keras is not installed in this environment"
        return None

    def open(self, ctx, root, fixture):
        import tf_keras

        # The custom classes must subclass tf_keras's Layer, not the environment's Keras 3 one.
        current = facenet_arch.keras()
        facenet_arch.use(tf_keras)
        try:
            objects = _handed_over(fixture)
        finally:
            facenet_arch.use(current)
        return tf_keras.models.load_model(_path(root, fixture), custom_objects=objects)


class SavedModelInference(Strategy):
    name = "savedmodel_inference"
    reads_config = False  # it serves the traced signature
    gives_model = False
    label = "sm_infer"
    abbreviation = "smodl"
    summary = "serve the SavedModel's signature: TFSMLayer in Keras 3, tf.saved_model.load elsewhere"
    formats = SAVEDMODEL_FORMATS
    runs_stored_code = False  # a signature runs the traced graph, never Python stored in the file
    keras3_body = (
        'layer = keras.layers.TFSMLayer(MODEL_PATH, call_endpoint="serving_default")',
        "outputs = layer(images)  # a dict when the signature names its outputs",
        "{out} = list(outputs.values())[0] if isinstance(outputs, dict) else outputs",
    )
    tf2_body = (
        'loaded = tf.saved_model.load(MODEL_PATH, tags=["serve"])  # keep it: the signature only borrows its variables',
        'serve = loaded.signatures["serving_default"]',
        "name = list(serve.structured_input_signature[1].keys())[0]  # the signature's input",
        "outputs = serve(**{{name: tf.constant(images)}})",
        "{out} = list(outputs.values())[0]",
    )
    tf1_body = (
        "session = tf.Session(graph=tf.Graph())",
        "with session.graph.as_default():",
        '    meta = tf.saved_model.loader.load(session, ["serve"], MODEL_PATH)',
        'signature = meta.signature_def["serving_default"]',
        "feed = list(signature.inputs.values())[0].name",
        "fetch = list(signature.outputs.values())[0].name",
        "{out} = session.run(fetch, {{feed: images}})",
    )

    def environment_reason(self, ctx, fixture):
        if not ctx.tf_version:
            return "reading a SavedModel needs TensorFlow, which this environment does not have"
        return None

    def facenet_recipe(self, ctx, fixture):
        if ctx.keras3:
            return program(ctx, fixture, self, self.keras3_body, imports=["import keras"])
        body = self.tf2_body if ctx.tf2 else self.tf1_body
        return program(ctx, fixture, self, body, imports=["import tensorflow as tf"])

    def any_body(self, ctx, spec):
        return anymodel.signature_body(ctx, spec)

    def load(self, ctx, root, fixture):
        # The caller keeps what the signature borrows its variables from (the loaded object,
        # the layer or the session) for as long as it runs.
        call, keep = anymodel.signature_caller(ctx, _path(root, fixture))
        call.model, call.keep = None, keep
        return call


class SignatureByName(SavedModelInference):
    """Keras 3's TFSMLayer calls a SavedModel's serving signature with positional arguments, which
    a signature of several named inputs refuses (keras-team/keras#20813); the fix users are given
    is TensorFlow's own call of the signature, each input by its name. Where savedmodel_inference
    already makes that call (TensorFlow without Keras 3) this would measure the same thing again."""

    name = "savedmodel_signature"
    label = "sm_sig"
    abbreviation = "smsig"
    summary = "call the SavedModel's serving signature with each input by name (tf.saved_model.load)"

    def environment_reason(self, ctx, fixture):
        reason = SavedModelInference.environment_reason(self, ctx, fixture)
        if reason or not ctx.keras3:
            return reason or "savedmodel_inference already calls the signature with its inputs by name here"
        return None

    @staticmethod
    def _tensorflow_call(ctx):
        """This environment as the signature call sees it: TensorFlow's own, not Keras 3's TFSMLayer."""
        import copy

        plain = copy.copy(ctx)
        plain.keras3 = False
        return plain

    def facenet_recipe(self, ctx, fixture):
        return program(ctx, fixture, self, self.tf2_body, imports=["import tensorflow as tf"])

    def any_body(self, ctx, spec):
        return anymodel.signature_body(self._tensorflow_call(ctx), spec)

    def load(self, ctx, root, fixture):
        call, keep = anymodel.signature_caller(self._tensorflow_call(ctx), _path(root, fixture))
        call.model, call.keep = None, keep
        return call


class JsonPlain(Strategy):
    name = "json_plain"
    abbreviation = "json"
    summary = "model_from_json(architecture) + load_weights(weights), nothing handed over"
    any_summary = "model_from_json(architecture) + load_weights(weights)"
    formats = ("json",)
    tier = "as_is"
    hands_over = False
    any_paths = (("WEIGHTS_PATH", "weights"),)

    def facenet_recipe(self, ctx, fixture):
        body = _custom_objects_lines(ctx, fixture) if self.hands_over else []
        handed = ", custom_objects=custom_objects" if self.hands_over else ""
        body += [
            "with open(MODEL_PATH) as f:",
            f"    model = keras.models.model_from_json(f.read(){handed})",
            "model.load_weights(WEIGHTS_PATH)",
            "{out} = model.predict(images, verbose=0)",
        ]
        return program(
            ctx,
            fixture,
            self,
            body,
            imports=[ctx.module_line],
            arch=self.hands_over,
            paths=[("MODEL_PATH", fixture["path"]), ("WEIGHTS_PATH", fixture["weights"])],
        )

    def any_body(self, ctx, spec):
        lines = [
            "with open(MODEL_PATH) as f:",
            "    model = keras.models.model_from_json(f.read())",
            "model.load_weights(WEIGHTS_PATH)",
            anymodel.PREDICT,
        ]
        return lines, [ctx.module_line]

    def open(self, ctx, root, fixture):
        objects = _objects(fixture) if self.hands_over else None
        with open(_path(root, fixture)) as handle:
            model = ctx.keras.models.model_from_json(handle.read(), custom_objects=objects)
        model.load_weights(_path(root, fixture, "weights"))
        return model


class JsonWeights(JsonPlain):
    name = "json_weights"
    label = "json+objs"
    abbreviation = "jsonw"
    summary = "model_from_json(architecture, custom_objects=...) + load_weights(weights)"
    tier = "flag"
    hands_over = True

    def file_reason(self, fixture):
        return _hand_over_reason(fixture)


class JsonUnsafe(JsonWeights):
    """model_from_json with safe mode off: model_from_json takes no safe_mode argument (keras#18284,
    tf-keras#44), so the recipe turns it off around the call (Keras 2.13-2.15, tf_keras) or for the
    program (Keras 3); the worker scopes it to the one attempt."""

    name = "json_unsafe"
    label = "json+unsafe"
    abbreviation = "jsonu"
    summary = "model_from_json(architecture, custom_objects=...) with safe mode off + load_weights(weights)"
    any_summary = "model_from_json(architecture) with safe mode off + load_weights(weights)"

    def environment_reason(self, ctx, fixture):
        if not ctx.keras3 and ctx.keras_minor < (2, 13):
            return (
                f"Keras {ctx.version} has no safe mode for model_from_json (it came with 2.13): json_plain is the same"
            )
        return None

    def file_reason(self, fixture):
        if not fixture.get("stored_code"):
            return "the file holds no stored code: with safe mode off it loads exactly as json_plain does"
        return None

    @staticmethod
    def _scope_module(ctx):
        return (
            "tf_keras.src.saving.serialization_lib" if ctx.api == "tf_keras" else "keras.src.saving.serialization_lib"
        )

    def _lines(self, ctx, handed):
        read = [
            "with open(MODEL_PATH) as f:",
            f"    model = keras.models.model_from_json(f.read(){handed})",
        ]
        if ctx.keras3:
            unsafe = [
                "# model_from_json takes no safe_mode: Keras may deserialise Lambda bytecode in the file (and run it)",
                "keras.config.enable_unsafe_deserialization()",
            ]
            return unsafe + read, []
        scoped = ["with SafeModeScope(False):  # model_from_json takes no safe_mode; Keras may run Lambda bytecode"]
        scoped += ["    " + line for line in read]
        return scoped, [f"from {self._scope_module(ctx)} import SafeModeScope"]

    def facenet_recipe(self, ctx, fixture):
        lines, imports = self._lines(ctx, ", custom_objects=custom_objects")
        body = _custom_objects_lines(ctx, fixture) + lines
        body += ["model.load_weights(WEIGHTS_PATH)", "{out} = model.predict(images, verbose=0)"]
        return program(
            ctx,
            fixture,
            self,
            body,
            imports=[ctx.module_line] + imports,
            arch=True,
            paths=[("MODEL_PATH", fixture["path"]), ("WEIGHTS_PATH", fixture["weights"])],
        )

    def any_body(self, ctx, spec):
        lines, imports = self._lines(ctx, "")
        return lines + ["model.load_weights(WEIGHTS_PATH)", anymodel.PREDICT], [ctx.module_line] + imports

    def open(self, ctx, root, fixture):
        import importlib

        scope = importlib.import_module(self._scope_module(ctx)).SafeModeScope
        with scope(False), open(_path(root, fixture)) as handle:
            model = ctx.keras.models.model_from_json(handle.read(), custom_objects=_handed_over(fixture))
        model.load_weights(_path(root, fixture, "weights"))
        return model


def _weights_file(fixture):
    return "weights" if fixture["format"] == "json" else "path"


def _build_variant(fixture):
    # A compiled model's architecture is the lambda one; the canary's is too.
    return {"compiled": "lambda", "canary": "lambda", "canarymodule": "lambda"}.get(
        fixture["variant"], fixture["variant"]
    )


def _rebuild_lines(fixture):
    size = fixture.get("size", "tiny")
    return [
        "facenet_arch.use(keras)",
        f"model = facenet_arch.build({_quote(_build_variant(fixture))}, size={_quote(size)})  {_size_comment(size)}",
    ]


class WeightsStrategy(Strategy):
    """Rebuild FaceNet's architecture in code and give it the file's numbers."""

    formats = ("h5", "h5_weights", "json", "keras", "weights_h5")
    kind = "weights"
    tier = "weights"
    runs_stored_code = False
    reads_config = False  # only the numbers are read

    def file_reason(self, fixture):
        return (
            "the file's layer names are not FaceNet's (no Conv2d_1a_3x3, Mixed_6a, Mixed_7a, Bottleneck), "
            "so rebuilding FaceNet to take its weights does not apply"
        )


class RebuildWeights(WeightsStrategy):
    name = "rebuild_weights"
    label = "rebuild"
    abbreviation = "rbld"
    summary = "rebuild the architecture in code, then load_weights(file) by topology"
    by_name = False

    def facenet_recipe(self, ctx, fixture):
        load = "model.load_weights(MODEL_PATH, by_name=True)" if self.by_name else "model.load_weights(MODEL_PATH)"
        body = _rebuild_lines(fixture) + [load, "{out} = model.predict(images, verbose=0)"]
        return program(
            ctx,
            fixture,
            self,
            body,
            imports=[ctx.module_line],
            arch=True,
            paths=[("MODEL_PATH", fixture[_weights_file(fixture)])],
        )

    def environment_reason(self, ctx, fixture):
        if self.by_name and fixture[_weights_file(fixture)].endswith((".keras", ".weights.h5")):
            return "by_name loading exists only for legacy HDF5 weights"
        if not ctx.keras3 and fixture["format"] == "keras" and ctx.keras_minor < (2, 13):
            return f"Keras {ctx.version} cannot read a .keras zip"
        return None

    def open(self, ctx, root, fixture):
        model = ctx.architecture(_build_variant(fixture), fixture.get("size", "tiny"))
        path = _path(root, fixture, _weights_file(fixture))
        if self.by_name:
            model.load_weights(path, by_name=True)
        else:
            model.load_weights(path)
        return model


class RebuildWeightsByName(RebuildWeights):
    name = "rebuild_by_name"
    label = "by_name"
    abbreviation = "rbnam"
    summary = "rebuild the architecture in code, then load_weights(file, by_name=True)"
    formats = ("h5", "h5_weights", "json")
    by_name = True


class H5Transplant(WeightsStrategy):
    name = "h5_transplant"
    label = "transplant"
    abbreviation = "h5tr"
    summary = "read the weights from the HDF5 data with h5py, by layer name, and set_weights"

    def facenet_recipe(self, ctx, fixture):
        body = _rebuild_lines(fixture) + [
            "facenet_arch.set_weights_from_file(model, MODEL_PATH)  # h5py, layer by layer",
            "{out} = model.predict(images, verbose=0)",
        ]
        return program(
            ctx,
            fixture,
            self,
            body,
            imports=[ctx.module_line],
            arch=True,
            paths=[("MODEL_PATH", fixture[_weights_file(fixture)])],
        )

    def environment_reason(self, ctx, fixture):
        try:
            import h5py  # noqa: F401
        except ImportError:
            return "h5py is not installed"
        return None

    def open(self, ctx, root, fixture):
        model = ctx.architecture(_build_variant(fixture), fixture.get("size", "tiny"))
        facenet_arch.set_weights_from_file(model, _path(root, fixture, _weights_file(fixture)))
        return model


class Tf1GraphSession(Strategy):
    """FaceNet's own files, a frozen GraphDef (``.pb``) or a ``tf.train.Saver`` checkpoint
    (``.meta`` + ``.index``/``.data``), run in a ``tf.Graph`` and session of their own: TF 1's
    API, through ``tf.compat.v1`` on TF 2 (whose ``tf.GraphDef`` is gone, tensorflow#29384).
    The images are fed to the input tensor and the embeddings fetched by the names the
    fixture's manifest gives; FaceNet's own graphs also take ``phase_train``, fed False
    (inference) where the graph has it."""

    name = "tf1_graph"
    label = "tf1_graph"
    abbreviation = "tf1g"
    summary = (
        "run the TF 1 frozen graph or checkpoint in a tf.Graph and session (tf.compat.v1 on TF 2): "
        "feed input:0, fetch embeddings:0"
    )
    formats = ("frozen_pb", "tf1_checkpoint")
    tier = "flag"
    reads_config = False  # no Keras architecture: TensorFlow runs the stored graph
    hands_over = False
    legacy_keras = False
    gives_model = False
    runs_stored_code = False  # a GraphDef holds TF ops, never Python
    phase_train = "phase_train"

    def environment_reason(self, ctx, fixture):
        if not ctx.tf_version:
            return "a TF 1 graph or checkpoint is run by TensorFlow, which this environment does not have"
        return None

    def file_reason(self, fixture):
        return "tf1_graph feeds and fetches FaceNet's tensors (input:0, embeddings:0); a user's graph names its own"

    @staticmethod
    def _api(ctx):
        """Where TF 1's graph API lives here, as the recipe spells it."""
        return "tf.compat.v1" if ctx.tf2 else "tf"

    def _read_lines(self, ctx, fixture):
        api = self._api(ctx)
        if fixture["format"] == "frozen_pb":
            return [
                "graph = tf.Graph()",
                "with graph.as_default():",
                f"    graph_def = {api}.GraphDef()",
                '    with open(MODEL_PATH, "rb") as f:',
                "        graph_def.ParseFromString(f.read())",
                f'    {api}.import_graph_def(graph_def, name="")',
                f"session = {api}.Session(graph=graph)",
            ]
        scope = "with graph.as_default():"
        if ctx.tf2:
            scope += "  # restore too: outside the graph, TF 2 restores eagerly and finds no variables"
        return [
            "graph = tf.Graph()",
            scope,
            f"    saver = {api}.train.import_meta_graph(MODEL_PATH, clear_devices=True)",
            f"    session = {api}.Session(graph=graph)",
            "    saver.restore(session, WEIGHTS_PATH)  # the checkpoint's prefix, without .index / .data-*",
        ]

    def facenet_recipe(self, ctx, fixture):
        tensors = fixture["tensors"]
        body = self._read_lines(ctx, fixture) + [
            f"feed = {{{{{_quote(tensors['input'])}: images}}}}",
            f"if {_quote(self.phase_train)} in [op.name for op in graph.get_operations()]:",
            f"    feed[{_quote(self.phase_train + ':0')}] = False  # FaceNet's own graphs take it: False is inference",
            f"{{out}} = session.run({_quote(tensors['output'])}, feed)",
        ]
        paths = [("MODEL_PATH", fixture["path"])]
        if fixture["format"] == "tf1_checkpoint":
            paths.append(("WEIGHTS_PATH", fixture["checkpoint"]))
        return program(ctx, fixture, self, body, imports=["import tensorflow as tf"], paths=paths)

    def load(self, ctx, root, fixture):
        import tensorflow as tf

        api = tf.compat.v1 if ctx.tf2 else tf
        graph = tf.Graph()
        with graph.as_default():
            if fixture["format"] == "frozen_pb":
                graph_def = api.GraphDef()
                with open(_path(root, fixture), "rb") as handle:
                    graph_def.ParseFromString(handle.read())
                api.import_graph_def(graph_def, name="")
                session = api.Session(graph=graph)
            else:
                saver = api.train.import_meta_graph(_path(root, fixture), clear_devices=True)
                session = api.Session(graph=graph)
                saver.restore(session, _path(root, fixture, "checkpoint"))
        tensors = fixture["tensors"]
        phase = self.phase_train in [op.name for op in graph.get_operations()]

        def call(batch):
            feed = {tensors["input"]: next(iter(batch.values()))}
            if phase:
                feed[self.phase_train + ":0"] = False
            return [(tensors["output"].split(":")[0], np.asarray(session.run(tensors["output"], feed)))]

        # The session holds the graph and its values for as long as the call runs.
        call.model, call.keep = None, session
        return call


STRATEGIES = (
    LoadModel(),
    NoCompile(),
    CustomObjects(),
    Unsafe(),
    Translate(),
    TfKeras(),
    SavedModelInference(),
    SignatureByName(),
    JsonPlain(),
    JsonWeights(),
    JsonUnsafe(),
    RebuildWeights(),
    RebuildWeightsByName(),
    H5Transplant(),
    Tf1GraphSession(),
)
BY_NAME = {s.name: s for s in STRATEGIES}


def describe():
    """Name, summary and kind of every strategy, for the host and the report."""
    return [
        {"name": s.name, "summary": s.summary, "kind": s.kind, "tier": s.tier, "formats": list(s.formats)}
        for s in STRATEGIES
    ]
