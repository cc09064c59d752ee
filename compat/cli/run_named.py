"""``compat run-named NAME [ARG...]``: run what a tox / nox environment name stands for, so both
front ends run the same command lines.

The command has no handler of its own: ``compat.cli.main`` parses the command line the name
stands for (``command_line``) in its place, so this module needs nothing of the package that
lists it (no import cycle).
"""

from __future__ import annotations

import argparse
import re

from compat.cli.parser import UsageError

NAMED = [
    (re.compile(r"^gen-(?P<producer>\w+)$"), lambda m: ["gen", m["producer"]]),
    (re.compile(r"^(?P<consumer>\w+)-load-(?P<producer>\w+)$"), lambda m: ["load", m["consumer"], m["producer"]]),
    (
        re.compile(r"^regress-(?P<old>\w+)-to-(?P<new>\w+)$"),
        lambda m: ["regress", "--from", m["old"], "--to", m["new"]],
    ),
    (re.compile(r"^report$"), lambda m: ["report"]),
]


def add_parser(sub) -> None:
    p = sub.add_parser("run-named", help="run what a tox / nox environment name stands for")
    p.add_argument("name")
    p.add_argument("rest", nargs=argparse.REMAINDER)


def named_command(name: str) -> list[str]:
    """The ``compat`` arguments that the tox / nox environment ``name`` stands for."""
    for pattern, to_args in NAMED:
        match = pattern.match(name)
        if match:
            return to_args(match)
    raise UsageError(f"{name!r} is not a compat environment name (gen-X, X-load-Y, regress-X-to-Y, report)")


def command_line(args) -> list[str]:
    """The ``compat`` arguments a parsed ``run-named`` stands for: the name's, then the rest as given."""
    return named_command(args.name) + list(args.rest)
