"""Runs whose host stopped answering: PARTITIONED, then given up or back (docs/scheduler.md).

A run on an unreachable host (Mesos: TASK_UNREACHABLE; the embedded agent: no answer for
``--agent-timeout``) is PARTITIONED. What happens next is the job's ``partition_policy``
(contract/partition.py), decided by ``verdict`` (pure, the clock passed in):

* ``reschedule`` (the default): once PARTITIONED for ``delay_secs``, the run is LOST and a
  new run replaces it, on another host, or on the same one when it is back;
* not ``reschedule``: the scheduler waits for the host, however long;
* a run the scheduler was stopping (kill, restart, update) is LOST at once, as in Aurora: an
  unreachable host must not hold up a kill, a restart or an update.

When the host answers again its runs reconcile: one still PARTITIONED takes the state its
host reports (RUNNING again); one given up meanwhile is killed there when the host reports
it alive (``Scheduler.on_status``), so an instance never runs twice for long.

``Partitions`` applies the verdicts inside the scheduler; the backends only say which host
was lost or is back.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from borealis.contract.mesos import MesosState
from borealis.contract.partition import PartitionPolicy
from borealis.contract.schedule import Intent, ScheduleStatus

if TYPE_CHECKING:
    from .core import Scheduler
    from .store import Task

S = ScheduleStatus
# what a host's loss partitions (Aurora: ASSIGNED runs are left to the transient timeout)
PARTITIONABLE = (S.STARTING, S.RUNNING, S.KILLING)


class Verdict(enum.Enum):
    WAIT = "wait"  # stay PARTITIONED: the host may come back
    GIVE_UP = "give up"  # LOST now (and replaced, as any lost run)


def verdict(policy: PartitionPolicy, since: float, now: float, *, stopping: bool) -> Verdict:
    """What to do with a run PARTITIONED since ``since``; ``stopping``: the scheduler was
    stopping it when its host was lost."""
    if stopping:
        return Verdict.GIVE_UP
    if not policy.reschedule:
        return Verdict.WAIT
    return Verdict.GIVE_UP if now - since >= policy.delay_secs else Verdict.WAIT


def due_at(policy: PartitionPolicy, since: float) -> float | None:
    """When a run PARTITIONED since ``since`` (and not being stopped) is given up; None:
    never, the scheduler waits for its host."""
    return since + policy.delay_secs if policy.reschedule else None


class Partitions:
    """The scheduler's side: which hosts are unreachable, and the verdicts applied."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.unreachable: set[str] = set()  # hosts nothing is placed on until they are back

    def policy_of(self, task: Task) -> PartitionPolicy:
        """The job's policy as it is now (a job-level setting, not part of a run's config)."""
        found = self.scheduler.store.job(task.job_key)
        return found[0].partition_policy if found is not None else PartitionPolicy()

    def settle(self, task: Task, now: float) -> None:
        """Give ``task`` (PARTITIONED) up if its verdict says so. Inside a transaction."""
        if task.state is not S.PARTITIONED:
            return
        policy = self.policy_of(task)
        stopping = task.intent is not Intent.NONE
        if verdict(policy, task.changed, now, stopping=stopping) is Verdict.WAIT:
            return
        if stopping:
            why = "its host became unreachable while it was being stopped"
        else:
            why = f"its host was unreachable for {now - task.changed:.0f}s (partition_policy)"
            task.intent = Intent.LOST
        self.scheduler.give_up(task, why, now)

    def tick(self, now: float) -> None:
        """Settle every PARTITIONED run whose delay is over. Inside a transaction."""
        for task in self.scheduler.store.in_states(S.PARTITIONED):
            self.settle(task, now)

    async def host_lost(self, host: str, why: str) -> int:
        """``host`` stopped answering: its runs are PARTITIONED; how many."""
        self.unreachable.add(host)
        lost = [t for t in self.scheduler.store.in_states(*PARTITIONABLE) if t.host == host]
        for task in lost:
            await self.scheduler.on_status(task.task_id, MesosState.TASK_UNREACHABLE, why)
        return len(lost)

    async def host_back(self, host: str, known: dict[str, MesosState]) -> None:
        """``host`` answers again, holding ``known`` (task id -> state): reconcile with it."""
        self.unreachable.discard(host)
        await self.scheduler.reconcile(known, host)
        self.scheduler.wanted.set()  # runs waiting for a host may be placed now
