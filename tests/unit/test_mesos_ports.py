"""Announcer port maps over Mesos offers (scheduler/mesos/backend.py with a fake master
client): an alias gets no port in the TaskInfo, a static port is taken at its number from an
offer that holds it, once per agent."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from test_mesos_backend import make, offer, offers
from test_scheduler_core import job

MB = 1 << 20
TASK = {
    "name": "j",
    "processes": [
        {"name": "p", "cmdline": "run {{thermos.ports[alias]}} {{thermos.ports[admin]}}"}
    ],
    "resources": {"cpu": 0.5, "ram": 64 * MB, "disk": 64 * MB},
}
ANNOUNCE = {"portmap": {"alias": "http", "admin": "31050"}}


def ranged(made: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    for resource in made["resources"]:
        if resource["name"] == "ports":
            resource["ranges"] = {"range": [{"begin": lo, "end": hi}]}
    return made


def infos(client: Any) -> list[dict[str, Any]]:
    return [
        info
        for _ids, operations in client.accepted
        for info in operations[0]["launch"]["task_infos"]
    ]


def test_an_alias_gets_no_port_and_a_static_one_is_its_number_once_per_agent(
    tmp_path: Path,
) -> None:
    s, backend, client, _clock = make(tmp_path)
    s.create_job(job(3, task=TASK, announce=ANNOUNCE))
    asyncio.run(backend.handle(offers(offer("o1", 0), offer("o2", 1))))
    asyncio.run(s.tick())
    launched = infos(client)
    assert sorted(i["agent_id"]["value"] for i in launched) == ["agent-0", "agent-1"]
    for info in launched:
        envelope = json.loads(base64.b64decode(info["data"]))
        ports = envelope["ports"]
        assert sorted(ports) == ["admin", "http"] and ports["admin"] == 31050
        (resource,) = [r for r in info["resources"] if r["name"] == "ports"]
        numbers = sorted(r["begin"] for r in resource["ranges"]["range"])
        assert numbers == sorted(ports.values())
    (waiting,) = [t for t in s.store.latest("c/r/e/j") if t.host is None]
    assert "static 31050" in waiting.message


def test_an_offer_without_the_static_port_launches_nothing(tmp_path: Path) -> None:
    s, backend, client, _clock = make(tmp_path)
    s.create_job(job(1, task=TASK, announce=ANNOUNCE))
    asyncio.run(backend.handle(offers(ranged(offer("o1", 0), 31000, 31049))))
    asyncio.run(s.tick())
    assert infos(client) == []
    asyncio.run(backend.handle(offers(ranged(offer("o2", 1), 31050, 31060))))
    asyncio.run(s.tick())
    assert [i["agent_id"]["value"] for i in infos(client)] == ["agent-1"]
