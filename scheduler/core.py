"""The scheduler's decisions: jobs become runs, runs are placed, launched, followed, and
replaced when they end (as Aurora's rules say), without hammering a crash-looping service.

* A **service** instance is replaced whenever its run ends, unless the job was killed.
* Any other job's instance is replaced after FAILED while its failures are below
  ``max_task_failures`` (-1: always), after KILLED (not by the user) or LOST, never after
  FINISHED.
* **Flapping**: a run that ended less than ``flapping_threshold`` (5 min) after it started
  (or never started) makes the next one wait in THROTTLED, 30 s the first time, doubling up
  to 5 min; a run that lasted longer resets the penalty.
* A run stuck in a transient state (ASSIGNED, STARTING, KILLING) for ``transient_timeout``
  becomes LOST (and is replaced).
* A run whose host is unreachable is PARTITIONED until its host is back or the job's
  partition policy gives it up (``partitions.py``).

All of it is in ``Scheduler``, over a ``Store`` and a ``Backend``; time comes from an
injected clock, so the rules are tested without waiting. A pass's placement and launches are
``placing.py``'s; the operations on a job's instances (kill, restart, add, change) are
``instances.py``'s.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from borealis.contract.agentapi import Refusal
from borealis.contract.jobspec import JobSpec
from borealis.contract.mesos import MesosState
from borealis.contract.schedule import FROM_MESOS, Intent, ScheduleStatus, allowed

from .conflicts import Conflict as Conflict
from .conflicts import NotFound as NotFound
from .constraints import ConstraintError, parse_all
from .containerpolicy import ContainerPolicy
from .cron.driver import CronDriver
from .instances import Instances
from .partitions import Partitions
from .placement import Host
from .placing import Placing
from .runs import WAITING, fresh_run
from .store import Store, Task
from .updates.driver import Updater

log = logging.getLogger("borealis.scheduler")
S = ScheduleStatus


@dataclass
class Policy:
    flapping_threshold: float = 300.0
    penalty_initial: float = 30.0
    penalty_max: float = 300.0
    transient_timeout: float = 300.0
    executor_cpu: float = 0.25
    executor_ram: int = 128 << 20
    placement: str = "spread"
    containers: ContainerPolicy = field(default_factory=ContainerPolicy)  # which are accepted


@dataclass(frozen=True)
class LaunchProblem:
    """Why a run could not be launched: the host's refusal, when it gave one, and its words."""

    message: str
    refusal: Refusal | None = None


class Backend(Protocol):
    def hosts(self) -> list[Host]: ...

    async def launch(self, task: Task, job: JobSpec) -> LaunchProblem | None:
        """Start the run on ``task.host``; why not, if it could not be started."""

    async def kill(self, task: Task) -> None: ...

    async def flush(self) -> None:
        """Send what ``launch`` collected (the Mesos backend batches per offer)."""

    async def wants_offers(self, wanted: bool) -> None:
        """Whether runs wait for a host (Mesos: REVIVE / SUPPRESS)."""


