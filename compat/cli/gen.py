"""``compat gen [PRODUCER...]``: regenerate a producer's fixtures, or ``--check`` they reproduce."""

from __future__ import annotations

import time

from compat import catalog
from compat.cli import options
from compat.errors import EXIT_HARNESS, EXIT_OK
from compat.harness import fixtures


def add_parser(sub) -> None:
    p = sub.add_parser("gen", help="regenerate a producer's fixtures (or --check they reproduce)")
    options.add_environment_ids(p)
    p.add_argument(
        "--check", action="store_true", help="regenerate into a temporary folder and compare reference embeddings"
    )
    p.add_argument(
        "--corpus",
        default=None,
        metavar="SET",
        help="write (or --check) the corpus set SET into fixtures/corpus/SET/<producer>/ instead",
    )
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    producers = options.environments(args.ids, catalog.PRODUCER)
    if args.corpus:
        from compat.harness import corpus

        failed = corpus.cmd_gen(producers, args.corpus, args.check)
        return EXIT_HARNESS if failed else EXIT_OK
    failed = []
    for env in producers:
        if args.check:
            started = time.time()
            problems = fixtures.check(env)
            verdict = "deterministic" if not problems else "NOT reproduced: " + "; ".join(problems)
            print(f"[compat] check {env.id}: {verdict} ({time.time() - started:.0f}s)")
            if problems:
                failed.append(env.id)
        else:
            fixtures.generate(env)
    return EXIT_HARNESS if failed else EXIT_OK
