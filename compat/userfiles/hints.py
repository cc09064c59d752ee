"""What the user-file commands say about a failed load: the error in one plain line that keeps
the words that matter, and the hint that fits this very file.

- ``plain``: any text without terminal control codes, by the one cleaning the records use
  (``compat.records.attempt.plain_error``). Every error the probe, the gate and convert
  print or write goes through it.
- ``error_text`` / ``error_line``: an error as ``Type: message``. Keras 3 wraps the real
  error after a dump of the layer's config ("Error when deserializing class 'X' using
  config={...}. Exception encountered: <the real error>"); the real error is taken from
  the message or the traceback's tail and kept. ``shorten`` cuts a long line where no
  offending name is lost: a long ``{...}`` dump is reduced to its keys (or to ``{…}``),
  and a short one that names keys (``{'groups': 1}``) is never cut.
- ``hint``: the known failure family of an attempt's error, worded for this file: it names
  only strategies whose attempt on this file in this environment applied, names the flag
  (``--architecture``, ``--function``) where a strategy did not apply only for want of the
  user's code, and says which way a config's Keras goes (older or newer than the reader)
  only where the file's saving Keras and the environment's are known.

Host side, stdlib only.
"""

from __future__ import annotations

import dataclasses
import re

from compat.records import families, strategyinfo
from compat.records.attempt import plain_error
from compat.userfiles.diagnose import ARCHITECTURE_FLAG, FUNCTION_FLAG

LINE_LIMIT = 300
"""An error line's length on a terminal or in a JUnit message, before ``shorten`` cuts it."""
GROUP_LIMIT = 120
"""A ``{...}``, ``[...]`` or ``(...)`` longer than this is a dump that ``shorten`` may reduce."""
NOT_APPLICABLE = "not_applicable"
ELLIPSIS = "\u2026"


def plain(text) -> str:
    """``text`` without terminal control codes (the records' own cleaning); line breaks kept."""
    return plain_error({"text": "" if text is None else str(text)})["text"]


# -- an error in one line ----------------------------------------------------------------------

# Keras 3 says the real error of a failed deserialisation after this, on a line of its own.
_CAUSE = re.compile(r"^\s*Exception encountered: (.+)$", re.MULTILINE)


def error_text(error: dict | None) -> str:
    """``Type: first line`` of an error, plain, with the real error a Keras wrapper hides."""
    if not error:
        return ""
    clean = plain_error(error)
    message = str(clean.get("message") or "").strip()
    first = message.splitlines()[0].strip() if message else ""
    causes = _CAUSE.findall(f"{message}\n{clean.get('traceback') or ''}")
    cause = causes[-1].strip() if causes else ""
    if cause and cause not in first:
        first = f"{_closed(first).rstrip('.')}: {cause}" if first else cause
    kind = clean.get("type") or ""
    return f"{kind}: {first}" if kind else first


def _closed(text: str) -> str:
    """``text`` with the brackets a cut left open closed after an ellipsis (the worker keeps
    500 characters of a message, which may end inside a config's dump)."""
    stack = []
    for char in text:
        if char in _OPENING:
            stack.append(_OPENING[char])
        elif stack and char == stack[-1]:
            stack.pop()
    return text + ELLIPSIS + "".join(reversed(stack)) if stack else text


def error_line(error: dict | None, limit: int = LINE_LIMIT) -> str:
    """``error_text`` shortened to about ``limit`` characters by ``shorten``."""
    return shorten(error_text(error), limit)


_OPENING = {"{": "}", "[": "]", "(": ")"}


def _groups(text: str) -> list[tuple[int, int]]:
    """The outermost bracketed spans, ``(start, end)`` with ``end`` after the closing bracket (or
    at the end of the text for one left open, as a message cut short leaves it)."""
    spans, stack = [], []
    for at, char in enumerate(text):
        if char in _OPENING:
            stack.append((at, _OPENING[char]))
        elif stack and char == stack[-1][1]:
            start, _ = stack.pop()
            if not stack:
                spans.append((start, at + 1))
    if stack:
        spans.append((stack[0][0], len(text)))
    return spans


def _reduced(group: str) -> str:
    """A long bracketed dump as its keys (``{'name', 'groups', …}``) when they are short, else ``{…}``."""
    opening = group[0]
    closing = _OPENING[opening]
    keys = re.findall(r"[{,]\s*('[^']*'|\"[^\"]*\")\s*:", group) if opening == "{" else []
    listed = opening + ", ".join(keys) + ", " + ELLIPSIS + closing
    return listed if keys and len(listed) <= GROUP_LIMIT else opening + ELLIPSIS + closing


