"""What an update does next: a pure function of its settings, its persisted progress, what the
scheduler sees of each instance's newest run, and the time (docs/updates.md).

No I/O and no clock of its own; the scheduler calls ``step`` every scheduling pass
(level-triggered: it recomputes from the stored progress and the runs, so a scheduler that was
SIGKILLed resumes exactly where the store says) and applies the ``Change``s it returns.

* An instance **updated** is one whose newest run carries the target config and has been
  RUNNING (so healthy, when it has a health check: the executor says RUNNING only then) for
  ``watch_secs``; a non-service run that FINISHED counts too.
* Every run on the target config that ended after the change (not stopped by the scheduler) is
  a **failure** of the instance; more than ``max_per_shard_failures`` and the instance FAILED, as
  it is when its run ended and the scheduler will not replace it. More than
  ``max_total_failures`` failed instances, or no instance finished for
  ``progress_deadline_secs``, and the update **fails**: it rolls back (``rollback_on_failure``)
  or ends FAILED. A rollback with no instance restored for ``progress_deadline_secs`` ends
  FAILED. Time spent paused or awaiting a pulse does not count against the deadline.
* Batches: QUEUE keeps up to a batch in flight (one starts as soon as one finishes); BATCH and
  VARIABLE_BATCH start a batch once the previous one has finished, and pause after each with
  ``autopause_after_batch``; a ``canary`` batch comes first and always pauses after it.
* A rollback restores every instance the update changed, by batches in the reverse order of
  the forward ones, in the same pass that decided it.
* With ``pulse_interval_secs`` nothing starts unless a pulse came within that interval.
* With ``sla_aware`` and an SLA policy (the new config's forward, the old one's in a
  rollback, as Aurora), an instance chosen for a batch is SLA_WAITING until taking its run
  down keeps the policy (``scheduler/sla.py``); it holds its slot in the batch meanwhile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from borealis.contract.schedule import ScheduleStatus
from borealis.contract.slapolicy import SlaPolicy
from borealis.contract.updatespec import Strategy, UpdateSettings

from .. import sla as sla_math
from ..sla import SlaView
from .states import (
    AWAIT_PULSE,
    BACK,
    FORWARD,
    PAUSE,
    PULSED,
    RESUME,
    Phase,
    UpdateStatus,
    allowed,
)

U = UpdateStatus


@dataclass(frozen=True)
class RunView:
    """An instance's newest run as the scheduler sees it, measured against the instance's
    target config (the new one forward, the old one in a rollback)."""

    config: str | None = None  # the config the newest run carries; None: no run
    state: ScheduleStatus | None = None
    running_since: float | None = None  # when it became RUNNING
    failures: int = 0  # runs on the target config that ended, unasked, after the change
    replaced: bool = True  # False: its run ended and the scheduler will not start another


@dataclass
class InstanceProgress:
    instance: int
    old: str | None  # its config before the update; None: the update adds it
    new: str | None  # its config after; None: the update removes it
    phase: Phase = Phase.WAITING
    batch: int = -1  # the forward batch that changed it
    since: float = 0.0  # when it was last changed (forward or back)

    @property
    def target(self) -> str | None:
        return self.old if self.phase in (Phase.ROLLBACK_WAITING, Phase.ROLLING_BACK) else self.new


@dataclass
class Progress:
    status: UpdateStatus = U.ROLLING_FORWARD
    batches: int = 0  # forward batches started
    paused_after: int = -1  # the last batch after which the update paused itself
    pulse: float | None = None  # when the last pulse came
    # when an instance last finished or the update started (None: at its first step), moved
    # on by the time spent paused or awaiting a pulse
    progressed: float | None = None
    stopped: float | None = None  # since when it is paused or awaiting a pulse
    reason: str = ""
    cause: str = ""  # why it rolls back (the reason changes while it does: pause, pulses)


@dataclass(frozen=True)
class Change:
    """Give ``instance`` this config (None: no run at all), restarting it if it runs another."""

    instance: int
    config: str | None


@dataclass
class Step:
    progress: Progress
    instances: dict[int, InstanceProgress]
    changes: list[Change] = field(default_factory=list)
    events: list[tuple[UpdateStatus, str]] = field(default_factory=list)  # status, why
    # the next moment at which time alone changes something (a watch ends, a pulse or the
    # deadline falls due): the scheduler's next pass need not wait longer than that
    wake: float | None = None
    # instances held for a coordinator's yes (a coordinator SLA policy), with that policy
    sla_asks: list[tuple[int, SlaPolicy]] = field(default_factory=list)

    def wake_at(self, when: float) -> None:
        self.wake = when if self.wake is None else min(self.wake, when)

    def move(self, status: UpdateStatus, why: str, now: float) -> None:
        assert allowed(self.progress.status, status), (self.progress.status, status)
        _stop_clock(self.progress, status, now)
        self.progress.status, self.progress.reason = status, why
        if status is U.ROLLING_BACK and self.progress.cause == "":
            self.progress.cause = why.removeprefix("rolling back: ")
        self.events.append((status, why))


def _stop_clock(progress: Progress, status: UpdateStatus, now: float) -> None:
    """The deadline's clock stops while the update is paused or awaits a pulse, and goes on
    from where it was when the update moves again."""
    if status.moving or status.terminal:
        if progress.stopped is not None and progress.progressed is not None:
            progress.progressed += now - progress.stopped
        progress.stopped = None
    elif progress.stopped is None:
        progress.stopped = now


def step(
    settings: UpdateSettings,
    progress: Progress,
    instances: dict[int, InstanceProgress],
    views: dict[int, RunView],
    *,
    service: bool,
    size: int,
    now: float,
    sla: SlaView | None = None,
) -> Step:
    """The next step of an update. ``size`` is the job's instance count that percentages are
    taken of (the larger of before and after); ``sla``: the job's runs and policies, for an
    ``sla_aware`` update."""
    out = Step(
        dataclasses.replace(progress),
        {i: dataclasses.replace(p) for i, p in instances.items()},
    )
    if out.progress.status.terminal:
        return out
    if out.progress.progressed is None:
        out.progress.progressed = now
    for inst in out.instances.values():
        if inst.phase.watched:
            view = views.get(inst.instance, RunView())
            _watch(inst, view, settings, out.progress, service, now)
            if inst.phase.watched and view.running_since is not None:
                out.wake_at(max(view.running_since, inst.since) + settings.watch_secs)
    gate = _Gate(settings, sla, out, now)
    if out.progress.status.forward:
        _forward(settings, out, size, now, gate)
    if out.progress.status in BACK:
        _back(settings, out, now, gate)
    _timers(settings, out)
    return out


class _Gate:
    """Which instances an update may take down now: all of them, unless it is ``sla_aware``
    and the direction's config has an SLA policy."""

    def __init__(self, settings: UpdateSettings, sla: SlaView | None, out: Step, now: float):
        self.sla = sla if settings.sla_aware else None
        self.out, self.now = out, now

    def policy(self, back: bool) -> SlaPolicy | None:
        if self.sla is None:
            return None
        return self.sla.back if back else self.sla.forward

    def allow(self, candidates: list[int], back: bool) -> list[int]:
        policy = self.policy(back)
        if policy is None or self.sla is None or not candidates:
            return candidates
        decision = sla_math.decide(policy, self.sla.runs, candidates, self.now, self.sla.approved)
        if decision.recheck is not None:
            self.out.wake_at(decision.recheck)
        self.out.sla_asks += [(i, policy) for i in decision.ask]
        return list(decision.allowed)


