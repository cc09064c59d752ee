"""Inside a consumer environment: load a model with one strategy and save it in this Keras's own format.

Run once per conversion: ``python -m compat.inside.convert REQUEST.json``. The request
names the file (``root`` + ``fixture``, as a worker attempt does), the ``strategy``, where
to write (``out``) and the Keras 2 format (``h5`` or ``savedmodel``). The last line on
stdout is the result as JSON.

A Lambda layer keeps its function as Python bytecode, which a safe load refuses (and
which only the Python that wrote it can read). A FaceNet whose Lambdas only scale is
carried over to the architecture file's ``ScaleLayer`` with the same weights. Keras 3
saves a named function by its name: a Lambda whose function is the user's
(``--function LAYER=FILE.py:NAME``) is saved so, its output shape as the shape it has
in the model, and the proof load hands the user's function over in ``custom_objects``.
Any other Lambda would be saved as bytecode (Keras 2 saves every Lambda so), and the
result says so; a saved ``.keras`` whose config still holds bytecode or names this
project's code is refused too.
"""

import fnmatch
import json
import os
import sys
import traceback
import zipfile

from compat.inside import anymodel, facenet_arch, strategies


def lambda_layers(model):
    return [layer.name for layer in model.layers if type(layer).__name__ == "Lambda"]


class NeedsBytecode(ValueError):
    """A Lambda that would be saved as Python bytecode, which a safe load refuses."""


def given_function(layer_name, fixture):
    """``(path, NAME)`` of the user's function for this Lambda (``--function``), as translate picks it."""
    given = fixture.get("functions") or {}
    for pattern in given:
        if fnmatch.fnmatchcase(layer_name, pattern):
            return tuple(given[pattern])
    return None


def _static_shape(layer):
    """The layer's output shape without the batch dimension, as Keras 3's Lambda takes it."""
    output = layer.output
    if isinstance(output, (list, tuple)):
        return [tuple(t.shape[1:]) for t in output]
    return tuple(output.shape[1:])


def named_lambdas(ctx, model, fixture):
    """Make each Lambda of a Keras 3 model save its function by name: the user's function
    stays (Keras 3 stores its name), a shape function becomes the layer's own output shape.
    ``[{"layer", "file", "name", "stored_as"}]``; NeedsBytecode when that cannot be done."""
    if not ctx.keras3:
        raise NeedsBytecode(
            "the model has {} Lambda layers ({}): Keras {} saves a Lambda's function as Python "
            "bytecode, which a safe load refuses: nothing written".format(
                len(lambda_layers(model)), ", ".join(lambda_layers(model)[:3]), ctx.version
            )
        )
    found, names = [], {}
    for layer in model.layers:
        if type(layer).__name__ != "Lambda":
            continue
        given = given_function(layer.name, fixture)
        function = layer.function
        code = getattr(function, "__code__", None)
        if given is None or code is None or os.path.abspath(code.co_filename) != os.path.abspath(given[0]):
            raise NeedsBytecode(
                f"Lambda layer {layer.name!r} holds a function that is not yours "
                f"(--function {layer.name}=FILE.py:NAME): saved, it would be Python bytecode, "
                "which a safe load refuses: nothing written"
            )
        if function.__name__ == "<lambda>":
            raise NeedsBytecode(
                f"Lambda layer {layer.name!r}: your {given[1]} in {os.path.basename(given[0])} is a lambda "
                "expression, which Keras 3 saves as Python "
                "bytecode (a safe load refuses it); define it with def: nothing written"
            )
        if callable(getattr(layer, "mask", None)):
            raise NeedsBytecode(
                f"Lambda layer {layer.name!r} computes its mask with a function, which would be saved as Python "
                "bytecode: nothing written"
            )
        if callable(layer._output_shape):
            try:
                layer._output_shape = _static_shape(layer)
            except (AttributeError, ValueError) as exc:
                raise NeedsBytecode(
                    f"Lambda layer {layer.name!r}: its output shape is a function and the layer has no one "
                    f"output shape to save instead ({exc}): nothing written"
                ) from exc
        other = names.setdefault(function.__name__, (given[0], given[1]))
        if other != (given[0], given[1]):
            raise NeedsBytecode(
                f"two Lambda functions are both named {function.__name__!r} ({os.path.basename(other[0])} "
                f"and {os.path.basename(given[0])}): Keras 3 saves them by name, "
                "so a load could not tell them apart"
            )
        found.append(
            {
                "layer": layer.name,
                "file": os.path.basename(given[0]),
                "name": given[1],
                "stored_as": function.__name__,
            }
        )
    return found


def _walk(value):
    if isinstance(value, dict):
        yield value
        for item in value.values():
            for found in _walk(item):
                yield found
    elif isinstance(value, list):
        for item in value:
            for found in _walk(item):
                yield found


def saved_config_problem(out):
    """Why the saved ``.keras`` would need more than a safe load and the user's functions, else None."""
    with zipfile.ZipFile(out) as archive:
        config = json.loads(archive.read("config.json").decode("utf-8"))
    for node in _walk(config):
        if node.get("class_name") == "__lambda__":
            return "the saved config holds a function as Python bytecode, which a safe load refuses"
        module = node.get("module")
        own = isinstance(module, str) and module.split(".")[0] in ("compat", "translate")
        if own and not module.endswith("facenet_arch"):
            return "the saved config names {}.{} of compat's own code".format(module, node.get("class_name"))
    return None


