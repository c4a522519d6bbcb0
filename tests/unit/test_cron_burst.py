"""Many cron jobs due at one instant (scheduler/cron/driver.py, scheduler/placing.py,
scheduler/store.py): the pass that fires them all decides, writes and places exactly as one
job at a time would, in one transaction with the cursor, placed at once only when no other
run waits for a host; and the stores and records it relies on."""

from __future__ import annotations

import gc
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_cron_driver import SLOT, cron_job, make
from test_scheduler_core import MB, Clock, FakeBackend, run

from borealis.contract.jobspec import JobSpec, job_from_json
from borealis.contract.mesos import MesosState
from borealis.contract.schedule import ScheduleStatus
from borealis.scheduler.core import Scheduler
from borealis.scheduler.cron import driver
from borealis.scheduler.cron.records import CronRecords
from borealis.scheduler.store import Store

S = ScheduleStatus


def many(count: int, collision: str = "KILL_EXISTING", cpu: float = 0.01) -> list[JobSpec]:
    template = cron_job(collision).to_json()
    out = []
    for i in range(count):
        body = {**template, "key": {**template["key"], "name": f"j{i:02}"}}
        body["task"] = {**template["task"], "resources": {"cpu": cpu, "ram": MB, "disk": MB}}
        out.append(job_from_json(body))
    return out


def outcome(s: Scheduler) -> list[tuple[str, str, str, int]]:
    """Per cron job: its last event's action and slot, its runs."""
    out = []
    for key in s.cron.sorted_keys():
        last = s.cron.records.events(key)[-1]
        out.append((key, last["action"], last["slot"], len(s.store.tasks(key))))
    return out


@pytest.mark.parametrize("one_by_one", [0, 10_000])
def test_many_due_decide_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_by_one: int
) -> None:
    """40 jobs due at once: all fire; at the next slot half still have a run active (the rest
    ended): CANCEL_NEW skips, KILL_EXISTING kills, the others fire, with "is a run active"
    asked in one query (ONE_BY_ONE 0) or job by job (ONE_BY_ONE 10,000) alike."""
    monkeypatch.setattr(driver, "ONE_BY_ONE", one_by_one)
    clock, backend = Clock(), FakeBackend(cpu=64)
    s = make(tmp_path, clock, backend)
    for spec in many(20, "CANCEL_NEW") + [
        job_from_json({**j.to_json(), "key": {**j.to_json()["key"], "name": f"k{i:02}"}})
        for i, j in enumerate(many(20, "KILL_EXISTING"))
    ]:
        s.cron.schedule(spec)
    clock.now = SLOT + 0.01
    run(s.tick())
    assert len(backend.launched) == 40  # placed and launched in the pass that fired them
    assert {a for _, a, _, _ in outcome(s)} == {"FIRED"}
    for task in s.store.tasks():
        ended = int(task.job_key.rsplit("/j", 1)[-1].rsplit("/k", 1)[-1]) % 2
        state = MesosState.TASK_FINISHED if ended else MesosState.TASK_RUNNING
        run(s.on_status(task.task_id, state))
    clock.now = SLOT + 300.01
    run(s.tick())
    got = {key.rsplit("/", 1)[1]: (action, runs) for key, action, _, runs in outcome(s)}
    for name, (action, runs) in got.items():
        ended = int(name[1:]) % 2
        if ended:
            assert (action, runs) == ("FIRED", 2), name
        elif name.startswith("j"):
            assert (action, runs) == ("SKIPPED", 1), name
        else:
            assert (action, runs) == ("KILLING", 1), name
    assert len(backend.killed) == 10 and len(backend.launched) == 60


def test_a_failure_placing_the_fired_runs_undoes_the_slot(tmp_path: Path) -> None:
    """The runs, their placement and the cursor are one transaction: a failure while placing
    leaves no run and no fired slot; the next pass fires it once."""
    clock, backend = Clock(), FakeBackend()
    s = make(tmp_path, clock, backend)
    for spec in many(3):
        s.cron.schedule(spec)
    clock.now = SLOT + 0.01
    real = s.placing.place_new

    def crash(runs: Any, now: float) -> Any:
        raise RuntimeError("the scheduler died here")

    s.placing.place_new = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run(s.tick())
    assert s.store.tasks() == [] and backend.launched == []
    assert all(s.cron.describe(k)["last_slot"] is None for k in s.cron.sorted_keys())
    s.placing.place_new = real  # type: ignore[method-assign]
    run(s.tick())
    run(s.tick())
    assert len(s.store.tasks()) == 3 and len(backend.launched) == 3
    s.store.close()
    s = make(tmp_path, clock, backend)  # and a restart does not fire them again
    run(s.tick())
    assert len(s.store.tasks()) == 3


