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
import sys
import tempfile
import time
import traceback
from pathlib import Path

from compat.cli import (
    architecture,
    build,
    convert,
    explain,
    gate,
    gen,
    load,
    lock,
    matrix,
    probe,
    recipes,
    regress,
    report,
    run_named,
    scan,
)
from compat.cli.parser import OneLineParser, UsageError
from compat.cli.version import VersionAction
from compat.errors import EXIT_HARNESS, EXIT_INTERRUPTED, CompatError
from compat.userfiles.hints import plain

COMMANDS = (
    lock,
    build,
    gen,
    load,
    report,
    regress,
    gate,
    probe,
    convert,
    scan,
    explain,
    matrix,
    recipes,
    architecture,
    run_named,
)
"""One module per command, each declaring its options beside its handler (``add_parser``,
``run``; ``run_named`` has no ``run``: ``main`` parses the command line its name stands for);
shared options come from ``compat.cli.options``. In this order in ``--help``."""


def build_parser() -> argparse.ArgumentParser:
    """Every command with its options."""
    parser = OneLineParser(prog="compat", description="Keras / TensorFlow model compatibility matrix")
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run-named":
            # A tox / nox environment's name: the command line it stands for runs as if typed.
            args = build_parser().parse_args(run_named.command_line(args))
    except UsageError as exc:
        print(f"compat: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return invoke(args.func, args, f"compat {args.command}")


def invoke(command, args, prog: str = "compat") -> int:
    """Run one command function: the one place an error becomes its line and exit status."""
    try:
        return command(args)
    except CompatError as exc:
        if getattr(args, "verbose", False):  # the commands that have --verbose
            traceback.print_exc()
        print(f"{prog}: error: {plain(str(exc))}", file=sys.stderr)
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
        first = " ".join(plain(str(exc)).split())
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
