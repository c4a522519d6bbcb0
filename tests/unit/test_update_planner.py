"""The job-update planner (``borealis.scheduler.updates.planner``) and the user's verbs on an
update, as tables.

A tiny fake scheduler stands in for the real one: it applies each ``Change`` to its runs at
once (the new run goes RUNNING, fails, finishes or hangs as the test scripts it), and the test
advances a fake clock one second per scheduling pass. No process, no clock, no I/O.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from borealis.contract.schedule import ScheduleStatus
from borealis.contract.updatespec import BatchSize, Strategy, UpdateSettings
from borealis.scheduler.updates.planner import (
    Change,
    InstanceProgress,
    Progress,
    Refused,
    RunView,
    Step,
    command,
    step,
)
from borealis.scheduler.updates.states import ALLOWED, Phase, UpdateStatus

U = UpdateStatus
RF, RFP, RFA = U.ROLLING_FORWARD, U.ROLL_FORWARD_PAUSED, U.ROLL_FORWARD_AWAITING_PULSE
RB, RBP, RBA = U.ROLLING_BACK, U.ROLL_BACK_PAUSED, U.ROLL_BACK_AWAITING_PULSE
OLD, NEW = "v1", "v2"


# --- the fake scheduler ------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One run of an instance on a config, in seconds after it was started: RUNNING after
    ``up`` (None: never), ended unasked after ``dies``, FINISHED after ``finishes``. A run that
    died is replaced by the next attempt (the last one repeats) unless ``replaced`` is False."""

    up: float | None = 1.0
    dies: float | None = None
    finishes: float | None = None
    replaced: bool = True


HEALTHY = (Attempt(),)
STUCK = (Attempt(up=None),)


def dies(at: float, *then: Attempt) -> tuple[Attempt, ...]:
    return (Attempt(dies=at), *(then or (Attempt(dies=at),)))


STOP_SECS = 2.0  # how long the fake takes to kill a run whose instance is removed


@dataclass
class Run:
    config: str | None
    since: float
    attempts: tuple[Attempt, ...]
    stopping: str | None = None  # config None: the config of the run being killed


Behaviour = dict[tuple[int, str | None], tuple[Attempt, ...]]


@dataclass
class Record:
    now: float
    before: UpdateStatus
    after: UpdateStatus
    changes: list[Change]
    events: list[tuple[UpdateStatus, str]]
    phases: dict[int, Phase]
    batches: dict[int, int]


def build(
    settings: UpdateSettings,
    n: int | dict[int, tuple[str | None, str | None]] = 2,
    behave: Behaviour | None = None,
    *,
    service: bool = True,
    size: int | None = None,
) -> Sim:
    pairs: dict[int, tuple[str | None, str | None]] = (
        {i: (OLD, NEW) for i in range(n)} if isinstance(n, int) else n
    )
    return Sim(settings, pairs, behave or {}, service=service, size=size)


