"""Fixtures for the executor's tests: a real ``borealis agent`` on a free loopback port with a
temporary work directory, and helpers to launch tasks through it and read their updates."""

from __future__ import annotations

import base64
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

import pytest
from support import REPO, kill_leftovers, wait_for


@dataclass
class AgentProcess:
    work_dir: Path
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    after: int = 0
    env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        out = open(self.log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "executor.cli.main",
                "agent",
                "--work-dir",
                str(self.work_dir),
                "--port",
                str(self.port),
                "--reregistration-timeout",
                "5s",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
            env={**os.environ, **(self.env or {})},
        )
        out.close()

        def bound() -> int | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the agent exited: {self.log.read_text()}")
            found = re.findall(r"borealis agent: http://127\.0\.0\.1:(\d+)/", self.log.read_text())
            return (
                int(found[-1])
                if found and (self.port == 0 or int(found[-1]) == self.port)
                else None
            )

        wait_for(lambda: bound() is not None and self._healthy(bound()), 30, "the agent")
        self.port = bound() or self.port

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
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=40) as r:
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


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path / "work", tmp_path / "agent.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
        time.sleep(0.2)
        kill_executors(tmp_path)
        kill_leftovers(tmp_path)


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
