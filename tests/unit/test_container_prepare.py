"""executor/mesos/containers.py as a table: what the executor does with its task's container,
given the agent's environment (``MESOS_DIRECTORY``, ``MESOS_SANDBOX``, --ignore-container)."""

from __future__ import annotations

from pathlib import Path

import pytest

from borealis.contract.container import ContainerSpec, Image, Kind
from borealis.contract.errors import InputError
from borealis.executor.mesos import containers
from borealis.executor.mesos.environment import MesosEnvironment
from borealis.executor.mesos.identity import IGNORE_CONTAINER_ENV

DOCKER = ContainerSpec(Kind.DOCKER, image="python:3.11-slim")
MESOS = ContainerSpec(Kind.MESOS, filesystem=Image("docker", "debian", tag="bookworm"))


def env(directory: Path, sandbox: Path) -> MesosEnvironment:
    return MesosEnvironment("127.0.0.1:5051", "fw", "ex", directory, sandbox, True, 900, 2, 5)


@pytest.fixture(autouse=True)
def _not_ignoring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IGNORE_CONTAINER_ENV, raising=False)


def test_no_container_is_nothing_to_do(tmp_path: Path) -> None:
    assert containers.prepare(None, env(tmp_path, tmp_path)) == ""


def test_inside_docker_the_agent_directory_leads_to_the_mounted_sandbox(tmp_path: Path) -> None:
    mounted = tmp_path / "mnt" / "mesos" / "sandbox"
    mounted.mkdir(parents=True)
    directory = tmp_path / "var" / "lib" / "mesos" / "slaves" / "a" / "runs" / "r"
    assert containers.prepare(DOCKER, env(directory, mounted)) == ""
    assert directory.is_symlink() and directory.resolve() == mounted.resolve()
    (directory / "sandbox").mkdir()  # what the executor then makes lands in the mount
    assert (mounted / "sandbox").is_dir()
    containers.prepare(DOCKER, env(directory, mounted))  # again (a restarted executor): unchanged
    assert directory.resolve() == mounted.resolve()


@pytest.mark.parametrize(
    ("container", "words"),
    [
        (DOCKER, "container.docker.image: image python:3.11-slim: this agent did not start"),
        (MESOS, "container.mesos.image: docker image debian:bookworm: this executor cannot"),
    ],
)
def test_a_container_that_is_not_there_is_refused(
    tmp_path: Path, container: ContainerSpec, words: str
) -> None:
    with pytest.raises(InputError) as caught:
        containers.prepare(container, env(tmp_path, tmp_path))
    assert words in str(caught.value) and "--ignore-container" in str(caught.value)


def test_a_mesos_image_is_refused_even_under_a_containerizer(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot run processes in a Mesos image"):
        containers.prepare(MESOS, env(tmp_path / "d", tmp_path / "s"))


@pytest.mark.parametrize("container", [DOCKER, MESOS])
def test_an_agent_that_ignores_containers_gets_them_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container: ContainerSpec
) -> None:
    monkeypatch.setenv(IGNORE_CONTAINER_ENV, "1")
    assert containers.prepare(container, env(tmp_path, tmp_path)) == container.describe()
