"""A job's SLA policy: Aurora's ``sla_policy`` as the job JSON's ``sla_policy`` field.

::

    null
    {"kind": "count", "count": 2, "duration_secs": 1800}
    {"kind": "percentage", "percentage": 95.0, "duration_secs": 1800}
    {"kind": "coordinator", "coordinator_url": "http://coord:8080/", "status_key": "drain"}

An instance is *up* when its run has been RUNNING for at least ``duration_secs``; the policy
says how many instances must stay up while an action that checks SLA (an update with
``UpdateConfig(sla_aware=True)``, docs/sla.md) takes some down. Checked as Aurora's scheduler
checks it: the policy must let at least one instance go down, and ``duration_secs`` is at most
Aurora's default cluster maximum (2 hours). A coordinator policy hands the decision to the
job's own service (``scheduler/updates/coordinator.py``: Aurora's protocol), which is asked
before each instance goes down; its URL must be ``http://`` or ``https://``.

The policy is the job's, not an instance's: it is not part of ``JobSpec.config_id``, so
changing it restarts nothing.

Standard library only.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .reading import Reader, join_path, show

MAX_DURATION_SECS = 7200  # Aurora's scheduler default, -max_sla_duration_secs


class SlaKind(enum.Enum):
    COUNT = "count"
    PERCENTAGE = "percentage"
    COORDINATOR = "coordinator"


@dataclass(frozen=True)
class SlaPolicy:
    kind: SlaKind
    duration_secs: int = 0  # COUNT, PERCENTAGE: how long a run must be RUNNING to count as up
    count: int = 0  # COUNT: instances that must stay up
    percentage: float = 0.0  # PERCENTAGE: share of the active instances that must stay up
    coordinator_url: str = ""  # COORDINATOR: whom to ask
    status_key: str = "drain"  # COORDINATOR: the answer's field that says yes or no

    def to_json(self) -> dict[str, Any]:
        if self.kind is SlaKind.COORDINATOR:
            return {
                "kind": self.kind.value,
                "coordinator_url": self.coordinator_url,
                "status_key": self.status_key,
            }
        value: dict[str, Any] = {"kind": self.kind.value, "duration_secs": self.duration_secs}
        if self.kind is SlaKind.COUNT:
            value["count"] = self.count
        else:
            value["percentage"] = self.percentage
        return value

    def describe(self) -> str:
        """One line for people: ``count: 2 up for 60s``."""
        if self.kind is SlaKind.COORDINATOR:
            return f"coordinator: asks {self.coordinator_url} ({self.status_key})"
        if self.kind is SlaKind.COUNT:
            need = f"{self.count} up"
        else:
            need = f"{self.percentage:g}% up"
        return f"{self.kind.value}: {need} for {self.duration_secs}s"


_KEYS = {
    SlaKind.COUNT: frozenset({"kind", "count", "duration_secs"}),
    SlaKind.PERCENTAGE: frozenset({"kind", "percentage", "duration_secs"}),
    SlaKind.COORDINATOR: frozenset({"kind", "coordinator_url", "status_key"}),
}


def sla_from_json(r: Reader, value: Any, path: str) -> SlaPolicy:
    """A checked policy (``InputError`` names the field); ``check_room`` checks it against
    the job's instance count when a job is submitted."""
    if not isinstance(value, dict):
        raise r.fail(path, f"expected an object, got {show(value)}")
    kind = SlaKind(r.choice(value.get("kind"), join_path(path, "kind"), _kinds()))
    obj = r.obj(value, path, _KEYS[kind])
    for required in _KEYS[kind]:
        if required not in obj and required != "status_key":
            raise r.fail(join_path(path, required), "required field is missing")
    if kind is SlaKind.COORDINATOR:
        url = r.string(obj["coordinator_url"], join_path(path, "coordinator_url"), nonempty=True)
        if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
            raise r.fail(
                join_path(path, "coordinator_url"), f"expected an http(s) URL, got {url!r}"
            )
        key = r.optional(obj, "status_key", path, r.string, "drain")
        return SlaPolicy(kind, coordinator_url=url, status_key=key)
    duration = r.integer(obj["duration_secs"], join_path(path, "duration_secs"), minimum=0)
    if duration > MAX_DURATION_SECS:
        raise r.fail(
            join_path(path, "duration_secs"),
            f"must be at most {MAX_DURATION_SECS} (Aurora's cluster maximum), got {duration}",
        )
    if kind is SlaKind.COUNT:
        count = r.integer(obj["count"], join_path(path, "count"), minimum=0)
        return SlaPolicy(kind, duration, count=count)
    percentage = r.number(obj["percentage"], join_path(path, "percentage"))
    if percentage > 100:
        raise r.fail(join_path(path, "percentage"), f"expected 0 to 100, got {percentage:g}")
    return SlaPolicy(kind, duration, percentage=percentage)


def check_room(policy: SlaPolicy | None, instances: int, source: str) -> None:
    """As Aurora's scheduler at submission: a policy must let at least one of the job's
    ``instances`` go down (``InputError`` otherwise). Not checked when a stored job is read
    back: killing instances may leave less room, and the arithmetic then lets one go down,
    as Aurora's does."""
    if policy is None:
        return
    if policy.kind is SlaKind.COUNT and instances - policy.count < 1:
        raise InputError(
            source,
            "sla_policy.count",
            f"count={policy.count} lets no instance go down: must be less than instances "
            f"({instances})",
        )
    if policy.kind is SlaKind.PERCENTAGE and instances - instances * policy.percentage / 100 < 1:
        most = math.floor((instances - 1) / instances * 100_000) / 1000
        raise InputError(
            source,
            "sla_policy.percentage",
            f"percentage={policy.percentage:g} lets no instance of {instances} go down: must "
            f"be at most {most:g}",
        )


def _kinds() -> tuple[str, ...]:
    return tuple(k.value for k in SlaKind)


def sla_from_aurora(plain: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``sla_policy`` field from Aurora's evaluated policy (plain values), or None."""
    if not plain:
        return None
    if "coordinator_url" in plain:
        return {
            "kind": "coordinator",
            "coordinator_url": plain["coordinator_url"],
            "status_key": plain.get("status_key", "drain"),
        }
    if "count" in plain:
        return {"kind": "count", "count": plain["count"], "duration_secs": plain["duration_secs"]}
    return {
        "kind": "percentage",
        "percentage": plain.get("percentage"),
        "duration_secs": plain.get("duration_secs"),
    }
