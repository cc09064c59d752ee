"""The options more than one command takes, each declared once here with the function that
reads it, so a default or a help text cannot drift apart between commands."""

from __future__ import annotations

from compat import catalog
from compat.errors import BadInput, positive_seconds
from compat.userfiles import engine, probe

DEFAULT_LOADERS = "tf215,tf221"
"""The environments probe loads a file in, and convert takes its reference from, unless told."""

HARNESS_TRACEBACK = "print a harness failure's traceback here too (it is always written to a file)"
REFUSED_FILE_TRACEBACK = "print the traceback of a refused file or option"


def add_verbose(p, help: str = HARNESS_TRACEBACK) -> None:
    p.add_argument("--verbose", action="store_true", help=help)


def add_json(p, help: str, metavar: str | None = None) -> None:
    """The command's result as JSON, besides what it prints."""
    p.add_argument("--json", dest="json_out", default=None, metavar=metavar, help=help)


# -- catalog environments ------------------------------------------------------------------


def add_environment_ids(p) -> None:
    p.add_argument("ids", nargs="*")


def environments(ids: list[str], role=None) -> list[catalog.Environment]:
    """The environments ``ids`` names (none or ``all``: the whole catalog), of ``role`` only when given."""
    chosen = list(catalog.ENVIRONMENTS) if not ids or ids == ["all"] else [catalog.get(i) for i in ids]
    if role == catalog.PRODUCER:
        chosen = [e for e in chosen if e.produces]
    elif role == catalog.CONSUMER:
        chosen = [e for e in chosen if e.consumes]
    return chosen


def add_from_to(p) -> None:
    """The two environments an upgrade check compares."""
    p.add_argument("--from", dest="old", required=True, help="the environment today: catalog id or spec")
    p.add_argument("--to", dest="new", required=True, help="the environment to move to: catalog id or spec")


def add_loaders(p, help_lead: str) -> None:
    p.add_argument(
        "--loaders",
        default=DEFAULT_LOADERS,
        help=f"{help_lead} (default: {DEFAULT_LOADERS})",
    )


def loader_environments(args) -> list[catalog.Environment]:
    """``--loaders``; given empty, the default ones."""
    return probe.loader_environments(args.loaders or DEFAULT_LOADERS)


def add_jobs(p, what: str) -> None:
    """``--jobs N``: how many of ``what`` run at once, each its own worker (default: the cores)."""
    p.add_argument("--jobs", type=int, default=None, help=f"{what} run at once (default: the cores)")


def read_jobs(args) -> int:
    """``--jobs``, checked before any environment starts; not given, one per core."""
    if args.jobs is None:
        return probe.default_jobs()
    if args.jobs < 1:
        raise BadInput(f"--jobs must be at least 1, not {args.jobs}")
    return args.jobs


# -- a run over the project's fixtures ------------------------------------------------------


def add_fixtures(p) -> None:
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format) to run")


def add_rerun(p) -> None:
    p.add_argument(
        "--rerun",
        action="store_true",
        help="measure every planned attempt again, also those recorded with their current key",
    )


def add_results_folder(p) -> None:
    p.add_argument("--results", default=None, help="folder of the consumers' results files (default reports/results/)")


# -- user model files -----------------------------------------------------------------------


def add_model_file(p, what: str) -> None:
    """The one model file probe and convert take, with what is known of it: its reference
    outputs and, for a FaceNet file, the size and variant the weights-level strategies rebuild."""
    p.add_argument("path", help=f"the model file {what}: .h5 / .keras / .json (+ weights) or a SavedModel folder")
    p.add_argument(
        "--reference",
        default=None,
        help="the outputs the model should give on --input: a .npy (one output) or .npz (outputs by "
        "name); needs --input. Default: the first environment that loads the file gives them",
    )
    p.add_argument(
        "--size",
        choices=["full", "tiny"],
        default=None,
        help="for a FaceNet file: the size the weights-level strategies rebuild (default: guessed from the file size)",
    )
    p.add_argument(
        "--variant",
        default=None,
        help=f"for a FaceNet file: the variant the weights-level strategies rebuild (default: {probe.DEFAULT_VARIANT})",
    )

    p.add_argument(
        "--architecture",
        default=None,
        metavar="FILE.py:NAME",
        help="your code for the model: NAME from FILE.py (a function or class) returns it; translate "
        "builds it and reads the file's weights into it (a weights-only file needs it)",
    )
    p.add_argument(
        "--function",
        action="append",
        default=None,
        metavar="LAYER=FILE.py:NAME",
        help="your code for a Lambda layer, by layer name: NAME from FILE.py is the layer's function "
        "(a Lambda stores Python bytecode that only the Python which wrote it reads); repeat it per layer",
    )


def add_model_input(p, fed_to: str = "the model") -> None:
    """What the models are fed: a given batch, or the shape of the seeded one."""
    p.add_argument(
        "--input",
        default=None,
        help=f"a batch fed to {fed_to} as it is: a .npy (one input) or .npz (inputs by name). "
        "Default: a seeded batch of each model's own inputs, in each input's valid range",
    )
    p.add_argument(
        "--input-shape",
        action="append",
        default=None,
        metavar="[NAME=]SHAPE",
        help="per-sample input shape for the seeded batch, e.g. 43844,1, or NAME=SHAPE for one of "
        "several inputs; repeat it for each (default: the shape the file records, open "
        f"dimensions set to {engine.OPEN_DIMENSION})",
    )


def add_timeout(p, default: float = 600.0, per: str = "attempt") -> None:
    p.add_argument("--timeout", type=float, default=default, help=f"seconds allowed per {per} (default {default:g})")


def add_no_sandbox(p) -> None:
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="load the files without the bubblewrap sandbox (code stored in them, if any, runs as you)",
    )


def read_model_input(args) -> tuple[str | None, dict]:
    """``(--input, --input-shape as {name: shape})``, both checked before any environment starts."""
    if args.input:
        engine.read_arrays(args.input, "--input")
    return args.input, engine.parse_shapes(args.input_shape)


def read_model_file(args) -> probe.Options:
    """What probe and convert are told of the file and its batch, checked before any environment starts."""
    timeout = positive_seconds(args.timeout)
    if args.reference and not args.input:
        raise probe.ProbeError(
            "--reference needs --input: the batch its numbers were computed on "
            "(without it the probe would compare them with its own batch)"
        )
    if args.input and args.input_shape:
        raise probe.ProbeError("give --input or --input-shape, not both")
    given_input, shapes = read_model_input(args)
    if args.reference:
        engine.read_arrays(args.reference, "--reference")
    functions = engine.parse_functions(getattr(args, "function", None) or [])
    architecture = engine.parse_architecture(getattr(args, "architecture", None))
    variant = args.variant or probe.DEFAULT_VARIANT
    return probe.Options(given_input, args.reference, shapes, args.size, variant, timeout, functions, architecture)
