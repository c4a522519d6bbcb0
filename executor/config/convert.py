"""From a loaded config to a typed, fully bound, validated ``TaskSpec``.

Steps: pick the task (``--task``) or job (``--job``); bind the user's ``--bind`` values;
interpolate field by field, so that an error names its field path, leaving only the runtime
templates (``mesos.instance``, ``mesos.hostname``, ``thermos.task_id``, ``thermos.user``,
``thermos.ports[NAME]``); fill those in with the one runtime binder
(``contract/templates.py``, which the Mesos executor uses too); convert to ``TaskSpec``;
check the task rules. Binding follows pystachio (the binding closest to an object wins), a
job's task sees the job's fields (``{{role}}``, ``{{environment}}``) as in Aurora, and
``{{mesos.instance}}`` comes from ``--instance``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pystachio import Empty, Environment, Ref
from pystachio.base import Object
from pystachio.composite import Structural
from pystachio.container import ListContainer
from pystachio.parsing import MustacheParser

from borealis.contract.envelope import Announce, announce_from_json, port_plan
from borealis.contract.errors import InputError
from borealis.contract.portmap import PortMapError, PortPlan
from borealis.contract.reading import Reader
from borealis.contract.taskspec import TaskSpec
from borealis.contract.templates import RuntimeValues, UnboundTemplate, bind, is_runtime, port_of
from borealis.contract.validation import validate

from .loader import LoadedConfig
from .schema import MesosContext, MesosTaskInstance

_KIND = {
    "Integer": "an integer",
    "Float": "a number",
    "Boolean": "true or false",
    "String": "a string",
}


@dataclass
class Selection:
    """The task picked from a config, in scope, before the runner's bindings."""

    task: Any  # pystachio Task with user and mesos bindings
    job: Any | None = None  # the pystachio Job it came from, if any
    source: str = ""


@dataclass
class Bindings:
    user: dict[str, str] = field(default_factory=dict)  # --bind KEY=VALUE
    instance: int = 0
    hostname: str = "localhost"


def _names(items: list[Any], attr: str = "name") -> list[str]:
    names = []
    for item in items:
        value, refs = getattr(item, attr)().interpolate()
        names.append(str(value.get()) if not refs else "<unnamed>")
    return names


def _has(job: Any, attr: str) -> bool:
    return bool(getattr(job, f"has_{attr}")())


def _job_key(job: Any) -> str:
    parts = []
    for attr in ("cluster", "role", "environment", "name"):
        value = getattr(job, attr)()
        parts.append("?" if value is Empty else str(value.get()))
    return "/".join(parts)


def select(
    config: LoadedConfig,
    *,
    task: str | None = None,
    job: str | None = None,
    bindings: Bindings | None = None,
    on_host: bool = True,
) -> Selection:
    """Pick one task (Thermos ``export``) or one job (Aurora ``jobs``) from ``config``.

    ``on_host``: the task runs here, so ``mesos.instance`` and ``mesos.hostname`` are bound
    now, which a nested template such as ``{{hosts[{{mesos.instance}}]}}`` needs; otherwise
    (a job sent to a scheduler) they stay for the host's runtime binder, like ``thermos.*``.
    """
    bindings = bindings or Bindings()
    source = str(config.path)
    user_env = [Environment(bindings.user)] if bindings.user else []
    mesos = MesosContext(instance=bindings.instance, hostname=bindings.hostname)

    def here(obj: Any) -> Any:
        return obj.bind(mesos=mesos) if on_host else obj

    if task is not None and job is not None:
        raise InputError(source, "", "give --task or --job, not both")
    if job is not None or (task is None and not config.tasks and config.jobs):
        if not config.jobs:
            raise InputError(source, "jobs", "this config defines no jobs (it exports tasks)")
        jobs = [j.bind(*user_env) for j in config.jobs]
        if job is None:
            if len(jobs) > 1:
                keys = ", ".join(_job_key(j) for j in jobs)
                raise InputError(source, "jobs", f"several jobs, pick one with --job ({keys})")
            chosen = jobs[0]
        else:
            matches = [j for j in jobs if job in (_names([j])[0], _job_key(j))]
            if len(matches) != 1:
                keys = ", ".join(_job_key(j) for j in jobs)
                problem = "no job" if not matches else "several jobs"
                raise InputError(source, "jobs", f"{problem} named {job!r} (jobs: {keys})")
            chosen = matches[0]
        # Aurora's client still binds the deprecated {{mesos.role}} and {{mesos.cluster}}
        known = {k: getattr(chosen, k)() for k in ("role", "cluster") if _has(chosen, k)}
        if known:
            chosen = chosen.bind(mesos=MesosContext(**known))
        instance = MesosTaskInstance(
            task=chosen.find(Ref.from_address("task")),
            role=chosen.find(Ref.from_address("role")) if chosen.has_role() else "",
            environment=(
                chosen.find(Ref.from_address("environment")) if chosen.has_environment() else ""
            ),
            instance=bindings.instance,
        )
        scoped = here(instance).find(Ref.from_address("task"))
        return Selection(scoped, chosen, source)
    if not config.tasks:
        if config.jobs:
            raise InputError(source, "", "this config exports no tasks, only jobs (use --job)")
        raise InputError(source, "", "this config neither exports a task nor defines jobs")
    tasks = [here(t.bind(*user_env)) for t in config.tasks]
    if task is None:
        if len(tasks) > 1:
            names = ", ".join(_names(tasks))
            raise InputError(source, "", f"several tasks exported, pick one with --task ({names})")
        return Selection(tasks[0], None, source)
    matches = [t for t, name in zip(tasks, _names(tasks), strict=True) if name == task]
    if len(matches) != 1:
        names = ", ".join(_names(tasks))
        problem = "no task" if not matches else "several tasks"
        raise InputError(source, "", f"{problem} named {task!r} (tasks: {names})")
    return Selection(matches[0], None, source)