@pytest.mark.parametrize("other_first", [False, True])
def test_fired_runs_are_placed_at_once_only_when_nothing_else_waits(
    tmp_path: Path, other_first: bool
) -> None:
    """A host with room for one run: a pending run of an ordinary job of higher priority gets
    it, as placement by priority says, before the cron run fired in the same pass."""
    clock, backend = Clock(), FakeBackend(cpu=1)
    s = make(tmp_path, clock, backend)
    (cron,) = many(1, cpu=0.5)
    s.cron.schedule(cron)
    if other_first:
        big = job_from_json(
            {
                "key": {"cluster": "c", "role": "r", "environment": "e", "name": "big"},
                "priority": 10,
                "task": {
                    "name": "t",
                    "processes": [{"name": "p", "cmdline": "x"}],
                    "resources": {"cpu": 0.5, "ram": MB, "disk": MB},
                },
            }
        )
        s.create_job(big)
    clock.now = SLOT + 0.01
    run(s.tick())
    placed = {t.job_key: t.state for t in s.store.tasks()}
    if other_first:
        assert placed == {"c/r/e/big": S.ASSIGNED, str(cron.key): S.PENDING}
    else:
        assert placed == {str(cron.key): S.ASSIGNED}
    history = [e["state"] for e in s.store.history(s.store.tasks(str(cron.key))[0].task_id)]
    assert history == (["PENDING"] if other_first else ["PENDING", "ASSIGNED"])


@pytest.mark.parametrize("enabled", [True, False])
def test_a_pass_leaves_the_collector_as_it_found_it(tmp_path: Path, enabled: bool) -> None:
    s = make(tmp_path, Clock())
    (gc.enable if enabled else gc.disable)()
    try:
        run(s.tick())
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_the_state_of_a_store_from_before_is_read_from_its_template_rows(tmp_path: Path) -> None:
    """A store written before ``cron_state``: the cursor, owed slot and last slot were
    columns of ``cron_jobs``; opening it copies them."""
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE cron_jobs (key TEXT PRIMARY KEY, spec TEXT NOT NULL, since REAL NOT "
        "NULL, cursor REAL NOT NULL, owed TEXT, last_slot TEXT, last_fired REAL)"
    )
    owed = json.dumps({"at": 1500.0, "wall": "1970-01-01T00:25:00", "manual": False})
    spec = cron_job()
    db.execute(
        "INSERT INTO cron_jobs VALUES (?, ?, 10.0, 1200.0, ?, '1970-01-01T00:20', 1200.5)",
        (str(spec.key), spec.dumps(), owed),
    )
    db.commit()
    db.close()
    store = Store(path)
    records = CronRecords(store.db)
    job = records.get(str(spec.key))
    assert job is not None and job.spec == spec
    assert (job.state.since, job.state.cursor, job.last_slot, job.last_fired) == (
        10.0,
        1200.0,
        "1970-01-01T00:20",
        1200.5,
    )
    assert job.state.owed is not None and job.state.owed.at == 1500.0
    job.state = type(job.state)(10.0, 1500.0, None)
    with store.transaction():
        records.save_states([job])  # written to cron_state, read from it
    again = CronRecords(store.db).get(str(spec.key))
    assert again is not None and (again.state.cursor, again.state.owed) == (1500.0, None)


def rows(store: Store, key: str) -> dict[str, Any]:
    db = store.db
    return {
        "jobs": [tuple(r) for r in db.execute("SELECT key, spec, killed FROM jobs")],
        "instances": [tuple(r) for r in db.execute("SELECT * FROM instances ORDER BY instance")],
        "configs": [tuple(r) for r in db.execute("SELECT * FROM configs")],
        "active": store.active(key),
    }


