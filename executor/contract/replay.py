"""Rebuild a task's state from its runner stream.

The runner applies every record it writes with ``apply`` and nothing else
changes its state, so the state of a live runner always equals the state
replayed from its stream. The observer and ``borealis status`` use the same
code to read a task, either all at once (``load``) or incrementally as the
stream grows (``Follower``).

Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .records import (
    Header,
    Identity,
    ProcessStatus,
    Record,
    RecordError,
    RunnerStarted,
    TaskStatus,
    decode,
)
from .states import PROCESS_TRANSITIONS, TASK_TRANSITIONS, ProcessState, TaskState
from .stream import StreamFollower, read_all


class TransitionError(ValueError):
    """A record asks for a state change that the state machines do not allow."""


@dataclass
class ProcessRun:
    process: str
    run: int
    state: ProcessState
    waiting_time: float
    fork_time: float | None = None
    start_time: float | None = None
    stop_time: float | None = None
    coordinator: Identity | None = None
    pid: Identity | None = None
    return_code: int | None = None
    reason: str = ""


@dataclass
class RunnerState:
    header: Header | None = None
    statuses: list[TaskStatus] = field(default_factory=list)
    runners: list[RunnerStarted] = field(default_factory=list)
    processes: dict[str, list[ProcessRun]] = field(default_factory=dict)

    @property
    def task_state(self) -> TaskState | None:
        return self.statuses[-1].state if self.statuses else None

    @property
    def cause(self) -> TaskState | None:
        return self.statuses[-1].cause if self.statuses else None

    def entered(self, state: TaskState) -> float | None:
        """When the task first entered ``state``, if it did."""
        for status in self.statuses:
            if status.state is state:
                return status.time
        return None

    def runs(self, process: str) -> list[ProcessRun]:
        return self.processes.get(process, [])

    def last_run(self, process: str) -> ProcessRun | None:
        runs = self.processes.get(process)
        return runs[-1] if runs else None

    def active_runs(self) -> list[ProcessRun]:
        return [runs[-1] for runs in self.processes.values() if runs and runs[-1].state.active]


def advances(state: RunnerState, record: ProcessStatus) -> bool:
    """Whether a coordinator's record is news to ``state`` (merge it) or already known."""
    runs = state.processes.get(record.process, [])
    if record.run < len(runs) - 1:
        return False  # an earlier run: everything about it is already merged
    if record.run >= len(runs):
        raise TransitionError(
            f"process {record.process!r}: record for run {record.run} "
            f"but only {len(runs)} runs were started"
        )
    current = runs[-1].state
    if record.state is current or current.terminal:
        return False
    return record.state in PROCESS_TRANSITIONS[current]


def apply(state: RunnerState, record: Record) -> None:
    """Apply one record to ``state`` in place, or raise ``TransitionError``."""
    if isinstance(record, ProcessStatus):
        _apply_process(state, record)
    elif isinstance(record, TaskStatus):
        _apply_task(state, record)
    elif isinstance(record, RunnerStarted):
        state.runners.append(record)
    else:
        if state.header is not None:
            raise TransitionError("a second header record")
        state.header = record


def _apply_task(state: RunnerState, record: TaskStatus) -> None:
    current = state.task_state
    if current is None:
        if record.state is not TaskState.ACTIVE:
            raise TransitionError(f"task starts in {record.state.value}, not ACTIVE")
    elif record.state is current:
        # Same state, new cause: a kill or a loss arriving while cleaning up. The
        # cause is fixed on leaving ACTIVE, and a terminal state is final.
        if current is TaskState.ACTIVE or current.terminal:
            raise TransitionError(f"task cannot re-enter {current.value}")
        if record.cause not in (TaskState.KILLED, TaskState.LOST):
            raise TransitionError(f"task re-enters {current.value} without a new cause")
    elif record.state not in TASK_TRANSITIONS[current]:
        raise TransitionError(f"task cannot go from {current.value} to {record.state.value}")
    state.statuses.append(record)


def _apply_process(state: RunnerState, record: ProcessStatus) -> None:
    runs = state.processes.setdefault(record.process, [])
    if record.state is ProcessState.WAITING:
        if record.run != len(runs) or (runs and not runs[-1].state.terminal):
            raise TransitionError(
                f"process {record.process!r}: run {record.run} cannot start after {len(runs)} runs"
            )
        runs.append(ProcessRun(record.process, record.run, ProcessState.WAITING, record.time))
        return
    if not runs or record.run != len(runs) - 1:
        raise TransitionError(
            f"process {record.process!r}: {record.state.value} for run {record.run}, "
            f"which is not the current run"
        )
    run = runs[-1]
    if record.state not in PROCESS_TRANSITIONS[run.state]:
        raise TransitionError(
            f"process {record.process!r} run {record.run}: "
            f"cannot go from {run.state.value} to {record.state.value}"
        )
    run.state = record.state
    if record.state is ProcessState.FORKED:
        run.fork_time = record.time
        run.coordinator = record.coordinator
    elif record.state is ProcessState.RUNNING:
        run.start_time = record.time
        run.pid = record.pid
    else:
        run.stop_time = record.time
        run.return_code = record.return_code
        run.reason = record.reason


def replay(records: Iterable[Record]) -> RunnerState:
    state = RunnerState()
    for record in records:
        apply(state, record)
    return state


def decode_all(payloads: Iterable[bytes], name: str) -> list[Record]:
    records = []
    for index, payload in enumerate(payloads):
        try:
            records.append(decode(payload))
        except RecordError as e:
            raise RecordError(f"{name}: record {index}: {e}") from None
    return records


def load(path: Path) -> RunnerState:
    """Replay a whole runner stream (tolerating a torn tail)."""
    scan = read_all(path)
    state = RunnerState()
    for index, record in enumerate(decode_all(scan.payloads, str(path))):
        try:
            apply(state, record)
        except TransitionError as e:
            raise TransitionError(f"{path}: record {index}: {e}") from None
    return state


class Follower:
    """Keeps a ``RunnerState`` current by reading only what was appended since last time."""

    def __init__(self, path: Path) -> None:
        self._stream = StreamFollower(path)
        self.state = RunnerState()

    @property
    def offset(self) -> int:
        return self._stream.offset

    def update(self) -> bool:
        """Read new records; return whether anything changed."""
        payloads = self._stream.read_new()
        for record in decode_all(payloads, str(self._stream.path)):
            apply(self.state, record)
        return bool(payloads)

    def close(self) -> None:
        self._stream.close()