class Sim:
    """The update and the fake scheduler's runs, stepped one pass at a time."""

    def __init__(
        self,
        settings: UpdateSettings,
        pairs: dict[int, tuple[str | None, str | None]],
        behave: Behaviour,
        *,
        service: bool,
        size: int | None,
    ) -> None:
        self.settings, self.behave, self.service = settings, behave, service
        self.size = size if size is not None else len(pairs)
        self.instances = {i: InstanceProgress(i, old, new) for i, (old, new) in pairs.items()}
        self.runs = {i: Run(old, -1000.0, HEALTHY) for i, (old, _) in pairs.items()}
        self.progress = Progress(progressed=0.0)
        self.now = 0.0
        self.trace: list[Record] = []
        self.transitions: list[tuple[float, UpdateStatus, UpdateStatus, str]] = []

    # the scheduler's side

    def view(self, instance: int) -> RunView:
        run = self.runs[instance]
        if run.config is None:
            if run.stopping is None:
                return RunView()
            if self.now < run.since + STOP_SECS:
                return RunView(run.stopping, ScheduleStatus.KILLING, run.since)
            return RunView(run.stopping, ScheduleStatus.KILLED, None, 0, False)
        start, failures, k = run.since, 0, 0
        while True:
            a = run.attempts[min(k, len(run.attempts) - 1)]
            running = None if a.up is None else start + a.up
            if a.finishes is not None and start + a.finishes <= self.now:
                return RunView(run.config, ScheduleStatus.FINISHED, running, failures, False)
            if a.dies is not None and start + a.dies <= self.now:
                failures += 1
                if not a.replaced:
                    return RunView(run.config, ScheduleStatus.FAILED, running, failures, False)
                start, k = start + a.dies, k + 1
                continue
            if running is not None and running <= self.now:
                return RunView(run.config, ScheduleStatus.RUNNING, running, failures)
            return RunView(run.config, ScheduleStatus.PENDING, None, failures)

    def apply(self, change: Change) -> None:
        run = self.runs[change.instance]
        if change.config == run.config:
            return  # it already runs that config: nothing to restart
        attempts = self.behave.get((change.instance, change.config), HEALTHY)
        self.runs[change.instance] = Run(change.config, self.now, attempts, run.config)

    # the update's side

    def verb(self, verb: str) -> None:
        before = self.progress.status
        self.progress = command(self.progress, verb, self.now)
        if self.progress.status is not before:
            self.transitions.append((self.now, before, self.progress.status, verb))

    def step(self) -> Step:
        views = {i: self.view(i) for i in self.instances}
        before = self.progress.status
        out = step(
            self.settings,
            self.progress,
            self.instances,
            views,
            service=self.service,
            size=self.size,
            now=self.now,
        )
        for change in out.changes:
            self.apply(change)
        status = before
        for new, why in out.events:
            self.transitions.append((self.now, status, new, why))
            status = new
        self.progress, self.instances = out.progress, out.instances
        self.trace.append(
            Record(
                self.now,
                before,
                out.progress.status,
                list(out.changes),
                list(out.events),
                {i: p.phase for i, p in out.instances.items()},
                {i: p.batch for i, p in out.instances.items()},
            )
        )
        return out

    def run(
        self,
        until: float,
        verbs: tuple[tuple[float, str], ...] = (),
        *,
        auto_resume: bool = False,
    ) -> Sim:
        """Pass once a second from now to ``until`` (or the update's end); ``verbs`` are given
        just before the pass at their time."""
        while self.now <= until and not self.progress.status.terminal:
            for at, verb in verbs:
                if at == self.now:
                    self.verb(verb)
            if auto_resume and self.progress.status in (RFP, RBP):
                self.verb("resume")
            self.step()
            self.now += 1
        return self

    # reading the trace

    def status_at(self, now: float) -> UpdateStatus:
        return next(r.after for r in self.trace if r.now == now)

    def when(self, instance: int, *phases: Phase) -> float | None:
        """When ``instance`` first reached one of ``phases``."""
        return next((r.now for r in self.trace if r.phases[instance] in phases), None)

    def changed_at(self, status: UpdateStatus | None = None) -> list[tuple[float, list[int]]]:
        """(time, sorted instances) of each pass that changed instances, optionally only those
        that ended in ``status``."""
        return [
            (r.now, sorted(c.instance for c in r.changes))
            for r in self.trace
            if r.changes and (status is None or r.after is status)
        ]


def cfg(
    strategy: Strategy = Strategy.QUEUE,
    batch: int | str | tuple[int | str, ...] = 1,
    canary: int | str | None = None,
    **kw: Any,
) -> UpdateSettings:
    def size(v: int | str) -> BatchSize:
        return BatchSize(percent=float(v[:-1])) if isinstance(v, str) else BatchSize(v)

    sizes = batch if isinstance(batch, tuple) else (batch,)
    return UpdateSettings(
        strategy=strategy,
        batch_sizes=tuple(size(s) for s in sizes),
        canary=None if canary is None else size(canary),
        **{"watch_secs": 10, **kw},
    )


# --- the user's verbs: every status x every verb -----------------------------------------

VERBS = ("pause", "resume", "pulse", "rollback", "abort")
AB, NO = U.ABORTED, None
# the status each verb leads to (NO: Refused); pulse on a non-awaiting status only notes it
COMMANDS: dict[UpdateStatus, tuple[UpdateStatus | None, ...]] = {
    #      pause resume pulse rollback abort
    RF: (RFP, NO, RF, RB, AB),
    RFP: (NO, RF, RFP, RB, AB),
    RFA: (RFP, NO, RF, RB, AB),
    RB: (RBP, NO, RB, NO, AB),
    RBP: (NO, RB, RBP, NO, AB),
    RBA: (RBP, NO, RB, NO, AB),
    **{s: (NO,) * 5 for s in (U.ROLLED_FORWARD, U.ROLLED_BACK, U.ABORTED, U.ERROR, U.FAILED)},
}


@pytest.mark.parametrize(
    "status, verb",
    [(s, v) for s in U for v in VERBS],
    ids=[f"{s.value}-{v}" for s in U for v in VERBS],
)
def test_command_table(status: UpdateStatus, verb: str) -> None:
    before = Progress(status=status, progressed=5.0, pulse=1.0)
    expected = COMMANDS[status][VERBS.index(verb)]
    if expected is None:
        with pytest.raises(Refused) as caught:
            command(before, verb, 100.0)
        assert status.value in str(caught.value)
        return
    after = command(before, verb, 100.0)
    assert after.status is expected
    assert before.status is status and before.pulse == 1.0  # the input is left alone
    if expected is not status:
        assert expected in ALLOWED[status]
    assert after.pulse == (100.0 if verb == "pulse" else 1.0)
    # (what a pause does to the progress deadline is tested by simulation, further down)


