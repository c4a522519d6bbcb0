"""Checkpoint record types and their encoding (format version 1).

Each frame of a stream (see ``stream.py``) holds one record: a JSON object
whose ``"t"`` key names its type. Unknown keys are ignored, so a newer writer
may add optional fields without a format bump; removing or re-typing a field
needs ``FORMAT_VERSION`` to go up and a fixture for the old version.

=========  ===========================================================  =========================
type       meaning                                                      written by
=========  ===========================================================  =========================
header     task id, sandbox, user, ports, host, boot id, format, and    runner (first record)
           the container it runs without (``--ignore-container``)
runner     a runner process took control (pid + start ticks)            runner
task       the task entered a state (or its cause changed), and why     runner
process    a process run entered a state                                runner, coordinator
warning    a run's coordinator could not do something (disk full)       coordinator
=========  ===========================================================  =========================

Coordinator streams hold only ``process`` and ``warning`` records of their own
process; the runner copies each one into its own stream when it merges it.

Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from .causes import Cause, cause_from_json, cause_to_json, describe
from .runrecords import process_status, process_warning
from .states import ProcessState, TaskState

FORMAT_VERSION = 1


class RecordError(ValueError):
    """A frame decoded to something that is not a valid record."""


class Identity(NamedTuple):
    """A process, named so that a recycled pid can never be mistaken for it."""

    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: start time in clock ticks since boot

    def to_json(self) -> list[int]:
        return [self.pid, self.start_ticks]

    @classmethod
    def from_json(cls, value: Any) -> Identity:
        if (
            type(value) is not list
            or len(value) != 2
            or type(value[0]) is not int
            or type(value[1]) is not int
        ):
            raise RecordError(f"bad process identity {value!r}")
        return _new_tuple(cls, value)


_new_tuple = tuple.__new__  # skips NamedTuple's Python-level __new__ (replay's hot path)


@dataclass(frozen=True)
class Header:
    task_id: str
    sandbox: str
    log_dir: str
    hostname: str
    user: str
    uid: int
    ports: dict[str, int]
    launch_time: float
    boot_id: str
    format: int = FORMAT_VERSION
    # The container the task asked for and runs without, on the host (``--ignore-container``);
    # written only when set, so older readers see a header as before.
    ignored_container: str = ""


@dataclass(frozen=True)
class RunnerStarted:
    identity: Identity
    time: float
    boot_id: str


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState
    time: float
    # The terminal state this task is headed for, fixed when it leaves ACTIVE.
    cause: TaskState | None = None
    reason: str = ""  # ``describe(why)`` when there is a why: the text readers show
    why: Cause | None = None  # what made it leave ACTIVE, as a value (``causes.py``)

    @classmethod
    def because(cls, state: TaskState, time: float, cause: TaskState, why: Cause) -> TaskStatus:
        """A status whose reason is rendered from ``why``."""
        return cls(state, time, cause, describe(why), why)


@dataclass(slots=True)
class ProcessStatus:
    process: str
    run: int
    state: ProcessState
    time: float
    coordinator: Identity | None = None  # FORKED
    pid: Identity | None = None  # RUNNING
    return_code: int | None = None  # SUCCESS / FAILED / KILLED
    reason: str = ""
    offset: int | None = None  # WAITING: where this run's records start in the process stream


@dataclass(frozen=True)
class ProcessWarning:
    """Something a run's coordinator could not do (e.g. write its log: disk full)."""

    process: str
    run: int
    seq: int  # 0, 1, 2... within the run: a warning merged twice is recognised
    time: float
    message: str


Record = Header | RunnerStarted | TaskStatus | ProcessStatus | ProcessWarning


def encode(record: Record) -> bytes:
    obj: dict[str, Any]
    if isinstance(record, Header):
        obj = {
            "t": "header",
            "format": record.format,
            "task_id": record.task_id,
            "sandbox": record.sandbox,
            "log_dir": record.log_dir,
            "hostname": record.hostname,
            "user": record.user,
            "uid": record.uid,
            "ports": record.ports,
            "launch_time": record.launch_time,
            "boot_id": record.boot_id,
        }
        if record.ignored_container:
            obj["ignored_container"] = record.ignored_container
    elif isinstance(record, RunnerStarted):
        obj = {
            "t": "runner",
            "id": record.identity.to_json(),
            "time": record.time,
            "boot_id": record.boot_id,
        }
    elif isinstance(record, ProcessWarning):
        obj = process_warning(record.process, record.run, record.seq, record.time, record.message)
    elif isinstance(record, TaskStatus):
        obj = {"t": "task", "state": record.state.value, "time": record.time}
        if record.cause is not None:
            obj["cause"] = record.cause.value
        if record.reason:
            obj["reason"] = record.reason
        if record.why is not None:
            obj["why"] = cause_to_json(record.why)
    else:
        obj = process_status(
            record.process,
            record.run,
            record.state.value,
            record.time,
            coordinator=record.coordinator.to_json() if record.coordinator is not None else None,
            pid=record.pid.to_json() if record.pid is not None else None,
            return_code=record.return_code,
            offset=record.offset,
            reason=record.reason,
        )
    return _ENCODER.encode(obj).encode()


