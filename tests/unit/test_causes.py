"""Causes travel as values (``contract/causes.py``): recorded in the checkpoint, read back, and
turned into a Mesos state and reason without looking at any text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from borealis.contract.causes import (
    Cause,
    Deadlocked,
    FailedProcess,
    OverLimit,
    ProcessesFailed,
    Resource,
    Signalled,
    cause_from_json,
    cause_to_json,
    describe,
)
from borealis.contract.mesos import MesosReason, MesosState
from borealis.contract.records import RecordError, TaskStatus, decode, encode
from borealis.contract.replay import RunnerState, apply
from borealis.contract.states import TaskState
from borealis.executor.mesos.statuses import final_status

CAUSES: list[Cause] = [
    ProcessesFailed((FailedProcess("web", 3, 3, 3, last_exit=2),), 1),
    ProcessesFailed((FailedProcess("a", 0, 0, 100, None, run_cap=100),), 2),
    Deadlocked((("b", ("a",)), ("c", ("a", "b")))),
    OverLimit(Resource.DISK, 20 << 20, 10 << 20),
    OverLimit(Resource.RAM, 300 << 20, 256 << 20),
    Signalled("SIGTERM", lost=False),
    Signalled("SIGUSR2", lost=True),
    OverLimit(Resource.RAM, 64 << 20, 64 << 20, oom_kills=2),  # the kernel's, in the task cgroup
]


@pytest.mark.parametrize("cause", CAUSES, ids=lambda c: type(c).__name__)
def test_a_cause_survives_json_and_the_checkpoint(cause: Cause) -> None:
    assert cause_from_json(json.loads(json.dumps(cause_to_json(cause)))) == cause
    status = TaskStatus.because(TaskState.CLEANING, 5.0, TaskState.FAILED, cause)
    assert status.reason == describe(cause)
    assert decode(encode(status)) == status


@pytest.mark.parametrize(
    ("cause", "text"),
    [
        (CAUSES[0], "1 process(es) failed (task max_failures=1): "
                    "web: failed 3 of max_failures=3 runs (last exit status 2)"),
        (CAUSES[2], "no process can run any more (b waits for a; c waits for a, b)"),
        (CAUSES[3], "disk limit exceeded: the sandbox uses 20971520 bytes (20.0 MiB), "
                    "10485760 bytes (10.0 MiB) reserved"),
        (CAUSES[4], "RAM limit exceeded: the task's processes use 314572800 bytes (300.0 MiB) "
                    "resident, 268435456 bytes (256.0 MiB) reserved"),
        (CAUSES[6], "lost by SIGUSR2"),
        (CAUSES[7], "RAM limit exceeded: the kernel killed 2 process(es) out of memory in the "
                    "task's cgroup (peak 64.0 MiB), 67108864 bytes (64.0 MiB) reserved"),
    ],
)  # fmt: skip
def test_the_text_is_rendered_from_the_value(cause: Cause, text: str) -> None:
    assert describe(cause) == text


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"kind": "nonsense"},
        {"kind": "over_limit", "resource": "cpu", "used": 1, "reserved": 1},
        {"kind": "over_limit", "resource": "disk", "used": "1", "reserved": 1},
        {"kind": "over_limit", "resource": "ram", "used": 1, "reserved": 1, "oom_kills": "2"},
        {"kind": "processes_failed", "max_failures": 1},
    ],
)
def test_a_malformed_cause_is_a_bad_record(bad: Any) -> None:
    with pytest.raises(ValueError):
        cause_from_json(bad)
    payload = json.dumps({"t": "task", "state": "FAILED", "time": 1.0, "why": bad}).encode()
    with pytest.raises(RecordError):
        decode(payload)


def ended(why: Cause | None, reason: str, end: TaskState = TaskState.FAILED) -> RunnerState:
    state = RunnerState()
    apply(state, TaskStatus(TaskState.ACTIVE, 1.0))
    apply(state, TaskStatus(TaskState.CLEANING, 2.0, end, reason, why))
    apply(state, TaskStatus(end, 3.0, None, reason, why))
    return state


def test_the_mesos_reason_follows_the_cause_not_the_words() -> None:
    # reworded: no "disk limit" in the text, still a disk limitation
    disk = ended(OverLimit(Resource.DISK, 2, 1), "sandbox over its reservation")
    assert final_status(disk).reason is MesosReason.REASON_CONTAINER_LIMITATION_DISK
    ram = ended(OverLimit(Resource.RAM, 2, 1), "too much memory")
    assert final_status(ram).reason is MesosReason.REASON_CONTAINER_LIMITATION_MEMORY
    # the words of a disk limit, but the processes failed: not a limitation
    words = ended(ProcessesFailed((), 1), "disk limit exceeded, says the process")
    final = final_status(words)
    assert (final.state, final.reason) == (
        MesosState.TASK_FAILED,
        MesosReason.REASON_COMMAND_EXECUTOR_FAILED,
    )
    killed = ended(Signalled("SIGTERM", False), "killed by SIGTERM", TaskState.KILLED)
    assert final_status(killed).state is MesosState.TASK_KILLED


def test_a_checkpoint_of_before_causes_reads_and_reports_by_state() -> None:
    """v1 streams written before ``why`` existed hold only the text."""
    payload = json.dumps(
        {"t": "task", "state": "FAILED", "time": 1.0, "reason": "disk limit exceeded: ..."}
    ).encode()
    status = decode(payload)
    assert isinstance(status, TaskStatus) and status.why is None
    state = ended(None, status.reason)
    assert final_status(state).reason is MesosReason.REASON_COMMAND_EXECUTOR_FAILED
