"""Checkpoint record types and their encoding (format version 1).

Each frame of a stream (see ``stream.py``) holds one record: a JSON object
whose ``"t"`` key names its type. Unknown keys are ignored, so a newer writer
may add optional fields without a format bump; removing or re-typing a field
needs ``FORMAT_VERSION`` to go up and a fixture for the old version.

=========  ===========================================================  =========================
type       meaning                                                      written by
=========  ===========================================================  =========================
header     task id, sandbox, user, ports, host, boot id, format         runner (first record)
runner     a runner process took control (pid + start ticks)            runner
task       the task entered a state (or its cause changed)              runner
process    a process run entered a state                                runner, coordinator
=========  ===========================================================  =========================

Coordinator streams hold only ``process`` records of their own process; the
runner copies each one verbatim into its own stream when it merges it.

Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .states import ProcessState, TaskState

FORMAT_VERSION = 1


class RecordError(ValueError):
    """A frame decoded to something that is not a valid record."""


@dataclass(frozen=True)
class Identity:
    """A process, named so that a recycled pid can never be mistaken for it."""

    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: start time in clock ticks since boot

    def to_json(self) -> list[int]:
        return [self.pid, self.start_ticks]

    @classmethod
    def from_json(cls, value: Any) -> Identity:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise RecordError(f"bad process identity {value!r}")
        return cls(value[0], value[1])


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
    reason: str = ""


@dataclass(frozen=True)
class ProcessStatus:
    process: str
    run: int
    state: ProcessState
    time: float
    coordinator: Identity | None = None  # FORKED
    pid: Identity | None = None  # RUNNING
    return_code: int | None = None  # SUCCESS / FAILED / KILLED
    reason: str = ""


Record = Header | RunnerStarted | TaskStatus | ProcessStatus


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
    elif isinstance(record, RunnerStarted):
        obj = {
            "t": "runner",
            "id": record.identity.to_json(),
            "time": record.time,
            "boot_id": record.boot_id,
        }
    elif isinstance(record, TaskStatus):
        obj = {"t": "task", "state": record.state.value, "time": record.time}
        if record.cause is not None:
            obj["cause"] = record.cause.value
        if record.reason:
            obj["reason"] = record.reason
    else:
        obj = {
            "t": "process",
            "name": record.process,
            "run": record.run,
            "state": record.state.value,
            "time": record.time,
        }
        if record.coordinator is not None:
            obj["coordinator"] = record.coordinator.to_json()
        if record.pid is not None:
            obj["pid"] = record.pid.to_json()
        if record.return_code is not None:
            obj["rc"] = record.return_code
        if record.reason:
            obj["reason"] = record.reason
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def decode(payload: bytes) -> Record:
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"record is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise RecordError("record is not a JSON object")
    try:
        return _decode_obj(obj)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, RecordError):
            raise
        raise RecordError(f"bad {obj.get('t')!r} record: {e!r}") from None


def _decode_obj(obj: dict[str, Any]) -> Record:
    kind = obj.get("t")
    if kind == "process":
        coordinator = obj.get("coordinator")
        pid = obj.get("pid")
        rc = obj.get("rc")
        return ProcessStatus(
            process=_str(obj["name"]),
            run=_int(obj["run"]),
            state=ProcessState(obj["state"]),
            time=_num(obj["time"]),
            coordinator=Identity.from_json(coordinator) if coordinator is not None else None,
            pid=Identity.from_json(pid) if pid is not None else None,
            return_code=_int(rc) if rc is not None else None,
            reason=_str(obj.get("reason", "")),
        )
    if kind == "task":
        cause = obj.get("cause")
        return TaskStatus(
            state=TaskState(obj["state"]),
            time=_num(obj["time"]),
            cause=TaskState(cause) if cause is not None else None,
            reason=_str(obj.get("reason", "")),
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
        )
    raise RecordError(f"unknown record type {kind!r}")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise RecordError(f"expected a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(f"expected an integer, got {value!r}")
    return value


def _num(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RecordError(f"expected a number, got {value!r}")
    return float(value)
