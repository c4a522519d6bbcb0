"""What the executor tells Mesos when a task ends: a state, a reason, and a message saying why.

The state and the reason are chosen from values only: the runner's end state and its
recorded cause (``contract/causes.py``), or a cause the executor found itself
(``Failure``); the message is text rendered from them. Rewording a message cannot change what
Mesos, or the scheduler behind it, is told.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from borealis.contract.causes import OverLimit, Resource
from borealis.contract.mesos import MesosReason, MesosState
from borealis.contract.replay import RunnerState
from borealis.contract.states import ProcessState, TaskState


@dataclass(frozen=True)
class Final:
    state: MesosState
    message: str
    reason: MesosReason | None = None


class Why(enum.Enum):
    """A cause the executor finds itself, and what Mesos is told for it."""

    INVALID = "invalid"  # the TaskInfo (id, data, envelope, task) is refused
    CANNOT_START = "cannot_start"  # the runner could not be started at all
    RUNNER_REFUSED = "runner_refused"  # the runner exited without starting the task
    RUNNER_GONE = "runner_gone"  # the runner exited while the task was not over
    UNHEALTHY = "unhealthy"  # the health check failed
    NOT_ANNOUNCED = "not_announced"  # joining the serverset failed
    SECOND_TASK = "second_task"  # a LAUNCH for an executor that already runs a task


REPORTS: dict[Why, tuple[MesosState, MesosReason | None]] = {
    Why.INVALID: (MesosState.TASK_FAILED, MesosReason.REASON_TASK_INVALID),
    Why.CANNOT_START: (MesosState.TASK_FAILED, None),
    Why.RUNNER_REFUSED: (MesosState.TASK_FAILED, None),
    Why.RUNNER_GONE: (MesosState.TASK_LOST, MesosReason.REASON_EXECUTOR_TERMINATED),
    Why.UNHEALTHY: (
        MesosState.TASK_FAILED,
        MesosReason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
    ),
    Why.NOT_ANNOUNCED: (MesosState.TASK_FAILED, None),
    Why.SECOND_TASK: (MesosState.TASK_LOST, None),
}


@dataclass(frozen=True)
class Failure:
    why: Why
    message: str

    def final(self) -> Final:
        state, reason = REPORTS[self.why]
        return Final(state, self.message, reason)


LIMIT_REASONS = {
    Resource.DISK: MesosReason.REASON_CONTAINER_LIMITATION_DISK,
    Resource.RAM: MesosReason.REASON_CONTAINER_LIMITATION_MEMORY,
}


def final_status(state: RunnerState) -> Final:
    """The terminal Mesos status of a task whose runner reached a terminal state."""
    current = state.task_state
    assert current is not None and current.terminal
    last = state.statuses[-1]
    if current is TaskState.SUCCESS:
        return Final(MesosState.TASK_FINISHED, "task finished: every process succeeded")
    if current is TaskState.KILLED:
        return Final(MesosState.TASK_KILLED, last.reason or "task killed")
    if current is TaskState.LOST:
        return Final(
            MesosState.TASK_LOST,
            last.reason or "task lost",
            MesosReason.REASON_EXECUTOR_TERMINATED,
        )
    if isinstance(last.why, OverLimit):
        return Final(MesosState.TASK_FAILED, last.reason, LIMIT_REASONS[last.why.resource])
    failed = [
        runs[-1]
        for runs in state.processes.values()
        if runs and runs[-1].state is ProcessState.FAILED
    ]
    message = last.reason or "task failed"
    if failed:
        run = failed[0]
        code = f"exit code {run.return_code}" if run.return_code is not None else "no exit code"
        message = f"process {run.process!r} failed ({code}, run {run.run})" + (
            f": {last.reason}" if last.reason else ""
        )
    return Final(MesosState.TASK_FAILED, message, MesosReason.REASON_COMMAND_EXECUTOR_FAILED)