def _timers(settings: UpdateSettings, out: Step) -> None:
    """When a pulse or the deadline falls due, for the update as this step leaves it."""
    progress = out.progress
    if not progress.status.moving:
        return
    if settings.pulse_interval_secs is not None and progress.pulse is not None:
        out.wake_at(progress.pulse + settings.pulse_interval_secs)
    if settings.progress_deadline_secs is not None and progress.progressed is not None:
        out.wake_at(progress.progressed + settings.progress_deadline_secs)


def _watch(
    inst: InstanceProgress,
    view: RunView,
    settings: UpdateSettings,
    progress: Progress,
    service: bool,
    now: float,
) -> None:
    forward = inst.phase is Phase.UPDATING
    done, failed = (
        (Phase.UPDATED, Phase.FAILED) if forward else (Phase.ROLLED_BACK, Phase.ROLLBACK_FAILED)
    )
    target = inst.target
    if target is None:  # removing the instance: done once nothing runs
        if view.state is None or view.state.terminal:
            inst.phase, progress.progressed = done, now
        return
    if view.config != target:
        return  # its previous run is still stopping
    if view.failures > settings.max_per_shard_failures:
        inst.phase = failed
    elif view.state is not None and view.state.terminal and not view.replaced:
        finished = view.state is ScheduleStatus.FINISHED and not service
        inst.phase = done if finished else failed
    elif (
        view.state is ScheduleStatus.RUNNING
        and view.running_since is not None
        and now - max(view.running_since, inst.since) >= settings.watch_secs
    ):
        inst.phase = done
    if inst.phase is done:
        progress.progressed = now


