"""The scheduler's Mesos backend against a master double written strictly from the Mesos v1
scheduler API reference (tests/tools/mesos_master_double.py; no real Mesos can run here),
and a real ZooKeeper for leader detection."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cluster import SchedulerProcess
from support import REPO, borealis, wait_for
from zookeeper import ZooKeeper, free_port

DOUBLE = REPO / "tests" / "tools" / "mesos_master_double.py"
KEY = "local/www-data/devel/svc"
CONFIG = """
jobs = [Service(cluster='local', role='www-data', environment='devel', name='svc', instances=3,
                constraints={'host': 'limit:1'},
                task=Task(name='svc',
                          processes=[Process(name='p', cmdline='serve {{thermos.ports[http]}}')],
                          resources=Resources(cpu=0.5, ram=128*MB, disk=64*MB)))]
"""


@dataclass
class Double:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{self.address}/double/state", timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def get(self, what: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{self.address}/double/{what}", timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def hook(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://{self.address}/double/{what}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]


def start_double(log: Path, *extra: str) -> Double:
    port = free_port()
    out = open(log, "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, str(DOUBLE), "--port", str(port), *extra],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    out.close()
    double = Double(port, proc)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        try:
            double.state()
            return True
        except OSError:
            return False

    wait_for(up, 30, "the master double")
    return double


@pytest.fixture
def doubles(tmp_path: Path) -> Iterator[list[Double]]:
    started: list[Double] = []
    yield started
    for d in started:
        if d.process.poll() is None:
            d.process.kill()
            d.process.wait()


@pytest.fixture
def scheduler_for(tmp_path: Path) -> Iterator[Any]:
    made: list[SchedulerProcess] = []

    def make(master: str) -> SchedulerProcess:
        s = SchedulerProcess(
            tmp_path / "scheduler.db",
            tmp_path / "scheduler.log",
            "http://127.0.0.1:1",
            extra=("--master", master, "--penalty", "1s", "--executor-cpu", "0.25"),
        )
        s.start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def create(scheduler: SchedulerProcess, tmp_path: Path) -> None:
    config = tmp_path / "svc.aurora"
    config.write_text(CONFIG)
    done = borealis("job", "--clusters", str(scheduler.clusters), "create", KEY, str(config))
    assert done.returncode == 0, done.stderr


def running(scheduler: SchedulerProcess, count: int = 3) -> bool:
    return scheduler.states(KEY) == ["RUNNING"] * count


def test_subscribe_offers_launch_updates_and_acks(
    tmp_path: Path, doubles: list[Double], scheduler_for: Any
) -> None:
    double = start_double(tmp_path / "double.log")
    doubles.append(double)
    scheduler = scheduler_for(double.address)
    wait_for(lambda: double.state()["subscribed"], 20, "the framework to subscribe")
    info = next(iter(double.state()["frameworks"].values()))
    assert info["name"] == "borealis" and info["user"] and info["checkpoint"] is True
    assert info["failover_timeout"] >= 7 * 24 * 3600
    assert {"type": "TASK_KILLING_STATE"} in info["capabilities"]
    create(scheduler, tmp_path)
    wait_for(lambda: running(scheduler), 30, "3 RUNNING")
    state = double.state()
    hosts = {t["host"] for t in scheduler.tasks(KEY)}
    assert len(hosts) == 3  # limit:1 per host, over the offers of three agents
    assert state["counts"]["launched"] == 3
    wait_for(
        lambda: double.state()["counts"].get("acknowledged", 0) == 6, 10, "6 ACKs (2 per task)"
    )
    assert double.state()["counts"].get("DECLINE", 0) >= 1  # offers nothing was placed on
    task = next(iter(state["tasks"].values()))
    assert task["state"] == "TASK_RUNNING" and task["cpu"] == pytest.approx(0.75)  # + executor
    # the failed task is replaced on an offer
    victim = scheduler.tasks(KEY)[0]["task_id"]
    double.hook("fail", {"task_id": victim})
    wait_for(
        lambda: scheduler.tasks(KEY)[0]["task_id"] != victim and running(scheduler), 30, "replaced"
    )
    # kill the job through the master
    done = borealis("job", "--clusters", str(scheduler.clusters), "kill", KEY)
    assert done.returncode == 0
    wait_for(lambda: set(scheduler.states(KEY)) == {"KILLED"}, 30, "KILLED",
             seen=lambda: scheduler.states(KEY))  # fmt: skip
    assert double.state()["counts"]["KILL"] == 3


def test_rescinded_offers_are_not_used(
    tmp_path: Path, doubles: list[Double], scheduler_for: Any
) -> None:
    double = start_double(tmp_path / "double.log")
    doubles.append(double)
    scheduler = scheduler_for(double.address)
    wait_for(lambda: double.state()["suppressed"], 20, "SUPPRESS: nothing waits for a host")
    double.hook("rescind_next", {})
    create(scheduler, tmp_path)  # REVIVE: offers of 3 agents come, the first is taken back
    wait_for(lambda: running(scheduler), 30, "3 RUNNING (one after a later offer)")
    state = double.state()
    assert state["counts"]["rescinded"] == 1 and state["counts"]["REVIVE"] >= 1
    assert [t for t in state["tasks"].values() if t["state"] == "TASK_ERROR"] == []
    wait_for(lambda: double.state()["suppressed"], 20, "SUPPRESS again once all are placed")


def test_a_non_leading_master_redirects_with_307(
    tmp_path: Path, doubles: list[Double], scheduler_for: Any
) -> None:
    leader = start_double(tmp_path / "leader.log")
    follower = start_double(tmp_path / "follower.log", "--leader", leader.address)
    doubles += [leader, follower]
    scheduler = scheduler_for(follower.address)
    wait_for(lambda: leader.state()["subscribed"], 20, "subscribed through the redirect")
    assert follower.state()["subscriptions"] == 0
    assert "redirected to" in scheduler.log.read_text()
    create(scheduler, tmp_path)
    wait_for(lambda: running(scheduler), 30, "3 RUNNING on the leader")


def test_master_failover_through_zookeeper_and_reconciliation(
    tmp_path: Path, doubles: list[Double], scheduler_for: Any
) -> None:
    zk = ZooKeeper(tmp_path / "zk")
    zk.start()
    try:
        first = start_double(tmp_path / "m1.log", "--zk", f"{zk.hosts}/mesos")
        doubles.append(first)
        wait_for(lambda: first.state()["leader"] == first.address, 20, "the first to lead")
        second = start_double(tmp_path / "m2.log", "--zk", f"{zk.hosts}/mesos")
        doubles.append(second)
        scheduler = scheduler_for(f"zk://{zk.hosts}/mesos")
        wait_for(lambda: first.state()["subscribed"], 20, "subscribed to the leader")
        framework_id = first.state()["framework_id"]
        create(scheduler, tmp_path)
        wait_for(lambda: running(scheduler), 30, "3 RUNNING")
        old = {t["task_id"] for t in scheduler.tasks(KEY)}
        first.process.send_signal(signal.SIGKILL)  # its ZooKeeper session ends: the member goes
        first.process.wait()
        wait_for(lambda: second.state()["subscribed"], 60, "re-subscribed to the new leader")
        assert second.state()["framework_id"] == framework_id  # the same framework fails over
        counts = lambda: second.state()["counts"]  # noqa: E731
        wait_for(lambda: counts().get("reconciled_tasks", 0) >= 3, 20, "reconciliation",
                 seen=counts)  # fmt: skip
        # the implicit one follows the explicit one (one call after the other): wait for it too
        wait_for(lambda: counts().get("implicit_reconciliations", 0) >= 1, 20,
                 "implicit reconciliation", seen=counts)  # fmt: skip
        # the new master knows none of the tasks: they are LOST and run again, on it
        wait_for(
            lambda: running(scheduler) and not old & {t["task_id"] for t in scheduler.tasks(KEY)},
            60,
            "replaced on the new master",
        )
        assert len(second.state()["tasks"]) == 3
    finally:
        zk.stop()


def test_scheduler_restart_reconciles_without_duplicates(
    tmp_path: Path, doubles: list[Double], scheduler_for: Any
) -> None:
    double = start_double(tmp_path / "double.log")
    doubles.append(double)
    scheduler = scheduler_for(double.address)
    create(scheduler, tmp_path)
    wait_for(lambda: running(scheduler), 30, "3 RUNNING")
    framework_id = double.state()["framework_id"]
    scheduler.stop(signal.SIGKILL)
    scheduler.start()
    wait_for(
        lambda: double.state()["counts"].get("SUBSCRIBE", 0) >= 2 and double.state()["subscribed"],
        20,
        "re-subscribed",
    )
    assert double.state()["framework_id"] == framework_id
    wait_for(
        lambda: double.state()["counts"].get("reconciled_tasks", 0) >= 3,
        20,
        "explicit reconciliation",
    )
    deadline = time.monotonic() + 1  # a second launch would show up now
    while time.monotonic() < deadline:
        assert running(scheduler)
        state = double.state()
        assert len(state["tasks"]) == 3 and state["counts"]["launched"] == 3  # nothing twice
    task = next(iter(double.state()["tasks"].values()))
    assert task["agent_id"].startswith("agent-")


def test_a_silent_master_is_left_after_missed_heartbeats(
    tmp_path: Path, doubles: list[Double], scheduler_for: Any
) -> None:
    """The TCP stream stays open but nothing comes (a partition): after 5 heartbeat intervals
    the scheduler drops it and subscribes again."""
    double = start_double(tmp_path / "double.log", "--heartbeat", "0.5")
    doubles.append(double)
    scheduler = scheduler_for(double.address)
    wait_for(lambda: double.state()["subscribed"], 20, "subscribed")
    double.hook("mute", {"muted": True})
    wait_for(lambda: double.state()["counts"].get("SUBSCRIBE", 0) >= 2, 30, "a new SUBSCRIBE")
    assert "no heartbeat for 5 intervals" in scheduler.log.read_text()
    double.hook("mute", {"muted": False})
