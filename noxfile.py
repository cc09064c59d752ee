"""nox sessions, one per catalog-derived name, running the same `compat` commands as tox.

nox -s tf215-load-tf210
nox -s gen-tf210 -- --check
nox -s matrix            # every consumer, then the report
nox                      # only `fast`: the tests that start no catalog environment
"""

import os
import sys

import nox

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)

# After the path insert, so that nox's own interpreter, where compat need not be installed, finds
# this checkout's catalog: the one source of the session names.
from compat.environments import frontends  # noqa: E402

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["fast"]
HOST_DEPS = ("numpy", "packaging", "jinja2", "uv", "filelock", "rich")


def _compat(session, *args):
    session.install(*HOST_DEPS)
    session.run("python", "-m", "compat", *args, *session.posargs, env={"PYTHONPATH": ROOT})


def _named_session(name):
    def run(session):
        _compat(session, "run-named", name)

    run.__doc__ = frontends.describe(name)
    return run


for _name in frontends.env_names():
    nox.session(name=_name)(_named_session(_name))


@nox.session(name="matrix")
def matrix(session):
    """Every consumer over every producer, then the report."""
    _compat(session, "matrix")


@nox.session(name="fast")
def fast(session):
    """The tests that start no catalog environment (about 16 s)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "not envs", *session.posargs)


@nox.session(name="tests")
def tests(session):
    """The whole test suite (unit tests and a real slice of the matrix)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)
