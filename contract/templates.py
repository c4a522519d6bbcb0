"""The runtime templates of a task, and the one binder that fills them in.

A task is evaluated from its config on a client (``borealis run``, ``inspect``, ``job
create``: the config language binds everything it can) except for what only the host that
runs it knows::

    {{mesos.instance}}  {{mesos.hostname}}  {{thermos.task_id}}  {{thermos.user}}
    {{thermos.ports[NAME]}}

Those stay in the task JSON as text (in a launch envelope, in a job the scheduler stores) and
``bind`` fills them in right before the task runs: in ``borealis run`` and in the Mesos
executor alike. Nothing here evaluates code. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .reading import join_path
from .taskspec import TaskSpec, task_from_json

TEMPLATE_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
PORT_RE = re.compile(r"^thermos\.ports\[([^\]]+)\]$")
RUNTIME = ("mesos.instance", "mesos.hostname", "thermos.task_id", "thermos.user")


def is_runtime(ref: str) -> bool:
    """Whether ``{{ref}}`` is one of the values only the running host knows."""
    return ref in RUNTIME or PORT_RE.match(ref) is not None


def port_of(ref: str) -> str | None:
    """``NAME`` for ``thermos.ports[NAME]``, else ``None``."""
    match = PORT_RE.match(ref)
    return match.group(1) if match else None


@dataclass(frozen=True)
class RuntimeValues:
    """What the host knows (``None``: not known yet, as for ``borealis inspect``)."""

    task_id: str | None
    user: str | None
    hostname: str | None
    instance: int = 0
    ports: dict[str, int] = field(default_factory=dict)

    def value(self, ref: str) -> str | None:
        port = port_of(ref)
        if port is not None:
            number = self.ports.get(port)
            return None if number is None else str(number)
        return {
            "mesos.instance": str(self.instance),
            "mesos.hostname": self.hostname,
            "thermos.task_id": self.task_id,
            "thermos.user": self.user,
        }.get(ref)


class UnboundTemplate(InputError):
    """A template ``bind`` could not fill in: ``ref`` (``port`` for a port nobody assigned)."""

    def __init__(self, source: str, path: str, ref: str) -> None:
        self.ref = ref
        self.port = port_of(ref)
        if self.port is not None:
            problem = f"port {self.port!r} is not assigned"
        else:
            problem = f"unbound template {{{{{ref}}}}}"
        super().__init__(source, path, problem)


def referenced_ports(task: Any) -> set[str]:
    """Every NAME of a ``{{thermos.ports[NAME]}}`` in the task's strings."""
    found: set[str] = set()
    for text in _strings(task):
        for ref in TEMPLATE_RE.findall(text):
            port = port_of(ref)
            if port is not None:
                found.add(port)
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def fill(task: Any, values: RuntimeValues) -> tuple[Any, list[tuple[str, str]]]:
    """The task JSON with every runtime template whose value is known filled in, and the
    templates left as ``(field path, ref)``."""
    left: list[tuple[str, str]] = []

    def fill_text(text: str, path: str) -> str:
        def one(match: re.Match[str]) -> str:
            value = values.value(match.group(1))
            if value is None:
                left.append((path, match.group(1)))
                return match.group(0)
            return value

        return TEMPLATE_RE.sub(one, text)

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, str):
            return fill_text(value, path)
        if isinstance(value, dict):
            return {k: walk(v, join_path(path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, join_path(path, i)) for i, v in enumerate(value)]
        return value

    return walk(task, ""), left


def bind(task: Any, values: RuntimeValues, source: str) -> TaskSpec:
    """The task JSON with all its runtime templates filled in, as a ``TaskSpec``.

    ``UnboundTemplate`` (an ``InputError``) names the field of the first template left.
    """
    filled, left = fill(task, values)
    if left:
        raise UnboundTemplate(source, *left[0])
    return task_from_json(filled, source)
