"""``compat regress --from OLD --to NEW``: what stops working when moving from one environment to another.

Over the project's fixtures; with ``--models PATH...`` over your own model files, which is
``compat gate`` under the spelling it was first published with: such a command line is handed
over to the gate's parser, so each of the two takes only its own options.
"""

from __future__ import annotations

from pathlib import Path

from compat.cli import gate, options
from compat.harness import regress, runner
from compat.records import results


def add_parser(sub) -> None:
    p = sub.add_parser(
        "regress",
        help="what stops working when moving from one environment to another",
        description="Compare two environments over the project's fixtures or, with --models, "
        "over your own model files (as `compat gate` does; `compat gate --help` lists its options). "
        "An environment is a catalog id or a spec: "
        "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2 or py3.11:requirements.txt.",
    )
    options.add_from_to(p)
    p.add_argument("--producers", default=None)
    p.add_argument("--variants", default=None)
    p.add_argument("--formats", default=None)
    p.add_argument("--baseline", default=None, help="matrix.json to read both sides from (default: fresh runs)")
    options.add_json(p, "also write the report to this JSON file")
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="PATH",
        help="your model files or folders instead: the gate, with its own options (see `compat gate --help`)",
    )
    options.add_verbose(p)
    p.set_defaults(func=run)
    p.handover = ("--models", gate.parser_for_regress)


def run(args) -> int:
    report = regress.compare(
        args.old,
        args.new,
        producers=runner.split_list(args.producers),
        variants=runner.split_list(args.variants),
        formats=runner.split_list(args.formats),
        baseline=args.baseline,
    )
    print(regress.render(report))
    if args.json_out:
        results.write_atomically(Path(args.json_out), report)
    return report["exit_status"]
