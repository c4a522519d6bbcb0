"""The embedded scheduler's life beyond its API: reconcile with the agent, then follow the
agent's status updates and make a scheduling pass every ``TICK``, and sooner: right after
status updates arrive, and when a running update's watch, pulse or deadline falls due."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from borealis.contract.mesos import MesosState

from .core import Scheduler
from .local import FRAMEWORK_ID, LocalBackend

log = logging.getLogger("borealis.scheduler")
TICK = 0.5
SOONEST = 0.05  # between two passes, however often they are asked for


class Embedded:
    """The scheduler driving one ``borealis agent`` (``borealis scheduler`` without --master)."""

    def __init__(self, scheduler: Scheduler, backend: LocalBackend) -> None:
        self.scheduler = scheduler
        self.backend = backend

    async def start(self) -> None:
        try:
            await self.scheduler.reconcile(await self.backend.known())
        except Exception as e:
            log.warning("could not reconcile with the agent yet: %s", e)

    @property
    def loops(self) -> list[Callable[[], Awaitable[None]]]:
        return [self.follow_updates, self.keep_ticking]

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
