"""The planner (``borealis.executor.runner.planner``), a pure function, tested by tables.

Each case gives a task, what happened to its processes so far and the time; it checks every
process's outlook, what is launched now, when the runner must look again, and whether the plan
is complete or deadlocked. No process, no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from borealis.contract.causes import Deadlocked, FailedProcess, ProcessesFailed, describe
from borealis.contract.records import Identity
from borealis.contract.replay import RunnerState, apply_process
from borealis.contract.states import ProcessState
from borealis.contract.taskspec import TaskSpec, task_from_json
from borealis.contract.validation import validate
from borealis.executor.runner.planner import Outlook, plan, unhealthy

B, R, RUN = Outlook.BLOCKED, Outlook.RUNNABLE, Outlook.RUNNING
F, FAIL = Outlook.FINISHED, Outlook.FAILED


def spec(*processes: dict[str, Any], order: tuple[list[str], ...] = (), **task: Any) -> TaskSpec:
    procs = [{"min_duration": 0, **p} for p in processes]
    built = task_from_json(
        {"name": "t", "processes": procs, "constraints": [{"order": o} for o in order], **task}
    )
    validate(built)
    return built


def history(**runs: list[tuple[str, float]]) -> RunnerState:
    """``a=[("FAILED", 10.0), ("RUNNING", 11.0)]``: each run of ``a`` in turn, with the time it
    reached that state (it waited, forked and started one second earlier)."""
    state = RunnerState()
    for name, outcomes in runs.items():
        for number, (end, at) in enumerate(outcomes):
            pid = Identity(1000 + number, 1)
            apply_process(state, name, number, ProcessState.WAITING, at - 1, None, None, None, "")
            apply_process(state, name, number, ProcessState.FORKED, at - 1, pid, None, None, "")
            apply_process(state, name, number, ProcessState.RUNNING, at - 1, None, pid, None, "")
            if end != "RUNNING":
                code = {"SUCCESS": 0, "FAILED": 1}.get(end)
                apply_process(state, name, number, ProcessState[end], at, None, None, code, "")
    return state


@dataclass
class Case:
    task: TaskSpec
    state: RunnerState
    now: float
    outlooks: dict[str, Outlook]
    launch: tuple[str, ...] = ()
    wake_at: float | None = None
    complete: bool = False
    deadlocked: bool = False
    options: dict[str, Any] = field(default_factory=dict)


# fmt: off
CASES = {
    "a new task launches every process, in config order": Case(
        spec({"name": "b", "cmdline": "x"}, {"name": "a", "cmdline": "x"}),
        history(), 0.0, {"b": R, "a": R}, launch=("b", "a"),
    ),
    "an ordered process waits for the one before it": Case(
        spec({"name": "a", "cmdline": "x"}, {"name": "b", "cmdline": "x"}, order=(["a", "b"],)),
        history(a=[("RUNNING", 5.0)]), 6.0, {"a": RUN, "b": B},
    ),
    "and starts once it finished": Case(
        spec({"name": "a", "cmdline": "x"}, {"name": "b", "cmdline": "x"}, order=(["a", "b"],)),
        history(a=[("SUCCESS", 5.0)]), 6.0, {"a": F, "b": R}, launch=("b",),
    ),
    "min_duration is the gap between a run's end and the next start": Case(
        spec({"name": "a", "cmdline": "x", "min_duration": 5, "max_failures": 3}),
        history(a=[("FAILED", 10.0)]), 12.0, {"a": R}, wake_at=15.0,
    ),
    "whatever the outcome, once the gap has passed it runs again": Case(
        spec({"name": "a", "cmdline": "x", "min_duration": 5, "max_failures": 3}),
        history(a=[("FAILED", 10.0)]), 15.0, {"a": R}, launch=("a",),
    ),
    "max_failures failed runs fail the process": Case(
        spec({"name": "a", "cmdline": "x", "max_failures": 2}),
        history(a=[("FAILED", 1.0), ("FAILED", 2.0)]), 3.0, {"a": FAIL}, complete=True,
    ),
    "an ephemeral process past max_failures counts as finished": Case(
        spec({"name": "a", "cmdline": "x"}, {"name": "e", "cmdline": "x", "ephemeral": True}),
        history(a=[("SUCCESS", 1.0)], e=[("FAILED", 2.0)]), 3.0, {"a": F, "e": F}, complete=True,
    ),
    "max_failures=0 retries forever": Case(
        spec({"name": "a", "cmdline": "x", "max_failures": 0}),
        history(a=[("FAILED", float(t)) for t in range(1, 6)]), 9.0, {"a": R}, launch=("a",),
    ),
    "a daemon that succeeded runs again": Case(
        spec({"name": "d", "cmdline": "x", "daemon": True}),
        history(d=[("SUCCESS", 1.0)]), 2.0, {"d": R}, launch=("d",),
    ),
    "LOST and KILLED runs are retried and never count as failures": Case(
        spec({"name": "a", "cmdline": "x", "max_failures": 1}),
        history(a=[("LOST", 1.0), ("KILLED", 2.0)]), 3.0, {"a": R}, launch=("a",),
    ),
    "the run cap fails a process whatever its outcomes": Case(
        spec({"name": "a", "cmdline": "x", "max_failures": 0}),
        history(a=[("LOST", 1.0), ("LOST", 2.0), ("LOST", 3.0)]), 4.0, {"a": FAIL},
        complete=True, options={"max_runs": 3},
    ),
    "max_concurrency bounds what runs at once": Case(
        spec(*({"name": n, "cmdline": "x"} for n in "abc"), max_concurrency=2),
        history(a=[("RUNNING", 1.0)]), 2.0, {"a": RUN, "b": R, "c": R}, launch=("b",),
    ),
    "an ephemeral process still running does not hold completion back": Case(
        spec({"name": "a", "cmdline": "x"}, {"name": "e", "cmdline": "x", "ephemeral": True}),
        history(a=[("SUCCESS", 1.0)], e=[("RUNNING", 1.0)]), 2.0, {"a": F, "e": RUN},
        complete=True,
    ),
    "nothing running and nothing runnable is a deadlock": Case(
        spec(
            {"name": "a", "cmdline": "x", "max_failures": 1},
            {"name": "b", "cmdline": "x"},
            {"name": "c", "cmdline": "x"},
            order=(["a", "b"],),
        ),
        history(a=[("FAILED", 1.0)], c=[("SUCCESS", 1.0)]), 2.0, {"a": FAIL, "b": B, "c": F},
        deadlocked=True,
    ),
    "the regular plan ignores final processes": Case(
        spec({"name": "a", "cmdline": "x"}, {"name": "z", "cmdline": "x", "final": True}),
        history(), 0.0, {"a": R}, launch=("a",),
    ),
    "the final plan is of final processes only": Case(
        spec({"name": "a", "cmdline": "x"}, {"name": "z", "cmdline": "x", "final": True}),
        history(a=[("KILLED", 1.0)]), 2.0, {"z": R}, launch=("z",), options={"final": True},
    ),
}
# fmt: on


@pytest.mark.parametrize("name", CASES)
def test_plan(name: str) -> None:
    case = CASES[name]
    result = plan(case.task, case.state, case.now, **case.options)
    assert {n: o.outlook for n, o in result.outlooks.items()} == case.outlooks
    assert result.launch == case.launch
    assert result.wake_at == case.wake_at
    assert (result.complete, result.deadlocked) == (case.complete, case.deadlocked)


def test_blocked_says_what_it_waits_for_and_failed_says_why() -> None:
    task = spec(
        {"name": "a", "cmdline": "x", "max_failures": 2},
        {"name": "b", "cmdline": "x"},
        {"name": "c", "cmdline": "x"},
        order=(["a", "c"], ["b", "c"]),
    )
    result = plan(task, history(a=[("FAILED", 1.0), ("FAILED", 2.0)]), 3.0)
    assert result.outlooks["c"].why == "a, b"
    assert result.outlooks["a"].why == "failed 2 of max_failures=2 runs (last exit status 1)"
    assert (result.outlooks["a"].failures, result.outlooks["a"].runs) == (2, 2)
    assert result.outlooks["b"].ready_at == -math.inf


@pytest.mark.parametrize(
    ("max_failures", "failed", "ok"),
    [(1, 1, False), (2, 1, True), (2, 2, False), (0, 2, True)],
)
def test_task_health_counts_failed_processes_against_the_tasks_max_failures(
    max_failures: int, failed: int, ok: bool
) -> None:
    names = ["a", "b", "c"]
    task = spec(*({"name": n, "cmdline": "x", "max_failures": 1} for n in names),
                max_failures=max_failures)  # fmt: skip
    state = history(**{n: [("FAILED", 1.0)] for n in names[:failed]})
    why = unhealthy(task, plan(task, state, 2.0))
    if ok:
        assert why is None
    else:
        assert why == ProcessesFailed(
            tuple(FailedProcess(n, 1, 1, 1, last_exit=1) for n in names[:failed]), max_failures
        )


def test_a_deadlocked_task_is_unhealthy_and_says_who_waits_for_whom() -> None:
    case = CASES["nothing running and nothing runnable is a deadlock"]
    task = spec(
        {"name": "a", "cmdline": "x", "max_failures": 1},
        {"name": "b", "cmdline": "x"},
        order=(["a", "b"],),
        max_failures=2,
    )
    why = unhealthy(task, plan(task, case.state, 2.0))
    assert why == Deadlocked((("b", ("a",)),))
    assert describe(why) == "no process can run any more (b waits for a)"


def test_the_run_cap_is_the_cause_when_it_is_reached() -> None:
    task = spec({"name": "a", "cmdline": "x", "max_failures": 0})
    state = history(a=[("LOST", 1.0), ("LOST", 2.0)])
    why = unhealthy(task, plan(task, state, 3.0, max_runs=2))
    assert why == ProcessesFailed((FailedProcess("a", 0, 0, 2, None, run_cap=2),), 1)
    assert describe(why) == (
        "1 process(es) failed (task max_failures=1): a: reached the limit of 2 runs"
    )
