"""Updates applied by the scheduler (scheduler/updates/driver.py over scheduler/core.py) with a
fake backend that answers launches and kills like a well-behaved host, and a fake clock: every
instance ends on the right config, at most a batch is down at once, rollback restores the old
config, scaling adds and removes instances, a restarted scheduler resumes without touching an
instance twice, and the user's verbs and refusals."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from test_scheduler_core import Clock, FakeBackend, job

from borealis.contract.jobspec import JobSpec
from borealis.contract.mesos import MesosState
from borealis.contract.schedule import ScheduleStatus
from borealis.scheduler.core import Conflict, Policy, Scheduler
from borealis.scheduler.store import Store
from borealis.scheduler.updates.driver import UpdateConflict
from borealis.scheduler.updates.planner import Refused

S = ScheduleStatus
KEY = "c/r/e/j"


def version(command: str, instances: int = 4, *, service: bool = True, **update: Any) -> JobSpec:
    spec = job(instances, service=service, update={"watch_secs": 10, **update})
    task = {**spec.task, "processes": [{"name": "p", "cmdline": command}]}
    from dataclasses import replace

    return replace(spec, task=task)


class Host:
    """Answers like a host: launched runs go RUNNING (or fail, for ``broken`` commands),
    killed runs end KILLED; counts runs started per (instance, config)."""

    def __init__(self, tmp_path: Path, broken: str = "") -> None:
        self.backend, self.clock = FakeBackend(cpu=64), Clock()
        self.path, self.broken = tmp_path / "s.db", broken
        self.scheduler = self._new()
        self.started: dict[tuple[int, str], int] = {}
        self.down_most = 0

    def _new(self) -> Scheduler:
        policy = Policy(penalty_initial=1, penalty_max=1, flapping_threshold=5)
        return Scheduler(Store(self.path), self.backend, policy, self.clock)

    def restart(self) -> None:
        """A scheduler SIGKILLed and started again on the same file."""
        self.scheduler.store.close()
        self.scheduler = self._new()

    def tick(self, seconds: float = 1.0) -> None:
        s = self.scheduler
        asyncio.run(s.tick())
        for task in s.store.in_states(S.ASSIGNED):
            config = s.spec_of(task)
            key = (task.instance, task.config)
            self.started[key] = self.started.get(key, 0) + 1
            failing = self.broken and self.broken in config.task["processes"][0]["cmdline"]
            end = MesosState.TASK_FAILED if failing else MesosState.TASK_RUNNING
            asyncio.run(s.on_status(task.task_id, end, "exit 1" if failing else ""))
        for task in s.store.in_states(S.KILLING):
            asyncio.run(s.on_status(task.task_id, MesosState.TASK_KILLED))
        running = sum(1 for t in s.store.latest(KEY) if t.state is S.RUNNING)
        self.down_most = max(self.down_most, len(s.store.desired(KEY)) - running)
        self.clock.now += seconds

    def until_ended(self, limit: int = 400) -> dict[str, Any]:
        for _ in range(limit):
            self.tick()
            update = self.scheduler.updates.records.of_job(KEY)[0]
            if update.progress.status.terminal:
                return self.scheduler.updates.describe(update)
        raise AssertionError("the update did not end")

    def configs(self) -> list[str]:
        return [t.config for t in self.scheduler.store.latest(KEY) if not t.state.terminal]


def settle(host: Host, spec: JobSpec) -> None:
    host.scheduler.create_job(spec)
    for _ in range(3):
        host.tick()


def test_a_rolling_update_moves_every_instance_in_batches(tmp_path: Path) -> None:
    host = Host(tmp_path)
    old, new = version("v1", 10), version("v2", 10, batch_sizes=[3])
    settle(host, old)
    host.down_most = 0
    update = host.scheduler.updates.start(new, None, "alice")
    result = host.until_ended()
    assert result["status"] == "ROLLED_FORWARD", result
    assert host.configs() == [new.config_id] * 10
    assert host.down_most == 3  # a batch of three at a time, never more
    assert all(host.started[i, new.config_id] == 1 for i in range(10))  # each exactly once
    assert host.scheduler.store.job(KEY)[0] == new  # type: ignore[index]
    assert update.user == "alice"


def test_a_failing_version_rolls_back_every_changed_instance(tmp_path: Path) -> None:
    host = Host(tmp_path, broken="crash")
    old, new = version("v1", 6), version("crash", 6, batch_sizes=[2])
    settle(host, old)
    host.scheduler.updates.start(new, None, "bob")
    result = host.until_ended()
    assert result["status"] == "ROLLED_BACK"
    assert "2 instances failed" in result["reason"]  # the whole first batch
    assert host.configs() == [old.config_id] * 6
    changed = [i for i in range(6) if (i, new.config_id) in host.started]
    assert changed == [0, 1]  # the first batch failed: nothing after it was touched
    assert host.scheduler.store.job(KEY)[0] == old  # type: ignore[index]


def test_scale_up_and_down_are_updates(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 3))
    host.scheduler.updates.start(version("v1", 5), None, "ops")
    assert host.until_ended()["status"] == "ROLLED_FORWARD"
    assert sorted(host.scheduler.store.desired(KEY)) == [0, 1, 2, 3, 4]
    assert host.started.get((0, version("v1").config_id)) == 1  # untouched
    host.scheduler.updates.start(version("v1", 2), None, "ops")
    assert host.until_ended()["status"] == "ROLLED_FORWARD"
    assert len(host.configs()) == 2 and sorted(host.scheduler.store.desired(KEY)) == [0, 1]
    assert host.scheduler.store.job(KEY)[0].instances == 2  # type: ignore[index]


def test_a_restarted_scheduler_resumes_without_touching_an_instance_twice(
    tmp_path: Path,
) -> None:
    host = Host(tmp_path)
    old, new = version("v1", 8), version("v2", 8, batch_sizes=[3])
    settle(host, old)
    host.scheduler.updates.start(new, None, "carol")
    for n in range(200):
        host.tick()
        if n % 3 == 0:
            host.restart()
        update = host.scheduler.updates.records.of_job(KEY)[0]
        if update.progress.status.terminal:
            break
    assert update.progress.status.value == "ROLLED_FORWARD"
    assert [host.started[i, new.config_id] for i in range(8)] == [1] * 8


def test_one_update_at_a_time_and_verbs(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 4))
    first = host.scheduler.updates.start(version("v2", 4), None, "a")
    with pytest.raises(UpdateConflict, match=first.id):
        host.scheduler.updates.start(version("v3", 4), None, "b")
    paused = host.scheduler.updates.command(first.id, "pause")
    assert paused.progress.status.value == "ROLL_FORWARD_PAUSED"
    for _ in range(20):
        host.tick()
    assert host.scheduler.updates.describe(paused)["phases"] == {"WAITING": 4}
    with pytest.raises(Refused):
        host.scheduler.updates.command(first.id, "pause")
    host.scheduler.updates.command(first.id, "resume")
    host.tick()
    host.scheduler.updates.command(first.id, "abort")
    for _ in range(20):
        host.tick()
    ended = host.scheduler.updates.records.get(first.id)
    assert ended is not None and ended.progress.status.value == "ABORTED"
    # one instance moved before the abort; the rest stay where they were
    assert sorted(host.configs()).count(version("v2").config_id) == 1


def test_only_named_instances_and_no_op_updates(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 4))
    host.scheduler.updates.start(version("v2", 4), frozenset({1, 3}), "a")
    assert host.until_ended()["status"] == "ROLLED_FORWARD"
    v1, v2 = version("v1").config_id, version("v2").config_id
    assert host.configs() == [v1, v2, v1, v2]
    with pytest.raises(LookupError, match="instance 7 is neither in"):
        host.scheduler.updates.start(version("v3", 4), frozenset({1, 7}), "a")
    assert host.scheduler.store.job(KEY)[0] == version("v2", 4)  # type: ignore[index]
    same = host.scheduler.updates.start(version("v2", 4), frozenset({1, 3}), "a")
    assert same.progress.status.value == "ROLLED_FORWARD"
    assert same.progress.reason == "no instance changed"


def test_killing_the_job_ends_its_update_in_error(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 2))
    update = host.scheduler.updates.start(version("v2", 2), None, "a")
    with pytest.raises(Conflict, match="being updated"):
        asyncio.run(host.scheduler.kill_job(KEY, frozenset({1})))
    asyncio.run(host.scheduler.kill_job(KEY))
    with pytest.raises(Conflict, match="was killed"):  # as before instance ranges existed
        asyncio.run(host.scheduler.restart_job(KEY))
    ended = host.scheduler.updates.records.get(update.id)
    assert ended is not None and ended.progress.status.value == "ERROR"
    assert ended.progress.reason == "the job was killed"
    # a job created again under the same key (once its runs ended) has no update running
    host.tick()
    host.scheduler.create_job(version("v1", 2))
    assert host.scheduler.updates.active(KEY) is None


def test_instance_ranges_kill_restart_and_add(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 4))
    before = {t.instance: t.task_id for t in host.scheduler.store.latest(KEY)}
    asyncio.run(host.scheduler.restart_job(KEY, frozenset({2})))
    host.tick()
    after = {t.instance: t.task_id for t in host.scheduler.store.latest(KEY)}
    assert [i for i in before if before[i] != after[i]] == [2]
    asyncio.run(host.scheduler.kill_job(KEY, frozenset({0, 1})))
    host.tick()
    assert sorted(host.scheduler.store.desired(KEY)) == [2, 3]
    live = [t for t in host.scheduler.store.latest(KEY) if not t.state.terminal]
    assert sorted(t.instance for t in live) == [2, 3]
    added = asyncio.run(host.scheduler.add_instances(KEY, 3, 2))
    assert [t.instance for t in added] == [4, 5]
    assert host.scheduler.store.job(KEY)[0].instances == 4  # type: ignore[index]


def test_a_kill_decided_but_never_sent_is_sent_after_a_restart(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 1))
    (old,) = host.scheduler.store.latest(KEY)

    async def lost(_task: Any) -> None:  # the scheduler died before the kill left it
        pass

    host.scheduler.kill_runs = lost  # type: ignore[method-assign]
    host.scheduler.updates.start(version("v2", 1), None, "a")
    asyncio.run(host.scheduler.tick())
    assert host.scheduler.store.task(old.task_id).state is S.KILLING  # type: ignore[union-attr]
    assert old.task_id not in host.backend.killed
    host.restart()
    asyncio.run(host.scheduler.reconcile({old.task_id: MesosState.TASK_RUNNING}))
    assert host.backend.killed == [old.task_id]


def test_a_pulse_that_moves_an_awaiting_update_is_in_its_history(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 3))
    update = host.scheduler.updates.start(version("v2", 3, pulse_interval_secs=5), None, "a")
    host.tick()  # no pulse yet: it awaits one
    host.scheduler.updates.command(update.id, "pulse")
    host.scheduler.updates.command(update.id, "pulse")  # already moving: nothing to record
    events = [(e["status"], e["reason"]) for e in host.scheduler.updates.records.events(update.id)]
    assert events == [
        ("ROLLING_FORWARD", "started by a"),
        ("ROLL_FORWARD_AWAITING_PULSE", "no pulse in pulse_interval_secs"),
        ("ROLLING_FORWARD", "pulsed by the user"),
    ]


def test_a_rollback_paused_and_resumed_keeps_its_cause(tmp_path: Path) -> None:
    host = Host(tmp_path, broken="crash")
    settle(host, version("v1", 6))
    update = host.scheduler.updates.start(version("crash", 6, batch_sizes=[2]), None, "bob")
    records = host.scheduler.updates.records
    while records.of_job(KEY)[0].progress.status.value != "ROLLING_BACK":
        host.tick()
    host.scheduler.updates.command(update.id, "pause")
    host.restart()  # the cause is stored with the update
    host.scheduler.updates.command(update.id, "resume")
    result = host.until_ended()
    assert result["status"] == "ROLLED_BACK"
    assert result["reason"] == "rolled back: 2 instances failed (max_total_failures is 0)"


def test_a_rollback_asked_by_the_user_says_so_at_its_end(tmp_path: Path) -> None:
    host = Host(tmp_path)
    settle(host, version("v1", 4))
    update = host.scheduler.updates.start(version("v2", 4), None, "a")
    host.tick()
    host.scheduler.updates.command(update.id, "rollback")
    host.scheduler.updates.command(update.id, "pause")
    host.scheduler.updates.command(update.id, "resume")
    assert host.until_ended()["reason"] == "rolled back: asked by the user"


def sla_version(command: str, sla_aware: bool) -> JobSpec:
    """Five instances that must keep four up (RUNNING for 20 s), updated two at a time."""
    from dataclasses import replace

    spec = job(
        5,
        update={"watch_secs": 10, "batch_sizes": [2], "sla_aware": sla_aware},
        sla_policy={"kind": "count", "count": 4, "duration_secs": 20},
    )
    task = {**spec.task, "processes": [{"name": "p", "cmdline": command}]}
    return replace(spec, task=task)


@pytest.mark.parametrize("sla_aware", [True, False])
def test_an_sla_aware_update_waits_instead_of_breaking_the_policy(
    tmp_path: Path, sla_aware: bool
) -> None:
    host = Host(tmp_path)
    host.scheduler.create_job(sla_version("v1", sla_aware))
    for _ in range(25):  # every instance up: RUNNING for 20 s
        host.tick()
    store = host.scheduler.store
    host.scheduler.updates.start(sla_version("v2", sla_aware), None, "alice")
    least, held = 5, False
    for _ in range(400):
        host.tick()
        now = host.clock.now
        up = sum(
            1
            for t in store.latest(KEY)
            if t.state is S.RUNNING and t.started is not None and now - t.started >= 20
        )
        least = min(least, up)
        update = host.scheduler.updates.records.of_job(KEY)[0]
        phases = host.scheduler.updates.describe(update)["phases"]
        held = held or "SLA_WAITING" in phases  # type: ignore[operator]
        if update.progress.status.terminal:
            break
    assert update.progress.status.value == "ROLLED_FORWARD"
    # with sla_aware, never fewer than the policy's four up; without, batches of two whose
    # new runs are watched 10 s (not up for 20 s) leave far fewer
    assert least == 4 if sla_aware else least < 4
    assert held is sla_aware  # the batch's second instance waited for the first to be up


class Coordinator(ThreadingHTTPServer):
    """An SLA coordinator as Aurora's protocol has it: says ``{"ok": true}`` for the task keys
    it allows; records what it was asked and how many requests it held at once."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CoordinatorHandler)
        self.allowed: set[str] = set()
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.busy = self.most = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/coordinate"


