"""The runner's stopping rule (``executor/runner/stopping.py``) against a fake host and clock:
SIGTERM once, SIGKILL from the deadline on, the coordinator of a run that never ends killed
after its grace, and "nothing left" only after a fresh look. No process is started."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

from borealis.contract.records import Identity
from borealis.contract.replay import RunnerState, apply_process
from borealis.contract.states import ProcessState
from borealis.executor.runner.stopping import SCAN_INTERVAL, Stopper

TERM, KILL = signal.SIGTERM, signal.SIGKILL


@dataclass
class FakeHost:
    """Processes that die on a signal they do not ignore; every signal sent is recorded."""

    ignores_term: set[Identity] = field(default_factory=set)
    live: set[Identity] = field(default_factory=set)
    groups: dict[Identity, set[Identity]] = field(default_factory=dict)  # leader -> members
    marked: set[Identity] = field(default_factory=set)  # found by the environment marker
    contained: set[Identity] = field(default_factory=set)  # in the task's cgroup
    sent: list[tuple[str, Identity, int]] = field(default_factory=list)
    scans: int = 0

    def members(self, roots: list[Identity], task_id: str, sandbox: str) -> list[Identity]:
        self.scans += 1
        found = {m for root in roots for m in self.groups.get(root, {root})} | self.marked
        found |= self.contained
        return sorted(found & self.live)

    def alive(self, who: Identity) -> bool:
        return who in self.live

    def group_of(self, who: Identity) -> int | None:
        if who not in self.live:
            return None
        return next((leader.pid for leader, ids in self.groups.items() if who in ids), who.pid)

    def _deliver(self, who: Identity, sig: int) -> None:
        if who in self.live and not (sig == TERM and who in self.ignores_term):
            self.live.discard(who)

    def signal(self, who: Identity, sig: int) -> None:
        self.sent.append(("one", who, sig))
        self._deliver(who, sig)

    def signal_group(self, leader: Identity, sig: int) -> None:
        self.sent.append(("group", leader, sig))
        for member in self.groups.get(leader, {leader}):
            self._deliver(member, sig)

    def kill_contained(self) -> None:
        self.sent.append(("cgroup", RUN, KILL))
        for member in self.contained:
            self._deliver(member, KILL)


RUN = Identity(100, 1)  # the run's process (its group's leader)
CHILD = Identity(101, 1)
DAEMON = Identity(200, 1)  # double-forked: out of the group, found by its marker
COORDINATOR = Identity(99, 1)


def running() -> RunnerState:
    state = RunnerState()
    apply_process(state, "p", 0, ProcessState.WAITING, 0.0, None, None, None, "")
    apply_process(state, "p", 0, ProcessState.FORKED, 0.0, COORDINATOR, None, None, "")
    apply_process(state, "p", 0, ProcessState.RUNNING, 0.0, None, RUN, None, "")
    return state


def ended(state: RunnerState, at: float) -> None:
    """The coordinator recorded the run's end (what it does once its child is gone)."""
    apply_process(state, "p", 0, ProcessState.KILLED, at, None, None, -15, "")


def stopper(host: FakeHost) -> tuple[Stopper, list[float]]:
    wakes: list[float] = []
    return Stopper("t", wakes.append, host), wakes


def test_a_tree_that_leaves_on_sigterm_gets_it_once_and_never_sigkill() -> None:
    host = FakeHost(live={RUN, CHILD}, groups={RUN: {RUN, CHILD}})
    stop, wakes = stopper(host)
    state = running()
    assert stop.stop_all(state, "/s", 0.0, escalate_at=10.0, coordinator_grace=5.0) is False
    # to the run's group, which holds both: once, not again to each
    assert host.sent == [("group", RUN, TERM)]
    assert 10.0 in wakes and SCAN_INTERVAL in wakes
    ended(state, 0.1)
    assert stop.stop_all(state, "/s", 0.3, escalate_at=10.0, coordinator_grace=5.0) is True
    assert all(sig == TERM for _, _, sig in host.sent)


