"""The loading strategies: the ways people really load a saved Keras model.

Each strategy is a small object with
- ``applies(ctx, fixture)``: ``None`` when it applies, else the reason it does not;
- ``load(ctx, fixture)``: does exactly what its ``recipe`` shows a user typing, and
  returns a function from an input batch to embeddings.

The registry order is the order of preference the report uses: plain loading first,
weights-level strategies last. Adding a technique is adding one class here.
"""
import os

import numpy as np

from compat.inside import facenet, kerasapi

MODEL_FORMATS = ("h5", "savedmodel", "keras", "export")
WEIGHTS_FORMATS = ("h5_weights", "weights_h5")
SAVEDMODEL_FORMATS = ("savedmodel", "export")


class Context(object):
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

    @property
    def module_line(self):
        """How a user of this environment imports Keras."""
        return {"tf.keras": "from tensorflow import keras",
                "tf_keras": "import tf_keras as keras"}.get(self.api, "import keras")


def _path(root, fixture, key="path"):
    return os.path.join(root, fixture[key])


def _predictor(ctx, model):
    def predict(batch):
        return np.asarray(model.predict(batch, verbose=0))
    return predict


class Strategy(object):
    name = ""
    summary = ""
    formats = MODEL_FORMATS
    kind = "model"  # "model": Keras deserialises the file; "weights": only the numbers are read
    tier = "flag"  # how the report colours a cell this strategy makes work: as_is | flag | weights
    recipe = ""

    def applies(self, ctx, fixture):
        if fixture["format"] not in self.formats:
            return "%s does not read %s files" % (self.name, fixture["format"])
        return None

    def load(self, ctx, root, fixture):
        raise NotImplementedError

    def render_recipe(self, ctx, fixture):
        return self.recipe.format(
            keras=ctx.module_line, path=fixture["path"], weights=fixture.get("weights") or "",
            variant=fixture["variant"], size=fixture.get("size", "tiny"),
        ).strip()


def _custom_objects_recipe():
    return ("from compat.inside.facenet import custom_objects  # ScaleLayer, L2Normalize, scaling, triplet_loss\n")


class LoadModel(Strategy):
    name = "load_model"
    summary = "load_model(path) as it is"
    tier = "as_is"
    recipe = "{keras}\nmodel = keras.models.load_model({path!r})\nembeddings = model.predict(images)"

    def load(self, ctx, root, fixture):
        return _predictor(ctx, ctx.keras.models.load_model(_path(root, fixture)))


class NoCompile(Strategy):
    name = "no_compile"
    summary = "load_model(path, compile=False)"
    recipe = "{keras}\nmodel = keras.models.load_model({path!r}, compile=False)\nembeddings = model.predict(images)"

    def load(self, ctx, root, fixture):
        return _predictor(ctx, ctx.keras.models.load_model(_path(root, fixture), compile=False))


def _needs_scope(ctx, fixture):
    # Keras 3.0-3.2 ignore custom_objects when reading a legacy .h5; a scope still works.
    return ctx.keras3 and ctx.keras_minor < (3, 3) and fixture["format"] == "h5"


class CustomObjects(Strategy):
    name = "custom_objects"
    summary = "load_model with the model's custom classes, loss and Lambda functions"
    recipe = (_custom_objects_recipe() +
              "{keras}\nmodel = keras.models.load_model({path!r}, custom_objects=custom_objects())\n"
              "embeddings = model.predict(images)")
    scoped_recipe = (_custom_objects_recipe() +
                     "{keras}\nwith keras.utils.custom_object_scope(custom_objects()):\n"
                     "    model = keras.models.load_model({path!r}, custom_objects=custom_objects())\n"
                     "embeddings = model.predict(images)")

    def render_recipe(self, ctx, fixture):
        if _needs_scope(ctx, fixture):
            return self.scoped_recipe.format(keras=ctx.module_line, path=fixture["path"]).strip()
        return Strategy.render_recipe(self, ctx, fixture)

    def load(self, ctx, root, fixture):
        objects = facenet.custom_objects()
        if _needs_scope(ctx, fixture):
            with ctx.keras.utils.custom_object_scope(objects):
                model = ctx.keras.models.load_model(_path(root, fixture), custom_objects=objects)
        else:
            model = ctx.keras.models.load_model(_path(root, fixture), custom_objects=objects)
        return _predictor(ctx, model)


class Unsafe(Strategy):
    name = "unsafe"
    summary = "load_model(..., custom_objects=..., safe_mode=False): allow code stored in the file"
    recipe = (_custom_objects_recipe() +
              "{keras}\nmodel = keras.models.load_model({path!r}, custom_objects=custom_objects(), safe_mode=False)\n"
              "embeddings = model.predict(images)")

    def applies(self, ctx, fixture):
        reason = Strategy.applies(self, ctx, fixture)
        if reason:
            return reason
        if not ctx.keras3 and ctx.keras_minor < (2, 12):
            return "Keras %s has no safe_mode (it came with 2.12); Lambdas load without it" % ctx.version
        return None

    def load(self, ctx, root, fixture):
        objects = facenet.custom_objects()
        model = ctx.keras.models.load_model(_path(root, fixture), custom_objects=objects, safe_mode=False)
        return _predictor(ctx, model)


