"""Job updates with the scheduler as a Mesos framework, against the master double
(tests/tools/mesos_master_double.py): every changed instance is KILLed through the master and
launched again, with its new config, on an offer; a rollback launches the old config again.
The double keeps every LAUNCH (resources and decoded envelope) and every status update in
order, so the tests check what the master saw, not what the scheduler says it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cluster import SchedulerProcess
from support import borealis, wait_for
from test_mesos import KEY, Double, running, start_double

CONFIG = """
jobs = [Service(cluster='local', role='www-data', environment='devel', name='svc', instances=3,
                constraints={{'host': 'limit:1'}},
                update_config=UpdateConfig(batch_size=1, watch_secs=1),
                task=Task(name='svc',
                          processes=[Process(
                              name='p', cmdline='serve {version} {{{{thermos.ports[http]}}}}')],
                          resources=Resources(cpu={cpu}, ram=128*MB, disk=64*MB)))]
"""
EXECUTOR_CPU = 0.25  # --executor-cpu of the scheduler below: in every launch's resources


@pytest.fixture
def mesos(tmp_path: Path) -> Any:
    double = start_double(tmp_path / "double.log")
    scheduler = SchedulerProcess(
        tmp_path / "scheduler.db",
        tmp_path / "scheduler.log",
        "http://127.0.0.1:1",
        extra=("--master", double.address, "--penalty", "1s", "--executor-cpu", "0.25"),
    )
    scheduler.start()
    try:
        yield double, scheduler
    finally:
        scheduler.stop()
        double.process.kill()
        double.process.wait()


def write(tmp_path: Path, version: str, cpu: float = 0.5) -> str:
    path = tmp_path / f"svc-{version}-{cpu}.aurora"
    path.write_text(CONFIG.format(version=version, cpu=cpu))
    return str(path)


def cli(scheduler: SchedulerProcess, *args: str) -> Any:
    return borealis("job", "--clusters", str(scheduler.clusters), *args)


def created(double: Double, scheduler: SchedulerProcess, tmp_path: Path) -> None:
    done = cli(scheduler, "create", KEY, write(tmp_path, "v1"))
    assert done.returncode == 0, done.stderr
    wait_for(lambda: running(scheduler), 30, "3 RUNNING", seen=lambda: scheduler.states(KEY))


def launches(double: Double) -> list[dict[str, Any]]:
    found = double.get("launches")["launches"]
    return found  # type: ignore[no-any-return]


def command(launch: dict[str, Any]) -> str:
    return str(launch["envelope"]["task"]["processes"][0]["cmdline"])


def version(launch: dict[str, Any]) -> str:
    return command(launch).split()[1]


def running_on_master(double: Double) -> dict[str, str]:
    """Task id -> agent of every task the master holds as RUNNING."""
    tasks = double.state()["tasks"]
    return {t: d["agent_id"] for t, d in tasks.items() if d["state"] == "TASK_RUNNING"}


def fewest_running_after_start(double: Double, count: int) -> int:
    """Replays the master's status updates: the fewest tasks RUNNING at any moment after
    ``count`` first were."""
    states: dict[str, str] = {}
    fewest = None
    for event in double.get("timeline")["timeline"]:
        states[event["task_id"]] = event["state"]
        up = sum(1 for s in states.values() if s == "TASK_RUNNING")
        if fewest is None and up >= count:
            fewest = up
        elif fewest is not None:
            fewest = min(fewest, up)
    assert fewest is not None, "never were all of them running"
    return fewest


def update(scheduler: SchedulerProcess, config: str, *extra: str) -> Any:
    return borealis(
        "job", "--clusters", str(scheduler.clusters), "update", "start", KEY, config, "--wait",
        *extra, timeout=60,
    )  # fmt: skip


def test_update_kills_each_instance_and_launches_the_new_command(
    tmp_path: Path, mesos: Any
) -> None:
    double, scheduler = mesos
    created(double, scheduler, tmp_path)
    old = set(running_on_master(double))
    assert {version(launch) for launch in launches(double)} == {"v1"}
    done = update(scheduler, write(tmp_path, "v2"))
    assert done.returncode == 0, (done.stdout, done.stderr)  # ROLLED_FORWARD
    assert running(scheduler)
    state = double.state()
    assert state["counts"]["KILL"] == 3
    assert all(state["tasks"][t]["state"] == "TASK_KILLED" for t in old)
    new = [launch for launch in launches(double) if launch["task_id"] not in old]
    assert sorted(launch["envelope"]["instance"] for launch in new) == [0, 1, 2]
    assert {version(launch) for launch in new} == {"v2"}
    now = running_on_master(double)
    assert set(now) == {launch["task_id"] for launch in new}
    assert len(set(now.values())) == 3  # limit:1 per host still holds
    assert fewest_running_after_start(double, 3) == 2  # one instance down at a time, never two
    info = scheduler.get(f"/api/v1/jobs/{KEY}")
    assert len(set(info["configs"].values())) == 1 and info["update"] is None


def test_a_version_that_fails_rolls_back_to_the_old_command(tmp_path: Path, mesos: Any) -> None:
    double, scheduler = mesos
    created(double, scheduler, tmp_path)
    old = set(running_on_master(double))
    double.hook("fail_launches", {"containing": "serve broken"})
    done = update(scheduler, write(tmp_path, "broken"))
    assert done.returncode == 3, (done.stdout, done.stderr)  # ROLLED_BACK
    wait_for(lambda: running(scheduler), 30, "3 RUNNING again", seen=lambda: scheduler.states(KEY))
    after = launches(double)[3:]
    broken = [launch for launch in after if version(launch) == "broken"]
    assert broken and {launch["envelope"]["instance"] for launch in broken} == {0}
    state = double.state()
    assert all(state["tasks"][launch["task_id"]]["state"] == "TASK_FAILED" for launch in broken)
    # the one instance changed runs the old command again, launched after the broken one
    assert version(after[-1]) == "v1" and after[-1]["envelope"]["instance"] == 0
    now = running_on_master(double)
    assert len(now) == 3 and {
        version(launch) for launch in launches(double) if launch["task_id"] in now
    } == {"v1"}
    assert len(old & set(now)) == 2  # instances 1 and 2 were never touched
    assert fewest_running_after_start(double, 3) == 2
    updates = scheduler.get(f"/api/v1/jobs/{KEY}/updates")["updates"]
    assert updates[0]["status"] == "ROLLED_BACK"


def test_instances_on_different_configs_launch_with_their_own_resources(
    tmp_path: Path, mesos: Any
) -> None:
    double, scheduler = mesos
    created(double, scheduler, tmp_path)
    assert {launch["need"]["cpus"] for launch in launches(double)} == {0.5 + EXECUTOR_CPU}
    done = update(scheduler, write(tmp_path, "v1", cpu=1.0), "--instances", "0")
    assert done.returncode == 0, (done.stdout, done.stderr)
    grown = launches(double)[3:]
    assert [(launch["envelope"]["instance"], launch["need"]["cpus"]) for launch in grown] == [
        (0, 1.0 + EXECUTOR_CPU)
    ]
    configs = scheduler.get(f"/api/v1/jobs/{KEY}")["configs"]  # instance -> config id
    assert configs["0"] != configs["1"] == configs["2"]
    # every run fails on the master: each is launched again with its own instance's config
    before = len(launches(double))
    for task_id in running_on_master(double):
        double.hook("fail", {"task_id": task_id})
    wait_for(lambda: len(launches(double)) >= before + 3, 30, "3 relaunches")
    wait_for(lambda: running(scheduler), 30, "3 RUNNING", seen=lambda: scheduler.states(KEY))
    again = {
        launch["envelope"]["instance"]: launch["need"]["cpus"]
        for launch in launches(double)[before:]
    }
    assert again == {0: 1.0 + EXECUTOR_CPU, 1: 0.5 + EXECUTOR_CPU, 2: 0.5 + EXECUTOR_CPU}
