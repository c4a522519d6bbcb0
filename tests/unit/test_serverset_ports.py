"""A serverset member's endpoints (executor/mesos/serverset.py) through the announcer's port
map, as Aurora's announcer builds them: every name with a number, aliases and static ports
included; the primary endpoint may be an alias or a static port."""

from __future__ import annotations

from typing import Any

import pytest

from borealis.contract.envelope import Announce
from borealis.executor.mesos.serverset import endpoints


def at(port: int) -> dict[str, Any]:
    return {"host": "h", "port": port}


@pytest.mark.parametrize(
    ("announce", "assigned", "primary", "additional"),
    [
        # Announcer(): aurora is the primary port's alias
        (Announce(), {"http": 31000}, 31000, {"aurora": 31000, "http": 31000}),
        # http_example.aurora: alias is http's port; the primary (http) is its number
        (
            Announce(portmap={"alias": "http"}),
            {"http": 31000, "tcp": 31001, "health": 31002},
            31000,
            {"alias": 31000, "health": 31002, "http": 31000, "tcp": 31001},
        ),
        # the primary port is an alias, reached transitively
        (
            Announce(primary_port="https", portmap={"https": "aurora", "aurora": "http"}),
            {"http": 31000},
            31000,
            {"aurora": 31000, "http": 31000, "https": 31000},
        ),
        # static: announced at its number without being assigned
        (
            Announce(primary_port="web", portmap={"web": "8443", "www": "web"}),
            {"health": 31002},
            8443,
            {"health": 31002, "web": 8443, "www": 8443},
        ),
        # the primary port has no number: 0, as Aurora
        (Announce(primary_port="thrift", portmap={}), {"http": 31000}, 0, {"http": 31000}),
    ],
)
def test_endpoints(
    announce: Announce, assigned: dict[str, int], primary: int, additional: dict[str, int]
) -> None:
    found = endpoints("h", assigned, announce)
    assert found["serviceEndpoint"] == at(primary)
    assert found["additionalEndpoints"] == {name: at(p) for name, p in additional.items()}