class TfKeras(Strategy):
    name = "tf_keras"
    summary = "the legacy Keras 2 package (tf_keras) beside TF >= 2.16"
    recipe = (_custom_objects_recipe() +
              "import tf_keras\nmodel = tf_keras.models.load_model({path!r}, custom_objects=custom_objects())\n"
              "embeddings = model.predict(images)")

    def applies(self, ctx, fixture):
        reason = Strategy.applies(self, ctx, fixture)
        if reason:
            return reason
        if ctx.api == "tf_keras":
            return "this environment's Keras already is tf_keras (see the other strategies)"
        if not ctx.tf_version or tuple(int(p) for p in ctx.tf_version.split(".")[:2]) < (2, 16):
            return "tf_keras is the Keras 2 package for TF >= 2.16; here tf.keras is Keras 2 already"
        try:
            import tf_keras  # noqa: F401
        except ImportError:
            return "tf_keras is not installed in this environment"
        return None

    def load(self, ctx, root, fixture):
        import tf_keras
        model = tf_keras.models.load_model(_path(root, fixture), custom_objects=facenet.custom_objects())
        return _predictor(ctx, model)


class SavedModelInference(Strategy):
    name = "savedmodel_inference"
    summary = "serve the SavedModel's signature: TFSMLayer in Keras 3, tf.saved_model.load elsewhere"
    formats = SAVEDMODEL_FORMATS
    keras3_recipe = ("import keras\nlayer = keras.layers.TFSMLayer({path!r}, call_endpoint=\"serving_default\")\n"
                     "outputs = layer(images)  # a dict when the signature names its outputs\n"
                     "embeddings = list(outputs.values())[0] if isinstance(outputs, dict) else outputs")
    tf2_recipe = ("import tensorflow as tf\nserve = tf.saved_model.load({path!r}).signatures[\"serving_default\"]\n"
                  "outputs = serve(tf.constant(images))\nembeddings = list(outputs.values())[0].numpy()")
    tf1_recipe = ("import tensorflow as tf\nwith tf.Session(graph=tf.Graph()) as sess:\n"
                  "    meta = tf.saved_model.loader.load(sess, [\"serve\"], {path!r})\n"
                  "    signature = meta.signature_def[\"serving_default\"]\n"
                  "    feed = list(signature.inputs.values())[0].name\n"
                  "    fetch = list(signature.outputs.values())[0].name\n"
                  "    embeddings = sess.run(fetch, {{feed: images}})")

    def applies(self, ctx, fixture):
        reason = Strategy.applies(self, ctx, fixture)
        if reason:
            return reason
        if not ctx.tf_version:
            return "reading a SavedModel needs TensorFlow, which this environment does not have"
        return None

    def render_recipe(self, ctx, fixture):
        if ctx.keras3:
            template = self.keras3_recipe
        else:
            template = self.tf2_recipe if ctx.tf2 else self.tf1_recipe
        return template.format(path=fixture["path"]).strip()

    def load(self, ctx, root, fixture):
        path = _path(root, fixture)
        import tensorflow as tf
        if ctx.keras3:
            layer = ctx.keras.layers.TFSMLayer(path, call_endpoint="serving_default")

            def predict(batch):
                outputs = layer(batch)
                if isinstance(outputs, dict):
                    outputs = list(outputs.values())[0]
                return np.asarray(outputs)
            return predict
        if ctx.tf2:
            serve = tf.saved_model.load(path).signatures["serving_default"]
            names = list(serve.structured_input_signature[1].keys())

            def predict(batch):
                outputs = serve(**{names[0]: tf.constant(batch)})
                return np.asarray(list(outputs.values())[0])
            return predict
        graph = tf.Graph()
        session = tf.Session(graph=graph)
        with graph.as_default():
            meta = tf.saved_model.loader.load(session, ["serve"], path)
        signature = meta.signature_def["serving_default"]
        feed = list(signature.inputs.values())[0].name
        fetch = list(signature.outputs.values())[0].name

        def predict(batch):
            return np.asarray(session.run(fetch, {feed: batch}))
        return predict


class JsonPlain(Strategy):
    name = "json_plain"
    summary = "model_from_json(architecture) + load_weights(weights), nothing handed over"
    formats = ("json",)
    tier = "as_is"
    hands_over = False
    recipe = ("{keras}\nwith open({path!r}) as f:\n"
              "    model = keras.models.model_from_json(f.read())\n"
              "model.load_weights({weights!r})\nembeddings = model.predict(images)")

    def load(self, ctx, root, fixture):
        objects = facenet.custom_objects() if self.hands_over else None
        with open(_path(root, fixture)) as handle:
            model = ctx.keras.models.model_from_json(handle.read(), custom_objects=objects)
        model.load_weights(_path(root, fixture, "weights"))
        return _predictor(ctx, model)


