"""Sampling a task's process trees: which processes, and what each one uses.

One ``TaskSampler`` per runner, called from the runner's loop once per interval for
the whole task (no thread). Per live run it finds the run's members and reads them:

* **Members** are the run's process (its ``bash``), every descendant, and orphans
  the runner adopted as the task's child subreaper whose environment names this
  process and run (double-forked daemons). A member stays a member, by identity
  (pid + start ticks), for as long as it lives, whatever its parent becomes, so a
  daemon is still counted after its parent exits.
* **Finding descendants** needs the parent of every process created since the
  last sample; ``discovery.PidWatch`` reads just those (pids are handed out in
  order), or every process once when a run is new to this sampler.
* **Readings** come from ``/proc/PID/stat`` (identity, CPU, threads, RSS: one read,
  so a recycled pid is recognised in the same read that gives its figures) and
  psutil (open fds, I/O counters, and PSS when asked for, which reads smaps).

CPU is computed by ``cputime.used`` from two consecutive samples.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

from borealis.contract.records import Identity
from borealis.contract.resources import ProcessUsage

from .cputime import Times, used
from .discovery import PidWatch, is_thread_group_leader
from .proctree import PROCESS_MARKER, RUN_MARKER, ProcStat, read_environ, read_stat

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def boot_time() -> float:
    return float(psutil.boot_time())


@dataclass
class RunTracker:
    """What one run looked like at the previous sample."""

    process: str
    run: int
    root: Identity
    started: float
    members: dict[Identity, Times] = field(default_factory=dict)
    taken: float = 0.0  # when ``members`` was read (0: never)
    user: float = 0.0  # seconds used so far
    system: float = 0.0


class TaskSampler:
    """Samples every live run of one task; see the module docstring."""

    def __init__(self, *, pss: bool = False) -> None:
        self.pss = pss
        self.pids = PidWatch()
        self.boot = boot_time()
        self.runs: dict[tuple[str, int], RunTracker] = {}
        self._handles: dict[Identity, psutil.Process] = {}
        self._strays: dict[Identity, tuple[str, int] | None] = {}

    def sample(
        self, live: Iterable[tuple[str, int, Identity, float]], now: float
    ) -> dict[str, ProcessUsage]:
        """Usage per process for the live runs ``(process, run, pid identity, start time)``."""
        keep: dict[tuple[str, int], RunTracker] = {}
        new_run = False
        for process, run, root, started in live:
            tracker = self.runs.get((process, run))
            if tracker is None or tracker.root != root:
                tracker = RunTracker(process, run, root, started)
                new_run = True
            keep[(process, run)] = tracker
        self.runs = keep
        # A run new to this sampler may already have children, made before this look:
        # read every process once to find them.
        fresh = self.pids.new(everything=new_run)
        children: dict[int, list[int]] = {}
        for pid, stat in fresh.items():
            children.setdefault(stat.ppid, []).append(pid)
        strays = self._adopted(children.get(os.getpid(), []), fresh)
        result: dict[str, ProcessUsage] = {}
        for key, tracker in keep.items():
            result[tracker.process] = self._sample_run(
                tracker, fresh, children, strays.get(key, []), now
            )
        live_members = {m for t in keep.values() for m in t.members}
        for ident in self._handles.keys() - live_members:
            del self._handles[ident]
        return result

    def _adopted(
        self, pids: list[int], fresh: dict[int, ProcStat]
    ) -> dict[tuple[str, int], list[int]]:
        """New orphans re-parented to this runner, by the process and run their markers name."""
        found: dict[tuple[str, int], list[int]] = {}
        for pid in pids:
            ident = Identity(pid, fresh[pid].start_ticks)
            if ident not in self._strays:
                env = read_environ(pid)
                name, run = env.get(PROCESS_MARKER), env.get(RUN_MARKER, "")
                self._strays[ident] = (name, int(run)) if name and run.isdigit() else None
            owner = self._strays[ident]
            if owner is not None:
                found.setdefault(owner, []).append(pid)
        return found

    def _sample_run(
        self,
        tracker: RunTracker,
        fresh: dict[int, ProcStat],
        children: dict[int, list[int]],
        strays: list[int],
        now: float,
    ) -> ProcessUsage:
        candidates = [m.pid for m in tracker.members] + [tracker.root.pid] + strays
        members: dict[Identity, Times] = {}
        stats: dict[Identity, ProcStat] = {}
        todo = list(dict.fromkeys(candidates))
        seen: set[int] = set()
        member_pids: set[int] = set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            stat = fresh.get(pid) or read_stat(pid)
            if stat is None or stat.state == "Z":
                continue
            ident = Identity(pid, stat.start_ticks)
            known = ident in tracker.members or ident == tracker.root or pid in strays
            if not known and not (
                stat.ppid in member_pids and pid in fresh and is_thread_group_leader(pid)
            ):
                continue  # a recycled pid, a thread, or not a descendant
            member_pids.add(pid)
            stats[ident] = stat
            members[ident] = self._times(stat)
            todo.extend(children.get(pid, []))
        since = tracker.taken or tracker.started
        du, ds = used(tracker.members, members, since)
        tracker.user += du
        tracker.system += ds
        span = now - since
        usage = ProcessUsage(
            run=tracker.run,
            pid=tracker.root.pid,
            cpu=(du + ds) / span if span > 0 else 0.0,
            user=tracker.user,
            system=tracker.system,
            procs=len(stats),
        )
        for ident, stat in stats.items():
            usage.threads += stat.threads
            usage.rss += stat.rss_pages * PAGE
            self._read_extra(ident, usage)
        tracker.members = members
        tracker.taken = now
        return usage

    def _times(self, stat: ProcStat) -> Times:
        return Times(
            user=stat.utime / TICKS,
            system=stat.stime / TICKS,
            child_user=stat.cutime / TICKS,
            child_system=stat.cstime / TICKS,
            ppid=stat.ppid,
            started=self.boot + stat.start_ticks / TICKS,
        )

    def _read_extra(self, ident: Identity, usage: ProcessUsage) -> None:
        """Open fds, I/O and (if asked) PSS, through psutil; a process gone meanwhile adds 0."""
        handle = self._handles.get(ident)
        with contextlib.suppress(psutil.Error, OSError):
            if handle is None:
                handle = self._handles[ident] = psutil.Process(ident.pid)
            with handle.oneshot():
                usage.fds += handle.num_fds()
                io = handle.io_counters()
                usage.read_bytes += io.read_bytes
                usage.write_bytes += io.write_bytes
                if self.pss:
                    usage.pss = (usage.pss or 0) + handle.memory_full_info().pss
