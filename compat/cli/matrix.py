"""``compat matrix [CONSUMER...]``: every consumer over every producer, in parallel, then the report."""

from __future__ import annotations

from compat.cli import options
from compat.harness import matrix


def add_parser(sub) -> None:
    p = sub.add_parser("matrix", help="every consumer over every producer, in parallel, then the report")
    p.add_argument("consumers", nargs="*", help="consumer ids (default: the whole catalog)")
    p.add_argument("--jobs", type=int, default=None, help="consumers run at once (default: the cores)")
    options.add_rerun(p)
    options.add_fixtures(p)
    p.add_argument("--no-report", action="store_true")
    options.add_results_folder(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what each consumer has to run and an estimate of how long, then stop",
    )
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    return matrix.run_matrix(
        args.consumers,
        jobs=args.jobs,
        fixture_ids=args.fixtures,
        rerun=args.rerun,
        dry_run=args.dry_run,
        results=args.results,
        publish=not args.no_report,
    )
