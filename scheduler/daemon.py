"""``borealis scheduler``: the API server plus the loops that keep the cluster as the jobs say."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import tornado.httpserver
import tornado.netutil

from borealis.contract.mesos import MesosState

from .api import make_app
from .core import Scheduler
from .local import FRAMEWORK_ID, LocalBackend

log = logging.getLogger("borealis.scheduler")
TICK = 0.5


async def follow_updates(scheduler: Scheduler, backend: LocalBackend) -> None:
    """Apply the agent's status updates, from where the last run of the scheduler stopped."""
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
        cursor = last
        scheduler.store.set_meta("agent_cursor", str(cursor))


async def keep_ticking(scheduler: Scheduler) -> None:
    while True:
        try:
            await scheduler.tick()
        except Exception:
            log.exception("scheduling pass failed; trying again")
        await asyncio.sleep(TICK)


async def serve(
    scheduler: Scheduler, backend: LocalBackend, ip: str, port: int, observer_url: str
) -> int:
    sockets = tornado.netutil.bind_sockets(port, address=ip)
    server = tornado.httpserver.HTTPServer(make_app(scheduler, observer_url), max_body_size=4 << 20)
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    print(f"borealis scheduler: http://{ip}:{bound}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await scheduler.reconcile(await backend.known())
    except Exception as e:
        log.warning("could not reconcile with the agent yet: %s", e)
    background: list[Any] = [
        asyncio.ensure_future(follow_updates(scheduler, backend)),
        asyncio.ensure_future(keep_ticking(scheduler)),
    ]
    await stop.wait()
    for task in background:
        task.cancel()
    server.stop()
    scheduler.store.close()
    return 0
