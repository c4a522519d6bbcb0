"""Graceful shutdown of a service, as Aurora's HTTP lifecycle does it.

POST ``/quitquitquit``, wait up to ``graceful_shutdown_wait_secs`` for the task to end; POST
``/abortabortabort``, wait up to ``shutdown_wait_secs``; then the runner's TERM -> KILL
escalation. With a deadline (the kill policy's grace period), each wait is cut short so
that at least ``RESERVE`` seconds remain for the escalation, and at the deadline the runner
is asked again, which SIGKILLs at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from borealis.contract.envelope import HttpLifecycle

log = logging.getLogger("borealis.executor")
RESERVE = 1.0
POLL = 0.2


async def post(port: int, endpoint: str, timeout: float = 1.0) -> bool:
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError

    try:
        response = await AsyncHTTPClient().fetch(
            f"http://127.0.0.1:{port}{endpoint}",
            method="POST",
            body=b"",
            request_timeout=timeout,
            connect_timeout=timeout,
            raise_error=False,
        )
    except (TimeoutError, OSError, HTTPClientError) as e:
        log.info("POST %s: %s", endpoint, e)
        return False
    log.info("POST %s: %s", endpoint, response.code)
    return response.code != 599


async def wait_until(
    ended: Callable[[], bool],
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
    poll: float = POLL,
) -> bool:
    deadline = clock() + max(0.0, seconds)
    while not ended():
        if clock() >= deadline:
            return False
        await asyncio.sleep(poll)
    return True


async def shut_down(
    *,
    lifecycle: HttpLifecycle | None,
    ports: dict[str, int],
    ended: Callable[[], bool],
    terminate: Callable[[], None],
    deadline: float | None,
    before: Callable[[], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    poll: float = POLL,
) -> None:
    """Stop the task and return once it has ended (``ended()``); ``deadline`` is on ``clock``."""

    def budget(wanted: float) -> float:
        if deadline is None:
            return wanted
        return max(0.0, min(wanted, deadline - clock() - RESERVE))

    if before is not None:
        await before()
    if lifecycle is not None and lifecycle.port in ports and not ended():
        port = ports[lifecycle.port]
        for endpoint, wait in (
            (lifecycle.graceful_shutdown_endpoint, lifecycle.graceful_shutdown_wait_secs),
            (lifecycle.shutdown_endpoint, lifecycle.shutdown_wait_secs),
        ):
            if budget(wait) <= 0 or ended():
                break
            await post(port, endpoint, timeout=min(1.0, budget(wait)))
            if await wait_until(ended, budget(wait), clock, poll):
                return
    terminate()  # SIGTERM to the runner: TERM, grace, KILL of every process
    if deadline is None:
        while not ended():
            await asyncio.sleep(poll)
        return
    if not await wait_until(ended, deadline - clock(), clock, poll):
        terminate()  # a second request: SIGKILL everything at once
        while not ended():
            await asyncio.sleep(poll)
