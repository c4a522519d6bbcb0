"""Placing job instances onto hosts: pure code, no I/O, table-tested and benchmarked.

A host offers cpu, ram, disk and port ranges, and has attributes (``host`` is its name). A
request asks for cpu/ram/disk plus a number of named ports, any free ones, and its static
ports, each at its exact number (an announcer's ``portmap={'http': '80'}``: a host whose
ranges lack 80, or whose 80 is taken, cannot hold it); every instance also costs the
executor's overhead (Aurora reserved 0.25 CPU and 128 MiB). An instance fits a host when
all of it fits in what is left (no overcommit) and every constraint of its job holds: value
constraints on the host's attributes, and ``limit:N`` counted per attribute value over the
job's instances already placed. An instance that needs a container (``docker``, ``mesos``)
fits only a host whose ``containers`` attribute lists that kind (contract/container.py).

Policies: ``spread`` puts each instance on the fitting host with the fewest instances of the
same job, then the most free resources; ``pack`` on the fitting host with the least free
resources (best fit), so whole hosts stay free for big tasks.

``Placer.place_job`` places many instances of one job in one go: the hosts that pass the
job's value constraints and can hold one instance at all are put in a heap by the policy's
score; each placement pops the best host, checks it, and pushes it back with its new score.
A host that no longer fits is dropped for the rest of the job (resources only shrink while
placing). That keeps a placement at O(log hosts).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from borealis.contract.container import ATTRIBUTE as CONTAINERS
from borealis.contract.container import advertised
from borealis.contract.taskspec import Resources

from .constraints import Constraint
from .hosts import Host as Host  # its home is hosts.py; placement's callers name it here

MB = 1 << 20
EXECUTOR_CPU = 0.25
EXECUTOR_RAM = 128 * MB


@dataclass(frozen=True)
class Request:
    """What one instance asks of a host: its task's resources, its named ports (any free
    numbers) and its static ports (these exact numbers)."""

    resources: Resources
    ports: tuple[str, ...] = ()
    static: tuple[tuple[str, int], ...] = ()
    container: str | None = None  # the kind of container it runs in: only hosts that run it

    @property
    def static_numbers(self) -> frozenset[int]:
        return frozenset(number for _name, number in self.static)


@dataclass(frozen=True)
class Assignment:
    job: str
    instance: int
    host: str
    ports: dict[str, int]


@dataclass(frozen=True)
class Unplaced:
    job: str
    instance: int
    reason: str


@dataclass
class _JobState:
    per_value: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    per_host: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Placer:
    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        policy: str = "spread",
        executor_cpu: float = EXECUTOR_CPU,
        executor_ram: int = EXECUTOR_RAM,
    ) -> None:
        if policy not in ("spread", "pack"):
            raise ValueError(f"unknown policy {policy!r} (spread or pack)")
        self.hosts = {h.name: h for h in hosts}
        self.policy = policy
        self.executor_cpu = executor_cpu
        self.executor_ram = executor_ram
        self._jobs: dict[str, _JobState] = defaultdict(_JobState)

    def cost(self, request: Request) -> tuple[float, int, int, int]:
        resources = request.resources
        return (
            resources.cpu + self.executor_cpu,
            resources.ram + self.executor_ram,
            resources.disk,
            len(request.ports),
        )

    def record(self, job: str, host_name: str, request: Request, ports: Sequence[int] = ()) -> None:
        """Account for an instance already running (e.g. after a scheduler restart)."""
        host = self.hosts[host_name]
        cpu, ram, disk, _ = self.cost(request)
        host.used_cpu += cpu
        host.used_ram += ram
        host.used_disk += disk
        host.used_ports.update(ports)
        self._count(job, host, +1)

    def count(self, job: str, host_name: str, attributes: Mapping[str, str]) -> None:
        """Count an instance of ``job`` already on ``host_name`` toward ``limit:N`` only, its
        resources left alone: over Mesos offers, a host's offer is already net of the runs on
        it, and a host that offers nothing now still counts for its attributes' values."""
        state = self._jobs[job]
        state.per_host[host_name] += 1
        state.per_value[("host", host_name)] += 1
        for name, value in attributes.items():
            state.per_value[(name, value)] += 1

    def release(
        self, job: str, host_name: str, request: Request, ports: Sequence[int] = ()
    ) -> None:
        host = self.hosts[host_name]
        cpu, ram, disk, _ = self.cost(request)
        host.used_cpu -= cpu
        host.used_ram -= ram
        host.used_disk -= disk
        host.used_ports.difference_update(ports)
        self._count(job, host, -1)

    def _count(self, job: str, host: Host, delta: int) -> None:
        """Instances of ``job`` per host and per value of every attribute (for ``limit:N``)."""
        state = self._jobs[job]
        state.per_host[host.name] += delta
        state.per_value[("host", host.name)] += delta
        for name, value in host.attributes.items():
            state.per_value[(name, value)] += delta

    def _score(self, job: str, host: Host) -> tuple[float, ...]:
        if self.policy == "spread":
            return (
                self._jobs[job].per_host.get(host.name, 0),
                -(host.free_cpu / host.cpu if host.cpu else 0)
                - (host.free_ram / host.ram if host.ram else 0),
            )
        return (
            (host.free_cpu / host.cpu if host.cpu else 0)
            + (host.free_ram / host.ram if host.ram else 0),
        )

    def fresh(self, job: str) -> bool:
        """Whether ``job`` has no instance counted on any host (``place_each`` takes it)."""
        state = self._jobs.get(job)
        return state is None or not any(state.per_host.values())

    def _fresh_score(self, host: Host) -> tuple[float, ...]:
        """``_score`` for a job with no instance anywhere: the same for every such job."""
        free = (host.free_cpu / host.cpu if host.cpu else 0) + (
            host.free_ram / host.ram if host.ram else 0
        )
        return (0, -free) if self.policy == "spread" else (free,)

    def place_each(
        self,
        wanted: Sequence[tuple[str, int]],
        request: Request,
        constraints: Sequence[Constraint] = (),
        unreachable: Collection[str] = (),
    ) -> list[Assignment | None]:
        """One instance of each job (``wanted``: job and instance), in order, on the host
        ``place_job`` would choose for it, job after job; None where no host fits
        (``place_job`` says why). For
        different jobs with no instance on any host (``fresh``) and no limit constraint: a
        host's score is then the same for all of them, so one heap of the hosts serves the
        whole list (a burst of one-instance cron jobs) instead of a scan of every host per
        job."""
        if any(c.limit is not None for c in constraints) or len({j for j, _ in wanted}) != len(
            wanted
        ):
            raise ValueError("place_each: limit constraints, or a job twice")
        cpu, ram, disk, nports = self.cost(request)
        static = request.static_numbers
        heap = [
            (self._fresh_score(host), host.name)
            for host in self.hosts.values()
            if host.name not in unreachable
            and (
                not request.container
                or request.container in advertised(host.attributes.get(CONTAINERS))
            )
            and all(c.allows(host.attribute(c.attribute)) for c in constraints)
            and host.fits(cpu, ram, disk, nports, static)
        ]
        heapq.heapify(heap)
        out: list[Assignment | None] = []
        for job, instance in wanted:
            if not self.fresh(job):
                raise ValueError(f"place_each: {job} has instances placed")
            chosen = None
            while heap:
                score, name = heapq.heappop(heap)
                host = self.hosts[name]
                if not host.fits(cpu, ram, disk, nports, static):
                    continue  # resources only shrink: gone for the rest of the list
                if self._fresh_score(host) != score:
                    heapq.heappush(heap, (self._fresh_score(host), name))
                    continue
                chosen = host
                break
            if chosen is None:
                out.append(None)
                continue
            out.append(self._take(job, instance, chosen, request, (cpu, ram, disk, nports), static))
            if chosen.fits(cpu, ram, disk, nports, static):
                heapq.heappush(heap, (self._fresh_score(chosen), chosen.name))
        return out

    def _take(
        self,
        job: str,
        instance: int,
        host: Host,
        request: Request,
        cost: tuple[float, int, int, int],
        static: frozenset[int],
    ) -> Assignment:
        """Put the instance on ``host`` (which fits it): its ``cost`` and ports taken."""
        cpu, ram, disk, nports = cost
        ports = host.take_ports(nports, static)
        host.used_cpu += cpu
        host.used_ram += ram
        host.used_disk += disk
        self._count(job, host, +1)
        assigned = dict(zip(request.ports, ports, strict=True))
        return Assignment(job, instance, host.name, {**assigned, **dict(request.static)})

    def place_job(
        self,
        job: str,
        instances: Sequence[int],
        request: Request,
        constraints: Sequence[Constraint] = (),
        unreachable: Collection[str] = (),
    ) -> tuple[list[Assignment], list[Unplaced]]:
        """Place ``instances`` of ``job`` (never on an ``unreachable`` host); what could not be
        placed says why."""
        limits = [c for c in constraints if c.limit is not None]
        values = [c for c in constraints if c.limit is None]
        cpu, ram, disk, nports = self.cost(request)
        static = request.static_numbers
        state = self._jobs[job]
        heap: list[tuple[tuple[float, ...], str]] = []
        rejected_by_value = rejected_by_size = away = rejected_by_container = 0
        for host in self.hosts.values():
            if host.name in unreachable:
                away += 1
                continue
            if request.container and request.container not in advertised(
                host.attributes.get(CONTAINERS)
            ):
                rejected_by_container += 1
                continue
            if not all(c.allows(host.attribute(c.attribute)) for c in values):
                rejected_by_value += 1
                continue
            if not host.fits(cpu, ram, disk, nports, static):
                rejected_by_size += 1
                continue
            heap.append((self._score(job, host), host.name))
        heapq.heapify(heap)
        placed: list[Assignment] = []
        unplaced: list[Unplaced] = []
        limited = 0
        for instance in instances:
            chosen: Host | None = None
            while heap:
                score, name = heapq.heappop(heap)
                host = self.hosts[name]
                if not host.fits(cpu, ram, disk, nports, static):
                    rejected_by_size += 1
                    continue  # resources only shrink: gone for the rest of the job
                fresh = self._score(job, host)
                if fresh != score:
                    heapq.heappush(heap, (fresh, name))  # stale entry: re-rank
                    continue
                if any(
                    state.per_value.get((c.attribute, v), 0) >= (c.limit or 0)
                    for c in limits
                    if (v := host.attribute(c.attribute)) is not None
                ):
                    limited += 1
                    continue  # counts only grow while placing: out for the rest of the job
                chosen = host
                break
            if chosen is None:
                why = self._why(rejected_by_value, rejected_by_size, limited, away, static)
                if rejected_by_container:
                    why = _no_container(request.container or "", rejected_by_container, why)
                unplaced.append(Unplaced(job, instance, why))
                continue
            placed.append(
                self._take(job, instance, chosen, request, (cpu, ram, disk, nports), static)
            )
            if chosen.fits(cpu, ram, disk, nports, static):
                heapq.heappush(heap, (self._score(job, chosen), chosen.name))
            else:
                rejected_by_size += 1  # full now: out for the rest of the job
        return placed, unplaced

    def _why(
        self,
        by_value: int,
        by_size: int,
        limited: int,
        away: int = 0,
        static: frozenset[int] = frozenset(),
    ) -> str:
        parts = []
        if away:
            parts.append(f"{away} hosts unreachable")
        if by_value:
            parts.append(f"{by_value} hosts fail a constraint")
        if by_size:
            fixed = f" (static {', '.join(map(str, sorted(static)))})" if static else ""
            parts.append(f"{by_size} lack resources or ports{fixed}")
        if limited:
            parts.append("the limit constraints are reached on the others")
        if not self.hosts:
            parts.append("there are no hosts")
        return "no host fits: " + ("; ".join(parts) or "no candidate host")


def _no_container(kind: str, hosts: int, others: str) -> str:
    """Why: hosts that do not run the container, first, since no resize of the job helps."""
    said = f"{hosts} hosts do not run {kind} containers (no {CONTAINERS}={kind} attribute)"
    rest = others.removeprefix("no host fits: ")
    if rest in ("", "no candidate host"):
        return f"no host fits: {said}"
    return f"no host fits: {said}; {rest}"
