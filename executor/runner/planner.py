"""What to run next: a pure function of the task, its replayed state and the time.

No I/O and no clock of its own: the runner passes ``now``, so tests can plan
any moment of a task's life. The plan is recomputed from the state on every
loop iteration (level-triggered), so it cannot drift from the checkpoint.

Each process of a plan (regular or final) is in one of these outlooks::

                  deps finished, min_duration passed
      BLOCKED ───────────────────────────────────────▶ RUNNABLE ──launch──▶ RUNNING
                                                          ▲                   │ run ends
          SUCCESS (daemon), FAILED (under max_failures),  │                   ▼
          LOST or KILLED; all under the run cap           └──────────── (run ended)
                                                                              │
          SUCCESS (not a daemon); FAILED past max_failures (ephemeral) ──▶ FINISHED
          FAILED past max_failures; run cap reached ───────────────────▶ FAILED

Semantics (Thermos' planner, see docs/runner.md):

* ``min_duration`` is the least gap between the end of a run and the start of
  the next one, whatever the run's outcome;
* ``max_failures`` counts FAILED runs (0 = no limit); LOST and KILLED runs are
  retried and never count;
* the run cap (``max_runs``, 100 by default, 0 = none) bounds all runs of a
  process; a process that would need one more run past it is FAILED;
* a process waits for every process ordered before it to be FINISHED;
* the plan is complete when every non-ephemeral process is FINISHED or FAILED,
  and deadlocked when it is not complete and nothing runs or ever will.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from borealis.contract.causes import Deadlocked, FailedProcess, ProcessesFailed
from borealis.contract.replay import ProcessRun, RunnerState
from borealis.contract.states import ProcessState
from borealis.contract.taskspec import ProcessSpec, TaskSpec
from borealis.contract.validation import dependencies

DEFAULT_MAX_RUNS = 100


class Outlook(enum.Enum):
    BLOCKED = "BLOCKED"  # waiting for processes ordered before it (named in ``why``)
    RUNNABLE = "RUNNABLE"  # may start at ``ready_at``
    RUNNING = "RUNNING"  # has an active run
    FINISHED = "FINISHED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ProcessOutlook:
    name: str
    outlook: Outlook
    ready_at: float = -math.inf
    failures: int = 0
    runs: int = 0
    waiting_for: tuple[str, ...] = ()  # BLOCKED: the processes it waits for
    failure: FailedProcess | None = None  # FAILED, or FINISHED by failing (ephemeral): why

    @property
    def why(self) -> str:
        """What this outlook rests on, as text."""
        if self.failure is not None:
            return self.failure.describe()
        if self.waiting_for:
            return ", ".join(self.waiting_for)
        return "succeeded" if self.outlook is Outlook.FINISHED else ""


@dataclass(frozen=True)
class Plan:
    outlooks: dict[str, ProcessOutlook]
    launch: tuple[str, ...]  # start these now, in this order
    wake_at: float | None  # when the next RUNNABLE process becomes ready
    complete: bool
    deadlocked: bool

    def names(self, outlook: Outlook) -> list[str]:
        return [name for name, o in self.outlooks.items() if o.outlook is outlook]

    @property
    def failed(self) -> list[str]:
        return self.names(Outlook.FAILED)

    @property
    def running(self) -> list[str]:
        return self.names(Outlook.RUNNING)


def _outlook(spec: ProcessSpec, runs: list[ProcessRun], max_runs: int) -> ProcessOutlook:
    failures = sum(1 for r in runs if r.state is ProcessState.FAILED)
    name = spec.name
    if not runs:
        return ProcessOutlook(name, Outlook.RUNNABLE)
    last = runs[-1]
    if last.state.active:
        return ProcessOutlook(name, Outlook.RUNNING, failures=failures, runs=len(runs))
    ended = last.stop_time if last.stop_time is not None else last.waiting_time

    def gave_up(outlook: Outlook, run_cap: int | None = None) -> ProcessOutlook:
        failure = FailedProcess(
            name, failures, spec.max_failures, len(runs), last.return_code, run_cap
        )
        return ProcessOutlook(name, outlook, failures=failures, runs=len(runs), failure=failure)

    if last.state is ProcessState.SUCCESS and not spec.daemon:
        return ProcessOutlook(name, Outlook.FINISHED, failures=failures, runs=len(runs))
    if last.state is ProcessState.FAILED and spec.max_failures and failures >= spec.max_failures:
        return gave_up(Outlook.FINISHED if spec.ephemeral else Outlook.FAILED)
    if max_runs and len(runs) >= max_runs:
        return gave_up(Outlook.FAILED, run_cap=max_runs)
    return ProcessOutlook(
        name,
        Outlook.RUNNABLE,
        ready_at=ended + spec.min_duration,
        failures=failures,
        runs=len(runs),
    )


def plan(
    task: TaskSpec,
    state: RunnerState,
    now: float,
    *,
    final: bool = False,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> Plan:
    """Plan the regular (``final=False``) or the finalizing processes of ``task``."""
    deps = dependencies(task, final)
    specs = [p for p in task.processes if p.final is final]
    outlooks = {p.name: _outlook(p, state.runs(p.name), max_runs) for p in specs}
    finished = {n for n, o in outlooks.items() if o.outlook is Outlook.FINISHED}
    for name, o in outlooks.items():
        if o.outlook is Outlook.RUNNABLE and not deps[name] <= finished:
            waiting_for = tuple(sorted(deps[name] - finished))
            outlooks[name] = ProcessOutlook(
                name, Outlook.BLOCKED, o.ready_at, o.failures, o.runs, waiting_for
            )

    runnable = [outlooks[p.name] for p in specs if outlooks[p.name].outlook is Outlook.RUNNABLE]
    ready = [o.name for o in runnable if o.ready_at <= now]
    running = sum(1 for o in outlooks.values() if o.outlook is Outlook.RUNNING)
    if task.max_concurrency:
        ready = ready[: max(0, task.max_concurrency - running)]
    later = [o.ready_at for o in runnable if o.ready_at > now]

    complete = all(
        outlooks[p.name].outlook in (Outlook.FINISHED, Outlook.FAILED)
        for p in specs
        if not p.ephemeral
    )
    deadlocked = not complete and running == 0 and not runnable
    return Plan(
        outlooks=outlooks,
        launch=tuple(ready),
        wake_at=min(later) if later else None,
        complete=complete,
        deadlocked=deadlocked,
    )


def unhealthy(task: TaskSpec, regular: Plan) -> ProcessesFailed | Deadlocked | None:
    """Why the task can no longer succeed (Thermos' task health), or ``None`` while it can."""
    failed = regular.failed
    if task.max_failures and len(failed) >= task.max_failures:
        causes = tuple(regular.outlooks[n].failure for n in failed)
        return ProcessesFailed(tuple(c for c in causes if c is not None), task.max_failures)
    if regular.deadlocked:
        blocked = [o for o in regular.outlooks.values() if o.outlook is Outlook.BLOCKED]
        return Deadlocked(tuple((o.name, o.waiting_for) for o in blocked))
    return None