def _instances(n: int) -> str:
    return f"{n} instance" if n == 1 else f"{n} instances"


def _count(out: Step, *phases: Phase) -> int:
    return sum(1 for inst in out.instances.values() if inst.phase in phases)


def _pulse_due(settings: UpdateSettings, progress: Progress, now: float) -> bool:
    interval = settings.pulse_interval_secs
    return interval is not None and (progress.pulse is None or now - progress.pulse >= interval)


def _forward(settings: UpdateSettings, out: Step, size: int, now: float, gate: _Gate) -> None:
    progress = out.progress
    failed = _count(out, Phase.FAILED)
    deadline = settings.progress_deadline_secs
    if failed > settings.max_total_failures:
        _fail(
            settings,
            out,
            f"{_instances(failed)} failed (max_total_failures is {settings.max_total_failures})",
            now,
            gate,
        )
        return
    pending = _count(out, Phase.UPDATING, Phase.WAITING, Phase.SLA_WAITING)
    if progress.status is U.ROLLING_FORWARD and pending and _stalled(settings, out, now):
        _fail(
            settings,
            out,
            f"no instance finished updating in {deadline}s (progress_deadline_secs)",
            now,
            gate,
        )
        return
    if not pending:
        out.move(U.ROLLED_FORWARD, f"{_instances(_count(out, Phase.UPDATED))} updated", now)
        return
    if progress.status is U.ROLLING_FORWARD and _pulse_due(settings, progress, now):
        out.move(AWAIT_PULSE[progress.status], "no pulse in pulse_interval_secs", now)
        return
    if progress.status is U.ROLLING_FORWARD:
        _start_forward(settings, out, size, now, gate.policy(back=False) is not None)
        held = sorted(i for i, p in out.instances.items() if p.phase is Phase.SLA_WAITING)
        for instance in gate.allow(held, back=False):
            inst = out.instances[instance]
            inst.phase, inst.since = Phase.UPDATING, now
            out.changes.append(Change(instance, inst.new))


def _start_forward(settings: UpdateSettings, out: Step, size: int, now: float, held: bool) -> None:
    """Choose the next instances to change (SLA_WAITING first when ``held``)."""
    progress = out.progress
    waiting = sorted(i for i, p in out.instances.items() if p.phase is Phase.WAITING)
    flying = _count(out, Phase.UPDATING, Phase.SLA_WAITING)
    canary = settings.canary is not None
    in_canary = canary and (progress.batches == 0 or progress.paused_after < 0)
    if settings.strategy is Strategy.QUEUE and not in_canary:
        # one in flight per slot; the n-th instance started belongs to batch n // size, which
        # is how a rollback groups them
        first = 1 if canary else 0
        queue_size = settings.batch_size(first, size)
        started = sum(1 for p in out.instances.values() if p.batch >= first)
        for instance in waiting[: max(0, queue_size - flying)]:
            batch = first + started // queue_size
            started += 1
            progress.batches = max(progress.batches, batch + 1)
            _change(out, [instance], batch, now, held)
        return
    if flying:
        return  # a batch finishes before the next starts
    pausing = (canary and progress.batches == 1) or settings.autopause_after_batch
    if progress.batches and progress.paused_after < progress.batches - 1 and pausing:
        progress.paused_after = progress.batches - 1
        which = "the canary batch" if canary and progress.batches == 1 else "a batch"
        out.move(U.ROLL_FORWARD_PAUSED, f"paused after {which} (resume to go on)", now)
        return
    batch = progress.batches
    progress.batches += 1
    _change(out, waiting[: settings.batch_size(batch, size)], batch, now, held)


