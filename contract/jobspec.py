"""A job as the scheduler stores it: Aurora's ``Job``/``Service`` as JSON, evaluated from an
``.aurora`` file by the client (``borealis job create``); the scheduler never runs Python.

::

    {"key": {"cluster": "local", "role": "www-data", "environment": "devel", "name": "hello"},
     "instances": 5, "service": true, "max_task_failures": 1, "priority": 0,
     "contact": "team@example.com", "constraints": {"host": "limit:1"},
     "task": {...task JSON, runtime templates unbound...},
     "health_check": {...}, "announce": {...} or null, "lifecycle": {"http": {...} or null},
     "update": {...how updates roll out, contract/updatespec.py},
     "sla_policy": {...} or null (contract/slapolicy.py),
     "tier": "preemptible", "metadata": [...], "task_links": {...} (contract/jobmeta.py),
     "partition_policy": {"reschedule": true, "delay_secs": 0} (contract/partition.py),
     "container": {"docker": {...}} or {"mesos": {...}} (only when the job has one,
                  contract/container.py),
     "cron": {...when it runs, contract/cronspec.py} or null}

The task must reserve resources (``Resources(cpu, ram, disk)``); its named ports are the
``{{thermos.ports[NAME]}}`` it references, resolved through the announcer's port map
(``portmap.py``: an alias is its target's port, a static port its own number). Identifiers
follow Aurora: letters, digits, ``_``, ``.``, ``-``.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .container import ContainerSpec, container_from_json
from .cronspec import CronSettings, cron_from_json, refuse_service
from .envelope import (
    Announce,
    HealthCheck,
    HttpLifecycle,
    announce_from_json,
    health_from_json,
    health_to_json,
    lifecycle_from_json,
    lifecycle_to_json,
    port_plan,
)
from .jobkey import JobKey, job_key_from_json
from .jobmeta import (
    DEFAULT_TIER,
    PRODUCTION_TIERS,
    check_gpu,
    links_from_json,
    metadata_from_json,
    tier_from_json,
)
from .partition import PartitionPolicy, partition_from_json
from .reading import Reader, join_path, show
from .slapolicy import SlaPolicy, sla_from_json
from .taskspec import Resources, task_from_json
from .updatespec import UpdateSettings, update_from_json
from .validation import validate

MAX_INSTANCES = 10_000
MB = 1 << 20


@dataclass(frozen=True)
class JobSpec:
    key: JobKey
    task: dict[str, Any]
    resources: Resources
    instances: int = 1
    service: bool = False
    max_task_failures: int = 1
    priority: int = 0
    contact: str | None = None
    constraints: dict[str, str] = field(default_factory=dict)
    health_check: HealthCheck = field(default_factory=HealthCheck)
    announce: Announce | None = None
    lifecycle: HttpLifecycle | None = field(default_factory=HttpLifecycle)
    update: UpdateSettings = field(default_factory=UpdateSettings)
    sla_policy: SlaPolicy | None = None
    tier: str = DEFAULT_TIER
    metadata: tuple[tuple[str, str], ...] = ()
    task_links: dict[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        """As Aurora's scheduler derives it: only a production tier is."""
        return self.tier in PRODUCTION_TIERS

    partition_policy: PartitionPolicy = field(default_factory=PartitionPolicy)
    container: ContainerSpec | None = None
    cron: CronSettings | None = None  # a cron job: docs/cron.md

    @property
    def ports(self) -> tuple[str, ...]:
        """The named ports each instance needs a number allocated for: never an alias of
        another port, never a static one (contract/portmap.py)."""
        return port_plan(self.announce, self.task).requested

    @property
    def static_ports(self) -> dict[str, int]:
        """The announcer's static ports (``portmap={'http': '80'}``): each instance needs
        that exact number on its host."""
        return port_plan(self.announce, self.task).static_roots()

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key.to_json(),
            "instances": self.instances,
            "service": self.service,
            "max_task_failures": self.max_task_failures,
            "priority": self.priority,
            "contact": self.contact,
            "constraints": dict(self.constraints),
            "task": self.task,
            "health_check": health_to_json(self.health_check),
            "announce": None if self.announce is None else dict(self.announce.__dict__),
            "lifecycle": lifecycle_to_json(self.lifecycle),
            "update": self.update.to_json(),
            "sla_policy": None if self.sla_policy is None else self.sla_policy.to_json(),
            "tier": self.tier,
            "metadata": [{"key": k, "value": v} for k, v in self.metadata],
            "task_links": dict(self.task_links),
            "partition_policy": self.partition_policy.to_json(),
            # only when set: the config_id of a job without one stays what it was
            **({} if self.container is None else {"container": self.container.to_json()}),
            "cron": None if self.cron is None else self.cron.to_json(),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @property
    def config_id(self) -> str:
        """A hash of everything an instance runs with: two submissions of the same task share
        it, and an update touches only the instances whose id changes. The instance count and
        the update settings, the partition policy, the SLA policy, the tier, the metadata, the
        task links and the cron settings are the job's, not an instance's, so they are not part
        of it (changing them restarts nothing)."""
        value = self.to_json()
        job_level_fields = (
            "instances",
            "update",
            "partition_policy",
            "sla_policy",
            "tier",
            "metadata",
            "task_links",
            "cron",
        )
        for job_level in job_level_fields:
            del value[job_level]
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_KEYS = frozenset(
    {
        "key",
        "instances",
        "service",
        "max_task_failures",
        "priority",
        "contact",
        "constraints",
        "task",
        "health_check",
        "announce",
        "lifecycle",
        "update",
        "sla_policy",
        "tier",
        "metadata",
        "task_links",
        "partition_policy",
        "container",
        "cron",
    }
)


