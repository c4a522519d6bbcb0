"""The launch envelope: what a framework puts in Mesos ``TaskInfo.data`` for Borealis.

JSON, format 1::

    {"format": 1,
     "job": {"role": "www-data", "environment": "devel", "name": "hello_http"},
     "instance": 0,
     "task": {...the task JSON (taskspec.py), runtime templates still unbound...},
     "ports": {"http": 31000, "health": 31001},
     "health_check": {"health_checker": {"http": {"endpoint": "/health"}},
                      "initial_interval_secs": 15.0, "interval_secs": 10.0,
                      "max_consecutive_failures": 0, "min_consecutive_successes": 1,
                      "timeout_secs": 1.0},
     "announce": {"primary_port": "http", "portmap": {"aurora": "http"}},
     "lifecycle": {"http": {"port": "health", "graceful_shutdown_endpoint": "/quitquitquit",
                            "shutdown_endpoint": "/abortabortabort",
                            "graceful_shutdown_wait_secs": 5, "shutdown_wait_secs": 5}},
     "container": {"docker": {...}} or {"mesos": {...}}}

``container`` (absent: none) is the job's (``container.py``): on Mesos the agent's
containerizer runs the executor in it; an agent that runs such tasks on the host instead
(``borealis agent --ignore-container``) has it recorded in the task's header.

Field names and defaults are Aurora's (``HealthCheckConfig``, ``HttpHealthChecker``,
``ShellHealthChecker``, ``Announcer``, ``LifecycleConfig``/``HttpLifecycleConfig``). Only
``job`` and ``task`` are required. ``announce`` absent or null: not announced. ``lifecycle``
absent: the Aurora default (HTTP lifecycle on the ``health`` port, used only when the task has
that port); ``{"http": null}`` turns it off.

``ports`` holds the numbers the framework assigned (requested and static ports, never an
alias); ``Envelope.port_numbers`` adds the announcer's static ports and aliases
(``portmap.py``). The task's strings may still hold the runtime templates (``templates.py``:
ports, instance, hostname, task id, user); ``bind_task`` fills them in when the executor
launches it, with the one binder ``borealis run`` uses too (no other template is allowed, and
nothing here evaluates code).

Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .container import ContainerSpec, container_from_json
from .errors import InputError
from .jobkey import JobKey, job_key_from_json
from .portmap import PortMapError, PortPlan, resolve
from .reading import Reader, join_path, show
from .taskspec import TaskSpec, task_from_json
from .templates import RuntimeValues, bind, referenced_ports

FORMAT = 1


@dataclass(frozen=True)
class HttpChecker:
    endpoint: str = "/health"
    expected_response: str = "ok"
    expected_response_code: int = 0  # 0: the status code is not checked


@dataclass(frozen=True)
class ShellChecker:
    shell_command: str


@dataclass(frozen=True)
class HealthCheck:
    checker: HttpChecker | ShellChecker = field(default_factory=HttpChecker)
    initial_interval_secs: float = 15.0
    interval_secs: float = 10.0
    max_consecutive_failures: int = 0
    min_consecutive_successes: int = 1
    timeout_secs: float = 1.0


@dataclass(frozen=True)
class Announce:
    primary_port: str = "http"
    portmap: dict[str, str] = field(default_factory=lambda: {"aurora": "http"})
    zk_path: str | None = None


@dataclass(frozen=True)
class HttpLifecycle:
    port: str = "health"
    graceful_shutdown_endpoint: str = "/quitquitquit"
    shutdown_endpoint: str = "/abortabortabort"
    graceful_shutdown_wait_secs: float = 5.0
    shutdown_wait_secs: float = 5.0


@dataclass(frozen=True)
class Envelope:
    job: JobKey
    task: dict[str, Any]  # the task JSON, templates unbound (checked by task_from_json)
    instance: int = 0
    ports: dict[str, int] = field(default_factory=dict)
    health_check: HealthCheck | None = None
    announce: Announce | None = None
    lifecycle: HttpLifecycle | None = field(default_factory=HttpLifecycle)
    container: ContainerSpec | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "job": self.job.to_json(),
            "instance": self.instance,
            "task": self.task,
            "ports": self.ports,
            "announce": None if self.announce is None else dict(self.announce.__dict__),
            "lifecycle": lifecycle_to_json(self.lifecycle),
        }
        if self.health_check is not None:
            out["health_check"] = health_to_json(self.health_check)
        if self.container is not None:
            out["container"] = self.container.to_json()
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    def port_numbers(self) -> dict[str, int]:
        """Every port name's number on the host: the assigned ``ports``, the announcer's
        static ports and the aliases of either (contract/portmap.py)."""
        return port_plan(self.announce, self.task).numbers(self.ports)


def port_plan(announce: Announce | None, task: Any) -> PortPlan:
    """The resolved ports of a task (its JSON) announced with ``announce`` (or not)."""
    return resolve(announce.portmap if announce is not None else {}, referenced_ports(task))


def health_to_json(hc: HealthCheck) -> dict[str, Any]:
    checker = (
        {"http": hc.checker.__dict__}
        if isinstance(hc.checker, HttpChecker)
        else {"shell": hc.checker.__dict__}
    )
    return {"health_checker": checker, **{k: v for k, v in hc.__dict__.items() if k != "checker"}}


def lifecycle_to_json(lifecycle: HttpLifecycle | None) -> dict[str, Any]:
    return {"http": None if lifecycle is None else dict(lifecycle.__dict__)}


_ENVELOPE_KEYS = frozenset(
    {
        "format",
        "job",
        "instance",
        "task",
        "ports",
        "health_check",
        "announce",
        "lifecycle",
        "container",
    }
)


def _ports(r: Reader, value: Any, path: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise r.fail(path, f"expected an object of port numbers, got {show(value)}")
    ports = {}
    for name, number in value.items():
        port = r.integer(number, join_path(path, name), minimum=0)
        if port > 65535:
            raise r.fail(join_path(path, name), f"port {port} is above 65535")
        ports[name] = port
    return ports


def _checker(r: Reader, value: Any, path: str) -> HttpChecker | ShellChecker:
    obj = r.obj(value, path, frozenset({"http", "shell"}))
    kinds = [k for k in ("http", "shell") if obj.get(k) is not None]
    if len(kinds) != 1:
        raise r.fail(path, "set exactly one of http or shell")
    sub = join_path(path, kinds[0])
    if kinds[0] == "shell":
        shell = r.obj(obj["shell"], sub, frozenset({"shell_command"}))
        if "shell_command" not in shell:
            raise r.fail(join_path(sub, "shell_command"), "required field is missing")
        return ShellChecker(
            r.string(shell["shell_command"], join_path(sub, "shell_command"), nonempty=True)
        )
    http = r.obj(
        obj["http"], sub, frozenset({"endpoint", "expected_response", "expected_response_code"})
    )
    endpoint = r.optional(http, "endpoint", sub, r.string, "/health")
    if not endpoint.startswith("/"):
        raise r.fail(join_path(sub, "endpoint"), f"must start with '/', got {endpoint!r}")
    return HttpChecker(
        endpoint=endpoint,
        expected_response=r.optional(http, "expected_response", sub, r.string, "ok"),
        expected_response_code=r.optional(http, "expected_response_code", sub, r.integer, 0),
    )


def health_from_json(r: Reader, value: Any, path: str) -> HealthCheck:
    keys = frozenset(
        {
            "health_checker",
            "initial_interval_secs",
            "interval_secs",
            "max_consecutive_failures",
            "min_consecutive_successes",
            "timeout_secs",
        }
    )
    obj = r.obj(value, path, keys)
    default: HttpChecker | ShellChecker = HttpChecker()
    check = HealthCheck(
        checker=r.optional(obj, "health_checker", path, lambda v, p: _checker(r, v, p), default),
        initial_interval_secs=r.optional(obj, "initial_interval_secs", path, r.number, 15.0),
        interval_secs=r.optional(obj, "interval_secs", path, r.number, 10.0),
        max_consecutive_failures=r.optional(obj, "max_consecutive_failures", path, r.integer, 0),
        min_consecutive_successes=r.optional(
            obj, "min_consecutive_successes", path, lambda v, p: r.integer(v, p, minimum=1), 1
        ),
        timeout_secs=r.optional(obj, "timeout_secs", path, r.number, 1.0),
    )
    if check.interval_secs <= 0:
        raise r.fail(join_path(path, "interval_secs"), "must be greater than 0")
    if check.timeout_secs <= 0:
        raise r.fail(join_path(path, "timeout_secs"), "must be greater than 0")
    return check


def announce_from_json(r: Reader, value: Any, path: str) -> Announce:
    obj = r.obj(value, path, frozenset({"primary_port", "portmap", "zk_path"}))
    portmap = obj.get("portmap")
    if portmap is None:
        portmap = {"aurora": "{{primary_port}}"}
    if not isinstance(portmap, dict):
        raise r.fail(join_path(path, "portmap"), f"expected an object, got {show(portmap)}")
    primary = r.optional(
        obj, "primary_port", path, lambda v, p: r.string(v, p, nonempty=True), "http"
    )
    aliases = {}
    for alias, target in portmap.items():
        text = r.string(target, join_path(join_path(path, "portmap"), alias), nonempty=True)
        aliases[alias] = primary if text == "{{primary_port}}" else text
    try:
        resolve(aliases)
    except PortMapError as e:
        raise r.fail(join_path(join_path(path, "portmap"), e.name), e.problem) from None
    return Announce(
        primary_port=primary,
        portmap=aliases,
        zk_path=r.optional(obj, "zk_path", path, r.string, None),
    )


def lifecycle_from_json(r: Reader, value: Any, path: str) -> HttpLifecycle | None:
    obj = r.obj(value, path, frozenset({"http"}))
    if "http" not in obj:
        return HttpLifecycle()
    if obj["http"] is None:
        return None
    sub = join_path(path, "http")
    keys = frozenset(
        {
            "port",
            "graceful_shutdown_endpoint",
            "shutdown_endpoint",
            "graceful_shutdown_wait_secs",
            "shutdown_wait_secs",
        }
    )
    http = r.obj(obj["http"], sub, keys)
    return HttpLifecycle(
        port=r.optional(http, "port", sub, r.string, "health"),
        graceful_shutdown_endpoint=r.optional(
            http, "graceful_shutdown_endpoint", sub, r.string, "/quitquitquit"
        ),
        shutdown_endpoint=r.optional(http, "shutdown_endpoint", sub, r.string, "/abortabortabort"),
        graceful_shutdown_wait_secs=r.optional(
            http, "graceful_shutdown_wait_secs", sub, r.number, 5.0
        ),
        shutdown_wait_secs=r.optional(http, "shutdown_wait_secs", sub, r.number, 5.0),
    )


def envelope_from_json(value: Any, source: str = "TaskInfo.data") -> Envelope:
    """The envelope, every field checked (``InputError`` names the field and the problem)."""
    r = Reader(source)
    obj = r.obj(value, "", _ENVELOPE_KEYS)
    version = obj.get("format", FORMAT)
    if version != FORMAT:
        raise r.fail("format", f"unsupported format {show(version)} (this executor reads {FORMAT})")
    for key in ("job", "task"):
        if key not in obj:
            raise r.fail(key, "required field is missing")
    task_from_json(obj["task"], f"{source}: task")  # the task's types, before anything runs
    lifecycle = HttpLifecycle()
    if "lifecycle" in obj and obj["lifecycle"] is not None:
        lifecycle = lifecycle_from_json(r, obj["lifecycle"], "lifecycle")  # type: ignore[assignment]
    return Envelope(
        job=job_key_from_json(r, obj["job"], "job", cluster=False),
        task=obj["task"],
        instance=r.optional(obj, "instance", "", r.integer, 0),
        ports=r.optional(obj, "ports", "", lambda v, p: _ports(r, v, p), {}),
        health_check=r.optional(
            obj, "health_check", "", lambda v, p: health_from_json(r, v, p), None
        ),
        announce=r.optional(obj, "announce", "", lambda v, p: announce_from_json(r, v, p), None),
        lifecycle=lifecycle,
        container=r.optional(obj, "container", "", lambda v, p: container_from_json(r, v, p), None),
    )


def envelope_from_bytes(data: bytes, source: str = "TaskInfo.data") -> Envelope:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(source, "", f"not JSON: {e}") from None
    return envelope_from_json(value, source)


def bind_task(
    envelope: Envelope, *, task_id: str, hostname: str, user: str, source: str = "TaskInfo.data"
) -> TaskSpec:
    """The task with its runtime templates filled in (``templates.UnboundTemplate`` for any
    left, such as a port the framework did not assign); a port alias is its target's number
    and a static port its own (``portmap.PortMapError`` when the assigned ports contradict
    the port map)."""
    try:
        ports = envelope.port_numbers()
    except PortMapError as e:
        raise PortMapError(e.name, e.problem, source) from None
    values = RuntimeValues(task_id, user, hostname, envelope.instance, ports)
    return bind(envelope.task, values, f"{source}: task")
