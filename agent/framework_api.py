"""The framework-facing JSON API of ``borealis agent`` (docs/mesos.md).

Every request passes ``contract/requestcheck.py`` first (Host, Origin, and JSON for POSTs);
every route but ``/health`` and the executor API needs the agent's bearer token. Refusals are
one JSON line: ``{"error", "status", "refusal"}``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web

from borealis.contract import agentapi, requestcheck
from borealis.contract.agentapi import Refusal

from .executor_api import ExecutorAPI
from .executors import Agent, Refused
from .guard import Guarded
from .launchspec import DEFAULT_FRAMEWORK, check_id, number

MAX_WAIT = 30.0


class JSONHandler(Guarded):
    agent: Agent

    def initialize(self, agent: Agent) -> None:
        self.agent = agent

    def body(self) -> dict[str, Any]:
        try:
            value = requestcheck.json_value(self.request.body or b"{}")
        except requestcheck.BadBody as e:
            raise Refused(Refusal.BAD_REQUEST, str(e)) from None
        if not isinstance(value, dict):
            raise Refused(Refusal.BAD_REQUEST, "the body must be a JSON object")
        return value

    def reply(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))


class Launch(JSONHandler):
    def post(self) -> None:
        record = self.agent.launch(self.body())
        self.reply(
            {
                "framework_id": record.framework_id,
                "executor_id": record.executor_id,
                "run_dir": record.run_dir,
                "pid": record.pid,
            }
        )


class Kill(JSONHandler):
    def post(self) -> None:
        body = self.body()
        task_id = check_id("task_id", body.get("task_id"), task=True)
        grace = body.get("grace_period_secs")
        seconds = None if grace is None else number("grace_period_secs", grace, 0.0)
        self.agent.kill_task(task_id, seconds)
        self.reply({"ok": True})


class Shutdown(JSONHandler):
    def post(self) -> None:
        body = self.body()
        key = (
            check_id("framework_id", body.get("framework_id") or DEFAULT_FRAMEWORK),
            check_id("executor_id", body.get("executor_id")),
        )
        record = self.agent.store.executors.get(key)
        if record is None or record.terminated:
            raise Refused(Refusal.NOT_FOUND, "no such live executor")
        self.agent.shutdown(record)
        self.reply({"ok": True})


class Updates(JSONHandler):
    async def get(self) -> None:
        try:
            after = int(self.get_query_argument("after", "0"))
            wait = min(float(self.get_query_argument("wait", "0")), MAX_WAIT)
        except ValueError:
            raise Refused(Refusal.BAD_REQUEST, "after and wait must be numbers") from None
        agent = self.agent
        store = agent.store
        if wait > 0 and len(store.updates) <= after and not agent.stopping.is_set():
            agent.new_update.clear()
            agent.long_polls += 1
            try:
                # Until an update, the time asked for, or the agent stopping: then the poll is
                # answered with what there is (never cancelled under the server: a 500).
                waits = [
                    asyncio.ensure_future(e.wait()) for e in (agent.new_update, agent.stopping)
                ]
                try:
                    await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for each in waits:
                        each.cancel()
                updates = store.updates[after:]
                self.reply(
                    {"updates": updates, "last": len(store.updates), "attributes": agent.attributes}
                )
            finally:
                agent.long_polls -= 1
            return
        updates = store.updates[after:]
        self.reply({"updates": updates, "last": len(store.updates), "attributes": agent.attributes})


class State(JSONHandler):
    def get(self) -> None:
        agent = self.agent
        executors = []
        for record in agent.store.executors.values():
            executors.append(
                {
                    "framework_id": record.framework_id,
                    "executor_id": record.executor_id,
                    "run_dir": record.run_dir,
                    "pid": record.pid,
                    "checkpoint": record.checkpoint,
                    "subscribed": record.key in agent.streams,
                    "terminated": record.terminated,
                    "tasks": dict(record.states),
                }
            )
        self.reply(
            {
                "agent_id": agent.store.agent_id,
                "attributes": agent.attributes,
                "executors": executors,
            }
        )


class Health(Guarded):
    public = True

    def get(self) -> None:
        self.finish("OK\n")


def make_app(agent: Agent, *, token: str, allowed_hosts: frozenset[str]) -> tornado.web.Application:
    """The agent's routes; ``token`` guards the framework API, ``allowed_hosts`` every route."""
    args = {"agent": agent}
    return tornado.web.Application(
        [
            (r"/api/v1/executor", ExecutorAPI, args),
            (agentapi.LAUNCH, Launch, args),
            (agentapi.KILL, Kill, args),
            (agentapi.SHUTDOWN, Shutdown, args),
            (agentapi.UPDATES, Updates, args),
            (agentapi.STATE, State, args),
            (r"/health", Health),
        ],
        token=token,
        allowed_hosts=allowed_hosts,
        serve_traceback=False,
    )
