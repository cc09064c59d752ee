"""``compat convert PATH --to ENV -o OUT``: the model in ENV's own format, proven by a plain load."""

from __future__ import annotations

import contextlib
import sys

from compat import catalog
from compat.cli import options
from compat.environments import adhoc, sandbox
from compat.errors import progress
from compat.userfiles import convert, hints, probe


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="save your model in an environment's own format, proven by a plain load",
        description="Load a model file in ENV with the first strategy that gives the reference there "
        "and a model of ENV's own Keras (never tf_keras for a Keras 3 ENV: its file is Keras 2's), "
        "save it in ENV's own format (.keras for Keras 3; .h5 or a SavedModel for Keras 2), "
        "then prove in a fresh ENV process that a plain load_model of the result "
        "(default safe_mode) reproduces the reference; a Keras 3 file is proven on JAX too "
        "(keras315jax). FaceNet Lambda layers holding bytecode are carried over to "
        "facenet_arch's ScaleLayer; a Lambda given with --function is saved by its function's "
        "name and loaded with it in custom_objects. Nothing stays at OUT unless every proof "
        "passed. Exit 0 only when every proof passed.",
    )
    options.add_model_file(p, "to convert")
    options.add_model_input(p)
    options.add_timeout(p)
    options.add_no_sandbox(p)
    p.add_argument(
        "--to",
        required=True,
        metavar="ENV",
        help="the consumer environment to convert for: a catalog id or a spec such as "
        "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2",
    )
    p.add_argument(
        "-o",
        "--out",
        required=True,
        metavar="OUT",
        help="the file (or SavedModel folder) to write; it must not exist. The proof script "
        "load_<name>.py and, when the model needs it, facenet_arch.py are written beside it",
    )
    p.add_argument(
        "--format",
        choices=convert.FORMATS,
        default=None,
        help="for a Keras 2 ENV: write a .h5 file (default) or a SavedModel folder; a Keras 3 ENV always writes .keras",
    )
    options.add_loaders(
        p, "comma-separated environments probed for the reference before ENV (always probed), catalog ids or specs"
    )
    options.add_verbose(p, options.REFUSED_FILE_TRACEBACK)
    p.set_defaults(func=run)


def run(args) -> int:
    diagnosis = probe.loadable(
        args.path, verbose=args.verbose, command="convert", architecture=bool(getattr(args, "architecture", None))
    )
    env = adhoc.environment(args.to, log=progress)
    catalog.require_consumer(env)
    aim = convert.target(args.out, env, args.format)
    told = options.read_model_file(args)
    references = options.loader_environments(args)
    sandboxed = not args.no_sandbox
    if sandboxed:
        sandbox.check()
    print(f"compat convert: {diagnosis.line()}", file=sys.stderr)
    with contextlib.redirect_stdout(PlainWriter(sys.stdout)):
        return convert.convert_and_prove(diagnosis, env, aim, references, told, sandboxed=sandboxed)


class PlainWriter:
    """A text stream that writes what it is given without control codes (``hints.plain``): the
    conversion's lines quote errors and a script's last words, which may be styled."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(hints.plain(text))

    def flush(self) -> None:
        self.stream.flush()
