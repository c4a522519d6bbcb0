"""The one serve loop of Borealis' daemons (borealis agent, observer, scheduler).

Bind first (a busy port is bad input: one line, exit status 2), build the daemon around the
port it got, serve, print borealis NAME: http://IP:PORT/ ... once it answers, run its
start-up step and its background loops, and on SIGTERM or SIGINT stop in order: the loops are
cancelled, the server stops taking requests, the daemon closes what it holds, and
borealis NAME: stopped goes to stderr.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from borealis.contract.errors import InputError

from .options import Listen


@dataclass
class Service:
    """What a daemon brings to the loop."""

    app: tornado.web.Application
    about: str = ""  # printed after the URL
    server: dict[str, Any] = field(default_factory=dict)  # HTTPServer options (body limits)
    start: Callable[[], Awaitable[None]] | None = None  # once serving, before the loops
    loops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    close: Callable[[], Awaitable[None] | None] | None = None  # after the server stopped


# Every daemon: a request must arrive whole in reasonable time, and a connection with no
# request on it is closed, so slow or idle clients without a credential hold no memory or
# descriptor for long (the body is read before any handler's checks run).
CONNECTION_LIMITS: dict[str, Any] = {
    "idle_connection_timeout": 60.0,
    "body_timeout": 30.0,
    "max_header_size": 64 << 10,
}


def bind(listen: Listen) -> list[Any]:
    try:
        return tornado.netutil.bind_sockets(listen.port, address=listen.ip)
    except OSError as e:
        raise InputError("--port", f"{listen.ip}:{listen.port}", e.strerror or str(e)) from None


def serve(name: str, listen: Listen, build: Callable[[int], Awaitable[Service]]) -> int:
    """Run the daemon ``name`` until SIGTERM or SIGINT; ``build`` gets the bound port."""
    sockets = bind(listen)
    port = int(sockets[0].getsockname()[1])
    return asyncio.run(_serve(name, listen, sockets, port, build))


async def _serve(
    name: str,
    listen: Listen,
    sockets: list[Any],
    port: int,
    build: Callable[[int], Awaitable[Service]],
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = await build(port)
    server = tornado.httpserver.HTTPServer(service.app, **{**CONNECTION_LIMITS, **service.server})
    server.add_sockets(sockets)
    about = f" {service.about}" if service.about else ""
    print(f"borealis {name}: {listen.url(port)}{about}", flush=True)
    running: list[asyncio.Future[None]] = []
    try:
        if service.start is not None and not stop.is_set():
            starting = asyncio.ensure_future(service.start())
            await asyncio.wait([starting, asyncio.ensure_future(stop.wait())],
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if not starting.done():
                starting.cancel()
        running = [asyncio.ensure_future(each()) for each in service.loops]
        await stop.wait()
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        server.stop()
        if service.close is not None:
            closing = service.close()
            if closing is not None:
                await closing
    print(f"borealis {name}: stopped", file=sys.stderr, flush=True)
    return 0
