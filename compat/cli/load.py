"""``compat load CONSUMER PRODUCER...``: load producers' fixtures under a consumer with every strategy."""

from __future__ import annotations

from compat.cli import options
from compat.errors import HarnessFailure
from compat.harness import runner


def add_parser(sub) -> None:
    p = sub.add_parser("load", help="load producers' fixtures under a consumer with every strategy")
    p.add_argument("consumer")
    p.add_argument("producers", nargs="+", help="producer ids, or `all`")
    p.add_argument("--strategies", default=None, help="comma-separated subset of strategies")
    options.add_fixtures(p)
    p.add_argument("--isolate", action="store_true", help="one process per attempt")
    options.add_rerun(p)
    options.add_timeout(p, default=300.0)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes sharing the attempts (default: one per core, at most 4)",
    )
    p.add_argument(
        "--output", default=None, help="results file that this run updates (default reports/results/<consumer>.json)"
    )
    p.add_argument("--quiet", action="store_true")
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from compat.publish import table

    producers = runner.resolve_producers(args.producers)
    consumer_run = runner.open_run(
        args.consumer,
        producers,
        strategies=runner.split_list(args.strategies),
        fixture_ids=runner.split_list(args.fixtures),
        isolate=args.isolate,
        reuse=not args.rerun,
        timeout=args.timeout,
        output=args.output,
        workers=runner.default_workers() if args.workers is None else args.workers,
        show_progress=not args.quiet,
    )
    try:
        consumer_run.execute()
    except HarnessFailure as exc:
        raise HarnessFailure(f"{exc} (what was measured is kept in {consumer_run.output})") from None
    if not args.quiet:
        view, notes = runner.planned_view(consumer_run)
        if view["attempts"]:
            print(table.render(view, results_path=consumer_run.output, notes=notes))
    return 0
