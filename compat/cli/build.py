"""``compat build [ID...]``: create catalog environments from their locks."""

from __future__ import annotations

import time

from compat.cli import options
from compat.environments import envs
from compat.errors import EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="create catalog environments from their locks")
    options.add_environment_ids(p)
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    for env in options.environments(args.ids):
        started = time.time()
        python = envs.ensure_built(env)
        print(f"[compat] {env.id}: {python} ({time.time() - started:.1f}s)")
    return EXIT_OK
