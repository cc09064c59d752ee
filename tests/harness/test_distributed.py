"""The distributed run, proven here: the workflow's per-consumer job and report job, run
locally exactly as CI runs them, give the same matrix as ``compat matrix``.

The consumer job's command is read from .github/workflows/matrix.yml and run with bash in a
separate clean copy per consumer, with ``CONSUMER`` and ``FIXTURES`` set as the workflow
sets them (``FIXTURES``: a small slice, as a run started by hand may give). Each job's
artifact (the file its upload step names) goes where the report job's download step puts
it, and the report job's command merges them in another clean copy. ``compat matrix`` runs
the same consumers and slice in a third. Every copy starts without the published matrix, so
both ways measure the whole slice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compat.environments import envs
from compat.records import matrixdoc
from tests.conftest import compat_in, tracked_copy
from tests.harness.test_workflow import WORKFLOW, _render, _step, consumer_command, report_command, yaml

pytestmark = [pytest.mark.envs, pytest.mark.network]  # the install step fetches the host packages

CONSUMERS = ("tf215", "tf221")
SLICE = "builtin-json"  # every producer writes it; its loads are quick, and json_plain passes
PUBLISHED = "reports/matrix.json"


def _bash(folder: Path, script: str, env: dict, host: Path) -> subprocess.CompletedProcess:
    """A workflow step's script, as the runner's bash runs it, with ``python`` the job's own
    interpreter: the fresh virtual environment ``host`` (what setup-python gives a job)."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("COMPAT_", "PYTHON", "VIRTUAL_ENV"))}
    child.update(
        env,
        PATH=f"{host / 'bin'}{os.pathsep}{os.environ['PATH']}",
        VIRTUAL_ENV=str(host),
        COMPAT_VENV_DIR=str(envs.venv_root()),
    )
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=str(folder),
        env=child,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def _job_host(folder: Path, job: dict, tmp: Path) -> Path:
    """A fresh interpreter for one job, set up by the job's own install step run in its copy."""
    host = tmp / f"host-{folder.name}"
    subprocess.run([sys.executable, "-m", "venv", str(host)], check=True, capture_output=True, timeout=300)
    install = _step(job, run="pip install")["run"].strip()
    done = _bash(folder, install, {}, host)
    assert done.returncode == 0, f"{install}: {done.stderr[-3000:]}"
    return host


def _attempts(path: Path) -> dict:
    return {(a["consumer"], a["producer"], a["fixture"], a["strategy"]): a for a in matrixdoc.read(path)["attempts"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("distributed")
    wf = yaml.safe_load(WORKFLOW.read_text())
    job = wf["jobs"]["consumer"]
    upload = _step(job, uses="actions/upload-artifact")["with"]
    download = _step(wf["jobs"]["report"], uses="actions/download-artifact")["with"]

    merged = tracked_copy(tmp / "report-job", drop=(PUBLISHED,))
    artifacts = merged / download["path"]
    artifacts.mkdir(parents=True)
    jobs = {}
    for consumer in CONSUMERS:
        folder = tracked_copy(tmp / f"job-{consumer}", drop=(PUBLISHED,))
        host = _job_host(folder, job, tmp)
        done = _bash(folder, consumer_command(wf), {"CONSUMER": consumer, "FIXTURES": SLICE}, host)
        assert done.returncode == 0, done.stderr
        jobs[consumer] = done.stdout + done.stderr
        # merge-multiple puts every artifact's file straight into the download path.
        artifact = folder / _render(upload["path"], {"consumer": consumer})
        shutil.copy(artifact, artifacts / artifact.name)
    done = _bash(merged, report_command(wf), {}, _job_host(merged, wf["jobs"]["report"], tmp))
    assert done.returncode == 0, done.stderr

    local = tracked_copy(tmp / "matrix", drop=(PUBLISHED,))
    matrix = compat_in(local, "matrix", *CONSUMERS, "--fixtures", SLICE, "--jobs", "2")
    assert matrix.returncode == 0, matrix.stderr
    return {
        "tmp": tmp,
        "jobs": jobs,
        "merged": merged / PUBLISHED,
        "matrix": local / PUBLISHED,
        "matrix_output": matrix.stdout,
    }


def test_merged_job_artifacts_equal_compat_matrix_attempt_by_attempt(runs):
    merged, local = _attempts(runs["merged"]), _attempts(runs["matrix"])
    assert set(merged) == set(local)
    assert {consumer for consumer, *_ in merged} == set(CONSUMERS)
    assert len(merged) == sum(int(text.split(" attempts to run")[0].split()[-1]) for text in runs["jobs"].values())
    for attempt_id in merged:
        assert merged[attempt_id]["verdict"] == local[attempt_id]["verdict"], attempt_id
        assert merged[attempt_id]["key"] == local[attempt_id]["key"], attempt_id
        assert "unstable" not in merged[attempt_id] and "unstable" not in local[attempt_id]
    loaded = [a for a in merged.values() if a["verdict"] != "not_applicable"]
    assert loaded and {a["verdict"] for a in loaded} >= {"pass"}


def test_nothing_to_do_from_a_fresh_copy_holding_only_the_matrix(runs):
    tmp = runs["tmp"]
    fresh = tracked_copy(tmp / "fresh", drop=(PUBLISHED,))
    shutil.copy(runs["matrix"], fresh / PUBLISHED)
    before = (fresh / PUBLISHED).read_bytes()
    empty = tmp / "no-environments"
    empty.mkdir()
    done = compat_in(fresh, "matrix", *CONSUMERS, "--fixtures", SLICE, venvs=empty)
    assert done.returncode == 0, done.stderr
    assert "[matrix] nothing to do" in done.stdout, done.stdout
    assert not any(empty.iterdir()), "no environment may be built when there is nothing to do"
    assert (fresh / PUBLISHED).read_bytes() == before, "re-rendering an unchanged matrix changes nothing"

    # The CI job on a checkout whose committed matrix holds every key: nothing to do, no artifact.
    wf = yaml.safe_load(WORKFLOW.read_text())
    host = _job_host(fresh, wf["jobs"]["consumer"], tmp)
    job = _bash(fresh, consumer_command(wf), {"CONSUMER": CONSUMERS[0], "FIXTURES": SLICE}, host)
    assert job.returncode == 0, job.stderr
    assert "nothing to do" in job.stdout
    assert not (fresh / "reports" / "results" / f"{CONSUMERS[0]}.json").exists()
