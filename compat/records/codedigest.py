"""The digest of the code that runs an attempt, per strategy, read from the source files.

An attempt is run by the worker, by one strategy class and by what every strategy shares,
and judged by the numeric check. Its code digest covers exactly that, so a change to one
strategy makes only that strategy's attempts stale:

- every ``compat.inside`` module the worker imports, followed statically from
  ``worker.py`` (imports inside functions included), except ``strategies.py``;
- ``strategies.py`` with the strategy classes cut out (the module's shared part); the
  registry tuple ``STRATEGIES`` is cut out too, since it lists what runs, not how;
- the strategy's own class and its bases within ``strategies.py`` (a subclass includes
  what it inherits);
- ``compat/records/verdicts.py``, the check that turns embeddings into a verdict.

Everything is parsed on the host, never imported, so the digest describes the files a
worker started now would run. What is digested is each file's syntax tree, written out in
one canonical form, without what cannot change behaviour: comments, docstrings (and any
other statement that is a bare string) and formatting (line breaks, quotes, redundant
parentheses, trailing commas). A tidy-up or a reformat keeps every key; a changed name,
constant or statement changes the keys of the attempts it can affect.

The canonical form is the same on every host Python (3.10 up): node types and their
fields in order, positions left out, and fields that are empty or absent left out too, so
a field that a newer ``ast`` adds with an empty default (``type_params``) changes nothing.

Only the code is digested, never where it sits: the shared parts are taken in the order of
their own sha256, so moving or renaming a file without changing it keeps every key.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
import json
from pathlib import Path

from compat.errors import HarnessFailure

INSIDE = ("compat", "inside")
WORKER = "worker"
STRATEGIES = "strategies"
REGISTRY = "STRATEGIES"
CHECK = ("compat", "records", "verdicts.py")
DIGEST_CHARS = 16


@dataclasses.dataclass(frozen=True)
class CodeDigests:
    shared: str
    """The worker, the modules it imports, the shared part of strategies.py and the check."""
    by_strategy: dict
    """Strategy name -> digest of the shared code plus that strategy's classes."""
    files: tuple
    """The files read, relative to the project root."""


def digest(parts) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()[:DIGEST_CHARS]


def code_digests(root: Path) -> CodeDigests:
    """The digests of the code under ``root`` (a project folder holding ``compat/``)."""
    root = Path(root)
    inside = root.joinpath(*INSIDE)
    strategies_path = inside / f"{STRATEGIES}.py"
    strategies_tree = _parse(strategies_path)
    classes = _strategy_classes(strategies_tree, strategies_path)
    shared_tree = _without(strategies_tree, classes)
    modules = _imported_modules(inside, [WORKER], {STRATEGIES: shared_tree})
    if STRATEGIES not in modules:
        raise HarnessFailure(f"{inside / (WORKER + '.py')} does not import {STRATEGIES}; cannot key attempts")
    shared_parts = []
    files = []
    for name in sorted(modules | {"__init__"}):
        path = inside / f"{name}.py"
        if not path.exists():
            continue
        files.append(path.relative_to(root).as_posix())
        shared_parts.append(canonical(shared_tree) if name == STRATEGIES else canonical(_parse(path)))
    check = root.joinpath(*CHECK)
    files.append(check.relative_to(root).as_posix())
    shared_parts.append(canonical(_parse(check)))
    shared = digest(sorted(shared_parts, key=lambda part: hashlib.sha256(part.encode()).digest()))
    by_strategy = {}
    for strategy, chain in classes.registry.items():
        # Modules only a strategy's own classes import belong to that strategy alone.
        own = sorted(_imported_modules(inside, _imports(classes.nodes[strategy]), {}) - modules)
        files += [
            f"{INSIDE[0]}/{INSIDE[1]}/{name}.py" for name in own if f"{INSIDE[0]}/{INSIDE[1]}/{name}.py" not in files
        ]
        parts = [shared, strategy] + [source for _, source in chain]
        by_strategy[strategy] = digest(parts + [canonical(_parse(inside / f"{name}.py")) for name in own])
    return CodeDigests(shared=shared, by_strategy=by_strategy, files=tuple(files))


# -- the canonical form of code ------------------------------------------------------------
# Fields that never change what runs: a type comment, the ``u`` of an old string literal.
# Positions (lineno, col_offset...) are attributes, not fields, and are never read.
_IGNORED_FIELDS = frozenset({"type_comment", "kind"})
_BODIES = ("body", "orelse", "finalbody")


def canonical(node) -> str:
    """The behaviour-bearing form of a syntax tree, as one string."""
    return json.dumps(_plain(_without_docstrings(node)), separators=(",", ":"))


