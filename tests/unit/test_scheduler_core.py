"""The scheduler's rules (scheduler/core.py) with a fake backend and a fake clock: nothing
runs, time is whatever the test says."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from borealis.contract.agentapi import Refusal
from borealis.contract.jobspec import JobSpec, job_from_json
from borealis.contract.mesos import MesosState
from borealis.contract.schedule import ScheduleStatus
from borealis.scheduler.core import Conflict, LaunchProblem, Policy, Scheduler
from borealis.scheduler.placement import Host
from borealis.scheduler.store import Store, Task

S = ScheduleStatus
MB = 1 << 20


class FakeBackend:
    def __init__(self, cpu: float = 4) -> None:
        self.cpu = cpu
        self.launched: list[str] = []
        self.killed: list[str] = []
        self.refuse: LaunchProblem | None = None  # what every launch answers

    def hosts(self) -> list[Host]:
        return [Host("h1", self.cpu, 8192 * MB, 100_000 * MB)]

    async def launch(self, task: Task, job: JobSpec) -> LaunchProblem | None:
        self.launched.append(task.task_id)
        return self.refuse

    async def kill(self, task: Task) -> None:
        self.killed.append(task.task_id)

    async def flush(self) -> None:
        pass

    async def wants_offers(self, wanted: bool) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def job(instances: int = 1, service: bool = True, **extra: Any) -> JobSpec:
    return job_from_json(
        {
            "key": {"cluster": "c", "role": "r", "environment": "e", "name": "j"},
            "instances": instances,
            "service": service,
            "task": {
                "name": "j",
                "processes": [{"name": "p", "cmdline": "run {{thermos.ports[http]}}"}],
                "resources": {"cpu": 0.5, "ram": 64 * MB, "disk": 64 * MB},
            },
            **extra,
        }
    )


def make(tmp_path: Path, **policy: Any) -> tuple[Scheduler, FakeBackend, Clock]:
    backend, clock = FakeBackend(), Clock()
    settings = {
        "penalty_initial": 30.0,
        "penalty_max": 300.0,
        "flapping_threshold": 300.0,
        **policy,
    }
    return Scheduler(Store(tmp_path / "s.db"), backend, Policy(**settings), clock), backend, clock


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def current(s: Scheduler) -> list[Task]:
    return s.store.latest("c/r/e/j")


def test_instances_are_placed_launched_and_followed(tmp_path: Path) -> None:
    s, backend, _clock = make(tmp_path)
    s.create_job(job(3))
    run(s.tick())
    assert [t.state for t in current(s)] == [S.ASSIGNED] * 3
    assert len(backend.launched) == 3 and all(t.ports.get("http") for t in current(s))
    for t in current(s):
        run(s.on_status(t.task_id, MesosState.TASK_STARTING))
        run(s.on_status(t.task_id, MesosState.TASK_RUNNING))
    assert [t.state for t in current(s)] == [S.RUNNING] * 3
    with pytest.raises(Conflict):
        s.create_job(job(3))


def test_a_crash_looping_service_is_throttled_with_growing_delays(tmp_path: Path) -> None:
    s, _backend, clock = make(tmp_path)
    s.create_job(job(1))
    delays = []
    for _ in range(6):
        run(s.tick())
        (task,) = current(s)
        assert task.state is S.ASSIGNED
        run(s.on_status(task.task_id, MesosState.TASK_RUNNING))
        clock.now += 2  # dies two seconds after starting
        run(s.on_status(task.task_id, MesosState.TASK_FAILED, "exit 1"))
        (nxt,) = current(s)
        assert nxt.state is S.THROTTLED and nxt.task_id != task.task_id
        delays.append(nxt.not_before - clock.now)
        clock.now = nxt.not_before
    assert delays == [30, 60, 120, 240, 300, 300]
    # a run that lasts past the flapping threshold resets the penalty
    run(s.tick())
    (task,) = current(s)
    run(s.on_status(task.task_id, MesosState.TASK_RUNNING))
    clock.now += 301
    run(s.on_status(task.task_id, MesosState.TASK_FAILED))
    (nxt,) = current(s)
    assert nxt.state is S.PENDING and nxt.flaps == 0


def test_non_service_jobs_stop_after_finishing_or_too_many_failures(tmp_path: Path) -> None:
    s, _backend, _clock = make(tmp_path, flapping_threshold=0)
    s.create_job(job(2, service=False, max_task_failures=2))
    run(s.tick())
    first, second = current(s)
    run(s.on_status(first.task_id, MesosState.TASK_FINISHED))
    assert current(s)[0].task_id == first.task_id  # not replaced
    run(s.on_status(second.task_id, MesosState.TASK_FAILED))
    run(s.tick())
    retry = current(s)[1]
    assert retry.task_id != second.task_id and retry.failures == 1
    run(s.on_status(retry.task_id, MesosState.TASK_FAILED))
    assert current(s)[1].task_id == retry.task_id and current(s)[1].state is S.FAILED


def test_kill_and_restart(tmp_path: Path) -> None:
    s, backend, _clock = make(tmp_path)
    s.create_job(job(2))
    run(s.tick())
    for t in current(s):
        run(s.on_status(t.task_id, MesosState.TASK_RUNNING))
    old = [t.task_id for t in current(s)]
    assert run(s.restart_job("c/r/e/j")) == 2
    assert backend.killed == old and [t.state for t in current(s)] == [S.KILLING] * 2
    for task_id in old:
        run(s.on_status(task_id, MesosState.TASK_KILLED))
    assert [t.state for t in current(s)] == [S.PENDING] * 2  # no flapping penalty
    run(s.tick())
    run(s.kill_job("c/r/e/j"))
    for t in current(s):
        run(s.on_status(t.task_id, MesosState.TASK_KILLED))
    run(s.tick())
    assert [t.state for t in current(s)] == [S.KILLED] * 2
    assert s.placer.hosts["h1"].used_cpu == pytest.approx(0)  # every resource given back


def test_stuck_transient_runs_become_lost_and_are_replaced(tmp_path: Path) -> None:
    s, _backend, clock = make(tmp_path, transient_timeout=60)
    s.create_job(job(1))
    run(s.tick())
    (stuck,) = current(s)
    clock.now += 61
    run(s.tick())
    lost = s.store.task(stuck.task_id)
    assert lost is not None and lost.state is S.LOST and "stuck in ASSIGNED" in lost.message
    assert current(s)[0].task_id != stuck.task_id


def test_no_overcommit_leaves_instances_pending_with_a_reason(tmp_path: Path) -> None:
    s, _backend, _clock = make(tmp_path)
    s.create_job(job(10))  # 10 x (0.5 + 0.25) cpu on 4 cores: 5 fit
    run(s.tick())
    states = [t.state for t in current(s)]
    assert states.count(S.ASSIGNED) == 5 and states.count(S.PENDING) == 5
    assert "lack resources" in next(t.message for t in current(s) if t.state is S.PENDING)


def test_state_survives_a_restart_and_is_reconciled(tmp_path: Path) -> None:
    s, _backend, _clock = make(tmp_path)
    s.create_job(job(3))
    run(s.tick())
    tasks = current(s)
    for t in tasks:
        run(s.on_status(t.task_id, MesosState.TASK_RUNNING))
    s.store.close()
    again, backend2, _ = make(tmp_path)
    assert [t.task_id for t in current(again)] == [t.task_id for t in tasks]
    assert again.placer.hosts["h1"].used_cpu == pytest.approx(3 * 0.75)  # resources re-counted
    known = {
        tasks[0].task_id: MesosState.TASK_RUNNING,
        tasks[1].task_id: MesosState.TASK_FINISHED,
        "stray": MesosState.TASK_RUNNING,
    }
    run(again.reconcile(known))
    by_id = {t.task_id: t for t in again.store.tasks()}
    assert by_id[tasks[0].task_id].state is S.RUNNING
    assert by_id[tasks[1].task_id].state is S.FINISHED
    assert by_id[tasks[2].task_id].state is S.LOST  # no host knows it
    assert backend2.killed == ["stray"]
    # one still running, and new runs for the finished (a service) and the lost instance
    assert len([t for t in current(again) if not t.state.terminal]) == 3


@pytest.mark.parametrize(
    ("problem", "lost"),
    [
        # the host already has the task: it was launched before the restart, nothing to do
        (LaunchProblem("task was launched earlier", Refusal.TASK_EXISTS), False),
        # the words of that refusal, but no such refusal: the launch failed
        (LaunchProblem("task t was already launched"), True),
        (LaunchProblem("agent answered 500"), True),
    ],
)
def test_a_relaunch_after_a_restart_acts_on_the_refusal_not_its_words(
    tmp_path: Path, problem: LaunchProblem, lost: bool
) -> None:
    s, _, _ = make(tmp_path)
    s.create_job(job(1))
    run(s.tick())
    (placed,) = current(s)
    assert placed.state is S.ASSIGNED
    s.store.close()
    again, backend2, _ = make(tmp_path)
    backend2.refuse = problem
    run(again.reconcile({}))  # the host knows nothing of it: it is launched again
    assert backend2.launched == [placed.task_id]
    state = again.store.task(placed.task_id).state  # type: ignore[union-attr]
    assert state is (S.LOST if lost else S.ASSIGNED)


def test_higher_priority_jobs_are_placed_first(tmp_path: Path) -> None:
    s, _, _ = make(tmp_path)
    low = job(5, priority=0)
    high = job_from_json(
        {**low.to_json(), "key": {**low.to_json()["key"], "name": "urgent"}, "priority": 10}
    )
    s.create_job(low)
    s.create_job(high)
    run(s.tick())  # 4 cores hold 5 instances of 0.75 cpu: the urgent job gets them all
    assert [t.state for t in s.store.latest("c/r/e/urgent")] == [S.ASSIGNED] * 5
    assert all(t.state is S.PENDING for t in s.store.latest("c/r/e/j"))
