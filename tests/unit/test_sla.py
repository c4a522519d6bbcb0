"""SLA arithmetic (``scheduler/sla.py``), the ``sla_policy`` field (``contract/slapolicy.py``)
and the update planner holding an ``sla_aware`` batch, as tables. No I/O, no clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from borealis.contract.errors import InputError
from borealis.contract.reading import Reader
from borealis.contract.slapolicy import SlaKind, SlaPolicy, check_room, sla_from_json
from borealis.contract.updatespec import BatchSize, Strategy, UpdateSettings
from borealis.scheduler.sla import InstanceRun, SlaView, decide, required, room
from borealis.scheduler.updates.planner import InstanceProgress, Progress, RunView, step
from borealis.scheduler.updates.states import Phase, UpdateStatus


def count(n: int, duration: int = 60) -> SlaPolicy:
    return SlaPolicy(SlaKind.COUNT, duration, count=n)


def percent(p: float, duration: int = 60) -> SlaPolicy:
    return SlaPolicy(SlaKind.PERCENTAGE, duration, percentage=p)


@pytest.mark.parametrize(
    ("policy", "active", "need"),
    [
        (count(2), 4, 2),
        (count(4), 4, 3),  # lets none go down: Aurora lets one
        (count(9), 4, 3),
        (count(0), 4, 0),
        (count(2), 0, 0),
        (percent(50), 4, 2),
        (percent(50), 5, 3),  # 2.5 rounds up: 2 of 5 is 40%
        (percent(75), 4, 3),
        (percent(99.9), 10_000, 9990),
        (percent(95), 10, 9),  # 9.5 up would be needed: none could go, so one may
        (percent(100), 3, 2),
        (percent(66.7), 3, 2),
        (percent(0), 3, 0),
    ],
)
def test_required(policy: SlaPolicy, active: int, need: int) -> None:
    assert required(policy, active) == need


UP = InstanceRun(running_since=0.0)  # RUNNING since 0: up at 100 for a 60 s policy
NEW = InstanceRun(running_since=70.0)  # RUNNING, up at 130
PENDING = InstanceRun(on_host=False)
STARTING = InstanceRun()
ENDED = InstanceRun(active=False, on_host=False)


@pytest.mark.parametrize(
    ("policy", "runs", "candidates", "allowed", "recheck"),
    [
        # four up, two must stay: two may go, one after the other
        (count(2), [UP, UP, UP, UP], [0, 1, 2], [0, 1], None),
        # one is only RUNNING for 30 s: three up, one may go; the next when it is up
        (count(2), [UP, UP, UP, NEW], [0, 1], [0], 130.0),
        # a run not on a host loses nothing: always allowed, and it leaves the count as is
        (count(3), [UP, UP, UP, PENDING], [3, 0], [3], None),
        # no run at all (an instance the update adds): allowed
        (count(3), [UP, UP, UP], [5], [5], None),
        # a STARTING run is checked like Aurora checks an assigned one: the job is already
        # below its minimum, so it waits, and only a state change can help (no recheck time)
        (count(3), [UP, UP, STARTING, STARTING], [2], [], None),
        # an ended run is not active: 3 active, 2 up, count 2 lets none go
        (count(2), [UP, UP, STARTING, ENDED], [0], [], None),
        (percent(50), [UP, UP, UP, UP], [3, 2, 1], [3, 2], None),
        # count >= active lets exactly one go
        (count(4), [UP, UP, UP, UP], [0, 1], [0], None),
    ],
)
def test_decide(
    policy: SlaPolicy,
    runs: list[InstanceRun],
    candidates: list[int],
    allowed: list[int],
    recheck: float | None,
) -> None:
    decision = decide(policy, dict(enumerate(runs)), candidates, 100.0)
    assert list(decision.allowed) == allowed
    assert list(decision.waiting) == [i for i in candidates if i not in allowed]
    assert decision.recheck == recheck


def test_room_says_how_many_may_go_down() -> None:
    runs = dict(enumerate([UP, UP, UP, NEW, PENDING]))
    assert room(count(2), runs, 100.0) == (3, 1)
    assert room(count(2), runs, 130.0) == (4, 2)


# --- the sla_policy field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"kind": "drain"}, "sla_policy.kind: expected one of count, percentage, coordinator"),
        ({"kind": "coordinator", "coordinator_url": "file:///x"}, "expected an http"),
        ({"kind": "coordinator"}, "sla_policy.coordinator_url: required field"),
        ({"kind": "count", "duration_secs": 60}, "sla_policy.count: required field"),
        ({"kind": "count", "count": -1, "duration_secs": 1}, "sla_policy.count: expected an"),
        ({"kind": "count", "count": 1, "duration_secs": 7201}, "must be at most 7200"),
        ({"kind": "percentage", "percentage": 101, "duration_secs": 1}, "expected 0 to 100"),
        ({"kind": "count", "count": 1, "percentage": 5, "duration_secs": 1}, "unknown field"),
        ("count", "sla_policy: expected an object"),
    ],
)
def test_bad_policies_are_refused_with_the_field(value: Any, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        sla_from_json(Reader("job"), value, "sla_policy")


def test_a_policy_must_let_one_instance_go_down() -> None:
    check_room(count(2), 3, "job")
    with pytest.raises(InputError, match=r"count=3 lets no instance go down: .* \(3\)"):
        check_room(count(3), 3, "job")
    check_room(percent(66.6), 3, "job")
    with pytest.raises(InputError, match=r"must be at most 66\.666"):
        check_room(percent(66.7), 3, "job")


def test_policies_round_trip() -> None:
    for policy in (count(2, 30), percent(12.5, 0)):
        assert sla_from_json(Reader("job"), policy.to_json(), "sla_policy") == policy


# --- the planner ------------------------------------------------------------------------


def test_a_held_batch_moves_as_the_policy_allows_and_a_rollback_releases_it() -> None:
    settings = UpdateSettings(
        strategy=Strategy.BATCH, batch_sizes=(BatchSize(3),), watch_secs=5, sla_aware=True
    )
    instances = {i: InstanceProgress(i, "v1", "v2") for i in range(4)}
    runs = dict.fromkeys(range(4), UP)
    sla = SlaView(forward=count(2), back=None, runs=runs)
    first = step(settings, Progress(), instances, {}, service=True, size=4, now=100.0, sla=sla)
    # a batch of three chosen; the policy lets two of four go down: the third is held
    assert [c.instance for c in first.changes] == [0, 1]
    phases = {i: p.phase for i, p in first.instances.items()}
    assert phases == {
        0: Phase.UPDATING,
        1: Phase.UPDATING,
        2: Phase.SLA_WAITING,
        3: Phase.WAITING,
    }
    # the next pass: instance 0's new run RUNNING only since 101: still held, recheck when up
    runs2 = {0: InstanceRun(running_since=101.0), 1: PENDING, 2: UP, 3: UP}
    views = {0: RunView("v2", None, 101.0), 1: RunView("v2", None)}
    second = step(
        settings,
        first.progress,
        first.instances,
        views,
        service=True,
        size=4,
        now=102.0,
        sla=SlaView(count(2), None, runs2),
    )
    assert second.changes == [] and second.instances[2].phase is Phase.SLA_WAITING
    assert second.wake == 106.0  # the watch of instance 0 ends (101 + 5) before 161
    # without sla_aware the whole batch goes at once
    plain = replace(settings, sla_aware=False)
    at_once = step(plain, Progress(), instances, {}, service=True, size=4, now=100.0, sla=sla)
    assert [c.instance for c in at_once.changes] == [0, 1, 2]
    # a rollback: the held instance was never changed, so it is not restored
    back = Progress(status=UpdateStatus.ROLLING_BACK, progressed=102.0, cause="x")
    rolled = step(settings, back, second.instances, views, service=True, size=4, now=103.0, sla=sla)
    assert rolled.instances[2].phase is Phase.WAITING
    assert sorted(c.instance for c in rolled.changes) == [0, 1]
