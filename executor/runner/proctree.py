"""Process identity, pidfds, and finding every process that belongs to a task.

A process is named by ``Identity(pid, start_ticks)``: a pid alone may have been
recycled (``pid_max`` is 32768 on many hosts), a pid with its start time in
clock ticks since boot cannot. Signals go through pidfds opened after the
identity was checked, so a signal can never reach a stranger that took over a
pid in between.

A task's processes are found three ways, because any one of them can miss:

* the process group / session of each run's ``bash`` (every run is a session
  leader, so its plain children share its session);
* descendants by parent pid (including those that called ``setsid``);
* the environment marker ``BOREALIS_TASK_ID`` + ``BOREALIS_SANDBOX``, which
  double-forked daemons keep after they were re-parented to init, and which
  survives a restart of the runner.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

from borealis.contract.records import Identity

from .procstat import START_TICKS, identity_of, stat_fields
from .procstat import set_process_name as set_process_name

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
TASK_MARKER = "BOREALIS_TASK_ID"
SANDBOX_MARKER = "BOREALIS_SANDBOX"
PROCESS_MARKER = "BOREALIS_PROCESS"
RUN_MARKER = "BOREALIS_RUN"


def boot_id() -> str:
    try:
        with open(BOOT_ID_PATH) as fp:
            return fp.read().strip()
    except OSError:
        return "unknown"


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_ticks: int
    # cumulative CPU in clock ticks: own user / system, and of waited-for children
    utime: int = 0
    stime: int = 0
    cutime: int = 0
    cstime: int = 0
    threads: int = 0
    rss_pages: int = 0


def read_stat(pid: int) -> ProcStat | None:
    """Parse ``/proc/<pid>/stat``; ``None`` if the process is gone."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    return ProcStat(
        pid=pid,
        state=fields[0].decode(),
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        start_ticks=int(fields[START_TICKS]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        cutime=int(fields[13]),
        cstime=int(fields[14]),
        threads=int(fields[17]),
        rss_pages=int(fields[21]),
    )


def read_environ(pid: int) -> dict[str, str]:
    """The environment a process started with (empty if it is gone or not ours to read)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fp:
            data = fp.read()
    except OSError:
        return {}
    env = {}
    for entry in data.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def identify(pid: int) -> Identity | None:
    identity = identity_of(pid)
    return Identity(*identity) if identity is not None else None


def is_alive(identity: Identity) -> bool:
    """The very process named by ``identity`` exists and is not a zombie."""
    stat = read_stat(identity.pid)
    return stat is not None and stat.start_ticks == identity.start_ticks and stat.state != "Z"


def open_pidfd(identity: Identity) -> int | None:
    """A pidfd for exactly this process, or ``None`` if it is gone."""
    try:
        fd = os.pidfd_open(identity.pid)
    except ProcessLookupError:
        return None
    # Checked after opening: if the identity matches now, the pidfd refers to it.
    stat = read_stat(identity.pid)
    if stat is None or stat.start_ticks != identity.start_ticks:
        os.close(fd)
        return None
    return fd


def open_child_pidfd(pid: int, parent: int) -> int | None:
    """A pidfd for ``pid`` if it is (still) a child of ``parent``; else ``None``.

    Used for a process we did not fork ourselves and whose start time we do
    not know yet: if it had already exited and been reaped, its pid could name
    a stranger by now, and a stranger would not have ``parent`` as its parent.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    stat = read_stat(pid)
    if stat is None or stat.ppid != parent:
        os.close(fd)
        return None
    return fd


def send_signal(identity: Identity, sig: int) -> bool:
    """Signal exactly this process; return whether it was there to receive it."""
    fd = open_pidfd(identity)
    if fd is None:
        return False
    try:
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


class ProcessTable:
    """One snapshot of the host's processes, to find a task's members in one pass."""

    def __init__(self) -> None:
        self.stats: dict[int, ProcStat] = {}
        self.children: dict[int, list[int]] = {}
        for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()):
            stat = read_stat(pid)
            if stat is not None:
                self.stats[pid] = stat
                self.children.setdefault(stat.ppid, []).append(pid)

    def identity(self, pid: int) -> Identity | None:
        stat = self.stats.get(pid)
        return Identity(pid, stat.start_ticks) if stat else None

    def descendants(self, pid: int) -> list[int]:
        found: list[int] = []
        todo = list(self.children.get(pid, []))
        while todo:
            child = todo.pop()
            found.append(child)
            todo.extend(self.children.get(child, []))
        return found

    def session_members(self, session: int) -> list[int]:
        return [pid for pid, stat in self.stats.items() if stat.session == session]

    def marked(
        self, task_id: str, sandbox: str, process: str | None = None, run: int | None = None
    ) -> list[int]:
        """Processes whose environment carries this task's marker (optionally one run's)."""
        found = []
        own = os.getpid()
        for pid, stat in self.stats.items():
            if pid == own or stat.state == "Z":
                continue
            env = read_environ(pid)
            if env.get(TASK_MARKER) != task_id or env.get(SANDBOX_MARKER) != sandbox:
                continue
            if process is not None and env.get(PROCESS_MARKER) != process:
                continue
            if run is not None and env.get(RUN_MARKER) != str(run):
                continue
            found.append(pid)
        return found

    def trees(self, roots: Iterable[Identity]) -> set[int]:
        """Each live root, its descendants and the members of its session."""
        pids: set[int] = set()
        for root in roots:
            stat = self.stats.get(root.pid)
            if stat is None or stat.start_ticks != root.start_ticks:
                continue
            pids.add(root.pid)
            pids.update(self.descendants(root.pid))
            pids.update(self.session_members(root.pid))
        return pids

    def live(self, pids: Iterable[int]) -> list[Identity]:
        members = []
        for pid in sorted(pids):
            stat = self.stats[pid]
            if stat.state != "Z":
                members.append(Identity(pid, stat.start_ticks))
        return members

    def task_members(self, roots: Iterable[Identity], task_id: str, sandbox: str) -> list[Identity]:
        """Every live process of the task: the trees of ``roots`` and marked strays."""
        return self.live(self.trees(roots) | set(self.marked(task_id, sandbox)))


def signal_all(members: Iterable[Identity], sig: int) -> int:
    """Send ``sig`` to each member that still exists; return how many got it."""
    sent = 0
    for member in members:
        with contextlib.suppress(PermissionError):
            if send_signal(member, sig):
                sent += 1
    return sent