def carry_over(model, fixture):
    """The same FaceNet with ``ScaleLayer`` for each ``Lambda``, holding the loaded weights."""
    variant = {"compiled": "lambda", "canary": "lambda", "canarymodule": "lambda"}.get(
        fixture["variant"], fixture["variant"]
    )
    rebuilt = facenet_arch.build(variant, fixture.get("size", "full"), scale_layers=True)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def uncompiled(ctx, model):
    """The model without its training setup: a custom loss would make a plain load fail."""
    if getattr(model, "optimizer", None) is None:
        return model
    return ctx.keras.models.Model(model.inputs, model.outputs, name=model.name)


def save(ctx, model, out, fmt):
    if ctx.keras3:
        model.save(out)
    elif fmt == "savedmodel":
        if not ctx.tf2:
            raise ValueError(
                f"Keras {ctx.version} on TensorFlow {ctx.tf_version} writes no SavedModel from Keras; use --format h5"
            )
        model.save(out, save_format="tf")
    else:
        model.save(out)


def function_lines(functions):
    """The user's functions imported from beside the script and handed over by the names Keras stored."""
    lines = ["sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  " + USER_CODE]
    modules = sorted({os.path.splitext(f["file"])[0] for f in functions})
    for module in modules:
        if module.isidentifier():
            lines.append(f"import {module}  {USER_CODE}")
        else:
            lines.append(f"{_alias(module)} = importlib.import_module({module!r})  {USER_CODE}")
    pairs = sorted({(f["stored_as"], _alias(os.path.splitext(f["file"])[0]), f["name"]) for f in functions})
    lines.append(
        "custom_objects = {"
        + ", ".join(f"{stored!r}: {alias}.{name}" for stored, alias, name in pairs)
        + "}  # by the names the file stores"
    )
    return lines


USER_CODE = "# your code for the Lambda layers, beside this script"


def _alias(module):
    return module if module.isidentifier() else "user_" + "".join(c if c.isalnum() else "_" for c in module)


def proof_program(ctx, fixture, out_name, script, uses_arch, facenet, spec, functions=()):
    """The script whose load line the host shows and runs in a fresh process."""
    if not facenet and functions:
        target = dict(fixture, path=out_name, script=script or "load_converted.py", stored_code="", facenet=False)
        summary = strategies.LoadModel()
        summary.summary = "load_model(path, custom_objects=your functions) of the converted file"
        imports = [ctx.module_line]
        if any(not os.path.splitext(f["file"])[0].isidentifier() for f in functions):
            imports = ["import importlib", ctx.module_line]
        body = function_lines(functions) + [
            "model = keras.models.load_model(MODEL_PATH, custom_objects=custom_objects)  # default safe_mode",
            anymodel.PREDICT,
        ]
        return anymodel.program(ctx, summary, target, spec, body, imports)
    if not facenet:
        target = dict(fixture, path=out_name, script=script or "load_converted.py", stored_code="", facenet=False)
        return (
            strategies.BY_NAME["load_model"]
            .render_recipe(ctx, target, spec)
            .replace("load_model(path) as it is", "load_model(path) of the converted file", 1)
        )
    body = []
    if uses_arch:
        body += [
            "facenet_arch.use(keras)",
            "facenet_arch.register()  # ScaleLayer by name: the one thing the file needs from it",
        ]
    body += [
        "model = keras.models.load_model(MODEL_PATH)  # plain: default safe_mode, nothing handed over",
        "{out} = model.predict(images, verbose=0)",
    ]
    target = {"path": out_name, "variant": "converted", "format": "converted", "script": script or "load_converted.py"}
    summary = strategies.LoadModel()
    summary.summary = "load_model(path) of the converted file"
    return strategies.program(ctx, target, summary, body, imports=[ctx.module_line], arch=uses_arch)


def convert(request):
    ctx = strategies.Context()
    fixture = request["fixture"]
    strategy = strategies.BY_NAME[request["strategy"]]
    if getattr(strategy, "legacy_keras", False) and ctx.keras3:
        raise ValueError(
            f"{strategy.name} loads it with Keras 2, whose saved file Keras {ctx.version} cannot open: nothing written"
        )
    model = strategy.load(ctx, request["root"], fixture).model
    if model is None:
        raise ValueError(f"{strategy.name} gives no Keras model to save")
    lambdas = lambda_layers(model)
    carried = False
    functions = []
    if lambdas and fixture.get("facenet"):
        model, carried = carry_over(model, fixture), True
    elif lambdas:
        functions = named_lambdas(ctx, model, fixture)
    model = uncompiled(ctx, model)
    out = request["out"]
    if not os.path.isdir(os.path.dirname(out)):
        os.makedirs(os.path.dirname(out))
    save(ctx, model, out, request.get("format") or "h5")
    if ctx.keras3 and zipfile.is_zipfile(out):
        problem = saved_config_problem(out)
        if problem:
            os.remove(out)
            raise NeedsBytecode(problem + ": nothing written")
    uses_arch = carried or any(type(layer).__name__ in ("ScaleLayer", "L2Normalize") for layer in model.layers)
    return {
        "status": "ok",
        "strategy": strategy.name,
        "lambda_layers": len(lambdas),
        "carried_over": carried,
        "uses_architecture": uses_arch,
        "functions": functions,
        "module_line": ctx.module_line,
        "program": proof_program(
            ctx,
            fixture,
            os.path.basename(out),
            request.get("script"),
            uses_arch,
            fixture.get("facenet"),
            request.get("spec"),
            functions,
        ),
        "runtime": {
            "python": "{}.{}.{}".format(*sys.version_info[:3]),
            "keras": ctx.version,
            "tensorflow": ctx.tf_version,
        },
    }


def main():
    with open(sys.argv[1]) as handle:
        request = json.load(handle)
    try:
        result = convert(request)
    except Exception as exc:  # noqa: BLE001 - the host reports any failure in one line
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
