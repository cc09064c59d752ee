"""The tox and nox environment names, derived from the catalog.

``toxfile.py`` and ``noxfile.py`` read them from here, so the catalog stays the one
source of truth; a test checks that what tox and nox list equals what this module derives.
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


def describe(name: str) -> str:
    """One line saying what the environment ``name`` runs, for ``tox list`` and ``nox --list``."""
    if name == "report":
        return "merge every results file and render reports/"
    if name.startswith("gen-"):
        return f"write {name[4:]}'s fixtures (add `-- --check` to compare with the committed ones)"
    if name.startswith("regress-"):
        old, new = name[len("regress-") :].split("-to-")
        return f"what loads under {old} but not under {new}"
    consumer, producer = name.split("-load-")
    if producer == "all":
        return f"load every producer's fixtures under {consumer} with every strategy"
    return f"load {producer}'s fixtures under {consumer} with every strategy"
