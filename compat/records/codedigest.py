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

Everything is read as text on the host (``ast`` finds the class boundaries), never
imported, so the digest describes the files a worker started now would run. Comments
count: a digest of the text cannot tell them from code, and a needless re-run is better
than a stale verdict.

Only the text is digested, never where it sits: the shared parts are taken in the order of
their own sha256, so moving or renaming a file without changing it keeps every key.
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
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
    modules = _imported_modules(inside, WORKER)
    if STRATEGIES not in modules:
        raise HarnessFailure(f"{inside / (WORKER + '.py')} does not import {STRATEGIES}; cannot key attempts")
    strategies_path = inside / f"{STRATEGIES}.py"
    text = strategies_path.read_text()
    classes = _strategy_classes(text, strategies_path)
    shared_parts = []
    files = []
    for name in sorted(modules | {"__init__"}):
        path = inside / f"{name}.py"
        if not path.exists():
            continue
        files.append(path.relative_to(root).as_posix())
        shared_parts.append(_shared_text(text, classes) if name == STRATEGIES else path.read_text())
    check = root.joinpath(*CHECK)
    files.append(check.relative_to(root).as_posix())
    shared_parts.append(check.read_text())
    shared = digest(sorted(shared_parts, key=lambda part: hashlib.sha256(part.encode()).digest()))
    by_strategy = {strategy: digest([shared, strategy] + [source for _, source in chain])
                   for strategy, chain in classes.registry.items()}
    return CodeDigests(shared=shared, by_strategy=by_strategy, files=tuple(files))


@dataclasses.dataclass(frozen=True)
class _Classes:
    spans: tuple
    """(first line, last line) of every strategy class and of the registry, 1-based."""
    registry: dict
    """Strategy name -> [(class name, class source), ...], the class first, then its bases."""


def _strategy_classes(text: str, path: Path) -> _Classes:
    tree = ast.parse(text, str(path))
    lines = text.splitlines(keepends=True)
    defined = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    registry_node, registered = None, []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == REGISTRY for t in node.targets):
            registry_node = node
            registered = [call.func.id for call in ast.walk(node.value)
                          if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)]
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

    def source(node) -> str:
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        return "".join(lines[first - 1:node.end_lineno])

    registry, cut = {}, set()
    for class_name in registered:
        names = chain(class_name)
        if not names:
            raise HarnessFailure(f"{path}: {REGISTRY} names {class_name}, which is not a class of the module")
        strategy = _attribute(defined, names, "name")
        if not strategy:
            raise HarnessFailure(f"{path}: cannot read the name of {class_name} (a literal `name = \"...\"`)")
        registry[strategy] = [(n, source(defined[n])) for n in names]
        cut.update(names)
    spans = [(min([defined[n].lineno] + [d.lineno for d in defined[n].decorator_list]), defined[n].end_lineno)
             for n in cut]
    spans.append((registry_node.lineno, registry_node.end_lineno))
    return _Classes(spans=tuple(sorted(spans)), registry=registry)


def _attribute(defined: dict, names: list[str], attribute: str) -> str | None:
    """A string class attribute, looked up along ``names`` (the class, then its bases)."""
    for class_name in names:
        for statement in defined[class_name].body:
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant) \
                    and any(isinstance(t, ast.Name) and t.id == attribute for t in statement.targets):
                return statement.value.value if isinstance(statement.value.value, str) else None
    return None


def _shared_text(text: str, classes: _Classes) -> str:
    lines = text.splitlines(keepends=True)
    removed = set()
    for first, last in classes.spans:
        removed.update(range(first, last + 1))
    return "".join(line for number, line in enumerate(lines, 1) if number not in removed)


def _imported_modules(inside: Path, start: str) -> set[str]:
    """The ``compat.inside`` modules ``start`` imports, directly or through each other."""
    found, pending = set(), [start]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = inside / f"{name}.py"
        if not path.exists():
            continue
        found.add(name)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "compat.inside":
                pending += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("compat.inside."):
                pending.append(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                pending += [alias.name.split(".")[2] for alias in node.names
                            if alias.name.startswith("compat.inside.")]
    return found
