"""Containers on Mesos, against the master double (tests/tools/mesos_master_double.py): a
container task goes only to offers of agents whose ``containers`` attribute lists its kind, and
its launch carries the ``ContainerInfo`` Aurora sends, on the executor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import SchedulerProcess
from support import borealis, wait_for
from test_mesos import Double, start_double

TASK = (
    "Task(name='{name}', processes=[Process(name='p', cmdline='serve')],"
    " resources=Resources(cpu=0.5, ram=64*MB, disk=64*MB))"
)
CONFIG = f"""
jobs = [
    Service(cluster='local', role='www-data', environment='devel', name='boxed', instances=2,
            task={TASK.format(name="boxed")},
            container=Container(docker=Docker(image='python:3.11-slim',
                                              parameters=[Parameter(name='env', value='A=1')]))),
    Service(cluster='local', role='www-data', environment='devel', name='imaged',
            task={TASK.format(name="imaged")},
            container=Mesos(image=DockerImage(name='debian', tag='bookworm'),
                            volumes=[Volume(container_path='/data', host_path='/srv/data',
                                            mode='RW')])),
    Service(cluster='local', role='www-data', environment='devel', name='appc',
            task={TASK.format(name="appc")},
            container=Mesos(image=AppcImage(name='example.com/app', image_id='sha512-abc'))),
    Service(cluster='local', role='www-data', environment='devel', name='stuck',
            task={TASK.format(name="stuck")}, constraints={{'host': 'host0'}},
            container=Docker(image='busybox')),
]
"""
KEY = "local/www-data/devel/{}"


@pytest.fixture
def double(tmp_path: Path) -> Iterator[Double]:
    started = start_double(
        tmp_path / "double.log", "--containers", "agent-1=docker", "--containers", "agent-2=mesos"
    )
    yield started
    started.process.kill()
    started.process.wait()


@pytest.fixture
def scheduler(tmp_path: Path, double: Double) -> Iterator[SchedulerProcess]:
    s = SchedulerProcess(
        tmp_path / "scheduler.db",
        tmp_path / "scheduler.log",
        "http://127.0.0.1:1",
        extra=(
            "--master",
            double.address,
            "--penalty",
            "1s",
            "--executor-cpu",
            "0.25",
            "--allow-docker-parameters",
            "--allow-container-volumes",  # the jobs carry both
        ),
    )
    s.start()
    yield s
    s.stop()


def test_container_tasks_go_to_capable_agents_with_their_container_info(
    tmp_path: Path, double: Double, scheduler: SchedulerProcess
) -> None:
    wait_for(lambda: double.state()["subscribed"], 20, "the framework to subscribe")
    config = tmp_path / "jobs.aurora"
    config.write_text(CONFIG)
    for name in ("boxed", "imaged", "appc", "stuck"):
        done = borealis("job", "--clusters", str(scheduler.clusters), "create", KEY.format(name),
                        str(config))  # fmt: skip
        assert done.returncode == 0, done.stderr

    def running() -> bool:
        return all(
            set(scheduler.states(KEY.format(n))) == {"RUNNING"} for n in ("boxed", "imaged", "appc")
        )

    wait_for(running, 30, "the container jobs RUNNING")
    launches = {launch["task_id"]: launch for launch in double.get("launches")["launches"]}

    def launched(name: str) -> list[dict[str, object]]:
        return [launches[t["task_id"]] for t in scheduler.tasks(KEY.format(name))]

    boxed = launched("boxed")
    assert [launch["agent_id"] for launch in boxed] == ["agent-1", "agent-1"]
    for launch in boxed:
        assert launch["container"] is None  # on the executor, as Aurora sets it
        assert launch["executor_container"] == {
            "type": "DOCKER",
            "docker": {"image": "python:3.11-slim", "parameters": [{"key": "env", "value": "A=1"}]},
        }
        assert launch["envelope"]["container"] == {  # type: ignore[index]
            "docker": {"image": "python:3.11-slim", "parameters": [{"name": "env", "value": "A=1"}]}
        }
    [imaged] = launched("imaged")
    assert imaged["agent_id"] == "agent-2"
    assert imaged["executor_container"] == {
        "type": "MESOS",
        "mesos": {},
        "volumes": [
            {"container_path": "/data", "host_path": "/srv/data", "mode": "RW"},
            {
                "container_path": "taskfs",
                "mode": "RO",
                "image": {"type": "DOCKER", "docker": {"name": "debian:bookworm"}},
            },
        ],
    }
    [appc] = launched("appc")
    assert appc["agent_id"] == "agent-2"
    assert appc["executor_container"]["volumes"][-1]["image"] == {  # type: ignore[index]
        "type": "APPC",
        "appc": {"name": "example.com/app", "id": "sha512-abc"},
    }
    # host0 is the only host the constraint allows, and it runs no docker containers (the
    # reason is that of the latest pass: one over the offers of all three agents is awaited)
    reason = (
        "no host fits: 2 hosts do not run docker containers (no containers=docker attribute); "
        "1 hosts fail a constraint"
    )
    wait_for(
        lambda: scheduler.tasks(KEY.format("stuck"))[0]["message"] == reason, 30, "the reason",
        seen=lambda: scheduler.tasks(KEY.format("stuck")),
    )  # fmt: skip
    assert scheduler.states(KEY.format("stuck")) == ["PENDING"]
    status = borealis("job", "--clusters", str(scheduler.clusters), "status", KEY.format("stuck"))
    assert "do not run docker containers" in status.stdout
    errors = [t for t in double.get("timeline")["timeline"] if t.get("state") == "TASK_ERROR"]
    assert errors == []  # two tasks in one ACCEPT: both launched
