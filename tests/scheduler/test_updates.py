"""Job updates end to end on the embedded cluster: ``borealis job update ...`` -> scheduler ->
agent -> executors (with their health checks) -> runners -> real processes; what happened is
read back from the scheduler's JSON API (issue #14)."""

from __future__ import annotations

import random
import signal
import threading
import time
import urllib.request
from typing import Any

from cluster import Embedded
from support import wait_for
from test_embedded import all_running, job

CPU_TASK = "resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)"
HEALTH_TASK = "resources=Resources(cpu=0.1, ram=64*MB, disk=64*MB)"
# A sleeper: cheap, and its version is part of its command line (a new config).
SLEEPER = "trap 'exit 1' TERM; echo {version}; sleep 100000 & wait"
# A health-checked server: /health answers BODY, /version the version it was started as.
SERVER = (
    "mkdir -p h && echo {body} > h/health && echo {version} > h/version && "
    "exec python3 -m http.server {{{{thermos.ports[health]}}}} --bind 127.0.0.1 --directory h"
)
CONFIG = """
main = Process(name='main', cmdline={cmdline!r})
jobs = [Service(cluster='local', role='www-data', environment='devel', name={name!r},
                instances={instances},
                task=Task(name='main', processes=[main], {resources}),
                {extra}
                update_config=UpdateConfig(watch_secs=1, {update}))]
"""
# Checks start at once and a healthy server is RUNNING at its first success; the 4 s grace
# is for ten Python servers starting together on a loaded 2-core CI host.
HEALTH = (
    "health_check_config=HealthCheckConfig(initial_interval_secs=4, interval_secs=0.5),"
    " lifecycle=DisableLifecycle,"  # http.server has no /quitquitquit: TERM at once
)


def key_of(name: str) -> str:
    return f"local/www-data/devel/{name}"


def sleeper(cluster: Embedded, name: str, version: str, instances: int, update: str) -> str:
    """An .aurora file of a sleeper service; its path."""
    text = CONFIG.format(
        cmdline=SLEEPER.format(version=version),
        name=name,
        instances=instances,
        resources=CPU_TASK,
        extra="",
        update=update,
    )
    path = cluster.base / f"{name}-{version}.aurora"
    path.write_text(text)
    return str(path)


def server(
    cluster: Embedded, name: str, version: str, instances: int, update: str, body: str = "ok"
) -> str:
    """An .aurora file of a health-checked HTTP service; its path."""
    text = CONFIG.format(
        cmdline=SERVER.format(version=version, body=body),
        name=name,
        instances=instances,
        resources=HEALTH_TASK,
        extra=HEALTH,
        update=update,
    )
    path = cluster.base / f"{name}-{version}.aurora"
    path.write_text(text)
    return str(path)


def ok(cluster: Embedded, *args: str) -> str:
    code, out, err = job(cluster, *args)
    assert code == 0, (args, out, err)
    return out


def refused(cluster: Embedded, *args: str) -> str:
    """The one line of a refusal (exit 2, no traceback)."""
    code, out, err = job(cluster, *args)
    assert code == 2, (args, code, out, err)
    assert err.count("\n") == 1 and err.startswith("borealis: "), err
    return err


def started(cluster: Embedded, key: str, config: str, *extra: str) -> str:
    """Start an update through the CLI; its id."""
    out = ok(cluster, "update", "start", key, config, *extra)
    assert out.startswith("update ") and f" of {key}: " in out, out
    return out.split()[1]


def create_running(cluster: Embedded, key: str, config: str, count: int) -> list[str]:
    """Create the job, wait for every instance to be RUNNING; their task ids."""
    out = ok(cluster, "create", key, config)
    assert out.startswith(f"created {key}: {count} instance"), out
    wait_for(lambda: all_running(cluster, key, count), 90, f"{count} RUNNING",
             seen=lambda: cluster.scheduler.states(key))  # fmt: skip
    return [t["task_id"] for t in cluster.scheduler.tasks(key)]


def detail(cluster: Embedded, update_id: str) -> dict[str, Any]:
    return cluster.scheduler.get(f"/api/v1/updates/{update_id}")  # type: ignore[no-any-return]


