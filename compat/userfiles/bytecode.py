"""What a function stored as bytecode does, read in the Python that can read it.

Keras 2 marshals every Lambda's function into the file (``config.function = [code, defaults,
closure]``), and Keras >= 2.13 and 3 a lambda given as a loss, metric or initializer; only the
CPython minor that wrote it (or one of its bytecode group) reads it. Each distinct code is
handed to ``compat/inside/bytecode.py`` under the bare interpreter of every catalog minor (3.6
to 3.13, found as the environments find theirs; no TensorFlow, no environment), one process per
minor, isolated and time-limited. That script only unmarshals and disassembles: the function
is never made or called and nothing it names is imported.

A minor *reads* a code when it unmarshals it and its disassembly holds together; it *misreads*
it when it unmarshals it but the disassembly shows another minor's bytecode (unknown opcodes, a
cache entry where an instruction belongs, stack effects that do not add up); otherwise it cannot
read it, and a crashed or hung interpreter is that answer too, never a lost result. The first
minor that reads a code is the one it is shown in: "read in Python 3.6 (also readable by 3.7)".
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from compat import catalog
from compat.environments import envs

SCRIPT = Path(__file__).resolve().parents[1] / "inside" / "bytecode.py"
TIMEOUT = 10.0  # seconds for one interpreter to read every code it is given
MEMORY = 1 << 30  # bytes of address space a reader may take
READ, MISREAD, UNREADABLE = "read", "misread", "unreadable"
DIS_LINES = 6  # lines of disassembly the text shows per code
CONST_CHARS = 60  # characters of a constant the text shows


def digest(code: str) -> str:
    """The code's short digest, the one ``compat scan``'s findings name (``sha256 b3a8e7661547``)."""
    return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()[:12]


def minors() -> list[str]:
    """The catalog's CPython minors, oldest first."""
    found = {env.python for env in catalog.ENVIRONMENTS}
    return sorted(found, key=lambda minor: tuple(int(part) for part in minor.split(".")))


@functools.cache
def interpreter(minor: str) -> str | None:
    """The bare CPython ``minor`` the catalog's environments are built from, or ``None``."""
    try:
        return envs.find_interpreter(minor)
    except envs.EnvironmentError_:
        return None


