"""The framework-facing JSON API of ``borealis agent`` (docs/mesos.md)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web

from borealis.contract import agentapi
from borealis.contract.agentapi import Refusal

from .executor_api import ExecutorAPI
from .executors import Agent, Refused

MAX_WAIT = 30.0


class JSONHandler(tornado.web.RequestHandler):
    agent: Agent

    def initialize(self, agent: Agent) -> None:
        self.agent = agent

    def body(self) -> dict[str, Any]:
        try:
            value = json.loads(self.request.body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise Refused(
                Refusal.BAD_REQUEST, f"the body is not JSON ({type(e).__name__})"
            ) from None
        if not isinstance(value, dict):
            raise Refused(Refusal.BAD_REQUEST, "the body must be a JSON object")
        return value

    def reply(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        error = kwargs.get("exc_info", (None, None))[1]
        refusal = error.refusal.value if isinstance(error, Refused) else None
        self.finish(json.dumps({"error": self._reason, "status": status_code, "refusal": refusal}))


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
        task_id = body.get("task_id")
        if not isinstance(task_id, str):
            raise Refused(Refusal.BAD_REQUEST, "task_id must be a string")
        grace = body.get("grace_period_secs")
        if grace is not None and (not isinstance(grace, int | float) or grace < 0):
            raise Refused(Refusal.BAD_REQUEST, "grace_period_secs must be a number >= 0")
        self.agent.kill_task(task_id, None if grace is None else float(grace))
        self.reply({"ok": True})


class Shutdown(JSONHandler):
    def post(self) -> None:
        body = self.body()
        key = (str(body.get("framework_id") or "borealis-local"), str(body.get("executor_id")))
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
        store = self.agent.store
        if wait > 0 and len(store.updates) <= after:
            self.agent.new_update.clear()
            try:
                await asyncio.wait_for(self.agent.new_update.wait(), wait)
            except TimeoutError:
                pass
        updates = store.updates[after:]
        self.reply({"updates": updates, "last": len(store.updates)})


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
        self.reply({"agent_id": agent.store.agent_id, "executors": executors})


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.finish("OK\n")


def make_app(agent: Agent) -> tornado.web.Application:
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
        serve_traceback=False,
    )
