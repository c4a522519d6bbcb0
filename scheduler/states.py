"""Task states of the scheduler (Aurora's), and which changes are allowed.

::

                  +-----------+  delay over   +---------+  placed   +----------+
    (new run) --> | THROTTLED | ------------> | PENDING | --------> | ASSIGNED |
        |         +-----------+               +---------+           +----------+
        +---------------------------------------^   |                    | TASK_STARTING
                                                    | killed             v
                                                    v               +----------+
                                                 KILLED  <-------   | STARTING |
                                                    ^      KILLING  +----------+
                                                    |                    | TASK_RUNNING
                                               +---------+               v
                                               | KILLING | <------- +---------+
                                               +---------+  kill    | RUNNING |
                                                                    +---------+
                                         terminal: FINISHED, FAILED, KILLED, LOST

A run that ends (FINISHED, FAILED, KILLED, LOST) is never resumed; when the job wants the
instance again, a new run (a new task id) starts in PENDING, or in THROTTLED when the previous
run was flapping (ran shorter than the flapping threshold). ASSIGNED, STARTING and KILLING are
*transient*: a task stuck in one longer than the transient timeout becomes LOST.
"""

from __future__ import annotations

import enum


class TaskState(enum.Enum):
    THROTTLED = "THROTTLED"
    PENDING = "PENDING"
    ASSIGNED = "ASSIGNED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    KILLING = "KILLING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def transient(self) -> bool:
        return self in TRANSIENT

    @property
    def on_host(self) -> bool:
        """Whether the run holds resources on a host."""
        return self in (
            TaskState.ASSIGNED,
            TaskState.STARTING,
            TaskState.RUNNING,
            TaskState.KILLING,
        )


TERMINAL = frozenset({TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST})
TRANSIENT = frozenset({TaskState.ASSIGNED, TaskState.STARTING, TaskState.KILLING})

S = TaskState
ALLOWED: dict[TaskState, frozenset[TaskState]] = {
    S.THROTTLED: frozenset({S.PENDING, S.KILLED}),
    S.PENDING: frozenset({S.ASSIGNED, S.KILLED}),
    S.ASSIGNED: frozenset({S.STARTING, S.RUNNING, S.KILLING, *TERMINAL}),
    S.STARTING: frozenset({S.RUNNING, S.KILLING, *TERMINAL}),
    S.RUNNING: frozenset({S.KILLING, *TERMINAL}),
    S.KILLING: frozenset({S.KILLED, S.FINISHED, S.FAILED, S.LOST}),
    S.FINISHED: frozenset(),
    S.FAILED: frozenset(),
    S.KILLED: frozenset(),
    S.LOST: frozenset(),
}

# What an executor's (or agent's) Mesos state means for a run.
FROM_MESOS = {
    "TASK_STAGING": S.ASSIGNED,
    "TASK_STARTING": S.STARTING,
    "TASK_RUNNING": S.RUNNING,
    "TASK_KILLING": S.KILLING,
    "TASK_FINISHED": S.FINISHED,
    "TASK_FAILED": S.FAILED,
    "TASK_ERROR": S.FAILED,
    "TASK_KILLED": S.KILLED,
    "TASK_LOST": S.LOST,
    "TASK_DROPPED": S.LOST,
    "TASK_GONE": S.LOST,
    "TASK_GONE_BY_OPERATOR": S.LOST,
    "TASK_UNREACHABLE": S.LOST,
    "TASK_UNKNOWN": S.LOST,
}


def allowed(old: TaskState, new: TaskState) -> bool:
    return new in ALLOWED[old]
