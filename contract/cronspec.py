"""When a cron job runs: the job JSON's ``cron`` field (null for an ordinary job).

::

    {"schedule": "*/5 * * * *", "timezone": "Europe/Berlin" or null,
     "collision": "KILL_EXISTING" | "CANCEL_NEW", "catch_up": "skip" | "once" | "all",
     "catch_up_window_secs": 3600}

``schedule`` is a 5-field cron line (minute hour day-of-month month day-of-week) with lists,
ranges, steps, ``*``, month and day names, and the ``@hourly``-style shorthands; as in Vixie
cron (and Aurora), when both day fields are restricted a day matches if either does.
``timezone`` is an IANA zone (null: the scheduler's zone). From an ``.aurora`` file the fields
are ``cron_schedule``, ``cron_collision_policy`` (Aurora's), ``cron_timezone``,
``cron_catch_up`` and ``cron_catch_up_window_secs`` (ours); errors name those. docs/cron.md.

Standard library only.
"""

from __future__ import annotations

import enum
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .reading import Reader, join_path

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # at most (Feb 29)


class Collision(enum.Enum):
    KILL_EXISTING = "KILL_EXISTING"  # kill the runs still active, then launch the new slot's
    CANCEL_NEW = "CANCEL_NEW"  # skip the new slot while a run is active


class CatchUp(enum.Enum):
    """What happens to slots missed while the scheduler was down (docs/cron.md)."""

    SKIP = "skip"  # none of them run
    ONCE = "once"  # the newest one within the window runs, once
    ALL = "all"  # each one within the window runs, oldest first, one after another


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # the number of names[0]


FIELDS = (
    Field("minute", 0, 59),
    Field("hour", 0, 23),
    Field("day of month", 1, 31),
    Field("month", 1, 12, MONTHS, 1),
    Field("day of week", 0, 7, DAYS, 0),
)


@dataclass(frozen=True)
class CronExpr:
    """A parsed schedule: the values each field allows (day of week 0-6, Sunday 0)."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_star: bool  # the day-of-month field began with '*' (it does not restrict alone)
    weekdays_star: bool

    def day_matches(self, day: int, weekday: int) -> bool:
        """Whether a date (its day of month, its weekday with Sunday 0) may hold slots."""
        in_days, in_weekdays = day in self.days, weekday in self.weekdays
        if self.days_star or self.weekdays_star:
            return in_days and in_weekdays  # the starred one allows every day anyway
        return in_days or in_weekdays  # Vixie: both restricted, either matches


def _number(text: str, f: Field) -> int:
    lowered = text.lower()
    if lowered in f.names:
        return f.names.index(lowered) + f.name_base
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{f.name}: {text!r} is not a number" + (" or a name" if f.names else ""))
    value = int(text)
    if not f.low <= value <= f.high:
        raise ValueError(f"{f.name}: {value} is outside {f.low}-{f.high}")
    return value


def _field(text: str, f: Field) -> frozenset[int]:
    values: set[int] = set()
    parts = [p for p in text.split(",") if p]  # "1,,2" is 1,2, as Aurora reads it
    if not parts:
        raise ValueError(f"{f.name}: no value in {text!r}")
    for part in parts:
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isascii() or not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"{f.name}: step {step_text!r} is not a number >= 1")
            step = int(step_text)
        if base == "*":
            low, high = f.low, f.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _number(first, f), _number(last, f)
            if low > high:
                raise ValueError(f"{f.name}: range {base!r} runs backwards")
        elif base:
            low = _number(base, f)
            high = f.high if slash else low  # "5/15": from 5 to the end, every 15
        else:
            raise ValueError(f"{f.name}: a step needs a start, in {text!r}")
        values.update(range(low, high + 1, step))
    return frozenset(values)


def parse_schedule(text: str) -> CronExpr:
    """A cron line's values; ``ValueError`` with one line saying what is wrong."""
    line = SHORTHANDS.get(text.strip().lower(), text)
    parts = line.split()
    if len(parts) != 5:
        raise ValueError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    minutes, hours, days, months, weekdays = (
        _field(p, f) for p, f in zip(parts, FIELDS, strict=True)
    )
    weekdays = frozenset(d % 7 for d in weekdays)  # 7 is Sunday too
    expr = CronExpr(
        text.strip(),
        minutes,
        hours,
        days,
        months,
        weekdays,
        days_star=parts[2].startswith("*"),
        weekdays_star=parts[4].startswith("*"),
    )
    if expr.weekdays_star and not any(min(days) <= DAYS_IN_MONTH[m - 1] for m in months):
        raise ValueError("never fires: no chosen month has the chosen days")
    return expr


