"""Partition policy on Mesos, against the master double (tests/tools/mesos_master_double.py):
an agent fails its health checks (TASK_UNREACHABLE to our PARTITION_AWARE framework), then
reregisters (its tasks reported again in their state), as a real master does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster import SchedulerProcess
from support import borealis, wait_for
from test_mesos import Double, start_double

KEY = "local/www-data/devel/part"


def config(policy: str) -> str:
    return f"""
jobs = [Service(cluster='local', role='www-data', environment='devel', name='part',
                partition_policy={policy},
                task=Task(name='part', processes=[Process(name='p', cmdline='serve')],
                          resources=Resources(cpu=0.5, ram=128*MB, disk=64*MB)))]
"""


@pytest.fixture
def mesos(tmp_path: Path) -> Iterator[tuple[Double, SchedulerProcess]]:
    double = start_double(tmp_path / "double.log", "--agents", "2")
    scheduler = SchedulerProcess(
        tmp_path / "scheduler.db",
        tmp_path / "scheduler.log",
        "http://127.0.0.1:1",
        extra=("--master", double.address, "--penalty", "1s", "--executor-cpu", "0.25"),
    )
    try:
        scheduler.start()
        yield double, scheduler
    finally:
        scheduler.stop()
        double.process.kill()
        double.process.wait()


def create(scheduler: SchedulerProcess, tmp_path: Path, policy: str) -> dict[str, Any]:
    path = tmp_path / "part.aurora"
    path.write_text(config(policy))
    done = borealis("job", "--clusters", str(scheduler.clusters), "create", KEY, str(path))
    assert done.returncode == 0, done.stderr
    wait_for(lambda: scheduler.states(KEY) == ["RUNNING"], 60, "RUNNING",
             seen=lambda: scheduler.states(KEY))  # fmt: skip
    task: dict[str, Any] = scheduler.tasks(KEY)[0]
    return task


def runs(scheduler: SchedulerProcess) -> list[tuple[str, str]]:
    return [(r["task_id"], r["state"]) for r in scheduler.all_runs(KEY)]


def timeline(double: Double, task_id: str) -> list[str]:
    return [e["state"] for e in double.get("timeline")["timeline"] if e["task_id"] == task_id]


def live_in_master(double: Double) -> list[str]:
    tasks = double.state()["tasks"]
    return sorted(t for t, d in tasks.items() if d["state"] in ("TASK_STARTING", "TASK_RUNNING"))


def test_unreachable_run_is_replaced_on_another_agent_and_killed_when_it_returns(
    mesos: tuple[Double, SchedulerProcess], tmp_path: Path
) -> None:
    double, scheduler = mesos
    fid = double.state()["framework_id"]
    assert {"type": "PARTITION_AWARE"} in double.state()["frameworks"][fid]["capabilities"]
    old = create(scheduler, tmp_path, "PartitionPolicy(reschedule=True, delay_secs=0)")
    agent = double.state()["tasks"][old["task_id"]]["agent_id"]
    double.hook("unreachable", {"agent_id": agent})
    new = wait_for(
        lambda: (
            (t := scheduler.tasks(KEY)[0])["state"] == "RUNNING"
            and t["task_id"] != old["task_id"]
            and t
        ),
        60,
        "a new run RUNNING",
        seen=lambda: runs(scheduler),
    )
    assert new["host"] != old["host"]  # the other agent: the lost one is offered no more
    events = scheduler.get(f"/api/v1/tasks/{old['task_id']}")["history"]
    assert [e["state"] for e in events][-2:] == ["PARTITIONED", "LOST"]
    # the agent returns with the old run still running there: it is killed, not kept
    double.hook("reregister", {"agent_id": agent})
    wait_for(lambda: timeline(double, old["task_id"])[-1] == "TASK_KILLED", 30,
             "the old run killed", seen=lambda: timeline(double, old["task_id"]))  # fmt: skip
    assert timeline(double, old["task_id"])[-3:] == [
        "TASK_UNREACHABLE",
        "TASK_RUNNING",
        "TASK_KILLED",
    ]
    assert live_in_master(double) == [new["task_id"]]
    assert runs(scheduler) == [(old["task_id"], "LOST"), (new["task_id"], "RUNNING")]


def test_without_reschedule_the_run_waits_for_its_agent(
    mesos: tuple[Double, SchedulerProcess], tmp_path: Path
) -> None:
    double, scheduler = mesos
    old = create(scheduler, tmp_path, "PartitionPolicy(reschedule=False, delay_secs=1)")
    agent = double.state()["tasks"][old["task_id"]]["agent_id"]
    double.hook("unreachable", {"agent_id": agent})
    wait_for(lambda: runs(scheduler) == [(old["task_id"], "PARTITIONED")], 30, "PARTITIONED",
             seen=lambda: runs(scheduler))  # fmt: skip
    # a window well past delay_secs (which reschedule=False makes moot), checked all along
    until = time.monotonic() + 3
    while time.monotonic() < until:
        assert runs(scheduler) == [(old["task_id"], "PARTITIONED")]
        time.sleep(0.2)
    double.hook("reregister", {"agent_id": agent})
    wait_for(lambda: runs(scheduler) == [(old["task_id"], "RUNNING")], 30, "RUNNING again",
             seen=lambda: runs(scheduler))  # fmt: skip
    assert len(double.get("launches")["launches"]) == 1  # never launched twice
    assert live_in_master(double) == [old["task_id"]]