class CoordinatorHandler(BaseHTTPRequestHandler):
    server: Coordinator

    def do_POST(self) -> None:
        coordinator = self.server
        with coordinator.lock:
            coordinator.busy += 1
            coordinator.most = max(coordinator.most, coordinator.busy)
        key = parse_qs(urlparse(self.path).query)["task"][0]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(0.02)  # holds the request a moment: a second one at once would overlap
        with coordinator.lock:
            coordinator.asked.append((key, body))
            coordinator.busy -= 1
        answer = json.dumps({"ok": key in coordinator.allowed}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopHost(Host):
    """A Host whose passes share one event loop, so that the coordinator's answers, which
    arrive between passes, are there for the next one."""

    def __init__(self, tmp_path: Path) -> None:
        self.runner = asyncio.Runner()
        super().__init__(tmp_path)

    def tick(self, seconds: float = 1.0) -> None:
        s, run = self.scheduler, self.runner.run
        run(s.tick())
        run(s.updates.coordinators.settle())
        for task in s.store.in_states(S.ASSIGNED):
            run(s.on_status(task.task_id, MesosState.TASK_RUNNING, ""))
        for task in s.store.in_states(S.KILLING):
            run(s.on_status(task.task_id, MesosState.TASK_KILLED))
        self.clock.now += seconds


def test_a_coordinator_policy_asks_before_each_instance_goes_down(tmp_path: Path) -> None:
    from dataclasses import replace

    coordinator = Coordinator()
    threading.Thread(target=coordinator.serve_forever, daemon=True).start()
    policy = {"kind": "coordinator", "coordinator_url": coordinator.url, "status_key": "ok"}
    settings = {"watch_secs": 5, "strategy": "batch", "batch_sizes": [4], "sla_aware": True}

    def spec(command: str) -> JobSpec:
        base = job(4, update=settings, sla_policy=policy)
        return replace(base, task={**base.task, "processes": [{"name": "p", "cmdline": command}]})

    host = LoopHost(tmp_path)
    try:
        host.scheduler.create_job(spec("v1"))
        for _ in range(3):
            host.tick()
        coordinator.allowed = {"c/r/e/j/0", "c/r/e/j/1"}
        update = host.scheduler.updates.start(spec("v2"), None, "alice")
        for _ in range(20):
            host.tick()
        rows: Any = host.scheduler.updates.describe(update)["instances"]
        phases = {p["instance"]: p["phase"] for p in rows}
        assert phases == {0: "UPDATED", 1: "UPDATED", 2: "SLA_WAITING", 3: "SLA_WAITING"}
        keys = [key for key, _ in coordinator.asked]
        assert sorted(keys) == ["c/r/e/j/0", "c/r/e/j/1", "c/r/e/j/2", "c/r/e/j/3"]  # once each
        key, body = next(a for a in coordinator.asked if a[0] == "c/r/e/j/2")
        assert body["task"] == key and body["taskConfig"]["assignedTask"]["instanceId"] == 2
        assert body["taskConfig"]["status"] == "RUNNING"
        assert coordinator.most == 1  # one request at a time
        coordinator.allowed |= {"c/r/e/j/2", "c/r/e/j/3"}  # asked again after retry (60 s)
        for _ in range(100):
            host.tick()
            if host.scheduler.updates.records.get(update.id).progress.status.terminal:  # type: ignore[union-attr]
                break
        done = host.scheduler.updates.records.get(update.id)
        assert done is not None and done.progress.status.value == "ROLLED_FORWARD"
        assert len(coordinator.asked) == 6  # 2 and 3 once more, after the retry delay
    finally:
        host.runner.close()
        coordinator.shutdown()
        coordinator.server_close()
