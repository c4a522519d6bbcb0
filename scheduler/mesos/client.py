"""The Mesos v1 scheduler HTTP API, per the project's reference (section 2).

``SchedulerClient.run()`` subscribes to the leading master and reads its event stream until
told to stop:

* SUBSCRIBE carries ``framework_info`` (``user`` and ``name`` are required; ``checkpoint`` and a
  long ``failover_timeout`` so tasks survive the scheduler's restarts) and, once the master has
  given one, the framework id in both ``framework_info.id`` and ``framework_id``; it never
  carries ``Mesos-Stream-Id``. Every other call must send the stream id of the current
  subscription.
* A non-leading master answers 307 with ``Location: //leader:port/api/v1/scheduler``: the
  client follows it. 503 (no leader yet, recovering): it retries with a backoff up to 15 s.
* No event (HEARTBEAT included) for 5 heartbeat intervals: the stream is taken as lost and the
  client subscribes again, as after any broken stream.
* With a ``MasterDetector`` the master is whoever leads in ZooKeeper; a change of leader ends
  the current stream and subscribes to the new one.

Events are handed to ``on_event``; calls are methods (``accept``, ``decline``, ...).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from borealis.contract.recordio import Parser, RecordIOError

from . import stream

log = logging.getLogger("borealis.scheduler")
PATH = "/api/v1/scheduler"
CONTENT_TYPE = "application/json"
BACKOFF_MAX = 15.0
HEARTBEATS_MISSED = 5


class SchedulerClient:
    def __init__(
        self,
        framework: dict[str, Any],
        on_event: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        master: str | None = None,
        framework_id: str | None = None,
        on_framework_id: Callable[[str], None] | None = None,
    ) -> None:
        self.framework = framework
        self.on_event = on_event
        self.master = master  # host:port of the master to try first
        self.framework_id = framework_id
        self.on_framework_id = on_framework_id
        self.stream_id: str | None = None
        self.heartbeat = 15.0
        self.subscribed = asyncio.Event()
        self.subscriptions = 0
        self.redirects = 0
        self._response: stream.Response | None = None
        self._stopped = False
        self._last_event = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- subscription ---------------------------------------------------------------------

    def leader_changed(self, address: str | None) -> None:
        """From the detector (kazoo's thread): follow the new leader."""
        if self._loop is None:
            self.master = address
            return
        self._loop.call_soon_threadsafe(self._switch, address)

    def _switch(self, address: str | None) -> None:
        if address == self.master:
            return
        log.info("the leading master is now %s", address or "unknown")
        self.master = address
        if self._response is not None:
            self._response.writer.transport.abort()  # ends the stream: subscribe again

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        delay = 0.5
        while not self._stopped:
            if not self.master:
                await asyncio.sleep(0.2)
                continue
            try:
                got = await self._subscribe_once(self.master)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, RecordIOError) as e:
                log.info("subscription to %s ended: %s", self.master, e)
                got = False
            self.subscribed.clear()
            self.stream_id = None
            if self._stopped:
                return
            delay = 0.5 if got else min(delay * 2, BACKOFF_MAX)
            await asyncio.sleep(random.uniform(0, delay))

    def _subscribe_body(self) -> dict[str, Any]:
        info = dict(self.framework)
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self.framework_id:
            info["id"] = {"value": self.framework_id}
            body["framework_id"] = {"value": self.framework_id}
        return body

    async def _subscribe_once(self, master: str) -> bool:
        host, _, port = master.rpartition(":")
        response = await stream.post(
            host,
            int(port),
            PATH,
            {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
            json.dumps(self._subscribe_body()).encode(),
        )
        if response.status == 307:
            location = response.headers.get("location", "")
            response.close()
            target = location.split("//", 1)[-1].split("/", 1)[0]
            if target and target != master:
                log.info("%s is not the leader: redirected to %s", master, target)
                self.master = target
                self.redirects += 1
            return False
        if response.status != 200:
            text = (await response.read_all(4096)).decode("utf-8", "replace")
            response.close()
            log.warning("SUBSCRIBE to %s answered %d: %s", master, response.status, text[:200])
            return False
        self.stream_id = response.headers.get("mesos-stream-id")
        self._response = response
        self._last_event = time.monotonic()
        watchdog = asyncio.ensure_future(self._watch_heartbeats(response))
        parser = Parser()
        got = False
        try:
            async for data in response.body():
                for record in parser.feed(data):
                    event = json.loads(record)
                    self._last_event = time.monotonic()
                    if event.get("type") == "SUBSCRIBED":
                        got = True
                        self._subscribed(event.get("subscribed", {}))
                    await self.on_event(event)
        finally:
            watchdog.cancel()
            self._response = None
            response.close()
        return got

    def _subscribed(self, info: dict[str, Any]) -> None:
        framework_id = info.get("framework_id", {}).get("value")
        if framework_id and framework_id != self.framework_id:
            self.framework_id = framework_id
            if self.on_framework_id is not None:
                self.on_framework_id(framework_id)
        interval = info.get("heartbeat_interval_seconds")
        if isinstance(interval, int | float) and interval > 0:
            self.heartbeat = float(interval)
        self.subscriptions += 1
        self.subscribed.set()
        log.info("subscribed to %s as %s", self.master, self.framework_id)

    async def _watch_heartbeats(self, response: stream.Response) -> None:
        while True:
            await asyncio.sleep(min(self.heartbeat, 5.0))
            if time.monotonic() - self._last_event > HEARTBEATS_MISSED * self.heartbeat:
                log.warning("no heartbeat for %d intervals: subscribing again", HEARTBEATS_MISSED)
                response.writer.transport.abort()
                return

    def stop(self) -> None:
        self._stopped = True
        if self._response is not None:
            self._response.writer.transport.abort()

    # --- calls ------------------------------------------------------------------------------

    async def call(self, kind: str, **payload: Any) -> int:
        """POST a call on its own connection; the HTTP status (0: not connected)."""
        if not self.master or not self.stream_id or not self.framework_id:
            return 0
        host, _, port = self.master.rpartition(":")
        body = {"type": kind, "framework_id": {"value": self.framework_id}, **payload}
        try:
            response = await stream.post(
                host,
                int(port),
                PATH,
                {"Content-Type": CONTENT_TYPE, "Mesos-Stream-Id": self.stream_id},
                json.dumps(body).encode(),
            )
        except (TimeoutError, OSError) as e:
            log.info("%s not delivered: %s", kind, e)
            return 0
        text = await response.read_all(4096)
        response.close()
        if response.status not in (200, 202):
            log.warning("%s answered %d: %s", kind, response.status, text[:200])
        return response.status

    async def accept(
        self, offer_ids: list[str], operations: list[dict[str, Any]], refuse: float = 5.0
    ) -> int:
        return await self.call(
            "ACCEPT",
            accept={
                "offer_ids": [{"value": o} for o in offer_ids],
                "operations": operations,
                "filters": {"refuse_seconds": refuse},
            },
        )

    async def decline(self, offer_ids: list[str], refuse: float = 5.0) -> int:
        return await self.call(
            "DECLINE",
            decline={
                "offer_ids": [{"value": o} for o in offer_ids],
                "filters": {"refuse_seconds": refuse},
            },
        )

    async def acknowledge(self, agent_id: str, task_id: str, uuid: str) -> int:
        return await self.call(
            "ACKNOWLEDGE",
            acknowledge={
                "agent_id": {"value": agent_id},
                "task_id": {"value": task_id},
                "uuid": uuid,
            },
        )

    async def reconcile(self, tasks: list[tuple[str, str | None]]) -> int:
        """Explicit for ``tasks`` (task id, agent id); implicit (all tasks) when empty."""
        listed = [
            {"task_id": {"value": t}, **({"agent_id": {"value": a}} if a else {})} for t, a in tasks
        ]
        return await self.call("RECONCILE", reconcile={"tasks": listed})

    async def kill(self, task_id: str, agent_id: str | None = None) -> int:
        kill: dict[str, Any] = {"task_id": {"value": task_id}}
        if agent_id:
            kill["agent_id"] = {"value": agent_id}
        return await self.call("KILL", kill=kill)

    async def revive(self, roles: list[str]) -> int:
        return await self.call("REVIVE", revive={"roles": roles})

    async def suppress(self, roles: list[str]) -> int:
        return await self.call("SUPPRESS", suppress={"roles": roles})
