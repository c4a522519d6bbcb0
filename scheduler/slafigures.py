"""SLA figures of a job, as Aurora's ``aurora sla`` client reported them (docs/sla.md): how
long each live instance has been up, read at percentiles (``get-job-uptime``), and the share
of instances up for at least some durations (``get-task-up-count``). Pure: the runs and their
state events come from the store, ``now`` from the caller.

* an instance counts when its newest run is **live** (RUNNING, KILLING or PARTITIONED, as
  Aurora's ``LIVE_STATES``) and has reached RUNNING; its **uptime** is the whole seconds since
  that run's first RUNNING event;
* the uptime at percentile *p* is the longest uptime that more than *p* % of the counted
  instances reach (Aurora: the sorted uptimes' element ``n - floor(p * n / 100) - 1``; 0
  when none is counted);
* the up count for a duration *d* is the percentage of counted instances up for at least *d*
  seconds (0 when none is counted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from borealis.contract.errors import InputError
from borealis.contract.schedule import ScheduleStatus

S = ScheduleStatus
LIVE = frozenset({S.RUNNING, S.KILLING, S.PARTITIONED})
DEFAULT_PERCENTILES = (99.0, 95.0, 90.0, 85.0, 75.0, 60.0, 50.0, 30.0, 10.0)  # Aurora's client
DEFAULT_DURATIONS = (60, 600, 3600, 43200, 604800)  # 1m, 10m, 1h, 12h, 7d
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RunHistory:
    """An instance's newest run and its state events (state, time), oldest first."""

    instance: int
    state: ScheduleStatus
    events: Sequence[tuple[ScheduleStatus, float]]


def uptimes(runs: Iterable[RunHistory], now: float) -> dict[int, int]:
    """Whole seconds each counted instance has been up (instance -> seconds)."""
    out: dict[int, int] = {}
    for run in runs:
        if run.state not in LIVE:
            continue
        since = next((t for state, t in run.events if state is S.RUNNING), None)
        if since is not None:
            out[run.instance] = max(0, math.floor(now - since))
    return out


def uptime_at(up: Mapping[int, int], percentile: float) -> int:
    """The longest uptime that more than ``percentile`` % of the counted instances reach."""
    if not 0 < percentile < 100:
        raise ValueError(f"percentile {percentile:g} is not within (0, 100)")
    values = sorted(up.values())
    index = len(values) - math.floor(percentile / 100 * len(values)) - 1
    return values[index] if 0 <= index < len(values) else 0


def up_count(up: Mapping[int, int], duration: float) -> float:
    """The percentage of counted instances up for at least ``duration`` seconds."""
    if not up:
        return 0.0
    return 100.0 * sum(1 for v in up.values() if v >= duration) / len(up)


def job_uptime(up: Mapping[int, int], percentiles: Iterable[float]) -> list[tuple[float, int]]:
    """``(percentile, seconds)`` for each percentile, highest percentile first."""
    return [(p, uptime_at(up, p)) for p in sorted(set(percentiles), reverse=True)]


def task_up_count(up: Mapping[int, int], durations: Iterable[int]) -> list[tuple[int, float]]:
    """``(duration, percent up)`` for each duration, shortest first."""
    return [(d, up_count(up, d)) for d in sorted(set(durations))]


def parse_percentiles(text: str, source: str = "--percentiles") -> tuple[float, ...]:
    """``50,90,99.5`` -> percentiles, each within (0, 100)."""
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise InputError(source, "", f"{part.strip()!r} is not a number") from None
        if not 0 < value < 100:
            raise InputError(source, "", f"{part.strip()} is not within (0, 100)")
        out.append(value)
    return tuple(out)


def parse_duration(text: str, source: str = "--durations") -> int:
    """``1d2h3m4s`` (each part optional, in that order) or plain seconds -> seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    total, number, last = 0, "", -1
    order = list(_UNITS)
    for char in text:
        if char.isdigit():
            number += char
            continue
        unit = order.index(char) if char in _UNITS else -2
        if unit == -2 or not number or (last != -1 and unit >= last):
            raise InputError(source, "", f"{text!r} is not a duration like 1d2h3m4s")
        total += int(number) * _UNITS[char]
        number, last = "", unit
    if number or not text:
        raise InputError(source, "", f"{text!r} is not a duration like 1d2h3m4s")
    return total


def parse_durations(text: str, source: str = "--durations") -> tuple[int, ...]:
    return tuple(parse_duration(part, source) for part in text.split(","))
