"""Partitions: the policy in the job JSON (contract/partition.py), the pure verdict
(scheduler/partitions.py) by tables, and the scheduler's handling of PARTITIONED runs with a
fake backend and a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_scheduler_core import current, job, make, run

from borealis.contract.errors import InputError
from borealis.contract.jobspec import job_from_json
from borealis.contract.mesos import MesosState
from borealis.contract.partition import PartitionPolicy
from borealis.contract.schedule import ALLOWED, FROM_MESOS, ScheduleStatus
from borealis.scheduler.agentwatch import AgentWatch, Change, probe_interval
from borealis.scheduler.core import Scheduler
from borealis.scheduler.partitions import Verdict, due_at, verdict
from borealis.scheduler.store import Task

S = ScheduleStatus
M = MesosState
WAIT, GIVE_UP = Verdict.WAIT, Verdict.GIVE_UP

# --- the job JSON -----------------------------------------------------------------------


def test_the_policy_defaults_to_aurora_s_and_is_not_part_of_the_config_id() -> None:
    plain = job()
    assert plain.partition_policy == PartitionPolicy(reschedule=True, delay_secs=0)
    waiting = job(partition_policy={"reschedule": False, "delay_secs": 30})
    assert waiting.partition_policy == PartitionPolicy(False, 30)
    assert waiting.to_json()["partition_policy"] == {"reschedule": False, "delay_secs": 30}
    assert job_from_json(waiting.to_json()).partition_policy == waiting.partition_policy
    # changing it restarts no instance: a job-level setting, as instances and update
    assert waiting.config_id == plain.config_id


@pytest.mark.parametrize(
    ("policy", "error"),
    [
        ({"delay_secs": -1}, "job: partition_policy.delay_secs: expected an integer >= 0, got -1"),
        (
            {"delay_secs": "5m"},
            "job: partition_policy.delay_secs: expected an integer >= 0, got '5m'",
        ),
        ({"reschedule": "yes"}, "job: partition_policy.reschedule: expected true or false"),
        ({"delay": 5}, "job: partition_policy.delay: unknown field"),
        ([], "job: partition_policy: expected an object"),
    ],
)
def test_a_bad_policy_is_refused_in_one_line_naming_the_field(policy: Any, error: str) -> None:
    with pytest.raises(InputError) as e:
        job(partition_policy=policy)
    assert str(e.value).startswith(error) and "\n" not in str(e.value)


# --- the verdict ------------------------------------------------------------------------

VERDICTS = [
    # policy (reschedule, delay), partitioned since, now, being stopped -> verdict
    ((True, 0), 100.0, 100.0, False, GIVE_UP),
    ((True, 60), 100.0, 159.9, False, WAIT),
    ((True, 60), 100.0, 160.0, False, GIVE_UP),
    ((True, 60), 100.0, 5000.0, False, GIVE_UP),
    ((False, 0), 100.0, 100.0, False, WAIT),
    ((False, 0), 100.0, 1e9, False, WAIT),
    ((False, 60), 100.0, 1e9, False, WAIT),  # the delay means nothing without reschedule
    ((True, 60), 100.0, 100.0, True, GIVE_UP),  # stopping: at once, whatever the policy
    ((False, 0), 100.0, 100.0, True, GIVE_UP),
]


@pytest.mark.parametrize(("policy", "since", "now", "stopping", "expected"), VERDICTS)
def test_verdict(
    policy: tuple[bool, int], since: float, now: float, stopping: bool, expected: Verdict
) -> None:
    assert verdict(PartitionPolicy(*policy), since, now, stopping=stopping) is expected


@pytest.mark.parametrize(
    ("policy", "since", "expected"),
    [((True, 0), 100.0, 100.0), ((True, 45), 100.0, 145.0), ((False, 45), 100.0, None)],
)
def test_due_at(policy: tuple[bool, int], since: float, expected: float | None) -> None:
    assert due_at(PartitionPolicy(*policy), since) == expected


# --- the states -------------------------------------------------------------------------


def test_partitioned_has_aurora_s_transitions() -> None:
    into = {a for a, targets in ALLOWED.items() if S.PARTITIONED in targets}
    assert into == {S.STARTING, S.RUNNING, S.KILLING}  # not ASSIGNED, as Aurora
    assert ALLOWED[S.PARTITIONED] == {
        S.ASSIGNED,
        S.STARTING,
        S.RUNNING,
        S.KILLING,
        S.FINISHED,
        S.FAILED,
        S.LOST,
        S.KILLED,  # ours: ended on its host while the host was away
    }
    assert FROM_MESOS[M.TASK_UNREACHABLE] is S.PARTITIONED
    assert S.PARTITIONED.on_host and not S.PARTITIONED.terminal


# --- the scheduler ----------------------------------------------------------------------


def running(s: Scheduler, count: int, **extra: Any) -> list[Task]:
    s.create_job(job(count, **extra))
    run(s.tick())
    for t in current(s):
        run(s.on_status(t.task_id, M.TASK_RUNNING))
    return current(s)


def states(s: Scheduler) -> list[tuple[str, ScheduleStatus]]:
    return [(t.task_id, t.state) for t in s.store.tasks("c/r/e/j")]


def test_reschedule_after_the_delay_replaces_the_run_once_the_host_is_back(
    tmp_path: Path,
) -> None:
    s, backend, clock = make(tmp_path, flapping_threshold=0.0)
    [old] = running(s, 1, partition_policy={"reschedule": True, "delay_secs": 60})
    assert run(s.partitions.host_lost("h1", "no answer")) == 1
    assert current(s)[0].state is S.PARTITIONED
    clock.now += 59
    run(s.tick())
    assert current(s)[0].task_id == old.task_id and current(s)[0].state is S.PARTITIONED
    clock.now += 1
    run(s.tick())
    gone, new = s.store.tasks_of("c/r/e/j", [0])[0], current(s)[0]
    assert gone.state is S.LOST and "unreachable for 60s" in gone.message
    assert new.task_id != old.task_id and new.state is S.PENDING  # nowhere to go: h1 is away
    assert "1 hosts unreachable" in new.message
    # back: the old run is alive there, so it is killed; the new one is placed and launched
    run(s.partitions.host_back("h1", {old.task_id: M.TASK_RUNNING}))
    assert backend.killed == [old.task_id]
    run(s.tick())
    assert current(s)[0].task_id == new.task_id and current(s)[0].state is S.ASSIGNED
    assert backend.launched[-1] == new.task_id
    assert s.store.task(old.task_id).state is S.LOST  # type: ignore[union-attr]


def test_delay_zero_gives_up_at_once(tmp_path: Path) -> None:
    s, _backend, _clock = make(tmp_path)
    [old] = running(s, 1)
    run(s.partitions.host_lost("h1", "no answer"))
    assert s.store.task(old.task_id).state is S.LOST  # type: ignore[union-attr]
    assert current(s)[0].task_id != old.task_id


def test_no_reschedule_waits_and_the_run_is_running_again_when_the_host_is_back(
    tmp_path: Path,
) -> None:
    s, backend, clock = make(tmp_path)
    [old] = running(s, 1, partition_policy={"reschedule": False})
    run(s.partitions.host_lost("h1", "no answer"))
    clock.now += 10 * 24 * 3600
    run(s.tick())
    assert states(s) == [(old.task_id, S.PARTITIONED)]  # no second run, however long
    run(s.partitions.host_back("h1", {old.task_id: M.TASK_RUNNING}))
    assert states(s) == [(old.task_id, S.RUNNING)]
    assert backend.killed == []
    assert s.store.task(old.task_id).started is not None  # type: ignore[union-attr]


def test_a_partitioned_run_unknown_to_its_returning_host_is_lost_and_replaced(
    tmp_path: Path,
) -> None:
    s, _backend, _clock = make(tmp_path)
    [old] = running(s, 1, partition_policy={"reschedule": False})
    run(s.partitions.host_lost("h1", "no answer"))
    run(s.partitions.host_back("h1", {}))
    gone = s.store.task(old.task_id)
    assert gone is not None and gone.state is S.LOST
    assert gone.message == "unknown to its host when it came back"
    assert current(s)[0].task_id != old.task_id


def test_killing_a_partitioned_job_gives_its_runs_up_at_once(tmp_path: Path) -> None:
    s, backend, _clock = make(tmp_path)
    [old] = running(s, 1, partition_policy={"reschedule": False})
    run(s.partitions.host_lost("h1", "no answer"))
    assert run(s.kill_job("c/r/e/j")) == 0  # nothing to ask the unreachable host
    assert states(s) == [(old.task_id, S.LOST)]  # and nothing replaces it
    # the host comes back with the run still alive: killed there
    run(s.partitions.host_back("h1", {old.task_id: M.TASK_RUNNING}))
    assert backend.killed == [old.task_id]


def test_a_run_being_stopped_when_its_host_is_lost_is_lost_at_once(tmp_path: Path) -> None:
    s, _backend, _clock = make(tmp_path)
    [old] = running(s, 1, partition_policy={"reschedule": False})
    run(s.restart_job("c/r/e/j"))
    assert s.store.task(old.task_id).state is S.KILLING  # type: ignore[union-attr]
    run(s.on_status(old.task_id, M.TASK_UNREACHABLE, "agent unreachable"))
    assert s.store.task(old.task_id).state is S.LOST  # type: ignore[union-attr]
    assert current(s)[0].state is S.PENDING  # restarted: replaced, never throttled


def test_unreachable_for_a_run_already_given_up_kills_nothing(tmp_path: Path) -> None:
    s, backend, _clock = make(tmp_path)
    [old] = running(s, 1)
    run(s.partitions.host_lost("h1", "no answer"))  # delay 0: LOST at once
    run(s.on_status(old.task_id, M.TASK_UNREACHABLE, "reconciled"))
    assert backend.killed == [] and s.store.task(old.task_id).state is S.LOST  # type: ignore[union-attr]


def test_assigned_runs_are_not_partitioned(tmp_path: Path) -> None:
    s, _backend, _clock = make(tmp_path)
    s.create_job(job(1))
    run(s.tick())
    assert run(s.partitions.host_lost("h1", "no answer")) == 0
    assert current(s)[0].state is S.ASSIGNED  # the transient timeout covers it


# --- the embedded agent's watch ---------------------------------------------------------

LOST, BACK = Change.LOST, Change.BACK
WATCHES = [
    # probes (time, answered?) from a watch started at 0 with a 10 s timeout -> changes
    ([(2, True), (4, True), (6, True)], []),
    ([(2, False), (9.9, False)], []),  # silent, but not for the timeout yet
    ([(2, False), (10, False), (12, False)], [(10, LOST)]),  # from the start: lost once
    ([(5, True), (14.9, False), (15, False)], [(15, LOST)]),  # from the last answer
    ([(5, True), (9, False), (12, True), (21, False)], []),  # an answer restarts the count
    ([(10, False), (20, False), (21, True), (22, True)], [(10, LOST), (21, BACK)]),
    (
        [(10, False), (11, True), (21, False), (30, True)],
        [(10, LOST), (11, BACK), (21, LOST), (30, BACK)],
    ),
]


@pytest.mark.parametrize(("probes", "changes"), WATCHES)
def test_agent_watch(probes: list[tuple[float, bool]], changes: list[tuple[float, Change]]) -> None:
    watch = AgentWatch(10.0, 0.0)
    seen = []
    for now, answered in probes:
        change = watch.answered(now) if answered else watch.silent(now)
        if change is not None:
            seen.append((now, change))
    assert seen == changes


@pytest.mark.parametrize(("timeout", "interval"), [(30, 5), (1, 0.2), (0.2, 0.2), (2, 0.4)])
def test_probe_interval(timeout: float, interval: float) -> None:
    assert probe_interval(timeout) == pytest.approx(interval)
