"""What the host's rules and pages know of a strategy, read from its class, never from its name.

A strategy's class (``compat.inside.strategies``) says what it does: whether Keras reads the
architecture the file stores, whether the load is handed the model's code, whether it
loads with tf_keras instead of the environment's own Keras, whether it gives a Keras model,
and how a narrow page cell or the terminal table names it. A strategy recorded in an older
document that the registry no longer has gets the plainest answers: it reads the config,
hands nothing over, uses the environment's Keras, gives a model, and is named in full.
"""

from __future__ import annotations

from compat.inside import strategies


def _strategy(name: str | None):
    return strategies.BY_NAME.get(name or "")


def reads_config(name: str | None) -> bool:
    found = _strategy(name)
    return found.reads_config if found else True


def hands_over(name: str | None) -> bool:
    found = _strategy(name)
    return found.hands_over if found else False


def legacy_keras(name: str | None) -> bool:
    found = _strategy(name)
    return found.legacy_keras if found else False


def carried(name: str | None) -> bool:
    """Whether the load goes through compat's translator (the file's architecture carried into
    the reader's Keras by named rules), which the recipe takes along beside it."""
    return isinstance(_strategy(name), strategies.Translate)


def reads_format(name: str | None, fmt: str) -> bool:
    """Whether the strategy opens files of this format at all (else it does not apply, at no cost)."""
    found = _strategy(name)
    return fmt in found.formats if found else True


def gives_model(name: str | None) -> bool:
    found = _strategy(name)
    return found.gives_model if found else True


def label(name: str) -> str:
    found = _strategy(name)
    return (found.label if found else "") or name


def abbreviation(name: str) -> str | None:
    found = _strategy(name)
    return (found.abbreviation if found else "") or None
