"""``compat probe PATH``: try every applicable strategy on your own model file."""

from __future__ import annotations

import sys
from pathlib import Path

from compat.cli import options
from compat.environments import sandbox
from compat.errors import EXIT_OK, progress
from compat.records import results
from compat.userfiles import loaders, probe, scan


def add_parser(sub) -> None:
    p = sub.add_parser(
        "probe",
        help="try every applicable strategy on your own model file",
        description="Diagnose a model file, read what it takes and returns, then load it with every "
        "applicable strategy in each loader environment and print the one to use, with "
        "its recipe.",
    )
    options.add_model_file(p, "to probe")
    options.add_model_input(p)
    options.add_timeout(p)
    options.add_no_sandbox(p)
    options.add_loaders(
        p,
        "comma-separated consumer environments to load it in, catalog ids or specs such as "
        "py3.12:tensorflow-cpu==2.19.0,keras==3.9.2; `all`: every consumer of the catalog",
    )
    options.add_jobs(p, "loader environments")
    options.add_json(p, "also write the probe's results to this JSON file")
    p.add_argument(
        "--write-loader",
        default=None,
        metavar="DIR",
        help="write each loader environment's recommended recipe to DIR/load_<env>.py (run as "
        "`python load_<env>.py INPUT OUTPUT`; it names the model by its absolute path), plus "
        "facenet_arch.py when it imports it, then run each script standalone (python -I, from DIR, "
        "sandboxed unless --no-sandbox) and print `standalone: verified` or why not",
    )
    options.add_verbose(p, options.REFUSED_FILE_TRACEBACK)
    p.set_defaults(func=run)


def run(args) -> int:
    diagnosis = probe.loadable(args.path, verbose=args.verbose, architecture=bool(getattr(args, "architecture", None)))
    chosen = options.loader_environments(args)
    told = options.read_model_file(args)
    jobs = options.read_jobs(args)
    sandboxed = not args.no_sandbox
    write_loader = loaders.prepare(args.write_loader) if args.write_loader else None
    if sandboxed:
        sandbox.check()  # no bubblewrap: refuse before any environment starts
    print(f"compat probe: {scan.summary(args.path)}", file=sys.stderr)
    print(f"compat probe: {diagnosis.line()}", file=sys.stderr)
    broken = probe.build_environments(chosen, log=progress)  # all built before any worker starts
    model, batch, reference = probe.prepare(diagnosis, chosen, told, sandboxed=sandboxed, log=progress, broken=broken)
    document = probe.probe(
        model,
        chosen,
        batch=batch,
        size=told.size or diagnosis.size_guess,
        variant=told.variant,
        reference=reference,
        timeout=told.timeout,
        sandboxed=sandboxed,
        log=progress,
        write_loader=write_loader,
        jobs=jobs,
        broken=broken,
    )
    print(probe.render(document))
    if args.json_out:
        results.write_atomically(Path(args.json_out), document)
    probe.require_ran(document)
    return EXIT_OK