def phases(cluster: Embedded, update_id: str) -> dict[int, str]:
    return {i["instance"]: i["phase"] for i in detail(cluster, update_id)["instances"]}


def wait_status(
    cluster: Embedded, update_id: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (d := detail(cluster, update_id))["status"] == status and d,
        timeout,
        f"update {update_id} to be {status}",
        seen=lambda: [detail(cluster, update_id)[k] for k in ("status", "reason", "phases")],
    )


def wait_phase(cluster: Embedded, update_id: str, phase: str, count: int = 1) -> dict[int, str]:
    def reached() -> dict[int, str] | None:
        now = phases(cluster, update_id)
        return now if list(now.values()).count(phase) >= count else None

    return wait_for(  # type: ignore[no-any-return]
        reached, 60, f"{count} instances {phase}", seen=lambda: phases(cluster, update_id)
    )


def runs(cluster: Embedded, key: str) -> list[dict[str, Any]]:
    """Every run the job ever had, oldest first per instance."""
    return cluster.scheduler.get(f"/api/v1/tasks?job={key}&all=1")["tasks"]  # type: ignore[no-any-return]


def current(cluster: Embedded, key: str) -> dict[int, dict[str, Any]]:
    return {t["instance"]: t for t in cluster.scheduler.tasks(key)}


def settle(cluster: Embedded, update_id: str) -> dict[int, str]:
    """Once nothing is in flight (a paused or stopped update lets in-flight instances finish),
    the phases, which then must hold still for a few scheduling passes."""

    def quiet() -> dict[int, str] | None:
        now = phases(cluster, update_id)
        return None if {"UPDATING", "ROLLING_BACK"} & set(now.values()) else now

    before = wait_for(
        quiet, 60, "in-flight instances to finish", seen=lambda: phases(cluster, update_id)
    )
    # four scheduling passes: an update still moving would have started an instance by then
    time.sleep(2.0)
    assert phases(cluster, update_id) == before
    return before  # type: ignore[no-any-return]


class DownWatcher:
    """Polls the job's instances in the background: the most not RUNNING at once."""

    def __init__(self, cluster: Embedded, key: str) -> None:
        self.cluster, self.key = cluster, key
        self.most, self.samples = 0, 0
        self.worst: list[str] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                states = self.cluster.scheduler.states(self.key)
                down = sum(s != "RUNNING" for s in states)
                if down > self.most:
                    self.most, self.worst = down, states
                self.samples += 1
                time.sleep(0.05)
        except BaseException as e:  # the test thread reports it
            self.error = e

    def __enter__(self) -> DownWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(10)
        assert self.error is None, self.error


def version_served(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10) as r:
        return str(r.read().decode()).strip()


# --- rolling forward, rolling back ---------------------------------------------------------


def test_ten_healthy_instances_roll_forward_three_at_a_time(cluster: Embedded) -> None:
    key = key_of("web")
    first = create_running(cluster, key, server(cluster, "web", "v1", 10, "batch_size=3"), 10)
    v2 = server(cluster, "web", "v2", 10, "batch_size=3")
    with DownWatcher(cluster, key) as watcher:
        code, out, err = job(cluster, "update", "start", key, v2, "--wait")
    assert code == 0, (out, err)
    assert "10 instances to change" in out and "ROLLED_FORWARD" in out.splitlines()[-1]
    # never more than a batch down, and a whole batch was down at some point
    assert watcher.most == 3, (watcher.most, watcher.worst, watcher.samples)

    update_id = out.split()[1]
    found = detail(cluster, update_id)
    assert found["status"] == "ROLLED_FORWARD" and found["phases"] == {"UPDATED": 10}
    new = {i["new"] for i in found["instances"]}
    (config,) = new
    assert config not in {i["old"] for i in found["instances"]}
    tasks = current(cluster, key)
    assert sorted(tasks) == list(range(10))
    for instance, task in tasks.items():
        assert task["config"] == config and task["state"] == "RUNNING", task
        assert task["task_id"] != first[instance]
        assert version_served(task["ports"]["health"]) == "v2"  # the new command runs
    on_new = [r for r in runs(cluster, key) if r["config"] == config]
    assert sorted(r["instance"] for r in on_new) == list(range(10))  # once each, none failed
    assert set(cluster.scheduler.get(f"/api/v1/jobs/{key}")["configs"].values()) == {config}


