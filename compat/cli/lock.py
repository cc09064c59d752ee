"""``compat lock [ID...]``: resolve catalog requirements into compat/locks/<id>.txt."""

from __future__ import annotations

from compat.cli import options
from compat.environments import envs
from compat.errors import EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("lock", help="resolve catalog requirements into compat/locks/<id>.txt")
    options.add_environment_ids(p)
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    for env in options.environments(args.ids):
        print(f"[compat] locked {env.id}: {envs.compile_lock(env)}")
    return EXIT_OK
