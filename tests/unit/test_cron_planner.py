"""The cron planner (``scheduler/cron/planner.py``) as tables: a schedule every 5 minutes in
UTC, what was persisted, whether a run is active, the time -> what fires, what is skipped
and why, what is killed, the new cursor, whether the job waits for its runs to end."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from borealis.contract.cronspec import CatchUp, Collision, CronSettings, parse_schedule
from borealis.scheduler.cron.planner import (
    Cause,
    CronState,
    Fire,
    Kill,
    Plan,
    Skip,
    StartRefused,
    plan,
    start,
)
from borealis.scheduler.cron.slots import Slot

UTC = zoneinfo.ZoneInfo("UTC")
T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()  # a slot: 12:00


def at(minutes: float) -> float:
    return T0 + minutes * 60


def slot(minutes: int) -> Slot:
    return Slot(at(minutes), dt.datetime(2026, 12, 7, 12, 0) + dt.timedelta(minutes=minutes))


def settings(
    collision: Collision = Collision.KILL_EXISTING,
    catch_up: CatchUp = CatchUp.ONCE,
    window: int = 3600,
) -> CronSettings:
    return CronSettings(parse_schedule("*/5 * * * *"), None, collision, catch_up, window)


def brief(result: Plan) -> list[Any]:
    """The actions as short tuples: ("fire", minute), ("kill", minute), ("skip", first,
    last, count, cause), minutes relative to 12:00."""
    out: list[Any] = []
    for action in result.actions:
        if isinstance(action, Fire):
            out.append(("fire", round((action.slot.at - T0) / 60)))
        elif isinstance(action, Kill):
            out.append(("kill", round((action.slot.at - T0) / 60)))
        elif isinstance(action, Skip):
            first, last = (round((s.at - T0) / 60) for s in (action.first, action.last))
            out.append(("skip", first, last, action.count, action.cause))
    return out


KILL, CANCEL = Collision.KILL_EXISTING, Collision.CANCEL_NEW
SKIP, ONCE, ALL = CatchUp.SKIP, CatchUp.ONCE, CatchUp.ALL

# (settings, state, active, now (minutes from 12:00),
#  actions, cursor (minutes), owed (minutes or None), waiting, wake (minutes))
TABLE = [
    # on time
    (settings(), CronState(0, at(-5)), False, 0.02, [("fire", 0)], 0, None, False, 5),
    (settings(), CronState(0, at(0)), False, 0.5, [], 0, None, False, 5),
    (settings(), CronState(0, at(-5)), False, -0.5, [], -5, None, False, 0),
    # a slot at or before the moment the job was scheduled never fires
    (settings(), CronState(at(0.01)), False, 0.02, [], 0.01, None, False, 5),
    # a run still active: the collision policy
    (settings(CANCEL), CronState(0, at(-5)), True, 0.02,
     [("skip", 0, 0, 1, Cause.ACTIVE)], 0, None, False, 5),
    (settings(KILL), CronState(0, at(-5)), True, 0.02, [("kill", 0)], 0, 0, True, 5),
    (settings(KILL), CronState(0, at(0), slot(0)), True, 1, [], 0, 0, True, 5),
    (settings(KILL), CronState(0, at(0), slot(0)), False, 1, [("fire", 0)], 0, None, False, 5),
    (settings(KILL), CronState(0, at(0), slot(0)), True, 5.01,
     [("skip", 0, 0, 1, Cause.SUPERSEDED), ("kill", 5)], 5, 5, True, 10),
    # down for an hour (last decided 11:00), back at 12:00:01
    (settings(catch_up=SKIP), CronState(0, at(-60)), False, 0.02,
     [("skip", -55, -5, 11, Cause.MISSED), ("fire", 0)], 0, None, False, 5),
    (settings(catch_up=ONCE), CronState(0, at(-60)), False, 0.02,
     [("skip", -55, -5, 11, Cause.COALESCED), ("fire", 0)], 0, None, False, 5),
    # ... back at 12:02 (12:00 is late too)
    (settings(catch_up=SKIP), CronState(0, at(-60)), False, 2,
     [("skip", -55, 0, 12, Cause.MISSED)], 1, None, False, 5),
    (settings(catch_up=ONCE), CronState(0, at(-60)), False, 2,
     [("skip", -55, -5, 11, Cause.COALESCED), ("fire", 0)], 0, None, False, 5),
    (settings(catch_up=ONCE, window=600), CronState(0, at(-60)), False, 2,
     [("skip", -55, -10, 10, Cause.MISSED), ("skip", -5, -5, 1, Cause.COALESCED), ("fire", 0)],
     0, None, False, 5),
    (settings(catch_up=ALL, window=600), CronState(0, at(-60)), False, 2,
     [("skip", -55, -10, 10, Cause.MISSED), ("fire", -5)], -5, None, True, 5),
    # ... the backlog runs one after another, whatever the collision policy
    (settings(CANCEL, catch_up=ALL, window=600), CronState(0, at(-5)), True, 3, [],
     -5, None, True, 5),
    (settings(CANCEL, catch_up=ALL, window=600), CronState(0, at(-5)), False, 3,
     [("fire", 0)], 0, None, False, 5),
    # ... but a slot that comes on time meets the collision policy
    (settings(CANCEL, catch_up=ALL), CronState(0, at(0)), True, 5.01,
     [("skip", 5, 5, 1, Cause.ACTIVE)], 5, None, False, 10),
    # the whole backlog is beyond the window: all missed
    (settings(catch_up=ALL, window=600), CronState(0, at(-60 * 24)), False, 2,
     [("skip", -1435, -10, 286, Cause.MISSED), ("fire", -5)], -5, None, True, 5),
]  # fmt: skip


@pytest.mark.parametrize("cron, state, active, now, actions, cursor, owed, waiting, wake", TABLE)
def test_plan(
    cron: CronSettings,
    state: CronState,
    active: bool,
    now: float,
    actions: list[Any],
    cursor: float,
    owed: int | None,
    waiting: bool,
    wake: int,
) -> None:
    result = plan(cron, UTC, state, active, at(now))
    assert brief(result) == actions
    assert result.state.cursor == pytest.approx(at(cursor))
    assert result.state.owed == (None if owed is None else slot(owed))
    assert result.waiting is waiting
    assert result.wake == at(wake)


def test_a_plan_applied_is_stable() -> None:
    """Planning again with the state a plan returned does nothing more (no double fire)."""
    cron = settings(catch_up=ONCE)
    first = plan(cron, UTC, CronState(0, at(-60)), False, at(0.02))
    again = plan(cron, UTC, first.state, True, at(0.03))
    assert [a for a in first.actions if isinstance(a, Fire)] and again.actions == ()


def test_the_skipped_reason_reads_well() -> None:
    result = plan(settings(catch_up=SKIP), UTC, CronState(0, at(-15)), False, at(2))
    skip = result.actions[0]
    assert isinstance(skip, Skip)
    assert skip.reason == (
        "3 slots 2026-12-07T11:50 to 2026-12-07T12:00: "
        "missed while the scheduler was not running, outside the catch-up policy"
    )
    one = plan(settings(CANCEL), UTC, CronState(0, at(-5)), True, at(0.02)).actions[0]
    assert isinstance(one, Skip)
    assert one.reason == "the previous run is still active (collision policy CANCEL_NEW)"


def test_start_outside_the_schedule() -> None:
    state = CronState(0, at(0))
    fired = start(settings(), UTC, state, False, at(2))
    assert len(fired.actions) == 1 and isinstance(fired.actions[0], Fire)
    assert fired.actions[0].slot.manual and fired.state == state
    killed = start(settings(KILL), UTC, state, True, at(2))
    assert isinstance(killed.actions[0], Kill) and killed.waiting
    assert killed.state.owed is not None and killed.state.owed.manual
    then = plan(settings(KILL), UTC, killed.state, False, at(2.5))
    assert [type(a) for a in then.actions] == [Fire] and then.state.owed is None
    with pytest.raises(StartRefused, match="CANCEL_NEW"):
        start(settings(CANCEL), UTC, state, True, at(2))
