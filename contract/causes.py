"""Why a task did not succeed, as values: from where it is detected to where it is reported.

The runner detects a cause (the planner: processes failed, or nothing can run any more; the
resource monitor: a limit exceeded; a signal: killed or lost) and records it in the task's
``task`` record (``"why"``, next to the text ``"reason"`` rendered from it for readers that
only show text). ``borealis status`` and the observer show the text; the executor picks the
Mesos state and reason from the value (``executor/mesos/statuses.py``), never from the text.

JSON form: ``{"kind": "<kind>", ...fields}``; ``cause_from_json`` refuses anything else with
``ValueError``. Standard library only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .resources import format_bytes


class Resource(enum.Enum):
    DISK = "disk"
    RAM = "ram"


@dataclass(frozen=True)
class FailedProcess:
    """A process the planner gave up on: too many failed runs, or too many runs."""

    name: str
    failures: int  # FAILED runs
    max_failures: int  # the process's limit (0: none)
    runs: int
    last_exit: int | None = None  # the last run's exit status
    run_cap: int | None = None  # set when the run cap, not max_failures, was reached

    def describe(self) -> str:
        if self.run_cap is not None:
            return f"reached the limit of {self.run_cap} runs"
        exit_text = f" (last exit status {self.last_exit})" if self.last_exit is not None else ""
        return f"failed {self.failures} of max_failures={self.max_failures} runs{exit_text}"


@dataclass(frozen=True)
class ProcessesFailed:
    failed: tuple[FailedProcess, ...]
    max_failures: int  # the task's


@dataclass(frozen=True)
class Deadlocked:
    blocked: tuple[tuple[str, tuple[str, ...]], ...]  # (process, the processes it waits for)


@dataclass(frozen=True)
class OverLimit:
    resource: Resource
    used: int  # bytes
    reserved: int  # bytes
    oom_kills: int = 0  # RAM: processes the kernel killed at the task cgroup's memory limit


@dataclass(frozen=True)
class Signalled:
    signal: str  # e.g. "SIGTERM"
    lost: bool  # a lose request (SIGUSR2), not a kill


Cause = ProcessesFailed | Deadlocked | OverLimit | Signalled


def describe(cause: Cause) -> str:
    """The one-line text shown for ``cause``."""
    if isinstance(cause, ProcessesFailed):
        details = "; ".join(f"{p.name}: {p.describe()}" for p in cause.failed)
        return (
            f"{len(cause.failed)} process(es) failed "
            f"(task max_failures={cause.max_failures}): {details}"
        )
    if isinstance(cause, Deadlocked):
        details = "; ".join(f"{name} waits for {', '.join(on)}" for name, on in cause.blocked)
        return f"no process can run any more ({details or 'nothing runnable'})"
    if isinstance(cause, OverLimit):
        if cause.resource is Resource.DISK:
            used = format_bytes(cause.used)
            what = f"disk limit exceeded: the sandbox uses {cause.used} bytes ({used})"
        elif cause.oom_kills:
            what = (
                f"RAM limit exceeded: the kernel killed {cause.oom_kills} process(es) out of "
                f"memory in the task's cgroup (peak {format_bytes(cause.used)})"
            )
        else:
            what = (
                f"RAM limit exceeded: the task's processes use {cause.used} bytes "
                f"({format_bytes(cause.used)}) resident"
            )
        return f"{what}, {cause.reserved} bytes ({format_bytes(cause.reserved)}) reserved"
    return f"{'lost' if cause.lost else 'killed'} by {cause.signal}"


def cause_to_json(cause: Cause) -> dict[str, Any]:
    if isinstance(cause, ProcessesFailed):
        return {
            "kind": "processes_failed",
            "max_failures": cause.max_failures,
            "failed": [dict(p.__dict__) for p in cause.failed],
        }
    if isinstance(cause, Deadlocked):
        return {"kind": "deadlocked", "blocked": {name: list(on) for name, on in cause.blocked}}
    if isinstance(cause, OverLimit):
        return {
            "kind": "over_limit",
            "resource": cause.resource.value,
            "used": cause.used,
            "reserved": cause.reserved,
            **({"oom_kills": cause.oom_kills} if cause.oom_kills else {}),
        }
    return {"kind": "signalled", "signal": cause.signal, "lost": cause.lost}


def cause_from_json(obj: Any) -> Cause:
    """The cause in a record (``ValueError`` for anything that is not one)."""
    if not isinstance(obj, dict):
        raise ValueError(f"a cause is an object, not {obj!r}")
    kind = obj.get("kind")
    try:
        if kind == "processes_failed":
            return ProcessesFailed(
                tuple(FailedProcess(**_fields(p)) for p in obj["failed"]),
                _int(obj["max_failures"]),
            )
        if kind == "deadlocked":
            return Deadlocked(
                tuple((str(n), tuple(map(str, on))) for n, on in dict(obj["blocked"]).items())
            )
        if kind == "over_limit":
            return OverLimit(
                Resource(obj["resource"]),
                _int(obj["used"]),
                _int(obj["reserved"]),
                _int(obj.get("oom_kills", 0)),
            )
        if kind == "signalled":
            return Signalled(str(obj["signal"]), bool(obj["lost"]))
    except (KeyError, TypeError) as e:
        raise ValueError(f"bad {kind!r} cause: {e!r}") from None
    raise ValueError(f"unknown cause {kind!r}")


def _fields(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"a failed process is an object, not {value!r}")
    known = {"name", "failures", "max_failures", "runs", "last_exit", "run_cap"}
    return {k: v for k, v in value.items() if k in known}


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
