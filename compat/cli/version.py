"""``compat --version``: the package and the catalog it measures."""

from __future__ import annotations

import argparse

from compat import catalog


def version_text() -> str:
    """``compat 0.1.0 (catalog 1a2b3c4d5e6f)``: the package and the catalog it measures, as one
    digest of every environment's id and lock digest (what the attempts' keys are made of)."""
    import compat
    from compat.records import attemptkey, codedigest

    entries = [f"{env.id}={attemptkey.lock_digest(env)}" for env in catalog.ENVIRONMENTS]
    return f"compat {compat.__version__} (catalog {codedigest.digest(entries)}, {len(entries)} environments)"


class VersionAction(argparse.Action):
    """``--version``, computed only when asked (the catalog digest reads every lock)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and the catalog's digest")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()
