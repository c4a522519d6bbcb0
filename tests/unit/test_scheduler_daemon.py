"""The embedded scheduler's pass loop (scheduler/daemon.py): woken early by ``wanted``, and
stopped by a cancellation even when the wake-up and the stop come in the same instant (on
Python 3.11, ``asyncio.wait_for`` returned instead of raising then, and the scheduler did
not stop on SIGTERM)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from borealis.scheduler.core import Scheduler
from borealis.scheduler.daemon import TICK, Embedded


def embedded(wake: float | None = None, cron_wake: float | None = None) -> tuple[Embedded, Any]:
    async def tick() -> None:
        pass

    scheduler = SimpleNamespace(
        wanted=asyncio.Event(),
        clock=time.time,
        updates=SimpleNamespace(wake=wake),
        cron=SimpleNamespace(wake=cron_wake),
        tick=tick,
    )
    # the real wait (Scheduler.until_wanted), over this stand-in's event, clock and timers
    scheduler.until_wanted = lambda most: Scheduler.until_wanted(scheduler, most)  # type: ignore[arg-type]
    return Embedded(scheduler, None), scheduler  # type: ignore[arg-type]


def test_a_stop_that_comes_with_a_wake_up_is_never_lost() -> None:
    async def main() -> int:
        loop, scheduler = embedded()
        stuck = 0
        for i in range(40):
            passes = asyncio.ensure_future(loop.keep_ticking())
            await asyncio.sleep(0.06)  # past its first pass, waiting for the next
            scheduler.wanted.set()
            for _ in range(i % 4):  # let the wake-up get part of the way through
                await asyncio.sleep(0)
            passes.cancel()
            done, _ = await asyncio.wait([passes], timeout=1.0)
            if not done:
                stuck += 1
                passes.cancel()
                await asyncio.wait([passes], timeout=1.0)
        return stuck

    assert asyncio.run(main()) == 0


def test_a_pass_comes_early_when_wanted_or_due() -> None:
    async def main() -> tuple[float, float]:
        loop, scheduler = embedded()
        start = time.monotonic()
        asyncio.get_running_loop().call_later(0.05, scheduler.wanted.set)
        await loop._until_next_pass()
        woken = time.monotonic() - start
        due, _ = embedded(wake=time.time() + 0.05)
        start = time.monotonic()
        await due._until_next_pass()
        due_update = time.monotonic() - start
        cron, _ = embedded(wake=time.time() + 5, cron_wake=time.time() + 0.05)
        start = time.monotonic()
        await cron._until_next_pass()
        return woken, max(due_update, time.monotonic() - start)

    woken, due = asyncio.run(main())
    # all before the next regular pass would have come: wanted, an update due, a cron job due
    assert woken < TICK and due < TICK