def to_plain(obj: Any, source: str, path: str = "") -> tuple[Any, list[tuple[str, str]]]:
    """Interpolate ``obj`` field by field into plain JSON values.

    Returns the value and the unbound references as ``(field path, ref)``.
    A value that cannot be coerced to its field's type raises ``InputError``.
    """
    unbound: list[tuple[str, str]] = []
    return _plain(obj, source, path, unbound), unbound


def _plain(obj: Any, source: str, path: str, unbound: list[tuple[str, str]]) -> Any:
    if isinstance(obj, Structural):
        out: dict[str, Any] = {}
        for name in obj.TYPEMAP:
            if getattr(obj, f"has_{name}")():
                child = obj.find(Ref.from_address(name))
                out[name] = _plain(child, source, f"{path}.{name}" if path else name, unbound)
        return out
    if isinstance(obj, ListContainer):
        return [
            _plain(obj.find(Ref.from_address(f"[{i}]")), source, f"{path}[{i}]", unbound)
            for i in range(len(obj.get()))
        ]
    try:
        value, refs = obj.interpolate()
        plain = value.get()
    except Object.CoercionError as e:
        raise InputError(source, path, _coercion_problem(obj, e)) from None
    except MustacheParser.Uninterpolatable as e:
        raise InputError(source, path, f"bad template: {e}") from None
    unbound.extend((path, ref.address()) for ref in refs)
    return _thaw(plain)


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):  # pystachio's frozendict is a dict
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


def _coercion_problem(obj: Any, error: Exception) -> str:
    kind = _KIND.get(type(obj).__name__)
    raw = getattr(obj, "_value", None)
    if kind and raw is not None:
        return f"expected {kind}, got {raw!r}"
    return str(error)


def task_name(selection: Selection) -> str:
    value, refs = selection.task.name().interpolate()
    return str(value.get()) if not refs else "task"


def unbound_problem(ref: str) -> str:
    port = port_of(ref)
    if port is not None:
        return f"port {port!r} is referenced but not given (pass --port {port}=NUMBER)"
    return f"unbound template {{{{{ref}}}}} (bind it with --bind {ref}=VALUE)"


def plain_task(selection: Selection, where: str = "") -> dict[str, Any]:
    """The selected task as JSON, every template bound but the runtime ones (errors name
    fields from ``where``: ``task`` inside a job document)."""
    plain, unbound = to_plain(selection.task, selection.source, where)
    if isinstance(plain, dict) and not plain.get("processes"):
        # before the unbound check: the default name {{processes[0].name}} cannot bind
        where_processes = f"{where}.processes" if where else "processes"
        raise InputError(selection.source, where_processes, "a task needs at least one process")
    for path, ref in unbound:
        if not is_runtime(ref):
            raise InputError(selection.source, path, unbound_problem(ref))
    assert isinstance(plain, dict)
    return plain


def announce_of(selection: Selection) -> Announce | None:
    """The selected job's ``Announcer`` (``None``: a Thermos task, or a job not announced)."""
    job = selection.job
    if job is None or not job.has_announce():
        return None
    plain, unbound = to_plain(job.announce(), selection.source, "announce")
    for path, ref in unbound:
        raise InputError(selection.source, path, unbound_problem(ref))
    return announce_from_json(Reader(selection.source), plain, "announce")


def resolve_ports(
    selection: Selection, task: dict[str, Any], given: dict[str, int]
) -> tuple[PortPlan, dict[str, int]]:
    """The task's port plan (contract/portmap.py) and every port's number from the ``given``
    ones (``--port``): static ports without a flag, aliases through their target."""
    plan = port_plan(announce_of(selection), task)
    try:
        return plan, plan.numbers(given)
    except PortMapError as e:
        raise InputError(selection.source, e.field, e.problem) from None


def build(selection: Selection, values: RuntimeValues) -> tuple[TaskSpec, dict[str, int]]:
    """The selected task with its runtime templates filled in from ``values`` (its ports:
    the given ones, resolved through the port map), checked; and every port's number."""
    source = selection.source
    task = plain_task(selection)
    plan, numbers = resolve_ports(selection, task, values.ports)
    try:
        spec = bind(task, replace(values, ports=numbers), source)
    except UnboundTemplate as e:
        root = plan.root(e.port) if e.port is not None else None
        if isinstance(root, str) and root != e.port:
            problem = (
                f"port {e.port!r} is an alias of {root!r}, which is not given "
                f"(pass --port {root}=NUMBER)"
            )
            raise InputError(source, e.field, problem) from None
        raise InputError(source, e.field, unbound_problem(e.ref)) from None
    validate(spec, source)
    return spec, numbers


def build_spec(selection: Selection, values: RuntimeValues) -> TaskSpec:
    """The selected task with its runtime templates filled in from ``values``, checked."""
    return build(selection, values)[0]
