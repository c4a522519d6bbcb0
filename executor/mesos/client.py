"""The executor's side of the Mesos v1 executor HTTP API, on Tornado's HTTP client.

``AgentLink.run()`` subscribes and reads the event stream (RecordIO, parsed by bytes across
any chunking), handing each event to ``on_event``. Calls go on their own connections with
``Content-Type: application/json`` (exactly; anything else is a 415) and the executor's secret
(``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``) as ``Authorization: Bearer``. Every UPDATE is kept
until the agent sends ACKNOWLEDGED for its uuid, and every launched TaskInfo until one of its
updates is acknowledged; both lists go into each re-SUBSCRIBE, which is how unacknowledged
updates reach the agent again (an UPDATE whose POST failed is not retried otherwise, as in
Mesos's own executor library).

Disconnection (the stream ends or breaks, or it cannot be opened): without checkpointing
(``MESOS_CHECKPOINT=0``) ``run`` returns at once; with it, SUBSCRIBE is retried after a
random delay in ``[0, MESOS_SUBSCRIPTION_BACKOFF_MAX]`` each time, for at most
``MESOS_RECOVERY_TIMEOUT`` from the first failure, then ``run`` returns.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from borealis.contract.credentials import EXECUTOR_TOKEN_ENV
from borealis.contract.recordio import Parser, RecordIOError

from . import protocol
from .environment import MesosEnvironment

log = logging.getLogger("borealis.executor")


class AgentLink:
    def __init__(
        self,
        env: MesosEnvironment,
        on_event: Callable[[dict[str, Any]], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = env
        # The secret is ours alone: nothing started from here on (runners, tasks that keep
        # the environment, health checks) inherits it and could speak for this executor.
        os.environ.pop(EXECUTOR_TOKEN_ENV, None)
        self.on_event = on_event
        self.clock = clock
        self.http = AsyncHTTPClient()
        self.updates: OrderedDict[str, dict[str, Any]] = OrderedDict()  # uuid -> TaskStatus
        self.tasks: dict[str, dict[str, Any]] = {}  # task id -> TaskInfo, until acknowledged
        self.subscribed = False
        self.closed = False
        self.subscriptions = 0
        self.reason = ""  # why run() returned

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": protocol.CONTENT_TYPE, "Accept": protocol.CONTENT_TYPE}
        if self.env.auth_token:
            headers["Authorization"] = f"Bearer {self.env.auth_token}"
        return headers

    async def run(self) -> str:
        """Subscribe, and re-subscribe while allowed; return why it stopped."""
        disconnected_at: float | None = None
        while not self.closed:
            ok = await self._subscribe_once()
            if self.closed:
                break
            if ok:
                disconnected_at = None  # a subscription held: the recovery clock restarts
            if not self.env.checkpoint:
                self.reason = "disconnected from the agent (MESOS_CHECKPOINT=0)"
                return self.reason
            now = self.clock()
            disconnected_at = now if disconnected_at is None else disconnected_at
            if now - disconnected_at >= self.env.recovery_timeout:
                self.reason = (
                    f"the agent did not come back within MESOS_RECOVERY_TIMEOUT "
                    f"({self.env.recovery_timeout:g}s)"
                )
                return self.reason
            import asyncio

            await asyncio.sleep(random.uniform(0, self.env.subscription_backoff_max))
        self.reason = self.reason or "closed"
        return self.reason

    async def _subscribe_once(self) -> bool:
        """One subscription, until its stream ends; whether SUBSCRIBED arrived."""
        parser = Parser()
        got_subscribed = False
        broken: list[str] = []

        def chunk(data: bytes) -> None:
            nonlocal got_subscribed
            if broken:
                return
            try:
                records = parser.feed(data)
            except RecordIOError as e:
                broken.append(str(e))
                return
            for record in records:
                try:
                    event = json.loads(record)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    log.warning("ignoring an event that is not JSON (%d bytes)", len(record))
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "SUBSCRIBED":
                    got_subscribed = True
                    self.subscribed = True
                    self.subscriptions += 1
                self.on_event(event)

        body = protocol.subscribe(
            self.env.framework_id,
            self.env.executor_id,
            list(self.tasks.values()),
            list(self.updates.values()),
        )
        request = HTTPRequest(
            self.env.url,
            method="POST",
            headers=self._headers(),
            body=protocol.encode(body),
            streaming_callback=chunk,
            connect_timeout=5,
            request_timeout=0,  # the stream stays open
        )
        try:
            response = await self.http.fetch(request, raise_error=False)
            if response.code != 200 and not got_subscribed:
                log.warning("SUBSCRIBE answered %s %s", response.code, (response.body or b"")[:200])
        except (OSError, HTTPClientError) as e:
            log.info("SUBSCRIBE failed: %s", e)
        if broken:
            log.warning("the event stream is corrupt (%s); subscribing again", broken[0])
        self.subscribed = False
        return got_subscribed

    async def send(self, message: dict[str, Any]) -> bool:
        """POST one call; whether the agent accepted it (202)."""
        request = HTTPRequest(
            self.env.url,
            method="POST",
            headers=self._headers(),
            body=protocol.encode(message),
            connect_timeout=5,
            request_timeout=15,
        )
        try:
            response = await self.http.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            log.info("%s not delivered: %s", message.get("type"), e)
            return False
        if response.code != 202:
            log.warning(
                "%s answered %s: %s",
                message.get("type"),
                response.code,
                (response.body or b"")[:200].decode("utf-8", "replace"),
            )
        return response.code == 202

    def launched(self, task_info: dict[str, Any]) -> None:
        task_id = task_info.get("task_id", {}).get("value")
        if isinstance(task_id, str):
            self.tasks[task_id] = task_info

    async def update(self, task_status: dict[str, Any]) -> None:
        """Send a status update, keeping it until it is acknowledged."""
        self.updates[task_status["uuid"]] = task_status
        await self.send(protocol.update(self.env.framework_id, self.env.executor_id, task_status))

    def acknowledged(self, task_id: str, uuid: str) -> dict[str, Any] | None:
        """The update the agent acknowledged (``None`` if it was not ours or was already)."""
        task_status = self.updates.pop(uuid, None)
        if task_status is not None:
            self.tasks.pop(task_id, None)
        return task_status

    def pending(self, task_id: str | None = None) -> list[dict[str, Any]]:
        return [
            s for s in self.updates.values() if task_id is None or s["task_id"]["value"] == task_id
        ]

    def close(self) -> None:
        self.closed = True
        # Tornado cannot abort a streaming fetch; the executor exits with the subscription
        # still open, and Tornado then logs the cancelled request as an error. It is not one.
        logging.getLogger("tornado.application").addFilter(_CancelledStream())


class _CancelledStream(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Exception after Future was cancelled"
