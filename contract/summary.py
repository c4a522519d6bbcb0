"""A task's replayed state as plain JSON: what ``borealis status --json`` and the observer show.

One definition of the field names, so the command line and the observer's API agree
(docs/observer-api.md lists them). Standard library only.
"""

from __future__ import annotations

from typing import Any

from .replay import ProcessRun, RunnerState
from .taskspec import TaskSpec


def run_json(run: ProcessRun) -> dict[str, Any]:
    """One run of a process."""
    return {
        "run": run.run,
        "state": run.state.value,
        "pid": run.pid.pid if run.pid else None,
        "return_code": run.return_code,
        "waiting_time": run.waiting_time,
        "start_time": run.start_time,
        "stop_time": run.stop_time,
        "reason": run.reason or None,
        "warnings": list(run.warnings),
    }


def state_name(state: RunnerState) -> str:
    """The task's state, ``STARTING`` before the runner has written one."""
    current = state.task_state
    return current.value if current else "STARTING"


def process_names(state: RunnerState, spec: TaskSpec | None) -> list[str]:
    """The task's processes in config order (those the stream knows, without a config)."""
    return [p.name for p in spec.processes] if spec else list(state.processes)


def task_json(task_id: str, state: RunnerState, spec: TaskSpec | None) -> dict[str, Any]:
    """Header, state history and every run of every process (no resource figures)."""
    header = state.header
    last = state.statuses[-1] if state.statuses else None
    return {
        "task_id": task_id,
        "state": state_name(state),
        "cause": last.cause.value if last and last.cause else None,
        "reason": last.reason or None if last else None,
        "name": spec.name if spec else None,
        "sandbox": header.sandbox if header else None,
        "user": header.user if header else None,
        "hostname": header.hostname if header else None,
        "ports": header.ports if header else {},
        "launch_time": header.launch_time if header else None,
        # the container the task asked for and runs without, on the host (--ignore-container)
        "ignored_container": header.ignored_container or None if header else None,
        "runner_pid": state.runners[-1].identity.pid if state.runners else None,
        "history": [
            {"state": s.state.value, "time": s.time, "reason": s.reason or None}
            for s in state.statuses
        ],
        "processes": {
            name: [run_json(r) for r in state.runs(name)] for name in process_names(state, spec)
        },
    }
