"""Asking a job's SLA coordinator whether an instance may go down (Aurora's
``CoordinatorSlaPolicy``), for an ``sla_aware`` update (docs/sla.md).

The protocol is Aurora's: ``POST <coordinator_url>?task=<cluster>/<role>/<env>/<name>/<instance>``
with a JSON body ``{"task": that key, "taskConfig": {...the run...}}``; a 200 answer whose JSON
object has ``<status_key>: true`` (``drain`` by default) says yes, anything else (another
status, a timeout, a refused connection, a body that is not such an object) says no. As in
Aurora, one request at a time goes to a coordinator, so it can judge the job as it is without
tracking requests in flight; an instance told no is asked again after ``retry`` seconds.

The planner stays pure: it lists the instances it holds for a yes (``Step.sla_asks``); the
driver hands them here; the answers arrive between passes, and a yes is handed to the next
pass (``approvals``) and used once. A yes that finds the update paused is dropped and asked
for again later, so a coordinator never sees a kill it approved long before.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from borealis.contract.slapolicy import SlaPolicy

log = logging.getLogger("borealis.scheduler")
RETRY_SECS = 60.0  # Aurora's -sla_aware_kill_retry_min_delay
TIMEOUT_SECS = 60.0  # Aurora's -sla_coordinator_timeout
MAX_ANSWER = 64 << 10  # a yes or no needs no more


class Coordinators:
    def __init__(
        self,
        on_answer: Callable[[], None],
        retry: float = RETRY_SECS,
        timeout: float = TIMEOUT_SECS,
    ) -> None:
        self.on_answer = on_answer  # a yes came: the scheduler should make a pass
        self.retry, self.timeout = retry, timeout
        self._approved: dict[str, set[int]] = {}  # update id -> instances told yes, unused
        self._asked: dict[tuple[str, int], float] = {}  # (update, instance) -> when asked
        self._locks: dict[str, asyncio.Lock] = {}  # one request at a time per coordinator
        self._pending: set[asyncio.Task[None]] = set()

    def approvals(self, update_id: str) -> frozenset[int]:
        """The instances of the update told yes since the last pass (each used once)."""
        return frozenset(self._approved.pop(update_id, ()))

    def ask(
        self, update_id: str, asks: list[tuple[int, SlaPolicy, str, dict[str, Any]]], now: float
    ) -> float | None:
        """Ask about each ``(instance, policy, task key, run)`` not asked in the last
        ``retry`` seconds; returns when the next of them is due to be asked again."""
        due: float | None = None
        for instance, policy, key, run in asks:
            last = self._asked.get((update_id, instance))
            if last is None or now - last >= self.retry:
                last = self._asked[update_id, instance] = now
                body = {"task": key, "taskConfig": run}
                task = asyncio.get_running_loop().create_task(
                    self._ask(update_id, instance, policy, key, body)
                )
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            due = last + self.retry if due is None else min(due, last + self.retry)
        return due

    def forget(self, update_id: str) -> None:
        """The update ended: its answers are of no use."""
        self._approved.pop(update_id, None)
        for asked in [a for a in self._asked if a[0] == update_id]:
            del self._asked[asked]

    async def settle(self) -> None:
        """Wait for the requests in flight (tests; a stopping scheduler)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _ask(
        self, update_id: str, instance: int, policy: SlaPolicy, key: str, body: dict[str, Any]
    ) -> None:
        lock = self._locks.setdefault(policy.coordinator_url, asyncio.Lock())
        async with lock:
            yes = await self._request(policy, key, body)
        log.info("coordinator %s on %s: %s", policy.coordinator_url, key, "yes" if yes else "no")
        if yes:
            self._approved.setdefault(update_id, set()).add(instance)
            self.on_answer()

    async def _request(self, policy: SlaPolicy, key: str, body: dict[str, Any]) -> bool:
        url = policy.coordinator_url
        url += ("&" if "?" in url else "?") + urlencode({"task": key})
        request = HTTPRequest(
            url,
            method="POST",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body),
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        client = AsyncHTTPClient(force_instance=True, max_body_size=MAX_ANSWER)
        try:
            response = await client.fetch(request, raise_error=False)
        except (OSError, HTTPClientError, ValueError) as e:
            log.warning("coordinator %s: %s", policy.coordinator_url, e)
            return False
        finally:
            client.close()
        if response.code != 200:
            log.warning("coordinator %s answered %d", policy.coordinator_url, response.code)
            return False
        try:
            answer = json.loads(response.body or b"")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False
        return isinstance(answer, dict) and answer.get(policy.status_key) is True
