"""Cron configs refused through the real CLI (``borealis cron schedule``, ``borealis job
create``): exit 2, one line naming the file, the .aurora field and the problem, before any
scheduler is asked (none runs here: the clusters.json points at a closed port)."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import pytest
from support import borealis

KEY = "local/www-data/devel/report"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(tmp_path: Path, job: str = "Job", **fields: str) -> tuple[Path, Path]:
    """An .aurora file of a one-process job with ``fields``, and a clusters.json."""
    extra = "".join(f"{name}={value}, " for name, value in fields.items())
    path = tmp_path / "report.aurora"
    path.write_text(
        textwrap.dedent(
            f"""
            jobs = [{job}(cluster='local', role='www-data', environment='devel', name='report',
                        {extra}
                        task=Task(name='report', processes=[Process(name='p', cmdline='true')],
                                  resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
            """
        )
    )
    clusters = tmp_path / "clusters.json"
    uri = f"http://127.0.0.1:{closed_port()}"
    clusters.write_text(json.dumps([{"name": "local", "scheduler_uri": uri}]))
    return path, clusters


def refused(args: list[str], clusters: Path, prefix: str, fragment: str) -> None:
    result = borealis(args[0], "--clusters", str(clusters), *args[1:], timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    assert fragment in lines[0], lines[0]


def test_job_create_refuses_a_cron_job_and_points_at_cron_schedule(tmp_path: Path) -> None:
    path, clusters = config(tmp_path, cron_schedule="'*/5 * * * *'")
    refused(
        ["job", "create", KEY, str(path)],
        clusters,
        f"borealis: {path}: cron_schedule: ",
        f"borealis cron schedule {KEY} {path}",
    )


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"cron_schedule": "'61 * * * *'"}, "cron_schedule: minute: 61 is outside 0-59"),
        ({"cron_schedule": "'* * * *'"}, "cron_schedule: expected 5 fields"),
        ({"cron_schedule": "'0 0 31 feb *'"}, "cron_schedule: never fires"),
        (
            {"cron_schedule": "'@daily'", "cron_timezone": "'Europe/Nowhere'"},
            "cron_timezone: unknown time zone 'Europe/Nowhere'",
        ),
        (
            {"cron_schedule": "'@daily'", "cron_collision_policy": "'SOMETIMES'"},
            "cron_collision_policy: expected one of",
        ),
        ({"cron_schedule": "'@daily'", "cron_catch_up": "'twice'"}, "cron_catch_up: expected"),
        (
            {"cron_schedule": "'@daily'", "cron_catch_up_window_secs": "-5"},
            "cron_catch_up_window_secs: expected an integer >= 0",
        ),
        ({}, "cron_schedule: not set: run this job with `borealis job create`"),
    ],
)
def test_cron_schedule_refuses_bad_cron_fields(
    tmp_path: Path, fields: dict[str, str], problem: str
) -> None:
    path, clusters = config(tmp_path, **fields)
    refused(["cron", "schedule", KEY, str(path)], clusters, f"borealis: {path}: ", problem)


def test_a_service_on_a_cron_schedule_is_refused(tmp_path: Path) -> None:
    path, clusters = config(tmp_path, job="Service", cron_schedule="'@hourly'")
    refused(
        ["cron", "schedule", KEY, str(path)],
        clusters,
        f"borealis: {path}: cron_schedule: ",
        "a service cannot run on a cron schedule",
    )


def test_a_bad_key_is_refused(tmp_path: Path) -> None:
    _, clusters = config(tmp_path)
    refused(["cron", "show", "local/www-data"], clusters, "borealis: ", "CLUSTER/ROLE/ENV/NAME")
