"""The embedded scheduler's life beyond its API: reconcile with the agent, then follow the
agent's status updates and make a scheduling pass every ``TICK``, and sooner: right after
status updates arrive, and when a running update's watch, pulse or deadline falls due. A third
loop probes the agent: when it stops answering its runs are PARTITIONED, when it answers again
they are reconciled with what it holds (``agentwatch.py``, ``partitions.py``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from borealis.contract.mesos import MesosState

from .agentwatch import DEFAULT_TIMEOUT, AgentWatch, Change, probe_interval
from .core import Scheduler
from .local import FRAMEWORK_ID, LocalBackend

log = logging.getLogger("borealis.scheduler")
TICK = 0.5
SOONEST = 0.05  # between two passes, however often they are asked for


class Embedded:
    """The scheduler driving one ``borealis agent`` (``borealis scheduler`` without --master)."""

    def __init__(
        self,
        scheduler: Scheduler,
        backend: LocalBackend,
        agent_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.scheduler = scheduler
        self.backend = backend
        self.agent_timeout = agent_timeout

    async def start(self) -> None:
        try:
            await self.scheduler.reconcile(await self.backend.known())
        except Exception as e:
            log.warning("could not reconcile with the agent yet: %s", e)

    @property
    def loops(self) -> list[Callable[[], Awaitable[None]]]:
        return [self.follow_updates, self.keep_ticking, self.watch_agent]

    def close(self) -> None:
        self.scheduler.store.close()

    async def follow_updates(self) -> None:
        """Apply the agent's status updates, from where the last run of the scheduler stopped."""
        scheduler, backend = self.scheduler, self.backend
        cursor = int(scheduler.store.get_meta("agent_cursor", "0"))
        delay = 0.5
        while True:
            try:
                updates, last = await backend.updates(cursor, 10)
            except Exception as e:  # the agent is down or restarting: retry
                log.warning("cannot read the agent's updates: %s", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            delay = 0.5
            if last < cursor:  # the agent's log was reset: read it from the start
                cursor = 0
                continue
            for update in updates:
                state = MesosState.parse(update.get("state"))
                if update.get("framework_id") == FRAMEWORK_ID and state is not None:
                    await scheduler.on_status(update["task_id"], state, update.get("message") or "")
                    scheduler.wanted.set()  # a pass may have work now
            cursor = last
            scheduler.store.set_meta("agent_cursor", str(cursor))

    async def watch_agent(self) -> None:
        """Probe the agent; tell the scheduler when it is lost and when it is back."""
        watch = AgentWatch(self.agent_timeout, time.monotonic())
        interval = probe_interval(self.agent_timeout)
        partitions, host = self.scheduler.partitions, self.backend.hostname
        while True:
            answered = await self.backend.ping(interval)
            known = None
            if answered and watch.down:
                try:  # back only once it told us what it holds
                    known = await self.backend.known()
                except Exception as e:
                    log.warning("the agent answers but its state cannot be read: %s", e)
                    answered = False
            now = time.monotonic()
            change = watch.answered(now) if answered else watch.silent(now)
            try:
                if change is Change.LOST:
                    why = f"the agent has not answered for {self.agent_timeout:g}s"
                    count = await partitions.host_lost(host, why)
                    log.warning("%s: %d runs PARTITIONED", why, count)
                elif change is Change.BACK and known is not None:
                    log.warning("the agent answers again: reconciling %d tasks", len(known))
                    await partitions.host_back(host, known)
            except Exception:
                log.exception("handling the agent's %s failed", change and change.value)
            await asyncio.sleep(interval)

    async def keep_ticking(self) -> None:
        while True:
            try:
                await self.scheduler.tick()
            except Exception:
                log.exception("scheduling pass failed; trying again")
            await asyncio.sleep(SOONEST)
            await self._until_next_pass()

    async def _until_next_pass(self) -> None:
        await self.scheduler.until_wanted(TICK - SOONEST)
