"""``compat explain "MESSAGE"``: from an error a user sees to its family, where the matrix
records it and the strategy that loads the file there."""

from __future__ import annotations

import json
import sys

from compat.cli import options
from compat.errors import EXIT_OK, BadInput
from compat.paths import PUBLISHED_MATRIX
from compat.records import explain, matrixdoc
from compat.userfiles import hints

EXIT_UNKNOWN = 1
"""No family is known for the message."""

SHOWN_FIXTURES = 6
SHOWN_RUNNERS_UP = 3


def add_parser(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="what an error means, and its fix",
        description="Read a pasted error (its first line, with or without the exception type, or the whole "
        "traceback; - reads it from stdin) and say its failure family, where the measured matrix records it "
        "and the strategy that passes most often there, with the lines of its recipe that load the model. "
        "Exit 0 when a family is known, 1 when none is, 2 for bad input.",
    )
    p.add_argument("message", nargs="+", metavar="MESSAGE", help='the error, quoted: "ValueError: Unknown layer: ..."')
    p.add_argument("--json", dest="json_out", action="store_true", help="print the answer as JSON instead")
    p.add_argument(
        "--matrix",
        default=str(PUBLISHED_MATRIX),
        metavar="FILE",
        help="the matrix.json to read (default the published reports/matrix.json)",
    )
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    text = hints.plain(_pasted(args.message))  # a message copied from a terminal keeps its colour codes
    document = matrixdoc.read(args.matrix)
    answer = explain.explain(document, text)
    if args.json_out:
        print(json.dumps(answer.to_dict(), indent=1))
    else:
        print(render(answer))
    return EXIT_OK if answer.found else EXIT_UNKNOWN


def _pasted(words: list[str]) -> str:
    """The message as given (unquoted words joined back), or stdin for ``-``."""
    text = sys.stdin.read() if words == ["-"] else " ".join(words)
    if not text.strip():
        raise BadInput("the error message is empty: paste it quoted, or give - and pipe it in")
    return text


# -- the text answer ---------------------------------------------------------------------------


def render(answer: explain.Explanation) -> str:
    pasted = answer.pasted
    said = f"{pasted.error_type}: {pasted.message}" if pasted.error_type else pasted.message
    if not answer.found:
        return f"no family known for this message: {_shortened(said)}"
    lines = [_shortened(said)]
    if len(answer.matches) > 1:
        lines.append(f"{len(answer.matches)} families fit, the most recorded attempts agreeing first:")
    for match in answer.matches:
        lines += [""] + _match_lines(match)
    return "\n".join(lines)


def _match_lines(match: explain.Match) -> list[str]:
    family = match.family
    lines = [
        f"{family.id}: {family.label}",
        f"  what it means: {family.cause}",
        f"  found by: {match.found_by}",
    ]
    if not match.attempts:
        lines.append("  recorded: nowhere in this matrix")
    else:
        lines += [
            f"  recorded under {_names(match.consumers)} ({match.attempts} attempts)",
            f"    from producers {_names(match.producers)}",
            f"    fixtures: {_counts(match.fixtures, SHOWN_FIXTURES)}",
            f"    strategies that failed so: {_counts(match.strategies)}",
        ]
    lines += _fix_lines(match.fix)
    lines.append(f"  the family's fix: {family.action}")
    return lines


def _fix_lines(fix: explain.Fix | None) -> list[str]:
    if fix is None:
        return ["  what loads there: nothing measured passes in those cells"]
    consumer, producer, fixture = fix.example
    lines = [
        f"  what loads there: {fix.strategy} passes in {fix.passes} of {fix.cells} of those cells: {fix.summary}",
    ]
    if fix.runners_up:
        lines.append(f"    also passing: {_counts(fix.runners_up, SHOWN_RUNNERS_UP)}")
    lines.append(f"    its recipe under {consumer}, for {producer}'s {fixture}:")
    lines += [f"      {line}" for line in fix.load_lines]
    return lines


def _names(counted: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(name for name, _ in counted)


def _counts(counted: tuple[tuple[str, int], ...], shown: int | None = None) -> str:
    listed = ", ".join(f"{name} ({count})" for name, count in counted[:shown])
    rest = len(counted) - len(counted[:shown])
    return listed + (f", and {rest} more" if rest else "")


def _shortened(text: str, limit: int = 160) -> str:
    return hints.shorten(text, limit)
