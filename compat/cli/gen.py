"""``compat gen [PRODUCER...]``: regenerate a producer's fixtures, or ``--check`` they reproduce, or
``--add-variants`` to the committed set without touching what it holds."""

from __future__ import annotations

import time

from compat import catalog
from compat.cli import options
from compat.errors import EXIT_HARNESS, EXIT_OK, BadInput, choices
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
    p.add_argument(
        "--add-variants",
        default=None,
        metavar="A,B",
        help="generate only these variants and add them to the committed set, every file and entry "
        "already there kept as it is (recorded attempts are keyed by them)",
    )
    options.add_verbose(p)
    p.set_defaults(func=run)


def _added_variants(args) -> list[str]:
    from compat.inside.generate import VARIANT_FORMATS

    if args.check or args.corpus:
        raise BadInput("--add-variants adds to the committed fixture set: not with --check or --corpus")
    variants = [v for v in args.add_variants.split(",") if v]
    unknown = set(variants) - set(VARIANT_FORMATS)
    if unknown or not variants:
        raise BadInput(choices("variant", unknown or {args.add_variants}, list(VARIANT_FORMATS)))
    return variants


def run(args) -> int:
    producers = options.environments(args.ids, catalog.PRODUCER)
    if args.add_variants is not None:
        variants = _added_variants(args)
        for env in producers:
            fixtures.add_variants(env, variants)
        return EXIT_OK
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
