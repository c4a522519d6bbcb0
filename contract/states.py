"""Task and process states, and the transitions allowed between them.

This is a leaf module (standard library only). The runner, the observer, the
executor and the CLI all name states through these enums; the checkpoint stores
their ``.value`` strings.

Task states::

        ACTIVE ──────────▶ CLEANING ──────────▶ FINALIZING ──────────▶ SUCCESS
             regular plan      │  every process       │  final plan       FAILED
             complete,         │  gone (SIGTERM,      │  complete, dead-  KILLED
             unhealthy,        │  then SIGKILL after  │  locked or out    LOST
             killed or lost    │  the kill grace)     │  of time
                               └──────────────────────┴──────────────────▶ (terminal)
                         lost, or finalization budget spent: skip FINALIZING

The cause is recorded when the task leaves ACTIVE: KILLED or LOST when it was
killed or lost, otherwise SUCCESS when the regular plan stayed healthy and
FAILED when it did not. That cause is the terminal state.

Process run states (one run = one coordinator = one ``/bin/bash -c`` child)::

        WAITING ──▶ FORKED ──▶ RUNNING ──▶ SUCCESS   (exit status 0)
           │          │          │   ├───▶ FAILED    (exit status > 0)
           │          │          │   └───▶ KILLED    (ended by a signal)
           │          │          └───────▶ LOST      (coordinator vanished)
           │          ├──────────────────▶ FAILED    (command could not start)
           │          └──────────────────▶ LOST
           └─────────────────────────────▶ LOST      (never forked; superseded)

WAITING is written by the runner before it forks; FORKED, RUNNING and the
exit states are written by the coordinator into its own stream and merged into
the runner's; LOST is only ever written by the runner.
"""

from __future__ import annotations

import enum


class TaskState(enum.Enum):
    ACTIVE = "ACTIVE"
    CLEANING = "CLEANING"
    FINALIZING = "FINALIZING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    KILLED = "KILLED"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_TASK_STATES


TERMINAL_TASK_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.KILLED, TaskState.LOST}
)

TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.ACTIVE: frozenset({TaskState.CLEANING}),
    TaskState.CLEANING: frozenset({TaskState.FINALIZING} | TERMINAL_TASK_STATES),
    TaskState.FINALIZING: TERMINAL_TASK_STATES,
    TaskState.SUCCESS: frozenset(),
    TaskState.FAILED: frozenset(),
    TaskState.KILLED: frozenset(),
    TaskState.LOST: frozenset(),
}


class ProcessState(enum.Enum):
    WAITING = "WAITING"
    FORKED = "FORKED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    KILLED = "KILLED"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_PROCESS_STATES

    @property
    def active(self) -> bool:
        return self in ACTIVE_PROCESS_STATES


TERMINAL_PROCESS_STATES = frozenset(
    {ProcessState.SUCCESS, ProcessState.FAILED, ProcessState.KILLED, ProcessState.LOST}
)
ACTIVE_PROCESS_STATES = frozenset({ProcessState.WAITING, ProcessState.FORKED, ProcessState.RUNNING})

PROCESS_TRANSITIONS: dict[ProcessState, frozenset[ProcessState]] = {
    ProcessState.WAITING: frozenset({ProcessState.FORKED, ProcessState.LOST}),
    ProcessState.FORKED: frozenset(
        {ProcessState.RUNNING, ProcessState.FAILED, ProcessState.KILLED, ProcessState.LOST}
    ),
    ProcessState.RUNNING: frozenset(
        {ProcessState.SUCCESS, ProcessState.FAILED, ProcessState.KILLED, ProcessState.LOST}
    ),
    ProcessState.SUCCESS: frozenset(),
    ProcessState.FAILED: frozenset(),
    ProcessState.KILLED: frozenset(),
    ProcessState.LOST: frozenset(),
}


def process_state_for_exit(return_code: int) -> ProcessState:
    """Map a wait status, as ``subprocess`` reports it, to the run's end state."""
    # exit 0 -> SUCCESS; exit N > 0 -> FAILED; killed by signal S (rc = -S) -> KILLED
    if return_code == 0:
        return ProcessState.SUCCESS
    if return_code > 0:
        return ProcessState.FAILED
    return ProcessState.KILLED


class ExitCode(enum.IntEnum):
    """Exit codes of ``borealis run``: the task's end state, or invalid input."""

    SUCCESS = 0
    FAILED = 1
    INVALID = 2
    KILLED = 3
    LOST = 4
    INTERNAL_ERROR = 101

    @classmethod
    def for_task_state(cls, state: TaskState) -> ExitCode:
        return {
            TaskState.SUCCESS: cls.SUCCESS,
            TaskState.FAILED: cls.FAILED,
            TaskState.KILLED: cls.KILLED,
            TaskState.LOST: cls.LOST,
        }.get(state, cls.INTERNAL_ERROR)
