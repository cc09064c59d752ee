"""What a pasted error means, where the matrix records it, and what loads the file there.

A user pastes what they saw: an error's first line, maybe behind its exception type, maybe
the whole traceback, with their own paths, layer names and numbers. ``explain`` reads that
text the way the worker records an error (``compat.inside.worker``: the exception's type,
its most informative line, the traceback's tail) and finds its failure family two ways:

- by signature: ``families.classify`` on the pasted error in the place of every error the
  matrix recorded (same strategy, format, producer and consumer, so the same Pythons and
  Keras), since some signatures only mean something in a context the user did not paste;
  with no exception type pasted, the type recorded there stands in;
- by recorded message: every error of the matrix whose message, with paths, numbers and
  quotes normalised, is the pasted one, or starts it, or is started by it (the matrix keeps
  500 characters, a user may paste fewer). A user's own names differ from ours, so when no
  message is the same word for word, quoted names are blanked too, and failing that a
  message with nearly the same words counts.

The signatures say which families are possible (they see the names normalising blanks
out); the recorded messages, where any agree with them, say which were seen and how often.
A message the matrix never recorded still gets its family from the signatures, with the
recorded attempts of that family in the contexts where the signature gives it.

For the cells (consumer, producer, fixture) where a family is recorded, the strategy that
passes first in most of them, in the strategies' order (a plain load before one handed
code, before a rebuild in code), is its measured fix, shown with the lines of its recipe
that load the model. Pure: nothing here prints.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import textwrap
from collections import Counter, defaultdict

from compat import catalog
from compat.records import families, recipetext, summary

# As the worker keeps them (compat.inside.worker.first_line and _error).
MESSAGE_CHARS = 500
DETAIL_CHARS = 2000
WRAPPER_HEADERS = ("in user code:", "in converted code:")
CALL_WRAPPER = "Exception encountered when calling"

# A pasted prefix shorter than this says too little to pick out a recorded message by.
MIN_PREFIX_CHARS = 24
# Messages "nearly the same" share this share of their words in order, and have enough words
# for that share to mean something.
SIMILAR_RATIO = 0.85
MIN_SIMILAR_WORDS = 6

# How a family was found, strongest first.
SAME_MESSAGE = "same message"
SAME_BUT_NAMES = "same message but for quoted names"
SIMILAR_MESSAGE = "a similar message"
SIGNATURE = "signature only"
TIERS = (SAME_MESSAGE, SAME_BUT_NAMES, SIMILAR_MESSAGE)

MAX_LOAD_LINES = 8


@dataclasses.dataclass(frozen=True)
class Pasted:
    """The pasted text read as the worker records an error."""

    error_type: str
    """The exception's class name without its module (``""`` when none was pasted)."""
    message: str
    """Its most informative line, at most ``MESSAGE_CHARS`` long."""
    detail: str
    """The pasted text's last ``DETAIL_CHARS`` characters, where signatures look for inner causes."""


@dataclasses.dataclass(frozen=True)
class Fix:
    """The strategy a user would pick where a family is recorded: in most of those cells, the
    first that passes in the strategies' order."""

    strategy: str
    summary: str
    passes: int
    """Cells where it passes."""
    cells: int
    """Cells where the family is recorded."""
    runners_up: tuple[tuple[str, int], ...]
    """Other strategies that pass there, with their cells, most first."""
    example: tuple[str, str, str]
    """``(consumer, producer, fixture)`` of the recipe the load lines come from."""
    load_lines: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Match:
    family: families.Family
    found_by: str
    """One of ``TIERS``, or ``SIGNATURE``."""
    attempts: int
    """Recorded attempts that agree: their message is the pasted one (as ``found_by`` says) and
    the signatures give no other family for the pasted error in their place."""
    confirmed: int
    """Of those, the ones where the signatures give the pasted error this very family: what
    ranks first, since the others agree only because the text pasted says too little."""
    consumers: tuple[tuple[str, int], ...]
    producers: tuple[tuple[str, int], ...]
    fixtures: tuple[tuple[str, int], ...]
    strategies: tuple[tuple[str, int], ...]
    fix: Fix | None
    """``None`` when the matrix records the family nowhere, or nothing passes where it does."""


@dataclasses.dataclass(frozen=True)
class Explanation:
    pasted: Pasted
    matches: tuple[Match, ...]
    """Most agreeing attempts first; empty when no family is known for the message."""

    @property
    def found(self) -> bool:
        return bool(self.matches)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- reading what was pasted ------------------------------------------------------------------

_FRAME = re.compile(r'^\s*File "')
_EXCEPTION_LINE = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt|Iteration))(?::\s*(?P<message>.*))?$"
)


