"""An ``Announcer``'s port map, resolved the way Aurora resolves it: which named ports are
aliases of others, which are static numbers, and which need a number from the scheduler (or
from ``borealis run --port``).

The rules (Aurora: ``PortResolver`` and ``AuroraConfig.ports``; docs/ports.md):

- ``portmap`` maps a name to a value. A value that reads as an integer (``'80'``) makes the
  name a *static* port: that exact number, never allocated. Any other value makes the name an
  *alias* of the port the value names.
- Aliases are followed transitively (``https -> aurora -> http``) until a static number or a
  name that is not itself in the map: the *root*. A root that is not a number is a
  *requested* port, whether or not a process references it (``Announcer()`` alone,
  ``{'aurora': 'http'}``, requests ``http``).
- The ports a task needs numbers for are the requested roots of the map plus the roots of
  every ``{{thermos.ports[NAME]}}`` the task references. An alias never gets a port of its
  own: it is its root's port.
- A cycle (``a -> b -> a``, ``a -> a``), an empty value, or a number outside 1..65535 is an
  error naming ``announce.portmap.NAME``; so is a name that ``--port NAME=N`` would not take
  (Aurora takes any string; here every name reaches the runner as a ``--port`` flag).

One definition, used by ``borealis run`` and ``inspect``, the scheduler's placement, the
executor's binder and the announcer's endpoints. Pure; standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import InputError

FIELD = "announce.portmap"
_INTEGER_RE = re.compile(r"^\s*[+-]?\d+\s*$")  # what Aurora's int() accepts as a port
# what ``--port NAME=N`` accepts, for the runner gets every name's number that way
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class PortMapError(InputError):
    """A port map that cannot be resolved; ``field`` is ``announce.portmap.NAME``."""

    def __init__(self, name: str, problem: str, source: str = "") -> None:
        self.name = name
        super().__init__(source, f"{FIELD}.{name}", problem)


def static_number(value: str) -> int | None:
    """The port number a portmap value names statically, or ``None`` for an alias."""
    return int(value) if _INTEGER_RE.match(value) else None


@dataclass(frozen=True)
class PortPlan:
    """A resolved port map (see the module docstring)."""

    requested: tuple[str, ...] = ()  # sorted names that need a number given to them
    static: Mapping[str, int] = field(default_factory=dict)  # every name bound to a fixed number
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> its target, as written
    roots: Mapping[str, str] = field(default_factory=dict)  # alias -> the requested port it is

    def root(self, name: str) -> str | int:
        """The requested port name or static number that ``name`` stands for."""
        if name in self.static:
            return self.static[name]
        return self.roots.get(name, name)

    def has(self, name: str) -> bool:
        """Whether ``name`` gets a number: requested, static or an alias of either."""
        return name in self.requested or name in self.static or name in self.roots

    def static_roots(self) -> dict[str, int]:
        """The static ports written as numbers (not aliases of them): what a host must have
        free, each at its exact number."""
        return {name: n for name, n in self.static.items() if name not in self.aliases}

    def numbers(self, given: Mapping[str, int]) -> dict[str, int]:
        """Every name's port number from the numbers ``given`` to some names (assigned by the
        scheduler, or ``--port``): static ports, given ports, and aliases of either. A port
        given to an alias counts for its root too. A name given a number that differs from its
        static number or from another name of the same port raises ``PortMapError``."""
        by_root: dict[str, tuple[str, int]] = {}
        for name, number in given.items():
            root = self.root(name)
            if isinstance(root, int):
                if number != root:
                    raise PortMapError(name, f"is the static port {root}, but was given {number}")
                continue
            first = by_root.get(root)
            if first is not None and first[1] != number:
                alias = name if name != root else first[0]
                raise PortMapError(
                    alias,
                    f"is the same port as {root!r}, but {first[0]!r} was given {first[1]} "
                    f"and {name!r} {number}",
                )
            by_root.setdefault(root, (name, number))
        out = dict(given)
        out.update(self.static)
        for root, (_name, number) in by_root.items():
            out[root] = number
        for alias, root in self.roots.items():
            if root in by_root:
                out[alias] = by_root[root][1]
        return out

    def describe(self) -> list[tuple[str, str]]:
        """``(name, what it is)`` for every port of the plan, sorted by name: for people."""
        rows: dict[str, str] = {name: "requested" for name in self.requested}
        for name, number in self.static.items():
            target = self.aliases.get(name)
            via = f" (alias of {target!r})" if target is not None else ""
            rows[name] = f"static {number}{via}"
        for alias, root in self.roots.items():
            target = self.aliases[alias]
            via = "" if target == root else f" via {target!r}"
            rows[alias] = f"alias of {root!r}{via}"
        return sorted(rows.items())


def resolve(portmap: Mapping[str, str], referenced: Iterable[str] = ()) -> PortPlan:
    """The plan for a task that references the ports ``referenced`` and is announced with
    ``portmap`` (empty when the job has no ``Announcer``). ``PortMapError`` when the map has a
    cycle, an empty value or a number that is not a port."""
    direct: dict[str, int] = {}
    aliases: dict[str, str] = {}
    for name, value in portmap.items():
        if not NAME_RE.match(name):
            raise PortMapError(name, f"{name!r} is not a port name (letters, digits, _ . -)")
        number = static_number(value)
        if number is not None:
            if not 0 < number < 65536:
                raise PortMapError(name, f"static port {value.strip()} is not from 1 to 65535")
            direct[name] = number
        elif not value.strip():
            raise PortMapError(name, "is an alias of nothing (an empty port name)")
        elif not NAME_RE.match(value):
            raise PortMapError(name, f"{value!r} is not a port name (letters, digits, _ . -)")
        else:
            aliases[name] = value
    static = dict(direct)
    roots: dict[str, str] = {}
    for name in aliases:
        chain = [name]
        target = aliases[name]
        while target in aliases:
            if target in chain:
                loop = chain[chain.index(target) :]
                cycle = " -> ".join([*loop, target])
                raise PortMapError(loop[0], f"aliases form a cycle ({cycle})")
            chain.append(target)
            target = aliases[target]
        if target in direct:
            static[name] = direct[target]
        else:
            roots[name] = target
    requested = set(roots.values())
    for name in referenced:
        if name not in static:
            requested.add(roots.get(name, name))
    return PortPlan(tuple(sorted(requested)), static, aliases, roots)
