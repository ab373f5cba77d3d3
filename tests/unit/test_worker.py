"""obsstack.worker: a command runs in one worker process, whatever it calls inside; its
answer, its exceptions and its progress reach the caller."""

from __future__ import annotations

import subprocess

import pytest

from obsstack import worker
from obsstack.pipeline import deploy_pipeline
from obsstack.session import HostInfo, check_inputs, describe_inventory
from obsstack.settings import SettingsError


@pytest.fixture
def spawned(monkeypatch) -> list[list[str]]:
    """The command lines of the processes the worker module starts."""
    started = []
    original = subprocess.Popen

    def counting(argv, *args, **kwargs):
        started.append(list(argv))
        return original(argv, *args, **kwargs)

    monkeypatch.setattr(worker.subprocess, "Popen", counting)
    return started


def test_an_answer_comes_back_from_one_worker(tmp_path, spawned):
    inventory = tmp_path / "site.py"
    inventory.write_text("monitored = [('web9', {'ssh_hostname': '192.0.2.9'})]\n")
    [host] = describe_inventory(str(inventory))
    assert isinstance(host, HostInfo)
    assert (host.name, host.groups, host.data["ssh_hostname"]) == (
        "web9", ["monitored", "site"], "192.0.2.9"
    )
    [argv] = spawned
    # The command line names what runs and its files, nothing else.
    assert argv[-2:] == ["obsstack.session.describe_inventory", str(inventory)]


def test_an_exception_is_raised_again_in_the_caller_with_its_type(tmp_path, spawned):
    inventory = tmp_path / "site.py"
    inventory.write_text("monitored = [('web9', {'node_exporter_port': 0})]\n")
    with pytest.raises(SettingsError, match="node_exporter_port = 0: out of range"):
        check_inputs(str(inventory))
    assert len(spawned) == 1


def test_a_whole_pipeline_is_one_worker_and_its_progress_reaches_the_caller(
    tmp_path, spawned
):
    inventory = tmp_path / "site.py"
    inventory.write_text("monitored = [('web9', {'node_exporter_port': 0})]\n")
    progress: list[str] = []
    with pytest.raises(SettingsError):
        deploy_pipeline(str(inventory), progress=progress.append)
    assert progress == ["deploy: 1/5 checking inputs"]
    assert len(spawned) == 1, "check_inputs ran inside the pipeline's worker"


def test_inside_the_worker_a_call_runs_directly(monkeypatch, spawned):
    monkeypatch.setattr(worker, "_inside", True)

    @worker.in_worker
    def doubled(inventory: str, value: int) -> int:
        return value * 2

    assert doubled("inventories/lab.py", 21) == 42
    assert spawned == []
