"""Ports in placement (scheduler/placement.py, scheduler/placing.request_of): an announcer alias
never gets a port of its own; a static port is taken at its exact number, on a host whose
ranges hold it and where it is free."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from borealis.cli.scheduler_cmd import port_range
from borealis.contract.errors import InputError
from borealis.contract.jobspec import job_from_json
from borealis.contract.taskspec import Resources
from borealis.scheduler.placement import MB, Host, Placer, Request
from borealis.scheduler.placing import request_of

GB = 1024 * MB
RES = Resources(0.5, 256 * MB, 1 * GB)


def host(name: str, *ranges: tuple[int, int]) -> Host:
    return Host(name, 8, 16 * GB, 100 * GB, ranges)


def outcome(placer: Placer, job: str, count: int, request: Request) -> list[Any]:
    done, missed = placer.place_job(job, range(count), request)
    return [(a.host, a.ports) for a in done] + [m.reason for m in missed]


def test_two_instances_needing_static_80_never_share_a_host() -> None:
    placer = Placer([host("a", (80, 80), (31000, 31009)), host("b", (80, 80), (31000, 31009))])
    request = Request(RES, ("health",), (("http", 80),))
    result = outcome(placer, "j", 3, request)
    placed = result[:2]
    assert sorted(h for h, _ in placed) == ["a", "b"]
    assert all(ports["http"] == 80 and 31000 <= ports["health"] <= 31009 for _, ports in placed)
    assert result[2] == "no host fits: 2 lack resources or ports (static 80)"


@pytest.mark.parametrize(
    ("ranges", "fits"),
    [
        (((31000, 32000),), False),  # 80 is not offered
        (((79, 79), (81, 90)), False),
        (((1, 1024),), True),
        (((80, 80),), True),
    ],
)
def test_a_host_takes_a_static_port_only_if_its_ranges_hold_it(
    ranges: tuple[tuple[int, int], ...], fits: bool
) -> None:
    placer = Placer([host("a", *ranges)])
    done, missed = placer.place_job("j", [0], Request(RES, (), (("http", 80),)))
    assert bool(done) is fits and bool(missed) is not fits


def test_dynamic_ports_avoid_the_static_number_and_release_frees_it() -> None:
    placer = Placer([host("a", (8000, 8001))])
    request = Request(RES, ("health",), (("http", 8000),))
    [(_host, ports)] = outcome(placer, "j", 1, request)
    assert ports == {"http": 8000, "health": 8001}
    # the host has no port left for a second instance of any port-using job
    assert outcome(placer, "k", 1, Request(RES, ("x",))) == [
        "no host fits: 1 lack resources or ports"
    ]
    placer.release("j", "a", request, list(ports.values()))
    assert outcome(placer, "j", 1, request) == [("a", {"http": 8000, "health": 8001})]


def test_a_static_port_taken_by_another_job_s_dynamic_port_is_not_free() -> None:
    placer = Placer([host("a", (8000, 8000), (9000, 9000))])
    assert outcome(placer, "k", 1, Request(RES, ("x",))) == [("a", {"x": 8000})]
    assert outcome(placer, "j", 1, Request(RES, (), (("http", 8000),))) == [
        "no host fits: 1 lack resources or ports (static 8000)"
    ]


def job(portmap: dict[str, str] | None, cmdline: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "key": {"cluster": "local", "role": "www-data", "environment": "devel", "name": "web"},
        "task": {
            "name": "web",
            "processes": [{"name": "p", "cmdline": cmdline}],
            "resources": {"cpu": 0.5, "ram": 256 * MB, "disk": GB},
        },
    }
    if portmap is not None:
        doc["announce"] = {"portmap": portmap}
    return doc


@pytest.mark.parametrize(
    ("portmap", "cmdline", "ports", "static"),
    [
        # http_example.aurora: alias is http's port, no port of its own
        (
            {"alias": "http"},
            "{{thermos.ports[tcp]}} {{thermos.ports[http]}} {{thermos.ports[alias]}} "
            "{{thermos.ports[health]}}",
            ("health", "http", "tcp"),
            (),
        ),
        # Announcer(): aurora is the primary port (http), requested even when unreferenced
        (None, "{{thermos.ports[aurora]}}", ("http",), ()),
        (
            {"http": "80"},
            "{{thermos.ports[http]}} {{thermos.ports[health]}}",
            ("health",),
            (("http", 80),),
        ),
        ({"http": "80", "aurora": "http"}, "{{thermos.ports[aurora]}}", (), (("http", 80),)),
    ],
)
def test_the_scheduler_requests_roots_and_static_ports(
    portmap: dict[str, str] | None,
    cmdline: str,
    ports: tuple[str, ...],
    static: tuple[tuple[str, int], ...],
) -> None:
    doc = job(portmap, cmdline)
    if portmap is None:
        doc["announce"] = {}  # Announcer(): {'aurora': '{{primary_port}}'}
    spec = job_from_json(doc)
    request = request_of(spec)
    assert (request.ports, request.static) == (ports, static)


def test_a_job_with_a_bad_port_map_is_refused() -> None:
    with pytest.raises(InputError, match=r"^job: announce.portmap.http: static port 99999 is"):
        job_from_json(job({"http": "99999"}, "{{thermos.ports[http]}}"))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("31000-32000", (31000, 32000)), ("80", (80, 80)), ("80-80", (80, 80))],
)
def test_host_ports_flag(text: str, parsed: tuple[int, int]) -> None:
    assert port_range(text) == parsed


@pytest.mark.parametrize("text", ["0-10", "10-5", "1-65536", "a-b", "", "-5"])
def test_host_ports_flag_refuses_what_is_not_a_range(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected LO-HI within 1-65535"):
        port_range(text)
