"""Cron jobs in the scheduler (scheduler/cron/driver.py) over a real store, a fake backend and
a fake clock: slots fire once, a restart in the middle of a slot neither misses nor doubles
it, the collision policies, and what the runs of a fired slot do when they end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_scheduler_core import MB, Clock, FakeBackend, run

from borealis.contract.errors import InputError
from borealis.contract.jobspec import JobSpec, job_from_json
from borealis.contract.mesos import MesosState
from borealis.scheduler.core import Conflict, Policy, Scheduler
from borealis.scheduler.cron.driver import CronConflict
from borealis.scheduler.pages import job_view, overview
from borealis.scheduler.store import Store

KEY = "c/r/e/nightly"
SLOT = 1200.0  # 00:20 UTC on the fake clock's day: a slot of */5


def cron_job(collision: str = "KILL_EXISTING", instances: int = 1, **extra: Any) -> JobSpec:
    return job_from_json(
        {
            "key": {"cluster": "c", "role": "r", "environment": "e", "name": "nightly"},
            "instances": instances,
            "task": {
                "name": "t",
                "processes": [{"name": "p", "cmdline": "report"}],
                "resources": {"cpu": 0.5, "ram": 64 * MB, "disk": 64 * MB},
            },
            "cron": {"schedule": "*/5 * * * *", "timezone": "UTC", "collision": collision},
            **extra,
        }
    )


def make(path: Path, clock: Clock, backend: FakeBackend | None = None) -> Scheduler:
    return Scheduler(Store(path / "s.db"), backend or FakeBackend(), Policy(), clock)


def runs(s: Scheduler) -> list[Any]:
    return s.store.tasks(KEY)


def fired(s: Scheduler) -> list[str]:
    return [e["slot"] for e in s.cron.records.events(KEY) if e["action"] == "FIRED"]


def test_a_slot_fires_once_at_its_time(tmp_path: Path) -> None:
    clock, backend = Clock(), FakeBackend()
    s = make(tmp_path, clock, backend)
    s.cron.schedule(cron_job(instances=2))
    assert s.cron.wake == SLOT
    run(s.tick())
    assert runs(s) == [] and backend.launched == []
    clock.now = SLOT + 0.01
    run(s.tick())
    assert len(backend.launched) == 2 and fired(s) == ["1970-01-01T00:20"]
    clock.now = SLOT + 30
    run(s.tick())
    assert len(runs(s)) == 2  # not again
    assert s.cron.wake == SLOT + 300


@pytest.mark.parametrize("down_until", [SLOT + 0.5, SLOT + 30])
def test_a_restart_in_the_middle_of_a_slot_neither_misses_nor_doubles_it(
    tmp_path: Path, down_until: float
) -> None:
    clock = Clock()
    s = make(tmp_path, clock)
    s.cron.schedule(cron_job())
    clock.now = SLOT - 1
    run(s.tick())
    s.store.close()  # stopped just before the slot, back in the middle of it
    clock.now = down_until
    s = make(tmp_path, clock)
    run(s.tick())
    assert fired(s) == ["1970-01-01T00:20"] and len(runs(s)) == 1
    s.store.close()  # stopped right after it fired, back at once
    s = make(tmp_path, clock)
    run(s.tick())
    clock.now += 10
    run(s.tick())
    assert fired(s) == ["1970-01-01T00:20"] and len(runs(s)) == 1


def test_a_pass_that_fails_before_commit_leaves_the_slot_to_fire_once(tmp_path: Path) -> None:
    """The runs and the cursor are one transaction: a failure between them undoes both."""
    clock = Clock()
    s = make(tmp_path, clock)
    s.cron.schedule(cron_job())
    clock.now = SLOT + 0.01

    def crash(jobs: Any) -> None:
        raise RuntimeError("the scheduler died here")

    s.cron.records.save_states = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run(s.tick())
    assert runs(s) == [] and fired(s) == []
    del s.cron.records.save_states  # the next pass (same process) fires it
    run(s.tick())
    assert fired(s) == ["1970-01-01T00:20"] and len(runs(s)) == 1
    s.store.close()
    s = make(tmp_path, clock)  # and a restart does not fire it again
    run(s.tick())
    assert fired(s) == ["1970-01-01T00:20"] and len(runs(s)) == 1


def test_cancel_new_skips_a_slot_while_a_run_is_active(tmp_path: Path) -> None:
    clock = Clock()
    s = make(tmp_path, clock)
    s.cron.schedule(cron_job("CANCEL_NEW"))
    clock.now = SLOT + 0.01
    run(s.tick())
    first = runs(s)[0]
    run(s.on_status(first.task_id, MesosState.TASK_RUNNING))
    clock.now = SLOT + 300.01
    run(s.tick())
    assert len(runs(s)) == 1
    skipped = [e for e in s.cron.records.events(KEY) if e["action"] == "SKIPPED"]
    assert skipped[-1]["slot"] == "1970-01-01T00:25"
    assert "still active" in skipped[-1]["reason"]
    with pytest.raises(CronConflict, match="CANCEL_NEW"):
        run(s.cron.start(KEY))


def test_kill_existing_kills_then_launches_when_the_runs_ended(tmp_path: Path) -> None:
    clock, backend = Clock(), FakeBackend()
    s = make(tmp_path, clock, backend)
    s.cron.schedule(cron_job("KILL_EXISTING"))
    clock.now = SLOT + 0.01
    run(s.tick())
    first = runs(s)[0]
    run(s.on_status(first.task_id, MesosState.TASK_RUNNING))
    clock.now = SLOT + 300.01
    run(s.tick())
    assert backend.killed == [first.task_id] and len(runs(s)) == 1
    assert s.cron.describe(KEY)["owed"] == "1970-01-01T00:25"
    clock.now += 1
    run(s.tick())  # still being killed: nothing launches
    assert len(runs(s)) == 1
    run(s.on_status(first.task_id, MesosState.TASK_KILLED))
    assert len(runs(s)) == 1  # a killed cron run is not replaced
    clock.now += 1
    run(s.tick())
    assert len(runs(s)) == 2 and fired(s) == ["1970-01-01T00:20", "1970-01-01T00:25"]
    assert runs(s)[-1].task_id in backend.launched


def test_an_owed_launch_survives_a_restart(tmp_path: Path) -> None:
    """KILL_EXISTING: the scheduler stops after asking for the kill; the new one launches the
    slot once the old run has ended, and only once."""
    clock, backend = Clock(), FakeBackend()
    s = make(tmp_path, clock, backend)
    s.cron.schedule(cron_job("KILL_EXISTING"))
    clock.now = SLOT + 0.01
    run(s.tick())
    first = runs(s)[0]
    run(s.on_status(first.task_id, MesosState.TASK_RUNNING))
    clock.now = SLOT + 300.01
    run(s.tick())
    assert backend.killed == [first.task_id]
    s.store.close()
    clock.now += 5
    s = make(tmp_path, clock)
    run(s.tick())
    assert len(runs(s)) == 1 and s.cron.describe(KEY)["owed"] == "1970-01-01T00:25"
    run(s.on_status(first.task_id, MesosState.TASK_KILLED))
    run(s.tick())
    run(s.tick())
    assert len(runs(s)) == 2 and fired(s) == ["1970-01-01T00:20", "1970-01-01T00:25"]
    assert len(s.cron._heap) <= 2  # a waiting job is not pushed again at every pass


def test_fired_runs_end_as_a_jobs_finished_ends_failed_is_retried(tmp_path: Path) -> None:
    clock = Clock()
    s = make(tmp_path, clock)
    s.cron.schedule(cron_job(instances=2, max_task_failures=2))
    clock.now = SLOT + 0.01
    run(s.tick())
    one, two = runs(s)
    for task in (one, two):
        run(s.on_status(task.task_id, MesosState.TASK_RUNNING))
    run(s.on_status(one.task_id, MesosState.TASK_FINISHED))
    run(s.on_status(two.task_id, MesosState.TASK_FAILED))
    retried = [t for t in runs(s) if t.instance == 1 and t.task_id != two.task_id]
    assert len(runs(s)) == 3 and len(retried) == 1  # FINISHED ends it; FAILED once: again
    clock.now += 400  # past the flapping penalty: placed again
    run(s.tick())
    run(s.on_status(retried[0].task_id, MesosState.TASK_RUNNING))
    run(s.on_status(retried[0].task_id, MesosState.TASK_FAILED))
    assert len(runs(s)) == 3  # the second failure reached max_task_failures
    assert not s.store.active(KEY)


def test_start_launches_now_and_kill_existing_waits_for_the_kill(tmp_path: Path) -> None:
    clock, backend = Clock(), FakeBackend()
    s = make(tmp_path, clock, backend)
    s.cron.schedule(cron_job())
    run(s.cron.start(KEY))
    assert len(runs(s)) == 1 and fired(s)[0].startswith("manual start at")
    assert s.cron.wake == SLOT  # the schedule goes on
    run(s.tick())  # placed
    first = runs(s)[0]
    run(s.on_status(first.task_id, MesosState.TASK_RUNNING))
    run(s.cron.start(KEY))
    assert backend.killed == [first.task_id]
    run(s.on_status(first.task_id, MesosState.TASK_KILLED))
    run(s.tick())
    assert len(runs(s)) == 2


def test_refusals(tmp_path: Path) -> None:
    s = make(tmp_path, Clock())
    with pytest.raises(ValueError, match="borealis cron schedule"):
        s.create_job(cron_job())
    with pytest.raises(ValueError, match=r"constraints: .*expected limit:N"):
        s.cron.schedule(cron_job(constraints={"host": "limit:abc"}))  # now, not at each slot
    with pytest.raises(InputError, match="cron: a service cannot run on a cron schedule"):
        cron_job(service=True)
    plain = job_from_json({**cron_job().to_json(), "cron": None})
    s.create_job(plain)
    with pytest.raises(CronConflict, match="not a cron job"):
        s.cron.schedule(cron_job())
    (tmp_path / "other").mkdir()
    s2 = make(tmp_path / "other", Clock())
    s2.cron.schedule(cron_job())
    with pytest.raises(Conflict, match="is a cron job"):
        s2.create_job(plain)
    with pytest.raises(LookupError):
        s2.cron.deschedule("c/r/e/none")
    s2.clock.now = SLOT + 0.01  # type: ignore[attr-defined]
    run(s2.tick())
    s2.cron.deschedule(KEY)  # its runs stay; scheduling it again is fine
    assert s2.store.active(KEY)
    s2.cron.schedule(cron_job())
    assert KEY in s2.cron.jobs


def test_a_pass_looks_only_at_the_jobs_due(tmp_path: Path) -> None:
    """A pass before every job's slot looks at none of them, and at a slot only at the jobs
    due then (the heap): the cost of a pass does not grow with the number of cron jobs."""
    clock = Clock()
    s = make(tmp_path, clock)
    template = cron_job().to_json()
    for i in range(200):
        body = {**template, "key": {**template["key"], "name": f"j{i}"}}
        body["cron"] = {**template["cron"], "schedule": f"{i % 60} * * * *"}
        s.cron.schedule(job_from_json(body))
    planned: list[str] = []
    real = s.cron.store.active

    def counting(key: str) -> bool:
        planned.append(key)
        return real(key)

    s.cron.store.active = counting  # type: ignore[method-assign]
    clock.now = 1000.5  # 00:16:40: before every job's next slot (00:17 is j17's)
    run(s.tick())
    assert planned == []
    clock.now = 17 * 60 + 0.01
    run(s.tick())
    assert sorted(planned) == ["c/r/e/j137", "c/r/e/j17", "c/r/e/j197", "c/r/e/j77"]


def test_cron_settings_are_not_part_of_an_instances_config() -> None:
    """Changing a job's schedule or policies must not restart its instances."""
    plain = job_from_json({**cron_job().to_json(), "cron": None})
    assert cron_job("CANCEL_NEW").config_id == cron_job().config_id == plain.config_id
    assert cron_job().to_json()["cron"]["schedule"] == "*/5 * * * *"


def test_the_pages_show_a_cron_job_before_and_after_it_fired(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = SLOT - 30
    s = make(tmp_path, clock)
    s.cron.schedule(cron_job())
    [(role, [row])] = overview(s)["roles"]
    assert (role, row["key"], row["instances"]) == ("r", KEY, 1)
    assert row["cron"] == {
        "key": KEY,
        "schedule": "*/5 * * * *",
        "zone": "UTC",
        "collision": "KILL_EXISTING",
        "next": "1970-01-01T00:20",
        "last_slot": None,
    }
    assert job_view(s, KEY, "http://{host}:1338/")["instances"] == []  # not fired yet
    clock.now = SLOT
    run(s.tick())
    view = job_view(s, KEY, "http://{host}:1338/")
    assert [i["instance"] for i in view["instances"]] == [0]  # the slot's run
    assert view["cron"]["last_slot"] == "1970-01-01T00:20"
    assert view["cron"]["next"] == "1970-01-01T00:25"