def parse(text: str) -> Pasted:
    """The error in a pasted message or traceback: its type (when given), message and tail."""
    lines = textwrap.dedent(text.strip("\n")).strip().splitlines()
    error_type, message_lines = _exception(lines)
    detail = "\n".join(line.rstrip() for line in lines)[-DETAIL_CHARS:]
    return Pasted(error_type, first_line(message_lines), detail)


def _exception(lines: list[str]) -> tuple[str, list[str]]:
    """``(type, message lines)``: the last exception a traceback shows, else the text itself,
    whose first line may start with the type."""
    frames = [index for index, line in enumerate(lines) if _FRAME.match(line)]
    if not frames:
        found = _EXCEPTION_LINE.match(lines[0].strip()) if lines else None
        return (_type_name(found["type"]), [found["message"] or ""] + lines[1:]) if found else ("", lines)
    # After the last frame come its source line, then the exception's own line.
    after = lines[frames[-1] + 1 :]
    for index, line in enumerate(after):
        found = _EXCEPTION_LINE.match(line.strip())
        if found:
            return _type_name(found["type"]), [found["message"] or ""] + after[index + 1 :]
    return "", after or lines


def _type_name(qualified: str) -> str:
    """``tensorflow.python.framework.errors_impl.NotFoundError`` is recorded as ``NotFoundError``."""
    return qualified.rsplit(".", 1)[-1]


def first_line(lines: list[str]) -> str:
    """The most informative line, as ``compat.inside.worker.first_line`` records it: TF's
    "in user code:" trace is named by its last line, Keras 3's "Exception encountered when
    calling" by the next line that says something."""
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        return ""
    if lines[0] in WRAPPER_HEADERS and len(lines) > 1:
        return lines[-1][:MESSAGE_CHARS]
    if lines[0].startswith(CALL_WRAPPER):
        rest = [line for line in lines[1:] if not line.startswith(("Arguments received", "\u2022"))]
        return (lines[0] + " " + rest[0])[:MESSAGE_CHARS] if rest else lines[0][:MESSAGE_CHARS]
    return lines[0][:MESSAGE_CHARS]


# -- comparing messages -------------------------------------------------------------------------

_HEX = re.compile(r"0x[0-9a-fA-F]+")
# Any token with a slash or backslash in it (a path, a TF node name), or naming a model file.
_PATH = re.compile(r"""[^\s'"`]*[\\/][^\s'"`]*|[^\s'"`]+\.(?:h5|hdf5|keras|json|pb|pbtxt|npy|npz)\b""")
_NUMBER = re.compile(r"\d+")
_QUOTED = re.compile(r"""'[^']*'|"[^"]*"|`[^`]*`|\u2018[^\u2019]*\u2019|\u201c[^\u201d]*\u201d""")
_QUOTE = re.compile(r"""['"`\u2018\u2019\u201c\u201d]""")
_WORD = re.compile(r"[\w<>#]+")


def normalized(message: str, blank_names: bool = False) -> str:
    """The message with what differs between users' machines and models made the same: paths,
    addresses and numbers, quote characters, case and spacing; with ``blank_names``, whatever
    is quoted too (the user's layer and class names are not ours)."""
    text = _HEX.sub("<addr>", message)
    text = _PATH.sub("<path>", text)
    text = _NUMBER.sub("#", text)
    if blank_names:
        text = _QUOTED.sub("<name>", text)
    text = _QUOTE.sub("", text).lower()
    return " ".join(text.split()).rstrip(".:;, ")


def _starts(longer: str, shorter: str) -> bool:
    """``longer`` begins with all of ``shorter``, cut between words."""
    if not longer.startswith(shorter):
        return False
    cut = len(shorter)
    return cut == len(longer) or not (longer[cut].isalnum() and shorter[-1:].isalnum())


def same_message(pasted: str, recorded: str) -> bool:
    """Equal, or one the start of the other and long enough to say something."""
    if pasted == recorded:
        return True
    shorter, longer = sorted((pasted, recorded), key=len)
    return len(shorter) >= MIN_PREFIX_CHARS and _starts(longer, shorter)


def similar_message(pasted: str, recorded: str) -> bool:
    """Nearly the same words in the same order (a hostname, a layer name unquoted, differs)."""
    mine, theirs = _WORD.findall(pasted), _WORD.findall(recorded)
    if min(len(mine), len(theirs)) < MIN_SIMILAR_WORDS:
        return False
    return difflib.SequenceMatcher(None, mine, theirs, autojunk=False).ratio() >= SIMILAR_RATIO


def _tier(pasted: str, recorded: str) -> str | None:
    """How closely a recorded message is the pasted one (both raw), or ``None``."""
    if same_message(normalized(pasted), normalized(recorded)):
        return SAME_MESSAGE
    loose_pasted, loose_recorded = normalized(pasted, True), normalized(recorded, True)
    if same_message(loose_pasted, loose_recorded):
        return SAME_BUT_NAMES
    if similar_message(loose_pasted, loose_recorded):
        return SIMILAR_MESSAGE
    return None