def test_sigterm_is_not_repeated_and_sigkill_comes_at_the_deadline() -> None:
    host = FakeHost(live={RUN}, ignores_term={RUN})
    stop, _ = stopper(host)
    state = running()
    for now in (0.0, 0.3, 0.6, 9.9):
        assert stop.stop_all(state, "/s", now, escalate_at=10.0, coordinator_grace=5.0) is False
    assert host.sent == [("group", RUN, TERM)]  # once, whatever the passes
    assert stop.stop_all(state, "/s", 10.0, escalate_at=10.0, coordinator_grace=5.0) is False
    assert ("group", RUN, KILL) in host.sent and RUN not in host.live
    ended(state, 10.1)
    assert stop.stop_all(state, "/s", 10.3, escalate_at=10.0, coordinator_grace=5.0) is True


def test_a_double_forked_daemon_found_by_its_marker_is_stopped_too() -> None:
    host = FakeHost(live={RUN, DAEMON}, marked={DAEMON}, ignores_term={DAEMON})
    stop, _ = stopper(host)
    state = running()
    stop.stop_all(state, "/s", 0.0, escalate_at=5.0, coordinator_grace=5.0)
    ended(state, 0.1)
    # the run is over, but a member is left: not done, and it gets SIGKILL at the deadline
    assert stop.stop_all(state, "/s", 1.0, escalate_at=5.0, coordinator_grace=5.0) is False
    assert stop.stop_all(state, "/s", 5.0, escalate_at=5.0, coordinator_grace=5.0) is False
    assert ("one", DAEMON, TERM) in host.sent and ("one", DAEMON, KILL) in host.sent
    assert stop.stop_all(state, "/s", 5.3, escalate_at=5.0, coordinator_grace=5.0) is True


def test_the_coordinator_of_a_run_that_never_ends_is_killed_after_its_grace() -> None:
    host = FakeHost(live={RUN, COORDINATOR})
    stop, wakes = stopper(host)
    state = running()  # the coordinator never records the end: the run stays RUNNING
    stop.stop_all(state, "/s", 0.0, escalate_at=2.0, coordinator_grace=5.0)
    assert 7.0 in wakes
    stop.stop_all(state, "/s", 6.9, escalate_at=2.0, coordinator_grace=5.0)
    assert ("one", COORDINATOR, KILL) not in host.sent
    stop.stop_all(state, "/s", 7.0, escalate_at=2.0, coordinator_grace=5.0)
    assert ("one", COORDINATOR, KILL) in host.sent


def test_nothing_left_is_said_only_after_a_fresh_look_and_never_while_runs_wait() -> None:
    host = FakeHost(live={RUN})
    stop, _ = stopper(host)
    state = running()
    stop.stop_all(state, "/s", 0.0, escalate_at=9.0, coordinator_grace=5.0)
    ended(state, 0.0)
    scans = host.scans
    host.live.add(DAEMON)
    host.marked.add(DAEMON)  # appeared since the last scan, within the scan interval
    assert stop.stop_all(state, "/s", 0.1, escalate_at=9.0, coordinator_grace=5.0) is False
    assert host.scans == scans + 1  # the fresh look that found it
    host.live.clear()
    assert (
        stop.stop_all(state, "/s", 0.5, escalate_at=9.0, coordinator_grace=5.0, pending=True)
        is False
    )
    assert stop.stop_all(state, "/s", 0.6, escalate_at=9.0, coordinator_grace=5.0) is True


def test_a_cgroup_member_without_marker_gets_sigterm_then_the_group_kill() -> None:
    host = FakeHost(live={RUN, DAEMON}, contained={DAEMON}, ignores_term={DAEMON})
    stop, _ = stopper(host)
    state = running()
    stop.stop_all(state, "/s", 0.0, escalate_at=5.0, coordinator_grace=5.0)
    assert ("one", DAEMON, TERM) in host.sent
    ended(state, 0.1)
    assert stop.stop_all(state, "/s", 1.0, escalate_at=5.0, coordinator_grace=5.0) is False
    assert ("cgroup", RUN, KILL) not in host.sent  # not before the grace is over
    assert stop.stop_all(state, "/s", 5.0, escalate_at=5.0, coordinator_grace=5.0) is False
    assert ("cgroup", RUN, KILL) in host.sent and DAEMON not in host.live
    assert stop.stop_all(state, "/s", 5.3, escalate_at=5.0, coordinator_grace=5.0) is True
