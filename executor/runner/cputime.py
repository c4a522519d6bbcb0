"""CPU time used by a process tree between two samples: pure arithmetic, no I/O.

A tree's CPU cannot be read as one number: its processes come and go between
samples. Each sample holds, per live member, its own cumulative user / system
time and that of the children it has waited for (``/proc/PID/stat`` fields 14-17).
Between two samples the tree used:

* for a member in both samples: the growth of its own and its children's time;
* for a member that started after the previous sample: all of its time;
* for a member that vanished: nothing more, and *minus* its time as last seen when
  the nearest ancestor that survives is a member. That ancestor waited for it (or
  for the process that waited for it), so its children's time just grew by the
  vanished member's whole total; only the part after the last sample is new.

What this misses, by design: the last moments of a member that is reaped outside
the tree (an orphan reaped by the runner), and the time of a process that both
started and ended between two samples and was reaped outside the tree. Each
process's figure is clamped at zero, so the result is never negative.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from borealis.contract.records import Identity


@dataclass(frozen=True)
class Times:
    """One member's cumulative CPU seconds at one sample."""

    user: float
    system: float
    child_user: float
    child_system: float
    ppid: int
    started: float  # epoch seconds

    @property
    def total(self) -> tuple[float, float]:
        return self.user + self.child_user, self.system + self.child_system


def used(
    before: Mapping[Identity, Times], after: Mapping[Identity, Times], since: float
) -> tuple[float, float]:
    """User and system seconds the tree used from ``before`` (taken at ``since``) to ``after``."""
    user = system = 0.0
    for ident, now in after.items():
        then = before.get(ident)
        u1, s1 = now.total
        if then is not None:
            u0, s0 = then.total
            user += max(0.0, u1 - u0)
            system += max(0.0, s1 - s0)
        elif now.started >= since:
            user += u1
            system += s1
    by_pid = {ident.pid: ident for ident in before}
    live = {ident.pid for ident in after}
    for ident, then in before.items():
        if ident in after or not _reaped_inside(then.ppid, by_pid, before, live):
            continue
        u0, s0 = then.total
        user -= u0
        system -= s0
    return max(0.0, user), max(0.0, system)


def _reaped_inside(
    ppid: int, by_pid: Mapping[int, Identity], before: Mapping[Identity, Times], live: set[int]
) -> bool:
    """Whether the nearest ancestor (through members gone too) is still a live member."""
    seen: set[int] = set()
    while ppid not in seen:
        if ppid in live:
            return True
        parent = by_pid.get(ppid)
        if parent is None:
            return False
        seen.add(ppid)
        ppid = before[parent].ppid
    return False