def test_a_version_failing_its_health_check_is_rolled_back(cluster: Embedded) -> None:
    key = key_of("web")
    good = server(cluster, "web", "v1", 4, "batch_size=2")
    first = create_running(cluster, key, good, 4)
    old = {t["config"] for t in cluster.scheduler.tasks(key)}
    broken = server(cluster, "web", "v2", 4, "batch_size=2", body="sick")
    update_id = started(cluster, key, broken)
    code, out, err = job(cluster, "update", "wait", key)
    assert code == 3, (code, out, err)
    assert "ROLLED_BACK" in out.splitlines()[-1]

    found = detail(cluster, update_id)
    assert found["status"] == "ROLLED_BACK"
    assert found["reason"].startswith("rolled back: ") and "failed" in found["reason"]
    assert "ROLLING_BACK" in [e["status"] for e in found["events"]]
    (bad,) = {i["new"] for i in found["instances"]}
    assert found["phases"] == {"ROLLED_BACK": 2, "WAITING": 2}  # the first batch only
    wait_for(lambda: all_running(cluster, key, 4), 60, "4 RUNNING again",
             seen=lambda: cluster.scheduler.states(key))  # fmt: skip
    tasks = current(cluster, key)
    assert {t["config"] for t in tasks.values()} == old
    assert [tasks[i]["task_id"] for i in (2, 3)] == first[2:]  # never touched
    for task in tasks.values():
        assert version_served(task["ports"]["health"]) == "v1"
    broken_runs = [r for r in runs(cluster, key) if r["config"] == bad]
    assert broken_runs and {r["instance"] for r in broken_runs} == {0, 1}
    assert all(r["state"] in ("FAILED", "KILLED") for r in broken_runs)
    assert "FAILED" in {r["state"] for r in broken_runs}  # the health check failed one
    assert set(cluster.scheduler.get(f"/api/v1/jobs/{key}")["configs"].values()) == old


def test_a_version_that_never_comes_up_is_rolled_back_at_the_progress_deadline(
    cluster: Embedded,
) -> None:
    # Nomad's stall (nomad #10465): a new version that neither fails nor becomes healthy.
    # Its health check fails, but within a 60 s initial interval that does not count, so the
    # run stays STARTING; the 8 s progress deadline rolls the update back long before. The
    # same deadline bounds the rollback, which on a loaded CI host took more than 3 s.
    key = key_of("stall")
    first = create_running(cluster, key, sleeper(cluster, "stall", "v1", 2, "batch_size=1"), 2)
    stuck = cluster.base / "stall-v2.aurora"
    stuck.write_text(
        CONFIG.format(
            cmdline=SERVER.format(version="v2", body="sick"),
            name="stall",
            instances=2,
            resources=HEALTH_TASK,
            extra="health_check_config=HealthCheckConfig(initial_interval_secs=60,"
            " interval_secs=0.5), lifecycle=DisableLifecycle,",
            update="batch_size=1, progress_deadline_secs=8",
        )
    )
    update_id = started(cluster, key, str(stuck))
    code, out, err = job(cluster, "update", "wait", key)
    assert code == 3, (code, out, err)
    found = detail(cluster, update_id)
    assert found["reason"] == (
        "rolled back: no instance finished updating in 8s (progress_deadline_secs)"
    )
    assert found["phases"] == {"ROLLED_BACK": 1, "WAITING": 1}
    stalled = [r for r in runs(cluster, key) if r["config"] == found["instances"][0]["new"]]
    assert [r["state"] for r in stalled] == ["KILLED"]  # it never got past STARTING
    assert "RUNNING" not in {e["state"] for e in history(cluster, stalled[0]["task_id"])}
    wait_for(lambda: all_running(cluster, key, 2), 60, "2 RUNNING again",
             seen=lambda: cluster.scheduler.states(key))  # fmt: skip
    assert current(cluster, key)[1]["task_id"] == first[1]  # never touched


def history(cluster: Embedded, task_id: str) -> list[dict[str, Any]]:
    return cluster.scheduler.get(f"/api/v1/tasks/{task_id}")["history"]  # type: ignore[no-any-return]


