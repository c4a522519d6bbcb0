"""Which processes appeared on the host since the last look, without listing them all.

The sampler must notice every new descendant of a task's processes. Linux without
``CONFIG_PROC_CHILDREN`` has no per-process list of children, and listing ``/proc``
and reading every ``/proc/PID/stat`` costs milliseconds on a host with thousands of
processes, at every sample of every task. But pids are handed out in order: each new
process (or thread) takes the next free pid after the last one given, wrapping at
``pid_max``. So the processes created since the previous look are exactly those
whose pid lies between the previous "last pid" and the current one
(``/proc/loadavg``'s last field), and ``/proc/stat``'s ``processes`` (forks since
boot) says how many there were:

* no fork since the last look: nothing to read at all (an idle host);
* a few: read ``/proc/PID/stat`` of each pid in that range (most are already gone);
* many: list ``/proc`` once and read only the pids in that range;
* so many that the pids may have wrapped more than once, or the first look: read
  every process.

A pid reused since the last look is in the range too, so it is read again and seen
as the new process it is. Threads take pids from the same counter; they are told
apart (``Tgid`` in ``/proc/PID/status``) only for the few whose parent matters.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from .proctree import ProcStat, read_stat

PROBE_LIMIT = 256  # beyond this many new pids, listing /proc is cheaper than probing


def read_int(path: str, default: int) -> int:
    try:
        with open(path, "rb") as fp:
            return int(fp.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def counters() -> tuple[int, int]:
    """(forks since boot, last pid handed out)."""
    forks = 0
    try:
        with open("/proc/stat", "rb") as fp:
            for line in fp:
                if line.startswith(b"processes "):
                    forks = int(line.split()[1])
                    break
        with open("/proc/loadavg", "rb") as fp:
            last = int(fp.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return -1, -1
    return forks, last


def is_thread_group_leader(pid: int) -> bool:
    """False for a thread other than its process's first (``/proc/TID`` works for those too)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fp:
            for line in fp:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1]) == pid
    except (OSError, ValueError, IndexError):
        return False
    return False


class PidWatch:
    """Reads the processes created since its previous call (see the module docstring)."""

    def __init__(
        self,
        probe_limit: int = PROBE_LIMIT,
        read_counters: Callable[[], tuple[int, int]] = counters,
        pid_max: int | None = None,
    ) -> None:
        self.probe_limit = probe_limit
        self.read_counters = read_counters
        self.pid_max = pid_max or read_int("/proc/sys/kernel/pid_max", 1 << 22)
        self.spans: list[tuple[int, int]] = []  # the pid ranges of the last call (tests)
        self._forks = -1
        self._last = -1
        self.full_reads = 0  # how often every process had to be read (for tests and figures)

    def new(self, *, everything: bool = False) -> dict[int, ProcStat]:
        """``pid -> stat`` of the processes (and threads) created since the previous call.

        ``everything``: read every process on the host instead (a new run to find).
        """
        forks, last = self.read_counters()
        self.spans = []
        previous_forks, previous_last = self._forks, self._last
        self._forks, self._last = forks, last
        if everything or previous_forks < 0 or forks < 0:
            return self._read_all()
        made = forks - previous_forks
        if made <= 0:
            return {}
        if made >= self.pid_max // 2:
            return self._read_all()
        if last > previous_last:
            span = [(previous_last + 1, last + 1)]
        else:  # wrapped around pid_max
            span = [(previous_last + 1, self.pid_max), (1, last + 1)]
        self.spans = span
        size = sum(high - low for low, high in span)
        if size <= self.probe_limit:
            candidates: Iterable[int] = (pid for low, high in span for pid in range(low, high))
        else:
            candidates = (pid for pid in _listing() if any(low <= pid < high for low, high in span))
        return _read(candidates)

    def _read_all(self) -> dict[int, ProcStat]:
        self.full_reads += 1
        return _read(_listing())


def _listing() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _read(pids: Iterable[int]) -> dict[int, ProcStat]:
    found = {}
    for pid in pids:
        stat = read_stat(pid)
        if stat is not None and stat.state != "Z":
            found[pid] = stat
    return found
