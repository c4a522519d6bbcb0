"""Wall-clock slots of a cron schedule in a time zone, and the instants they fire at.

A slot is a wall-clock minute the schedule names (``2026-03-29T02:30`` in Europe/Berlin). It
fires at the instant that minute has on the zone's clock, with two rules for DST changes,
so that each slot fires exactly once:

* a minute the clock shows twice (fall-back) fires at its first occurrence;
* a minute the clock skips (spring-forward) fires at the first valid minute after the gap
  (the instant of the change); several skipped slots, and a slot at that first valid
  minute, share that instant and make one run (the earliest slot names it).

Mapping walls to instants this way never goes backwards, so "the next slot after an instant"
is the first slot, in wall order from that instant's wall minute, whose instant is later.

Pure: time is passed in (UTC seconds); nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from borealis.contract.cronspec import CronExpr

SEARCH_YEARS = 400  # one Gregorian cycle: a date pattern that matches at all matches within it


@dataclass(frozen=True, order=True)
class Slot:
    at: float  # when it fires, UTC seconds
    wall: dt.datetime  # the wall-clock minute it stands for (naive, in the job's zone)
    manual: bool = False  # not a slot of the schedule: ``cron start`` at ``at``

    @functools.cached_property
    def label(self) -> str:  # asked for by every job of a shared slot
        text = self.wall.strftime("%Y-%m-%dT%H:%M")
        return f"manual start at {text}" if self.manual else text


def local_zone() -> zoneinfo.ZoneInfo:
    """The scheduler's zone: $TZ, else the zone /etc/localtime links to, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(Path("/etc/localtime").resolve())
        candidates.append(target.partition("/zoneinfo/")[2])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def walls_from(expr: CronExpr, start: dt.datetime) -> Iterator[dt.datetime]:
    """The schedule's wall-clock minutes from ``start`` (naive, inclusive), in order."""
    hours, minutes = sorted(expr.hours), sorted(expr.minutes)
    year, month = start.year, start.month
    for _ in range(SEARCH_YEARS * 12):
        if month in expr.months:
            first = start.date() if (year, month) == (start.year, start.month) else None
            day = dt.date(year, month, 1) if first is None else first
            while day.month == month:
                if expr.day_matches(day.day, (day.weekday() + 1) % 7):
                    for hour in hours:
                        for minute in minutes:
                            wall = dt.datetime(year, month, day.day, hour, minute)
                            if wall >= start:
                                yield wall
                day += dt.timedelta(days=1)
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if year > dt.MAXYEAR - 1:
            return


def wall_of(instant: float, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The zone's wall-clock minute at ``instant`` (naive)."""
    local = dt.datetime.fromtimestamp(instant, zone)
    return local.replace(tzinfo=None, second=0, microsecond=0)


def fire_at(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> float:
    """The instant a wall-clock minute fires at (the module's DST rules)."""
    first = wall.replace(tzinfo=zone, fold=0)
    instant = first.timestamp()
    if wall_of(instant, zone) == wall:
        return instant  # it exists; fold=0 is its first occurrence when it is shown twice
    # skipped by a change: the change lies between the instants the two offsets give
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp()) // 60
    high = int(instant) // 60 + 1
    while low < high:  # the first minute whose wall clock is past the skipped one
        middle = (low + high) // 2
        if wall_of(middle * 60.0, zone) > wall:
            high = middle
        else:
            low = middle + 1
    return low * 60.0


def slots_after(expr: CronExpr, zone: zoneinfo.ZoneInfo, after: float) -> Iterator[Slot]:
    """Every slot firing later than ``after``, in order (one per distinct instant)."""
    last = after
    for wall in walls_from(expr, wall_of(after, zone)):
        at = fire_at(wall, zone)
        if at > last:
            last = at
            yield Slot(at, wall)


def next_slot(expr: CronExpr, zone: zoneinfo.ZoneInfo, after: float) -> Slot | None:
    return next(slots_after(expr, zone, after), None)


def slots_between(
    expr: CronExpr, zone: zoneinfo.ZoneInfo, after: float, until: float, most: int
) -> tuple[list[Slot], bool]:
    """The oldest ``most`` slots firing in (``after``, ``until``]; True when more were left
    out."""
    found: list[Slot] = []
    for slot in slots_after(expr, zone, after):
        if slot.at > until:
            return found, False
        if len(found) == most:
            return found, True
        found.append(slot)
    return found, False
