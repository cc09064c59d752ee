"""The tox and nox environment names, derived from the catalog.

``tox.ini`` spells them out as generative lists (tox reads no Python); a test checks
that what tox and nox list equals what this module derives, so the catalog stays the
one source of truth.
"""
from __future__ import annotations

from compat import catalog


def gen_names() -> list[str]:
    return [f"gen-{env.id}" for env in catalog.producers()]


def load_names() -> list[str]:
    producers = [env.id for env in catalog.producers()] + ["all"]
    return [f"{c.id}-load-{p}" for c in catalog.consumers() for p in producers]


def load_all_names() -> list[str]:
    return [f"{c.id}-load-all" for c in catalog.consumers()]


def regress_names() -> list[str]:
    ids = [env.id for env in catalog.consumers()]
    # Every ordered pair, as tox's generative list spells it (X-to-X is a harmless no-op).
    return [f"regress-{old}-to-{new}" for old in ids for new in ids]


def env_names() -> list[str]:
    return gen_names() + load_names() + ["report"] + regress_names()


def tox_env_list() -> str:
    """The ``env_list`` block of tox.ini, for ``compat`` maintainers adding an environment."""
    producers = ",".join(env.id for env in catalog.producers())
    consumers = ",".join(env.id for env in catalog.consumers())
    return "\n".join([
        "env_list =",
        f"    gen-{{{producers}}}",
        f"    {{{consumers}}}-load-{{{producers},all}}",
        "    report",
        f"    regress-{{{consumers}}}-to-{{{consumers}}}",
    ])


def tox_labels() -> str:
    return "\n".join([
        "labels =",
        "    load = " + ", ".join(load_all_names()),
        "    gen = " + ", ".join(gen_names()),
    ])


if __name__ == "__main__":
    print(tox_env_list())
    print(tox_labels())
