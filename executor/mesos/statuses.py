"""From the runner's checkpoint to Mesos task states, with a message and reason saying why."""

from __future__ import annotations

from dataclasses import dataclass

from borealis.contract.replay import RunnerState
from borealis.contract.states import ProcessState, TaskState

MESOS_STATE = {
    TaskState.SUCCESS: "TASK_FINISHED",
    TaskState.FAILED: "TASK_FAILED",
    TaskState.KILLED: "TASK_KILLED",
    TaskState.LOST: "TASK_LOST",
}


@dataclass(frozen=True)
class Final:
    state: str
    message: str
    reason: str | None = None


def final_status(state: RunnerState) -> Final:
    """The terminal Mesos status of a task whose runner reached a terminal state."""
    current = state.task_state
    assert current is not None and current.terminal
    reason_text = state.statuses[-1].reason if state.statuses else ""
    if current is TaskState.SUCCESS:
        return Final("TASK_FINISHED", "task finished: every process succeeded")
    if current is TaskState.KILLED:
        return Final("TASK_KILLED", reason_text or "task killed")
    if current is TaskState.LOST:
        return Final("TASK_LOST", reason_text or "task lost", "REASON_EXECUTOR_TERMINATED")
    if "disk limit" in reason_text:
        return Final("TASK_FAILED", reason_text, "REASON_CONTAINER_LIMITATION_DISK")
    failed = [
        runs[-1]
        for runs in state.processes.values()
        if runs and runs[-1].state is ProcessState.FAILED
    ]
    if failed:
        run = failed[0]
        code = f"exit code {run.return_code}" if run.return_code is not None else "no exit code"
        message = f"process {run.process!r} failed ({code}, run {run.run})"
        if reason_text:
            message += f": {reason_text}"
        return Final("TASK_FAILED", message, "REASON_COMMAND_EXECUTOR_FAILED")
    return Final("TASK_FAILED", reason_text or "task failed", "REASON_COMMAND_EXECUTOR_FAILED")