class Scheduler:
    def __init__(
        self,
        store: Store,
        backend: Backend,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.backend = backend
        self.policy = policy or Policy()
        self.clock = clock
        self.placing = Placing(self)
        self.placer = self.placing.accounted_placer()
        self.updates = Updater(self)
        self.partitions = Partitions(self)
        self.cron = CronDriver(self)
        self.instances = Instances(self)
        # set when a pass is wanted before the next tick: new runs wait, an update started or
        # resumed, status updates came (the daemon's loop waits on it)
        self.wanted = asyncio.Event()

    def spec_of(self, task: Task) -> JobSpec:
        """The config a run runs."""
        return self.store.config(task.config)

    async def until_wanted(self, most: float) -> None:
        """Wait until a pass is wanted, a running update's watch, pulse or deadline falls due,
        or ``most`` seconds have gone: what both pass loops (embedded, Mesos) wait for."""
        wakes = [w for w in (self.updates.wake, self.cron.wake) if w is not None]
        due = min(wakes) if wakes else None
        if due is not None:
            most = min(most, max(0.0, due - self.clock()))
        try:  # not asyncio.wait_for: on 3.11 it can swallow the cancellation of a stop
            async with asyncio.timeout(most):
                await self.wanted.wait()
        except TimeoutError:
            pass
        self.wanted.clear()

    def _job(self, key: str) -> JobSpec:
        found = self.store.job(key)
        if found is None:
            raise NotFound(f"no job {key}")
        return found[0]

    # --- jobs ---------------------------------------------------------------------------

    def create_job(self, job: JobSpec) -> list[Task]:
        key = str(job.key)
        if job.cron is not None:
            raise ValueError("cron: a cron job is scheduled with `borealis cron schedule`")
        if key in self.cron.jobs:
            raise Conflict(f"{key} is a cron job: deschedule it first")
        try:
            parse_all(job.constraints, job.key.role)
        except ConstraintError as e:
            raise ValueError(f"constraints: {e}") from None
        now = self.clock()
        existing = self.store.job(key)
        with self.store.transaction():
            if existing is not None:
                live = [t for t in self.store.tasks(key, current=True) if not t.state.terminal]
                if not existing[1] or live:
                    raise Conflict(f"job {key} already exists")
            tasks = self._start_job(job, now)
        log.info("created %s (%d instances)", key, job.instances)
        self.wanted.set()
        return tasks

    def _start_job(self, job: JobSpec, now: float) -> list[Task]:
        """Store the job (replacing an ended one) and a new run of each instance; call
        inside a transaction."""
        config = job.config_id
        self.store.start_jobs([(job, job.dumps(), config)], now)
        return [self._new_run(config, i, now) for i in range(job.instances)]

    def launch_cron(
        self, jobs: list[tuple[JobSpec, str, str]], now: float
    ) -> list[tuple[Task, JobSpec]]:
        """Cron slots fired: each job (with its ``dumps()`` and ``config_id``) starts afresh,
        as a new job (the runs of its previous slot have ended), all in a few statements,
        its runs placed at once when nothing else waits. Call inside a transaction; launch
        what it returns once committed."""
        self.store.start_jobs(jobs, now)
        runs = [
            fresh_run(job.key, i, config, now)
            for job, _, config in jobs
            for i in range(job.instances)
        ]
        born = [(t.task_id, S.PENDING, WAITING, now) for t in runs]
        placed = self.placing.place_new(runs, now)  # stored as they are then
        self.store.add_tasks(runs, events=False)
        self.store.events(born + [(t.task_id, t.state, t.message, t.changed) for t, _ in placed])
        return placed

    def stop_runs(self, key: str, why: str, now: float) -> list[Task]:
        """Stop every active run of the job, replacing none; call inside a transaction.
        Returns the runs to kill on hosts."""
        return [
            task
            for task in self.store.tasks(key, current=True)
            if not task.state.terminal and self._stop(task, Intent.KILL, why, now)
        ]

    def _new_run(
        self, config: str, instance: int, now: float, previous: Task | None = None
    ) -> Task:
        key = self.store.config(config).key
        if previous is not None and previous.config != config:
            previous = None  # a new config starts afresh: no failures, no penalty
        flaps = previous.flaps if previous else 0
        failures = previous.failures if previous else 0
        state, not_before, message = S.PENDING, 0.0, WAITING
        if previous is not None and previous.intent not in (Intent.RESTART, Intent.UPDATE):
            ran = (previous.ended or now) - previous.started if previous.started else 0.0
            if ran < self.policy.flapping_threshold:
                flaps += 1
                delay = min(self.policy.penalty_max, self.policy.penalty_initial * 2 ** (flaps - 1))
                state, not_before = S.THROTTLED, now + delay
                message = f"flapping (ran {ran:.0f}s): waiting {delay:g}s before starting again"
            else:
                flaps = 0
        task = fresh_run(key, instance, config, now, state, message, failures, flaps)
        task.not_before = not_before
        self.store.add_task(task)
        return task

    async def kill_job(self, key: str, instances: frozenset[int] | None = None) -> int:
        return await self.instances.kill(key, instances)  # instances.py

    async def restart_job(self, key: str, instances: frozenset[int] | None = None) -> int:
        return await self.instances.restart(key, instances)

    async def add_instances(self, key: str, source: int, count: int) -> list[Task]:
        return await self.instances.add(key, source, count)

    def change_instance(
        self, key: str, instance: int, config: str | None, now: float
    ) -> list[Task]:
        return self.instances.change(key, instance, config, now)

    async def kill_runs(self, tasks: list[Task]) -> None:
        for task in tasks:
            await self.backend.kill(task)

    def _stop(self, task: Task, intent: Intent, why: str, now: float) -> bool:
        """Stop one run for ``intent``. One not on a host yet ends here (and is replaced as
        ``intent`` says); one on a host goes KILLING: True, the host must kill it."""
        task.intent = intent
        if task.state is S.PARTITIONED:
            # as Aurora: given up at once, so an unreachable host holds up no kill, restart
            # or update; its host kills it when it reports it alive (on_status)
            self.give_up(task, f"{why} while its host was unreachable", now)
            return False
        if task.state in (S.PENDING, S.THROTTLED):
            self._end(task, S.KILLED, why, now)
            self._replace(task, now)  # nothing replaces a run the user killed
            return False
        if task.state is not S.KILLING:
            task.state, task.changed, task.message = S.KILLING, now, why
        self.store.update_task(task)
        return True

    # --- runs ---------------------------------------------------------------------------

    async def on_status(self, task_id: str, mesos_state: MesosState, message: str = "") -> None:
        """A status update from a host."""
        task = self.store.task(task_id)
        new = FROM_MESOS[mesos_state]
        if task is None:
            if not new.terminal:
                log.warning("killing %s: no such task here", task_id)
                orphan = Task(task_id, "", 0, S.KILLING, None, {}, 0, 0, None, None, "", 0, 0, 0, 1)
                await self.backend.kill(orphan)
            return
        if task.state.terminal and new is S.PARTITIONED:
            return  # its host is away: nothing can be killed there now
        if task.state.terminal and not new.terminal:
            # a run we gave up on is alive after all (e.g. launched just before a restart
            # and declared LOST): stop it, its instance has a newer run
            log.warning("killing %s: it ended here as %s", task_id, task.state.value)
            await self.backend.kill(task)
            return
        if task.state is S.KILLING and new in (S.STARTING, S.RUNNING):
            # still running although we asked it to stop: the kill may never have been sent
            # (the scheduler stopped right after deciding it) or was lost; ask again
            await self.backend.kill(task)
            return
        if new is task.state or not allowed(task.state, new):
            return
        now = self.clock()
        with self.store.transaction():
            if new.terminal:
                self._end(task, new, message, now)
                self._replace(task, now)
            else:
                if new is S.RUNNING and task.started is None:
                    task.started = now
                task.state, task.changed, task.message = new, now, message
                self.store.update_task(task)
                self.partitions.settle(task, now)  # a PARTITIONED run may be given up at once

    def _end(self, task: Task, state: ScheduleStatus, message: str, now: float) -> None:
        if task.state.on_host and task.host in self.placer.hosts:
            self.placer.release(
                task.job_key, task.host, self.placing.request_for(task), list(task.ports.values())
            )
        task.state, task.changed, task.ended, task.message = state, now, now, message
        if state is S.FAILED:
            task.failures += 1
        task.superseded = 1
        self.store.update_task(task)

    def give_up(self, task: Task, why: str, now: float) -> None:
        """End ``task`` as LOST and replace it as its intent says. Inside a transaction."""
        self._end(task, S.LOST, why, now)
        self._replace(task, now)

    def _replace(self, task: Task, now: float) -> None:
        if task.intent is Intent.KILL or not self.store.alive(task.job_key):
            return
        config = self.store.desired_of(task.job_key, task.instance)
        if config is None:
            return  # the instance is no longer wanted
        job = self.store.config(config)
        if not job.service and task.intent not in (Intent.UPDATE, Intent.RESTART):
            if task.state is S.FINISHED:
                return
            limit = job.max_task_failures
            if task.state is S.FAILED and limit != -1 and task.failures >= limit:
                return
        self._new_run(config, task.instance, now, task)

    async def tick(self) -> None:
        """Release throttled runs, place pending ones, expire stuck ones. The cyclic garbage
        collector waits for the end of the pass: a burst of cron slots creates tens of
        thousands of objects, and collections during it walked the whole heap (a third of it)."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            await self._pass()
        finally:
            if enabled:
                gc.enable()

    async def _pass(self) -> None:
        now = self.clock()
        await self.updates.tick(now)
        with self.store.transaction():
            for task in self.store.in_states(S.THROTTLED):
                if task.not_before <= now:
                    task.state, task.changed, task.message = S.PENDING, now, "waiting for a host"
                    self.store.update_task(task)
            for task in self.store.in_states(S.ASSIGNED, S.STARTING, S.KILLING):
                if now - task.changed > self.policy.transient_timeout:
                    stuck = f"stuck in {task.state.value} for {now - task.changed:.0f}s"
                    if task.intent is Intent.NONE:
                        task.intent = Intent.LOST
                    self._end(task, S.LOST, stuck, now)
                    self._replace(task, now)
            self.partitions.tick(now)
        await self.cron.tick(now)  # last: its runs can be placed at once (placing.place_new)
        await self._place(now)

    async def _place(self, now: float) -> None:
        await self.placing.place(now)  # placing.py

    async def reconcile(self, known: dict[str, MesosState], host: str | None = None) -> None:
        """After a (re)start, or when ``host`` is back: ``known`` is every task id the hosts
        (that host) hold, with its Mesos state. Runs placed but unknown to their host are
        launched (again); runs that had started but are unknown become LOST; states catch
        up (a PARTITIONED run takes its host's state); a run given up but alive is killed."""
        for task in self.store.tasks():
            if not task.state.on_host or (host is not None and task.host != host):
                continue
            state = known.get(task.task_id)
            if state is None and task.state is S.ASSIGNED:
                # placed but perhaps never launched (the scheduler stopped in between): launch
                # it now; the host refuses a task id it already has, so nothing runs twice
                problem = await self.backend.launch(task, self.spec_of(task))
                if problem is not None and problem.refusal is not Refusal.TASK_EXISTS:
                    why = f"launch failed: {problem.message}"
                    await self.on_status(task.task_id, MesosState.TASK_LOST, why)
            elif state is None:
                why = "unknown to its host " + ("when it came back" if host else "after a restart")
                await self.on_status(task.task_id, MesosState.TASK_LOST, why)
            elif state is not MesosState.TASK_STAGING:
                await self.on_status(task.task_id, state, "reconciled")
        live = {t.task_id for t in self.store.tasks() if not t.state.terminal}
        for task_id, state in known.items():
            if task_id not in live:  # not ours, or given up: killed if it is alive
                await self.on_status(task_id, state, "")
