"""What a cron job does now: the pure planner (docs/cron.md).

Given the job's settings, what was persisted (``CronState``), whether runs of the job are
still active, and the time, ``plan`` says which slots fire, which are skipped and why, which
runs to kill first, and when to ask again. Nothing here reads a clock or a store; the driver
applies a plan in one transaction with the runs it creates.

The persisted ``cursor`` is an instant: every slot firing at or before it has been decided
(fired, skipped, or its launch is ``owed`` once the runs it killed have ended). A slot is on
time while it is at most ``GRACE`` late; older slots were missed (the scheduler was down or
busy) and follow the job's catch-up policy:

* ``skip``: none of them runs;
* ``once``: of the missed slots within ``catch_up_window_secs``, the newest runs once;
* ``all``: every missed slot within the window runs, oldest first, each once the previous
  run has ended (the collision policy is for slots that come on time).

On time with a run still active, ``CANCEL_NEW`` skips the slot; ``KILL_EXISTING`` kills the
active runs and owes the slot a launch once they have ended (a newer slot replaces it).
"""

from __future__ import annotations

import enum
import functools
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, replace

from borealis.contract.cronspec import CatchUp, Collision, CronExpr, CronSettings

from .slots import Slot, next_slot, slots_after, slots_between, wall_of

GRACE = 60.0  # seconds a slot may be late and still count as on time
LISTED = 1000  # slots looked at in one pass; more are left for the next
COUNTED = 100_000  # missed slots counted one by one at most (then "at least")
SHARED = 256  # slot questions remembered (schedule, zone, instants): a pass asks a few


class Cause(enum.Enum):
    MISSED = "missed while the scheduler was not running, outside the catch-up policy"
    COALESCED = "missed; catch-up runs only the newest"
    ACTIVE = "the previous run is still active (collision policy CANCEL_NEW)"
    SUPERSEDED = "a newer slot came before the killed runs had ended"


@dataclass(frozen=True)
class Skip:
    first: Slot
    last: Slot
    count: int  # slots from first to last (at least that many when ``more``)
    cause: Cause
    more: bool = False

    @property
    def reason(self) -> str:
        """The cause, after the range of slots when there are several (the event names the
        first)."""
        if self.count == 1:
            return self.cause.value
        count = f"{self.count}{'+' if self.more else ''}"
        return f"{count} slots {self.first.label} to {self.last.label}: {self.cause.value}"


@dataclass(frozen=True)
class Fire:
    slot: Slot


@dataclass(frozen=True)
class Kill:
    """Kill the job's active runs; ``slot`` launches once they have ended."""

    slot: Slot


Action = Skip | Fire | Kill


@dataclass(frozen=True)
class CronState:
    since: float  # when the job was scheduled: slots at or before it never fire
    cursor: float = 0.0  # every slot firing at or before it is decided
    owed: Slot | None = None  # a launch waiting for the killed runs to end


@dataclass(frozen=True)
class Plan:
    state: CronState
    actions: tuple[Action, ...] = ()
    wake: float | None = None  # plan again then (None: the schedule has no further slot)
    waiting: bool = False  # also plan again when the job's runs end


def _skip(slots: Sequence[Slot], cause: Cause, more: bool = False) -> Skip:
    return Skip(slots[0], slots[-1], len(slots), cause, more)


# Slot arithmetic is pure, and the jobs sharing a schedule and a zone ask the same questions
# in a pass (the same cursor, the same now): a burst of 10,000 `0 * * * *` jobs asks once.
@functools.lru_cache(maxsize=SHARED)
def _between(
    expr: CronExpr, zone: zoneinfo.ZoneInfo, after: float, until: float
) -> tuple[tuple[Slot, ...], bool]:
    found, more = slots_between(expr, zone, after, until, LISTED)
    return tuple(found), more


@functools.lru_cache(maxsize=SHARED)
def _next(expr: CronExpr, zone: zoneinfo.ZoneInfo, after: float) -> Slot | None:
    return next_slot(expr, zone, after)


def _missed(
    settings: CronSettings, zone: zoneinfo.ZoneInfo, after: float, until: float
) -> Skip | None:
    first = last = None
    count = 0
    for slot in slots_after(settings.schedule, zone, after):
        if slot.at > until:
            break
        first = first or slot
        last, count = slot, count + 1
        if count == COUNTED:
            break
    if first is None or last is None:
        return None
    return Skip(first, last, count, Cause.MISSED, more=count == COUNTED)


def plan(
    settings: CronSettings, zone: zoneinfo.ZoneInfo, state: CronState, active: bool, now: float
) -> Plan:
    """What the job does at ``now``; ``active``: a run of the job has not ended."""
    actions: list[Action] = []
    cursor, owed = max(state.cursor, state.since), state.owed
    window = 0 if settings.catch_up is CatchUp.SKIP else settings.catch_up_window_secs
    horizon = now - max(window, GRACE)
    if horizon > cursor:
        missed = _missed(settings, zone, cursor, horizon)
        if missed is not None:
            actions.append(missed)
        cursor = horizon
    due, more = _between(settings.schedule, zone, cursor, now)
    while more and settings.catch_up is not CatchUp.ALL:  # only the newest can run
        actions.append(_skip(due, Cause.COALESCED))
        cursor = due[-1].at
        due, more = _between(settings.schedule, zone, cursor, now)
    if settings.catch_up is not CatchUp.ALL and len(due) > 1:
        actions.append(_skip(due[:-1], Cause.COALESCED))
        cursor, due = due[-2].at, due[-1:]
    if due and owed is not None:
        actions.append(_skip([owed], Cause.SUPERSEDED))
        owed = None
    waiting = False
    if owed is not None:
        if active:
            waiting = True
        else:
            actions.append(Fire(owed))
            owed = None
    for slot in due:
        late = now - slot.at > GRACE
        if not active:
            actions.append(Fire(slot))
            cursor = slot.at
            waiting = slot is not due[-1] or more  # the rest of a backlog waits for it
            break
        if late and settings.catch_up is CatchUp.ALL:
            waiting = True  # a missed slot runs when the run before it has ended
            break
        cursor = slot.at
        if settings.collision is Collision.CANCEL_NEW:
            actions.append(_skip([slot], Cause.ACTIVE))
        else:
            actions.append(Kill(slot))
            owed, waiting = slot, True
            break
    after = _next(settings.schedule, zone, max(cursor, now))
    return Plan(
        CronState(state.since, cursor, owed),
        tuple(actions),
        None if after is None else after.at,
        waiting,
    )


class StartRefused(Exception):
    """``cron start`` while a run is active and the policy is CANCEL_NEW."""


def start(
    settings: CronSettings, zone: zoneinfo.ZoneInfo, state: CronState, active: bool, now: float
) -> Plan:
    """A launch asked for by the user now, outside the schedule (``cron start``). The
    collision policy applies as to a slot."""
    slot = Slot(now, wall_of(now, zone), manual=True)
    after = next_slot(settings.schedule, zone, max(state.cursor, state.since, now))
    wake = None if after is None else after.at
    if not active:
        return Plan(state, (Fire(slot),), wake, False)
    if settings.collision is Collision.CANCEL_NEW:
        raise StartRefused(
            "a run of the job is still active and its collision policy is CANCEL_NEW"
        )
    return Plan(replace(state, owed=slot), (Kill(slot),), wake, True)


__all__ = ["Action", "CronState", "Fire", "Kill", "Plan", "Skip", "plan", "start"]
