"""The agent side of the Mesos v1 executor API at ``/api/v1/executor``: subscriptions (one
event stream per executor), updates stored before they are acknowledged, and every check a
real Mesos agent makes (exact content type, valid uuids, SOURCE_EXECUTOR, subscribed before
other calls; ``executor/mesos/protocol.py`` holds them), plus the executor's credential: each
call carries ``Authorization: Bearer <the secret the agent handed that executor at launch>``
(``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``); a call without one is 401, and one whose secret is
not that of the (framework, executor) it names is 403: an executor speaks only for itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tornado.iostream

from borealis.contract import credentials, recordio
from borealis.executor.mesos import protocol

from .executors import Agent, Subscription
from .guard import Guarded
from .store import ExecutorRecord


class ExecutorAPI(Guarded):
    """``POST /api/v1/executor``: the agent side of the executor API."""

    public = True  # no agent token: each executor's own secret is checked in post()
    json_body = False  # the Mesos content-type rules, in protocol.check_call
    agent: Agent

    def initialize(self, agent: Agent) -> None:
        self.agent = agent

    def refuse(self, code: int, message: str) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message)

    def get(self) -> None:
        self.set_header("Allow", "POST")
        self.refuse(405, "Expecting POST")

    async def post(self) -> None:
        # The credential first: nobody without a live executor's secret gets the body parsed,
        # or learns whether an executor id exists.
        given = credentials.bearer(self.request.headers.get("Authorization"))
        if given is None:
            self.set_header("WWW-Authenticate", 'Bearer realm="borealis-executor"')
            self.refuse(401, "Authorization: the executor's bearer token is needed")
            return
        record = self.agent.executor_with_secret(given)
        if record is None:
            self.refuse(403, "Authorization: the token is not a live executor's")
            return
        try:
            call = protocol.check_call(self.request.headers.get("Content-Type"), self.request.body)
        except protocol.Refusal as e:
            self.refuse(e.code, e.message)
            return
        kind = call["type"]
        key = (call["framework_id"]["value"], call["executor_id"]["value"])
        if key != record.key:
            self.refuse(403, "Authorization: the token is not this executor's")
            return
        if kind == "HEARTBEAT":
            self.set_status(202)
            self.finish()
            return
        if kind == "SUBSCRIBE":
            await self.subscribe(record, call["subscribe"])
            return
        if key not in self.agent.streams:
            self.refuse(403, "Executor is not subscribed")
            return
        if kind == "UPDATE":
            task_status = call["update"]["status"]
            if task_status["task_id"]["value"] not in record.tasks:
                self.refuse(400, "Task cannot be found")
                return
            try:
                self.agent.store.record_update(record, task_status)
            except OSError as e:  # e.g. a full disk: not acknowledged, so the executor retries
                self.refuse(503, f"the agent cannot store the update now: {e.strerror or e}")
                return
            self.agent.new_update.set()
            self.agent.send(
                record,
                {
                    "type": "ACKNOWLEDGED",
                    "acknowledged": {
                        "task_id": task_status["task_id"],
                        "uuid": task_status["uuid"],
                    },
                },
            )
        self.set_status(202)
        self.finish()

    async def subscribe(self, record: ExecutorRecord, payload: dict[str, Any]) -> None:
        agent = self.agent
        resent = [entry["status"] for entry in payload.get("unacknowledged_updates", [])]
        for task_status in resent:  # shapes checked in protocol.check_call; ownership here
            if task_status["task_id"]["value"] not in record.tasks:
                self.refuse(400, "Task cannot be found")  # another executor's task: as UPDATE
                return
        # Everything is stored before the stream is open: on a full disk the executor gets a
        # 503 and subscribes again later, with nothing consumed (no update, no LAUNCH).
        undelivered = list(record.undelivered)
        try:
            for task_status in resent:
                agent.store.record_update(record, task_status)
            record.undelivered = []
            agent.store.save(record)
        except OSError as e:
            record.undelivered = undelivered
            self.refuse(503, f"the agent cannot store the subscription now: {e.strerror or e}")
            return
        old = agent.streams.pop(record.key, None)
        if old is not None:
            old.queue.put_nowait(None)  # only one subscription per executor
        stream = Subscription()
        agent.streams[record.key] = stream
        agent.launched_at.setdefault(record.key, agent.started)
        self.set_status(200)
        self.set_header("Content-Type", protocol.CONTENT_TYPE)
        subscribed = {
            "type": "SUBSCRIBED",
            "subscribed": {
                "executor_info": {"executor_id": protocol.ident(record.executor_id)},
                "framework_info": {
                    "id": protocol.ident(record.framework_id),
                    "user": "root",
                    "name": "borealis",
                    "capabilities": [{"type": c} for c in record.capabilities],
                    "checkpoint": record.checkpoint,
                },
                "agent_info": {"id": protocol.ident(agent.store.agent_id), "hostname": "localhost"},
                "container_id": {"value": Path(record.run_dir).name},
            },
        }
        stream.queue.put_nowait(subscribed)
        for task_status in resent:
            acknowledged = {"task_id": task_status["task_id"], "uuid": task_status["uuid"]}
            stream.queue.put_nowait({"type": "ACKNOWLEDGED", "acknowledged": acknowledged})
        agent.new_update.set()
        for task_id in undelivered:
            stream.queue.put_nowait({"type": "LAUNCH", "launch": {"task": record.tasks[task_id]}})
        self._stream = stream
        try:
            while True:
                event = await stream.queue.get()
                if event is None:
                    break
                self.write(recordio.encode(protocol.encode(event)))
                await self.flush()
        except tornado.iostream.StreamClosedError:
            pass
        finally:
            if agent.streams.get(record.key) is stream:
                agent.streams.pop(record.key)
        if not self._finished:
            self.finish()

    _stream: Subscription | None = None

    def on_connection_close(self) -> None:
        if self._stream is not None:
            self._stream.queue.put_nowait(None)  # the executor went away: end the stream
