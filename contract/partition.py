"""What the scheduler does with a job's runs when their host stops answering: Aurora's
``PartitionPolicy`` as the job JSON's ``partition_policy`` field.

::

    {"reschedule": true, "delay_secs": 0}

A run whose host is unreachable is PARTITIONED (contract/schedule.py). With ``reschedule``
(the default, as Aurora), it is given up (LOST) once it has been PARTITIONED for
``delay_secs`` seconds, and a new run replaces it; without, the scheduler waits for the host
as long as it takes. A job-level setting: it changes no instance's config (docs/scheduler.md).

Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .reading import Reader, join_path


@dataclass(frozen=True)
class PartitionPolicy:
    reschedule: bool = True
    delay_secs: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"reschedule": self.reschedule, "delay_secs": self.delay_secs}

    def describe(self) -> str:
        """One line for ``job status``."""
        if not self.reschedule:
            return "wait for the host (never reschedule)"
        return f"reschedule after {self.delay_secs}s"


_KEYS = frozenset(PartitionPolicy().to_json())


def partition_from_json(r: Reader, value: Any, path: str) -> PartitionPolicy:
    obj = r.obj(value, path, _KEYS)
    reschedule = obj.get("reschedule", True)
    delay = obj.get("delay_secs", 0)
    return PartitionPolicy(
        reschedule=r.boolean(reschedule, join_path(path, "reschedule")),
        delay_secs=r.integer(delay, join_path(path, "delay_secs"), minimum=0),
    )


def from_aurora(plain: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``partition_policy`` field from an evaluated Aurora ``PartitionPolicy`` (plain
    values, or None when the job sets none: the defaults)."""
    if plain is None:
        return None
    return {k: plain[k] for k in ("reschedule", "delay_secs") if plain.get(k) is not None}
