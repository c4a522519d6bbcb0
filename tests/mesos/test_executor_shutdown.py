"""A real ``borealis executor`` against an agent double that never acknowledges an update.

Mesos gives an executor its shutdown grace period after SHUTDOWN and destroys it after that:
the executor must stop its task and exit within the period whether its updates were
acknowledged or not. (``borealis agent`` acknowledges every update at once, which is why this
double exists: it speaks the agent side of the v1 executor API, per the reference, and leaves
every update unacknowledged.)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from cluster import envelope
from support import REPO, gone, wait_for

from borealis.contract import recordio
from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import load

GRACE = 3.0


class ForgetfulAgent:
    """Subscribes one executor, launches one task, records its updates, never ACKs them."""

    def __init__(self, task_info: dict[str, Any]) -> None:
        self.task_info = task_info
        self.updates: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.events: asyncio.Queue[dict[str, Any] | None] | None = None
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10), "the agent double did not start"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        agent = self

        class Executor(tornado.web.RequestHandler):
            async def post(self) -> None:
                call = json.loads(self.request.body)
                if call["type"] == "UPDATE":
                    agent.updates.append(call["update"]["status"])
                    self.set_status(202)  # accepted, and never acknowledged
                    return
                if call["type"] != "SUBSCRIBE":
                    self.set_status(202)
                    return
                agent.events = asyncio.Queue()
                self.set_header("Content-Type", "application/json")
                for event in (
                    {"type": "SUBSCRIBED", "subscribed": {"framework_info": {"capabilities": []}}},
                    {"type": "LAUNCH", "launch": {"task": agent.task_info}},
                ):
                    self.write(recordio.encode(json.dumps(event).encode()))
                await self.flush()
                while (event := await agent.events.get()) is not None:
                    self.write(recordio.encode(json.dumps(event).encode()))
                    await self.flush()

        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application([(r"/api/v1/executor", Executor)])
        )
        server.add_sockets(sockets)
        ready.set()
        self.loop.run_forever()
        server.stop()

    def send(self, event: dict[str, Any]) -> None:
        def put() -> None:
            assert self.events is not None
            self.events.put_nowait(event)

        self.loop.call_soon_threadsafe(put)

    def states(self) -> list[str]:
        return [u["state"] for u in list(self.updates)]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "run"
    path.mkdir()
    yield path


def test_after_shutdown_the_executor_exits_within_the_grace_period_unacknowledged(
    run_dir: Path,
) -> None:
    data = json.dumps(envelope({"name": "sleeper", "cmdline": "sleep 1000"})).encode()
    task_info = {"task_id": {"value": "sd"}, "data": base64.b64encode(data).decode()}
    agent = ForgetfulAgent(task_info)
    env = {
        **os.environ,
        "MESOS_AGENT_ENDPOINT": f"127.0.0.1:{agent.port}",
        "MESOS_FRAMEWORK_ID": "fw",
        "MESOS_EXECUTOR_ID": "ex",
        "MESOS_DIRECTORY": str(run_dir),
        "MESOS_CHECKPOINT": "1",
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": f"{GRACE:g}secs",
    }
    with open(run_dir / "stderr", "wb") as log:
        executor = subprocess.Popen(
            [sys.executable, "-m", "borealis.cli.main", "executor"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "TASK_RUNNING" in agent.states(), 30, "TASK_RUNNING")
        agent.send({"type": "SHUTDOWN"})
        # The agent would destroy it after GRACE seconds; a few more for a loaded machine.
        try:
            code = executor.wait(GRACE + 5)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the executor outstayed its {GRACE:g}s shutdown grace period "
                f"(updates so far: {agent.states()})"
            ) from None
        assert code == 0, (run_dir / "stderr").read_text()
        assert agent.states() == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]
        assert "shut down" in agent.updates[-1]["message"]
        state = load(CheckpointRoot(run_dir).task("sd").runner_stream)
        pid = state.last_run("sleeper").pid  # type: ignore[union-attr]
        assert pid is not None and wait_for(lambda: gone(pid.pid), 15, "the sleep to be gone")
    finally:
        if executor.poll() is None:
            executor.kill()
            executor.wait()
        agent.close()