# --- the user's verbs ----------------------------------------------------------------------


def test_pause_resume_and_abort(cluster: Embedded) -> None:
    key = key_of("pause")
    first = create_running(cluster, key, sleeper(cluster, "pause", "v1", 4, "batch_size=1"), 4)
    v2 = sleeper(cluster, "pause", "v2", 4, "batch_size=1")
    update_id = started(cluster, key, v2)
    wait_phase(cluster, update_id, "UPDATED")
    assert "ROLL_FORWARD_PAUSED (paused by the user)" in ok(cluster, "update", "pause", key)
    held = settle(cluster, update_id)
    waiting = [i for i, p in held.items() if p == "WAITING"]
    assert waiting, held
    tasks = current(cluster, key)
    assert [tasks[i]["task_id"] for i in waiting] == [first[i] for i in waiting]
    assert "ROLLING_FORWARD" in ok(cluster, "update", "resume", key)
    assert job(cluster, "update", "wait", key)[0] == 0
    v2_config = detail(cluster, update_id)["instances"][0]["new"]
    assert {t["config"] for t in current(cluster, key).values()} == {v2_config}

    # abort: what was changed stays changed, nothing else moves, nothing is rolled back
    v3 = sleeper(cluster, "pause", "v3", 4, "batch_size=1")
    on_v2 = [t["task_id"] for t in cluster.scheduler.tasks(key)]
    update_id = started(cluster, key, v3)
    wait_phase(cluster, update_id, "UPDATED")
    assert "ABORTED (aborted by the user)" in ok(cluster, "update", "abort", key)
    code, out, _ = job(cluster, "update", "wait", key)
    assert code == 4 and "ABORTED" in out
    held = phases(cluster, update_id)  # an ended update's phases no longer move
    assert "WAITING" in held.values()
    found = detail(cluster, update_id)
    v3_config = found["instances"][0]["new"]
    wait_for(lambda: all_running(cluster, key, 4), 60, "4 RUNNING",
             seen=lambda: cluster.scheduler.states(key))  # fmt: skip
    time.sleep(2.0)  # four scheduling passes: a moving update would have changed an instance
    configs = cluster.scheduler.get(f"/api/v1/jobs/{key}")["configs"]
    assert set(configs.values()) == {v2_config, v3_config}
    for instance, phase in held.items():
        wanted = v2_config if phase == "WAITING" else v3_config
        task = current(cluster, key)[instance]
        assert configs[str(instance)] == wanted and task["config"] == wanted
        assert (task["task_id"] == on_v2[instance]) == (phase == "WAITING")


def test_an_update_moves_only_on_pulses(cluster: Embedded) -> None:
    key = key_of("pulse")
    update = "batch_size=1, pulse_interval_secs=2"
    first = create_running(cluster, key, sleeper(cluster, "pulse", "v1", 3, update), 3)
    update_id = started(cluster, key, sleeper(cluster, "pulse", "v2", 3, update))
    found = wait_status(cluster, update_id, "ROLL_FORWARD_AWAITING_PULSE")
    assert "no pulse" in found["reason"]
    assert settle(cluster, update_id) == {0: "WAITING", 1: "WAITING", 2: "WAITING"}
    assert [t["task_id"] for t in cluster.scheduler.tasks(key)] == first  # nothing changed

    assert "ROLLING_FORWARD" in ok(cluster, "update", "pulse", key)
    wait_phase(cluster, update_id, "UPDATING")
    statuses = [e["status"] for e in detail(cluster, update_id)["events"]]
    assert statuses[-2:] == ["ROLL_FORWARD_AWAITING_PULSE", "ROLLING_FORWARD"], statuses
    # no second pulse: it stops again once pulse_interval_secs have passed
    found = wait_status(cluster, update_id, "ROLL_FORWARD_AWAITING_PULSE")
    assert found["reason"] == "no pulse in pulse_interval_secs"
    held = settle(cluster, update_id)
    assert "WAITING" in held.values() and "UPDATED" in held.values(), held
    for instance in (i for i, p in held.items() if p == "WAITING"):
        assert current(cluster, key)[instance]["task_id"] == first[instance]
    # pulses keep it going to the end (the pulse after it is refused: there is nothing left)
    deadline = time.monotonic() + 60
    while (pulse := job(cluster, "update", "pulse", key))[0] == 0:
        assert time.monotonic() < deadline, detail(cluster, update_id)
        time.sleep(0.3)
    assert pulse[0] == 2 and "the update has ended (ROLLED_FORWARD)" in pulse[2], pulse
    assert detail(cluster, update_id)["phases"] == {"UPDATED": 3}


