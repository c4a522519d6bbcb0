"""A run's status in the scheduler (Aurora's ``ScheduleStatus``), which changes are allowed,
what a Mesos state means for it, and why a run is being stopped (``Intent``).

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
                                                    |               +---------+
                                                    |  host unreachable  |  ^ host back,
                                                    |  (STARTING too)    v  | task running
                                                    |              +-------------+
                                                    +------------> | PARTITIONED |
                                                                   +-------------+
                                                     policy's delay over, or stopped: LOST
                                         terminal: FINISHED, FAILED, KILLED, LOST

A run that ends (FINISHED, FAILED, KILLED, LOST) is never resumed; when the job wants the
instance again, a new run (a new task id) starts in PENDING, or in THROTTLED when the previous
run was flapping (ran shorter than the flapping threshold). ASSIGNED, STARTING and KILLING are
*transient*: a task stuck in one longer than the transient timeout becomes LOST.

PARTITIONED (Aurora's, from Mesos' TASK_UNREACHABLE): the run's host stopped answering, and
the run may still be running there. It goes back to what its host reports when the host
returns, or is given up as LOST by the job's ``partition_policy`` (contract/partition.py).
As in Aurora, ASSIGNED runs are not partitioned (the transient timeout covers them), and a
run the scheduler was stopping (KILLING) is LOST at once when its host is lost. One addition
to Aurora's transitions: PARTITIONED -> KILLED, for a run that was killed on its host while
the host was away (Aurora would ignore that report).

Standard library only.
"""

from __future__ import annotations

import enum

from .mesos import MesosState


class ScheduleStatus(enum.Enum):
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
    PARTITIONED = "PARTITIONED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def transient(self) -> bool:
        return self in TRANSIENT

    @property
    def on_host(self) -> bool:
        """Whether the run holds resources on a host."""
        return self in ON_HOST


S = ScheduleStatus
TERMINAL = frozenset({S.FINISHED, S.FAILED, S.KILLED, S.LOST})
TRANSIENT = frozenset({S.ASSIGNED, S.STARTING, S.KILLING})
# a PARTITIONED run still holds its resources: it may be running on its (unreachable) host
ON_HOST = frozenset({S.ASSIGNED, S.STARTING, S.RUNNING, S.KILLING, S.PARTITIONED})

ALLOWED: dict[ScheduleStatus, frozenset[ScheduleStatus]] = {
    S.THROTTLED: frozenset({S.PENDING, S.KILLED}),
    S.PENDING: frozenset({S.ASSIGNED, S.KILLED}),
    S.ASSIGNED: frozenset({S.STARTING, S.RUNNING, S.KILLING, *TERMINAL}),
    S.STARTING: frozenset({S.RUNNING, S.KILLING, S.PARTITIONED, *TERMINAL}),
    S.RUNNING: frozenset({S.KILLING, S.PARTITIONED, *TERMINAL}),
    S.KILLING: frozenset({S.KILLED, S.FINISHED, S.FAILED, S.LOST, S.PARTITIONED}),
    S.PARTITIONED: frozenset({S.ASSIGNED, S.STARTING, S.RUNNING, S.KILLING, *TERMINAL}),
    S.FINISHED: frozenset(),
    S.FAILED: frozenset(),
    S.KILLED: frozenset(),
    S.LOST: frozenset(),
}

M = MesosState
# What an executor's (or agent's) Mesos state means for a run.
FROM_MESOS: dict[MesosState, ScheduleStatus] = {
    M.TASK_STAGING: S.ASSIGNED,
    M.TASK_STARTING: S.STARTING,
    M.TASK_RUNNING: S.RUNNING,
    M.TASK_KILLING: S.KILLING,
    M.TASK_FINISHED: S.FINISHED,
    M.TASK_FAILED: S.FAILED,
    M.TASK_ERROR: S.FAILED,
    M.TASK_KILLED: S.KILLED,
    M.TASK_LOST: S.LOST,
    M.TASK_DROPPED: S.LOST,
    M.TASK_GONE: S.LOST,
    M.TASK_GONE_BY_OPERATOR: S.LOST,
    M.TASK_UNREACHABLE: S.PARTITIONED,
    # Aurora reads TASK_UNKNOWN as PARTITIONED too; here the master not knowing a task means
    # it is replaced at once (and killed if it turns up): a run the scheduler placed but the
    # master never launched would otherwise wait for the transient timeout
    M.TASK_UNKNOWN: S.LOST,
}


def allowed(old: ScheduleStatus, new: ScheduleStatus) -> bool:
    return new in ALLOWED[old]


class Intent(enum.Enum):
    """Why the scheduler is stopping a run; decides what replaces it."""

    NONE = ""  # not being stopped by the scheduler
    KILL = "kill"  # the job was killed: nothing replaces it
    RESTART = "restart"  # restarted by the user: replaced at once, never throttled
    LOST = "lost"  # stuck in a transient state: replaced, as any lost run
    UPDATE = "update"  # its instance's config changed: replaced at once by one running it
