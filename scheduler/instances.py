"""Operations on a job's instances, asked for by the user (kill, restart, add: Aurora's
``job killall``/``kill``, ``restart``, ``add``) or by an update (``change``): which
instances a job wants, and their current runs stopped or started accordingly. The rules for
a single run (stopping, replacing) are the scheduler's (``core.py``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from borealis.contract.jobspec import MAX_INSTANCES
from borealis.contract.schedule import Intent

from .conflicts import Conflict, NotFound

if TYPE_CHECKING:
    from .core import Scheduler
    from .store import Task


class Instances:
    def __init__(self, scheduler: Scheduler) -> None:
        self.s = scheduler

    async def kill(self, key: str, instances: frozenset[int] | None = None) -> int:
        """Kill the job, or only ``instances`` of it (they leave the job: nothing replaces
        them, as in Aurora)."""
        self._live(key, instances, killed_ok=instances is None)  # killing twice is fine
        if instances is not None and self.s.updates.active(key) is not None:
            raise Conflict(f"job {key} is being updated: remove instances with the update")
        with self.s.store.transaction():
            if instances is None:
                self.s.store.set_killed(key)
                self.s.updates.job_killed(key, self.s.clock())
            else:
                for instance in instances:
                    self.s.store.set_desired(key, instance, None)
                self._resize(key)
        return await self._kill_current(key, Intent.KILL, "killed by the user", instances)

    async def restart(self, key: str, instances: frozenset[int] | None = None) -> int:
        self._live(key, instances, killed_ok=False)
        return await self._kill_current(key, Intent.RESTART, "restarted by the user", instances)

    def _live(
        self, key: str, instances: frozenset[int] | None, *, killed_ok: bool = False
    ) -> dict[int, str]:
        """The job's wanted instances; ``NotFound``/``Conflict`` when it or ``instances``
        cannot be acted on (a killed job only when ``killed_ok``)."""
        found = self.s.store.job(key)
        if found is None:
            raise NotFound(f"no job {key}")
        desired = self.s.store.desired(key)
        if found[1] and not killed_ok:
            raise Conflict(f"job {key} was killed")
        missing = sorted((instances or frozenset()) - set(desired))
        if missing:
            raise NotFound(f"job {key} has no instance {missing[0]} (it has {len(desired)})")
        return desired

    def _resize(self, key: str) -> None:
        """The job's stored config counts the instances it wants now."""
        job = self.s._job(key)
        self.s.store.set_job(replace(job, instances=len(self.s.store.desired(key))))

    async def add(self, key: str, source: int, count: int) -> list[Task]:
        """``count`` new instances running instance ``source``'s config, numbered after the
        highest (Aurora's ``job add``)."""
        desired = self._live(key, frozenset({source}))
        if self.s.updates.active(key) is not None:
            raise Conflict(f"job {key} is being updated: add instances with the update")
        if count < 1 or len(desired) + count > MAX_INSTANCES:
            raise ValueError(f"count: expected 1 to {MAX_INSTANCES - len(desired)}, got {count}")
        now, first = self.s.clock(), max(desired) + 1
        with self.s.store.transaction():
            tasks = []
            for instance in range(first, first + count):
                self.s.store.set_desired(key, instance, desired[source])
                tasks.append(self.s._new_run(desired[source], instance, now))
            self._resize(key)
        self.s.wanted.set()
        return tasks

    def change(self, key: str, instance: int, config: str | None, now: float) -> list[Task]:
        """Make ``instance`` run ``config`` (None: not run at all); runs of another config are
        stopped and replaced. Call inside a transaction; returns the runs to kill on hosts."""
        self.s.store.set_desired(key, instance, config)
        live = [
            t
            for t in self.s.store.tasks_of(key, [instance])
            if not t.superseded and not t.state.terminal
        ]
        to_kill = []
        why = "updating to a new config" if config is not None else "removed by an update"
        for task in live:
            if task.config != config and self.s._stop(task, Intent.UPDATE, why, now):
                to_kill.append(task)
        if config is not None and not live:
            self.s._new_run(config, instance, now)
        return to_kill

    async def _kill_current(
        self, key: str, intent: Intent, why: str, instances: frozenset[int] | None = None
    ) -> int:
        now = self.s.clock()
        to_kill = []
        with self.s.store.transaction():
            for task in self.s.store.tasks(key, current=True):
                if task.state.terminal or (
                    instances is not None and task.instance not in instances
                ):
                    continue
                if self.s._stop(task, intent, why, now):
                    to_kill.append(task)
        await self.s.kill_runs(to_kill)
        return len(to_kill)
