"""Stopping every process of a task: SIGTERM once, SIGKILL from a deadline on.

Used by the runner in CLEANING (every process) and at the end of FINALIZING
(the final processes still running). "Every process" is the process group,
session and descendants of each active run plus anything carrying the task's
environment marker (see ``proctree.py``), so a double-forked daemon is not
missed; the scan is repeated at most every ``SCAN_INTERVAL`` and once more,
fresh, before the runner is told that nothing is left. When the task has a cgroup
(``cgroups.py``), every member of the group counts too, marker or not, and the
SIGKILL stage also kills the whole group at once (``cgroup.kill`` or freeze/kill/thaw),
which reaches children forked between two scans.

The host is reached through ``Processes`` (``HostProcesses``: /proc, pidfds, process groups),
so the rule can be played against a fake host and clock (tests/unit/test_stopping.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import Protocol

from borealis.contract.records import Identity
from borealis.contract.replay import RunnerState

from .cgroups import TaskGroup
from .proctree import ProcessTable, identify, is_alive, read_stat, send_signal

SCAN_INTERVAL = 0.25


class Processes(Protocol):
    """What stopping needs of the host."""

    def members(self, roots: list[Identity], task_id: str, sandbox: str) -> list[Identity]:
        """Every live process of the task (trees of ``roots``, and the marked ones)."""

    def alive(self, who: Identity) -> bool: ...

    def group_of(self, who: Identity) -> int | None:
        """Its process group (``None`` once it is gone)."""

    def signal(self, who: Identity, sig: int) -> None:
        """Exactly this process (never a recycled pid), if it is still there."""

    def signal_group(self, leader: Identity, sig: int) -> None:
        """The process group whose leader is ``leader`` (a run: its pid is its group)."""

    def kill_contained(self) -> None:
        """SIGKILL everything in the task's cgroup at once (nothing without one)."""


class HostProcesses:
    def __init__(self, group: TaskGroup | None = None) -> None:
        self.group = group

    def members(self, roots: list[Identity], task_id: str, sandbox: str) -> list[Identity]:
        found = ProcessTable().task_members(roots, task_id, sandbox)
        if self.group is not None:
            known = {m.pid for m in found}
            for pid in sorted(self.group.pids() - known):
                who = identify(pid)
                if who is not None and is_alive(who):
                    found.append(who)
        return found

    def kill_contained(self) -> None:
        if self.group is not None:
            self.group.kill()

    def alive(self, who: Identity) -> bool:
        return is_alive(who)

    def group_of(self, who: Identity) -> int | None:
        stat = read_stat(who.pid)
        return stat.pgrp if stat is not None and stat.start_ticks == who.start_ticks else None

    def signal(self, who: Identity, sig: int) -> None:
        with contextlib.suppress(PermissionError):
            send_signal(who, sig)

    def signal_group(self, leader: Identity, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader.pid, sig)


class Stopper:
    def __init__(
        self,
        task_id: str,
        wake: Callable[[float], None],
        processes: Processes | None = None,
    ) -> None:
        self.task_id = task_id
        self.wake = wake
        self.host: Processes = processes or HostProcesses()
        self._termed: set[Identity] = set()
        self._termed_groups: set[int] = set()  # each of their members had SIGTERM with it
        self._members: list[Identity] = []
        self._members_at = -1.0

    def reset(self) -> None:
        """A new stage: whatever was signalled before may be signalled again."""
        self._termed.clear()
        self._termed_groups.clear()

    def stop_all(
        self,
        state: RunnerState,
        sandbox: str,
        now: float,
        escalate_at: float,
        coordinator_grace: float,
        *,
        pending: bool = False,
    ) -> bool:
        """Signal what is left of the task; return True once nothing is.

        SIGTERM reaches each process once, SIGKILL everything still there from
        ``escalate_at`` on; coordinators that have not recorded the end of
        their run ``coordinator_grace`` after that are killed too (their runs
        become LOST). Each signal also goes to the process group of every live
        run, so that a child forked after the last scan is not missed.
        ``pending``: runs are still waiting for a coordinator, so not done yet.
        """
        members = self._scan(state, sandbox, now)
        active = state.active_runs()
        if not members and not active and not pending:
            members = self._scan(state, sandbox, now, fresh=True)
            if not members:
                return True
        sig = signal.SIGKILL if now >= escalate_at else signal.SIGTERM
        host = self.host
        # read before anything is signalled (a member that goes with its group has no group
        # after), and only for members that did not have SIGTERM yet: passes repeat until KILL
        group = (
            {m: host.group_of(m) for m in members if m not in self._termed}
            if sig == signal.SIGTERM
            else {}
        )
        for run in active:
            # The group id is the run's pid: certainly ours while that process lives.
            if run.pid is None or not host.alive(run.pid):
                continue
            if sig == signal.SIGKILL or run.pid not in self._termed:
                host.signal_group(run.pid, sig)
                if sig == signal.SIGTERM:
                    self._termed.add(run.pid)
                    self._termed_groups.add(run.pid.pid)
        if sig == signal.SIGKILL:
            host.kill_contained()
            for member in members:
                host.signal(member, signal.SIGKILL)
        else:
            # once each: a member of a group that had SIGTERM had it with its group
            fresh = [m for m, g in group.items() if g not in self._termed_groups]
            for member in fresh:
                host.signal(member, signal.SIGTERM)
            self._termed.update(fresh)
            self.wake(escalate_at)
        self.wake(now + SCAN_INTERVAL)
        if now >= escalate_at + coordinator_grace:
            for run in active:
                if run.coordinator is not None:
                    host.signal(run.coordinator, signal.SIGKILL)
        elif active:
            self.wake(escalate_at + coordinator_grace)
        return False

    def _scan(
        self, state: RunnerState, sandbox: str, now: float, fresh: bool = False
    ) -> list[Identity]:
        """The task's live processes, re-scanned at most every SCAN_INTERVAL."""
        if fresh or now - self._members_at >= SCAN_INTERVAL or self._members_at > now:
            roots = [r.pid for r in state.active_runs() if r.pid is not None]
            self._members = self.host.members(roots, self.task_id, sandbox)
            self._members_at = now
        return [m for m in self._members if self.host.alive(m)]
