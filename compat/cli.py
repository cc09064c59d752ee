"""The ``compat`` command: one entry point that tox, nox, CI and users share.

Exit status (``compat.errors``): 0 when the harness did its job (failing cells are
findings, not failures), 1 when a regression check found regressions, 2 for bad input
(a clear one-line message), 3 when the harness itself failed. ``main`` is the one place
that turns an error into its line and exit status.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

from compat import catalog
from compat.environments import envs
from compat.errors import EXIT_HARNESS, EXIT_INTERRUPTED, EXIT_OK, BadInput, CompatError
from compat.harness import fixtures


class UsageError(BadInput):
    """Bad input from the user: reported in one line, exit status 2."""


def _environments(ids: list[str], role=None) -> list[catalog.Environment]:
    if not ids or ids == ["all"]:
        chosen = list(catalog.ENVIRONMENTS)
    else:
        chosen = [catalog.get(i) for i in ids]
    if role == catalog.PRODUCER:
        chosen = [e for e in chosen if e.produces]
    elif role == catalog.CONSUMER:
        chosen = [e for e in chosen if e.consumes]
    return chosen


def cmd_lock(args) -> int:
    for env in _environments(args.ids):
        print(f"[compat] locked {env.id}: {envs.compile_lock(env)}")
    return EXIT_OK


def cmd_build(args) -> int:
    for env in _environments(args.ids):
        started = time.time()
        python = envs.ensure_built(env)
        print(f"[compat] {env.id}: {python} ({time.time() - started:.1f}s)")
    return EXIT_OK


def cmd_gen(args) -> int:
    failed = []
    for env in _environments(args.ids, catalog.PRODUCER):
        if args.check:
            started = time.time()
            problems = fixtures.check(env)
            verdict = "deterministic" if not problems else "NOT reproduced: " + "; ".join(problems)
            print(f"[compat] check {env.id}: {verdict} ({time.time() - started:.0f}s)")
            if problems:
                failed.append(env.id)
        else:
            fixtures.generate(env)
    return EXIT_HARNESS if failed else EXIT_OK


def cmd_load(args) -> int:
    from compat.harness import runner  # host-side orchestration; never imports TensorFlow
    return runner.main(args)


def cmd_report(args) -> int:
    from compat.publish import report
    return report.main(args)


def cmd_regress(args) -> int:
    from compat.harness import regress
    return regress.main(args)


def cmd_probe(args) -> int:
    from compat.userfiles import probe
    return probe.main(args)


def cmd_convert(args) -> int:
    from compat.userfiles import convert
    return convert.main(args)


def cmd_matrix(args) -> int:
    from compat.harness import matrix
    return matrix.main(args)


def cmd_recipes(args) -> int:
    from compat.harness import recipes
    return recipes.main(args)


def cmd_architecture(args) -> int:
    from compat.environments import standalone
    print(f"[compat] wrote {standalone.write_architecture(args.out)}")
    return EXIT_OK


# tox and nox environment names -> command lines, so both front ends run the same thing.
_NAMED = [
    (re.compile(r"^gen-(?P<producer>\w+)$"), lambda m: ["gen", m["producer"]]),
    (re.compile(r"^(?P<consumer>\w+)-load-(?P<producer>\w+)$"),
     lambda m: ["load", m["consumer"], m["producer"]]),
    (re.compile(r"^regress-(?P<old>\w+)-to-(?P<new>\w+)$"),
     lambda m: ["regress", "--from", m["old"], "--to", m["new"]]),
    (re.compile(r"^report$"), lambda m: ["report"]),
]


def named_command(name: str) -> list[str]:
    """The ``compat`` arguments that the tox / nox environment ``name`` stands for."""
    for pattern, to_args in _NAMED:
        match = pattern.match(name)
        if match:
            return to_args(match)
    raise UsageError(f"{name!r} is not a compat environment name (gen-X, X-load-Y, regress-X-to-Y, report)")


def cmd_named(args) -> int:
    return main(named_command(args.name) + list(args.rest))


def version_text() -> str:
    """``compat 0.1.0 (catalog 1a2b3c4d5e6f)``: the package and the catalog it measures, as one
    digest of every environment's id and lock digest (what the attempts' keys are made of)."""
    import compat
    from compat.records import attemptkey, codedigest
    entries = [f"{env.id}={attemptkey.lock_digest(env)}" for env in catalog.ENVIRONMENTS]
    return f"compat {compat.__version__} (catalog {codedigest.digest(entries)}, {len(entries)} environments)"


class _Version(argparse.Action):
    """``--version``, computed only when asked (the catalog digest reads every lock)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and the catalog's digest")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compat", description="Keras / TensorFlow model compatibility matrix")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lock", help="resolve catalog requirements into compat/locks/<id>.txt")
    p.add_argument("ids", nargs="*")
    p.set_defaults(func=cmd_lock)

    p = sub.add_parser("build", help="create catalog environments from their locks")
    p.add_argument("ids", nargs="*")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("gen", help="regenerate a producer's fixtures (or --check they reproduce)")
    p.add_argument("ids", nargs="*")
    p.add_argument("--check", action="store_true",
                   help="regenerate into a temporary folder and compare reference embeddings")
    p.set_defaults(func=cmd_gen)

    p = sub.add_parser("load", help="load producers' fixtures under a consumer with every strategy")
    p.add_argument("consumer")
    p.add_argument("producers", nargs="+", help="producer ids, or `all`")
    p.add_argument("--strategies", default=None, help="comma-separated subset of strategies")
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format)")
    p.add_argument("--isolate", action="store_true", help="one process per attempt")
    p.add_argument("--rerun", action="store_true",
                   help="measure every planned attempt again, also those recorded with their current key")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per attempt")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes sharing the attempts (default: one per core, at most 4)")
    p.add_argument("--output", default=None, help="results file that this run updates (default reports/results/<consumer>.json)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("report", help="merge results and render reports/matrix.{json,html,md}")
    p.add_argument("--results", default=None, help="folder of results files (default reports/results/)")
    p.add_argument("--from-json", default=None, help="re-render from an existing matrix.json")
    p.add_argument("--out", default=None, help="folder of matrix.{json,html,md} (default reports/)")
    p.add_argument("--fresh", action="store_true",
                   help="build only from the results files instead of updating the published matrix.json")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("regress", help="what stops working when moving from one environment to another",
                       description="Compare two environments over the project's fixtures or, with --models, "
                                   "over your own model files. An environment is a catalog id or a spec: "
                                   "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2 or py3.11:requirements.txt.")
    p.add_argument("--from", dest="old", required=True, help="the environment today: catalog id or spec")
    p.add_argument("--to", dest="new", required=True, help="the environment to move to: catalog id or spec")
    p.add_argument("--models", nargs="+", default=None, metavar="PATH",
                   help="your model files or folders (searched for .h5, .hdf5, .keras, .json and SavedModels)")
    p.add_argument("--input", default=None,
                   help="with --models: a .npy batch fed to every model as it is (default: a seeded batch "
                        "of each model's recorded input shape)")
    p.add_argument("--timeout", type=float, default=600.0, help="with --models: seconds allowed per attempt")
    p.add_argument("--producers", default=None)
    p.add_argument("--variants", default=None)
    p.add_argument("--formats", default=None)
    p.add_argument("--baseline", default=None, help="matrix.json to read both sides from (default: fresh runs)")
    p.add_argument("--json", dest="json_out", default=None)
    p.add_argument("--junit-xml", default=None, metavar="FILE", help="with --models: one JUnit test case per model")
    p.add_argument("--markdown", default=None, metavar="FILE", help="with --models: a summary for a pull-request comment")
    p.add_argument("--no-sandbox", action="store_true",
                   help="with --models: load the files without the bubblewrap sandbox (their code, if any, runs as you)")
    p.set_defaults(func=cmd_regress)

    p = sub.add_parser("probe", help="try every applicable strategy on your own model file",
                       description="Diagnose a model file, then load it with every applicable strategy "
                                   "in each loader environment and print the one to use, with its recipe.")
    p.add_argument("path", help="a .h5 / .keras / .json (+ weights) file or a SavedModel folder")
    p.add_argument("--loaders", default="tf215,tf221",
                   help="comma-separated consumer environments to load it in, catalog ids or specs such as "
                        "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2 (default: tf215,tf221)")
    p.add_argument("--reference", default=None,
                   help="a .npy of the outputs the model should give on --input (needs --input); "
                        "default: the first environment that loads the file gives them")
    p.add_argument("--input", default=None,
                   help="a .npy batch to feed the model, used as it is (default: a seeded batch "
                        "of the file's input shape, prewhitened)")
    p.add_argument("--input-shape", default=None,
                   help="per-sample input shape for the seeded batch, e.g. 160,160,3 "
                        "(default: the shape the file records)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per attempt (default 600)")
    p.add_argument("--size", choices=["full", "tiny"], default=None,
                   help="FaceNet size the weights-level strategies rebuild (default: guessed from the file size)")
    p.add_argument("--variant", default=None,
                   help="FaceNet variant the weights-level strategies rebuild (default: lambda)")
    p.add_argument("--json", dest="json_out", default=None, help="also write the probe's results to this JSON file")
    p.add_argument("--verbose", action="store_true", help="print the traceback of a refused file or option")
    p.add_argument("--no-sandbox", action="store_true",
                   help="load the file without the bubblewrap sandbox (its code, if any, runs as you)")
    p.add_argument("--write-loader", default=None, metavar="DIR",
                   help="write each loader environment's recommended recipe to DIR/load_<env>.py "
                        "(run as `python load_<env>.py INPUT.npy OUTPUT.npy`; it names the model by its "
                        "absolute path), plus facenet_arch.py when it imports it, then run each script "
                        "standalone (python -I, from DIR, sandboxed unless --no-sandbox) and print "
                        "`standalone: verified` or why not")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("convert", help="save your model in an environment's own format, proven by a plain load",
                       description="Load a model file in ENV with the strategy the probe recommends there, save "
                                   "it in ENV's own format (.keras for Keras 3; .h5 or a SavedModel for Keras 2), "
                                   "then prove in a fresh ENV process that a plain load_model of the result "
                                   "(default safe_mode) reproduces the reference. FaceNet Lambda layers holding "
                                   "bytecode are carried over to facenet_arch's ScaleLayer. Exit 0 only when the "
                                   "proof passed.")
    p.add_argument("path", help="the model file to convert: .h5 / .keras / .json (+ weights) or a SavedModel folder")
    p.add_argument("--to", required=True, metavar="ENV",
                   help="the consumer environment to convert for: a catalog id or a spec such as "
                        "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2")
    p.add_argument("-o", "--out", required=True, metavar="OUT",
                   help="the file (or SavedModel folder) to write; it must not exist. The proof script "
                        "load_<name>.py and, when the model needs it, facenet_arch.py are written beside it")
    p.add_argument("--format", choices=["h5", "savedmodel"], default=None,
                   help="for a Keras 2 ENV: write a .h5 file (default) or a SavedModel folder; "
                        "a Keras 3 ENV always writes .keras")
    p.add_argument("--reference", default=None,
                   help="a .npy of the outputs the model should give on --input (needs --input); default: "
                        "the first of --loaders that loads the file gives them")
    p.add_argument("--input", default=None,
                   help="a .npy batch to feed the model, used as it is (default: a seeded batch of the "
                        "file's input shape, prewhitened)")
    p.add_argument("--input-shape", default=None,
                   help="per-sample input shape for the seeded batch, e.g. 160,160,3 (default: the shape the file records)")
    p.add_argument("--loaders", default=None,
                   help="comma-separated environments probed for the reference before ENV, catalog ids or specs "
                        "(default: tf215,tf221; ENV is always probed)")
    p.add_argument("--size", choices=["full", "tiny"], default=None,
                   help="FaceNet size the weights-level strategies rebuild (default: guessed from the file size)")
    p.add_argument("--variant", default=None,
                   help="FaceNet variant the weights-level strategies rebuild (default: lambda)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds allowed per attempt, for the conversion and for the proof (default 600)")
    p.add_argument("--verbose", action="store_true", help="print the traceback of a refused file or option")
    p.add_argument("--no-sandbox", action="store_true",
                   help="load and prove without the bubblewrap sandbox (code stored in the file, if any, runs as you)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("matrix", help="every consumer over every producer, in parallel, then the report")
    p.add_argument("consumers", nargs="*", help="consumer ids (default: the whole catalog)")
    p.add_argument("--jobs", type=int, default=None, help="consumers run at once (default: the cores)")
    p.add_argument("--rerun", action="store_true",
                   help="measure every attempt again, also those recorded with their current key")
    p.add_argument("--fixtures", default=None, help="comma-separated fixture ids (variant-format) to run")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--results", default=None,
                   help="folder of the consumers' results files (default reports/results/)")
    p.add_argument("--dry-run", action="store_true",
                   help="print what each consumer has to run and an estimate of how long, then stop")
    p.set_defaults(func=cmd_matrix)

    p = sub.add_parser("recipes", help="count the distinct recipes that passed; --check runs each standalone")
    p.add_argument("sources", nargs="*", help="matrix.json or results files (default reports/matrix.json)")
    p.add_argument("--check", action="store_true",
                   help="run each distinct recipe as `python -I recipe.py` beside only its fixture and "
                        "facenet_arch.py, in a consumer where it passed, and compare with the reference")
    p.add_argument("--consumers", default=None, help="comma-separated consumer ids to keep")
    p.add_argument("--jobs", type=int, default=2, help="recipes run at once")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per recipe")
    p.set_defaults(func=cmd_recipes)

    p = sub.add_parser("architecture", help="write facenet_arch.py, the file the recipes import")
    p.add_argument("-o", "--out", default=".", help="folder to write it into (default: here)")
    p.set_defaults(func=cmd_architecture)

    p = sub.add_parser("run-named", help="run what a tox / nox environment name stands for")
    p.add_argument("name")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_named)
    for name, command in sub.choices.items():
        if name != "run-named" and "--verbose" not in command._option_string_actions:
            command.add_argument("--verbose", action="store_true",
                                 help="print a harness failure's traceback here too (it is always written to a file)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return invoke(args.func, args, f"compat {args.command}" if args.command != "run-named" else "compat")


def invoke(command, args, prog: str = "compat") -> int:
    """Run one command function: the one place an error becomes its line and exit status."""
    try:
        return command(args)
    except CompatError as exc:
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (what was measured is kept)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`compat regress ... | head`): stop quietly. Python
        # would complain again when it flushes stdout at exit, so that goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug in the harness: never exit 1, which means "regressed"
        if getattr(args, "verbose", False):
            traceback.print_exc()
        where = _write_traceback(prog)
        first = " ".join(str(exc).split())
        print(f"{prog}: harness error: {type(exc).__name__}: {first} (full traceback: {where}"
              f"{'' if getattr(args, 'verbose', False) else '; --verbose prints it here'})", file=sys.stderr)
        return EXIT_HARNESS


def _write_traceback(prog: str) -> str:
    """The current exception's traceback in a file of the cache's log folder (the temporary
    folder when that cannot be written): the one line on the terminal names it."""
    from compat.paths import cache_root
    text = f"{prog} ({' '.join(sys.argv[1:])})\n{traceback.format_exc()}"
    name = f"harness-error-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt"
    for folder in (cache_root() / "logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            return str(folder / name)
        except OSError:
            continue
    return "nowhere: no writable folder"


def main_entry() -> None:
    sys.exit(main())
