"""The one catalog of environments that tox, nox, CI, the runner and the report read.

An environment is defined by its committed lock (``compat/locks/<id>.txt``), not by
its TensorFlow version: ``pip install tensorflow==2.16.2`` today resolves a newer
Keras than it did in 2024, and which Keras sits beside TF changes what loads.
Adding a version is one entry here plus ``compat lock <id>``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from compat.errors import BadInput

LOCK_DIR = Path(__file__).resolve().parent / "locks"

PRODUCER = "producer"
CONSUMER = "consumer"
BOTH = frozenset({PRODUCER, CONSUMER})


@dataclasses.dataclass(frozen=True)
class Environment:
    id: str
    python: str
    """CPython minor version the environment runs on, e.g. ``"3.6"``."""
    requirements: tuple[str, ...]
    """What is asked for; the lock holds what that resolves to."""
    keras_api: str
    """Which module the inside code calls Keras: ``keras``, ``tf.keras`` or ``tf_keras``."""
    summary: str
    roles: frozenset = BOTH
    env_vars: tuple[tuple[str, str], ...] = ()
    overrides: tuple[str, ...] = ()
    """uv overrides, e.g. to keep tf-keras from pulling a second TensorFlow."""
    spec: str = ""
    """The ad-hoc spec (``py3.12:tensorflow-cpu==2.19.0,keras==3.9.2``) an environment
    outside the catalog was made from (``compat.environments.adhoc``); empty for catalog entries."""
    lock_file: str = ""
    """Where the lock of an ad-hoc environment is; catalog locks are ``locks/<id>.txt``."""

    @property
    def lock_path(self) -> Path:
        return Path(self.lock_file) if self.lock_file else LOCK_DIR / f"{self.id}.txt"

    @property
    def produces(self) -> bool:
        return PRODUCER in self.roles

    @property
    def consumes(self) -> bool:
        return CONSUMER in self.roles

    def locked_versions(self) -> dict[str, str]:
        """``{distribution: version}`` read from the committed lock."""
        return read_lock(self.lock_path)


def read_lock(path: Path) -> dict[str, str]:
    """``{distribution: version}`` of a lock file (``name==version`` lines)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.split(";")[0].strip()
    return pins


# tf-keras beside Keras 3, so the `tf_keras` strategy is measured where users reach for it.
# It requires `tensorflow`, which would install a second TF over tensorflow-cpu.
_NO_SECOND_TF = ('tensorflow; sys_platform == "never"',)


def _with_tf_keras(minor: str) -> tuple[str, ...]:
    return (f"tf-keras=={minor}.*",)


_TF1_PINS = ("numpy<1.19", "h5py==2.10.0", "protobuf<3.21")
_LEGACY_TF2 = ("numpy<1.24", "protobuf<3.20")

