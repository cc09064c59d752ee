"""Inside a consumer environment: load a model with one strategy and save it in this Keras's own format.

Run once per conversion: ``python -m compat.inside.convert REQUEST.json``. The request
names the file (``root`` + ``fixture``, as a worker attempt does), the ``strategy``, where
to write (``out``) and the Keras 2 format (``h5`` or ``savedmodel``). The last line on
stdout is the result as JSON.

A Lambda layer keeps its function as Python bytecode, which a safe load refuses (and
which only the Python that wrote it can read). A FaceNet whose Lambdas only scale is
carried over to the architecture file's ``ScaleLayer`` with the same weights; any other
model with Lambda layers cannot be made safe here, and the result says so.
"""

import json
import os
import sys
import traceback

from compat.inside import facenet_arch, strategies


def lambda_layers(model):
    return [layer.name for layer in model.layers if type(layer).__name__ == "Lambda"]


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


def proof_program(ctx, fixture, out_name, script, uses_arch, facenet, spec):
    """The script whose load line the host shows and runs in a fresh process."""
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
    model = strategy.load(ctx, request["root"], fixture).model
    if model is None:
        raise ValueError(f"{strategy.name} gives no Keras model to save")
    lambdas = lambda_layers(model)
    carried = False
    if lambdas:
        if not fixture.get("facenet"):
            raise ValueError(
                "the model has {} Lambda layers ({}): their code would be saved again, and "
                "only FaceNet's are known well enough to carry over".format(len(lambdas), ", ".join(lambdas[:3]))
            )
        model, carried = carry_over(model, fixture), True
    model = uncompiled(ctx, model)
    out = request["out"]
    if not os.path.isdir(os.path.dirname(out)):
        os.makedirs(os.path.dirname(out))
    save(ctx, model, out, request.get("format") or "h5")
    uses_arch = carried or any(type(layer).__name__ in ("ScaleLayer", "L2Normalize") for layer in model.layers)
    return {
        "status": "ok",
        "strategy": strategy.name,
        "lambda_layers": len(lambdas),
        "carried_over": carried,
        "uses_architecture": uses_arch,
        "module_line": ctx.module_line,
        "program": proof_program(
            ctx,
            fixture,
            os.path.basename(out),
            request.get("script"),
            uses_arch,
            fixture.get("facenet"),
            request.get("spec"),
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
