"""Stopping the agent while a client long-polls its updates ends the poll cleanly.

A scheduler keeps a ``GET /api/v1/agent/updates?after=N&wait=S`` pending at all times. The old
agent, stopped (SIGTERM) meanwhile, had the pending request cancelled under Tornado: a 500
with a traceback in its log, and the client got a broken connection or a 500. Now the poll is
answered (200, what there is) and the agent stops with nothing but its usual lines.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from daemons import Daemon, Reply
from support import wait_for


def test_stopping_the_agent_answers_a_pending_long_poll(agent: Daemon, tmp_path: Path) -> None:
    first = agent.request("GET", "/api/v1/agent/updates?after=0")
    assert first.status == 200, first.text
    last = first.json()["last"]
    replies: list[Reply | BaseException] = []

    def poll() -> None:
        try:
            replies.append(agent.request("GET", f"/api/v1/agent/updates?after={last}&wait=25"))
        except BaseException as e:
            replies.append(e)

    poller = threading.Thread(target=poll)
    poller.start()
    # The request is pending once the agent has read it: nothing answers it for 25 s but the stop.
    wait_for(lambda: agent.request("GET", "/health", auth=False).status == 200, 10, "agent")
    time.sleep(0.5)
    assert replies == []
    agent.stop()
    poller.join(20)
    assert len(replies) == 1
    reply = replies[0]
    assert isinstance(reply, Reply), reply
    assert reply.status == 200, reply.text
    assert reply.json()["updates"] == []
    logged = agent.logged()
    assert "Traceback" not in logged and " 500 " not in logged, logged
    assert agent.process.returncode == 0