def shorten(text: str, limit: int = LINE_LIMIT) -> str:
    """The first line of ``text``, plain, in about ``limit`` characters, cut where nothing that
    names the offence is lost: long bracketed dumps are reduced first, and a cut never falls
    inside a short ``{...}`` (it may run past ``limit`` by up to ``GROUP_LIMIT`` to keep it)."""
    lines = plain(text).strip().splitlines()
    line = lines[0].strip() if lines else ""
    if len(line) <= limit:
        return line
    parts, last = [], 0
    for start, end in _groups(line):
        group = line[start:end]
        parts += [line[last:start], _reduced(group) if len(group) > GROUP_LIMIT else group]
        last = end
    line = "".join(parts) + line[last:]
    if len(line) <= limit:
        return line
    tail = _offence(line)
    if len(tail) > limit // 2:  # a long clause: the keys and the few words before them
        keys = tail[tail.rfind(": {") + 2 :] if ": {" in tail else tail
        words = tail[: len(tail) - len(keys)][-40:]
        tail = words[words.find(" ") + 1 :] + keys if " " in words else keys
    if tail and len(tail) <= limit // 2:
        return _cut(line[: len(line) - len(tail)].rstrip(), limit - len(tail) - 1) + " " + tail
    return _cut(line, limit)


def _offence(line: str) -> str:
    """The clause a line ends with when it ends naming keys (``... passed to LSTM: {'time_major':
    False}``): from the sentence or clause before its last ``: {...}``; "" when it does not."""
    groups = _groups(line)
    if not groups:
        return ""
    start, end = groups[-1]
    if len(line.rstrip(". ")) > end or end - start > GROUP_LIMIT or line[start] != "{":
        return ""
    colon = line.rfind(": ", 0, start)
    if colon < 0:
        return line[start:]
    before = max(line.rfind(": ", 0, colon), line.rfind(". ", 0, colon))
    return line[before + 2 :] if before >= 0 else line[colon + 2 :]


def _cut(line: str, limit: int) -> str:
    """``line`` cut at about ``limit``, never inside a bracketed span (reduced ones are short)."""
    if len(line) <= limit:
        return line
    cut = limit - 1
    for start, end in _groups(line):
        if start < cut < end:
            cut = end
            break
    else:
        space = line.rfind(" ", 0, cut)
        cut = space if space > cut - 20 else cut
    return line[:cut].rstrip() + ELLIPSIS


# -- the hint for this file --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hint:
    id: str
    """The failure family's id."""
    label: str
    action: str
    """What to do, for this file: "" when nothing the family advises applies to it."""

    def line(self) -> str:
        return f"{self.label}: {self.action}" if self.action else self.label

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "action": self.action}


REBUILD = "rebuild the model in code and load only the weights (rebuild_weights, h5_transplant)"
ARCHITECTURE_HINT = (
    f"rebuild it from your own code with {ARCHITECTURE_FLAG} (the function or class returning the model)"
)
FUNCTION_HINT = f"hand the Lambda's function over with {FUNCTION_FLAG} (by the Lambda layer's name)"


def hint(env: dict, attempt: dict, fixture: dict, attempts: list[dict]) -> Hint | None:
    """The hint for one errored ``attempt`` of ``env`` (its ``runtime``) on the file the worker was
    handed as ``fixture``; ``attempts`` are every strategy's attempt on it in ``env``, which say
    what applies. ``None`` when no known family explains the error."""
    error = attempt.get("error")
    if not error:
        return None
    runtime = env.get("runtime") or {}
    python = ".".join(str(runtime.get("python") or "").split(".")[:2]) or None
    family = families.classify(
        error.get("type") or "",
        error.get("message") or "",
        error.get("traceback") or "",
        strategy=attempt["strategy"],
        fmt=fixture.get("format"),
        consumer_python=python,
        consumer_keras=runtime.get("keras"),
    )
    if family is None:
        return None
    label, action = family.label, family.action
    if family.id == "newer_config":
        label, action = keras_config_hint(error, fixture.get("saved_by_keras"), _reader_keras(runtime, attempt))
    return Hint(family.id, label, for_this_file(action, attempts, fixture, family.id))


def _reader_keras(runtime: dict, attempt: dict) -> str | None:
    """The Keras that read the file: tf_keras is Keras 2 whatever the environment's Keras is."""
    return "2" if strategyinfo.legacy_keras(attempt.get("strategy")) else runtime.get("keras")


def _version(text) -> tuple[int, ...] | None:
    found = re.match(r"(\d+)(?:\.(\d+))?", str(text or ""))
    if not found:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


def keras_direction(saved: str | None, reader: str | None) -> str | None:
    """``older``, ``newer`` or ``same``: the file's saving Keras against the reader's, compared as
    far as both are known (a reader known only as ``2`` compares by generation); ``None`` when
    either is unknown."""
    mine, theirs = _version(saved), _version(reader)
    if mine is None or theirs is None:
        return None
    depth = min(len(mine), len(theirs))
    mine, theirs = mine[:depth], theirs[:depth]
    return "older" if mine < theirs else "newer" if mine > theirs else "same"


_KEYWORDS = (
    re.compile(r"Unrecognized keyword arguments passed to (\w+): \{([^{}]*)\}"),
    re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'"),
    re.compile(r"()Keyword argument not understood:\W*(\w+)"),
)