ENVIRONMENTS: tuple[Environment, ...] = (
    Environment(
        "keras212",
        "3.6",
        ("tensorflow==1.3.0", "keras==2.1.2", "h5py==2.7.1", "numpy<1.17", "protobuf<3.20", "scipy<1.4"),
        "keras",
        "TF 1.3 + standalone Keras 2.1.2: the stack facenet_keras.h5 was made with",
    ),
    Environment(
        "keras224",
        "3.7",
        ("tensorflow==1.15.5", "keras==2.2.4") + _TF1_PINS,
        "keras",
        "TF 1.15 + standalone Keras 2.2.4",
    ),
    Environment(
        "tf115",
        "3.7",
        ("tensorflow==1.15.5",) + _TF1_PINS,
        "tf.keras",
        "TF 1.15, tf.keras",
    ),
    Environment(
        "tf24",
        "3.8",
        ("tensorflow-cpu==2.4.4", "numpy~=1.19.2", "h5py~=2.10.0", "protobuf<3.21"),
        "tf.keras",
        "TF 2.4, the last on h5py 2",
    ),
    Environment(
        "tf26",
        "3.9",
        ("tensorflow-cpu==2.6.5", "numpy~=1.19.2", "h5py~=3.1.0", "protobuf<3.20"),
        "tf.keras",
        "TF 2.6, the first on h5py 3",
    ),
    Environment(
        "tf210",
        "3.10",
        ("tensorflow-cpu==2.10.1",) + _LEGACY_TF2,
        "tf.keras",
        "TF 2.10",
    ),
    Environment("tf212", "3.11", ("tensorflow-cpu==2.12.1",), "tf.keras", "TF 2.12"),
    Environment("tf213", "3.11", ("tensorflow-cpu==2.13.1",), "tf.keras", "TF 2.13"),
    Environment(
        "tf215",
        "3.11",
        ("tensorflow-cpu==2.15.1",),
        "tf.keras",
        "TF 2.15, the last TF with Keras 2 inside",
    ),
    Environment(
        "tf216",
        "3.11",
        ("tensorflow-cpu==2.16.2", "keras==3.3.3", "numpy<2") + _with_tf_keras("2.16"),
        "keras",
        "TF 2.16 + Keras 3.3",
        overrides=_NO_SECOND_TF,
    ),
    Environment(
        "tf217",
        "3.11",
        ("tensorflow-cpu==2.17.1", "keras==3.5.0", "numpy<2") + _with_tf_keras("2.17"),
        "keras",
        "TF 2.17 + Keras 3.5",
        overrides=_NO_SECOND_TF,
    ),
    Environment(
        "tf218",
        "3.12",
        ("tensorflow-cpu==2.18.1", "keras==3.7.0", "numpy<2.1") + _with_tf_keras("2.18"),
        "keras",
        "TF 2.18 + Keras 3.7",
        overrides=_NO_SECOND_TF,
    ),
    Environment(
        "tf219",
        "3.12",
        ("tensorflow-cpu==2.19.1", "keras==3.10.0", "numpy<2.2") + _with_tf_keras("2.19"),
        "keras",
        "TF 2.19 + Keras 3.10",
        overrides=_NO_SECOND_TF,
    ),
    Environment(
        "tf220",
        "3.12",
        ("tensorflow-cpu==2.20.0", "keras==3.11.3") + _with_tf_keras("2.20"),
        "keras",
        "TF 2.20 + Keras 3.11",
        overrides=_NO_SECOND_TF,
    ),
    Environment(
        "tf221",
        "3.13",
        ("tensorflow-cpu==2.21.0", "keras==3.15.1") + _with_tf_keras("2.21"),
        "keras",
        "TF 2.21 + Keras 3.15",
        overrides=_NO_SECOND_TF,
    ),
    Environment(
        "tfkeras221",
        "3.12",
        ("tensorflow-cpu==2.21.0", "tf-keras==2.21.*"),
        "tf_keras",
        "TF 2.21 + tf-keras 2.21: Keras 2 on today's TF",
        env_vars=(("TF_USE_LEGACY_KERAS", "1"),),
        overrides=_NO_SECOND_TF,
    ),
    # Stacks as `pip install` resolves them today, beside the pinned ones: they only load. Users'
    # reports come from these, not from the stacks a release was tested with.
    Environment(
        "keras224pip",
        "3.7",
        ("tensorflow==1.14.0", "keras==2.2.4", "protobuf<3.21"),
        "keras",
        "as installed today: pip install tensorflow==1.14.0 keras==2.2.4, which resolves h5py 3.8 "
        "(protobuf held below 4, as TF's own import error asks)",
        roles=frozenset({CONSUMER}),
    ),
    Environment(
        "tf216k30",
        "3.11",
        ("tensorflow-cpu==2.16.2", "keras==3.0.5", "numpy<2"),
        "keras",
        "as installed in early 2024: TF 2.16 + Keras 3.0, without tf-keras",
        roles=frozenset({CONSUMER}),
    ),
    Environment(
        "tf221pip",
        "3.13",
        ("tensorflow-cpu==2.21.0",),
        "keras",
        "as installed today: pip install tensorflow-cpu==2.21.0, the Keras it resolves, no tf-keras",
        roles=frozenset({CONSUMER}),
    ),
    Environment(
        "keras315jax",
        "3.12",
        ("keras==3.15.1", "jax[cpu]", "h5py"),
        "keras",
        "Keras 3.15 on the JAX backend, no TensorFlow",
        env_vars=(("KERAS_BACKEND", "jax"),),
    ),
)

_BY_ID = {env.id: env for env in ENVIRONMENTS}


class UnknownEnvironment(BadInput):
    def __str__(self) -> str:
        return f"unknown environment {self.args[0]!r}; the catalog has: {', '.join(_BY_ID)}"


def get(env_id: str) -> Environment:
    try:
        return _BY_ID[env_id]
    except KeyError:
        raise UnknownEnvironment(env_id) from None


def ids() -> list[str]:
    return [env.id for env in ENVIRONMENTS]


def producers() -> list[Environment]:
    return [env for env in ENVIRONMENTS if env.produces]


def consumers() -> list[Environment]:
    return [env for env in ENVIRONMENTS if env.consumes]


def require_consumer(env: Environment) -> Environment:
    """``env``, or the one line saying it loads nothing (a producer-only or unknown role)."""
    if not env.consumes:
        raise BadInput(f"{env.id} is not a consumer environment; consumers: {', '.join(e.id for e in consumers())}")
    return env