# The C encoder: the runner encodes every record it merges. The shim writes the same bytes
# without importing json (runrecords.to_bytes; tests/unit/test_runrecords.py).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def decode(payload: bytes) -> Record:
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"record is not JSON: {e}") from None
    return decode_object(obj)


def decode_many(payloads: list[bytes]) -> list[Record]:
    """Decode many records at once (one JSON parse); a bad one raises ``RecordError``.

    Replaying a long stream is dominated by per-record overhead, so the
    payloads are parsed as a single JSON array; only if that fails are they
    parsed one by one, to say which one is bad.
    """
    try:
        objects = json.loads(b"[" + b",".join(payloads) + b"]")
    except (UnicodeDecodeError, json.JSONDecodeError):
        objects = None
    if not isinstance(objects, list) or len(objects) != len(payloads):
        return [decode(p) for p in payloads]
    return [decode_object(obj) for obj in objects]


def decode_object(obj: Any) -> Record:
    if type(obj) is not dict:
        raise RecordError("record is not a JSON object")
    try:
        return _decode_obj(obj)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, RecordError):
            raise
        raise RecordError(f"bad {obj.get('t')!r} record: {e!r}") from None


ProcessFields = tuple[
    str, int, ProcessState, float, Identity | None, Identity | None, int | None, str, int | None
]


def process_fields(obj: dict[str, Any]) -> ProcessFields:
    """The fields of a ``process`` record object, checked, in ``ProcessStatus`` order.

    Replay applies these directly (``replay.apply_process``) without building
    a ``ProcessStatus``: on a long stream this is the hot path.
    """
    coordinator = obj.get("coordinator")
    pid = obj.get("pid")
    rc = obj.get("rc")
    offset = obj.get("offset")
    return (
        _str(obj["name"]),
        _int(obj["run"]),
        _PROCESS_STATES[obj["state"]],
        _num(obj["time"]),
        Identity.from_json(coordinator) if coordinator is not None else None,
        Identity.from_json(pid) if pid is not None else None,
        _int(rc) if rc is not None else None,
        _str(obj.get("reason", "")),
        _int(offset) if offset is not None else None,
    )


def _decode_obj(obj: dict[str, Any]) -> Record:
    kind = obj.get("t")
    if kind == "process":
        return ProcessStatus(*process_fields(obj))
    if kind == "warning":
        return ProcessWarning(
            _str(obj["name"]),
            _int(obj["run"]),
            _int(obj["seq"]),
            _num(obj["time"]),
            _str(obj["message"]),
        )
    if kind == "task":
        cause = obj.get("cause")
        why = obj.get("why")
        return TaskStatus(
            state=TaskState(obj["state"]),
            time=_num(obj["time"]),
            cause=TaskState(cause) if cause is not None else None,
            reason=_str(obj.get("reason", "")),
            why=cause_from_json(why) if why is not None else None,
        )
    if kind == "runner":
        return RunnerStarted(
            identity=Identity.from_json(obj["id"]),
            time=_num(obj["time"]),
            boot_id=_str(obj["boot_id"]),
        )
    if kind == "header":
        fmt = _int(obj["format"])
        if fmt > FORMAT_VERSION:
            raise RecordError(
                f"checkpoint format {fmt} is newer than this borealis understands "
                f"({FORMAT_VERSION}); upgrade borealis"
            )
        ports = obj["ports"]
        if not isinstance(ports, dict):
            raise RecordError("header ports must be an object")
        return Header(
            task_id=_str(obj["task_id"]),
            sandbox=_str(obj["sandbox"]),
            log_dir=_str(obj["log_dir"]),
            hostname=_str(obj["hostname"]),
            user=_str(obj["user"]),
            uid=_int(obj["uid"]),
            ports={_str(k): _int(v) for k, v in ports.items()},
            launch_time=_num(obj["launch_time"]),
            boot_id=_str(obj["boot_id"]),
            format=fmt,
            ignored_container=_str(obj.get("ignored_container", "")),
        )
    raise RecordError(f"unknown record type {kind!r}")


_PROCESS_STATES = {state.value: state for state in ProcessState}


class _States(dict[str, ProcessState]):
    def __missing__(self, key: str) -> ProcessState:
        raise RecordError(f"bad 'process' record: unknown state {key!r}")


_PROCESS_STATES = _States(_PROCESS_STATES)


def _str(value: Any) -> str:
    if type(value) is not str:
        raise RecordError(f"expected a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise RecordError(f"expected an integer, got {value!r}")
    return value


def _num(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is not int:
        raise RecordError(f"expected a number, got {value!r}")
    return float(value)
