"""Helpers for the attacks: raw HTTP requests to real daemons (no client-side help), the
daemons' tokens read from where they make them, and the bodies the attacks send."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cluster import AgentProcess, envelope, running_agent, start_daemon
from support import wait_for

from borealis.contract.layout import CheckpointRoot, executor_sandbox

NO_TOKEN = "there-is-no-token-file-on-this-version"


def root() -> CheckpointRoot:
    return CheckpointRoot(Path(os.environ["BOREALIS_ROOT"]))


def token_in(path: Path) -> str:
    """The daemon's token (a daemon without credentials has no file: any value will do)."""
    return path.read_text().strip() if path.exists() else NO_TOKEN


@dataclass
class Reply:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Daemon:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    token_file: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return token_in(self.token_file) if self.token_file else NO_TOKEN

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        auth: bool | str = True,
        json_type: bool = True,
    ) -> Reply:
        """One raw request; ``auth``: True = the daemon's token, a string = that token."""
        sent: dict[str, str] = {}
        if json_type and body is not None:
            sent["Content-Type"] = "application/json"
        if auth:
            sent["Authorization"] = f"Bearer {self.token if auth is True else auth}"
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host="Host" in sent, skip_accept_encoding=True)
            for name, value in sent.items():
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return Reply(resp.status, resp.read())
        finally:
            conn.close()

    def post_json(self, path: str, value: Any, **kwargs: Any) -> Reply:
        return self.request("POST", path, json.dumps(value).encode(), **kwargs)

    def logged(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)


def start(name: str, args: list[str], log: Path, token_file: Path | None) -> Daemon:
    process, port = start_daemon(name, args, log)
    daemon = Daemon(name, port, process, log, token_file)
    wait_for(lambda: daemon.request("GET", "/health", auth=False).status == 200, 30, name)
    return daemon


def task_info(task_id: str, envelope: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(envelope or {}).encode()
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": "borealis"},
        "data": base64.b64encode(data).decode(),
    }


def sleeper(name: str = "svc") -> dict[str, Any]:
    return {
        "job": {"role": "www-data", "environment": "devel", "name": name},
        "task": {
            "name": name,
            "processes": [{"name": "sleeper", "cmdline": "sleep 1000", "min_duration": 0}],
        },
    }


def executors(agent: Daemon) -> list[dict[str, Any]]:
    reply = agent.request("GET", "/api/v1/agent/state")
    assert reply.status == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["executors"]
    return found


def job(name: str, cmdline: str) -> dict[str, Any]:
    """A scheduler job (the JSON ``borealis job create`` sends) running ``cmdline``."""
    return {
        "key": {"cluster": "local", "role": "www-data", "environment": "devel", "name": name},
        "instances": 1,
        "service": False,
        "task": {
            "name": name,
            "processes": [{"name": "p", "cmdline": cmdline}],
            "resources": {"cpu": 0.1, "ram": 33554432, "disk": 33554432},
        },
    }


# The operator's identity settings (executor/mesos/identity.py), spelled out so that the tests
# using them also run, and fail, against code that predates them.
NO_SETUID_ENV, ALLOW_ROOT_ENV = "BOREALIS_NO_SETUID", "BOREALIS_ALLOW_ROOT_TASKS"
DEFAULTS = {NO_SETUID_ENV: "0", ALLOW_ROOT_ENV: "0"}  # what an operator gets by default


@pytest.fixture(name="agent")
def operator_agent(base: Path) -> Iterator[AgentProcess]:
    """``agent`` for the modules that import this: an embedded agent with the operator's
    default identity settings (tasks switch to their role's user), in a reachable ``base``."""
    with running_agent(base, env=DEFAULTS) as running:
        yield running


def sandbox_of(agent: AgentProcess, task_id: str) -> Path:
    return executor_sandbox(Path(agent.executor(task_id)["run_dir"]))


def shell_task(script: str, process: str = "sleep 600", **check: Any) -> dict[str, Any]:
    """A task (as ``nobody``) that writes its check's script, then runs ``process``."""
    env = envelope(
        {"name": "svc", "cmdline": f"cat > check.sh <<'EOF'\n{script}\nEOF\n{process}"},
        health_check={
            "health_checker": {"shell": {"shell_command": "bash ./check.sh"}},
            "initial_interval_secs": 1,
            "interval_secs": 0.5,
            "max_consecutive_failures": 20,
            **check,
        },
    )
    env["job"]["role"] = "nobody"
    return env
