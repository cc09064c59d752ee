"""The exit statuses of every ``compat`` command, and the one base of the errors that carry them.

    0  the command did its job (a failing cell is a finding, not a failure)
    1  ``compat regress``: something regressed
    2  bad input: one line saying what is wrong and what is valid
    3  the harness itself failed (what was measured is kept)

Modules raise a ``CompatError`` subclass; ``compat.cli.main`` is the one place that turns
it into a line on stderr and the exit status it carries.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSED = 1
EXIT_BAD_INPUT = 2
EXIT_HARNESS = 3
EXIT_INTERRUPTED = 130


class CompatError(Exception):
    """An error reported to the user in one line, with the exit status it stands for."""

    exit_code = EXIT_HARNESS


class BadInput(CompatError):
    """The user asked for something that does not exist or cannot be used."""

    exit_code = EXIT_BAD_INPUT


class HarnessFailure(CompatError):
    """The harness could not do its job (not a finding about a model)."""

    exit_code = EXIT_HARNESS


def choices(kind: str, unknown, valid) -> str:
    """``unknown fixture 'x'; valid: a, b, c``: the line a typo gets."""
    unknown = sorted(set(unknown))
    listed = ", ".join(repr(u) for u in unknown)
    return f"unknown {kind}{'s' if len(unknown) > 1 else ''} {listed}; valid: {', '.join(valid)}"


def positive_seconds(value, option: str = "--timeout") -> float:
    """A time limit the user gave, refused in one line unless it is a positive number of seconds."""
    if value is None or float(value) <= 0:
        raise BadInput(
            f"{option} must be a positive number of seconds, not {value:g}"
            if isinstance(value, (int, float))
            else f"{option} must be a positive number of seconds"
        )
    return float(value)


def progress(message: str) -> None:
    """Progress goes to stderr, so each command's stdout stays its result."""
    import sys

    print(message, file=sys.stderr)