def offending_keywords(error: dict) -> tuple[str, list[str]]:
    """``(class, [keyword])`` a config passed that the reader's Keras does not take, as the
    error names them (the class may be "")."""
    text = plain(f"{error.get('message') or ''}\n{error.get('traceback') or ''}")
    for pattern in _KEYWORDS:
        found = pattern.search(text)
        if found:
            owner, named = found.groups()
            keys = re.findall(r"'(\w+)'\s*:", named) or re.findall(r"\w+", named)[:1]
            return owner, list(dict.fromkeys(keys))
    return "", []


TRANSLATE = "translate its stored architecture into this Keras (the translate strategy)"


def keras_config_hint(error: dict, saved: str | None, reader: str | None) -> tuple[str, str]:
    """``(label, action)`` for a config that carries arguments the reader's Keras rejects, in the
    direction the versions show (``groups`` and ``time_major`` are Keras 2's, which Keras 3
    dropped: such a file is older than its reader, not newer)."""
    owner, keys = offending_keywords(error)
    plural = "s" if len(keys) != 1 else ""
    what = " ".join(part for part in (owner, f"argument{plural}", ", ".join(keys)) if part) if keys else "arguments"
    reader_name = f"Keras {reader}" if reader else "this Keras"
    direction = keras_direction(saved, reader)
    if direction == "older":
        generation = (_version(saved) or (0,))[0]
        by_tf_keras = " (the tf_keras strategy)" if generation == 2 else ""
        return (
            "config from an older Keras",
            f"the file was saved by Keras {saved}, whose {what} {reader_name} no longer takes: {TRANSLATE}, "
            f"load it with Keras {generation}{by_tf_keras}, or {REBUILD}",
        )
    if direction == "newer":
        return (
            "config from a newer Keras",
            f"the file was saved by Keras {saved}, whose {what} {reader_name} does not take yet: {TRANSLATE}, "
            f"load it with a Keras at least as new as {saved}, or {REBUILD}",
        )
    if direction == "same":
        return (
            "config this Keras does not accept",
            f"{reader_name} rejects the {what} of a file saved by the same Keras version: {REBUILD}",
        )
    unknown = "which Keras saved the file is not recorded" if not saved else "this environment's Keras is not known"
    return (
        "config this Keras does not accept",
        f"{reader_name} does not take the file's {what}, and {unknown}, so whether the file comes from an "
        f"older or a newer Keras cannot be told: load it with the Keras that saved it, or {REBUILD}",
    )


# -- naming only what applies --------------------------------------------------------------------

_SEPARATORS = ("; otherwise ", ", or ", "; or ", "; ")


def _alternatives(action: str) -> list[tuple[str, str]]:
    """``[(separator before it, alternative)]``: the action split where it offers another way, at
    the top level only (a ``;`` inside parentheses stays)."""
    parts, depth, start, at, separator = [], 0, 0, 0, ""
    while at < len(action):
        char = action[at]
        depth += char in "([{"
        depth -= char in ")]}"
        found = next((s for s in _SEPARATORS if depth == 0 and action.startswith(s, at)), None)
        if found:
            parts.append((separator, action[start:at]))
            separator, at = found, at + len(found)
            start = at
            continue
        at += 1
    parts.append((separator, action[start:]))
    return parts


def _mentions(text: str, name: str) -> bool:
    """Whether ``text`` names strategy ``name`` (not as code: ``load_model(``, ``tf_keras.``,
    ``custom_objects=``)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.(=])", text) is not None


def applicable(attempts: list[dict]) -> dict[str, bool]:
    """``{strategy: whether its attempt on this file applied}`` (anything but "does not apply")."""
    return {a["strategy"]: (a.get("verdict") or a.get("status")) != NOT_APPLICABLE for a in attempts}


def wanting_code(strategy: str, fixture: dict, family_id: str | None = None) -> str | None:
    """The user's flag a strategy that did not apply waited for, or ``None`` when what it lacks is
    not the user's code: a weights-level strategy needs the model's architecture (FaceNet's
    compat has), one that hands code over needs the custom classes or the Lambda's function."""
    if fixture.get("facenet"):
        return None
    if not strategyinfo.reads_config(strategy):
        return ARCHITECTURE_HINT
    if strategyinfo.hands_over(strategy):
        if family_id == "lambda_function_by_name":
            return FUNCTION_HINT
        if fixture.get("custom_classes"):
            return ARCHITECTURE_HINT
    return None


def for_this_file(action: str, attempts: list[dict], fixture: dict, family_id: str | None = None) -> str:
    """``action`` with every alternative that names a strategy that did not apply to this file
    left out, and the flags that would make such a strategy apply added."""
    applies = applicable(attempts)
    kept, flags = [], []
    for separator, text in _alternatives(action):
        missing = [name for name in applies if _mentions(text, name) and not applies[name]]
        if not missing:
            kept.append((separator, text))
            continue
        for name in missing:
            flag = wanting_code(name, fixture, family_id)
            if flag and flag not in flags:
                flags.append(flag)
    said = "".join(separator + text if number else text for number, (separator, text) in enumerate(kept))
    return ", or ".join(part for part in [said, *flags] if part)