def _change(out: Step, chosen: list[int], batch: int, now: float, held: bool) -> None:
    for instance in chosen:
        inst = out.instances[instance]
        inst.batch, inst.since = batch, now
        if held:
            inst.phase = Phase.SLA_WAITING
        else:
            inst.phase = Phase.UPDATING
            out.changes.append(Change(instance, inst.new))


def _stalled(settings: UpdateSettings, out: Step, now: float) -> bool:
    """Whether no instance finished for ``progress_deadline_secs`` of moving time."""
    deadline, since = settings.progress_deadline_secs, out.progress.progressed
    return deadline is not None and since is not None and now - since >= deadline


def _fail(settings: UpdateSettings, out: Step, why: str, now: float, gate: _Gate) -> None:
    if settings.rollback_on_failure:
        out.move(U.ROLLING_BACK, f"rolling back: {why}", now)
        out.progress.progressed = now  # the rollback has a deadline of its own
        _back(settings, out, now, gate)
    else:
        out.move(U.FAILED, why, now)


def _back(settings: UpdateSettings, out: Step, now: float, gate: _Gate) -> None:
    progress = out.progress
    for inst in out.instances.values():
        if inst.phase.changed:
            inst.phase = Phase.ROLLBACK_WAITING
        elif inst.phase is Phase.SLA_WAITING:  # never changed: nothing to restore
            inst.phase = Phase.WAITING
    failed = _count(out, Phase.ROLLBACK_FAILED)
    if failed > settings.max_total_failures:
        out.move(U.FAILED, f"rollback failed: {_instances(failed)} did not come back", now)
        return
    if not _count(out, Phase.ROLLBACK_WAITING, Phase.ROLLING_BACK):
        why = progress.cause or progress.reason.removeprefix("rolling back: ")
        out.move(U.ROLLED_BACK, f"rolled back: {why}", now)
        return
    if progress.status is U.ROLLING_BACK and _stalled(settings, out, now):
        deadline = settings.progress_deadline_secs
        out.move(U.FAILED, f"rollback failed: no instance restored in {deadline}s", now)
        return
    if progress.status is U.ROLLING_BACK and _pulse_due(settings, progress, now):
        out.move(AWAIT_PULSE[progress.status], "no pulse in pulse_interval_secs", now)
        return
    if progress.status is not U.ROLLING_BACK or _count(out, Phase.ROLLING_BACK):
        return
    # the forward batches, newest first: each is restored whole before the one before it
    waiting = [p for p in out.instances.values() if p.phase is Phase.ROLLBACK_WAITING]
    newest = max(p.batch for p in waiting)
    batch = [p.instance for p in sorted(waiting, key=lambda p: -p.instance) if p.batch == newest]
    for instance in gate.allow(batch, back=True):
        inst = out.instances[instance]
        inst.phase, inst.since = Phase.ROLLING_BACK, now
        out.changes.append(Change(instance, inst.old))


# --- the user's verbs --------------------------------------------------------------------


class Refused(Exception):
    """The verb does not apply to the update as it is (the message says why)."""


def command(progress: Progress, verb: str, now: float) -> Progress:
    """The update after the user's ``pause``, ``resume``, ``pulse``, ``rollback`` or ``abort``."""
    status = progress.status
    if status.terminal:
        raise Refused(f"the update has ended ({status.value})")
    out = dataclasses.replace(progress)
    if verb == "pulse":
        out.pulse = now
        if status in PULSED:
            _stop_clock(out, PULSED[status], now)
            out.status = PULSED[status]
            out.reason = "pulsed by the user"
        return out
    targets = {
        "pause": PAUSE,
        "resume": RESUME,
        "rollback": {s: U.ROLLING_BACK for s in FORWARD},
        "abort": {s: U.ABORTED for s in U if not s.terminal},
    }
    if verb not in targets:
        raise Refused(f"unknown verb {verb!r}")
    new = targets[verb].get(status)
    if new is None:
        raise Refused(f"cannot {verb} an update that is {status.value}")
    _stop_clock(out, new, now)
    if new is U.ROLLING_BACK:
        out.progressed = now  # the rollback has a deadline of its own
    out.status = new
    out.reason = {
        "pause": "paused by the user",
        "resume": "resumed by the user",
        "rollback": "rolling back: asked by the user",
        "abort": "aborted by the user",
    }[verb]
    if verb == "rollback":
        out.cause = "asked by the user"
    return out
