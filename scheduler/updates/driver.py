"""Updates applied to the scheduler: ``start`` records an update, every scheduling pass
(``tick``) asks the planner for its next step and applies it, and the user's verbs change its
status. The planner decides; this module only reads what it needs and writes what it says,
each step in one transaction with the runs it changes."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from borealis.contract.jobspec import JobSpec
from borealis.contract.schedule import Intent
from borealis.contract.schedule import ScheduleStatus as S
from borealis.contract.slapolicy import SlaPolicy

from ..sla import SlaView, run_of
from . import planner
from .coordinator import Coordinators
from .planner import InstanceProgress, Progress, RunView
from .records import Update, UpdateRecords
from .states import UpdateStatus, allowed

if TYPE_CHECKING:
    from ..core import Scheduler
    from ..store import Task

log = logging.getLogger("borealis.scheduler")
BY_SCHEDULER = frozenset({Intent.KILL, Intent.RESTART, Intent.UPDATE})  # not failures


class UpdateConflict(Exception):
    """A second update of a job: the first one's id is in the message."""


class Updater:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.records = UpdateRecords(scheduler.store.db)
        self.wake: float | None = None  # the earliest moment a running update needs a pass
        self.coordinators = Coordinators(on_answer=lambda: scheduler.wanted.set())

    def active(self, job_key: str) -> Update | None:
        latest = self.records.latest(job_key)
        return latest if latest is not None and not latest.progress.status.terminal else None

    def start(self, spec: JobSpec, instances: frozenset[int] | None, user: str) -> Update:
        """Record an update of ``spec.key`` to ``spec`` (on ``instances`` only, when given).
        Raises ``LookupError`` (no job), ``UpdateConflict`` (killed, or already updating)."""
        key = str(spec.key)
        found = self.store.job(key)
        if found is None:
            raise LookupError(f"no job {key}: create it first")
        if found[1]:
            raise UpdateConflict(f"job {key} was killed: create it again instead")
        running = self.active(key)
        if running is not None:
            raise UpdateConflict(
                f"update {running.id} of {key} is {running.progress.status.value}: "
                "wait for it, or pause, abort or roll it back"
            )
        now = self.scheduler.clock()
        old = self.store.desired(key)
        outside = sorted((instances or frozenset()) - set(old) - set(range(spec.instances)))
        if outside:
            raise LookupError(
                f"instance {outside[0]} is neither in {key} ({len(old)} instances) nor in "
                f"the new config ({spec.instances})"
            )
        with self.store.transaction():
            config = self.store.add_config(spec)
            wanted: dict[int, str | None] = {i: None for i in old}
            wanted.update({i: config for i in range(spec.instances)})
            if instances is not None:
                wanted = {i: c for i, c in wanted.items() if i in instances}
            progress = [
                InstanceProgress(i, old.get(i), new)
                for i, new in sorted(wanted.items())
                if old.get(i) != new
            ]
            after = {**old, **{p.instance: p.new for p in progress}}
            new_job = replace(spec, instances=sum(1 for c in after.values() if c is not None))
            update = Update(
                id=str(uuid.uuid4()),
                job_key=key,
                user=user,
                created=now,
                changed=now,
                old_job=found[0],
                new_job=new_job,
                size=max(len(old), spec.instances),
                progress=Progress(progressed=now, reason=f"started by {user}"),
            )
            if not progress:
                update.progress = Progress(
                    UpdateStatus.ROLLED_FORWARD, progressed=now, reason="no instance changed"
                )
            self.records.add(update, progress)
            self.store.set_job(new_job)
        log.info("update %s of %s: %d instances to change", update.id, key, len(progress))
        self.scheduler.wanted.set()
        return update

    def command(self, update_id: str, verb: str) -> Update:
        update = self.records.get(update_id)
        if update is None:
            raise LookupError(f"no update {update_id}")
        now = self.scheduler.clock()
        new = planner.command(update.progress, verb, now)  # Refused says why not
        moved = new.status is not update.progress.status
        with self.store.transaction():
            update = replace(update, progress=new, changed=now)
            self.records.save(update, [])
            if moved or verb != "pulse":  # a pulse that changes nothing is not an event
                self.records.event(update.id, new.status, new.reason, now)
            if new.status.terminal:
                self._ended(update)
        self.scheduler.wanted.set()
        return update

    async def tick(self, now: float) -> None:
        self.wake = None
        for update in self.records.active():
            await self._step(update, now)

    async def _step(self, update: Update, now: float) -> None:
        if not self.store.alive(update.job_key):  # killed before job_killed existed
            with self.store.transaction():
                self._move(update, UpdateStatus.ERROR, "the job was killed", now)
            return
        instances = self.records.instances(update.id)
        watched = [i for i, p in instances.items() if p.phase.watched]
        views = self._views(update, instances, watched)
        step = planner.step(
            update.settings,
            update.progress,
            instances,
            views,
            service=update.new_job.service,
            size=update.size,
            now=now,
            sla=self._sla(update),
        )
        if step.sla_asks:
            self._wake_at(self.coordinators.ask(update.id, self._asks(update, step), now))
        self._wake_at(step.wake)
        changed = [p for i, p in step.instances.items() if p != instances[i]]
        if not (changed or step.events or step.changes or step.progress != update.progress):
            return
        to_kill: list[Task] = []
        with self.store.transaction():
            update = replace(update, progress=step.progress, changed=now)
            self.records.save(update, changed)
            for status, why in step.events:
                self.records.event(update.id, status, why, now)
            for change in step.changes:
                to_kill += self.scheduler.change_instance(
                    update.job_key, change.instance, change.config, now
                )
            if update.progress.status.terminal:
                self._ended(update)
        for status, why in step.events:
            log.info("update %s of %s: %s (%s)", update.id, update.job_key, status.value, why)
        await self.scheduler.kill_runs(to_kill)

    def _views(
        self, update: Update, instances: dict[int, InstanceProgress], watched: list[int]
    ) -> dict[int, RunView]:
        """What the planner needs of each watched instance's runs."""
        runs: dict[int, list[Task]] = {i: [] for i in watched}
        if watched:
            for task in self.store.tasks_of(update.job_key, watched):
                runs[task.instance].append(task)
        service = update.new_job.service
        views = {}
        for instance, history in runs.items():
            progress = instances[instance]
            target = progress.target
            if not history:
                views[instance] = RunView()
                continue
            newest = history[-1]
            failures = sum(
                1
                for t in history
                if t.config == target
                and t.created >= progress.since
                and t.state.terminal
                and t.intent not in BY_SCHEDULER
                and (service or t.state is not S.FINISHED)
            )
            views[instance] = RunView(
                config=newest.config,
                state=newest.state,
                running_since=newest.started if newest.state is S.RUNNING else None,
                failures=failures,
                replaced=not newest.state.terminal,
            )
        return views

    def _wake_at(self, when: float | None) -> None:
        if when is not None:
            self.wake = when if self.wake is None else min(self.wake, when)

    def _asks(
        self, update: Update, step: planner.Step
    ) -> list[tuple[int, SlaPolicy, str, dict[str, Any]]]:
        """What the coordinator is told of each instance held for its yes: Aurora's task key
        and the instance's newest run."""
        held = {i: policy for i, policy in step.sla_asks}
        newest = {t.instance: t for t in self.store.tasks_of(update.job_key, sorted(held))}
        out = []
        for instance, policy in held.items():
            task = newest.get(instance)
            run: dict[str, Any] = {}
            if task is not None:
                job = update.new_job.key
                run = {
                    "status": task.state.value,
                    "assignedTask": {
                        "taskId": task.task_id,
                        "slaveHost": task.host,
                        "instanceId": instance,
                        "assignedPorts": task.ports,
                        "task": {"job": job.to_json()},
                    },
                }
            out.append((instance, policy, f"{update.job_key}/{instance}", run))
        return out

    def _sla(self, update: Update) -> SlaView | None:
        """The job's runs and policies, for an update that checks SLA before taking runs down."""
        forward, back = update.new_job.sla_policy, update.old_job.sla_policy
        if not update.settings.sla_aware or (forward is None and back is None):
            return None
        runs = {t.instance: run_of(t) for t in self.store.latest(update.job_key)}
        return SlaView(forward, back, runs, self.coordinators.approvals(update.id))

    def job_killed(self, job_key: str, now: float) -> None:
        """The job was killed under its update (call inside the kill's transaction)."""
        update = self.active(job_key)
        if update is not None:
            self._move(update, UpdateStatus.ERROR, "the job was killed", now)

    def _move(self, update: Update, status: UpdateStatus, why: str, now: float) -> None:
        assert allowed(update.progress.status, status)
        update.progress = replace(update.progress, status=status, reason=why)
        update.changed = now
        self.records.save(update, [])
        self.records.event(update.id, status, why, now)
        log.info("update %s of %s: %s (%s)", update.id, update.job_key, status.value, why)

    def _ended(self, update: Update) -> None:
        """The job's stored config once the update is over: the old one after a complete
        rollback, else the new one with the instance count that now runs."""
        self.coordinators.forget(update.id)
        if update.progress.status is UpdateStatus.ROLLED_BACK:
            self.store.set_job(update.old_job)
        else:
            wanted = len(self.store.desired(update.job_key))
            self.store.set_job(replace(update.new_job, instances=max(wanted, 1)))

    # --- reading ------------------------------------------------------------------------

    def describe(self, update: Update) -> dict[str, object]:
        """The update as the API shows it: its fields, each instance's phase, its events."""
        instances = self.records.instances(update.id)
        return {
            **update.to_json(),
            "phases": dict(Counter(p.phase.value for p in instances.values())),
            "instances": [
                {
                    "instance": p.instance,
                    "phase": p.phase.value,
                    "batch": p.batch,
                    "old": p.old,
                    "new": p.new,
                }
                for p in instances.values()
            ],
            "events": self.records.events(update.id),
        }
