"""Placement (scheduler/placement.py) as tables: resources with the executor's overhead,
ports, every constraint form, spread against pack, and never overcommitting a host."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from borealis.contract.taskspec import Resources
from borealis.scheduler.constraints import ConstraintError, parse, parse_all
from borealis.scheduler.placement import MB, Host, Placer, Request

GB = 1024 * MB


def ask(cpu: float, ram: int, disk: int, ports: tuple[str, ...] = ()) -> Request:
    return Request(Resources(cpu, ram, disk), ports)


def hosts(
    n: int, cpu: float = 4, ram: int = 8 * GB, disk: int = 100 * GB, **attrs: list[str]
) -> list[Host]:
    out = []
    for i in range(n):
        attributes = {name: values[i % len(values)] for name, values in attrs.items()}
        out.append(Host(f"h{i}", cpu, ram, disk, ((31000, 31009),), attributes))
    return out


def placed_hosts(
    placer: Placer,
    job: str,
    count: int,
    request: Request,
    constraints: dict[str, str] | None = None,
) -> list[str]:
    done, missed = placer.place_job(job, range(count), request, parse_all(constraints or {}))
    return [a.host for a in done] + [f"-{m.reason}" for m in missed]


SMALL = ask(cpu=0.5, ram=512 * MB, disk=1 * GB)


@pytest.mark.parametrize(
    "cpu, ram, disk, fits",
    [
        (3.75, 8 * GB - 128 * MB, 100 * GB, True),  # exactly the host minus the overhead
        (3.76, 1 * MB, 1, False),  # cpu + 0.25 overhead > 4
        (1, 8 * GB - 127 * MB, 1, False),  # ram + 128 MiB overhead > 8 GiB
        (1, 1 * MB, 100 * GB + 1, False),
    ],
)
def test_resources_include_the_executor_overhead(
    cpu: float, ram: int, disk: int, fits: bool
) -> None:
    placer = Placer(hosts(1))
    done, missed = placer.place_job("j", [0], ask(cpu, ram, disk))
    assert bool(done) is fits and bool(missed) is not fits
    if missed:
        assert "lack resources or ports" in missed[0].reason


def test_no_host_is_ever_overcommitted() -> None:
    rng = random.Random(7)
    fleet = hosts(20, cpu=8, ram=16 * GB, disk=50 * GB)
    placer = Placer(fleet, policy=rng.choice(["spread", "pack"]))
    for j in range(60):
        request = ask(
            rng.choice([0.25, 0.5, 1, 2]),
            rng.choice([256, 512, 2048]) * MB,
            rng.choice([1, 5]) * GB,
            ("http",) * rng.randint(0, 2),
        )
        placer.place_job(f"job{j}", range(rng.randint(1, 10)), request)
    for host in fleet:
        assert (
            host.used_cpu <= host.cpu + 1e-9
            and host.used_ram <= host.ram
            and host.used_disk <= host.disk
        )
        assert len(host.used_ports) <= host.port_count


def test_named_ports_are_distinct_per_host_and_run_out() -> None:
    placer = Placer(hosts(1))  # 10 ports
    request = ask(0.1, 64 * MB, 1 * GB, ("http", "health", "admin"))
    done, missed = placer.place_job("j", range(4), request)
    assert len(done) == 3 and len(missed) == 1  # 3 x 3 ports = 9 of 10
    ports = [p for a in done for p in a.ports.values()]
    assert len(set(ports)) == 9 and all(31000 <= p <= 31009 for p in ports)
    assert set(done[0].ports) == {"http", "health", "admin"}


@pytest.mark.parametrize(
    "constraints, expected",
    [
        ({"zone": "a"}, {"h0", "h2"}),
        ({"zone": "a,b"}, {"h0", "h1", "h2", "h3"}),
        ({"zone": "!a"}, {"h1", "h3"}),
        ({"zone": "!a,b"}, set()),
        ({"rack": "r1"}, set()),  # no host has the attribute
        ({"rack": "!r1"}, {"h0", "h1", "h2", "h3"}),  # absent counts as "not r1"
        ({"host": "h3"}, {"h3"}),
        ({"zone": "b", "host": "!h1"}, {"h3"}),
    ],
)
def test_value_constraints(constraints: dict[str, str], expected: set[str]) -> None:
    placer = Placer(hosts(4, zone=["a", "b"]))
    got = placed_hosts(placer, "j", 8, SMALL, constraints)
    assert {h for h in got if not h.startswith("-")} == expected
    if not expected:
        assert all(h.startswith("-no host fits") for h in got)


def test_limit_per_host_and_per_rack() -> None:
    placer = Placer(hosts(6, rack=["r1", "r2", "r3"]))
    got = placed_hosts(placer, "diverse", 8, SMALL, {"host": "limit:1"})
    assert sorted(h for h in got if not h.startswith("-")) == [f"h{i}" for i in range(6)]
    assert sum(h.startswith("-") for h in got) == 2
    assert "limit constraints are reached" in next(h for h in got if h.startswith("-"))
    placer = Placer(hosts(6, rack=["r1", "r2", "r3"]))
    racks = Counter(
        placer.hosts[h].attributes["rack"]
        for h in placed_hosts(placer, "racky", 6, SMALL, {"rack": "limit:2"})
    )
    assert racks == {"r1": 2, "r2": 2, "r3": 2}
    # the limit counts only this job's instances
    assert (
        len(
            [
                h
                for h in placed_hosts(placer, "other", 6, SMALL, {"rack": "limit:2"})
                if not h.startswith("-")
            ]
        )
        == 6
    )


def test_spread_against_pack() -> None:
    spread = placed_hosts(Placer(hosts(4), policy="spread"), "j", 4, SMALL)
    assert sorted(spread) == ["h0", "h1", "h2", "h3"]
    pack = placed_hosts(Placer(hosts(4), policy="pack"), "j", 4, SMALL)
    assert len(set(pack)) == 1  # one host takes all four (4 x 0.75 cpu of 4)
    # pack fills a partly used host before an empty one
    placer = Placer(hosts(2), policy="pack")
    placer.record("old", "h1", ask(1, 1 * GB, 1 * GB))
    assert placed_hosts(placer, "new", 1, SMALL) == ["h1"]
    # spread avoids hosts already running the same job
    placer = Placer(hosts(2), policy="spread")
    placer.record("j", "h0", SMALL)
    assert placed_hosts(placer, "j", 1, SMALL) == ["h1"]


def test_release_gives_the_resources_back() -> None:
    placer = Placer(hosts(1, cpu=1))
    done, _ = placer.place_job("j", [0], ask(0.75, 64 * MB, 1 * GB, ("http",)))
    assert placed_hosts(placer, "k", 1, ask(0.5, 64 * MB, 1 * GB))[0].startswith("-")
    placer.release(
        "j", done[0].host, ask(0.75, 64 * MB, 1 * GB, ("http",)), list(done[0].ports.values())
    )
    assert placed_hosts(placer, "k", 1, ask(0.5, 64 * MB, 1 * GB)) == ["h0"]


@pytest.mark.parametrize(
    "attribute, text, words",
    [
        ("host", "limit:0", "limit must be at least 1"),
        ("host", "limit:x", "expected limit:N"),
        ("zone", "", "empty value"),
        ("zone", "!", "no values"),
        ("bad attr", "a", "not a valid name"),
    ],
)
def test_bad_constraints_are_refused(attribute: str, text: str, words: str) -> None:
    with pytest.raises(ConstraintError, match=words):
        parse(attribute, text)


def test_unknown_policy() -> None:
    with pytest.raises(ValueError, match="spread or pack"):
        Placer([], policy="random")


def test_dedicated_hosts_take_only_the_jobs_dedicated_to_them() -> None:
    """Aurora's rule: a host with a ``dedicated`` attribute is not for other jobs."""
    fleet = hosts(2)
    fleet[0].attributes["dedicated"] = "www-data/web"
    placer = Placer(fleet)
    assert placed_hosts(placer, "a", 3, SMALL) == ["h1", "h1", "h1"]  # never h0
    web = placed_hosts(placer, "b", 2, SMALL, {"dedicated": "www-data/web"})
    assert web == ["h0", "h0"]
    other = placed_hosts(placer, "c", 1, SMALL, {"dedicated": "www-data/db"})
    assert other[0].startswith("-no host fits: 2 hosts fail a constraint")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("www-data/web", None),
        ("*/web", None),
        ("root/web", "only root may use hosts dedicated to root"),
        ("www-data/a,www-data/b", "must be one value ROLE/NAME"),
        ("limit:1", "must be one value ROLE/NAME"),
    ],
)
def test_a_dedicated_constraint_names_the_jobs_role(value: str, problem: str | None) -> None:
    if problem is None:
        parse_all({"dedicated": value}, "www-data")
    else:
        with pytest.raises(ConstraintError, match=problem):
            parse_all({"dedicated": value}, "www-data")


