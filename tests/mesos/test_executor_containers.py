"""The executor and a task's container, under ``borealis agent``: it runs no container, so a
task that asks for one fails at once naming the field (a Mesos image: this executor cannot use
one; a Docker image: the agent did not start the executor in it), unless the agent runs such
tasks on the host (``--ignore-container``), when the task's header records the container."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster import AgentProcess, envelope
from support import borealis

from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import load

DOCKER = {"docker": {"image": "python:3.11-slim", "parameters": []}}
MESOS = {"mesos": {"image": {"docker": {"name": "debian", "tag": "bookworm"}}, "volumes": []}}
HELLO = {"name": "hello", "cmdline": "echo hello"}


@pytest.mark.parametrize(
    ("container", "words"),
    [
        (DOCKER, "container.docker.image: image python:3.11-slim: this agent did not start"),
        (MESOS, "container.mesos.image: docker image debian:bookworm: this executor cannot"),
    ],
)
def test_a_container_the_agent_did_not_make_fails_the_task(
    agent: AgentProcess, container: dict[str, object], words: str
) -> None:
    agent.launch("boxed", envelope(HELLO, container=container))
    failed = agent.wait_state("boxed", "TASK_FAILED")
    assert words in failed["message"] and "--ignore-container" in failed["message"]
    assert failed["reason"] == "REASON_TASK_INVALID"
    run_dir = Path(agent.executor("boxed")["run_dir"])
    assert not (run_dir / "sandbox" / ".logs").exists()  # nothing ran


def test_an_agent_that_ignores_containers_runs_them_on_the_host_and_says_so(
    agent: AgentProcess,
) -> None:
    agent.stop()
    agent.start("--ignore-container")
    agent.launch("hosted", envelope(HELLO, container=MESOS))
    agent.wait_state("hosted", "TASK_FINISHED")
    run_dir = agent.executor("hosted")["run_dir"]
    state = load(CheckpointRoot(Path(run_dir)).task("hosted").runner_stream)
    assert state.header is not None
    assert state.header.ignored_container == "Mesos container (docker image debian:bookworm)"
    shown = borealis("status", "hosted", "--root", run_dir)
    assert "on host  without its Mesos container (docker image debian:bookworm)" in shown.stdout
