"""The embedded default end to end: ``borealis job`` -> scheduler -> agent -> executors ->
runners -> real processes, all on this host."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path

from cluster import Embedded
from support import REPO, borealis, gone, wait_for

from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import load

KEY = "local/www-data/devel/web"
SERVICE = """
web = Process(name='web', cmdline="trap 'exit 1' TERM; "
              "echo instance {{mesos.instance}} on {{thermos.ports[http]}}; sleep 100000 & wait")
jobs = [Service(cluster='local', role='www-data', environment='devel', name='web', instances=5,
                task=Task(name='web', processes=[web],
                          resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""
CRASHER = """
jobs = [Service(cluster='local', role='www-data', environment='devel', name='crash',
                task=Task(name='crash', processes=[Process(name='boom', cmdline='exit 1')],
                          resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""


def job(cluster: Embedded, *args: str) -> tuple[int, str, str]:
    result = borealis("job", "--clusters", str(cluster.scheduler.clusters), *args)
    return result.returncode, result.stdout, result.stderr


def create(cluster: Embedded, key: str, text: str) -> None:
    config = cluster.base / "job.aurora"
    config.write_text(text)
    code, out, err = job(cluster, "create", key, str(config))
    assert code == 0, err
    assert out.startswith(f"created {key}")


def all_running(cluster: Embedded, key: str, count: int) -> bool:
    states = cluster.scheduler.states(key)
    return len(states) == count and set(states) == {"RUNNING"}


def runner_state(cluster: Embedded, task_id: str) -> object:
    executor = cluster.agent.executor(task_id)
    return load(CheckpointRoot(Path(executor["run_dir"])).task(task_id).runner_stream)


def process_pid(cluster: Embedded, task_id: str) -> int:
    """The pid of the run's ``web`` process, once the runner has recorded it."""

    def pid() -> int | None:
        run = runner_state(cluster, task_id).last_run("web")  # type: ignore[attr-defined]
        return run.pid.pid if run is not None and run.pid is not None else None

    return int(wait_for(pid, 30, f"the process of {task_id}"))


def test_five_instance_service_runs_and_a_killed_process_is_rescheduled(cluster: Embedded) -> None:
    create(cluster, KEY, SERVICE)
    wait_for(lambda: all_running(cluster, KEY, 5), 60, "5 RUNNING instances",
             seen=lambda: cluster.scheduler.states(KEY))  # fmt: skip
    tasks = cluster.scheduler.tasks(KEY)
    ports = {t["ports"]["http"] for t in tasks}
    assert len(ports) == 5 and [t["instance"] for t in tasks] == [0, 1, 2, 3, 4]
    victim = tasks[2]

    pid = process_pid(cluster, victim["task_id"])
    os.kill(pid, signal.SIGTERM)  # the instance's process is killed: it exits 1, the task fails
    replaced = wait_for(
        lambda: (t := cluster.scheduler.tasks(KEY)[2])["task_id"] != victim["task_id"] and t,
        30,
        "a new run of instance 2",
    )
    assert replaced["instance"] == 2
    wait_for(lambda: all_running(cluster, KEY, 5), 60, "5 RUNNING again",
             seen=lambda: cluster.scheduler.states(KEY))  # fmt: skip
    old = next(t for t in cluster.scheduler.all_runs(KEY) if t["task_id"] == victim["task_id"])
    assert old["state"] == "FAILED"
    assert [t["task_id"] for t in cluster.scheduler.tasks(KEY)][:2] == [
        t["task_id"] for t in tasks
    ][:2]
    code, out, _ = job(cluster, "status", KEY)
    assert code == 0 and out.count("RUNNING") == 5
    # kill the job: every instance goes, every process with it
    code, out, _ = job(cluster, "kill", KEY)
    assert code == 0
    wait_for(lambda: set(cluster.scheduler.states(KEY)) == {"KILLED"}, 60, "all KILLED",
             seen=lambda: cluster.scheduler.states(KEY))  # fmt: skip
    for task in cluster.scheduler.tasks(KEY):
        executor = wait_for(
            lambda t=task: (e := cluster.agent.executor(t["task_id"]))["terminated"] and e,
            30,
            "executor exit",
        )
        assert executor["tasks"][task["task_id"]] == "TASK_KILLED"
        assert gone(executor["pid"])


def test_a_crash_looping_job_is_throttled_with_growing_delays(cluster: Embedded) -> None:
    key = "local/www-data/devel/crash"
    create(cluster, key, CRASHER)
    wait_for(lambda: len(cluster.scheduler.all_runs(key)) >= 5, 60, "several runs")
    runs = cluster.scheduler.all_runs(key)
    assert all(r["state"] == "FAILED" for r in runs[:-1])
    throttled = [r for r in runs if r["flaps"] > 0]
    delays = [r["not_before"] - r["created"] for r in throttled[:3]]
    assert [round(d) for d in delays] == [1, 2, 4]
    history = cluster.scheduler.get(f"/api/v1/tasks/{runs[1]['task_id']}")["history"]
    assert history[0]["state"] == "THROTTLED" and "flapping" in history[0]["message"]


def test_scheduler_restart_recovers_without_duplicates(cluster: Embedded) -> None:
    create(cluster, KEY, SERVICE)
    wait_for(
        lambda: len([s for s in cluster.scheduler.states(KEY) if s != "PENDING"]) == 5,
        60,
        "5 launched",
    )
    cluster.scheduler.stop(signal.SIGKILL)  # mid-flight: some may still be starting
    cluster.scheduler.start()
    wait_for(lambda: all_running(cluster, KEY, 5), 60, "5 RUNNING after the restart",
             seen=lambda: cluster.scheduler.states(KEY))  # fmt: skip
    task_ids = {t["task_id"] for t in cluster.scheduler.tasks(KEY)}
    state = cluster.agent.get("/api/v1/agent/state")
    live = [e for e in state["executors"] if not e["terminated"]]
    assert len(live) == 5 and {t for e in live for t in e["tasks"]} == task_ids  # nothing twice
    runs = cluster.scheduler.all_runs(KEY)
    assert len(runs) == 5, [(r["state"], r["message"]) for r in runs]  # no run was replaced


def test_bad_input_is_refused_and_nothing_is_stored(cluster: Embedded) -> None:
    bad = cluster.base / "bad.aurora"
    bad.write_text(
        "jobs = [Service(cluster='local', role='r', environment='e', name='x',\n"
        "  task=Task(name='x', processes=[Process(name='p', cmdline='true')]))]\n"
    )
    code, _, err = job(cluster, "create", "local/r/e/x", str(bad))
    assert code == 2 and "resources" in err and err.count("\n") == 1, err
    code, _, err = job(cluster, "status", "local/r/e/nope")
    assert code == 2 and "no job local/r/e/nope" in err
    code, _, err = job(cluster, "status", "not-a-key")
    assert code == 2 and "CLUSTER/ROLE/ENV/NAME" in err
    create(cluster, KEY, SERVICE)
    code, _, err = job(cluster, "create", KEY, str(cluster.base / "job.aurora"))
    assert code == 2 and "already exists" in err
    request = urllib.request.Request(
        cluster.scheduler.url + "/api/v1/jobs",
        data=b"{not json",
        method="POST",
        headers={"Content-Type": "application/json", **cluster.scheduler.auth},
    )
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a malformed request was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400 and "not JSON" in json.loads(e.read())["error"]
    jobs = cluster.scheduler.get("/api/v1/jobs")["jobs"]
    assert [j["key"] for j in jobs] == [KEY]


def test_a_dead_executor_is_replaced_and_its_task_stopped(cluster: Embedded) -> None:
    create(cluster, KEY, SERVICE.replace("instances=5", "instances=1"))
    wait_for(lambda: all_running(cluster, KEY, 1), 60, "1 RUNNING",
             seen=lambda: cluster.scheduler.states(KEY))  # fmt: skip
    (task,) = cluster.scheduler.tasks(KEY)
    executor = cluster.agent.executor(task["task_id"])

    process = process_pid(cluster, task["task_id"])
    os.kill(executor["pid"], signal.SIGKILL)
    failed = cluster.agent.wait_state(task["task_id"], "TASK_FAILED")
    assert failed["reason"] == "REASON_EXECUTOR_TERMINATED"
    wait_for(lambda: gone(process), 60, "the orphaned task's process to be stopped")
    new = wait_for(
        lambda: (t := cluster.scheduler.tasks(KEY)[0])["task_id"] != task["task_id"] and t,
        30,
        "a new run",
    )
    assert new["instance"] == 0
    wait_for(lambda: all_running(cluster, KEY, 1), 60, "RUNNING again",
             seen=lambda: cluster.scheduler.states(KEY))  # fmt: skip


def pages(cluster: Embedded, key: str) -> list[str]:
    """The page each instance of the example service serves."""
    out = []
    for task in cluster.scheduler.tasks(key):
        running = cluster.agent.wait_state(task["task_id"], "TASK_RUNNING")
        assert running["healthy"] is True  # RUNNING only after a passing health check
        with urllib.request.urlopen(f"http://127.0.0.1:{task['ports']['http']}/", timeout=10) as r:
            out.append(r.read().decode().strip())
    return out


def test_the_example_service_runs_healthy_instances_and_updates(cluster: Embedded) -> None:
    key = "local/www-data/devel/hello"
    examples = REPO / "sandbox_examples"
    code, _out, err = job(cluster, "create", key, str(examples / "hello_service.aurora"))
    assert code == 0, err
    wait_for(lambda: all_running(cluster, key, 3), 90, "3 healthy instances",
             seen=lambda: cluster.scheduler.states(key))  # fmt: skip
    assert pages(cluster, key) == [f"<h1>hello from instance {i}</h1>" for i in range(3)]
    # the README's update: version 2, one instance at a time, waiting for the outcome
    code, out, err = job(
        cluster, "update", "start", key, str(examples / "hello_service_v2.aurora"), "--wait"
    )
    assert code == 0, err
    assert "ROLLED_FORWARD (3 instances updated)" in out
    assert pages(cluster, key) == [f"<h1>hello again from instance {i} (v2)</h1>" for i in range(3)]
    code, _, _ = job(cluster, "kill", key)
    assert code == 0
    wait_for(lambda: set(cluster.scheduler.states(key)) == {"KILLED"}, 60, "all KILLED",
             seen=lambda: cluster.scheduler.states(key))  # fmt: skip
