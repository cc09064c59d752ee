"""What stored bytecode does, as the interpreter running this script reads it.

Run by the host (``compat.userfiles.bytecode``) with a bare CPython of each minor, isolated
(``-I``), never inside an environment and never imported by the worker. Standard library
only, Python 3.6 up.

stdin: ``{"codes": ["<base64 of marshal.dumps(code)>", ...]}`` (Keras' ``func_dump``).
stdout: ``{"python": "3.6.15", "results": [{"ok": true, "code": {...}} or {"ok": false,
"error": "..."}]}``, one result per code, in order.

Each code is only unmarshalled and disassembled: the function is never made, never called,
and nothing it names is imported (``marshal.loads`` and ``dis`` do neither). A code object
is described by its name, arguments, names, constants (``repr``, cut short), free and cell
variables and its disassembly; a code object among its constants is described the same way,
nested. A code this interpreter cannot read gives ``ok: false`` and the reason; a code that
crashes the interpreter gives nothing, and the host takes that as the answer.
"""

import base64
import binascii
import dis
import json
import marshal
import re
import sys
import types

CONST_REPR = 200  # characters of a constant's repr kept
DIS_CHARS = 200000  # characters of one code object's disassembly kept
MAX_DEPTH = 20  # nested code objects followed
MAX_CODE_BYTES = 4 * 1024 * 1024  # a stored function bigger than this is not read
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # a nested code object's address: differs every run

CO_VARARGS = 0x04
CO_VARKEYWORDS = 0x08


def _cut(text, limit):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _const(value):
    if isinstance(value, types.CodeType):
        return f"<code {value.co_name}>"
    try:
        return _cut(repr(value), CONST_REPR)
    except Exception as exc:  # a constant is a literal; still, a repr must never stop the reading
        return f"<unprintable {type(value).__name__}: {exc}>"


def _arguments(code):
    """The argument names in the order the signature has them: positional (and positional
    only), keyword only, then ``*args`` and ``**kwargs``."""
    positional = code.co_argcount  # from 3.8 on, positional-only arguments included
    names = list(code.co_varnames)
    count = positional + code.co_kwonlyargcount
    args = names[:positional]
    kwonly = names[positional:count]
    star = None
    if code.co_flags & CO_VARARGS:
        star = names[count]
        count += 1
    starstar = names[count] if code.co_flags & CO_VARKEYWORDS else None
    shown = list(args)
    posonly = getattr(code, "co_posonlyargcount", 0)
    if posonly:
        shown.insert(posonly, "/")
    if star is not None:
        shown.append("*" + star)
    elif kwonly:
        shown.append("*")
    shown += kwonly
    if starstar is not None:
        shown.append("**" + starstar)
    return args, kwonly, star, starstar, shown


STOPS = ("RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE", "YIELD_VALUE")


def _entry_stack_problem(code, instructions):
    """Why the straight-line start of ``code`` cannot be this interpreter's own bytecode, or
    ``None``: up to its first jump, return or raise, each instruction's stack effect (as this
    interpreter counts it) must keep the stack between empty and ``co_stacksize``. Bytecode of
    another minor that happens to unmarshal is misread here (3.13 reading 3.11's starts with a
    BINARY_OP on an empty stack)."""
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    depth = 0
    for instruction in instructions:
        if instruction.opcode in jumps or instruction.opname in STOPS:
            return None
        if instruction.opname in ("EXTENDED_ARG", "CACHE", "NOP"):
            continue
        try:
            if instruction.opcode >= dis.HAVE_ARGUMENT:
                effect = dis.stack_effect(instruction.opcode, instruction.arg or 0)
            else:
                effect = dis.stack_effect(instruction.opcode)
        except (ValueError, TypeError) as exc:
            return f"no stack effect for {instruction.opname} at offset {instruction.offset} ({exc})"
        depth += effect
        if depth < 0:
            return f"{instruction.opname} at offset {instruction.offset} pops an empty stack"
        if depth > code.co_stacksize:
            return f"the stack outgrows co_stacksize {code.co_stacksize} at offset {instruction.offset}"
    return None


def _disassembly(code):
    """``(text, problems)``: this code object's own disassembly (nested code objects are
    described on their own) and what shows that this interpreter misreads it: opcodes it
    does not know, a cache entry where an instruction should be (3.11 up), a start whose
    stack effects do not add up, or ``dis`` failing."""
    problems = []
    try:
        instructions = list(dis.get_instructions(code))
        unknown = sorted(set(i.opname for i in instructions if i.opname.startswith("<")))
        if unknown:
            problems.append("unknown opcodes " + ", ".join(unknown))
        stray = [i.offset for i in instructions if i.opname == "CACHE"]
        if stray:
            problems.append(f"cache entries where instructions belong (offset {stray[0]})")
        stack = _entry_stack_problem(code, instructions)
        if stack:
            problems.append(stack)
        text = ADDRESS.sub("", dis.Bytecode(code).dis())
    except Exception as exc:  # bytecode of another minor can trip dis: that is an answer too
        return "", problems + [f"dis fails: {type(exc).__name__}: {exc}"]
    return _cut(text, DIS_CHARS), problems


def describe(code, depth=0):
    args, kwonly, star, starstar, shown = _arguments(code)
    text, problems = _disassembly(code)
    described = {
        "name": code.co_name,
        "qualname": getattr(code, "co_qualname", code.co_name),
        "filename": code.co_filename,
        "firstlineno": code.co_firstlineno,
        "signature": "{}({})".format(code.co_name, ", ".join(shown)),
        "arguments": args,
        "kwonly_arguments": kwonly,
        "varargs": star,
        "varkeywords": starstar,
        "posonly_count": getattr(code, "co_posonlyargcount", 0),
        "varnames": list(code.co_varnames),
        "names": list(code.co_names),
        "freevars": list(code.co_freevars),
        "cellvars": list(code.co_cellvars),
        "constants": [_const(c) for c in code.co_consts],
        "flags": code.co_flags,
        "disassembly": text,
        "problems": problems,
        "nested": [],
    }
    if depth < MAX_DEPTH:
        described["nested"] = [describe(c, depth + 1) for c in code.co_consts if isinstance(c, types.CodeType)]
    return described


def read(text):
    if not isinstance(text, str):
        return {"ok": False, "error": "not a base64 string"}
    try:
        raw = base64.b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        return {"ok": False, "error": f"not base64: {exc}"}
    if len(raw) > MAX_CODE_BYTES:
        return {"ok": False, "error": f"{len(raw)} bytes: larger than {MAX_CODE_BYTES}, not read"}
    try:
        code = marshal.loads(raw)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    if not isinstance(code, types.CodeType):
        return {"ok": False, "error": f"unmarshals to {type(code).__name__}, not a code object"}
    try:
        return {"ok": True, "code": describe(code)}
    except Exception as exc:
        return {"ok": False, "error": f"unmarshalled, not described: {type(exc).__name__}: {exc}"}


def main():
    request = json.loads(sys.stdin.read())
    results = [read(text) for text in request.get("codes") or []]
    version = ".".join(str(part) for part in sys.version_info[:3])
    sys.stdout.write(json.dumps({"python": version, "results": results}))
    sys.stdout.write("\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
