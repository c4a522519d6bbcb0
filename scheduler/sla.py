"""SLA arithmetic: which of a job's instances count as up, and which instances an action may
take down now without breaking the job's SLA policy (``contract/slapolicy.py``). Pure: no
I/O, no clock of its own; the update planner uses it (docs/sla.md).

As Aurora's scheduler (``SlaManager.checkSla``):

* the job's **active** instances are those whose newest run has not ended (PENDING and
  THROTTLED count, as do runs being killed);
* an instance is **up** when its run has been RUNNING for at least ``duration_secs``;
* taking instance *i* down is allowed when the instances up other than *i* still meet the
  policy over the active ones: ``count`` of them, or ``percentage`` of the active count.
  A policy that would let none go down (``count >= active``, or a percentage leaving less
  than one) lets exactly one go down, as Aurora's does;
* an instance whose run is not on a host (no run, PENDING, THROTTLED) is taken down without
  a check: nothing up is lost;
* under a coordinator policy, the job's coordinator decides: an instance goes down once the
  coordinator said yes for it (``approved``); the others are to be asked
  (``scheduler/updates/coordinator.py`` asks, one request at a time per coordinator).

Several instances asked for at once are decided one after the other, each approved one no
longer up for the next, so a batch never takes more down than the policy allows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from borealis.contract.schedule import ScheduleStatus
from borealis.contract.slapolicy import SlaKind, SlaPolicy


class _Run(Protocol):
    @property
    def state(self) -> ScheduleStatus: ...
    @property
    def started(self) -> float | None: ...


@dataclass(frozen=True)
class InstanceRun:
    """An instance's newest run, as much as SLA needs."""

    active: bool = True  # not ended
    on_host: bool = True  # placed on a host (ASSIGNED, STARTING, RUNNING, KILLING)
    running_since: float | None = None  # when it became RUNNING; None: not RUNNING


def run_of(task: _Run) -> InstanceRun:
    """What SLA needs of a run the scheduler stores."""
    running = task.state is ScheduleStatus.RUNNING
    return InstanceRun(
        active=not task.state.terminal,
        on_host=task.state.on_host,
        running_since=task.started if running else None,
    )


@dataclass(frozen=True)
class SlaView:
    """What an ``sla_aware`` update checks before it takes an instance's run down."""

    forward: SlaPolicy | None  # the new config's policy
    back: SlaPolicy | None  # the old config's, for a rollback (as Aurora)
    runs: Mapping[int, InstanceRun]  # every instance's newest run
    approved: frozenset[int] = frozenset()  # the coordinator said yes (coordinator policies)


def is_up(run: InstanceRun, policy: SlaPolicy, now: float) -> bool:
    since = run.running_since
    return since is not None and now - since >= policy.duration_secs


def required(policy: SlaPolicy, active: int) -> int:
    """How many instances must stay up when ``active`` are active."""
    if active <= 0:
        return 0
    if policy.kind is SlaKind.COUNT:
        need = policy.count
    else:
        # the smallest number up whose share of the active ones reaches the percentage
        need = math.ceil(active * policy.percentage / 100 - 1e-9)
    return min(need, active - 1)  # at least one may always go down


def holds(policy: SlaPolicy, up: int, active: int) -> bool:
    return up >= required(policy, active)


@dataclass(frozen=True)
class Decision:
    allowed: tuple[int, ...]  # may be taken down now, in the order asked
    waiting: tuple[int, ...]  # must wait
    # when time alone may let a waiting one go (a run reaches duration_secs); None: only a
    # change of some run's state can
    recheck: float | None = None
    ask: tuple[int, ...] = ()  # to ask the coordinator about (coordinator policies)


def decide(
    policy: SlaPolicy,
    runs: Mapping[int, InstanceRun],
    candidates: Sequence[int],
    now: float,
    approved: frozenset[int] = frozenset(),
) -> Decision:
    """Which of ``candidates`` may be taken down now under ``policy``, given every instance's
    newest run (``runs``: the job's instances; one missing has no run) and, for a coordinator
    policy, the instances its coordinator ``approved``."""
    if policy.kind is SlaKind.COORDINATOR:
        free = [i for i in candidates if not _costs(runs.get(i)) or i in approved]
        rest = tuple(i for i in candidates if i not in free)
        return Decision(tuple(free), rest, None, ask=rest)
    active = sum(1 for run in runs.values() if run.active)
    up = {i for i, run in runs.items() if run.active and is_up(run, policy, now)}
    allowed: list[int] = []
    waiting: list[int] = []
    for instance in candidates:
        if not _costs(runs.get(instance)):
            allowed.append(instance)
        elif holds(policy, len(up - {instance}), active):
            allowed.append(instance)
            up.discard(instance)
        else:
            waiting.append(instance)
    recheck = None
    if waiting:
        coming = [
            run.running_since + policy.duration_secs
            for i, run in runs.items()
            if run.active
            and run.running_since is not None
            and i not in up
            and i not in allowed
            and not is_up(run, policy, now)
        ]
        recheck = min(coming, default=None)
    return Decision(tuple(allowed), tuple(waiting), recheck)


def _costs(run: InstanceRun | None) -> bool:
    """Whether taking this run down needs a check (it holds a place on a host)."""
    return run is not None and run.active and run.on_host


def room(policy: SlaPolicy, runs: Mapping[int, InstanceRun], now: float) -> tuple[int, int]:
    """``(up, may_go_down)``: instances up now, and how many of them may go down (for a
    coordinator policy: RUNNING ones, and 0: only the coordinator knows)."""
    if policy.kind is SlaKind.COORDINATOR:
        return sum(1 for run in runs.values() if run.running_since is not None), 0
    active = sum(1 for run in runs.values() if run.active)
    up = sum(1 for run in runs.values() if run.active and is_up(run, policy, now))
    return up, max(0, up - required(policy, active))
