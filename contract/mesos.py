"""Mesos task states and status reasons, as enums: what the executor reports, the agent stores
and the scheduler acts on (``mesos.proto``'s ``TaskState`` and ``TaskStatus.Reason``; the
values are the names the v1 HTTP APIs carry in JSON).

Text from the wire becomes a member with ``MesosState.parse`` at the edge (``None`` for a name
this version does not know), and decisions are taken on members only: a message may be
reworded without changing what Mesos or the scheduler is told.

Standard library only.
"""

from __future__ import annotations

import enum


class MesosState(enum.Enum):
    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    TASK_UNKNOWN = "TASK_UNKNOWN"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @classmethod
    def parse(cls, text: object) -> MesosState | None:
        return _BY_NAME.get(text) if isinstance(text, str) else None


TERMINAL = frozenset(
    {
        MesosState.TASK_FINISHED,
        MesosState.TASK_FAILED,
        MesosState.TASK_KILLED,
        MesosState.TASK_ERROR,
        MesosState.TASK_LOST,
        MesosState.TASK_DROPPED,
        MesosState.TASK_GONE,
        MesosState.TASK_GONE_BY_OPERATOR,
    }
)
_BY_NAME = {state.value: state for state in MesosState}


class MesosReason(enum.Enum):
    """The ``TaskStatus.reason`` values Borealis sends (the proto has many more)."""

    REASON_COMMAND_EXECUTOR_FAILED = "REASON_COMMAND_EXECUTOR_FAILED"
    REASON_CONTAINER_LIMITATION_DISK = "REASON_CONTAINER_LIMITATION_DISK"
    REASON_CONTAINER_LIMITATION_MEMORY = "REASON_CONTAINER_LIMITATION_MEMORY"
    REASON_EXECUTOR_TERMINATED = "REASON_EXECUTOR_TERMINATED"
    REASON_TASK_INVALID = "REASON_TASK_INVALID"
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
