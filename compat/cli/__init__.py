"""The ``compat`` command: one entry point that tox, nox, CI and users share.

Exit status (``compat.errors``): 0 when the harness did its job (failing cells are
findings, not failures), 1 when a regression check found regressions (or ``compat scan``
found code in a file), 2 for bad input
(a clear one-line message), 3 when the harness itself failed. ``main`` is the one place
that turns an error into its line and exit status.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

from compat import catalog
from compat.environments import envs
from compat.errors import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_OK, BadInput, CompatError, HarnessFailure
from compat.harness import fixtures, matrix, recipes, regress, runner
from compat.publish import report
from compat.userfiles import convert, gate, probe, scan


class UsageError(BadInput):
    """Bad input from the user: reported in one line, exit status 2."""


def _environments(ids: list[str], role=None) -> list[catalog.Environment]:
    chosen = list(catalog.ENVIRONMENTS) if not ids or ids == ["all"] else [catalog.get(i) for i in ids]
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
    if args.corpus:
        from compat.harness import corpus

        failed = corpus.cmd_gen(_environments(args.ids, catalog.PRODUCER), args.corpus, args.check)
        return EXIT_HARNESS if failed else EXIT_OK
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


def cmd_regress(args) -> int:
    if args.models:  # the gate over the user's own models, not the project's fixtures
        return gate.main(args)
    return regress.main(args)


def cmd_architecture(args) -> int:
    from compat.environments import standalone

    print(f"[compat] wrote {standalone.write_architecture(args.out)}")
    return EXIT_OK


def cmd_load(args) -> int:
    from compat.publish import table

    producers = runner.resolve_producers(args.producers)
    run = runner.Run(
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
        run.execute()
    except HarnessFailure as exc:
        raise HarnessFailure(f"{exc} (what was measured is kept in {run.output})") from None
    if not args.quiet:
        view, notes = runner.planned_view(run)
        if view["attempts"]:
            print(table.render(view, results_path=run.output, notes=notes))
    return 0


def _add_load(sub) -> None:
    p = sub.add_parser("load", help="load producers' fixtures under a consumer with every strategy")
    p.add_argument("consumer")
    p.add_argument("producers", nargs="+", help="producer ids, or `all`")
    p.add_argument("--strategies", default=None, help="comma-separated subset of strategies")
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format)")
    p.add_argument("--isolate", action="store_true", help="one process per attempt")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="measure every planned attempt again, also those recorded with their current key",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per attempt")
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
    p.set_defaults(func=cmd_load)


# tox and nox environment names -> command lines, so both front ends run the same thing.
_NAMED = [
    (re.compile(r"^gen-(?P<producer>\w+)$"), lambda m: ["gen", m["producer"]]),
    (re.compile(r"^(?P<consumer>\w+)-load-(?P<producer>\w+)$"), lambda m: ["load", m["consumer"], m["producer"]]),
    (
        re.compile(r"^regress-(?P<old>\w+)-to-(?P<new>\w+)$"),
        lambda m: ["regress", "--from", m["old"], "--to", m["new"]],
    ),
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


def version_text() -> str:
    """``compat 0.1.0 (catalog 1a2b3c4d5e6f)``: the package and the catalog it measures, as one
    digest of every environment's id and lock digest (what the attempts' keys are made of)."""
    import compat
    from compat.records import attemptkey, codedigest

    entries = [f"{env.id}={attemptkey.lock_digest(env)}" for env in catalog.ENVIRONMENTS]
    return f"compat {compat.__version__} (catalog {codedigest.digest(entries)}, {len(entries)} environments)"


class _Version(argparse.Action):
    """``--version``, computed only when asked (the catalog digest reads every lock)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and the catalog's digest")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """Every command with its options: each command module declares its own (``add_parser``)."""
    parser = OneLineParser(prog="compat", description="Keras / TensorFlow model compatibility matrix")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_environment_commands(sub)
    _add_load(sub)
    report.add_parser(sub)
    regress_parser = regress.add_parser(sub)
    gate.add_options(regress_parser)
    regress_parser.set_defaults(func=cmd_regress)
    probe.add_parser(sub)
    convert.add_parser(sub)
    scan.add_parser(sub)
    matrix.add_parser(sub)
    recipes.add_parser(sub)
    p = sub.add_parser("architecture", help="write facenet_arch.py, the file the recipes import")
    p.add_argument("-o", "--out", default=".", help="folder to write it into (default: here)")
    p.set_defaults(func=cmd_architecture)
    p = sub.add_parser("run-named", help="run what a tox / nox environment name stands for")
    p.add_argument("name")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_named)
    for name, command in sub.choices.items():
        if name != "run-named" and "--verbose" not in command._option_string_actions:
            command.add_argument(
                "--verbose",
                action="store_true",
                help="print a harness failure's traceback here too (it is always written to a file)",
            )
    return parser


def _add_environment_commands(sub) -> None:
    p = sub.add_parser("lock", help="resolve catalog requirements into compat/locks/<id>.txt")
    p.add_argument("ids", nargs="*")
    p.set_defaults(func=cmd_lock)
    p = sub.add_parser("build", help="create catalog environments from their locks")
    p.add_argument("ids", nargs="*")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("gen", help="regenerate a producer's fixtures (or --check they reproduce)")
    p.add_argument("ids", nargs="*")
    p.add_argument(
        "--check", action="store_true", help="regenerate into a temporary folder and compare reference embeddings"
    )
    p.add_argument(
        "--corpus",
        default=None,
        metavar="SET",
        help="write (or --check) the corpus set SET into fixtures/corpus/SET/<producer>/ instead",
    )
    p.set_defaults(func=cmd_gen)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistyped command or option is the one line every bad input gets (exit 2),
    not a usage block; ``--help`` still shows the usage."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"compat: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return invoke(args.func, args, f"compat {args.command}" if args.command != "run-named" else "compat")


def invoke(command, args, prog: str = "compat") -> int:
    """Run one command function: the one place an error becomes its line and exit status."""
    try:
        return command(args)
    except CompatError as exc:
        if getattr(args, "verbose", False):  # the commands that have --verbose
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (what was measured is kept)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`compat regress ... | head`): stop quietly. Python
        # would complain again when it flushes stdout at exit, so that goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug in the harness: never exit 1, which means "regressed"
        if getattr(args, "verbose", False):
            traceback.print_exc()
        where = _write_traceback(prog)
        first = " ".join(str(exc).split())
        print(
            f"{prog}: harness error: {type(exc).__name__}: {first} (full traceback: {where}"
            f"{'' if getattr(args, 'verbose', False) else '; --verbose prints it here'})",
            file=sys.stderr,
        )
        return EXIT_HARNESS


def _write_traceback(prog: str) -> str:
    """The current exception's traceback in a file of the cache's log folder (the temporary
    folder when that cannot be written): the one line on the terminal names it."""
    from compat.paths import cache_root

    text = f"{prog} ({' '.join(sys.argv[1:])})\n{traceback.format_exc()}"
    name = f"harness-error-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt"
    for folder in (cache_root() / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            return str(folder / name)
        except OSError:
            continue
    return "nowhere: no writable folder"


def main_entry() -> None:
    sys.exit(main())
