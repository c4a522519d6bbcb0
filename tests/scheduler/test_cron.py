"""Cron jobs end to end on the embedded cluster: ``borealis cron ...`` -> scheduler -> agent
-> executors -> real processes. One test waits for a real slot (the next minute); the
collision policies meet a really running instance through ``cron start``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cluster import Embedded
from support import REPO, borealis, wait_for

KEY = "local/www-data/devel/report"
CONFIG = """
jobs = [Job(cluster='local', role='www-data', environment='devel', name='report',
            cron_schedule={schedule!r}, cron_timezone='UTC', {extra}
            task=Task(name='report', processes=[Process(name='p', cmdline={cmdline!r})],
                      resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""
SLEEPER = "trap 'exit 1' TERM; sleep 100000 & wait"


def cron(cluster: Embedded, *args: str) -> tuple[int, str, str]:
    result = borealis("cron", "--clusters", str(cluster.scheduler.clusters), *args)
    return result.returncode, result.stdout, result.stderr


def schedule(cluster: Embedded, schedule: str, cmdline: str, extra: str = "") -> str:
    path = cluster.base / "report.aurora"
    path.write_text(CONFIG.format(schedule=schedule, cmdline=cmdline, extra=extra))
    code, out, err = cron(cluster, "schedule", KEY, str(path))
    assert code == 0, err
    assert out.startswith(f"scheduled {KEY}: {schedule!r} in UTC, next ")
    return err


def shown(cluster: Embedded) -> dict[str, Any]:
    code, out, err = cron(cluster, "show", KEY, "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def actions(cluster: Embedded) -> list[str]:
    return [e["action"] for e in shown(cluster)["history"]]


@pytest.mark.timeout(180)
def test_a_slot_fires_in_real_time_and_its_run_finishes(cluster: Embedded) -> None:
    schedule(cluster, "* * * * *", "echo cron ran")
    before = shown(cluster)
    assert before["last_slot"] is None and len(before["next"]) == 5
    first = before["next"][0]
    fired = wait_for(lambda: shown(cluster)["last_slot"], 90, "the first slot to fire")
    assert fired == first["slot"]
    event = next(e for e in shown(cluster)["history"] if e["action"] == "FIRED")
    assert event["slot"] == first["slot"] and event["time"] >= first["at"]
    wait_for(
        lambda: cluster.scheduler.states(KEY) == ["FINISHED"],
        60,
        "the run to finish",
        seen=lambda: cluster.scheduler.states(KEY),
    )
    assert len(cluster.scheduler.all_runs(KEY)) == 1  # FINISHED ends a cron run: no new one
    code, out, _ = cron(cluster, "show", KEY)
    assert code == 0
    assert f"last fired  {first['slot']}" in out and "FIRED" in out
    assert "schedule    * * * * *  (UTC)" in out and "collision   KILL_EXISTING" in out


def running(cluster: Embedded) -> list[dict[str, Any]]:
    return [t for t in cluster.scheduler.tasks(KEY) if t["state"] == "RUNNING"]


def test_kill_existing_replaces_a_running_instance(cluster: Embedded) -> None:
    schedule(cluster, "0 0 1 1 *", SLEEPER)  # next on New Year's Day: started by hand
    code, out, err = cron(cluster, "start", KEY)
    assert (code, out) == (0, f"started {KEY}\n"), err
    first = wait_for(lambda: running(cluster), 60, "the first run")[0]
    code, out, err = cron(cluster, "start", KEY)
    assert code == 0 and "killing the active runs first" in out, err
    second = wait_for(
        lambda: [t for t in running(cluster) if t["task_id"] != first["task_id"]],
        60,
        "the second run",
        seen=lambda: cluster.scheduler.tasks(KEY),
    )[0]
    runs = {t["task_id"]: t for t in cluster.scheduler.all_runs(KEY)}
    assert runs[first["task_id"]]["state"] == "KILLED"
    assert second["state"] == "RUNNING" and len(running(cluster)) == 1
    assert actions(cluster)[-3:] == ["FIRED", "KILLING", "FIRED"]
    code, out, err = cron(cluster, "deschedule", KEY)
    assert code == 0, err
    assert running(cluster)  # its runs go on
    code, _, err = cron(cluster, "show", KEY)
    assert code == 2 and f"no cron job {KEY}" in err


def test_cancel_new_keeps_the_running_instance(cluster: Embedded) -> None:
    err = schedule(cluster, "0 0 1 1 *", SLEEPER, "cron_collision_policy='RUN_OVERLAP',")
    assert "RUN_OVERLAP is deprecated" in err and "treated as CANCEL_NEW" in err
    assert shown(cluster)["cron"]["collision"] == "CANCEL_NEW"
    code, _, err = cron(cluster, "start", KEY)
    assert code == 0, err
    first = wait_for(lambda: running(cluster), 60, "the first run")[0]
    code, out, err = cron(cluster, "start", KEY)
    assert code == 2 and out == "" and "CANCEL_NEW" in err and len(err.splitlines()) == 1
    assert [t["task_id"] for t in running(cluster)] == [first["task_id"]]
    # an update of a cron job is refused too: its template changes with cron schedule
    path = cluster.base / "report.aurora"
    result = borealis(
        "job", "--clusters", str(cluster.scheduler.clusters), "update", "start", KEY, str(path)
    )
    assert result.returncode == 2 and "cron schedule" in result.stderr


def test_the_example_cron_job(cluster: Embedded) -> None:
    example = str(REPO / "sandbox_examples" / "hello_cron.aurora")
    refused = borealis("job", "--clusters", str(cluster.scheduler.clusters), "create", KEY, example)
    assert refused.returncode == 2 and "borealis cron schedule" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    code, out, err = cron(cluster, "schedule", KEY, example)
    assert code == 0, err
    assert out.startswith(f"scheduled {KEY}: '* * * * *' in Europe/Berlin, next ")
    assert shown(cluster)["cron"]["collision"] == "CANCEL_NEW"
    code, out, err = cron(cluster, "list", "local")
    assert code == 0, err
    assert out.startswith(f"{KEY}  '* * * * *' (Europe/Berlin)  next 20"), out
    code, _, err = cron(cluster, "start", KEY)
    assert code == 0, err
    wait_for(
        lambda: "FINISHED" in cluster.scheduler.states(KEY),
        60,
        "the report to finish",
        seen=lambda: cluster.scheduler.states(KEY),
    )
    code, _, err = cron(cluster, "deschedule", KEY)
    assert code == 0, err
