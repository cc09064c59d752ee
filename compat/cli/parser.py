"""The parser every command line goes through: a bad input is one line, never a usage block."""

from __future__ import annotations

import argparse

from compat.errors import BadInput


class UsageError(BadInput):
    """Bad input from the user: reported in one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistyped command or option is the one line every bad input gets (exit 2),
    not a usage block, and names the command that refused it; ``--help`` still shows the usage.

    ``handover = (option, make_parser)``: a command line that gives ``option`` is parsed by
    ``make_parser(prog)`` instead, so one command can keep another's older spelling
    (``compat regress --models`` is ``compat gate``) while each declares only its own options.
    """

    handover = None

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def parse_known_args(self, args=None, namespace=None):
        if self.handover and args is not None:
            option, make_parser = self.handover
            if any(_gives(arg, option) for arg in args):
                return make_parser(self.prog).parse_known_args(args, namespace)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _gives(arg: str, option: str) -> bool:
    # argparse reads any unambiguous prefix of a long option (--mod DIR, --models=DIR) as the option.
    given = arg.split("=", 1)[0]
    return given.startswith("--") and len(given) > 2 and option.startswith(given)
