"""``compat run-named NAME [ARG...]``: run what a tox / nox environment name stands for, so both
front ends run the same command lines."""

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
    p.set_defaults(func=run)


def named_command(name: str) -> list[str]:
    """The ``compat`` arguments that the tox / nox environment ``name`` stands for."""
    for pattern, to_args in NAMED:
        match = pattern.match(name)
        if match:
            return to_args(match)
    raise UsageError(f"{name!r} is not a compat environment name (gen-X, X-load-Y, regress-X-to-Y, report)")


def run(args) -> int:
    from compat import cli  # the whole command line, which this command is part of

    return cli.main(named_command(args.name) + list(args.rest))
