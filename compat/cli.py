"""The ``compat`` command: one entry point that tox, nox, CI and users share.

Exit status: 0 when the harness did its job (failing cells are findings, not failures),
1 when a regression check found regressions, 2 for bad input (a clear one-line message),
3 when the harness itself failed.
"""
from __future__ import annotations

import argparse
import re
import sys
import time

from compat import catalog, envs, fixtures

EXIT_OK, EXIT_REGRESSED, EXIT_BAD_INPUT, EXIT_HARNESS = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def _environments(ids: list[str], role=None) -> list[catalog.Environment]:
    if not ids or ids == ["all"]:
        chosen = list(catalog.ENVIRONMENTS)
    else:
        chosen = [catalog.get(i) for i in ids]
    if role == catalog.PRODUCER:
        chosen = [e for e in chosen if e.produces]
    elif role == catalog.CONSUMER:
        chosen = [e for e in chosen if e.consumes]
    return chosen


def cmd_lock(args) -> int:
    for env in _environments(args.ids):
        print(f"[compat] locked {env.id}: {envs.compile_lock(env)}")
    return EXIT_OK


def cmd_build(args) -> int:
    for env in _environments(args.ids):
        started = time.time()
        python = envs.ensure_built(env)
        print(f"[compat] {env.id}: {python} ({time.time() - started:.1f}s)")
    return EXIT_OK


def cmd_gen(args) -> int:
    failed = []
    for env in _environments(args.ids, catalog.PRODUCER):
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


def cmd_load(args) -> int:
    from compat import runner  # host-side orchestration; never imports TensorFlow
    return runner.main(args)


def cmd_report(args) -> int:
    from compat import report
    return report.main(args)


def cmd_regress(args) -> int:
    from compat import regress
    return regress.main(args)


def cmd_probe(args) -> int:
    from compat import probe
    return probe.main(args)


def cmd_matrix(args) -> int:
    from compat import matrix
    return matrix.main(args)


# tox and nox environment names -> command lines, so both front ends run the same thing.
_NAMED = [
    (re.compile(r"^gen-(?P<producer>\w+)$"), lambda m: ["gen", m["producer"]]),
    (re.compile(r"^(?P<consumer>\w+)-load-(?P<producer>\w+)$"),
     lambda m: ["load", m["consumer"], m["producer"]]),
    (re.compile(r"^regress-(?P<old>\w+)-to-(?P<new>\w+)$"),
     lambda m: ["regress", "--from", m["old"], "--to", m["new"]]),
    (re.compile(r"^report$"), lambda m: ["report"]),
]


def named_command(name: str) -> list[str]:
    """The ``compat`` arguments that the tox / nox environment ``name`` stands for."""
    for pattern, to_args in _NAMED:
        match = pattern.match(name)
        if match:
            return to_args(match)
    raise UsageError(f"{name!r} is not a compat environment name (gen-X, X-load-Y, regress-X-to-Y, report)")


def cmd_named(args) -> int:
    return main(named_command(args.name) + list(args.rest))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compat", description="Keras / TensorFlow model compatibility matrix")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lock", help="resolve catalog requirements into compat/locks/<id>.txt")
    p.add_argument("ids", nargs="*")
    p.set_defaults(func=cmd_lock)

    p = sub.add_parser("build", help="create catalog environments from their locks")
    p.add_argument("ids", nargs="*")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("gen", help="regenerate a producer's fixtures (or --check they reproduce)")
    p.add_argument("ids", nargs="*")
    p.add_argument("--check", action="store_true",
                   help="regenerate into a temporary folder and compare reference embeddings")
    p.set_defaults(func=cmd_gen)

    p = sub.add_parser("load", help="load producers' fixtures under a consumer with every strategy")
    p.add_argument("consumer")
    p.add_argument("producers", nargs="+", help="producer ids, or `all`")
    p.add_argument("--strategies", default=None, help="comma-separated subset of strategies")
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format)")
    p.add_argument("--isolate", action="store_true", help="one process per attempt")
    p.add_argument("--resume", action="store_true", help="keep attempts already in the results file")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per attempt")
    p.add_argument("--output", default=None, help="results file (default reports/results/<consumer>-load-<producers>.json)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("report", help="merge results and render reports/matrix.{json,html,md}")
    p.add_argument("--results", default=None, help="folder of results files")
    p.add_argument("--from-json", default=None, help="re-render from an existing matrix.json")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("regress", help="what stops working when moving from one environment to another")
    p.add_argument("--from", dest="old", required=True)
    p.add_argument("--to", dest="new", required=True)
    p.add_argument("--producers", default=None)
    p.add_argument("--variants", default=None)
    p.add_argument("--formats", default=None)
    p.add_argument("--baseline", default=None, help="matrix.json to read both sides from (default: fresh runs)")
    p.add_argument("--json", dest="json_out", default=None)
    p.set_defaults(func=cmd_regress)

    p = sub.add_parser("probe", help="try every applicable strategy on your own model file")
    p.add_argument("path")
    p.add_argument("--loaders", default="tf215,tf221")
    p.add_argument("--reference", default=None)
    p.add_argument("--input", default=None)
    p.add_argument("--input-shape", default=None)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--size", choices=["full", "tiny"], default=None,
                   help="builder size for the weights-level strategies (default: guessed from the file)")
    p.add_argument("--variant", default=None, help="builder variant to rebuild (default: lambda)")
    p.add_argument("--json", dest="json_out", default=None, help="write the probe's results here")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("matrix", help="every consumer over every producer, in parallel, then the report")
    p.add_argument("consumers", nargs="*", help="consumer ids (default: the whole catalog)")
    p.add_argument("--jobs", type=int, default=None, help="consumers run at once (default: the cores)")
    p.add_argument("--resume", action="store_true", help="keep attempts already in results files")
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format) to run")
    p.add_argument("--no-report", action="store_true")
    p.set_defaults(func=cmd_matrix)

    p = sub.add_parser("run-named", help="run what a tox / nox environment name stands for")
    p.add_argument("name")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_named)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, catalog.UnknownEnvironment, envs.EnvironmentError_, fixtures.FixtureError) as exc:
        print(f"compat: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("compat: interrupted", file=sys.stderr)
        return 130


def main_entry() -> None:
    sys.exit(main())
