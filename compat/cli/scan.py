"""``compat scan PATH...``: list the code stored in model files, without running it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from compat.cli import options
from compat.errors import EXIT_OK
from compat.userfiles import scan


def add_parser(sub) -> None:
    p = sub.add_parser(
        "scan",
        help="list the code stored in model files, without running it",
        description="Statically list the code model files carry (Lambda layers at any depth, "
        "lambdas and bytecode anywhere in a config, functions and classes named "
        "outside Keras, SavedModel graph ops that act on the world) with what the "
        "published matrix measured loaders do with such code. TensorFlow is not "
        "imported. Exit 1 when code is found, 0 when none, 2 for bad input.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="model files or folders to search")
    options.add_json(p, "also write JSON (- for stdout)", metavar="FILE")
    p.add_argument("--sarif", default=None, metavar="FILE", help="also write SARIF 2.1.0 for code scanning")
    p.add_argument(
        "--matrix",
        default=None,
        metavar="FILE",
        help="matrix.json whose canary measurements annotate the findings (default reports/matrix.json)",
    )
    options.add_verbose(p)
    p.set_defaults(func=run)


def run(args) -> int:
    doc, found_code = scan.inventory(args.paths, args.matrix)
    if args.json_out:
        _write(args.json_out, json.dumps(doc, indent=1))
    if args.sarif:
        _write(args.sarif, json.dumps(scan.sarif(doc), indent=1))
    if args.json_out != "-":  # JSON on stdout stays parseable
        print(scan.text(doc))
    return scan.EXIT_FOUND if found_code else EXIT_OK


def _write(target: str, content: str) -> None:
    if target == "-":
        sys.stdout.write(content + "\n")
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(content + "\n")
