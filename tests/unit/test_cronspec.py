"""A job's ``cron`` field (``borealis.contract.cronspec``): schedules, zones, policies, and the
conversion of an evaluated Aurora job, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from borealis.contract.cronspec import (
    AURORA_NAMES,
    CatchUp,
    Collision,
    cron_from_json,
    from_aurora,
    parse_schedule,
)
from borealis.contract.errors import InputError
from borealis.contract.reading import Reader


def parse(value: Any, names: dict[str, str] | None = None) -> Any:
    return cron_from_json(Reader("job.json"), value, "cron", names)


def test_defaults() -> None:
    settings = parse({"schedule": "*/5 * * * *"})
    assert settings.timezone is None
    assert settings.collision is Collision.KILL_EXISTING
    assert (settings.catch_up, settings.catch_up_window_secs) == (CatchUp.ONCE, 3600)
    assert parse(settings.to_json()) == settings


@pytest.mark.parametrize(
    "text, field, values",
    [
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
        ("0 9-17/4 * * *", "hours", {9, 13, 17}),
        ("0 0 1,15 * *", "days", {1, 15}),
        ("0 0 * jan-mar,DEC *", "months", {1, 2, 3, 12}),
        ("0 0 * * mon-fri", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 * * 5-7", "weekdays", {5, 6, 0}),
        ("50/5 * * * *", "minutes", {50, 55}),
        ("1,,2 * * * *", "minutes", {1, 2}),
        ("@hourly", "minutes", {0}),
    ],
)
def test_schedule_fields(text: str, field: str, values: set[int]) -> None:
    assert getattr(parse_schedule(text), field) == values


@pytest.mark.parametrize(
    "value, error",
    [
        ({}, "job.json: cron.schedule: required field is missing"),
        ({"schedule": "* * * *"}, "cron.schedule: expected 5 fields"),
        ({"schedule": "60 * * * *"}, "cron.schedule: minute: 60 is outside 0-59"),
        ({"schedule": "* 24 * * *"}, "cron.schedule: hour: 24 is outside 0-23"),
        ({"schedule": "* * 0 * *"}, "cron.schedule: day of month: 0 is outside 1-31"),
        ({"schedule": "* * * foo *"}, "cron.schedule: month: 'foo' is not a number or a name"),
        ({"schedule": "5-1 * * * *"}, "cron.schedule: minute: range '5-1' runs backwards"),
        ({"schedule": "*/0 * * * *"}, "cron.schedule: minute: step '0' is not a number >= 1"),
        ({"schedule": ", * * * *"}, "cron.schedule: minute: no value in ','"),
        ({"schedule": "/5 * * * *"}, "cron.schedule: minute: a step needs a start"),
        ({"schedule": "0 0 30 2 *"}, "cron.schedule: never fires"),
        ({"schedule": "@reboot"}, "cron.schedule: expected 5 fields"),
        ({"schedule": "* * * * *", "timezone": "Mars/Olympus"}, "cron.timezone: unknown time zone"),
        ({"schedule": "* * * * *", "timezone": "../etc/x"}, "cron.timezone: '../etc/x' is not"),
        ({"schedule": "* * * * *", "collision": "RUN_OVERLAP"}, "cron.collision: expected one of"),
        ({"schedule": "* * * * *", "catch_up": "some"}, "cron.catch_up: expected one of"),
        ({"schedule": "* * * * *", "catch_up_window_secs": -1}, "cron.catch_up_window_secs"),
        ({"schedule": "* * * * *", "when": 1}, "cron.when: unknown field"),
    ],
)
def test_refused(value: Any, error: str) -> None:
    with pytest.raises(InputError) as e:
        parse(value)
    assert error in str(e.value)
    assert "\n" not in str(e.value)


def test_errors_name_the_aurora_fields_when_asked() -> None:
    with pytest.raises(InputError, match=r"^job\.json: cron_schedule: minute: 61"):
        parse({"schedule": "61 * * * *"}, AURORA_NAMES)
    with pytest.raises(InputError, match=r"^job\.json: cron_timezone: unknown"):
        parse({"schedule": "* * * * *", "timezone": "Nowhere/Land"}, AURORA_NAMES)


def test_from_aurora() -> None:
    warnings: list[str] = []
    assert from_aurora({"cron_schedule": None}, warnings.append) is None
    plain: dict[str, Any] = {"cron_schedule": "0 * * * *", "cron_collision_policy": "CANCEL_NEW"}
    assert from_aurora(plain, warnings.append) == {
        "schedule": "0 * * * *",
        "collision": "CANCEL_NEW",
    }
    assert warnings == []
    plain = {
        "cron_schedule": "0 * * * *",
        "cron_collision_policy": "RUN_OVERLAP",
        "cron_timezone": "Europe/Berlin",
        "cron_catch_up": "all",
        "cron_catch_up_window_secs": 600,
    }
    out = from_aurora(plain, warnings.append)
    assert out is not None and out["collision"] == "CANCEL_NEW"
    assert (out["timezone"], out["catch_up"], out["catch_up_window_secs"]) == (
        "Europe/Berlin",
        "all",
        600,
    )
    assert len(warnings) == 1 and "RUN_OVERLAP is deprecated" in warnings[0]
