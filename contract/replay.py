"""Rebuild a task's state from its runner stream.

The runner applies every record it writes with ``apply`` and nothing else
changes its state, so the state of a live runner always equals the state
replayed from its stream. The observer and ``borealis status`` use the same
code to read a task, either all at once (``load``) or incrementally as the
stream grows (``Follower``).

Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .records import (
    Header,
    Identity,
    ProcessStatus,
    ProcessWarning,
    Record,
    RecordError,
    RunnerStarted,
    TaskStatus,
    decode,
    decode_many,
    decode_object,
    process_fields,
)
from .states import (
    PROCESS_TRANSITIONS,
    TASK_TRANSITIONS,
    TERMINAL_PROCESS_STATES,
    ProcessState,
    TaskState,
)
from .stream import CorruptStream, StreamFollower, read_all, read_before


class TransitionError(ValueError):
    """A record asks for a state change that the state machines do not allow."""


@dataclass(slots=True)
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
    stream_offset: int | None = None  # where its records start in the process stream
    warnings: list[str] = field(default_factory=list)


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


def warning_is_new(state: RunnerState, record: ProcessWarning) -> bool:
    """Whether a coordinator's warning is news to ``state`` (see ``advances``)."""
    runs = state.processes.get(record.process, [])
    return record.run < len(runs) and record.seq == len(runs[record.run].warnings)


def apply(state: RunnerState, record: Record) -> None:
    """Apply one record to ``state`` in place, or raise ``TransitionError``."""
    if isinstance(record, ProcessStatus):
        _apply_process(state, record)
    elif isinstance(record, ProcessWarning):
        if not warning_is_new(state, record):
            raise TransitionError(
                f"process {record.process!r} run {record.run}: "
                f"warning {record.seq} is out of sequence"
            )
        state.processes[record.process][record.run].warnings.append(record.message)
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
    apply_process(
        state,
        record.process,
        record.run,
        record.state,
        record.time,
        record.coordinator,
        record.pid,
        record.return_code,
        record.reason,
        record.offset,
    )


def apply_process(
    state: RunnerState,
    process: str,
    number: int,
    new: ProcessState,
    time: float,
    coordinator: Identity | None,
    pid: Identity | None,
    return_code: int | None,
    reason: str,
    offset: int | None = None,
) -> None:
    """Apply one ``process`` record, given as its fields (see ``records.process_fields``)."""
    runs = state.processes.get(process)
    if runs is None:
        runs = state.processes[process] = []
    if new is _WAITING:
        if number != len(runs) or (runs and runs[-1].state not in TERMINAL_PROCESS_STATES):
            if not runs:
                del state.processes[process]
            raise TransitionError(
                f"process {process!r}: run {number} cannot start after {len(runs)} runs"
            )
        runs.append(ProcessRun(process, number, new, time, stream_offset=offset))
        return
    if not runs or number != len(runs) - 1:
        if not runs:
            del state.processes[process]
        raise TransitionError(
            f"process {process!r}: {new.value} for run {number}, which is not the current run"
        )
    run = runs[-1]
    if new not in PROCESS_TRANSITIONS[run.state]:
        raise TransitionError(
            f"process {process!r} run {number}: cannot go from {run.state.value} to {new.value}"
        )
    run.state = new
    if new is _FORKED:
        run.fork_time = time
        run.coordinator = coordinator
    elif new is _RUNNING:
        run.start_time = time
        run.pid = pid
    else:
        run.stop_time = time
        run.return_code = return_code
        run.reason = reason


_WAITING, _FORKED, _RUNNING = ProcessState.WAITING, ProcessState.FORKED, ProcessState.RUNNING


def replay(records: Iterable[Record]) -> RunnerState:
    state = RunnerState()
    for record in records:
        apply(state, record)
    return state


def decode_all(payloads: Iterable[bytes], name: str) -> list[Record]:
    payloads = list(payloads)
    try:
        return decode_many(payloads)
    except RecordError:
        pass
    records = []  # find the bad one, to name it
    for index, payload in enumerate(payloads):
        try:
            records.append(decode(payload))
        except RecordError as e:
            raise RecordError(f"{name}: record {index}: {e}") from None
    return records


def load(path: Path) -> RunnerState:
    """Replay a whole runner stream (tolerating a torn tail)."""
    return replay_payloads(read_all(path).payloads, str(path))


@dataclass(frozen=True)
class Salvage:
    """What can be read of a runner stream that may be damaged."""

    state: RunnerState  # every record before the damage
    problem: str | None  # why the rest cannot be read (names the file and offset), or None


def load_salvaged(path: Path) -> Salvage:
    """Replay a runner stream as far as it can be read.

    For the commands that must keep working on a damaged task (``status``
    lists the others; ``kill`` still stops its processes): the records before
    the first damaged frame or bad record are applied, the rest is reported.
    """
    try:
        return Salvage(load(path), None)
    except CorruptStream as e:
        payloads, problem = read_before(path, e.offset), str(e)
    except (RecordError, TransitionError) as e:
        payloads, problem = read_all(path).payloads, str(e)
    state = RunnerState()
    for payload in payloads:
        try:
            apply(state, decode(payload))
        except (RecordError, TransitionError, KeyError, TypeError, ValueError):
            break
    return Salvage(state, problem)


def replay_payloads(payloads: list[bytes], name: str) -> RunnerState:
    """The state a stream's payloads describe; errors name ``name`` and the record."""
    state = RunnerState()
    try:
        objects = json.loads(b"[" + b",".join(payloads) + b"]")
    except (UnicodeDecodeError, json.JSONDecodeError):
        objects = None
    if not isinstance(objects, list) or len(objects) != len(payloads):
        objects = None  # decode_all below says which record is bad
    index = 0
    try:
        if objects is None:
            for index, record in enumerate(decode_all(payloads, name)):  # noqa: B007 (read in the handler)
                apply(state, record)
            return state
        for index, obj in enumerate(objects):  # noqa: B007 (read in the handler)
            # the hot path: process records applied from their fields
            if type(obj) is dict and obj.get("t") == "process":
                apply_process(state, *process_fields(obj))
            else:
                apply(state, decode_object(obj))
    except (RecordError, TransitionError) as e:
        kind = type(e)
        raise kind(f"{name}: record {index}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise RecordError(f"{name}: record {index}: bad record: {e!r}") from None
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
