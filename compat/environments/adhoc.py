"""Environments outside the catalog, named by a spec wherever a catalog id is accepted.

    py3.12:tensorflow-cpu==2.19.0,keras==3.9.2    CPython 3.12 and these requirements
    py3.11:path/to/requirements.txt               CPython 3.11 and a requirements or lock file

A spec is locked with uv once (the lock is kept under ``<venvs>/adhoc-locks/``, named by
the spec, so the same spec means the same stack on later runs; delete it to resolve
again) and built like a catalog environment into ``<venvs>/adhoc-<lock digest>``: two
specs that resolve to the same lock share one environment. The result is a
``catalog.Environment`` that is not in the catalog list, a consumer only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from compat import catalog
from compat.environments import envs
from compat.errors import BadInput

SPEC = re.compile(r"^py(?P<python>\d+\.\d+):(?P<rest>.*)$", re.DOTALL)
FILE_SUFFIXES = (".txt", ".in", ".toml", ".cfg", ".lock")
_OPERATOR_START = ("<", ">", "=", "!", "~")
TENSORFLOW_NAMES = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-intel",
    "tensorflow-macos",
    "tf-nightly",
    "tf-nightly-cpu",
)


class SpecError(BadInput):
    """A spec that cannot be an environment, in one line (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Spec:
    text: str
    python: str
    requirements: tuple[str, ...] = ()
    """The requirements listed in the spec itself (empty when it names a file)."""
    file: str | None = None
    """The requirements or lock file the spec names, as given."""


def is_spec(text: str) -> bool:
    return bool(SPEC.match(text.strip()))


def parse(text: str) -> Spec:
    """A spec's parts; a malformed one is ``SpecError``. Reads no file and runs nothing."""
    text = text.strip()
    match = SPEC.match(text)
    if not match:
        raise SpecError(
            f"{text!r} is neither a catalog id nor a spec such as "
            "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2 or py3.11:requirements.txt"
        )
    python, rest = match["python"], match["rest"].strip()
    if not rest:
        raise SpecError(f"spec {text!r} names no requirements after py{python}:")
    if _names_file(rest):
        return Spec(text=text, python=python, file=rest)
    requirements = _join_specifiers(rest.split(","))
    for requirement in requirements:
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            raise SpecError(f"spec {text!r}: {requirement!r} is not a requirement ({exc})") from None
    return Spec(text=text, python=python, requirements=tuple(requirements))


def _names_file(rest: str) -> bool:
    return os.sep in rest or "/" in rest or rest.endswith(FILE_SUFFIXES) or os.path.isfile(rest)


def _join_specifiers(pieces: list[str]) -> list[str]:
    """``numpy>=1.23,<2`` split on commas is one requirement, not two."""
    requirements: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        if piece.startswith(_OPERATOR_START) and requirements:
            requirements[-1] += "," + piece
        else:
            requirements.append(piece)
    return requirements


def split_environments(text: str) -> list[str]:
    """``tf215,py3.12:tensorflow-cpu==2.19.0,keras==3.9.2,tf221`` -> three environments.

    A piece that is a catalog id or starts a spec begins a new environment; any other
    piece continues the spec before it.
    """
    items: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if piece in catalog.ids() or is_spec(piece) or not items or not is_spec(items[-1]):
            items.append(piece)
        else:
            items[-1] += "," + piece
    return items


def environment(text: str, log=print) -> catalog.Environment:
    """The catalog environment ``text`` names, or the ad-hoc one its spec makes (locked now if new)."""
    text = text.strip()
    if is_spec(text):
        return from_spec(parse(text), log)
    try:
        return catalog.get(text)
    except catalog.UnknownEnvironment as exc:
        raise SpecError(
            f"{exc}; or a spec such as py3.12:tensorflow-cpu==2.19.0,keras==3.9.2 or py3.11:requirements.txt"
        ) from None


def from_spec(spec: Spec, log=print) -> catalog.Environment:
    lock = _locked(spec, log)
    pins = catalog.read_lock(lock)
    api, env_vars = keras_api(pins, spec.text)
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    return catalog.Environment(
        id=f"adhoc-{digest}",
        python=spec.python,
        # A spec lists requirements or names one file: parse gives it exactly one of the two.
        requirements=spec.requirements or ((spec.file,) if spec.file else ()),
        keras_api=api,
        summary=describe(pins) or spec.text,
        roles=frozenset({catalog.CONSUMER}),
        env_vars=env_vars,
        spec=spec.text,
        lock_file=str(lock),
    )


def lock_dir() -> Path:
    return envs.venv_root() / "adhoc-locks"


def _locked(spec: Spec, log) -> Path:
    """The spec's lock: the one made on an earlier run, else a new one from uv."""
    source = _source_bytes(spec)
    key = hashlib.sha256(spec.python.encode() + b"\n" + source).hexdigest()[:16]
    lock = lock_dir() / f"{key}.txt"
    if lock.exists():
        return lock
    python = envs.find_interpreter(spec.python, spec.text)
    lock.parent.mkdir(parents=True, exist_ok=True)
    log(f"[compat] locking {spec.text} with uv")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lock.txt"
        if spec.file:
            envs.resolve(python, Path(spec.file), out, what=spec.text)
        else:
            requirements = Path(tmp) / "requirements.in"
            requirements.write_text("\n".join(spec.requirements) + "\n")
            envs.resolve(python, requirements, out, _overrides(spec.requirements), what=spec.text)
        header = f"# Lock of the ad-hoc environment {spec.text} (CPython {spec.python}).\n"
        staged = lock.with_name(f".{lock.name}.{os.getpid()}")
        staged.write_text(header + out.read_text())
        os.replace(staged, lock)  # two runs locking the same spec at once both end with a whole file
    return lock


def _source_bytes(spec: Spec) -> bytes:
    if not spec.file:
        return "\n".join(spec.requirements).encode()
    path = Path(spec.file)
    if not path.is_file():
        raise SpecError(f"spec {spec.text!r}: no such requirements or lock file {spec.file}")
    return path.read_bytes()


def _overrides(requirements) -> tuple[str, ...]:
    # As in the catalog: tf-keras requires `tensorflow`, which would install a second TF
    # over tensorflow-cpu; keep it out unless `tensorflow` itself is asked for.
    names = {Requirement(r).name.lower() for r in requirements}
    if "tensorflow-cpu" in names and "tensorflow" not in names:
        return ('tensorflow; sys_platform == "never"',)
    return ()


def keras_api(pins: dict[str, str], text: str = "") -> tuple[str, tuple[tuple[str, str], ...]]:
    """Which module the inside code calls Keras in a resolved stack, and the variables it needs."""
    tensorflow = next((pins[name] for name in TENSORFLOW_NAMES if name in pins), None)
    keras = pins.get("keras")
    if keras and _major(keras) >= 3:
        if tensorflow:
            return "keras", ()
        backend = next((name for name in ("jax", "torch") if name in pins), None)
        if backend is None:
            raise SpecError(
                f"spec {text!r} resolves to Keras {keras} without TensorFlow, JAX or torch "
                "to run it on; add one of them"
            )
        return "keras", (("KERAS_BACKEND", backend),)
    if tensorflow and _major(tensorflow) >= 2:
        return "tf.keras", ()  # keras 2.x beside TF 2 is tf.keras' own implementation
    if keras:
        return "keras", ()  # standalone Keras 2 on TF 1
    if tensorflow:
        return "tf.keras", ()
    raise SpecError(f"spec {text!r} resolves to neither TensorFlow nor Keras; nothing to load models with")


def _major(version: str) -> int:
    digits = re.match(r"\d+", version)
    return int(digits.group(0)) if digits else 0


SHOWN = ("tensorflow", "tensorflow-cpu", "keras", "tf-keras", "jax", "torch", "numpy", "h5py")


def describe(pins: dict[str, str]) -> str:
    """``tensorflow-cpu 2.16.2, keras 3.5.0, numpy 1.26.4, h5py 3.16.0``: what a stack resolved to."""
    return ", ".join(f"{name} {pins[name]}" for name in SHOWN if name in pins)
