"""``compat architecture``: write facenet_arch.py, the file the recipes import."""

from __future__ import annotations

from compat.cli import options
from compat.errors import EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("architecture", help="write facenet_arch.py, the file the recipes import")
    p.add_argument("-o", "--out", default=".", help="folder to write it into (default: here)")
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from compat.environments import standalone

    print(f"[compat] wrote {standalone.write_architecture(args.out)}")
    return EXIT_OK