@pytest.mark.parametrize(
    "kind, advertised, placed",
    [
        (None, ["", "docker"], ["h0", "h1"]),  # no container: any host
        ("docker", ["", "docker"], ["h1", "h1"]),
        ("docker", ["docker,mesos", ""], ["h0", "h0"]),
        ("mesos", [" Docker , MESOS ", "docker"], ["h0", "h0"]),  # case and spaces forgiven
        ("mesos", ["{docker,mesos}", ""], ["h0", "h0"]),  # a Mesos SET attribute, as text
        ("mesos", ["", "docker/mesos"], ["h1", "h1"]),  # a Mesos text attribute has no comma
        ("mesos", ["docker", ""], ["-no host fits: 2 hosts do not run mesos containers"] * 2),
    ],
)
def test_a_container_goes_only_to_hosts_that_advertise_its_kind(
    kind: str | None, advertised: list[str], placed: list[str]
) -> None:
    pool = hosts(2)
    for host, value in zip(pool, advertised, strict=True):
        if value:
            host.attributes["containers"] = value
    request = Request(SMALL.resources, container=kind)
    got = placed_hosts(Placer(pool), "j", 2, request)
    assert [g.split(" (")[0] for g in got] == placed


def test_no_container_host_is_named_before_the_other_reasons() -> None:
    pool = hosts(2)
    pool[0].attributes["containers"] = "docker"
    pool[0].cpu = 0.5  # the only docker host is too small
    request = Request(SMALL.resources, container="docker")
    [reason] = placed_hosts(Placer(pool), "j", 1, request)
    assert reason == (
        "-no host fits: 1 hosts do not run docker containers (no containers=docker attribute); "
        "1 lack resources or ports"
    )
