"""From an ``.aurora`` job to the job JSON the scheduler stores (``contract/jobspec.py``).

The task keeps its runtime templates (``{{thermos.ports[NAME]}}``, ``{{mesos.instance}}``,
``{{mesos.hostname}}``, ``{{thermos.task_id}}``, ``{{thermos.user}}``) for the executor to
fill in on each host; any other unbound template is an error here, on the client, where the
user can fix it.
"""

from __future__ import annotations

import math
from typing import Any

from borealis.contract import cronspec
from borealis.contract.errors import InputError
from borealis.contract.jobmeta import refuse_unsupported, tier_from_aurora
from borealis.contract.jobspec import JobSpec, job_from_json
from borealis.contract.partition import from_aurora as partition_from_aurora
from borealis.contract.reading import Reader
from borealis.contract.slapolicy import check_room, sla_from_aurora
from borealis.contract.templates import is_runtime
from borealis.contract.updatespec import from_aurora, update_from_json

from . import containerdoc, convert
from .loader import LoadedConfig


def job_document(
    config: LoadedConfig,
    job: str | None,
    bindings: convert.Bindings,
    warnings: list[str] | None = None,
) -> JobSpec:
    """The job JSON of ``job``, checked; what it ignores with a warning goes to ``warnings``."""
    warn: list[str] = [] if warnings is None else warnings
    selection = convert.select(config, job=job, bindings=bindings, on_host=False)
    source = selection.source
    if selection.job is None:
        raise InputError(source, "jobs", "this config exports a task, not a job")
    container = containerdoc.container_of(selection)  # first: its unbound templates' own words
    plain, unbound = convert.to_plain(selection.job, source)
    for path, ref in unbound:
        if not is_runtime(ref):
            raise InputError(source, path, convert.unbound_problem(ref))
    task = convert.plain_task(selection, "task")
    document: dict[str, Any] = {
        "key": {k: plain.get(k) for k in ("cluster", "role", "environment", "name")},
        "instances": plain.get("instances", 1),
        "service": plain.get("service", False),
        "max_task_failures": plain.get("max_task_failures", 1),
        "priority": plain.get("priority", 0),
        "contact": plain.get("contact"),
        "constraints": plain.get("constraints") or {},
        "task": task,
        "health_check": plain.get("health_check_config"),
        "announce": plain.get("announce"),
        "lifecycle": plain.get("lifecycle") or {"http": None},
        "update": from_aurora(plain.get("update_config") or {}, source),
        "sla_policy": sla_from_aurora(plain.get("sla_policy")),
        "tier": tier_from_aurora(plain, source, warn),
        "metadata": plain.get("metadata") or [],
        "task_links": plain.get("task_links") or {},
        "partition_policy": partition_from_aurora(plain.get("partition_policy")),
        "cron": cronspec.from_aurora(plain, warn.append),
    }
    refuse_unsupported(plain, source, warn)
    if container is not None:
        document["container"] = container.to_json()
    # checked here first so that an error names the config's field, update_config
    settings = update_from_json(Reader(source), document["update"], "update_config")
    if document["cron"] is not None:  # here too: errors name the .aurora fields
        reader = Reader(source)
        cronspec.cron_from_json(reader, document["cron"], "", cronspec.AURORA_NAMES)
        cronspec.refuse_service(reader, document["service"] is True, "cron_schedule")
    spec = job_from_json(document, source)
    check_room(spec.sla_policy, spec.instances, source)
    if settings.max_total_failures >= spec.instances:  # as Aurora's client
        raise InputError(
            source,
            "update_config.max_total_failures",
            f"must be less than the job's instances ({spec.instances}), got "
            f"{settings.max_total_failures}",
        )
    least = math.floor(spec.instances * 0.02)
    if "dedicated" in spec.constraints and settings.max_total_failures < least:
        raise InputError(  # as Aurora's client, for jobs on dedicated hosts
            source,
            "update_config.max_total_failures",
            f"a dedicated job must tolerate 2% of its instances failing in an update: at "
            f"least {least}, got {settings.max_total_failures}",
        )
    if settings.sla_aware and spec.sla_policy is None:
        warn.append("update_config.sla_aware=True has no effect: the job has no sla_policy")
    return spec