def test_percentage_batches_and_scaling_up_and_down(cluster: Embedded) -> None:
    key = key_of("scale")
    half = "batch_size='50%'"
    create_running(cluster, key, sleeper(cluster, "scale", "v1", 4, half), 4)
    with DownWatcher(cluster, key) as watcher:
        update_id = started(cluster, key, sleeper(cluster, "scale", "v2", 4, half))
        assert job(cluster, "update", "wait", key)[0] == 0
    assert watcher.most == 2, (watcher.most, watcher.worst)  # 50% of 4, observed
    found = detail(cluster, update_id)
    assert sorted(i["batch"] for i in found["instances"]) == [0, 0, 1, 1]
    ok(cluster, "kill", key)
    wait_for(lambda: set(cluster.scheduler.states(key)) == {"KILLED"}, 60, "all KILLED")

    key = key_of("grow")
    first = create_running(cluster, key, sleeper(cluster, "grow", "v1", 3, "batch_size=2"), 3)
    config = cluster.scheduler.tasks(key)[0]["config"]
    code, out, err = job(cluster, "update", "start", key,
                         sleeper(cluster, "grow", "v1", 5, "batch_size=2"), "--wait")  # fmt: skip
    assert code == 0 and "2 instances to change" in out, (out, err)
    wait_for(lambda: all_running(cluster, key, 5), 60, "5 RUNNING",
             seen=lambda: cluster.scheduler.states(key))  # fmt: skip
    tasks = current(cluster, key)
    assert [tasks[i]["task_id"] for i in range(3)] == first  # untouched
    assert {t["config"] for t in tasks.values()} == {config}
    five = [tasks[i]["task_id"] for i in range(5)]
    assert cluster.scheduler.get(f"/api/v1/jobs/{key}")["instances"] == 5

    code, out, err = job(cluster, "update", "start", key,
                         sleeper(cluster, "grow", "v1", 2, "batch_size=2"), "--wait")  # fmt: skip
    assert code == 0 and "3 instances to change" in out, (out, err)
    tasks = current(cluster, key)
    assert [tasks[i]["task_id"] for i in range(2)] == five[:2]
    assert [tasks[i]["state"] for i in range(2)] == ["RUNNING", "RUNNING"]
    wait_for(lambda: all(current(cluster, key)[i]["state"] == "KILLED" for i in (2, 3, 4)), 30,
             "instances 2-4 KILLED", seen=lambda: cluster.scheduler.states(key))  # fmt: skip
    assert [current(cluster, key)[i]["task_id"] for i in (2, 3, 4)] == five[2:]  # not replaced
    after = cluster.scheduler.get(f"/api/v1/jobs/{key}")
    assert after["instances"] == 2 and sorted(after["configs"]) == ["0", "1"]


# --- a scheduler killed again and again ----------------------------------------------------


def test_updates_survive_a_scheduler_sigkilled_at_random_points(cluster: Embedded) -> None:
    key = key_of("chaos")
    count, update = 6, "batch_size=2"
    create_running(cluster, key, sleeper(cluster, "chaos", "v0", count, update), count)
    scheduler, rng = cluster.scheduler, random.Random(14)
    kills, version, checked = 0, 0, []
    while kills < 20:
        version += 1
        update_id = started(cluster, key, sleeper(cluster, "chaos", f"v{version}", count, update))
        while kills < 20 and detail(cluster, update_id)["status"] == "ROLLING_FORWARD":
            time.sleep(rng.uniform(0.0, 1.0))
            scheduler.stop(signal.SIGKILL)
            kills += 1
            scheduler.start()
        code, out, err = job(cluster, "update", "wait", key)
        assert code == 0, (version, kills, out, err)
        checked.append(update_id)
    assert kills == 20
    everything = runs(cluster, key)
    for update_id in checked:
        found = detail(cluster, update_id)
        assert found["status"] == "ROLLED_FORWARD" and found["phases"] == {"UPDATED": count}
        (config,) = {i["new"] for i in found["instances"]}
        on_new = [r for r in everything if r["config"] == config]
        assert sorted(r["instance"] for r in on_new) == list(range(count)), [
            (r["instance"], r["state"], r["message"]) for r in on_new
        ]
        for run in on_new:
            assert run["state"] in ("RUNNING", "KILLED"), run  # none failed or lost
    assert all_running(cluster, key, count)