class JsonWeights(JsonPlain):
    name = "json_weights"
    summary = "model_from_json(architecture, custom_objects=...) + load_weights(weights)"
    tier = "flag"
    hands_over = True
    recipe = (_custom_objects_recipe() + JsonPlain.recipe.replace(
        "f.read())", "f.read(), custom_objects=custom_objects())"))


def _weights_file(fixture):
    return "weights" if fixture["format"] == "json" else "path"


class RebuildWeights(Strategy):
    name = "rebuild_weights"
    summary = "rebuild the architecture in code, then load_weights(file) by topology"
    formats = ("h5", "h5_weights", "json", "keras", "weights_h5")
    kind = "weights"
    tier = "weights"
    by_name = False
    recipe = ("from compat.inside import facenet  # the architecture, rebuilt in code\n"
              "model = facenet.build({variant!r}, size={size!r})\n"
              "model.load_weights({file!r})\nembeddings = model.predict(images)")

    def render_recipe(self, ctx, fixture):
        recipe = self.recipe.format(variant=_build_variant(fixture), size=fixture.get("size", "tiny"),
                                    file=fixture[_weights_file(fixture)])
        if self.by_name:
            recipe = recipe.replace(".load_weights(%r)" % fixture[_weights_file(fixture)],
                                    ".load_weights(%r, by_name=True)" % fixture[_weights_file(fixture)])
        return recipe

    def applies(self, ctx, fixture):
        reason = Strategy.applies(self, ctx, fixture)
        if reason:
            return reason
        if self.by_name and fixture[_weights_file(fixture)].endswith((".keras", ".weights.h5")):
            return "by_name loading exists only for legacy HDF5 weights"
        if not ctx.keras3 and fixture["format"] == "keras" and ctx.keras_minor < (2, 13):
            return "Keras %s cannot read a .keras zip" % ctx.version
        return None

    def load(self, ctx, root, fixture):
        model = facenet.build(_build_variant(fixture), fixture.get("size", "tiny"))
        path = _path(root, fixture, _weights_file(fixture))
        if self.by_name:
            model.load_weights(path, by_name=True)
        else:
            model.load_weights(path)
        return _predictor(ctx, model)


class RebuildWeightsByName(RebuildWeights):
    name = "rebuild_by_name"
    summary = "rebuild the architecture in code, then load_weights(file, by_name=True)"
    formats = ("h5", "h5_weights", "json")
    by_name = True


def _build_variant(fixture):
    # A compiled model's architecture is the lambda one; the canary's is too.
    return {"compiled": "lambda", "canary": "lambda", "canarymodule": "lambda"}.get(
        fixture["variant"], fixture["variant"])


class H5Transplant(Strategy):
    name = "h5_transplant"
    summary = "read the weights from the HDF5 data with h5py, by layer name, and set_weights"
    formats = ("h5", "h5_weights", "json", "keras", "weights_h5")
    kind = "weights"
    tier = "weights"
    recipe = ("from compat.inside import facenet, transplant\n"
              "model = facenet.build({variant!r}, size={size!r})\n"
              "transplant.set_weights_from_file(model, {file!r})  # h5py, layer by layer, by name\n"
              "embeddings = model.predict(images)")

    def render_recipe(self, ctx, fixture):
        return self.recipe.format(variant=_build_variant(fixture), size=fixture.get("size", "tiny"),
                                  file=fixture[_weights_file(fixture)]).strip()

    def applies(self, ctx, fixture):
        reason = Strategy.applies(self, ctx, fixture)
        if reason:
            return reason
        try:
            import h5py  # noqa: F401
        except ImportError:
            return "h5py is not installed"
        return None

    def load(self, ctx, root, fixture):
        from compat.inside import transplant
        model = facenet.build(_build_variant(fixture), fixture.get("size", "tiny"))
        transplant.set_weights_from_file(model, _path(root, fixture, _weights_file(fixture)))
        return _predictor(ctx, model)


STRATEGIES = (
    LoadModel(), NoCompile(), CustomObjects(), Unsafe(), TfKeras(), SavedModelInference(),
    JsonPlain(), JsonWeights(), RebuildWeights(), RebuildWeightsByName(), H5Transplant(),
)
BY_NAME = dict((s.name, s) for s in STRATEGIES)


def describe():
    """Name, summary and kind of every strategy, for the host and the report."""
    return [{"name": s.name, "summary": s.summary, "kind": s.kind, "tier": s.tier,
             "formats": list(s.formats)}
            for s in STRATEGIES]
