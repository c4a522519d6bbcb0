"""ServerSets: how Finagle, Aurora and Prometheus ``serverset_sd`` find service instances in
ZooKeeper. A serverset is a persistent path; each live instance is an ephemeral sequential
child ``member_<10 digits>`` holding JSON::

    {"serviceEndpoint": {"host": "h", "port": 31000},
     "additionalEndpoints": {"http": {"host": "h", "port": 31000}, ...},
     "status": "ALIVE", "shard": 0}

``member_data`` builds it as Aurora's announcer does; ``read_members`` lists a serverset as
Finagle would (only ``member_*`` children with valid JSON and ``status`` ALIVE).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from borealis.contract.envelope import Announce
from borealis.contract.portmap import resolve

MEMBER_PREFIX = "member_"


def endpoints(hostname: str, ports: dict[str, int], announce: Announce) -> dict[str, Any]:
    """Additional endpoints = every port of the task by name: the assigned ``ports``, the
    port map's static ports and every alias of either, resolved as Aurora does
    (contract/portmap.py); primary endpoint = the port named ``primary_port``, which may be
    an alias or static (0 when it has no number, as Aurora)."""
    numbers = resolve(announce.portmap).numbers(ports)
    additional = {name: {"host": hostname, "port": port} for name, port in sorted(numbers.items())}
    return {
        "serviceEndpoint": {"host": hostname, "port": numbers.get(announce.primary_port, 0)},
        "additionalEndpoints": additional,
    }


def member_data(hostname: str, ports: dict[str, int], announce: Announce, shard: int) -> bytes:
    return json.dumps(
        {**endpoints(hostname, ports, announce), "status": "ALIVE", "shard": shard},
        sort_keys=True,
    ).encode()


@dataclass(frozen=True)
class Member:
    name: str
    host: str
    port: int
    shard: int | None
    additional: dict[str, tuple[str, int]]

    def describe(self) -> str:
        extra = " ".join(f"{k}={h}:{p}" for k, (h, p) in sorted(self.additional.items()))
        shard = "" if self.shard is None else f" shard={self.shard}"
        return f"{self.name} {self.host}:{self.port}{shard}{' ' + extra if extra else ''}"


def _endpoint(value: Any) -> tuple[str, int] | None:
    if not isinstance(value, dict):
        return None
    host, port = value.get("host"), value.get("port")
    if not isinstance(host, str) or type(port) is not int:
        return None
    return host, port


def parse_member(name: str, data: bytes | None) -> Member | None:
    """A member as Finagle reads it, or ``None`` (not JSON, missing fields, not ALIVE)."""
    if not name.startswith(MEMBER_PREFIX) or not data:
        return None
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(value, dict) or value.get("status") != "ALIVE":
        return None
    service = _endpoint(value.get("serviceEndpoint"))
    extra = value.get("additionalEndpoints")
    if service is None or not isinstance(extra, dict):
        return None
    additional = {k: e for k, v in extra.items() if (e := _endpoint(v)) is not None}
    shard = value.get("shard")
    return Member(name, service[0], service[1], shard if type(shard) is int else None, additional)


def read_members(zk: Any, path: str) -> list[Member]:
    """The live members of the serverset at ``path`` (``zk``: a started KazooClient)."""
    from kazoo.exceptions import NoNodeError

    try:
        children = zk.get_children(path)
    except NoNodeError:
        return []
    members = []
    for child in sorted(children):
        try:
            data, _ = zk.get(f"{path}/{child}")
        except NoNodeError:
            continue  # left meanwhile
        member = parse_member(child, data)
        if member is not None:
            members.append(member)
    return members