# --- instance-level verbs and bad input ----------------------------------------------------


def test_diff_kill_restart_add_and_bad_input(cluster: Embedded) -> None:
    key = key_of("ops")
    v1 = sleeper(cluster, "ops", "v1", 3, "batch_size=1")
    first = create_running(cluster, key, v1, 3)
    out = ok(cluster, "diff", key, sleeper(cluster, "ops", "v2", 4, "batch_size=1"))
    lines = out.splitlines()
    assert lines[:3] == ["added: 3", "removed: -", "changed: 0-2"], out
    assert any("cmdline" in line and "v1" in line and "v2" in line for line in lines[3:]), out
    out = ok(cluster, "diff", key, sleeper(cluster, "ops", "v1", 2, "batch_size=1"))
    assert out.splitlines()[:3] == ["added: -", "removed: 2", "changed: -"], out

    assert "added 2 instances" in ok(cluster, "add", f"{key}/0", "2")
    wait_for(lambda: all_running(cluster, key, 5), 60, "5 RUNNING")
    tasks = current(cluster, key)
    assert [tasks[i]["task_id"] for i in range(3)] == first
    assert len({t["config"] for t in tasks.values()}) == 1

    ok(cluster, "restart", f"{key}/2")
    wait_for(lambda: current(cluster, key)[2]["task_id"] != first[2]
             and all_running(cluster, key, 5), 60, "instance 2 restarted")  # fmt: skip
    tasks = current(cluster, key)
    assert [tasks[i]["task_id"] for i in (0, 1)] == first[:2]

    ok(cluster, "kill", f"{key}/0-1")
    wait_for(lambda: [t["state"] for t in cluster.scheduler.tasks(key)][:2] == ["KILLED"] * 2,
             30, "instances 0 and 1 KILLED")  # fmt: skip
    after = cluster.scheduler.get(f"/api/v1/jobs/{key}")
    assert sorted(after["configs"]) == ["2", "3", "4"] and after["instances"] == 3
    assert [current(cluster, key)[i]["task_id"] for i in (2, 3, 4)] == [
        tasks[i]["task_id"] for i in (2, 3, 4)
    ]
    assert all(current(cluster, key)[i]["state"] == "RUNNING" for i in (2, 3, 4))

    # bad input: one line, exit 2, nothing changed
    assert "range" in refused(cluster, "kill", f"{key}/3-1")
    assert "ranges" in refused(cluster, "restart", f"{key}/x")
    assert "no instance 9" in refused(cluster, "restart", f"{key}/9")
    assert "no instance 0" in refused(cluster, "kill", f"{key}/0")
    refused(cluster, "add", f"{key}/2-3", "1")
    refused(cluster, "update", "start", key, v1, "--instances", "4-2")
    pulsed = sleeper(cluster, "ops", "v3", 5, "batch_size=1, pulse_interval_secs=60")
    update_id = started(cluster, key, pulsed)
    wait_status(cluster, update_id, "ROLL_FORWARD_AWAITING_PULSE")
    err = refused(cluster, "update", "start", key, v1)
    assert update_id in err and "ROLL_FORWARD_AWAITING_PULSE" in err, err
    assert "being updated" in refused(cluster, "add", f"{key}/2", "1")
    ok(cluster, "update", "abort", key)
    assert [u["id"] for u in cluster.scheduler.get(f"/api/v1/jobs/{key}/updates")["updates"]] == [
        update_id
    ]
    assert all(current(cluster, key)[i]["state"] == "RUNNING" for i in (2, 3, 4))