@pytest.mark.parametrize(
    "status, verb",
    [(RF, "stop"), (RF, ""), (U.ROLLED_FORWARD, "stop")],
    ids=["unknown", "empty", "unknown-on-ended"],
)
def test_unknown_verbs_are_refused(status: UpdateStatus, verb: str) -> None:
    with pytest.raises(Refused):
        command(Progress(status=status), verb, 0.0)


def test_user_verbs_give_reasons() -> None:
    assert command(Progress(), "pause", 0).reason == "paused by the user"
    assert command(Progress(), "rollback", 0).reason == "rolling back: asked by the user"
    assert command(Progress(), "abort", 0).reason == "aborted by the user"


# --- status transitions the planner makes --------------------------------------------------


@dataclass(frozen=True)
class Case:
    expect: tuple[UpdateStatus, UpdateStatus]
    at: float  # when it happens
    why: str  # a piece of the reason the planner gives
    settings: UpdateSettings = field(default_factory=cfg)
    n: int = 2
    behave: Behaviour = field(default_factory=dict)
    verbs: tuple[tuple[float, str], ...] = ()


# instance 0's new run dies 5 s after its change (RUNNING at 1, watch 10: within the window)
DIES: Behaviour = {(0, NEW): dies(5)}
# and its old one, restored by the rollback, dies 3 s after that
DIES_BOTH: Behaviour = {**DIES, (0, OLD): dies(3)}