def job_from_json(value: Any, source: str = "job") -> JobSpec:
    """A checked job (``InputError`` names the field); its task obeys the task rules."""
    r = Reader(source)
    obj = r.obj(value, "", _KEYS)
    for required in ("key", "task"):
        if required not in obj:
            raise r.fail(required, "required field is missing")
    key = job_key_from_json(r, obj["key"], "key", cluster=True)
    spec = task_from_json(obj["task"], f"{source}: task")
    validate(spec, f"{source}: task")
    if spec.resources is None:
        raise r.fail("task.resources", "a job's task must reserve resources (cpu, ram, disk)")
    # as Aurora's scheduler: num_cpus, ram_mb and disk_mb must each be greater than 0
    for name, value, least in (
        ("cpu", spec.resources.cpu, 0.0),
        ("ram", spec.resources.ram, MB - 1),
        ("disk", spec.resources.disk, MB - 1),
    ):
        if not value > least:
            unit = "" if name == "cpu" else " (at least 1 MB)"
            raise r.fail(f"task.resources.{name}", f"must be greater than 0{unit}, got {value}")
    check_gpu(r, spec.resources.gpu, "task.resources.gpu")
    instances = r.optional(obj, "instances", "", lambda v, p: r.integer(v, p, minimum=1), 1)
    if instances > MAX_INSTANCES:
        raise r.fail("instances", f"at most {MAX_INSTANCES} instances")
    constraints = obj.get("constraints") or {}
    if not isinstance(constraints, dict):
        raise r.fail("constraints", f"expected an object, got {show(constraints)}")
    for name, text in constraints.items():
        r.string(text, join_path("constraints", name), nonempty=True)
    cron = None
    if obj.get("cron") is not None:
        cron = cron_from_json(r, obj["cron"], "cron")
        refuse_service(r, obj.get("service") is True, "cron")
    lifecycle = HttpLifecycle()
    if obj.get("lifecycle") is not None:
        lifecycle = lifecycle_from_json(r, obj["lifecycle"], "lifecycle")  # type: ignore[assignment]
    return JobSpec(
        key=key,
        task=obj["task"],
        resources=spec.resources,
        instances=instances,
        service=r.optional(obj, "service", "", r.boolean, False),
        max_task_failures=r.optional(
            obj, "max_task_failures", "", lambda v, p: r.integer(v, p, minimum=-1), 1
        ),
        priority=r.optional(obj, "priority", "", lambda v, p: r.integer(v, p, minimum=None), 0),
        contact=r.optional(obj, "contact", "", r.string, None),
        constraints=dict(constraints),
        health_check=r.optional(
            obj, "health_check", "", lambda v, p: health_from_json(r, v, p), HealthCheck()
        ),
        announce=r.optional(obj, "announce", "", lambda v, p: announce_from_json(r, v, p), None),
        lifecycle=lifecycle,
        update=r.optional(
            obj, "update", "", lambda v, p: update_from_json(r, v, p), UpdateSettings()
        ),
        sla_policy=r.optional(obj, "sla_policy", "", lambda v, p: sla_from_json(r, v, p), None),
        tier=r.optional(obj, "tier", "", lambda v, p: tier_from_json(r, v, p), DEFAULT_TIER),
        metadata=r.optional(obj, "metadata", "", lambda v, p: metadata_from_json(r, v, p), ()),
        task_links=r.optional(obj, "task_links", "", lambda v, p: links_from_json(r, v, p), {}),
        partition_policy=r.optional(
            obj,
            "partition_policy",
            "",
            lambda v, p: partition_from_json(r, v, p),
            PartitionPolicy(),
        ),
        container=r.optional(obj, "container", "", lambda v, p: container_from_json(r, v, p), None),
        cron=cron,
    )
