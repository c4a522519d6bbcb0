"""SLA figures (``scheduler/slafigures.py``) on a constructed history, as tables; the CLI's
duration spelling. No I/O, no clock: ``now`` is given."""

from __future__ import annotations

import pytest

from borealis.cli.sla_cmd import spelled
from borealis.contract.errors import InputError
from borealis.contract.schedule import ScheduleStatus as S
from borealis.scheduler.slafigures import (
    RunHistory,
    job_uptime,
    parse_duration,
    parse_percentiles,
    task_up_count,
    up_count,
    uptime_at,
    uptimes,
)

NOW = 10_000.0


def running(instance: int, since: float, state: S = S.RUNNING) -> RunHistory:
    return RunHistory(
        instance,
        state,
        [(S.PENDING, since - 5), (S.ASSIGNED, since - 3), (S.RUNNING, since), *extra(state)],
    )


def extra(state: S) -> list[tuple[S, float]]:
    return [] if state is S.RUNNING else [(state, NOW - 1)]


HISTORY = [
    running(0, NOW - 10.7),  # up 10 s (whole seconds, floored)
    running(1, NOW - 100),
    running(2, NOW - 1000),
    running(3, NOW - 50, S.KILLING),  # live: counts
    running(4, NOW - 5000, S.FINISHED),  # ended: does not count
    RunHistory(5, S.STARTING, [(S.PENDING, NOW - 9), (S.STARTING, NOW - 2)]),  # never RUNNING
    RunHistory(6, S.PENDING, [(S.PENDING, NOW - 9)]),
    running(7, NOW - 20, S.PARTITIONED),  # live: counts
]


def test_uptimes_count_live_runs_that_reached_running() -> None:
    assert uptimes(HISTORY, NOW) == {0: 10, 1: 100, 2: 1000, 3: 50, 7: 20}


def test_uptime_from_the_first_running_event() -> None:
    # RUNNING, PARTITIONED, RUNNING again: up since the first RUNNING, as Aurora
    run = RunHistory(
        0, S.RUNNING, [(S.RUNNING, NOW - 300), (S.PARTITIONED, NOW - 200), (S.RUNNING, NOW - 100)]
    )
    assert uptimes([run], NOW) == {0: 300}


UP = {0: 10, 1: 100, 2: 1000, 3: 50, 7: 20}  # sorted: 10 20 50 100 1000


@pytest.mark.parametrize(
    ("percentile", "seconds"),
    [
        (99, 10),  # every instance reaches 10 s
        (81, 10),
        (80, 10),  # 4 of 5 reach 20 s: 80 %, not more than 80 %
        (79, 20),
        (50, 50),  # 3 of 5 reach 50 s
        (40, 50),  # 2 of 5 reach 100 s: not more than 40 %
        (39, 100),
        (20, 100),
        (10, 1000),  # 1 of 5 reaches 1000 s
        (0.5, 1000),
    ],
)
def test_uptime_at_percentile(percentile: float, seconds: int) -> None:
    assert uptime_at(UP, percentile) == seconds


def test_uptime_of_no_instance_is_zero() -> None:
    assert uptime_at({}, 50) == 0


@pytest.mark.parametrize("percentile", [0, 100, -1, 150])
def test_uptime_percentile_out_of_range(percentile: float) -> None:
    with pytest.raises(ValueError, match="not within"):
        uptime_at(UP, percentile)


@pytest.mark.parametrize(
    ("duration", "percent"),
    [(0, 100.0), (10, 100.0), (11, 80.0), (50, 60.0), (51, 40.0), (1000, 20.0), (1001, 0.0)],
)
def test_up_count(duration: int, percent: float) -> None:
    assert up_count(UP, duration) == pytest.approx(percent)


def test_up_count_of_no_instance_is_zero() -> None:
    assert up_count({}, 60) == 0.0


def test_figures_are_ordered_as_aurora_prints_them() -> None:
    assert job_uptime(UP, [50, 99, 10]) == [(99, 10), (50, 50), (10, 1000)]
    assert task_up_count(UP, [600, 60, 1]) == [(1, 100.0), (60, 40.0), (600, 20.0)]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("1m", 60), ("1h3m10s", 3790), ("7d", 604800), ("1d12h", 129600)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(spelled(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "m", "1x", "10s1m", "1m1m", "1m30", "-5"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(InputError, match="not a duration"):
        parse_duration(text)


def test_parse_percentiles() -> None:
    assert parse_percentiles("50, 90,99.5") == (50.0, 90.0, 99.5)
    for bad in ("0", "100", "x", "50,"):
        with pytest.raises(InputError):
            parse_percentiles(bad)
