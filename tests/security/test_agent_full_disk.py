"""The embedded agent on a full disk: an executor's UPDATE that cannot be stored is refused
with a 503 and one line (not acknowledged, so the executor keeps it and sends it again), the
agent stays up, and the same update is stored once there is room. On the old code the agent
answered 500 with a traceback and could leave a torn line in its update log."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster import envelope, raw_post, running_agent, update_call
from support import fill_up

from borealis.contract.layout import AgentWorkDir


@pytest.fixture
def small_fs(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("8m")


def test_an_update_that_cannot_be_stored_is_refused_then_stored(small_fs: Path) -> None:
    with running_agent(small_fs) as agent:
        agent.launch("t1", envelope({"name": "sleeper", "cmdline": "sleep 1000"}))
        agent.wait_state("t1", "TASK_RUNNING")
        ex = agent.executor("t1")
        fid, eid = ex["framework_id"], ex["executor_id"]
        secret = agent.executor_secret(fid, eid)
        filler = small_fs / "filler"
        fill_up(filler)
        call = update_call(fid, eid, "t1", message="x" * 2000)
        code, text = raw_post(agent, call, "application/json", secret)
        assert code == 503, (code, text)
        assert "cannot store the update" in text and text.count("\n") == 0
        log = agent.log.read_text(errors="replace")
        assert "Traceback" not in log
        updates = AgentWorkDir(agent.work_dir).updates_log.read_bytes()
        assert updates.endswith(b"\n")  # no torn line
        filler.unlink()
        code, text = raw_post(agent, call, "application/json", secret)
        assert code == 202, (code, text)
        lines = AgentWorkDir(agent.work_dir).updates_log.read_text().splitlines()
        assert json.loads(lines[-1])["message"] == "x" * 2000


def subscribe(agent: Any, fid: str, eid: str, secret: str) -> tuple[int, bytes]:
    """SUBSCRIBE as the executor would; the status and what the stream held within 5 s."""
    call = {"type": "SUBSCRIBE", "framework_id": {"value": fid},
            "executor_id": {"value": eid}, "subscribe": {}}  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=5)
    try:
        conn.request("POST", "/api/v1/executor", body=json.dumps(call).encode(),
                     headers={"Content-Type": "application/json",
                              "Authorization": f"Bearer {secret}"})  # fmt: skip
        resp = conn.getresponse()
        seen = b""
        try:
            while b"LAUNCH" not in seen:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                seen += chunk
        except TimeoutError:
            pass
        return resp.status, seen
    finally:
        conn.close()


def test_a_subscribe_that_cannot_be_stored_consumes_nothing(small_fs: Path) -> None:
    # An executor that never subscribes by itself (the test speaks for it), so its task's
    # LAUNCH waits in the agent. On a full disk its first SUBSCRIBE is a 503 and the LAUNCH
    # stays owed; once there is room the next SUBSCRIBE gets it. Before, the LAUNCH was taken
    # off the list, the save failed with a traceback, and the task stayed STAGING for good.
    with running_agent(small_fs) as agent:
        agent.launch("t1", envelope({"name": "p", "cmdline": "true"}), executor_command="sleep 60")
        ex = agent.executor("t1")
        fid, eid = ex["framework_id"], ex["executor_id"]
        secret = agent.executor_secret(fid, eid)
        filler = small_fs / "filler"
        fill_up(filler)
        status, seen = subscribe(agent, fid, eid, secret)
        assert status == 503 and b"cannot store" in seen, (status, seen[:200])
        assert "Traceback" not in agent.log.read_text(errors="replace")
        filler.unlink()
        status, seen = subscribe(agent, fid, eid, secret)
        assert status == 200 and b'"LAUNCH"' in seen, (status, seen[:300])