@pytest.mark.parametrize("stored_before", [False, True])
def test_start_jobs_writes_what_one_job_at_a_time_writes(
    tmp_path: Path, stored_before: bool
) -> None:
    """``Store.start_jobs`` against ``forget_job``, ``add_job``, ``add_config`` and
    ``set_desired`` (what ``Scheduler._start_job`` did for every fired slot), over a store
    where the job was killed with its config already stored, or a fresh one."""
    spec = cron_job(instances=3)
    key = str(spec.key)
    stores = [Store(tmp_path / "one.db"), Store(tmp_path / "bulk.db")]
    for store in stores:
        if stored_before:
            with store.transaction():
                store.add_job(spec, 1.0)
                store.add_config(spec)
                store.set_killed(key)
    one, bulk = stores
    with one.transaction():
        one.forget_job(key)
        one.add_job(spec, 2.0)
        config = one.add_config(spec)
        for instance in range(spec.instances):
            one.set_desired(key, instance, config)
    with bulk.transaction():
        bulk.start_jobs([(spec, spec.dumps(), spec.config_id)], 2.0)
    assert rows(one, key) == rows(bulk, key)
    assert bulk.config(config) == spec


def test_active_keys_is_active_for_every_job(tmp_path: Path) -> None:
    clock = Clock()
    s = make(tmp_path, clock, FakeBackend(cpu=64))
    for spec in many(4):
        s.cron.schedule(spec)
    clock.now = SLOT + 0.01
    run(s.tick())
    first = s.store.tasks()[0]
    run(s.on_status(first.task_id, MesosState.TASK_FINISHED))
    keys = s.cron.sorted_keys()
    assert s.store.active_keys() == {k for k in keys if s.store.active(k)}
    assert first.job_key not in s.store.active_keys() and len(s.store.active_keys()) == 3
    assert s.store.count_in(S.ASSIGNED) == 3 and s.store.count_in(S.PENDING) == 0


@pytest.mark.parametrize("same_text", [True, False])
def test_know_configs_keeps_only_a_spec_stored_as_that_very_text(
    tmp_path: Path, same_text: bool
) -> None:
    spec = cron_job()
    store = Store(tmp_path / "s.db")
    text = spec.dumps() if same_text else json.dumps(spec.to_json())  # other key order
    with store.transaction():
        store.db.execute(
            "INSERT INTO configs (id, job_key, spec) VALUES (?, ?, ?)",
            (spec.config_id, str(spec.key), text),
        )
    store.know_configs([(spec, spec.dumps(), spec.config_id)])
    assert (store.config(spec.config_id) is spec) is same_text
    assert store.config(spec.config_id) == spec


def test_a_fired_run_no_host_holds_waits_saying_why(tmp_path: Path) -> None:
    """Placed at once but no host fits: stored PENDING with the reason, its history as a run
    created then left waiting."""
    clock, backend = Clock(), FakeBackend(cpu=1)
    s = make(tmp_path, clock, backend)
    (cron,) = many(1, cpu=2.0)
    s.cron.schedule(cron)
    clock.now = SLOT + 0.01
    run(s.tick())
    (task,) = s.store.tasks()
    assert task.state is S.PENDING and task.message.startswith("no host fits")
    assert [(e["state"], e["message"]) for e in s.store.history(task.task_id)] == [
        ("PENDING", "waiting for a host")
    ]
    assert backend.launched == [] and s.cron.describe(str(cron.key))["last_slot"] is not None


def test_a_pass_that_fails_after_placing_gives_the_placements_back(tmp_path: Path) -> None:
    """The runs were placed, then the transaction failed: the host's resources are not held
    by runs that do not exist."""
    clock, backend = Clock(), FakeBackend(cpu=1)
    s = make(tmp_path, clock, backend)
    (cron,) = many(1, cpu=0.5)
    s.cron.schedule(cron)
    clock.now = SLOT + 0.01

    def crash(jobs: Any) -> None:
        raise RuntimeError("the scheduler died here")

    s.cron.records.save_states = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        run(s.tick())
    assert s.store.tasks() == [] and s.placer.hosts["h1"].used_cpu == 0
    del s.cron.records.save_states
    run(s.tick())  # fits again: 0.5 + 0.25 of the host's 1 cpu
    (task,) = s.store.tasks()
    assert task.state is S.ASSIGNED and s.placer.hosts["h1"].used_cpu == pytest.approx(0.75)