def _plain(node):
    if isinstance(node, ast.AST):
        fields = []
        for name, value in ast.iter_fields(node):
            if name in _IGNORED_FIELDS or value is None or (isinstance(value, list) and not value):
                continue
            fields.append([name, _plain(value)])
        return [type(node).__name__, fields]
    if isinstance(node, list):
        return [_plain(item) for item in node]
    return [type(node).__name__, repr(node)]


def _is_bare_string(statement) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _without_docstrings(node):
    """A copy of ``node`` with every statement that is only a string literal taken out
    (docstrings, and strings that document an attribute): they compute nothing."""
    node = copy.deepcopy(node)
    for parent in ast.walk(node):
        for field in _BODIES:
            body = getattr(parent, field, None)
            if isinstance(body, list) and any(_is_bare_string(s) for s in body):
                kept = [s for s in body if not _is_bare_string(s)]
                # A body cannot be empty: a function whose whole body was its docstring does nothing.
                setattr(parent, field, kept or ([ast.Pass()] if field == "body" else []))
    return node


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@dataclasses.dataclass(frozen=True)
class _Classes:
    cut: tuple
    """The statements of strategies.py that are not shared: every strategy class and the registry."""
    registry: dict
    """Strategy name -> [(class name, canonical class), ...], the class first, then its bases."""
    nodes: dict
    """Strategy name -> the class statements of that chain (to find what they import)."""


def _strategy_classes(tree: ast.Module, path: Path) -> _Classes:
    defined = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    registry_node, registered = None, []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == REGISTRY for t in node.targets):
            registry_node = node
            registered = [
                call.func.id
                for call in ast.walk(node.value)
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            ]
    if registry_node is None or not registered:
        raise HarnessFailure(f"{path}: no {REGISTRY} = (...) registry of strategy instances")

    def chain(class_name: str) -> list[str]:
        found, pending = [], [class_name]
        while pending:
            current = pending.pop(0)
            if current in defined and current not in found:
                found.append(current)
                pending += [base.id for base in defined[current].bases if isinstance(base, ast.Name)]
        return found

    registry: dict[str, list[tuple[str, str]]] = {}
    nodes: dict[str, list[ast.stmt]] = {}
    cut: list[ast.stmt] = [registry_node]
    for class_name in registered:
        names = chain(class_name)
        if not names:
            raise HarnessFailure(f"{path}: {REGISTRY} names {class_name}, which is not a class of the module")
        strategy = _attribute(defined, names, "name")
        if not strategy:
            raise HarnessFailure(f'{path}: cannot read the name of {class_name} (a literal `name = "..."`)')
        registry[strategy] = [(n, canonical(defined[n])) for n in names]
        nodes[strategy] = [defined[n] for n in names]
        cut += [defined[n] for n in names if defined[n] not in cut]
    return _Classes(cut=tuple(cut), registry=registry, nodes=nodes)


def _attribute(defined: dict, names: list[str], attribute: str) -> str | None:
    """A string class attribute, looked up along ``names`` (the class, then its bases)."""
    for class_name in names:
        for statement in defined[class_name].body:
            if (
                isinstance(statement, ast.Assign)
                and isinstance(statement.value, ast.Constant)
                and any(isinstance(t, ast.Name) and t.id == attribute for t in statement.targets)
            ):
                return statement.value.value if isinstance(statement.value.value, str) else None
    return None


def _without(tree: ast.Module, classes: _Classes) -> ast.Module:
    """strategies.py without its strategy classes and registry: the module's shared part."""
    return ast.Module(body=[node for node in tree.body if not any(node is c for c in classes.cut)], type_ignores=[])


def _imports(nodes) -> list[str]:
    """The ``compat.inside`` modules the statements ``nodes`` import (inside functions too)."""
    found = []
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.ImportFrom) and node.module == "compat.inside":
                found += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("compat.inside."):
                found.append((node.module or "").split(".")[2])
            elif isinstance(node, ast.Import):
                found += [alias.name.split(".")[2] for alias in node.names if alias.name.startswith("compat.inside.")]
    return found


def _imported_modules(inside: Path, start: list[str], trees: dict) -> set[str]:
    """The ``compat.inside`` modules among ``start`` and what they import, directly or through
    each other; ``trees`` gives the part of a module to read where not the whole file."""
    found: set[str] = set()
    pending = list(start)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = inside / f"{name}.py"
        if not path.exists():
            continue
        found.add(name)
        pending += _imports([trees.get(name) or _parse(path)])
    return found