@dataclass(frozen=True)
class CronSettings:
    schedule: CronExpr
    timezone: str | None = None  # None: the scheduler's zone
    collision: Collision = Collision.KILL_EXISTING
    catch_up: CatchUp = CatchUp.ONCE
    catch_up_window_secs: int = 3600

    def zone(self, default: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
        return default if self.timezone is None else zoneinfo.ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.text,
            "timezone": self.timezone,
            "collision": self.collision.value,
            "catch_up": self.catch_up.value,
            "catch_up_window_secs": self.catch_up_window_secs,
        }


_KEYS = frozenset({"schedule", "timezone", "collision", "catch_up", "catch_up_window_secs"})
# the .aurora names of the fields, for errors in a config file
AURORA_NAMES = {
    "schedule": "cron_schedule",
    "timezone": "cron_timezone",
    "collision": "cron_collision_policy",
    "catch_up": "cron_catch_up",
    "catch_up_window_secs": "cron_catch_up_window_secs",
}


def check_zone(name: str) -> str:
    """``name`` when it is an IANA zone this host knows; ``ValueError`` otherwise."""
    if not name or name.startswith("/") or ".." in name:
        raise ValueError(f"{name!r} is not an IANA time zone name")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name like 'Europe/Berlin')"
        ) from None
    return name


def cron_from_json(
    r: Reader, value: Any, path: str, names: dict[str, str] | None = None
) -> CronSettings:
    """Checked settings; an error names ``path.FIELD``, or ``names[FIELD]`` when given."""
    obj = r.obj(value, path, _KEYS)

    def where(name: str) -> str:
        return names[name] if names is not None else join_path(path, name)

    def parsed(name: str, convert: Callable[[str], Any]) -> Any:
        text = r.string(obj[name], where(name), nonempty=True)
        try:
            return convert(text)
        except ValueError as e:
            raise r.fail(where(name), str(e)) from None

    if obj.get("schedule") is None:
        raise r.fail(where("schedule"), "required field is missing")
    schedule = parsed("schedule", parse_schedule)
    zone = None if obj.get("timezone") is None else parsed("timezone", check_zone)
    default = CronSettings(schedule)
    collision = Collision(
        r.choice(
            obj.get("collision", "KILL_EXISTING"), where("collision"), tuple(Collision.__members__)
        )
    )
    catch_up = CatchUp(
        r.choice(
            obj.get("catch_up", default.catch_up.value),
            where("catch_up"),
            tuple(c.value for c in CatchUp),
        )
    )
    window = obj.get("catch_up_window_secs", default.catch_up_window_secs)
    window = r.integer(window, where("catch_up_window_secs"), minimum=0)
    return CronSettings(schedule, zone, collision, catch_up, window)


DEPRECATED_COLLISION = "RUN_OVERLAP"


def from_aurora(plain: dict[str, Any], warn: Callable[[str], None]) -> dict[str, Any] | None:
    """The ``cron`` field from an evaluated Aurora job (plain values): None without a
    ``cron_schedule``. RUN_OVERLAP, deprecated in Aurora, becomes CANCEL_NEW (``warn`` says so)."""
    schedule = plain.get("cron_schedule")
    if schedule is None:
        return None
    collision = plain.get("cron_collision_policy") or "KILL_EXISTING"
    if collision == DEPRECATED_COLLISION:
        warn(
            "cron_collision_policy: RUN_OVERLAP is deprecated (as in Aurora); treated as CANCEL_NEW"
        )
        collision = Collision.CANCEL_NEW.value
    out: dict[str, Any] = {"schedule": schedule, "collision": collision}
    for name in ("timezone", "catch_up", "catch_up_window_secs"):
        if plain.get(f"cron_{name}") is not None:
            out[name] = plain[f"cron_{name}"]
    return out


def refuse_service(r: Reader, service: bool, where: str) -> None:
    """A service never ends, so a schedule cannot start it again: refused, as in Aurora."""
    if service:
        raise r.fail(where, "a service cannot run on a cron schedule (Aurora refuses it too)")


__all__ = ["CatchUp", "Collision", "CronExpr", "CronSettings", "cron_from_json"]
