"""The GitHub Actions job matrix, derived from the catalog.

``.github/workflows/matrix.yml`` runs ``python -m compat.harness.workflow matrix`` in its first job
and feeds the printed JSON to ``strategy.matrix`` of the consumer job, so adding an
environment to ``compat/catalog.py`` adds its CI job; ``tests/harness/test_workflow.py`` checks the
workflow against this module. Only the standard library and the catalog are imported here:
the planning job runs it on a bare interpreter, before anything is installed.

    python -m compat.harness.workflow matrix    # {"include": [{"consumer", "python", "lock", "container"}, ...]}
"""

from __future__ import annotations

import json
import sys

from compat import catalog
from compat.paths import PROJECT_ROOT

CONTAINER_IMAGES = {
    "3.6": "python:3.6-bullseye",
    "3.7": "python:3.7-bullseye",
}
"""CPython minors that actions/setup-python cannot install on ubuntu-latest, and the image
whose interpreter stands in for it. setup-python has no 3.6 build for Ubuntu 22.04 or 24.04
(ubuntu-20.04, which had one, is retired) and no 3.7 build for 24.04; uv's managed
interpreters begin at 3.8. The official Debian bullseye images still carry both, with a
glibc new enough for the runner's Node actions. A consumer whose minor is absent here gets
``container: ""``, which runs it on the runner itself."""


def _relative(path) -> str:
    return path.resolve().relative_to(PROJECT_ROOT).as_posix()


def matrix() -> dict:
    """``strategy.matrix`` of the consumer job: one entry per catalog consumer, in order."""
    return {
        "include": [
            {
                "consumer": env.id,
                "python": env.python,
                "lock": _relative(env.lock_path),
                "container": CONTAINER_IMAGES.get(env.python, ""),
            }
            for env in catalog.consumers()
        ]
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["matrix"]:
        print("usage: python -m compat.harness.workflow matrix", file=sys.stderr)
        return 2
    # One line, as `name=value` in $GITHUB_OUTPUT needs.
    print(json.dumps(matrix(), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
