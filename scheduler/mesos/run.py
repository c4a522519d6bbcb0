"""``borealis scheduler --master ...``: the scheduler as a Mesos framework."""

from __future__ import annotations

import asyncio
import getpass
import logging
import signal
import socket
from typing import Any

import tornado.httpserver
import tornado.netutil

from borealis.contract.mesos import MesosState

from ..api import make_app
from ..core import Policy, Scheduler
from ..store import Store
from .backend import MesosBackend
from .client import SchedulerClient
from .detector import MasterDetector

log = logging.getLogger("borealis.scheduler")
FAILOVER_TIMEOUT = 4 * 7 * 24 * 3600.0  # four weeks: tasks outlive a scheduler's outage


def framework_info(name: str, user: str | None = None) -> dict[str, Any]:
    return {
        "user": user or getpass.getuser(),
        "name": name,
        "hostname": socket.gethostname(),
        "checkpoint": True,
        "failover_timeout": FAILOVER_TIMEOUT,
        "roles": ["*"],
        "capabilities": [{"type": "TASK_KILLING_STATE"}, {"type": "MULTI_ROLE"}],
    }


async def serve_mesos(
    store: Store,
    policy: Policy,
    *,
    master: str,
    ip: str,
    port: int,
    observer_url: str = "",
    framework_name: str = "borealis",
    executor_command: str = "python3 borealis.pyz executor",
    executor_uris: list[str] | None = None,
    reconcile_interval: float = 900.0,
) -> int:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    background: list[asyncio.Future[Any]] = []  # cancelled on the way out

    async def on_event(event: dict[str, Any]) -> None:
        await backend.handle(event)

    client = SchedulerClient(
        framework_info(framework_name),
        on_event,
        master=None if master.startswith("zk://") else master,
        framework_id=store.get_meta("framework_id") or None,
        on_framework_id=lambda fid: store.set_meta("framework_id", fid),
    )
    backend = MesosBackend(
        client,
        executor_command=executor_command,
        executor_uris=list(executor_uris or []),
        executor_cpu=policy.executor_cpu,
        executor_ram=policy.executor_ram,
    )
    scheduler = Scheduler(store, backend, policy)

    async def on_status(task_id: str, state: MesosState, message: str) -> None:
        await scheduler.on_status(task_id, state, message)

    async def on_subscribed() -> None:
        ours = [
            (t.task_id, backend.agents.get(t.task_id)) for t in store.tasks() if t.state.on_host
        ]
        background.append(asyncio.ensure_future(reconcile(ours)))  # not inside the stream

    async def reconcile(ours: list[tuple[str, str | None]]) -> None:
        if ours:
            await client.reconcile(ours)  # explicit: what we believe runs
        await client.reconcile([])  # implicit: whatever else the master knows of us

    backend.on_status = on_status
    backend.on_offers = wake.set
    backend.on_subscribed = on_subscribed
    detector = None
    if master.startswith("zk://"):
        detector = MasterDetector(master, client.leader_changed)
        await asyncio.to_thread(detector.start)
    sockets = tornado.netutil.bind_sockets(port, address=ip)
    server = tornado.httpserver.HTTPServer(make_app(scheduler, observer_url), max_body_size=4 << 20)
    server.add_sockets(sockets)
    print(
        f"borealis scheduler: http://{ip}:{sockets[0].getsockname()[1]}/ (Mesos: {master})",
        flush=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def place() -> None:
        while True:
            try:
                await asyncio.wait_for(wake.wait(), 1.0)
            except TimeoutError:
                pass
            wake.clear()
            try:
                await scheduler.tick()
            except Exception:
                log.exception("scheduling pass failed; trying again")

    async def periodic_reconcile() -> None:
        while True:
            await asyncio.sleep(reconcile_interval)
            await client.reconcile([])

    background += [
        asyncio.ensure_future(client.run()),
        asyncio.ensure_future(place()),
        asyncio.ensure_future(periodic_reconcile()),
    ]
    await stop.wait()
    client.stop()
    for task in background:
        task.cancel()
    if detector is not None:
        detector.stop()
    server.stop()
    store.close()
    return 0
