"""``compat recipes [SOURCE...]``: count the distinct recipes that passed; ``--check`` runs each standalone."""

from __future__ import annotations

from compat.cli import options
from compat.harness import recipes


def add_parser(sub) -> None:
    p = sub.add_parser("recipes", help="count the distinct recipes that passed; --check runs each standalone")
    p.add_argument("sources", nargs="*", help="matrix.json or results files (default reports/matrix.json)")
    p.add_argument(
        "--check",
        action="store_true",
        help="run each distinct recipe as `python -I recipe.py` beside only its fixture and "
        "facenet_arch.py, in a consumer where it passed, and compare with the reference",
    )
    p.add_argument("--consumers", default=None, help="comma-separated consumer ids to keep")
    p.add_argument("--jobs", type=int, default=2, help="recipes run at once")
    options.add_timeout(p, per="recipe")
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    return recipes.count(args.sources, consumers=args.consumers, run=args.check, jobs=args.jobs, timeout=args.timeout)
