"""Wall-clock slots of a cron schedule across DST changes (``scheduler/cron/slots.py``), as
tables: each row is a zone, a schedule, an instant, and the slots that fire after it (UTC
instants, with the wall-clock minute each stands for)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from borealis.contract.cronspec import parse_schedule
from borealis.scheduler.cron.slots import Slot, fire_at, slots_after, slots_between


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def shown(slot: Slot) -> tuple[str, str]:
    when = dt.datetime.fromtimestamp(slot.at, dt.UTC).strftime("%Y-%m-%dT%H:%M")
    return when, slot.label


def following(zone: str, schedule: str, after: str, count: int) -> list[tuple[str, str]]:
    slots = slots_after(parse_schedule(schedule), zoneinfo.ZoneInfo(zone), utc(after))
    return [shown(next(slots)) for _ in range(count)]


# (zone, schedule, after (UTC), [(fires at (UTC), slot (wall clock)), ...])
TABLE = [
    # New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT
    ("America/New_York", "30 2 * * *", "2026-03-07T12:00",
     [("2026-03-08T07:00", "2026-03-08T02:30"), ("2026-03-09T06:30", "2026-03-09T02:30")]),
    ("America/New_York", "* * * * *", "2026-03-08T06:58",
     [("2026-03-08T06:59", "2026-03-08T01:59"), ("2026-03-08T07:00", "2026-03-08T02:00"),
      ("2026-03-08T07:01", "2026-03-08T03:01")]),
    ("America/New_York", "0 * * * *", "2026-03-08T05:30",
     [("2026-03-08T06:00", "2026-03-08T01:00"), ("2026-03-08T07:00", "2026-03-08T02:00"),
      ("2026-03-08T08:00", "2026-03-08T04:00")]),
    # ... and falls back 2026-11-01 02:00 EDT -> 01:00 EST: 01:00-01:59 is shown twice
    ("America/New_York", "30 1 * * *", "2026-11-01T04:00",
     [("2026-11-01T05:30", "2026-11-01T01:30"), ("2026-11-02T06:30", "2026-11-02T01:30")]),
    ("America/New_York", "* * * * *", "2026-11-01T05:58",
     [("2026-11-01T05:59", "2026-11-01T01:59"), ("2026-11-01T07:00", "2026-11-01T02:00")]),
    ("America/New_York", "0 * * * *", "2026-11-01T04:30",
     [("2026-11-01T05:00", "2026-11-01T01:00"), ("2026-11-01T07:00", "2026-11-01T02:00")]),
    # Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST
    ("Europe/Berlin", "30 2 * * *", "2026-03-28T12:00",
     [("2026-03-29T01:00", "2026-03-29T02:30"), ("2026-03-30T00:30", "2026-03-30T02:30")]),
    ("Europe/Berlin", "*/20 * * * *", "2026-03-29T00:30",
     [("2026-03-29T00:40", "2026-03-29T01:40"), ("2026-03-29T01:00", "2026-03-29T02:00"),
      ("2026-03-29T01:20", "2026-03-29T03:20")]),
    # ... and falls back 2026-10-25 03:00 CEST -> 02:00 CET: 02:00-02:59 is shown twice
    ("Europe/Berlin", "30 2 * * *", "2026-10-24T12:00",
     [("2026-10-25T00:30", "2026-10-25T02:30"), ("2026-10-26T01:30", "2026-10-26T02:30")]),
    ("Europe/Berlin", "0 * * * *", "2026-10-24T23:30",
     [("2026-10-25T00:00", "2026-10-25T02:00"), ("2026-10-25T02:00", "2026-10-25T03:00")]),
    ("Europe/Berlin", "* * * * *", "2026-10-25T00:58",
     [("2026-10-25T00:59", "2026-10-25T02:59"), ("2026-10-25T02:00", "2026-10-25T03:00")]),
    # Lord Howe moves by 30 minutes: 2026-10-04 02:00 -> 02:30 (+10:30 -> +11) ...
    ("Australia/Lord_Howe", "15 2 * * *", "2026-10-03T12:00",
     [("2026-10-03T15:30", "2026-10-04T02:15"), ("2026-10-04T15:15", "2026-10-05T02:15")]),
    ("Australia/Lord_Howe", "* * * * *", "2026-10-03T15:28",
     [("2026-10-03T15:29", "2026-10-04T01:59"), ("2026-10-03T15:30", "2026-10-04T02:00"),
      ("2026-10-03T15:31", "2026-10-04T02:31")]),
    # ... and 2026-04-05 02:00 -> 01:30 (+11 -> +10:30): 01:30-01:59 is shown twice
    ("Australia/Lord_Howe", "45 1 * * *", "2026-04-04T12:00",
     [("2026-04-04T14:45", "2026-04-05T01:45"), ("2026-04-05T15:15", "2026-04-06T01:45")]),
    ("Australia/Lord_Howe", "* * * * *", "2026-04-04T14:58",
     [("2026-04-04T14:59", "2026-04-05T01:59"), ("2026-04-04T15:30", "2026-04-05T02:00")]),
    # days of week, Vixie's either-day rule, Feb 29, names, steps
    ("UTC", "0 9 * * mon-fri", "2026-12-04T10:00",
     [("2026-12-07T09:00", "2026-12-07T09:00"), ("2026-12-08T09:00", "2026-12-08T09:00")]),
    ("UTC", "0 0 13 * fri", "2026-11-01T00:00",
     [("2026-11-06T00:00", "2026-11-06T00:00"), ("2026-11-13T00:00", "2026-11-13T00:00"),
      ("2026-11-20T00:00", "2026-11-20T00:00")]),
    ("UTC", "0 0 */10 * fri", "2026-11-01T00:00",  # '*' first: the day must be both
     [("2026-12-11T00:00", "2026-12-11T00:00")]),
    ("UTC", "0 0 29 feb *", "2026-01-01T00:00",
     [("2028-02-29T00:00", "2028-02-29T00:00"), ("2032-02-29T00:00", "2032-02-29T00:00")]),
    ("UTC", "0 12 * * 7", "2026-12-07T00:00", [("2026-12-13T12:00", "2026-12-13T12:00")]),
    ("UTC", "5/20 3 1 jan,jul *", "2026-06-01T00:00",
     [("2026-07-01T03:05", "2026-07-01T03:05"), ("2026-07-01T03:25", "2026-07-01T03:25"),
      ("2026-07-01T03:45", "2026-07-01T03:45"), ("2027-01-01T03:05", "2027-01-01T03:05")]),
    ("America/New_York", "@daily", "2026-12-07T12:00", [("2026-12-08T05:00", "2026-12-08T00:00")]),
]  # fmt: skip


@pytest.mark.parametrize("zone, schedule, after, expected", TABLE)
def test_slots_after_an_instant(
    zone: str, schedule: str, after: str, expected: list[tuple[str, str]]
) -> None:
    assert following(zone, schedule, after, len(expected)) == expected


@pytest.mark.parametrize(
    "zone, day, runs",
    [
        ("America/New_York", "2026-03-08", 1380),  # 02:00-02:59 skipped: one run for them
        ("America/New_York", "2026-11-01", 1440),  # 01:00-01:59 twice: once each
        ("Europe/Berlin", "2026-03-29", 1380),
        ("Europe/Berlin", "2026-10-25", 1440),
        ("Australia/Lord_Howe", "2026-10-04", 1410),  # 02:00-02:29 skipped
        ("Australia/Lord_Howe", "2026-04-05", 1440),  # 01:30-01:59 twice
        ("Europe/Berlin", "2026-12-07", 1440),
    ],
)
def test_every_minute_fires_once_per_wall_minute_of_a_dst_day(
    zone: str, day: str, runs: int
) -> None:
    """Each wall minute of the day fires at most once; a repeated hour's minutes fire the
    first time only; a skipped hour's minutes make one run at the first minute after it."""
    tz = zoneinfo.ZoneInfo(zone)
    midnight = dt.datetime.fromisoformat(day)
    start = midnight.replace(tzinfo=tz).timestamp() - 1
    end = (midnight + dt.timedelta(days=1)).replace(tzinfo=tz).timestamp() - 1
    slots, more = slots_between(parse_schedule("* * * * *"), tz, start, end, 5000)
    assert not more and len(slots) == runs
    walls = [s.wall for s in slots]
    assert len(walls) == len(set(walls))
    instants = [s.at for s in slots]
    assert instants == sorted(set(instants))
    if runs == 1440:  # no gap: every wall minute of the day fired once
        assert set(walls) == {midnight + dt.timedelta(minutes=m) for m in range(1440)}


def test_a_skipped_minute_fires_at_the_first_valid_minute_after_the_gap() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    for minute in (0, 1, 30, 59):
        wall = dt.datetime(2026, 3, 29, 2, minute)
        assert fire_at(wall, berlin) == utc("2026-03-29T01:00")  # 03:00 CEST
    assert fire_at(dt.datetime(2026, 3, 29, 3, 0), berlin) == utc("2026-03-29T01:00")
    repeated = dt.datetime(2026, 10, 25, 2, 30)
    assert fire_at(repeated, berlin) == utc("2026-10-25T00:30")  # the first 02:30 (CEST)
