"""A pass's pending runs placed on hosts (``placement.py`` decides) and launched, and the
placer kept in step with the hosts the backend has.

Runs are placed per (job, config) group, higher priority first, each group with
``Placer.place_job``. A row of one-instance groups of different jobs that ask the same (a
burst of cron slots: thousands of one-instance jobs due at one instant) is placed with
``Placer.place_each`` instead, which chooses the same hosts without ranking every host again
for each job; the assigned runs are written with one statement per table. What a config asks
of a host (its request and parsed constraints) is computed once per config id (a content
hash, so never stale).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from borealis.contract.envelope import port_plan
from borealis.contract.jobspec import JobSpec
from borealis.contract.mesos import MesosState
from borealis.contract.schedule import ON_HOST, ScheduleStatus

from .constraints import Constraint, parse_all
from .placement import Assignment, Placer, Request

if TYPE_CHECKING:
    from .core import Scheduler
    from .store import Task

S = ScheduleStatus
Group = tuple[str, str]  # (job key, config id): runs placed together
ASKS_KEPT = 100_000  # configs whose request is remembered (then the memo starts again)


def request_of(job: JobSpec) -> Request:
    """Resources and ports of one instance: its allocated ports (never an alias: that is its
    target's port) and its static ones (contract/portmap.py), and the kind of container it
    runs in (contract/container.py)."""
    container = job.container.kind.value if job.container is not None else None
    ports = port_plan(job.announce, job.task)  # what job.ports and job.static_ports read
    static = tuple(sorted(ports.static_roots().items()))
    return Request(job.resources, ports.requested, static, container)


class Placing:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._asks: dict[str, tuple[Request, tuple[Constraint, ...]]] = {}

    def new_placer(self) -> Placer:
        """A placer over the backend's hosts as they are now."""
        policy = self.scheduler.policy
        return Placer(
            self.scheduler.backend.hosts(),
            policy=policy.placement,
            executor_cpu=policy.executor_cpu,
            executor_ram=policy.executor_ram,
        )

    def accounted_placer(self) -> Placer:
        """A placer over the backend's hosts with every run on them accounted for."""
        placer = self.new_placer()
        for task in self.scheduler.store.tasks():
            if task.state.on_host and task.host in placer.hosts:
                request = self.request_for(task)
                placer.record(task.job_key, task.host, request, list(task.ports.values()))
        return placer

    def _hosts_changed(self) -> bool:
        """Whether a fixed host's attributes changed (an agent restarted with other flags,
        e.g. ``--ignore-container``): its runs were counted by the old values."""
        now = {h.name: h.attributes for h in self.scheduler.backend.hosts()}
        return now != {name: h.attributes for name, h in self.scheduler.placer.hosts.items()}

    def asks(self, config: str, job: JobSpec) -> tuple[Request, tuple[Constraint, ...]]:
        """What an instance of ``config`` asks of a host."""
        found = self._asks.get(config)
        if found is None:
            if len(self._asks) >= ASKS_KEPT:
                self._asks.clear()
            found = self._asks[config] = (request_of(job), parse_all(job.constraints))
        return found

    def request_for(self, task: Task) -> Request:
        """What one run asked of its host when it was placed (to count it, or give it back)."""
        return self.asks(task.config, self.scheduler.spec_of(task))[0]

    def _refresh(self) -> None:
        """The placer in step with the hosts, before placing."""
        s = self.scheduler
        if getattr(s.backend, "dynamic_hosts", False):
            # offers: what the hosts have free right now, net of every run already on them;
            # those runs still count toward the jobs' limit constraints
            s.placer = self.new_placer()
            known: dict[str, dict[str, str]] = getattr(s.backend, "attributes", {})
            for task in s.store.in_states(*ON_HOST):
                if task.host:
                    s.placer.count(task.job_key, task.host, known.get(task.host, {}))
        elif self._hosts_changed():
            s.placer = self.accounted_placer()

    @contextlib.contextmanager
    def kept_if_committed(self) -> Iterator[None]:
        """Around a transaction that places runs: if it fails (rolled back), the placer
        forgets what it placed (it is counted again from the store)."""
        try:
            yield
        except BaseException:
            self.scheduler.placer = self.accounted_placer()
            raise

    async def place(self, now: float) -> None:
        """Place the pending runs, write where they go, launch them."""
        s = self.scheduler
        self._refresh()
        pending = s.store.in_states(S.PENDING)
        with self.kept_if_committed(), s.store.transaction():
            assigned = self._assign_all(pending, now)
        await self.launch(assigned)

    def place_new(self, runs: list[Task], now: float) -> list[tuple[Task, JobSpec]]:
        """Place ``runs``, new PENDING runs not stored yet (the runs of a pass's cron slots,
        stored by the caller, as they are after this, in its transaction), when no other
        run is waiting for a host: ``place``, later in the pass, would place them the same
        way, one commit, one read and one write of them later. Launch what it returns once
        the transaction is committed; runs it leaves pending (all of them when others wait:
        ``place`` orders them all by priority) wait for ``place``."""
        if not runs or self.scheduler.store.count_in(S.PENDING):
            return []
        self._refresh()
        return self._assign_all(runs, now, stored=False)

    def _assign_all(
        self, pending: list[Task], now: float, *, stored: bool = True
    ) -> list[tuple[Task, JobSpec]]:
        """Place ``pending`` and, when they are ``stored``, write where they go (inside a
        transaction)."""
        s = self.scheduler
        # a job's instances may run several configs (during an update): placed per config
        groups: dict[Group, list[Task]] = defaultdict(list)
        for task in pending:
            groups[task.job_key, task.config].append(task)
        assigned: list[tuple[Task, JobSpec]] = []
        jobs = {group: s.store.config(group[1]) for group in groups}
        order = sorted(groups, key=lambda g: (-jobs[g].priority, g))  # higher first
        start = 0
        while start < len(order):
            end = self._row_of_singles(order, start, groups, jobs)
            if end == start:
                self._place_group(order[start], groups[order[start]], jobs, now, assigned, stored)
                start += 1
                continue
            row = order[start:end]
            request, constraints = self.asks(row[0][1], jobs[row[0]])
            wanted = [(g[0], groups[g][0].instance) for g in row]
            unreachable = s.partitions.unreachable
            chosen = s.placer.place_each(wanted, request, constraints, unreachable)
            for group, assignment in zip(row, chosen, strict=True):
                if assignment is None:  # place_job says why
                    self._place_group(group, groups[group], jobs, now, assigned, stored)
                else:
                    self._assign(groups[group][0], assignment, now)
                    assigned.append((groups[group][0], jobs[group]))
            start = end
        if stored:
            s.store.update_tasks([task for task, _ in assigned])
        return assigned

    async def launch(self, assigned: list[tuple[Task, JobSpec]]) -> None:
        """Launch placed runs (their placement committed)."""
        s = self.scheduler
        for task, job in assigned:
            problem = await s.backend.launch(task, job)
            if problem is not None:
                why = f"launch failed: {problem.message}"
                await s.on_status(task.task_id, MesosState.TASK_LOST, why)
        await s.backend.flush()
        waiting = s.store.in_states(S.PENDING, S.THROTTLED)
        await s.backend.wants_offers(bool(waiting))

    def _row_of_singles(
        self,
        order: list[Group],
        start: int,
        pending: dict[Group, list[Task]],
        jobs: dict[Group, JobSpec],
    ) -> int:
        """The end of the row of groups from ``start`` that ``place_each`` can place together
        (``start`` when there is none): one pending run each, of different jobs with no run
        on any host, asking the same, with no limit constraint."""
        placer = self.scheduler.placer
        first = self.asks(order[start][1], jobs[order[start]])
        if any(c.limit is not None for c in first[1]):
            return start
        seen: set[str] = set()
        end = start
        while end < len(order):
            group = order[end]
            if (
                len(pending[group]) != 1
                or group[0] in seen
                or not placer.fresh(group[0])
                or self.asks(group[1], jobs[group]) != first
            ):
                break
            seen.add(group[0])
            end += 1
        return end

    def _place_group(
        self,
        group: Group,
        tasks: list[Task],
        jobs: dict[Group, JobSpec],
        now: float,
        assigned: list[tuple[Task, JobSpec]],
        stored: bool = True,
    ) -> None:
        s, job = self.scheduler, jobs[group]
        by_instance = {t.instance: t for t in tasks}
        request, constraints = self.asks(group[1], job)
        placed, unplaced = s.placer.place_job(
            group[0],
            sorted(by_instance),
            request,
            constraints,
            unreachable=s.partitions.unreachable,
        )
        for assignment in placed:
            task = by_instance[assignment.instance]
            self._assign(task, assignment, now)
            assigned.append((task, job))
        for miss in unplaced:
            task = by_instance[miss.instance]
            if task.message != miss.reason:
                task.message = miss.reason
                if stored:
                    s.store.update_task(task, event=False)

    @staticmethod
    def _assign(task: Task, assignment: Assignment, now: float) -> None:
        """The run as placed (written by the caller)."""
        task.state, task.host, task.ports = S.ASSIGNED, assignment.host, assignment.ports
        task.changed, task.message = now, f"assigned to {assignment.host}"
