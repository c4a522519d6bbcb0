"""A host as placement sees it (``placement.py``): what it offers (cpu, ram, disk, port
ranges) and its attributes, what its runs use, and the ports it hands out. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Host:
    name: str
    cpu: float
    ram: int
    disk: int
    port_ranges: tuple[tuple[int, int], ...] = ((31000, 32000),)
    attributes: dict[str, str] = field(default_factory=dict)
    used_cpu: float = 0.0
    used_ram: int = 0
    used_disk: int = 0
    used_ports: set[int] = field(default_factory=set)
    _next_port: int = 0  # index into the flattened ranges: ports below it were handed out once

    @property
    def free_cpu(self) -> float:
        return self.cpu - self.used_cpu

    @property
    def free_ram(self) -> int:
        return self.ram - self.used_ram

    @property
    def free_disk(self) -> int:
        return self.disk - self.used_disk

    @property
    def port_count(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.port_ranges)

    def attribute(self, name: str) -> str | None:
        return self.name if name == "host" else self.attributes.get(name)

    def has_port(self, port: int) -> bool:
        return any(lo <= port <= hi for lo, hi in self.port_ranges)

    def fits(
        self, cpu: float, ram: int, disk: int, ports: int, static: frozenset[int] = frozenset()
    ) -> bool:
        return (
            cpu <= self.free_cpu + 1e-9
            and ram <= self.free_ram
            and disk <= self.free_disk
            and all(self.has_port(p) and p not in self.used_ports for p in static)
            and ports + len(static) <= self.port_count - len(self.used_ports)
        )

    def take_ports(self, count: int, static: frozenset[int] = frozenset()) -> list[int]:
        """``count`` free numbers from the ranges, after marking the ``static`` ones used
        (``fits`` checked they are free)."""
        self.used_ports.update(static)
        taken: list[int] = []
        total = self.port_count
        tries = 0
        while len(taken) < count and tries < total:
            port = self._port_at(self._next_port % total)
            self._next_port += 1
            tries += 1
            if port not in self.used_ports:
                self.used_ports.add(port)
                taken.append(port)
        if len(taken) < count:  # cannot happen after fits(); undo to stay consistent
            self.used_ports.difference_update(taken)
            raise ValueError(f"{self.name}: out of ports")
        return taken

    def _port_at(self, index: int) -> int:
        for lo, hi in self.port_ranges:
            size = hi - lo + 1
            if index < size:
                return lo + index
            index -= size
        raise IndexError(index)