# -- the matrix's errors --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Recorded:
    """One errored attempt of the matrix: the family its own error was classified as, and the
    family the pasted error gets in its place (``None``: the signatures need more than was
    pasted, or know no family for it)."""

    attempt: dict
    family: str | None
    pasted_family: str | None

    @property
    def agrees(self) -> bool:
        """Its family stands for the pasted error: the signatures, in its place, say no other."""
        return self.family is not None and self.pasted_family in (None, self.family)


def _recorded_errors(document: dict, pasted: Pasted) -> list[_Recorded]:
    """Every errored attempt of ``document``, with what the pasted error means in its place.

    The signatures see the type, the strategy, the format and the producer's and consumer's
    stacks, so the pasted error is classified once per distinct such place.
    """
    places: dict[tuple, list[dict]] = defaultdict(list)
    for attempt in document["attempts"]:
        if attempt.get("error"):
            error_type = pasted.error_type or attempt["error"].get("type", "")
            places[(error_type,) + tuple(attempt.get(key) for key in _PLACE)].append(attempt)
    recorded: list[_Recorded] = []
    for (error_type, *_), attempts in places.items():
        error = {"type": error_type, "message": pasted.message, "traceback": pasted.detail}
        pasted_family = _family_id(families.classify_attempt(document, dict(attempts[0], error=error)))
        recorded.extend(
            _Recorded(attempt, _family_id(families.classify_attempt(document, attempt)), pasted_family)
            for attempt in attempts
        )
    return recorded


_PLACE = ("strategy", "format", "producer", "consumer")


def _family_id(family: families.Family | None) -> str | None:
    return family.id if family else None


def _by_message(pasted: Pasted, recorded: list[_Recorded]) -> tuple[str, list[_Recorded]] | None:
    """The agreeing recorded errors whose message is closest to the pasted one, with how
    close: those of the pasted exception type when some are, else of any type."""
    tiers: dict[str, str | None] = {}
    closest: dict[str, list[_Recorded]] = defaultdict(list)
    for entry in recorded:
        message = entry.attempt["error"].get("message", "")
        if message not in tiers:
            tiers[message] = _tier(pasted.message, message)
        tier = tiers[message]
        if tier is not None and entry.agrees:
            closest[tier].append(entry)
    for tier in TIERS:
        entries = closest.get(tier)
        if entries:
            same_type = [entry for entry in entries if entry.attempt["error"].get("type") == pasted.error_type]
            return tier, same_type or entries
    return None


def _by_signature(pasted: Pasted, recorded: list[_Recorded]) -> dict[str, list[_Recorded]]:
    """Family id -> the recorded errors of that family in whose place the pasted error gets it
    too. Every family the signatures give the pasted error somewhere is a key, even with no
    recorded error agreeing; with no recorded errors at all, the context-free answer."""
    agreeing: dict[str, list[_Recorded]] = {}
    for entry in recorded:
        if entry.pasted_family is not None:
            agreeing.setdefault(entry.pasted_family, [])
            if entry.family == entry.pasted_family:
                agreeing[entry.pasted_family].append(entry)
    if not recorded:
        family = _family_id(families.classify(pasted.error_type, pasted.message, pasted.detail))
        if family is not None:
            agreeing[family] = []
    return agreeing


# -- summarising where a family is recorded and what passes there -----------------------------


def _counted(values, order: list[str]) -> tuple[tuple[str, int], ...]:
    """``(value, count)`` in ``order`` (the catalog's, the strategies'), the rest after, sorted."""
    counts = Counter(values)
    rank = {name: index for index, name in enumerate(order)}
    return tuple((name, counts[name]) for name in sorted(counts, key=lambda name: (rank.get(name, len(rank)), name)))


def _environment_order(document: dict) -> list[str]:
    return [entry["id"] for entry in document.get("catalog") or []] or catalog.ids()


def _strategy_order(document: dict) -> list[str]:
    return summary.strategy_order(document.get("strategies") or [])


def _cell(attempt: dict) -> tuple[str, str, str]:
    return attempt.get("consumer", ""), attempt.get("producer", ""), attempt.get("fixture", "")


def _passes_by_cell(document: dict) -> dict[tuple[str, str, str], list[dict]]:
    passes: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for attempt in document["attempts"]:
        if attempt.get("verdict") == "pass":
            passes[_cell(attempt)].append(attempt)
    return passes


