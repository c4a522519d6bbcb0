"""Real clusters for tests: ``borealis agent`` (and the scheduler) started on free loopback
ports with temporary directories, and helpers to talk to them."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import REPO, kill_leftovers, wait_for

from borealis.contract.layout import AgentWorkDir, CheckpointRoot
from borealis.contract.mesos import MesosState
from borealis.executor.mesos import protocol


def default_root() -> CheckpointRoot:
    """The test's state root ($BOREALIS_ROOT, set per test by conftest.py)."""
    return CheckpointRoot(Path(os.environ["BOREALIS_ROOT"]))


def bearer(token_file: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_file.read_text().strip()}"}


def start_daemon(
    command: str, args: list[str], log: Path, port: int = 0, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``borealis COMMAND --port PORT ARGS`` (0: any free port) with its output in
    ``log``; return it once it printed ``borealis COMMAND: http://127.0.0.1:N/``, and N."""
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "borealis.cli.main", command, "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    pattern = re.compile(rf"borealis {command}: http://127\.0\.0\.1:(\d+)/")

    def bound() -> int | None:
        if process.poll() is not None:
            raise AssertionError(f"borealis {command} exited: {log.read_text()}")
        found = pattern.findall(log.read_bytes()[offset:].decode(errors="replace"))
        return int(found[-1]) if found else None

    return process, wait_for(bound, 30, f"borealis {command}")


@contextlib.contextmanager
def running_agent(base: Path, env: dict[str, str] | None = None) -> Iterator[AgentProcess]:
    """An agent with its work directory under ``base``; afterwards nothing it started is left."""
    process = AgentProcess(base / "work", base / "agent.log", env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        time.sleep(0.2)
        kill_executors(base)
        kill_leftovers(base)


@dataclass
class AgentProcess:
    work_dir: Path
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    after: int = 0
    env: dict[str, str] | None = None
    token_file: Path | None = None  # default: the test root's secrets/agent.token

    def __post_init__(self) -> None:
        if self.token_file is None:
            self.token_file = default_root().agent_token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        assert self.token_file is not None
        return bearer(self.token_file)

    def executor_secret(self, framework_id: str, executor_id: str) -> str:
        """The secret the agent handed this executor (from its 0600 metadata; we are root)."""
        meta = AgentWorkDir(self.work_dir).executor_meta(framework_id, executor_id)
        return str(json.loads(meta.read_text())["secret"])

    def start(self, *extra: str) -> None:
        self.process, self.port = start_daemon(
            "agent",
            [
                "--work-dir",
                str(self.work_dir),
                "--token-file",
                str(self.token_file),
                "--reregistration-timeout",
                "5s",
                *extra,
            ],
            self.log,
            self.port,
            self.env,
        )
        wait_for(lambda: self._healthy(self.port), 30, "the agent to answer")

    def _healthy(self, port: int | None) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **self.auth},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers=self.auth)
        with urllib.request.urlopen(request, timeout=40) as r:
            return json.loads(r.read())

    def launch(
        self, task_id: str, envelope: dict[str, Any] | bytes, **extra: Any
    ) -> dict[str, Any]:
        data = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        task_info = {
            "name": task_id,
            "task_id": {"value": task_id},
            "agent_id": {"value": "borealis"},
            "data": base64.b64encode(data).decode(),
            **extra.pop("task_info_extra", {}),
        }
        code, reply = self.post("/api/v1/agent/launch", {"task_info": task_info, **extra})
        assert code == 200, reply
        return reply  # type: ignore[no-any-return]

    def updates(self, task_id: str) -> list[dict[str, Any]]:
        return [u for u in self.get("/api/v1/agent/updates")["updates"] if u["task_id"] == task_id]

    def states(self, task_id: str) -> list[str]:
        return [u["state"] for u in self.updates(task_id)]

    def wait_state(self, task_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((u for u in self.updates(task_id) if u["state"] == state), None)

        return wait_for(found, timeout, f"{task_id} to reach {state} (has {self.states(task_id)})")

    def executor(self, task_id: str) -> dict[str, Any]:
        state = self.get("/api/v1/agent/state")
        return next(e for e in state["executors"] if task_id in e["tasks"])

    def wait_executor_gone(self, task_id: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(
            lambda: (e := self.executor(task_id))["terminated"] and e,
            timeout,
            "the executor to exit",
        )


def envelope(*processes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    procs = [{"min_duration": 0, **p} for p in processes]
    return {
        "job": {"role": "www-data", "environment": "devel", "name": fields.pop("name", "svc")},
        "task": {"name": "svc", "processes": procs, **fields.pop("task_fields", {})},
        **fields,
    }


def kill_executors(under: Path) -> None:
    """SIGKILL executors whose run directory is under ``under`` (they outlive the agent)."""
    needle = b"MESOS_DIRECTORY=" + str(under).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fp:
                if needle in fp.read():
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@dataclass
class SchedulerProcess:
    """``borealis scheduler`` over an agent, with a clusters.json naming it ``local``."""

    db: Path
    log: Path
    agent_url: str
    port: int = 0
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    agent_token_file: Path | None = None  # default: the test root's secrets/agent.token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_file(self) -> Path:
        return self.db.parent / "scheduler.token"

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token_file)

    def start(self) -> None:
        agent_token = self.agent_token_file or default_root().agent_token
        self.process, self.port = start_daemon(
            "scheduler",
            [
                "--agent",
                self.agent_url,
                "--db",
                str(self.db),
                "--token-file",
                str(self.token_file),
                "--agent-token-file",
                str(agent_token),
                *self.extra,
            ],
            self.log,
            self.port,
        )
        self.clusters = self.db.parent / "clusters.json"
        self.clusters.write_text(
            json.dumps(
                [
                    {
                        "name": "local",
                        "scheduler_uri": self.url,
                        "auth_token_file": str(self.token_file),
                    }
                ]
            )
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers=self.auth)
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())

    def tasks(self, key: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v1/jobs/{key}")["tasks"]  # type: ignore[no-any-return]

    def all_runs(self, key: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v1/jobs/{key}?history=1")["tasks"]  # type: ignore[no-any-return]

    def states(self, key: str) -> list[str]:
        return [t["state"] for t in self.tasks(key)]


@dataclass
class Embedded:
    """The embedded default: an agent and a scheduler over it."""

    agent: AgentProcess
    scheduler: SchedulerProcess
    base: Path


@contextlib.contextmanager
def embedded(base: Path, *scheduler_flags: str) -> Iterator[Embedded]:
    """A real agent and a real scheduler over it (with these flags), both under ``base``;
    afterwards nothing either started is left."""
    with running_agent(base) as agent:
        scheduler = SchedulerProcess(
            base / "scheduler.db", base / "scheduler.log", agent.url, extra=scheduler_flags
        )
        scheduler.start()
        try:
            yield Embedded(agent, scheduler, base)
        finally:
            scheduler.stop()


def raw_post(
    agent: AgentProcess, body: bytes, content_type: str | None, token: str | None = None
) -> tuple[int, str]:
    """POST to the executor API, as the executor holding ``token`` (its secret) would."""
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
    headers = {} if content_type is None else {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", "/api/v1/executor", body=body, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, text


def update_call(fid: str, eid: str, task_id: str, **status_fields: object) -> bytes:
    status = protocol.status(task_id, MesosState.TASK_RUNNING, executor_id=eid)
    status.update(status_fields)
    return protocol.encode(protocol.update(fid, eid, status))