def _limits() -> None:  # pragma: no cover - runs in the child between fork and exec
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _died(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the interpreter crashed reading it ({name})"
    return f"the interpreter exited with status {returncode} reading it"


def parse_output(stdout: str, returncode: int, count: int) -> list[dict] | None:
    """Each code's answer from one reader's output: ``{"state", "reason", "python", "code"}``;
    ``None`` when the process gave no answer for all ``count`` codes (it crashed or was killed)."""
    if returncode != 0:
        return None
    try:
        answer = json.loads(stdout)
        results, python = answer["results"], str(answer.get("python", ""))
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(results, list) or len(results) != count:
        return None
    parsed = []
    for result in results:
        if not isinstance(result, dict) or not result.get("ok") or not isinstance(result.get("code"), dict):
            reason = result.get("error") if isinstance(result, dict) else None
            parsed.append({"state": UNREADABLE, "reason": str(reason or "no answer"), "python": python, "code": None})
            continue
        problems = all_problems(result["code"])
        state = MISREAD if problems else READ
        parsed.append({"state": state, "reason": "; ".join(problems), "python": python, "code": result["code"]})
    return parsed


def all_problems(code: dict) -> list[str]:
    """What shows a code object (and those nested in it) misread, with the name of each."""
    found = [f"{code.get('name')}: {problem}" for problem in code.get("problems") or []]
    for nested in code.get("nested") or []:
        found += all_problems(nested)
    return found


def _run(python: str, codes: list[str], timeout: float) -> list[dict] | None:
    request = json.dumps({"codes": codes})
    with tempfile.TemporaryDirectory(prefix="compat-bytecode-") as scratch:
        try:
            done = subprocess.run(
                [python, "-I", "-S", "-B", str(SCRIPT)],
                input=request,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=scratch,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "HOME": scratch},
                preexec_fn=_limits,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [_no_answer(f"no answer within {timeout:g} s")] * len(codes) if len(codes) == 1 else None
        except OSError as exc:
            return [_no_answer(f"the interpreter did not start: {exc}")] * len(codes)
    parsed = parse_output(done.stdout, done.returncode, len(codes))
    if parsed is None and len(codes) == 1:
        return [_no_answer(_died(done.returncode) if done.returncode else "it gave no readable answer")]
    return parsed


def _no_answer(reason: str) -> dict:
    return {"state": UNREADABLE, "reason": reason, "python": "", "code": None}


def read_in(python: str, codes: list[str], timeout: float = TIMEOUT) -> list[dict]:
    """Each code's answer from ``python``: all in one process, and when that process gives no
    answer (a code crashed it), each code again in a process of its own."""
    if not codes:
        return []
    answers = _run(python, codes, timeout)
    if answers is None:
        answers = [(_run(python, [code], timeout) or [_no_answer("no answer")])[0] for code in codes]
    return answers


def read_all(codes: Iterable[str], wanted: list[str] | None = None, timeout: float = TIMEOUT) -> dict[str, dict]:
    """``{digest: reading}`` for each distinct code, read in each of ``wanted`` (default: every
    catalog minor) that has an interpreter here. A reading is what ``summarise`` makes of it."""
    distinct = list(dict.fromkeys(codes))
    by_minor: dict[str, list[dict]] = {}
    missing = []
    for minor in wanted or minors():
        python = interpreter(minor)
        if python is None:
            missing.append(minor)
        else:
            by_minor[minor] = read_in(python, distinct, timeout)
    return {
        digest(code): summarise({minor: answers[number] for minor, answers in by_minor.items()}, missing)
        for number, code in enumerate(distinct)
    }


def summarise(answers: dict[str, dict], missing: list[str]) -> dict:
    """One code's reading from each minor's answer (minors oldest first): the minor it is read
    in, the others that read it, misread it or cannot read it, and the code as first read."""
    readers = [minor for minor, a in answers.items() if a["state"] == READ]
    first = answers[readers[0]] if readers else None
    reading = {
        "read_in": readers[0] if readers else None,
        "python": first["python"] if first else None,
        "also_readable_by": readers[1:],
        "misread_by": {m: a["reason"] for m, a in answers.items() if a["state"] == MISREAD},
        "not_readable_by": {m: a["reason"] for m, a in answers.items() if a["state"] == UNREADABLE},
        "no_interpreter": list(missing),
        "code": first["code"] if first else None,
    }
    reading["wording"] = wording(reading)
    return reading


def _minors(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


def wording(reading: dict) -> str:
    """``read in Python 3.6 (also readable by 3.7)``, or ``no available Python reads it (...)``."""
    if reading["read_in"]:
        text = f"read in Python {reading['read_in']}"
        if reading["also_readable_by"]:
            text += f" (also readable by {_minors(reading['also_readable_by'])})"
    else:
        tried = list(reading["misread_by"]) + list(reading["not_readable_by"])
        text = "no available Python reads it" + (f" (tried {_minors(sorted(tried, key=_order))})" if tried else "")
    if reading["misread_by"]:
        verbs = "unmarshal it but misread" if len(reading["misread_by"]) > 1 else "unmarshals it but misreads"
        text += f"; {_minors(reading['misread_by'])} {verbs} it"
    if reading["no_interpreter"]:
        text += f"; no interpreter here for {_minors(reading['no_interpreter'])}"
    return text


def _order(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.split("."))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def code_lines(code: dict, indent: str = "  ", dis_lines: int = DIS_LINES) -> list[str]:
    """A code object in a few lines: signature, names, constants, the first lines of its
    disassembly and the signatures of code objects nested in it."""
    lines = [f"{indent}{code['signature']}"]
    if code.get("names"):
        lines.append(f"{indent}names: {', '.join(code['names'])}")
    if code.get("freevars"):
        lines.append(f"{indent}free variables: {', '.join(code['freevars'])}")
    constants = [_cut(c, CONST_CHARS) for c in code.get("constants") or [] if c != "None"]
    if constants:
        lines.append(f"{indent}constants: {', '.join(constants)}")
    listing = [line.rstrip() for line in (code.get("disassembly") or "").splitlines() if line.strip()]
    lines += [f"{indent}| {line}" for line in listing[:dis_lines]]
    if len(listing) > dis_lines:
        lines.append(f"{indent}| ... {len(listing) - dis_lines} more lines")
    nested = [n["signature"] for n in code.get("nested") or []]
    if nested:
        lines.append(f"{indent}nested code: {', '.join(nested)}")
    return lines


def block(place: str, reading: dict, indent: str = "  ") -> list[str]:
    """The text for one stored function: where, the Python that reads it, what it does."""
    lines = [f"{indent}{place}: {reading['wording']}"]
    if reading.get("code"):
        lines += code_lines(reading["code"], indent + "  ")
    return lines
