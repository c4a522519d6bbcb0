"""Cron jobs applied to the scheduler: ``schedule`` stores a template, every scheduling pass
(``tick``) asks the planner about the jobs that are due and applies what it says, and
``start`` launches one outside its schedule. The planner decides; this module reads what it
needs and writes what it says: the runs of every slot fired in a pass and the jobs' new
states in one transaction, then the kills.

Only due jobs are looked at: a heap orders the jobs by their next wake-up, so a pass with
nothing due costs nothing however many cron jobs there are; the jobs waiting for their runs
to end (an owed launch, a catch-up backlog) are planned again at every pass.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import zoneinfo
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from borealis.contract.jobspec import JobSpec

from ..constraints import ConstraintError, parse_all
from . import planner
from .planner import CronState, Fire, Kill, Plan, Skip, StartRefused
from .records import CronJob, CronRecords, Happened
from .slots import Slot, local_zone, slots_after

if TYPE_CHECKING:
    from ..core import Scheduler
    from ..store import Task

log = logging.getLogger("borealis.scheduler")
NEXT_SHOWN = 5  # upcoming slots `cron show` lists
ONE_BY_ONE = 16  # due jobs asked one by one whether a run is active; more: one query
Event = tuple[str, float, Happened, str, float, str]  # CronRecords.add_events


class CronConflict(Exception):
    """A cron request that contradicts the job's state (a 409)."""


