"""``compat report``: merge results and render reports/matrix.{json,html,md}."""

from __future__ import annotations

from compat.cli import options
from compat.publish import report


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="merge results and render reports/matrix.{json,html,md}")
    options.add_results_folder(p)
    p.add_argument("--from-json", default=None, help="re-render from an existing matrix.json")
    p.add_argument("--out", default=None, help="folder of matrix.{json,html,md} (default reports/)")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="build only from the results files instead of updating the published matrix.json",
    )
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    return report.publish(results=args.results, from_json=args.from_json, out=args.out, fresh=args.fresh)
