"""``borealis scheduler --master ...``: the scheduler as a Mesos framework."""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from borealis.contract.mesos import MesosState

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
        # PARTITION_AWARE: TASK_UNREACHABLE (a run PARTITIONED, docs/scheduler.md) instead of
        # TASK_LOST when an agent fails its health checks, and the task's state again when
        # the agent reregisters
        "capabilities": [
            {"type": "TASK_KILLING_STATE"},
            {"type": "MULTI_ROLE"},
            {"type": "PARTITION_AWARE"},
        ],
    }


class OnMesos:
    """The scheduler as a Mesos framework: subscribed to the master (found in ZooKeeper for a
    ``zk://`` address), placing runs on offers, reconciling on every subscription and every
    ``reconcile_interval``."""

    def __init__(
        self,
        store: Store,
        policy: Policy,
        *,
        master: str,
        framework_name: str = "borealis",
        executor_command: str = "python3 borealis.pyz executor",
        executor_uris: list[str] | None = None,
        reconcile_interval: float = 900.0,
    ) -> None:
        self.store = store
        self.master = master
        self.reconcile_interval = reconcile_interval
        self._spawned: set[asyncio.Future[None]] = set()  # cancelled on the way out
        self.client = SchedulerClient(
            framework_info(framework_name),
            self._on_event,
            master=None if master.startswith("zk://") else master,
            framework_id=store.get_meta("framework_id") or None,
            on_framework_id=lambda fid: store.set_meta("framework_id", fid),
        )
        self.backend = MesosBackend(
            self.client,
            executor_command=executor_command,
            executor_uris=list(executor_uris or []),
            executor_cpu=policy.executor_cpu,
            executor_ram=policy.executor_ram,
        )
        self.scheduler = Scheduler(store, self.backend, policy)
        self.backend.on_status = self._on_status
        self.backend.on_offers = self.scheduler.wanted.set  # offers came: a pass may use them
        self.backend.on_subscribed = self._on_subscribed
        self.detector: MasterDetector | None = None

    async def _on_status(self, task_id: str, state: MesosState, message: str) -> None:
        await self.scheduler.on_status(task_id, state, message)
        self.scheduler.wanted.set()  # a pass may have work: an update's next instance, a rerun

    async def _on_event(self, event: dict[str, Any]) -> None:
        await self.backend.handle(event)

    async def _on_subscribed(self) -> None:
        ours = [
            (t.task_id, self.backend.agents.get(t.task_id))
            for t in self.store.tasks()
            if t.state.on_host
        ]
        future = asyncio.ensure_future(self._reconcile(ours))  # not inside the stream
        self._spawned.add(future)
        future.add_done_callback(self._spawned.discard)

    async def _reconcile(self, ours: list[tuple[str, str | None]]) -> None:
        if ours:
            await self.client.reconcile(ours)  # explicit: what we believe runs
        await self.client.reconcile([])  # implicit: whatever else the master knows of us

    async def start(self) -> None:
        if self.master.startswith("zk://"):
            self.detector = MasterDetector(self.master, self.client.leader_changed)
            await asyncio.to_thread(self.detector.start)

    @property
    def loops(self) -> list[Callable[[], Awaitable[None]]]:
        return [self.client.run, self.place, self.periodic_reconcile]

    async def place(self) -> None:
        while True:
            await self.scheduler.until_wanted(1.0)
            try:
                await self.scheduler.tick()
            except Exception:
                log.exception("scheduling pass failed; trying again")

    async def periodic_reconcile(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_interval)
            await self.client.reconcile([])

    def close(self) -> None:
        self.client.stop()
        for future in self._spawned:
            future.cancel()
        if self.detector is not None:
            self.detector.stop()
        self.store.close()