class CronDriver:
    def __init__(self, scheduler: Scheduler, zone: zoneinfo.ZoneInfo | None = None) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.zone = zone or local_zone()
        self.records = CronRecords(scheduler.store.db)
        self.jobs = {job.key: job for job in self.records.all()}
        self._heap: list[tuple[float, str]] = []
        self._wake: dict[str, float] = {}  # each job's latest entry in the heap
        self.waiting: set[str] = set()
        now = scheduler.clock()
        for key, job in self.jobs.items():  # planned at the first pass: catch-up, owed launches
            self._push(key, now)
            scheduler.placing.asks(job.encoded[1], job.spec)  # not at its first slot
        self.store.know_configs([(job.spec, *job.encoded) for job in self.jobs.values()])

    def _push(self, key: str, when: float | None) -> None:
        if when is None:
            self._wake.pop(key, None)
            return
        if self._wake.get(key) == when:
            return  # already there (a waiting job is planned at every pass)
        self._wake[key] = when
        heapq.heappush(self._heap, (when, key))

    @property
    def wake(self) -> float | None:
        """The earliest moment a cron job needs a pass."""
        while self._heap and self._wake.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # replaced or descheduled
        return self._heap[0][0] if self._heap else None

    def zone_of(self, job: CronJob) -> zoneinfo.ZoneInfo:
        assert job.spec.cron is not None
        return job.spec.cron.zone(self.zone)

    # --- the user's requests ---------------------------------------------------------

    def schedule(self, spec: JobSpec) -> CronJob:
        """Store (or replace) the cron job ``spec``; its first slot is the next after now."""
        if spec.cron is None:
            raise ValueError("cron: the job has no cron_schedule (create it with job create)")
        key = str(spec.key)
        try:  # checked now, not at every slot
            parse_all(spec.constraints, spec.key.role)
        except ConstraintError as e:
            raise ValueError(f"constraints: {e}") from None
        found = self.store.job(key) if key not in self.jobs else None
        if found is not None and not found[1] and found[0].cron is None:
            raise CronConflict(f"job {key} exists and is not a cron job: kill it first")
        now = self.scheduler.clock()
        old = self.jobs.get(key)
        job = CronJob(spec, CronState(since=now, cursor=now))
        if old is not None:  # what fired before stays recorded
            job.last_slot, job.last_fired = old.last_slot, old.last_fired
        with self.store.transaction():
            self.records.put(job)
            # its config now, not at the first slot (content-addressed: it changes nothing)
            self.store.add_encoded_config(spec, *job.encoded)
            self.records.event(key, now, Happened.SCHEDULED, "", now, spec.cron.schedule.text)
        self.jobs[key] = job
        self.scheduler.placing.asks(job.encoded[1], spec)  # not at its first slot
        self.waiting.discard(key)
        self._push(key, self._next_at(job, now))
        self.scheduler.wanted.set()
        log.info("scheduled cron job %s (%s)", key, spec.cron.schedule.text)
        return job

    def deschedule(self, key: str) -> None:
        """Forget the cron job; runs it launched go on (kill them with ``job kill``)."""
        if key not in self.jobs:
            raise LookupError(f"no cron job {key}")
        now = self.scheduler.clock()
        with self.store.transaction():
            self.records.remove(key)
            self.records.event(key, now, Happened.DESCHEDULED, "", now, "descheduled")
        del self.jobs[key]
        self.waiting.discard(key)
        self._push(key, None)

    async def start(self, key: str) -> Plan:
        """Launch the job now, outside its schedule (the collision policy applies)."""
        job = self._cron_job(key)
        assert job.spec.cron is not None
        now = self.scheduler.clock()
        active = self.store.active(key)
        try:
            plan = planner.start(job.spec.cron, self.zone_of(job), job.state, active, now)
        except StartRefused as e:
            raise CronConflict(f"{key}: {e}") from None
        await self._apply([(job, plan)], now)
        return plan

    def _cron_job(self, key: str) -> CronJob:
        job = self.jobs.get(key)
        if job is None:
            raise LookupError(f"no cron job {key}")
        return job

    # --- passes ------------------------------------------------------------------------

    async def tick(self, now: float) -> None:
        due = set(self.waiting)
        while (wake := self.wake) is not None and wake <= now:
            _, key = heapq.heappop(self._heap)
            del self._wake[key]
            due.add(key)
        plans = []
        # many due (slots shared by many jobs): one query for them all, not one each
        actives = self.store.active_keys() if len(due) > ONE_BY_ONE else None
        for key in sorted(due):
            job = self.jobs.get(key)
            if job is None:
                continue
            assert job.spec.cron is not None
            active = key in actives if actives is not None else self.store.active(key)
            plans.append(
                (job, planner.plan(job.spec.cron, self.zone_of(job), job.state, active, now))
            )
        if plans:
            try:
                await self._apply(plans, now)
            except Exception:
                for job, _ in plans:  # nothing was written: the next pass plans them again
                    self._push(job.key, now)
                raise

    async def _apply(self, plans: list[tuple[CronJob, Plan]], now: float) -> None:
        to_kill: list[Task] = []
        fired: list[CronJob] = []
        changed = [(j, p) for j, p in plans if p.actions or p.state != j.state]
        written, placed = [], []
        if changed:
            events: list[Event] = []
            # all of the pass's slots: runs (placed), events, states
            with self.scheduler.placing.kept_if_committed(), self.store.transaction():
                for job, plan in changed:
                    new = replace(job, state=plan.state)
                    self._write(new, plan, now, to_kill, events, fired)
                    written.append(new)
                placed = self.scheduler.launch_cron([(j.spec, *j.encoded) for j in fired], now)
                self.records.add_events(events)
                self.records.save_states(written)
        for new in written:  # only once committed: a failed pass leaves them as they were
            if new.key in self.jobs:
                self.jobs[new.key] = new
        for job, plan in plans:
            key = job.key
            if plan.waiting:
                self.waiting.add(key)
            else:
                self.waiting.discard(key)
            if plan.wake is not None or not plan.waiting:
                self._push(key, plan.wake)
        if fired:
            self.scheduler.wanted.set()
        await self.scheduler.kill_runs(to_kill)
        if placed:
            await self.scheduler.placing.launch(placed)

    def _write(
        self,
        job: CronJob,
        plan: Plan,
        now: float,
        to_kill: list[Task],
        events: list[Event],
        fired: list[CronJob],
    ) -> None:
        """Apply one job's plan (inside the pass's transaction) to ``job``, a copy with the
        plan's state: the runs to kill are stopped now; the events and a fired job are
        collected, written with every other job's of the pass (at most one slot fires)."""
        key = job.key
        for action in plan.actions:
            if isinstance(action, Skip):
                first = action.first
                events.append((key, now, Happened.SKIPPED, first.label, first.at, action.reason))
            elif isinstance(action, Fire):
                slot = action.slot
                fired.append(job)
                job.last_slot, job.last_fired = slot.label, now
                late = f"launched {now - slot.at:.3f}s after"
                events.append((key, now, Happened.FIRED, slot.label, slot.at, late))
            elif isinstance(action, Kill):
                why = f"killed for cron slot {action.slot.label} (collision policy KILL_EXISTING)"
                to_kill += self.scheduler.stop_runs(key, why, now)
                events.append((key, now, Happened.KILLING, action.slot.label, action.slot.at, why))

    # --- reading -------------------------------------------------------------------------

    def upcoming(self, job: CronJob, now: float = 0.0) -> Iterator[Slot]:
        """The job's slots still to fire: after where its planner stands, and after ``now``."""
        assert job.spec.cron is not None
        after = max(job.state.cursor, job.state.since, now)
        return slots_after(job.spec.cron.schedule, self.zone_of(job), after)

    def _next_at(self, job: CronJob, now: float) -> float | None:
        slot = next(self.upcoming(job, now), None)
        return None if slot is None else slot.at

    def summary(self, key: str) -> dict[str, Any] | None:
        """What a listing shows of a cron job (None: not scheduled): its schedule, zone,
        collision policy, last and next slots; no history, no job JSON."""
        job = self.jobs.get(key)
        if job is None or job.spec.cron is None:
            return None
        cron = job.spec.cron
        following = next(self.upcoming(job), None)
        return {
            "key": key,
            "schedule": cron.schedule.text,
            "zone": str(self.zone_of(job)),
            "collision": cron.collision.value,
            "last_slot": job.last_slot,
            "next": None if following is None else following.label,
        }

    def describe(self, key: str) -> dict[str, Any]:
        """The cron job as the API shows it."""
        job = self._cron_job(key)
        cron = job.spec.cron
        assert cron is not None
        upcoming = [
            {"slot": slot.label, "at": slot.at}
            for slot in itertools.islice(self.upcoming(job), NEXT_SHOWN)
        ]
        owed = job.state.owed
        return {
            "key": key,
            "cron": cron.to_json(),
            "zone": str(self.zone_of(job)),
            "since": job.state.since,
            "last_slot": job.last_slot,
            "last_fired": job.last_fired,
            "owed": None if owed is None else owed.label,
            "active": self.store.active(key),
            "next": upcoming,
            "history": self.records.events(key),
            "job": job.spec.to_json(),
        }

    def sorted_keys(self) -> list[str]:
        return sorted(self.jobs)
