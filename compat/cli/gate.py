"""``compat gate PATH... --from OLD --to NEW``: the pre-upgrade gate over your own models.

``compat regress --from OLD --to NEW --models PATH...`` is the same gate under the spelling it
was first published with (``compat.cli.regress`` hands such a command line to ``parser_for_regress``).
"""

from __future__ import annotations

from pathlib import Path

from compat import catalog
from compat.cli import options
from compat.cli.parser import OneLineParser
from compat.environments import adhoc
from compat.errors import positive_seconds, progress
from compat.records import results
from compat.userfiles import gate, gatereport

DESCRIPTION = (
    "Load every model found under the paths with every strategy under both environments and say, "
    "per model, whether it still loads the way it does today, loads only with another strategy, "
    "stops loading or gives other numbers (the last three are regressions). An environment is a "
    "catalog id or a spec: py3.12:tensorflow-cpu==2.19.0,keras==3.9.2 or py3.11:requirements.txt. "
    "Exit 1 when any model regressed, 0 when none did, 2 for bad input, 3 when an environment could not be run."
)
MODEL_PATHS = "your model files or folders (searched for .h5, .hdf5, .keras, .json and SavedModels)"


def add_parser(sub) -> None:
    p = sub.add_parser("gate", help="your own models before an upgrade: what stops loading", description=DESCRIPTION)
    p.add_argument("models", nargs="+", metavar="PATH", help=MODEL_PATHS)
    _add_options(p)


def parser_for_regress(prog: str) -> OneLineParser:
    """The gate's parser with the paths given as ``--models PATH...``, as ``compat regress`` takes them."""
    p = OneLineParser(prog=prog, description=DESCRIPTION)
    p.add_argument("--models", nargs="+", required=True, metavar="PATH", help=MODEL_PATHS)
    _add_options(p)
    return p


def _add_options(p) -> None:
    options.add_from_to(p)
    options.add_model_input(p, fed_to="every model")
    options.add_timeout(p)
    options.add_json(p, "also write the gate's result to this JSON file", metavar="FILE")
    p.add_argument("--junit-xml", default=None, metavar="FILE", help="one JUnit test case per model")
    p.add_argument("--markdown", default=None, metavar="FILE", help="a summary for a pull-request comment")
    options.add_no_sandbox(p)
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    timeout = positive_seconds(args.timeout)
    given_input, shapes = options.read_model_input(args)
    old_env = adhoc.environment(args.old, log=progress)
    new_env = adhoc.environment(args.new, log=progress)
    for env in (old_env, new_env):
        if not env.consumes:
            catalog.require_consumer(env)
    document = gate.gate(
        old_env,
        new_env,
        args.models,
        given_input=given_input,
        shapes=shapes,
        sandboxed=not args.no_sandbox,
        timeout=timeout,
    )
    print(gatereport.text(document))
    _write_outputs(document, json_out=args.json_out, junit_xml=args.junit_xml, markdown=args.markdown)
    return document["exit_status"]


def _write_outputs(document: dict, **targets) -> None:
    """The JSON document and, when asked, its JUnit and Markdown renderings."""
    renderings = {"json_out": None, "junit_xml": gatereport.junit, "markdown": gatereport.markdown}
    for option, target in targets.items():
        if not target:
            continue
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        render = renderings[option]
        if render is None:
            results.write_atomically(Path(target), document)
        else:
            Path(target).write_text(render(document))
