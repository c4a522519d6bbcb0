"""Health checks cannot be used to escape or to read (docs/security.md, "Containment"):
a shell check is born in the task's cgroups, so the task's kill reaches whatever it leaves
behind; its output cannot grow the executor; an HTTP check follows no redirect.

Everything runs for real: ``borealis agent`` on loopback, its executors, runners and the
task's processes, as root, with the operator defaults (tasks run as their role's user).
The tasks write their checks' scripts themselves, as an attacker would.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cluster import AgentProcess, envelope
from daemons import (  # operator_agent is the "agent" fixture here
    operator_agent,  # noqa: F401
    sandbox_of,
    shell_task,
)
from support import gone, wait_for

from borealis.contract.layout import CheckpointRoot

ESCAPEE = "sleep 3132"
EXECUTOR_PEAK_MAX = 200 * 1024 * 1024  # bytes: far below the 400 MB a check prints

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def containment_of(agent: AgentProcess, task_id: str) -> dict[str, Any]:
    root = CheckpointRoot(Path(agent.executor(task_id)["run_dir"]))
    record: dict[str, Any] = json.loads(root.task(task_id).containment.read_text())
    return record


def kill_task(agent: AgentProcess, task_id: str) -> None:
    code, reply = agent.post("/api/v1/agent/kill", {"task_id": task_id})
    assert code == 200, reply
    agent.wait_state(task_id, "TASK_KILLED")


def is_escapee(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"3132"]
    except OSError:
        return False


# --- shell checks: in the task's cgroups ----------------------------------------------


def test_what_a_shell_check_detaches_dies_with_the_task(agent: AgentProcess) -> None:
    # The check starts an escapee in a session of its own, without the task marker.
    script = (
        f"env -u BOREALIS_TASK_ID setsid {ESCAPEE} </dev/null >/dev/null 2>&1 &\n"
        "echo $! >> escapees\nexit 0"
    )
    agent.launch("hc-escape", shell_task(script))
    assert agent.wait_state("hc-escape", "TASK_RUNNING").get("healthy") is True
    escapees = sandbox_of(agent, "hc-escape") / "escapees"
    pids = [int(p) for p in escapees.read_text().split()]
    assert pids and any(is_escapee(p) for p in pids)  # the check did start one
    kill_task(agent, "hc-escape")
    pids = [int(p) for p in escapees.read_text().split()]
    try:
        left = [p for p in pids if is_escapee(p) and not gone(p)]
        assert not left, f"the check's escapees outlived TASK_KILLED: {left}"
    finally:
        for pid in pids:
            if is_escapee(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_shell_check_runs_in_the_tasks_cgroups(agent: AgentProcess) -> None:
    agent.launch(
        "hc-group",
        shell_task(
            "cat /proc/self/cgroup > check_cgroup", "cat /proc/self/cgroup > task_cgroup; sleep 600"
        ),
    )
    assert agent.wait_state("hc-group", "TASK_RUNNING").get("healthy") is True
    record = containment_of(agent, "hc-group")
    assert record["mode"] == "cgroup", record  # the host has cgroups: the task got groups
    sandbox = sandbox_of(agent, "hc-group")
    task, check = (sandbox / "task_cgroup").read_text(), (sandbox / "check_cgroup").read_text()
    assert task != Path("/proc/self/cgroup").read_text()  # the task is in groups of its own
    assert check == task
    kill_task(agent, "hc-group")


def executor_peak(agent: AgentProcess, task_id: str) -> int:
    pid = agent.executor(task_id)["pid"]
    assert b"executor" in Path(f"/proc/{pid}/cmdline").read_bytes()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def test_a_shell_check_printing_400_mb_does_not_grow_the_executor(agent: AgentProcess) -> None:
    script = "head -c 400M /dev/zero\necho done >> checks\nexit 0"
    agent.launch("hc-loud", shell_task(script, timeout_secs=120, min_consecutive_successes=1))
    assert agent.wait_state("hc-loud", "TASK_RUNNING", timeout=150).get("healthy") is True
    assert (sandbox_of(agent, "hc-loud") / "checks").read_text().count("done") >= 1
    peak = executor_peak(agent, "hc-loud")
    assert peak < EXECUTOR_PEAK_MAX, f"the executor peaked at {peak >> 20} MiB"
    kill_task(agent, "hc-loud")


# --- HTTP checks: no redirect, no echo ------------------------------------------------


SECRET = "the-private-content-of-another-task"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the secret, and records it: stands for the observer's
    download URL of another task's file."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        body = SECRET.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def redirector(target: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Redirect(http.server.BaseHTTPRequestHandler):
        """The task's /health: a redirect to ``target``."""

        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Redirect


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> int:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_http_check_does_not_follow_a_redirect(agent: AgentProcess, serve: Any) -> None:
    Recorder.hits = []
    target = serve(Recorder)
    health = serve(redirector(f"http://127.0.0.1:{target}/download/other-task/secret"))
    with socket.socket() as s:  # the task's port is the redirecting server's
        assert s.connect_ex(("127.0.0.1", health)) == 0
    env = envelope(
        {"name": "svc", "cmdline": "sleep 600"},
        ports={"health": health},
        health_check={
            "initial_interval_secs": 0.5,
            "interval_secs": 0.3,
            "max_consecutive_failures": 1,
        },
        lifecycle={"http": None},
    )
    env["job"]["role"] = "nobody"
    agent.launch("hc-redirect", env)
    failed = agent.wait_state("hc-redirect", "TASK_FAILED")
    assert "TASK_RUNNING" not in agent.states("hc-redirect")
    assert Recorder.hits == [], Recorder.hits
    assert "redirect" in failed["message"], failed["message"]
    assert SECRET not in failed["message"]
    wait_for(lambda: agent.executor("hc-redirect")["terminated"], 30, "the executor to exit")
