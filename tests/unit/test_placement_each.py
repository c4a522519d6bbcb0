"""``Placer.place_each`` (scheduler/placement.py): one instance of each of many fresh jobs
placed with one heap of the hosts must choose exactly what ``place_job`` chooses, job after
job, in every case: both policies, uneven hosts, value constraints, containers, unreachable
hosts, ports, hosts filling up, hosts already holding other runs."""

from __future__ import annotations

import copy
import random

import pytest

from borealis.contract.taskspec import Resources
from borealis.scheduler.constraints import parse_all
from borealis.scheduler.placement import MB, Host, Placer, Request

GB = 1024 * MB


def fleet(seed: int, n: int) -> list[Host]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cpu = rng.choice([1.0, 2.0, 4.0])
        attributes = {"rack": f"r{i % 3}"}
        if i % 2:
            attributes["containers"] = "docker"
        out.append(Host(f"h{i:02}", cpu, int(cpu * 2 * GB), 20 * GB, ((31000, 31003),), attributes))
    return out


def one_by_one(
    placer: Placer, wanted: list[tuple[str, int]], request: Request, constraints: dict[str, str]
) -> list[tuple[str, dict[str, int]] | None]:
    out: list[tuple[str, dict[str, int]] | None] = []
    for job, instance in wanted:
        done, _ = placer.place_job(job, [instance], request, parse_all(constraints), {"h03"})
        out.append((done[0].host, done[0].ports) if done else None)
    return out


def together(
    placer: Placer, wanted: list[tuple[str, int]], request: Request, constraints: dict[str, str]
) -> list[tuple[str, dict[str, int]] | None]:
    chosen = placer.place_each(wanted, request, parse_all(constraints), {"h03"})
    return [None if a is None else (a.host, a.ports) for a in chosen]


@pytest.mark.parametrize(
    "policy, cpu, ports, container, constraints, jobs, busy",
    [
        ("spread", 0.25, (), None, {}, 30, 0),
        ("pack", 0.25, (), None, {}, 30, 0),
        ("spread", 0.5, ("http",), None, {}, 40, 0),  # ports run out on some hosts
        ("pack", 0.5, ("http", "admin"), None, {}, 40, 0),
        ("spread", 0.25, (), None, {"rack": "r1,r2"}, 25, 0),  # a value constraint
        ("spread", 0.25, (), "docker", {}, 25, 0),  # only hosts that run docker
        ("pack", 1.0, (), None, {}, 40, 0),  # most are left unplaced: the hosts fill up
        ("spread", 0.25, (), None, {}, 30, 12),  # hosts already hold other jobs' runs
        ("pack", 0.25, (), None, {}, 30, 12),
    ],
)
def test_place_each_chooses_what_place_job_chooses_job_after_job(
    policy: str,
    cpu: float,
    ports: tuple[str, ...],
    container: str | None,
    constraints: dict[str, str],
    jobs: int,
    busy: int,
) -> None:
    hosts = fleet(len(constraints) + jobs + busy, 12)
    request = Request(Resources(cpu, 64 * MB, 1 * GB), ports, (), container)
    first, second = Placer(copy.deepcopy(hosts), policy=policy), Placer(hosts, policy=policy)
    for placer in (first, second):  # the same runs of other jobs already on the hosts
        for i in range(busy):
            placer.place_job(f"other{i}", [0], Request(Resources(0.25, 128 * MB, 1 * GB)))
    wanted = [(f"job{i}", i % 3) for i in range(jobs)]
    expected = one_by_one(first, wanted, request, constraints)
    assert together(second, wanted, request, constraints) == expected
    assert any(e is not None for e in expected)
    for a, b in zip(first.hosts.values(), second.hosts.values(), strict=True):
        assert (a.used_cpu, a.used_ram, a.used_ports) == (b.used_cpu, b.used_ram, b.used_ports)


def test_place_each_says_none_where_no_host_fits() -> None:
    placer = Placer([Host("h0", 1.0, 2 * GB, 10 * GB)])
    request = Request(Resources(0.25, 64 * MB, 1 * GB))
    chosen = placer.place_each([("a", 0), ("b", 0), ("c", 0)], request)
    assert [a and a.host for a in chosen] == ["h0", "h0", None]  # 3 x (0.25 + 0.25 overhead)


@pytest.mark.parametrize(
    "wanted, constraints, problem",
    [
        ([("a", 0), ("a", 1)], {}, "a job twice"),
        ([("a", 0)], {"host": "limit:1"}, "limit constraints"),
        ([("placed", 0)], {}, "placed has instances placed"),
    ],
)
def test_place_each_refuses_what_it_cannot_place_as_place_job(
    wanted: list[tuple[str, int]], constraints: dict[str, str], problem: str
) -> None:
    placer = Placer([Host("h0", 4.0, 8 * GB, 10 * GB)])
    request = Request(Resources(0.25, 64 * MB, 1 * GB))
    placer.place_job("placed", [0], request)
    assert not placer.fresh("placed") and placer.fresh("a")
    with pytest.raises(ValueError, match=problem):
        placer.place_each(wanted, request, parse_all(constraints))
