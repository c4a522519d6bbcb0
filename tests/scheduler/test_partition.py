"""Partition policy on the embedded cluster: the agent is stopped (SIGSTOP), so it answers
nothing while its executors and tasks go on, then resumed (SIGCONT). The scheduler runs with
``--agent-timeout 2s``: the agent is unreachable 2 s after its last answer."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster import Embedded, embedded
from support import borealis, wait_for

KEY = "local/www-data/devel/part"


def config(policy: str) -> str:
    return f"""
web = Process(name='web', cmdline="trap 'exit 0' TERM; sleep 100000 & wait")
jobs = [Service(cluster='local', role='www-data', environment='devel', name='part',
                partition_policy={policy},
                task=Task(name='web', processes=[web],
                          resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Embedded]:
    with embedded(tmp_path, "--agent-timeout", "2s", "--penalty", "1s", "--host-cpu", "2") as found:
        yield found


@contextlib.contextmanager
def stopped(cluster: Embedded) -> Iterator[None]:
    """The agent stopped for the block, resumed after it whatever happens."""
    assert cluster.agent.process is not None
    pid = cluster.agent.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def create(cluster: Embedded, policy: str) -> dict[str, Any]:
    path = cluster.base / "part.aurora"
    path.write_text(config(policy))
    clusters = str(cluster.scheduler.clusters)
    result = borealis("job", "--clusters", clusters, "create", KEY, str(path))
    assert result.returncode == 0, result.stderr
    wait_for(lambda: cluster.scheduler.states(KEY) == ["RUNNING"], 60, "RUNNING",
             seen=lambda: cluster.scheduler.states(KEY))  # fmt: skip
    task: dict[str, Any] = cluster.scheduler.tasks(KEY)[0]
    return task


def runs(cluster: Embedded) -> list[tuple[str, str]]:
    return [(r["task_id"], r["state"]) for r in cluster.scheduler.all_runs(KEY)]


def live_on_agent(cluster: Embedded) -> list[str]:
    """The agent's task ids of this job whose executor still runs and that have not ended."""
    state = cluster.agent.get("/api/v1/agent/state")
    return sorted(
        task_id
        for e in state["executors"]
        if not e["terminated"]
        for task_id, s in e["tasks"].items()
        if "-part-" in task_id and s in ("TASK_STARTING", "TASK_RUNNING")
    )


def history(cluster: Embedded, task_id: str) -> list[str]:
    events = cluster.scheduler.get(f"/api/v1/tasks/{task_id}")["history"]
    return [e["state"] for e in events]


def test_reschedule_replaces_the_run_and_the_returning_agent_kills_the_old_one(
    cluster: Embedded,
) -> None:
    old = create(cluster, "PartitionPolicy(reschedule=True, delay_secs=0)")["task_id"]
    with stopped(cluster):
        # unreachable: PARTITIONED, given up at once (delay 0), a new run waits for a host
        wait_for(lambda: (old, "LOST") in runs(cluster), 30, "the old run LOST",
                 seen=lambda: runs(cluster))  # fmt: skip
        assert "PARTITIONED" in history(cluster, old)
        new = wait_for(
            lambda: (t := cluster.scheduler.tasks(KEY)[0])["state"] == "PENDING" and t,
            30,
            "the new run waiting for the agent",
            seen=lambda: cluster.scheduler.tasks(KEY),
        )
        assert new["task_id"] != old and "unreachable" in new["message"]
    # back: the new run runs there, the old one (still alive on the agent) is killed
    wait_for(lambda: cluster.scheduler.tasks(KEY)[0]["state"] == "RUNNING", 60,
             "the new run RUNNING", seen=lambda: runs(cluster))  # fmt: skip
    cluster.agent.wait_state(old, "TASK_KILLED")
    wait_for(lambda: live_on_agent(cluster) == [new["task_id"]], 30, "one task on the agent",
             seen=lambda: live_on_agent(cluster))  # fmt: skip
    assert runs(cluster) == [(old, "LOST"), (new["task_id"], "RUNNING")]


def test_without_reschedule_the_run_waits_and_is_running_again_after_resume(
    cluster: Embedded,
) -> None:
    # delay_secs=1 means nothing without reschedule: were it obeyed, the run would be LOST
    # one second after it was PARTITIONED
    old = create(cluster, "PartitionPolicy(reschedule=False, delay_secs=1)")["task_id"]
    with stopped(cluster):
        wait_for(lambda: runs(cluster) == [(old, "PARTITIONED")], 30, "PARTITIONED",
                 seen=lambda: runs(cluster))  # fmt: skip
        # a window well past the delay, checked all along: still the one run, PARTITIONED
        until = time.monotonic() + 3
        while time.monotonic() < until:
            assert runs(cluster) == [(old, "PARTITIONED")]
            time.sleep(0.2)
    wait_for(lambda: runs(cluster) == [(old, "RUNNING")], 30, "RUNNING again",
             seen=lambda: runs(cluster))  # fmt: skip
    assert history(cluster, old)[-3:] == ["RUNNING", "PARTITIONED", "RUNNING"]
    assert live_on_agent(cluster) == [old]
    result = borealis("job", "--clusters", str(cluster.scheduler.clusters), "status", KEY)
    assert "partition policy: wait for the host" in result.stdout


def test_a_bad_policy_is_refused_by_job_create_in_one_line(cluster: Embedded) -> None:
    path = cluster.base / "part.aurora"
    clusters = str(cluster.scheduler.clusters)
    for policy, problem in (
        ("PartitionPolicy(delay_secs=-5)", "partition_policy.delay_secs: expected an integer >= 0"),
        ("PartitionPolicy(delay_secs='soon')", "partition_policy.delay_secs"),
        ("PartitionPolicy(reschedule='maybe')", "partition_policy.reschedule"),
    ):
        path.write_text(config(policy))
        result = borealis("job", "--clusters", clusters, "create", KEY, str(path))
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert result.stderr.count("\n") == 1 and problem in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert cluster.scheduler.get("/api/v1/jobs")["jobs"] == []  # nothing was stored
    # a good one shows in the API's spec
    path.write_text(config("PartitionPolicy(reschedule=False, delay_secs=7)"))
    result = borealis("job", "--clusters", clusters, "create", KEY, str(path))
    assert result.returncode == 0, result.stderr
    spec = cluster.scheduler.get(f"/api/v1/jobs/{KEY}")["spec"]
    assert spec["partition_policy"] == {"reschedule": False, "delay_secs": 7}