def _fix(document: dict, cells: set, passes: dict) -> Fix | None:
    """What a user would pick in most of ``cells``: the first strategy that passes there in the
    strategies' order (a plain load before one handed code, before a rebuild in code), the
    earlier in that order on a tie; the others that pass follow, most cells first."""
    by_strategy: dict[str, list[dict]] = defaultdict(list)
    for cell in sorted(cells):  # in order, so the recipe shown is the same on every run
        for attempt in passes.get(cell, ()):
            by_strategy[attempt["strategy"]].append(attempt)
    if not by_strategy:
        return None
    rank = {name: index for index, name in enumerate(_strategy_order(document))}

    def order(name: str) -> tuple[int, str]:
        return rank.get(name, len(rank)), name

    first = Counter(min((a["strategy"] for a in passes[cell]), key=order) for cell in cells if passes.get(cell))
    best = min(first, key=lambda name: (-first[name], order(name)))
    ranked = [best] + sorted((n for n in by_strategy if n != best), key=lambda n: (-len(by_strategy[n]), order(n)))
    example = _typical_recipe(by_strategy[best])
    return Fix(
        strategy=best,
        summary=_summary(document, best, example.get("recipe", "")),
        passes=len(by_strategy[best]),
        cells=len(cells),
        runners_up=tuple((name, len(by_strategy[name])) for name in ranked[1:]),
        example=_cell(example),
        load_lines=load_lines(example.get("recipe", "")),
    )


def _typical_recipe(attempts: list[dict]) -> dict:
    """The attempt whose recipe, its file names aside, the most of ``attempts`` share."""
    templates = Counter(recipetext.normalized(attempt.get("recipe", "")) for attempt in attempts)
    most = templates.most_common(1)[0][0]
    return next(attempt for attempt in attempts if recipetext.normalized(attempt.get("recipe", "")) == most)


def _summary(document: dict, strategy: str, recipe: str) -> str:
    for entry in document.get("strategies") or []:
        if entry.get("name") == strategy and entry.get("summary"):
            return entry["summary"]
    # An older document without its strategies: the recipe's docstring says it.
    found = re.match(r'\s*"""Loading strategy [\w-]+: (.*)', recipe)
    return found.group(1).rstrip(".") if found else strategy


def load_lines(recipe: str) -> tuple[str, ...]:
    """The lines of a recipe that load the model: after it reads the input, before it predicts
    (every recipe reads ``images`` and computes ``embeddings``); else the lines that load."""
    lines = recipe.splitlines()
    start = next((index + 1 for index, line in enumerate(lines) if line.startswith("images = ")), None)
    end = next((index for index, line in enumerate(lines) if line.startswith("embeddings = ")), None)
    if start is not None and end is not None and start < end:
        chosen = [line for line in lines[start:end] if line.strip()]
    else:
        chosen = [line for line in lines if "load" in line and not line.lstrip().startswith(("#", "import", "from"))]
    return tuple(chosen[:MAX_LOAD_LINES])


def _match(document: dict, family_id: str, found_by: str, entries: list[_Recorded], passes: dict) -> Match:
    attempts = [entry.attempt for entry in entries]
    environments = _environment_order(document)
    return Match(
        family=families.FAMILIES[family_id],
        found_by=found_by,
        attempts=len(attempts),
        confirmed=sum(entry.pasted_family == family_id for entry in entries),
        consumers=_counted((a.get("consumer") for a in attempts), environments),
        producers=_counted((a.get("producer") for a in attempts), environments),
        fixtures=tuple(Counter(str(a.get("fixture")) for a in attempts).most_common()),
        strategies=_counted((a.get("strategy") for a in attempts), _strategy_order(document)),
        fix=_fix(document, {_cell(a) for a in attempts}, passes) if attempts else None,
    )


# -- the answer -----------------------------------------------------------------------------------------


def explain(document: dict, text: str) -> Explanation:
    """What ``text`` (a pasted error message or traceback) means in ``document`` (a whole
    matrix, as ``matrixdoc.read`` gives it)."""
    pasted = parse(text)
    if not pasted.message and not pasted.error_type:
        return Explanation(pasted, ())
    found = _agreeing(pasted, _recorded_errors(document, pasted))
    passes = _passes_by_cell(document)
    matches = [_match(document, family, found_by, entries, passes) for family, (found_by, entries) in found.items()]
    ranked = sorted(matches, key=lambda match: (match.found_by == SIGNATURE, -match.confirmed, -match.attempts))
    return Explanation(pasted, tuple(ranked))


def _agreeing(pasted: Pasted, recorded: list[_Recorded]) -> dict[str, tuple[str, list[_Recorded]]]:
    """Family id -> (how it was found, the recorded attempts that agree): the closest recorded
    messages the signatures do not contradict, else the signatures alone."""
    closest = _by_message(pasted, recorded)
    if closest is None:
        return {family: (SIGNATURE, entries) for family, entries in _by_signature(pasted, recorded).items()}
    tier, entries = closest
    by_family: dict[str, list[_Recorded]] = defaultdict(list)
    for entry in entries:
        by_family[str(entry.family)].append(entry)
    return {family: (tier, found) for family, found in by_family.items()}
