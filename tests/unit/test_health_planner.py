"""Aurora's health-check arithmetic (executor/mesos/health.py), as tables."""

from __future__ import annotations

import pytest

from borealis.contract.envelope import HealthCheck
from borealis.executor.mesos.health import Health, HealthPlanner

S, F = True, False


def run(config: HealthCheck, outcomes: list[bool]) -> list[str]:
    planner = HealthPlanner(config)
    return [planner.record(ok, "GET /health: status 500").health.value[0] for ok in outcomes]


@pytest.mark.parametrize(
    "initial, interval, max_fail, min_succ, outcomes, expected",
    [
        # defaults: forgiving = ceil(15/10) = 2; one success -> RUNNING
        (15, 10, 0, 1, [S], "R"),
        (15, 10, 0, 1, [F, F, S], "SSR"),  # failures in the grace are ignored
        (15, 10, 0, 1, [F, F, F], "SSF"),  # budget 2 + 0 + 1 = 3 spent
        (15, 10, 0, 3, [S, F, S, S, S], "SSSSR"),  # successes must be consecutive
        (15, 10, 0, 3, [F, S, F], "SSF"),  # 3 needed, 2 checks left after the 3rd: fail fast
        (10, 10, 2, 1, [F, F, F, S], "SSSR"),  # 1 forgiving + 2 tolerated failures
        (10, 10, 2, 1, [F, F, F, F], "SSSF"),
        (0, 5, 0, 1, [F], "F"),  # no grace at all
        # after RUNNING: unhealthy when failures in a row exceed max_consecutive_failures
        (0, 5, 0, 1, [S, F], "RF"),
        (0, 5, 2, 1, [S, F, F, S, F, F, F], "RRRRRRF"),
    ],
)
def test_health_tables(
    initial: float,
    interval: float,
    max_fail: int,
    min_succ: int,
    outcomes: list[bool],
    expected: str,
) -> None:
    config = HealthCheck(
        initial_interval_secs=initial,
        interval_secs=interval,
        max_consecutive_failures=max_fail,
        min_consecutive_successes=min_succ,
    )
    assert "".join(run(config, outcomes)) == expected


def test_failure_reasons_name_the_last_problem() -> None:
    planner = HealthPlanner(HealthCheck(initial_interval_secs=0, interval_secs=1))
    verdict = planner.record(False, "GET /health: status 503, body 'down'")
    assert verdict.health is Health.FAILED
    assert "status 503" in verdict.reason
