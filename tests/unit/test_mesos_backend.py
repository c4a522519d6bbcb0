"""The scheduler over the Mesos backend (scheduler/mesos/backend.py) with a fake master
client: offers are events the test hands in, calls are recorded, nothing goes on the wire."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from test_scheduler_core import Clock, job

from borealis.contract.mesos import MesosState
from borealis.contract.schedule import ScheduleStatus
from borealis.scheduler.core import Policy, Scheduler
from borealis.scheduler.mesos.backend import MesosBackend
from borealis.scheduler.store import Store

KEY = "c/r/e/j"
MB = 1 << 20


class FakeClient:
    """Records ACCEPTs and DECLINEs; ``during_accept`` runs inside the next ACCEPT's await,
    as an event that comes from the master while the call is under way."""

    def __init__(self) -> None:
        self.accepted: list[tuple[list[str], list[dict[str, Any]]]] = []
        self.declined: list[str] = []
        self.killed: list[str] = []
        self.during_accept: Any = None
        self.subscribed = asyncio.Event()

    async def accept(self, offer_ids: list[str], operations: list[Any], refuse: float) -> int:
        self.accepted.append((offer_ids, operations))
        if self.during_accept is not None:
            during, self.during_accept = self.during_accept, None
            await during()
        return 202

    async def decline(self, offer_ids: list[str], refuse: float = 5.0) -> int:
        self.declined += offer_ids
        return 202

    async def kill(self, task_id: str, agent_id: str | None = None) -> int:
        self.killed.append(task_id)
        return 202

    async def revive(self, roles: list[str]) -> int:
        return 202

    async def suppress(self, roles: list[str]) -> int:
        return 202


def offer(offer_id: str, agent: int, cpu: float = 4.0) -> dict[str, Any]:
    return {
        "id": {"value": offer_id},
        "agent_id": {"value": f"agent-{agent}"},
        "hostname": f"host{agent}",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpu}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 8192}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 100_000}},
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": 31000, "end": 31100}]},
            },
        ],
        "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": f"r{agent % 2}"}}],
    }


def offers(*made: dict[str, Any]) -> dict[str, Any]:
    return {"type": "OFFERS", "offers": {"offers": list(made)}}


def make(tmp_path: Path) -> tuple[Scheduler, MesosBackend, FakeClient, Clock]:
    client, clock = FakeClient(), Clock()
    backend = MesosBackend(client)  # type: ignore[arg-type]
    policy = Policy(penalty_initial=1.0, penalty_max=1.0, flapping_threshold=0.0)
    scheduler = Scheduler(Store(tmp_path / "s.db"), backend, policy, clock)
    backend.on_status = scheduler.on_status
    return scheduler, backend, client, clock


def launched(client: FakeClient) -> list[tuple[str, dict[str, Any]]]:
    """(agent, envelope) of every task launched, in order."""
    out = []
    for _ids, operations in client.accepted:
        for info in operations[0]["launch"]["task_infos"]:
            data = json.loads(base64.b64decode(info["data"]))
            out.append((info["agent_id"]["value"], data))
    return out


def run_all(s: Scheduler) -> None:
    for t in s.store.latest(KEY):
        if t.state is not ScheduleStatus.RUNNING:
            asyncio.run(s.on_status(t.task_id, MesosState.TASK_RUNNING))


def test_a_replacement_keeps_the_limit_constraint_over_fresh_offers(tmp_path: Path) -> None:
    """Each pass rebuilds the hosts from offers, which are net of the runs on them; those runs
    must still count toward ``limit:1``, or the replacement lands beside another instance."""
    s, backend, client, _clock = make(tmp_path)
    s.create_job(job(3, constraints={"host": "limit:1"}))
    asyncio.run(backend.handle(offers(offer("o1", 0), offer("o2", 1), offer("o3", 2))))
    asyncio.run(s.tick())
    run_all(s)
    assert sorted(agent for agent, _ in launched(client)) == ["agent-0", "agent-1", "agent-2"]
    victim = next(t for t in s.store.latest(KEY) if t.host == "host2")
    asyncio.run(s.on_status(victim.task_id, MesosState.TASK_KILLED, "gone"))
    # every agent offers the same room: only the constraint keeps the replacement off host0
    # and host1 (which a tie between equal hosts would pick first)
    fresh = {"agent-0": "o4", "agent-1": "o5", "agent-2": "o6"}
    asyncio.run(backend.handle(offers(*(offer(o, int(a[-1])) for a, o in fresh.items()))))
    asyncio.run(s.tick())
    agent, envelope = launched(client)[-1]
    assert (agent, envelope["instance"]) == ("agent-2", victim.instance)
    assert sorted(client.declined) == ["o4", "o5"]


def test_runs_on_hosts_that_offer_nothing_now_count_by_their_attributes(
    tmp_path: Path,
) -> None:
    """``rack`` limit:1: the run on host0 (rack r0) counts for r0 although host0 offers
    nothing this pass, so host2 (also r0) may not take the other instance."""
    s, backend, client, _clock = make(tmp_path)
    s.create_job(job(2, constraints={"rack": "limit:1"}))
    asyncio.run(backend.handle(offers(offer("o1", 0), offer("o2", 1))))
    asyncio.run(s.tick())
    run_all(s)
    victim = next(t for t in s.store.latest(KEY) if t.host == "host1")
    asyncio.run(s.on_status(victim.task_id, MesosState.TASK_KILLED, "gone"))
    asyncio.run(backend.handle(offers(offer("o3", 2))))
    asyncio.run(s.tick())
    assert len(launched(client)) == 2 and client.declined == ["o3"]
    (waiting,) = [t for t in s.store.latest(KEY) if t.instance == victim.instance]
    assert "limit" in waiting.message
    asyncio.run(backend.handle(offers(offer("o4", 1))))
    asyncio.run(s.tick())
    assert launched(client)[-1][0] == "agent-1"


def test_offers_that_come_during_an_accept_are_answered_in_the_next_pass(
    tmp_path: Path,
) -> None:
    """An offer that came while the ACCEPT was on the wire was dropped unanswered: the master
    counted it as still offered to us and never offered that agent again."""
    s, backend, client, _clock = make(tmp_path)
    s.create_job(job(1))
    asyncio.run(backend.handle(offers(offer("o1", 0))))

    async def more() -> None:
        await backend.handle(offers(offer("o2", 0, cpu=3.0), offer("o3", 1)))

    client.during_accept = more
    asyncio.run(s.tick())
    assert [ids for ids, _ in client.accepted] == [["o1"]]
    assert sorted(backend.offers) == ["o2", "o3"]  # kept, not dropped
    asyncio.run(s.tick())  # nothing to place: both are declined
    assert sorted(client.declined) == ["o2", "o3"] and backend.offers == {}


def test_one_accept_launches_each_instance_with_its_own_configs_resources(
    tmp_path: Path,
) -> None:
    """Mid-update, two configs of one job wait for the same agent: one ACCEPT carries both
    launches, each with the cpu of its own config and its own config's command."""
    s, backend, client, clock = make(tmp_path)
    s.create_job(job(2))
    task = {
        "name": "j",
        "processes": [{"name": "p", "cmdline": "run v2 {{thermos.ports[http]}}"}],
        "resources": {"cpu": 1.5, "ram": 64 * MB, "disk": 64 * MB},
    }
    bigger = job(2, task=task)
    with s.store.transaction():
        config = s.store.add_config(bigger)
        s.change_instance(KEY, 1, config, clock.now)
    asyncio.run(backend.handle(offers(offer("o1", 0))))
    asyncio.run(s.tick())
    ((offer_ids, operations),) = client.accepted
    by_instance = {}
    for info in operations[0]["launch"]["task_infos"]:
        envelope = json.loads(base64.b64decode(info["data"]))
        (cpu,) = [r["scalar"]["value"] for r in info["resources"] if r["name"] == "cpus"]
        by_instance[envelope["instance"]] = (cpu, envelope["task"]["processes"][0]["cmdline"])
    assert offer_ids == ["o1"]
    assert by_instance == {
        0: (0.5, "run {{thermos.ports[http]}}"),
        1: (1.5, "run v2 {{thermos.ports[http]}}"),
    }
