"""The typed task: what a config becomes right after loading, and its JSON form.

The JSON form is the wire format (Mesos ``TaskInfo.data``) and the task file on
disk (``tasks/active/<task_id>``). It uses the Thermos field names, so a task
dumped by Thermos' ``Task.json_dumps()`` loads here and the other way round::

    {"name": "hello", "processes": [{"name": "hello", "cmdline": "echo hi", ...}],
     "constraints": [{"order": ["a", "b"]}], "resources": {"cpu": 1.0, ...},
     "max_failures": 1, "max_concurrency": 0, "finalization_wait": 30}

Missing fields take the Thermos defaults; unknown fields are refused (a typo in
a field name must not silently change nothing). String fields may still hold
``{{mustache}}`` templates on the wire; the task file on disk is fully bound.

Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import InputError
from .reading import Reader, join_path, show

BYTES = 1
KB = 1024 * BYTES
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB

LOGGER_DESTINATIONS = ("file", "console", "both", "none")
LOGGER_MODES = ("standard", "rotate")

T = TypeVar("T")


@dataclass(frozen=True)
class RotatePolicy:
    log_size: int = 100 * MB
    backups: int = 5


@dataclass(frozen=True)
class LoggerSpec:
    destination: str = "file"
    mode: str = "standard"
    rotate: RotatePolicy | None = None


@dataclass(frozen=True)
class Resources:
    cpu: float
    ram: int
    disk: int
    gpu: int = 0


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    cmdline: str
    max_failures: int = 1
    daemon: bool = False
    ephemeral: bool = False
    min_duration: int = 5
    final: bool = False
    logger: LoggerSpec | None = None
    resources: Resources | None = None


@dataclass(frozen=True)
class TaskSpec:
    name: str
    processes: tuple[ProcessSpec, ...]
    constraints: tuple[tuple[str, ...], ...] = ()
    resources: Resources | None = None
    max_failures: int = 1
    max_concurrency: int = 0
    finalization_wait: int = 30
    user: str | None = None
    _by_name: dict[str, ProcessSpec] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def process(self, name: str) -> ProcessSpec:
        if not self._by_name:
            self._by_name.update((p.name, p) for p in self.processes)
        return self._by_name[name]

    def to_json(self) -> dict[str, Any]:
        return task_to_json(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------
# JSON -> typed, with the field path in every error


_RESOURCE_KEYS = frozenset({"cpu", "ram", "disk", "gpu"})
_ROTATE_KEYS = frozenset({"log_size", "backups"})
_LOGGER_KEYS = frozenset({"destination", "mode", "rotate"})
_PROCESS_KEYS = frozenset(
    {
        "name",
        "cmdline",
        "max_failures",
        "daemon",
        "ephemeral",
        "min_duration",
        "final",
        "logger",
        "resources",
    }
)
_TASK_KEYS = frozenset(
    {
        "name",
        "processes",
        "constraints",
        "resources",
        "max_failures",
        "max_concurrency",
        "finalization_wait",
        "user",
    }
)


def _resources(r: Reader, value: Any, path: str) -> Resources:
    obj = r.obj(value, path, _RESOURCE_KEYS)
    for key in ("cpu", "ram", "disk"):
        if key not in obj:
            raise r.fail(join_path(path, key), "required field is missing")
    return Resources(
        cpu=r.number(obj["cpu"], join_path(path, "cpu")),
        ram=r.integer(obj["ram"], join_path(path, "ram")),
        disk=r.integer(obj["disk"], join_path(path, "disk")),
        gpu=r.optional(obj, "gpu", path, r.integer, 0),
    )


def _rotate(r: Reader, value: Any, path: str) -> RotatePolicy:
    obj = r.obj(value, path, _ROTATE_KEYS)
    return RotatePolicy(
        log_size=r.optional(
            obj, "log_size", path, lambda v, p: r.integer(v, p, minimum=1), 100 * MB
        ),
        backups=r.optional(obj, "backups", path, r.integer, 5),
    )


def _logger(r: Reader, value: Any, path: str) -> LoggerSpec:
    obj = r.obj(value, path, _LOGGER_KEYS)
    return LoggerSpec(
        destination=r.optional(
            obj, "destination", path, lambda v, p: r.choice(v, p, LOGGER_DESTINATIONS), "file"
        ),
        mode=r.optional(obj, "mode", path, lambda v, p: r.choice(v, p, LOGGER_MODES), "standard"),
        rotate=r.optional(obj, "rotate", path, lambda v, p: _rotate(r, v, p), None),
    )


def _process(r: Reader, value: Any, path: str) -> ProcessSpec:
    obj = r.obj(value, path, _PROCESS_KEYS)
    for key in ("name", "cmdline"):
        if key not in obj:
            raise r.fail(join_path(path, key), "required field is missing")
    return ProcessSpec(
        name=r.string(obj["name"], join_path(path, "name"), nonempty=True),
        cmdline=r.string(obj["cmdline"], join_path(path, "cmdline")),
        max_failures=r.optional(obj, "max_failures", path, r.integer, 1),
        daemon=r.optional(obj, "daemon", path, r.boolean, False),
        ephemeral=r.optional(obj, "ephemeral", path, r.boolean, False),
        min_duration=r.optional(obj, "min_duration", path, r.integer, 5),
        final=r.optional(obj, "final", path, r.boolean, False),
        logger=r.optional(obj, "logger", path, lambda v, p: _logger(r, v, p), None),
        resources=r.optional(obj, "resources", path, lambda v, p: _resources(r, v, p), None),
    )


def _constraint(r: Reader, value: Any, path: str) -> tuple[str, ...]:
    obj = r.obj(value, path, frozenset({"order"}))
    order = obj.get("order", [])
    if not isinstance(order, list):
        raise r.fail(
            join_path(path, "order"), f"expected a list of process names, got {show(order)}"
        )
    return tuple(
        r.string(name, join_path(join_path(path, "order"), i), nonempty=True)
        for i, name in enumerate(order)
    )


def task_from_json(value: Any, source: str = "<task>") -> TaskSpec:
    """Convert a decoded JSON task into a ``TaskSpec`` (types checked, rules not)."""
    r = Reader(source)
    obj = r.obj(value, "", _TASK_KEYS)
    raw_processes = obj.get("processes")
    if not isinstance(raw_processes, list):
        raise r.fail("processes", f"expected a list of processes, got {show(raw_processes)}")
    processes = tuple(
        _process(r, p, join_path("processes", i)) for i, p in enumerate(raw_processes)
    )
    raw_constraints = obj.get("constraints")
    if raw_constraints is None:
        raw_constraints = []
    if not isinstance(raw_constraints, list):
        raise r.fail("constraints", f"expected a list, got {show(raw_constraints)}")
    default_name = processes[0].name if processes else ""
    return TaskSpec(
        name=r.optional(obj, "name", "", lambda v, p: r.string(v, p, nonempty=True), default_name),
        processes=processes,
        constraints=tuple(
            _constraint(r, c, join_path("constraints", i)) for i, c in enumerate(raw_constraints)
        ),
        resources=r.optional(obj, "resources", "", lambda v, p: _resources(r, v, p), None),
        max_failures=r.optional(obj, "max_failures", "", r.integer, 1),
        max_concurrency=r.optional(obj, "max_concurrency", "", r.integer, 0),
        finalization_wait=r.optional(obj, "finalization_wait", "", r.integer, 30),
        user=r.optional(obj, "user", "", r.string, None),
    )


def task_from_text(text: str, source: str) -> TaskSpec:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            source, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}"
        ) from None
    return task_from_json(value, source)


# ---------------------------------------------------------------------------
# typed -> JSON


def _resources_json(res: Resources) -> dict[str, Any]:
    return {"cpu": res.cpu, "ram": res.ram, "disk": res.disk, "gpu": res.gpu}


def _process_json(p: ProcessSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name,
        "cmdline": p.cmdline,
        "max_failures": p.max_failures,
        "daemon": p.daemon,
        "ephemeral": p.ephemeral,
        "min_duration": p.min_duration,
        "final": p.final,
    }
    if p.logger is not None:
        logger: dict[str, Any] = {"destination": p.logger.destination, "mode": p.logger.mode}
        if p.logger.rotate is not None:
            logger["rotate"] = {
                "log_size": p.logger.rotate.log_size,
                "backups": p.logger.rotate.backups,
            }
        out["logger"] = logger
    if p.resources is not None:
        out["resources"] = _resources_json(p.resources)
    return out


def task_to_json(task: TaskSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": task.name,
        "processes": [_process_json(p) for p in task.processes],
        "constraints": [{"order": list(c)} for c in task.constraints],
        "max_failures": task.max_failures,
        "max_concurrency": task.max_concurrency,
        "finalization_wait": task.finalization_wait,
    }
    if task.resources is not None:
        out["resources"] = _resources_json(task.resources)
    if task.user is not None:
        out["user"] = task.user
    return out
