"""The scheduler on Apache Mesos: hosts come from offers, launches are ACCEPTs.

Offers are held until the next placement pass: the scheduler places pending runs on the
offered hosts (``hosts()`` builds them from what the offers hold, net of what is used), each
launch joins the ACCEPT of its host's offers, and ``flush()`` sends one ACCEPT per agent with
LAUNCH operations and DECLINEs the offers nothing was placed on (with ``refuse_seconds``).
Status updates go to the scheduler and are ACKNOWLEDGEd when they carry a uuid; after every
(re)subscription the scheduler reconciles its runs explicitly, then implicitly, and again
every ``reconcile_interval`` seconds.

A run whose job has a container carries it as ``ContainerInfo`` on its executor
(``containerinfo.py``); the placer offers it only hosts whose ``containers`` attribute (TEXT
``docker,mesos`` or a SET) lists its kind.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from borealis.contract.jobspec import JobSpec
from borealis.contract.mesos import MesosState

from ..core import LaunchProblem
from ..local import envelope
from ..placement import MB, Host
from ..store import Task
from .client import SchedulerClient
from .containerinfo import container_info

log = logging.getLogger("borealis.scheduler")


@dataclass
class Offer:
    offer_id: str
    agent_id: str
    hostname: str
    cpu: float
    ram: int
    disk: int
    ports: list[tuple[int, int]]
    attributes: dict[str, str]
    allocation: dict[str, Any] | None = None


def parse_offer(offer: dict[str, Any]) -> Offer:
    cpu = ram = disk = 0.0
    ports: list[tuple[int, int]] = []
    allocation = None
    for resource in offer.get("resources", []):
        name = resource.get("name")
        allocation = resource.get("allocation_info", allocation)
        if resource.get("type") == "SCALAR":
            value = float(resource.get("scalar", {}).get("value", 0))
            if name == "cpus":
                cpu += value
            elif name == "mem":
                ram += value * MB
            elif name == "disk":
                disk += value * MB
        elif resource.get("type") == "RANGES" and name == "ports":
            for r in resource.get("ranges", {}).get("range", []):
                ports.append((int(r["begin"]), int(r["end"])))
    attributes = {}
    for attribute in offer.get("attributes", []):
        if attribute.get("type") == "TEXT":
            attributes[attribute["name"]] = str(attribute.get("text", {}).get("value", ""))
        elif attribute.get("type") == "SCALAR":
            attributes[attribute["name"]] = f"{attribute.get('scalar', {}).get('value', 0):g}"
        elif attribute.get("type") == "SET":
            items = attribute.get("set", {}).get("item", [])
            attributes[attribute["name"]] = ",".join(str(i) for i in items)
    return Offer(
        offer["id"]["value"],
        offer["agent_id"]["value"],
        offer.get("hostname", offer["agent_id"]["value"]),
        cpu,
        int(ram),
        int(disk),
        ports,
        attributes,
        allocation,
    )


def scalar(name: str, value: float, allocation: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if allocation:
        out["allocation_info"] = allocation
    return out


@dataclass
class MesosBackend:
    client: SchedulerClient
    executor_command: str = "python3 borealis.pyz executor"
    executor_uris: list[str] = field(default_factory=list)
    executor_cpu: float = 0.25
    executor_ram: int = 128 * MB
    refuse_seconds: float = 5.0
    dynamic_hosts: bool = True  # the scheduler rebuilds its placer from hosts() every pass
    offers: dict[str, Offer] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)  # task id -> agent id
    # hostname -> the attributes of its latest offer (limit constraints count runs by them)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    _batch: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    on_status: Callable[[str, MesosState, str], Awaitable[None]] | None = None
    on_offers: Callable[[], None] | None = None
    on_subscribed: Callable[[], Awaitable[None]] | None = None
    suppressed: bool = False
    launched: int = 0
    acknowledged: int = 0

    def hosts(self) -> list[Host]:
        by_host: dict[str, Host] = {}
        for offer in self.offers.values():
            host = by_host.get(offer.hostname)
            if host is None:
                by_host[offer.hostname] = Host(
                    offer.hostname,
                    offer.cpu,
                    offer.ram,
                    offer.disk,
                    tuple(offer.ports),
                    dict(offer.attributes),
                )
            else:  # several offers of one agent: one host with all of it
                host.cpu += offer.cpu
                host.ram += offer.ram
                host.disk += offer.disk
                host.port_ranges = (*host.port_ranges, *offer.ports)
        return list(by_host.values())

    def _offer_of(self, hostname: str) -> Offer | None:
        return next((o for o in self.offers.values() if o.hostname == hostname), None)

    async def launch(self, task: Task, job: JobSpec) -> LaunchProblem | None:
        offer = self._offer_of(task.host or "")
        if offer is None:
            return LaunchProblem(f"no offer from {task.host} any more")
        r = job.resources
        resources = [
            scalar("cpus", r.cpu, offer.allocation),
            scalar("mem", r.ram / MB, offer.allocation),
            scalar("disk", r.disk / MB, offer.allocation),
        ]
        if task.ports:
            # two static names may share a number
            ranges = [{"begin": p, "end": p} for p in sorted(set(task.ports.values()))]
            ports: dict[str, Any] = {"name": "ports", "type": "RANGES", "ranges": {"range": ranges}}
            if offer.allocation:
                ports["allocation_info"] = offer.allocation
            resources.append(ports)
        data = json.dumps(envelope(task, job)).encode()
        executor: dict[str, Any] = {
            "type": "CUSTOM",
            "executor_id": {"value": f"thermos-{task.task_id}"},
            "name": "borealis executor",
            "command": {
                "value": self.executor_command,
                "shell": True,
                "uris": [{"value": u} for u in self.executor_uris],
            },
            "resources": [
                scalar("cpus", self.executor_cpu, offer.allocation),
                scalar("mem", self.executor_ram / MB, offer.allocation),
            ],
        }
        if job.container is not None:
            executor["container"] = container_info(job.container)  # as Aurora: the executor's
        task_info = {
            "name": job.key.path(),
            "task_id": {"value": task.task_id},
            "agent_id": {"value": offer.agent_id},
            "resources": resources,
            "executor": executor,
            "data": base64.b64encode(data).decode(),
        }
        self._batch[offer.agent_id].append(task_info)
        self.agents[task.task_id] = offer.agent_id
        return None

    async def flush(self) -> None:
        """ACCEPT what was placed (one call per agent), DECLINE the other offers. Offers that
        come while the calls are under way are kept for the next pass: dropped unanswered, the
        master would hold their resources as offered to us, and offer nothing more of them."""
        answered = list(self.offers.values())
        for offer in answered:
            del self.offers[offer.offer_id]
        batch, self._batch = self._batch, defaultdict(list)
        used_agents = set(batch)
        for agent_id, infos in batch.items():
            offer_ids = [o.offer_id for o in answered if o.agent_id == agent_id]
            status = await self.client.accept(
                offer_ids,
                [{"type": "LAUNCH", "launch": {"task_infos": infos}}],
                self.refuse_seconds,
            )
            self.launched += len(infos) if status == 202 else 0
            if status != 202:
                for info in infos:
                    if self.on_status is not None:
                        await self.on_status(
                            info["task_id"]["value"],
                            MesosState.TASK_LOST,
                            f"ACCEPT answered {status}",
                        )
        unused = [o.offer_id for o in answered if o.agent_id not in used_agents]
        if unused:
            await self.client.decline(unused, self.refuse_seconds)

    async def wants_offers(self, wanted: bool) -> None:
        """REVIVE when runs wait for a host, SUPPRESS when none does (no offer churn)."""
        if wanted and self.suppressed:
            self.suppressed = await self.client.revive([]) != 202
        elif not wanted and not self.suppressed and self.client.subscribed.is_set():
            self.suppressed = await self.client.suppress([]) == 202

    async def kill(self, task: Task) -> None:
        await self.client.kill(task.task_id, self.agents.get(task.task_id))

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "OFFERS":
            for raw in event.get("offers", {}).get("offers", []):
                offer = parse_offer(raw)
                self.offers[offer.offer_id] = offer
                self.attributes[offer.hostname] = offer.attributes
            if self.on_offers is not None:
                self.on_offers()
        elif kind == "RESCIND":
            self.offers.pop(event.get("rescind", {}).get("offer_id", {}).get("value", ""), None)
        elif kind == "UPDATE":
            status = event.get("update", {}).get("status", {})
            task_id = status.get("task_id", {}).get("value", "")
            agent_id = status.get("agent_id", {}).get("value")
            if agent_id:
                self.agents[task_id] = agent_id
            state = MesosState.parse(status.get("state"))
            if self.on_status is not None and state is not None:
                await self.on_status(task_id, state, status.get("message", ""))
            uuid = status.get("uuid")
            if uuid and agent_id and await self.client.acknowledge(agent_id, task_id, uuid) == 202:
                self.acknowledged += 1
        elif kind == "SUBSCRIBED":
            self.offers.clear()  # offers of an earlier subscription are void
            self.suppressed = False  # a new subscription starts unsuppressed
            if self.on_subscribed is not None:
                await self.on_subscribed()
        elif kind == "ERROR":
            log.error("the master reported: %s", event.get("error", {}).get("message"))
        elif kind == "FAILURE":
            log.warning("agent or executor failure: %s", json.dumps(event.get("failure"))[:300])
