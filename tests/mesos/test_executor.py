"""``borealis executor`` launched by ``borealis agent``, end to end: real executors, runners,
processes and HTTP health checks; the agent enforces the v1 executor API."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

from cluster import AgentProcess, envelope
from support import REPO, gone, pid_alive, wait_for

from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import load
from borealis.contract.states import TaskState

SERVICE = REPO / "tests" / "tools" / "lifecycle_service.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service(log: str = "hits.log", *flags: str) -> dict[str, object]:
    return {
        "name": "web",
        "cmdline": f"exec {sys.executable} {SERVICE} {{{{thermos.ports[health]}}}} {log} "
        + " ".join(flags),
    }


def test_a_task_that_exits_0_is_finished(agent: AgentProcess) -> None:
    agent.launch(
        "t1", envelope({"name": "hello", "cmdline": "echo hello {{mesos.instance}}"}, instance=7)
    )
    done = agent.wait_state("t1", "TASK_FINISHED")
    assert agent.states("t1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert "every process succeeded" in done["message"]
    assert all(u["source"] == "SOURCE_EXECUTOR" for u in agent.updates("t1"))
    run_dir = Path(agent.executor("t1")["run_dir"])
    assert (run_dir / "sandbox" / ".logs" / "hello" / "0" / "stdout").read_text() == "hello 7\n"
    assert agent.wait_executor_gone("t1")["tasks"] == {"t1": "TASK_FINISHED"}  # exited after ACK
    assert "exited with status 0" in agent.log.read_text()


def test_a_failing_process_fails_the_task_with_its_exit_code(agent: AgentProcess) -> None:
    agent.launch("t2", envelope({"name": "boom", "cmdline": "exit 3"}))
    failed = agent.wait_state("t2", "TASK_FAILED")
    assert failed["message"].startswith("process 'boom' failed (exit code 3")
    assert failed["reason"] == "REASON_COMMAND_EXECUTOR_FAILED"


def test_healthy_service_runs_after_its_checks_and_is_killed(agent: AgentProcess) -> None:
    port = free_port()
    env = envelope(
        service(),
        ports={"health": port},
        health_check={
            "initial_interval_secs": 1,
            "interval_secs": 0.5,
            "min_consecutive_successes": 2,
        },
        lifecycle={"http": None},
    )
    agent.launch("svc", env, capabilities=["TASK_KILLING_STATE"])
    running = agent.wait_state("svc", "TASK_RUNNING")
    assert running["healthy"] is True and running["message"] == "healthy"
    run_dir = Path(agent.executor("svc")["run_dir"])
    hits = (run_dir / "sandbox" / "hits.log").read_text()
    assert hits.count("GET /health") >= 2  # RUNNING only after two healthy checks
    code, _ = agent.post("/api/v1/agent/kill", {"task_id": "svc"})
    assert code == 200
    killed = agent.wait_state("svc", "TASK_KILLED")
    assert agent.states("svc") == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]
    assert killed["message"]
    assert "SIGTERM" in (run_dir / "sandbox" / "hits.log").read_text()
    agent.wait_executor_gone("svc")


def test_failing_health_check_fails_the_task_with_the_reason(agent: AgentProcess) -> None:
    port = free_port()
    env = envelope(
        service("hits.log", "--health", "sick"),
        ports={"health": port},
        health_check={
            "initial_interval_secs": 0.5,
            "interval_secs": 0.3,
            "max_consecutive_failures": 1,
        },
        lifecycle={"http": None},
    )
    agent.launch("sick", env)
    failed = agent.wait_state("sick", "TASK_FAILED")
    assert "TASK_RUNNING" not in agent.states("sick")
    assert "health" in failed["message"] and "'sick'" in failed["message"], failed["message"]
    assert failed["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    state = load(CheckpointRoot(Path(agent.executor("sick")["run_dir"])).task("sick").runner_stream)
    assert state.task_state is not None and state.task_state.terminal  # the service was stopped


def test_graceful_shutdown_calls_quit_then_abort_then_terminates(agent: AgentProcess) -> None:
    port = free_port()
    env = envelope(
        service(),
        ports={"health": port},
        lifecycle={"http": {"graceful_shutdown_wait_secs": 1, "shutdown_wait_secs": 1}},
    )
    agent.launch("grace", env)
    agent.wait_state("grace", "TASK_RUNNING")
    run_dir = Path(agent.executor("grace")["run_dir"])
    hits = run_dir / "sandbox" / "hits.log"
    wait_for(lambda: hits.exists() and "start" in hits.read_text(), 10, "the service")
    agent.post("/api/v1/agent/kill", {"task_id": "grace"})
    agent.wait_state("grace", "TASK_KILLED")
    lines = [
        line.split(" ", 1)[1]
        for line in (run_dir / "sandbox" / "hits.log").read_text().splitlines()
    ]
    tail = [line for line in lines if line != "GET /health"][-3:]
    assert tail == ["POST /quitquitquit", "POST /abortabortabort", "SIGTERM"], lines
    times = [
        float(line.split()[0])
        for line in (run_dir / "sandbox" / "hits.log").read_text().splitlines()[-3:]
    ]
    assert times[1] - times[0] >= 0.9 and times[2] - times[1] >= 0.9  # each wait was honoured


def test_a_service_that_quits_on_quitquitquit_ends_there(agent: AgentProcess) -> None:
    port = free_port()
    env = envelope(service("hits.log", "--quit-exits"), ports={"health": port})
    agent.launch("quits", env)
    agent.wait_state("quits", "TASK_RUNNING")
    agent.post("/api/v1/agent/kill", {"task_id": "quits"})
    final = wait_for(
        lambda: next(
            (
                u
                for u in agent.updates("quits")
                if u["state"] in ("TASK_KILLED", "TASK_FINISHED", "TASK_FAILED")
            ),
            None,
        ),
        30,
        "a terminal update",
    )
    run_dir = Path(agent.executor("quits")["run_dir"])
    hits = (run_dir / "sandbox" / "hits.log").read_text()
    assert "POST /quitquitquit" in hits and "POST /abortabortabort" not in hits
    assert final["state"] == "TASK_KILLED"


def test_shutdown_kills_the_task_and_the_executor_exits(agent: AgentProcess) -> None:
    agent.launch(
        "sd", envelope({"name": "sleeper", "cmdline": "sleep 1000"}), shutdown_grace_period_secs=8
    )
    agent.wait_state("sd", "TASK_RUNNING")
    executor = agent.executor("sd")
    code, _ = agent.post("/api/v1/agent/shutdown", {"executor_id": executor["executor_id"]})
    assert code == 200
    killed = agent.wait_state("sd", "TASK_KILLED")
    assert "shut down" in killed["message"]
    gone_record = agent.wait_executor_gone("sd")
    assert gone_record["tasks"] == {"sd": "TASK_KILLED"}
    state = load(CheckpointRoot(Path(executor["run_dir"])).task("sd").runner_stream)
    pid = state.last_run("sleeper").pid  # type: ignore[union-attr]
    assert pid is not None and wait_for(lambda: gone(pid.pid), 10, "the sleep to be gone")


def test_malformed_task_data_fails_with_a_clear_message(agent: AgentProcess) -> None:
    job = {"role": "r", "environment": "e", "name": "n"}
    one = [{"name": "a", "cmdline": "true"}]
    port_ref = [{"name": "a", "cmdline": "echo {{thermos.ports[http]}}"}]

    def js(value: object) -> bytes:
        return json.dumps(value).encode()

    cases = {
        "m1": (b"not json at all", "not JSON"),
        "m2": (js({"job": job}), "task: required field is missing"),
        "m3": (js({"job": job, "task": {"processes": one}, "bogus": 1}), "bogus: unknown field"),
        "m4": (js({"job": {**job, "role": "r/x"}, "task": {"processes": one}}), "job.role"),
        "m5": (js({"job": job, "task": {"processes": port_ref}}), "port 'http' is not assigned"),
        "m6": (js({"job": job, "task": {"processes": []}}), "at least one process"),
    }
    for task_id, (data, _) in cases.items():
        agent.launch(task_id, data)
    for task_id, (_, words) in cases.items():
        failed = agent.wait_state(task_id, "TASK_FAILED")
        assert words in failed["message"], (task_id, failed["message"])
        assert failed["reason"] == "REASON_TASK_INVALID"
        assert "Traceback" not in failed["message"]
        agent.wait_executor_gone(task_id)
    code, _ = agent.post(
        "/api/v1/agent/launch", {"task_info": {"task_id": {"value": "raw"}, "data": "%%%"}}
    )
    assert code == 200
    assert "not base64" in agent.wait_state("raw", "TASK_FAILED")["message"]


def test_agent_restart_with_checkpointing_keeps_the_task_and_reports_it_once(
    agent: AgentProcess,
) -> None:
    agent.launch(
        "keep",
        envelope(
            {"name": "sleeper", "cmdline": "sleep 1000"}, {"name": "short", "cmdline": "sleep 2"}
        ),
    )
    agent.wait_state("keep", "TASK_RUNNING")
    executor = agent.executor("keep")
    stream = CheckpointRoot(Path(executor["run_dir"])).task("keep").runner_stream
    agent.stop()  # SIGTERM: the agent goes away; the executor keeps retrying
    # meanwhile "short" ends; nothing else changes the task's state
    wait_for(lambda: load(stream).last_run("short").state.terminal, 20, "short to end")  # type: ignore[union-attr]
    assert pid_alive(executor["pid"])
    agent.start()
    wait_for(lambda: agent.executor("keep")["subscribed"], 15, "the executor to re-subscribe")
    assert agent.executor("keep")["pid"] == executor["pid"]
    state = load(CheckpointRoot(Path(executor["run_dir"])).task("keep").runner_stream)
    assert state.last_run("sleeper").state.value == "RUNNING"  # type: ignore[union-attr]
    agent.post("/api/v1/agent/kill", {"task_id": "keep"})
    agent.wait_state("keep", "TASK_KILLED")
    assert agent.states("keep").count("TASK_RUNNING") == 1


def test_an_update_sent_while_the_agent_is_down_is_resent_on_resubscribe(
    agent: AgentProcess,
) -> None:
    agent.launch("late", envelope({"name": "short", "cmdline": "sleep 2"}))
    agent.wait_state("late", "TASK_RUNNING")
    executor = agent.executor("late")
    stream = CheckpointRoot(Path(executor["run_dir"])).task("late").runner_stream
    agent.stop()
    down = time.time()

    def sent_finished() -> bool:  # the executor tried, and the agent was not there
        log = Path(executor["run_dir"]) / "stderr"
        return "TASK_FINISHED" in log.read_text() and "UPDATE not delivered" in log.read_text()

    wait_for(lambda: load(stream).task_state is TaskState.SUCCESS, 20, "the task to end")
    wait_for(sent_finished, 20, "the executor to try sending TASK_FINISHED")
    up = time.time()
    agent.start()
    finished = agent.wait_state("late", "TASK_FINISHED", timeout=20)
    assert agent.states("late") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    # made while the agent was down, delivered after it came back: resent on re-subscription
    assert down < finished["timestamp"] < up
    agent.wait_executor_gone("late")


def test_without_checkpointing_a_lost_agent_stops_the_task(agent: AgentProcess) -> None:
    agent.launch("nock", envelope({"name": "sleeper", "cmdline": "sleep 1000"}), checkpoint=False)
    agent.wait_state("nock", "TASK_RUNNING")
    executor = agent.executor("nock")
    agent.stop()
    wait_for(lambda: gone(executor["pid"]), 30, "the executor to exit")
    state = load(CheckpointRoot(Path(executor["run_dir"])).task("nock").runner_stream)
    assert state.task_state is not None and state.task_state.value == "KILLED"
    pid = state.last_run("sleeper").pid  # type: ignore[union-attr]
    assert pid is not None and gone(pid.pid)


def test_kill_policy_grace_period_bounds_the_graceful_steps(agent: AgentProcess) -> None:
    """With a 1 s grace the 5 s lifecycle waits do not fit: straight to the runner's SIGTERM."""
    port = free_port()
    env = envelope(
        service(),
        ports={"health": port},
        lifecycle={"http": {"graceful_shutdown_wait_secs": 5, "shutdown_wait_secs": 5}},
    )
    agent.launch("hurry", env)
    agent.wait_state("hurry", "TASK_RUNNING")
    run_dir = Path(agent.executor("hurry")["run_dir"])
    hits = run_dir / "sandbox" / "hits.log"
    wait_for(lambda: hits.exists() and "start" in hits.read_text(), 10, "the service")
    code, _ = agent.post("/api/v1/agent/kill", {"task_id": "hurry", "grace_period_secs": 1})
    assert code == 200
    agent.wait_state("hurry", "TASK_KILLED")
    lines = hits.read_text()
    assert "POST /quitquitquit" not in lines and "POST /abortabortabort" not in lines
    assert "SIGTERM" in lines


def test_a_task_the_runner_cannot_start_fails_with_the_runner_s_words(agent: AgentProcess) -> None:
    env = envelope({"name": "p", "cmdline": "true"}, task_fields={"user": "no-such-user-here"})
    agent.launch("nouser", env)
    failed = agent.wait_state("nouser", "TASK_FAILED")
    assert "the runner could not start the task" in failed["message"]
    assert "no-such-user-here" in failed["message"], failed["message"]
    agent.wait_executor_gone("nouser")