CASES: dict[str, Case] = {
    # every instance updated: 0 at 0..11, 1 at 11..22
    "rolled-forward": Case((RF, U.ROLLED_FORWARD), 22, "2 instances updated"),
    "autopause": Case(
        (RF, RFP),
        11,
        "paused after a batch",
        cfg(Strategy.BATCH, 1, autopause_after_batch=True),
        n=3,
    ),
    "canary": Case((RF, RFP), 11, "the canary batch", cfg(batch=2, canary=1), n=3),
    "no-pulse-yet": Case((RF, RFA), 0, "no pulse", cfg(pulse_interval_secs=30)),
    "pulse-expired": Case(
        (RF, RFA), 30, "no pulse", cfg(pulse_interval_secs=30), n=4, verbs=((0, "pulse"),)
    ),
    "max-total-failures": Case(
        (RF, RB), 5, "1 instance failed (max_total_failures is 0)", behave=DIES
    ),
    "progress-deadline": Case(
        (RF, RB),
        20,
        "no instance finished updating in 20s",
        cfg(progress_deadline_secs=20),
        behave={(0, NEW): STUCK},
    ),
    "failure-no-rollback": Case(
        (RF, U.FAILED), 5, "1 instance failed", cfg(rollback_on_failure=False), behave=DIES
    ),
    "deadline-no-rollback": Case(
        (RF, U.FAILED),
        20,
        "progress_deadline_secs",
        cfg(progress_deadline_secs=20, rollback_on_failure=False),
        behave={(0, NEW): STUCK},
    ),
    "failure-while-paused": Case(
        (RFP, RB), 5, "1 instance failed", cfg(batch=2), 3, DIES, ((2, "pause"),)
    ),
    "failure-while-paused-no-rollback": Case(
        (RFP, U.FAILED),
        5,
        "1 instance failed",
        cfg(batch=2, rollback_on_failure=False),
        3,
        DIES,
        ((2, "pause"),),
    ),
    "last-in-flight-done-while-paused": Case(
        (RFP, U.ROLLED_FORWARD), 11, "2 instances updated", cfg(batch=2), verbs=((2, "pause"),)
    ),
    "failure-awaiting-pulse": Case(
        (RFA, RB),
        5,
        "1 instance failed",
        cfg(batch=2, pulse_interval_secs=3),
        3,
        DIES,
        ((0, "pulse"),),
    ),
    "failure-awaiting-pulse-no-rollback": Case(
        (RFA, U.FAILED),
        5,
        "1 instance failed",
        cfg(batch=2, pulse_interval_secs=3, rollback_on_failure=False),
        3,
        DIES,
        ((0, "pulse"),),
    ),
    "last-in-flight-done-awaiting-pulse": Case(
        (RFA, U.ROLLED_FORWARD),
        11,
        "2 instances updated",
        cfg(batch=2, pulse_interval_secs=5),
        verbs=((0, "pulse"),),
    ),
    # instance 0 restored 5..16
    "rolled-back": Case((RB, U.ROLLED_BACK), 16, "rolled back: 1 instance failed", behave=DIES),
    "user-rollback": Case(
        (RB, U.ROLLED_BACK), 34, "rolled back: asked by the user", n=3, verbs=((12, "rollback"),)
    ),
    "pulse-expired-in-rollback": Case(
        (RB, RBA),
        20,
        "no pulse",
        cfg(batch=2, pulse_interval_secs=20),
        behave={**DIES, (1, OLD): STUCK},
        verbs=((0, "pulse"),),
    ),
    "rollback-fails": Case((RB, U.FAILED), 8, "rollback failed", behave=DIES_BOTH),
    "restored-while-paused": Case(
        (RBP, U.ROLLED_BACK), 16, "rolled back", behave=DIES, verbs=((7, "pause"),)
    ),
    "restore-fails-while-paused": Case(
        (RBP, U.FAILED), 8, "rollback failed", behave=DIES_BOTH, verbs=((6, "pause"),)
    ),
    "restored-awaiting-pulse": Case(
        (RBA, U.ROLLED_BACK),
        16,
        "rolled back",
        cfg(pulse_interval_secs=10),
        behave=DIES,
        verbs=((0, "pulse"),),
    ),
    "restore-fails-awaiting-pulse": Case(
        (RBA, U.FAILED),
        8,
        "rollback failed",
        cfg(pulse_interval_secs=7),
        behave=DIES_BOTH,
        verbs=((0, "pulse"),),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_planner_transitions(case: Case) -> None:
    sim = build(case.settings, case.n, case.behave).run(100, case.verbs)
    made = [(at, a, b, why) for at, a, b, why in sim.transitions if (a, b) == case.expect]
    assert made, sim.transitions
    at, _, _, why = made[0]
    assert at == case.at, sim.transitions
    assert case.why in why
    # and nothing the states do not allow, ever
    assert all(b in ALLOWED[a] for _, a, b, _ in sim.transitions)


def test_every_allowed_transition_is_covered() -> None:
    covered = {c.expect for c in CASES.values()}
    for status, targets in COMMANDS.items():
        covered |= {(status, t) for t in targets if t is not None and t is not status}
    reachable = {(a, b) for a, bs in ALLOWED.items() for b in bs if b is not U.ERROR}
    assert reachable - covered == set()


def test_an_ended_update_does_nothing() -> None:
    for status in (U.ROLLED_FORWARD, U.ROLLED_BACK, U.ABORTED, U.ERROR, U.FAILED):
        out = step(
            cfg(),
            Progress(status=status),
            {0: InstanceProgress(0, OLD, NEW)},
            {},
            service=True,
            size=1,
            now=5.0,
        )
        assert (out.changes, out.events, out.progress.status) == ([], [], status)


def test_step_is_pure_and_repeatable() -> None:
    sim = build(cfg(Strategy.BATCH, 2), 4, DIES).run(4)
    progress, instances = (
        dataclasses.replace(sim.progress),
        {i: dataclasses.replace(p) for i, p in sim.instances.items()},
    )
    views = {i: sim.view(i) for i in sim.instances}  # at 5: instance 0 died

    def once() -> Step:
        return step(sim.settings, sim.progress, sim.instances, views, service=True, size=4, now=5.0)

    first, second = once(), once()
    assert first.changes == second.changes == [Change(1, OLD), Change(0, OLD)]
    assert first.progress == second.progress and first.instances == second.instances
    assert sim.progress == progress and sim.instances == instances  # inputs left alone


def test_a_new_update_counts_its_deadline_from_its_first_pass() -> None:
    # Progress.progressed is "when an instance last finished, or the update (re)started": a
    # fresh Progress() stepped at a real clock must not find its deadline long passed.
    settings = cfg(progress_deadline_secs=60)
    instances = {0: InstanceProgress(0, OLD, NEW)}
    out = step(
        settings,
        Progress(),
        instances,
        {0: RunView(OLD, ScheduleStatus.RUNNING, 1.0)},
        service=True,
        size=1,
        now=1_700_000_000.0,
    )
    assert out.progress.status is RF
    assert out.changes == [Change(0, NEW)]


# --- strategies and batch sizes ----------------------------------------------------------

# staggered: instance 1 comes up after 4 s, instance 3 after 6 s, the rest after 1 s
STAGGERED: Behaviour = {(1, NEW): (Attempt(up=4),), (3, NEW): (Attempt(up=6),)}


@pytest.mark.parametrize(
    "strategy, starts",
    [
        # a slot frees as soon as its instance is updated: 0 at 11, 1 at 14, 2 at 22, 3 at 30
        (Strategy.QUEUE, {0: 0, 1: 0, 2: 11, 3: 14, 4: 22, 5: 30}),
        # a batch waits for the slowest of the one before: 1 at 14, then 3 at 30
        (Strategy.BATCH, {0: 0, 1: 0, 2: 14, 3: 14, 4: 30, 5: 30}),
    ],
    ids=["queue", "batch"],
)
def test_queue_and_batch(strategy: Strategy, starts: dict[int, float]) -> None:
    sim = build(cfg(strategy, 2), 6, STAGGERED).run(200)
    assert sim.progress.status is U.ROLLED_FORWARD
    seen = {i: t for t, changed in sim.changed_at() for i in changed}
    assert seen == starts
    for r in sim.trace:
        assert sum(p is Phase.UPDATING for p in r.phases.values()) <= 2


def test_queue_keeps_its_slots_full() -> None:
    sim = build(cfg(Strategy.QUEUE, 3), 8, STAGGERED).run(200)
    assert sim.progress.status is U.ROLLED_FORWARD
    for r in sim.trace:
        waiting = sum(p is Phase.WAITING for p in r.phases.values())
        updating = sum(p is Phase.UPDATING for p in r.phases.values())
        # after every pass, a free slot is only left when nobody is waiting for it
        assert updating == 3 or waiting == 0, r


@pytest.mark.parametrize(
    "settings, n, size, groups",
    [
        (cfg(Strategy.QUEUE, 3), 7, None, [3, 3, 1]),
        (cfg(Strategy.BATCH, 2), 5, None, [2, 2, 1]),
        (cfg(Strategy.VARIABLE_BATCH, (1, 2, 3)), 10, None, [1, 2, 3, 3, 1]),
        (cfg(Strategy.BATCH, "25%"), 10, None, [2, 2, 2, 2, 2]),
        (cfg(Strategy.BATCH, "33%"), 10, None, [3, 3, 3, 1]),
        (cfg(Strategy.BATCH, "5%"), 3, None, [1, 1, 1]),
        (cfg(Strategy.QUEUE, "50%"), 4, 8, [4]),  # of the job's size, not of those changed
        (cfg(Strategy.VARIABLE_BATCH, ("10%", "50%")), 10, None, [1, 5, 4]),
        (cfg(Strategy.BATCH, 3, canary=1), 7, None, [1, 3, 3]),
        (cfg(Strategy.QUEUE, 2, canary=1), 5, None, [1, 2, 2]),
        (cfg(Strategy.VARIABLE_BATCH, (2, 4), canary="10%"), 10, None, [1, 2, 4, 3]),
    ],
    ids=[
        "queue-3",
        "batch-2",
        "variable-1-2-3",
        "batch-25%",
        "batch-33%",
        "batch-5%-at-least-1",
        "queue-50%-of-size",
        "variable-percentages",
        "canary-then-batch",
        "canary-then-queue",
        "canary-percent-then-variable",
    ],
)
def test_batch_sizes(settings: UpdateSettings, n: int, size: int | None, groups: list[int]) -> None:
    sim = build(settings, n, size=size).run(500, auto_resume=True)
    assert sim.progress.status is U.ROLLED_FORWARD
    assert [len(changed) for _, changed in sim.changed_at()] == groups
    # instances go in order
    assert [i for _, changed in sim.changed_at() for i in changed] == list(range(n))


def test_autopause_after_each_batch_but_the_last() -> None:
    sim = build(cfg(Strategy.BATCH, 2, autopause_after_batch=True), 5)
    sim.run(40)
    assert sim.progress.status is RFP and sim.now == 41  # stays paused
    assert sim.changed_at() == [(0, [0, 1])]
    sim.run(60, ((41, "resume"),))
    sim.run(200, ((61, "resume"),))
    assert sim.changed_at() == [(0, [0, 1]), (41, [2, 3]), (61, [4])]
    pauses = [at for at, _, b, _ in sim.transitions if b is RFP]
    assert pauses == [11, 52]  # none after the last batch
    assert sim.progress.status is U.ROLLED_FORWARD


def test_canary_pauses_then_goes_on_by_batch_size() -> None:
    sim = build(cfg(Strategy.BATCH, 2, canary=1), 5).run(100)
    assert sim.progress.status is RFP
    assert sim.changed_at() == [(0, [0])]
    sim.run(300, ((150, "resume"),))
    assert sim.changed_at() == [(0, [0]), (150, [1, 2]), (161, [3, 4])]
    assert sim.progress.status is U.ROLLED_FORWARD


# --- watching an instance ----------------------------------------------------------------


@pytest.mark.parametrize(
    "attempts, max_per_shard, service, phase, at",
    [
        (HEALTHY, 0, True, Phase.UPDATED, 11),  # RUNNING at 1, watched 10 s: not at 10
        ((Attempt(up=3),), 0, True, Phase.UPDATED, 13),
        (dies(5), 0, True, Phase.FAILED, 5),  # died within the watch
        (dies(5, Attempt()), 1, True, Phase.UPDATED, 16),  # one retry; watched from its start
        (dies(5), 1, True, Phase.FAILED, 10),  # a second death is one too many
        (dies(5), 2, True, Phase.FAILED, 15),
        ((Attempt(dies=12),), 0, True, Phase.UPDATED, 11),  # died after the watch: not counted
        ((Attempt(finishes=3),), 0, False, Phase.UPDATED, 3),  # a batch job that finished
        ((Attempt(finishes=30),), 0, False, Phase.UPDATED, 11),
        ((Attempt(finishes=3),), 0, True, Phase.FAILED, 3),  # a service that ended, not replaced
        ((Attempt(dies=4, replaced=False),), 3, True, Phase.FAILED, 4),  # ended, not replaced
        ((Attempt(up=None, dies=4, replaced=False),), 3, False, Phase.FAILED, 4),
        (STUCK, 0, True, None, None),  # never RUNNING: still updating
    ],
    ids=[
        "healthy",
        "slow-start",
        "dies-in-window",
        "retry-allowed",
        "retries-exhausted",
        "two-retries",
        "dies-after-window",
        "batch-job-finished",
        "batch-job-running-long",
        "service-finished-not-replaced",
        "ended-not-replaced",
        "batch-job-failed-not-replaced",
        "stuck-pending",
    ],
)
def test_watch(
    attempts: tuple[Attempt, ...],
    max_per_shard: int,
    service: bool,
    phase: Phase | None,
    at: float | None,
) -> None:
    settings = cfg(max_per_shard_failures=max_per_shard, max_total_failures=1)
    sim = build(settings, 1, {(0, NEW): attempts}, service=service).run(60)
    ends = (Phase.UPDATED, Phase.FAILED)
    assert sim.when(0, *ends) == at
    if phase is None:
        assert sim.trace[-1].phases[0] is Phase.UPDATING
    else:
        assert sim.trace[-1].phases[0] is phase
        assert sim.progress.status is U.ROLLED_FORWARD  # one failure is tolerated here


# --- rollback ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, n, behave, verbs, failed_at, groups",
    [
        # batches [0,1] 0..11, [2,3] 11..22, [4,5] from 22; 4 dies at 25
        (cfg(Strategy.BATCH, 2), 8, {(4, NEW): dies(3)}, (), 25, [[4, 5], [2, 3], [0, 1]]),
        # queue slots: 0,1 are batch 0, 2,3 batch 1 (started at 11); 3 dies at 14
        (cfg(Strategy.QUEUE, 2), 6, {(3, NEW): dies(3)}, (), 14, [[2, 3], [0, 1]]),
        # variable: [0], [1,2], [3,4,5] from 11+11=22; 3 dies at 24
        (
            cfg(Strategy.VARIABLE_BATCH, (1, 2, 3)),
            8,
            {(3, NEW): dies(2)},
            (),
            24,
            [[3, 4, 5], [1, 2], [0]],
        ),
        # canary [0], then [1,2] from the resume at 20; 2 dies at 22
        (
            cfg(Strategy.BATCH, 2, canary=1),
            5,
            {(2, NEW): dies(2)},
            ((20, "resume"),),
            22,
            [[1, 2], [0]],
        ),
    ],
    ids=["batch", "queue", "variable-batch", "canary"],
)
def test_rollback_restores_changed_batches_newest_first(
    settings: UpdateSettings,
    n: int,
    behave: Behaviour,
    verbs: tuple[tuple[float, str], ...],
    failed_at: float,
    groups: list[list[int]],
) -> None:
    sim = build(settings, n, behave).run(300, verbs)
    assert sim.progress.status is U.ROLLED_BACK
    started = [(at, b) for at, _, b, _ in sim.transitions if b is RB]
    assert started == [(failed_at, RB)]
    restores = [
        (r.now, sorted(c.instance for c in r.changes))
        for r in sim.trace
        if r.changes and r.after is RB
    ]
    # the first batch restored in the very pass that found the failure, 11 s per batch after
    assert restores == [(failed_at + 11 * k, g) for k, g in enumerate(groups)]
    assert all(c.config == OLD for r in sim.trace if r.after is RB for c in r.changes)
    changed = {i for g in groups for i in g}
    for i in range(n):
        run = sim.runs[i]
        assert run.config == OLD
        if i not in changed:  # never touched: still the run from before the update
            assert run.since == -1000.0
            assert all(c.instance != i for r in sim.trace for c in r.changes)


PAIRS: dict[int, tuple[str | None, str | None]] = {
    0: (OLD, NEW),
    1: (OLD, NEW),
    2: (None, NEW),  # added by the update
    3: (OLD, None),  # removed by the update
}


def test_adding_and_removing_instances_forward() -> None:
    sim = build(cfg(Strategy.BATCH, 4), PAIRS).run(100)
    assert sim.progress.status is U.ROLLED_FORWARD
    assert sim.changed_at() == [(0, [0, 1, 2, 3])]
    assert sim.when(3, Phase.UPDATED) == STOP_SECS  # removed once its run was killed
    assert {i: r.config for i, r in sim.runs.items()} == {0: NEW, 1: NEW, 2: NEW, 3: None}


def test_rollback_removes_added_instances_and_brings_back_removed_ones() -> None:
    sim = build(cfg(Strategy.BATCH, 4), PAIRS, {(0, NEW): dies(5)}).run(100)
    assert sim.progress.status is U.ROLLED_BACK
    back = [r.changes for r in sim.trace if r.after is RB and r.changes]
    assert back == [[Change(3, OLD), Change(2, None), Change(1, OLD), Change(0, OLD)]]
    assert {i: r.config for i, r in sim.runs.items()} == {0: OLD, 1: OLD, 2: None, 3: OLD}
    assert sim.when(2, Phase.ROLLED_BACK) == 5 + STOP_SECS
    assert all(sim.view(i).state is ScheduleStatus.RUNNING for i in (0, 1, 3))


def test_rollback_tolerates_restore_failures_up_to_max_total_failures() -> None:
    settings = cfg(Strategy.BATCH, 2, max_total_failures=1)
    behave: Behaviour = {(0, NEW): dies(5), (1, NEW): dies(5), (1, OLD): dies(3)}
    sim = build(settings, 3, behave).run(100)
    assert sim.progress.status is U.ROLLED_BACK
    assert sim.trace[-1].phases == {
        0: Phase.ROLLED_BACK,
        1: Phase.ROLLBACK_FAILED,
        2: Phase.WAITING,
    }


# --- the batch size holds over whole updates ---------------------------------------------

SHAPES = {
    "queue-2": cfg(Strategy.QUEUE, 2),
    "batch-3": cfg(Strategy.BATCH, 3),
    "variable": cfg(Strategy.VARIABLE_BATCH, (1, 2, 4)),
    "canary-percent": cfg(Strategy.BATCH, "30%", canary=1),
    "queue-autopause-deadline": cfg(
        Strategy.QUEUE, 3, autopause_after_batch=True, progress_deadline_secs=40
    ),
}


def random_update(shape: str, seed: int) -> Sim:
    rng = random.Random(seed)
    settings = dataclasses.replace(
        SHAPES[shape],
        max_per_shard_failures=rng.choice((0, 1)),
        max_total_failures=rng.choice((0, 1, 2)),
        rollback_on_failure=rng.random() < 0.8,
    )
    n = rng.randint(3, 12)
    behave: Behaviour = {}
    for i in range(n):
        for config in (OLD, NEW):
            roll = rng.random()
            if roll < 0.15:
                behave[(i, config)] = dies(rng.randint(1, 15), Attempt(up=rng.randint(1, 5)))
            elif roll < 0.2:
                behave[(i, config)] = dies(rng.randint(1, 15))
            elif roll < 0.25 and config == NEW and settings.progress_deadline_secs:
                behave[(i, config)] = STUCK  # only the deadline ends a hung update
            else:
                behave[(i, config)] = (Attempt(up=rng.randint(1, 5)),)
    return build(settings, n, behave)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shape", SHAPES)
def test_never_more_than_a_batch_changing_at_once(shape: str, seed: int) -> None:
    sim = random_update(shape, seed).run(3000, auto_resume=True)
    settings, size = sim.settings, sim.size
    largest = max(settings.batch_size(i, size) for i in range(size + 2))
    assert sim.progress.status.terminal
    for r in sim.trace:
        watched = [i for i, p in r.phases.items() if p.watched]
        assert len(watched) <= largest, r
        assert len(r.changes) <= largest, r
        for batch in {r.batches[i] for i in watched}:
            members = [i for i in watched if r.batches[i] == batch]
            assert len(members) <= settings.batch_size(batch, size), r
    # a rollback restores whole forward batches, newest first, and only changed instances
    forward = {c.instance for r in sim.trace if r.after.forward for c in r.changes}
    back = [r for r in sim.trace if r.changes and r.after in (RB, RBA, RBP, U.ROLLED_BACK)]
    assert {c.instance for r in back for c in r.changes} <= forward
    batches = [{r.batches[c.instance] for c in r.changes} for r in back]
    assert all(len(b) == 1 for b in batches)
    order = [b.pop() for b in batches]
    assert order == sorted(order, reverse=True) and len(set(order)) == len(order)
    if sim.progress.status is U.ROLLED_BACK:
        for i in forward:
            assert sim.runs[i].config == OLD or sim.trace[-1].phases[i] is Phase.ROLLBACK_FAILED
    if sim.progress.status is U.ROLLED_FORWARD:
        ended = (Phase.UPDATED, Phase.FAILED)
        assert all(p in ended for p in sim.trace[-1].phases.values())


# --- pause ---------------------------------------------------------------------------------


def test_pause_stops_new_changes_but_in_flight_instances_finish() -> None:
    sim = build(cfg(Strategy.QUEUE, 2), 4).run(49, ((3, "pause"),))
    assert sim.status_at(49) is RFP
    assert sim.changed_at() == [(0, [0, 1])]
    assert sim.when(0, Phase.UPDATED) == 11 and sim.when(1, Phase.UPDATED) == 11
    sim.run(200, ((50, "resume"),))
    assert sim.changed_at() == [(0, [0, 1]), (50, [2, 3])]
    assert sim.progress.status is U.ROLLED_FORWARD


def test_pause_in_rollback_stops_restoring_more_batches() -> None:
    sim = build(cfg(Strategy.BATCH, 1), 3, {(1, NEW): dies(5)}).run(90, ((17, "pause"),))
    # 1 dies at 16: restored at 16..27; batch [0] waits for the resume
    assert sim.status_at(90) is RBP
    assert sim.when(1, Phase.ROLLED_BACK) == 27
    assert sim.trace[-1].phases[0] is Phase.ROLLBACK_WAITING
    sim.run(200, ((91, "resume"),))
    assert [at for at, changed in sim.changed_at(RB)] == [16, 91]
    assert sim.progress.status is U.ROLLED_BACK


def test_time_paused_does_not_count_against_the_deadline() -> None:
    # 0 updated at 11; 1 changed at 11 never comes up: unpaused, the deadline is at 41
    settings = cfg(progress_deadline_secs=30)
    sim = build(settings, 2, {(1, NEW): STUCK}).run(199, ((15, "pause"),))
    assert sim.status_at(199) is RFP
    sim.run(400, ((200, "resume"),))
    rollback = [at for at, _, b, _ in sim.transitions if b is RB]
    assert len(rollback) == 1
    # 4 s ran before the pause; whether those count or not, the deadline is 26..30 s after
    # the resume, never at the resume itself
    assert 226 <= rollback[0] <= 230


def test_time_awaiting_a_pulse_does_not_count_against_the_deadline() -> None:
    settings = cfg(progress_deadline_secs=30, pulse_interval_secs=15)
    # pulses at 0 and 11 (when 0 is updated), then none until 200: awaiting one from 26
    sim = build(settings, 2, {(1, NEW): STUCK}).run(199, ((0, "pulse"), (11, "pulse")))
    assert sim.status_at(199) is RFA
    sim.run(400, tuple((t, "pulse") for t in range(200, 400, 10)))
    rollback = [at for at, _, b, _ in sim.transitions if b is RB]
    # 15 s ran before the wait (11..26); counted or not, never at the pulse itself
    assert len(rollback) == 1 and 215 <= rollback[0] <= 230


def test_pulses_that_lapse_now_and_then_do_not_reset_the_deadline() -> None:
    # A coordinator pulses every 21 s against a 20 s interval: the update awaits a pulse 1 s
    # in 21 and moves the other 20. Instance 1 never comes up, so nothing finishes after 11;
    # counting only the time spent moving (11..20, 21..41, 42..), the 30 s deadline passes at
    # 43 (41 counting the waits too). A deadline that each pulse restarts in full is never
    # reached, however long the update hangs.
    settings = cfg(progress_deadline_secs=30, pulse_interval_secs=20)
    pulses = tuple((t, "pulse") for t in range(0, 400, 21))
    sim = build(settings, 2, {(1, NEW): STUCK}).run(400, pulses)
    rollback = [at for at, _, b, _ in sim.transitions if b is RB]
    assert rollback and rollback[0] < 100, sim.transitions[-4:]


@pytest.mark.parametrize(
    "settings, progress, view, wake",
    [
        # a watch ends watch_secs after the later of the change and the run's start
        (cfg(), Progress(progressed=0.0), RunView(NEW, ScheduleStatus.RUNNING, 12.0), 22.0),
        # not running yet: only a status update can move it
        (cfg(), Progress(progressed=0.0), RunView(NEW, ScheduleStatus.STARTING), None),
        # a pulse falls due before the watch ends
        (
            cfg(pulse_interval_secs=5),
            Progress(progressed=0.0, pulse=13.0),
            RunView(NEW, ScheduleStatus.RUNNING, 12.0),
            18.0,
        ),
        # the deadline falls due before the watch ends
        (
            cfg(progress_deadline_secs=11),
            Progress(progressed=9.0),
            RunView(NEW, ScheduleStatus.RUNNING, 12.0),
            20.0,
        ),
        # paused: no timer runs, the watch still does
        (
            cfg(progress_deadline_secs=11),
            Progress(RFP, progressed=9.0, stopped=14.0),
            RunView(NEW, ScheduleStatus.RUNNING, 12.0),
            22.0,
        ),
    ],
    ids=["watch", "not-running", "pulse", "deadline", "paused"],
)
def test_the_step_says_when_time_alone_will_change_something(
    settings: UpdateSettings, progress: Progress, view: RunView, wake: float | None
) -> None:
    instances = {
        0: InstanceProgress(0, OLD, NEW, Phase.UPDATING, 0, 10.0),
        1: InstanceProgress(1, OLD, NEW),
    }
    out = step(settings, progress, instances, {0: view}, service=True, size=2, now=15.0)
    assert out.wake == wake
    assert out.instances[0].phase is Phase.UPDATING  # nothing due yet
