"""A task's cgroups: deciding and recording, creating, entering, killing, limits, removal.

Where the groups go is ``cgroup_layout.py``. What is done with them:

* membership and kill on the unified hierarchy (``cgroup.kill``; on kernels without it,
  ``cgroup.freeze``, SIGKILL each member, thaw), or the v1 freezer;
* ``memory.max`` / ``memory.limit_in_bytes`` from the task's ``Resources.ram``, swap
  included where the kernel accounts it (a task over its RAM meets the OOM killer rather
  than the swap), and the OOM kills counted from ``memory.events`` / ``memory.oom_control``;
* ``pids.max`` from the runner's ``max_pids``.

A user process enters the group before it execs: the shim moves itself in,
spawns the command (a child is born in its parent's groups) and moves back out
(``cgroup_join.entered``), so the shim, which must outlive a group kill to record the exit
status, is never a member for longer than one spawn. A process started for the task from
outside it (the executor's shell health check) joins the groups itself, in the child between
fork and exec (``cgroup_join.join``), so that nothing it starts can outlive the task's kill.

Where nothing is writable (a non-root runner, a read-only /sys/fs/cgroup), ``contain``
returns no group and the runner keeps following the process tree (``proctree.py``).
The decision is recorded in the task's checkpoint directory before any process starts
(``contract/containment.py``); a restarted runner reuses the recorded groups.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from borealis.contract import containment
from borealis.contract.containment import Containment, Mode

from .cgroup_join import read_keyed, write_control
from .cgroup_layout import (
    PARENT,
    Hierarchy,
    detect,
    enable_v2,
    group_name,
    legacy_group_name,
    plan,
)

log = logging.getLogger("borealis.runner")

DEFAULT_MAX_PIDS = 4096
FREEZE_WAIT = 2.0
EMPTY_WAIT = 2.0


class TaskGroup:
    """The task's groups, one directory per role (several roles may share one)."""

    def __init__(self, groups: dict[str, str], homes: dict[str, str]) -> None:
        self.groups = {role: Path(d) for role, d in groups.items()}
        self.homes = {role: Path(d) for role, d in homes.items()}

    @property
    def dirs(self) -> list[Path]:
        return sorted(set(self.groups.values()))

    def moves(self) -> tuple[tuple[str, str], ...]:
        """(task group, home group) pairs a coordinator passes through (``entered``)."""
        pairs = {str(self.groups[r]): str(self.homes[r]) for r in self.groups if r in self.homes}
        return tuple(sorted(pairs.items()))

    def create(self) -> None:
        for d in self.dirs:
            for _ in range(3):  # another task's runner may remove the shared parent meanwhile
                try:
                    d.parent.mkdir(exist_ok=True)
                    d.mkdir(exist_ok=True)
                    break
                except FileNotFoundError:
                    continue
            else:
                d.mkdir(exist_ok=True)

    def limit(self, memory_max: int | None, pids_max: int | None) -> tuple[int | None, int | None]:
        """Set the limits (0 / None: none); return those in force."""
        set_memory = set_pids = None
        memory = self.groups.get("memory")
        if memory is not None and memory_max:
            if (memory / "memory.max").exists():
                write_control(memory / "memory.max", str(memory_max))
                with contextlib.suppress(OSError):  # absent without swap accounting
                    write_control(memory / "memory.swap.max", "0")
            else:
                write_control(memory / "memory.limit_in_bytes", str(memory_max))
                with contextlib.suppress(OSError):
                    write_control(memory / "memory.memsw.limit_in_bytes", str(memory_max))
            set_memory = memory_max
        pids = self.groups.get("pids")
        if pids is not None and pids_max:
            write_control(pids / "pids.max", str(pids_max))
            set_pids = pids_max
        return set_memory, set_pids

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return found

    def kill(self) -> None:
        """SIGKILL every member at once, children forked meanwhile included."""
        unified = self.groups.get("unified")
        if unified is not None and (unified / "cgroup.kill").exists():
            with contextlib.suppress(FileNotFoundError):
                write_control(unified / "cgroup.kill", "1")
            return
        with self._frozen():
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)  # frozen: its pid cannot be reused meanwhile

    @contextlib.contextmanager
    def _frozen(self) -> Iterator[None]:
        unified, freezer = self.groups.get("unified"), self.groups.get("freezer")
        try:
            if unified is not None and (unified / "cgroup.freeze").exists():
                write_control(unified / "cgroup.freeze", "1")
                self._wait(lambda: read_keyed(unified / "cgroup.events", "frozen") == 1)
            elif freezer is not None:
                write_control(freezer / "freezer.state", "FROZEN")
                self._wait(lambda: (freezer / "freezer.state").read_text().strip() == "FROZEN")
        except OSError as e:
            log.warning("cannot freeze the task's group: %s", e)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                if unified is not None and (unified / "cgroup.freeze").exists():
                    write_control(unified / "cgroup.freeze", "0")
                elif freezer is not None:
                    write_control(freezer / "freezer.state", "THAWED")

    @staticmethod
    def _wait(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + FREEZE_WAIT
        while not done() and time.monotonic() < deadline:
            time.sleep(0.005)

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer ended in the task's memory group."""
        memory = self.groups.get("memory")
        if memory is None:
            return 0
        for name in ("memory.events", "memory.oom_control"):
            value = read_keyed(memory / name, "oom_kill")
            if value is not None:
                return value
        return 0

    def memory_peak(self) -> int | None:
        memory = self.groups.get("memory")
        if memory is None:
            return None
        for name in ("memory.peak", "memory.max_usage_in_bytes", "memory.current"):
            with contextlib.suppress(OSError, ValueError):
                return int((memory / name).read_text().split()[0])
        return None

    def remove(self, reap: Callable[[], None] | None = None) -> bool:
        """Remove the (empty) groups, and their shared parents if now unused."""
        deadline = time.monotonic() + EMPTY_WAIT
        removed = True
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    # a member that just died may still count until it is reaped
                    if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                        log.warning("cannot remove the task's cgroup %s: %s", d, e)
                        removed = False
                        break
                    if reap is not None:
                        reap()
                    time.sleep(0.01)
            _remove_parent(d.parent)
        return removed


def _remove_parent(parent: Path) -> None:
    """``borealis/`` once no task uses it, unless it hands v2 controllers down: another
    runner may be between enabling them there and creating its group."""
    try:
        if (parent / "cgroup.subtree_control").read_text().strip():
            return
    except FileNotFoundError:
        pass  # v1
    except OSError:
        return
    with contextlib.suppress(OSError):  # busy with other tasks' groups: fine
        parent.rmdir()


def contain(
    record: Path,
    task_id: str,
    *,
    memory_max: int | None,
    pids_max: int | None,
    proc: Path = Path("/proc/self"),
) -> tuple[TaskGroup | None, Containment]:
    """The task's group (created, or found again after a restart) and the mode in force.

    The record is written before the groups are created, so a runner that crashes
    in between finds the same groups next time, wherever it is started from.
    """
    previous = containment.read(record)
    if previous is not None and previous.mode is Mode.PROCESS_TREE:
        return None, previous
    name = group_name(task_id, record.parent)
    if previous is not None:
        recorded = {Path(d).name for d in previous.groups.values()}
        if name not in recorded and recorded == {legacy_group_name(task_id, record.parent)}:
            name = recorded.pop()  # made by a runner before issue #13: kept
        for d in previous.groups.values():
            path = Path(d)
            if not (path.is_absolute() and path.name == name and path.parent.name == PARENT):
                raise ValueError(f"{record}: groups: {d!r} is not this task's group")
    try:
        hierarchies = detect(proc)
    except OSError as e:
        hierarchies, why = [], f"cannot read the cgroup layout: {e}"
    else:
        why = "no cgroup hierarchy is mounted" if not hierarchies else ""
    if previous is not None:
        groups = previous.groups
        memory_max, pids_max = previous.memory_max, previous.pids_max  # decided at the start
        ours = plan(name, hierarchies)[1] if hierarchies else {}
        # home: our own group, else the one of the runner that made the group
        homes = {role: ours.get(role, str(Path(d).parent.parent)) for role, d in groups.items()}
    elif hierarchies:
        usable = [  # v2 controllers count only once enabled for our subtree
            Hierarchy(2, frozenset(enable_v2(h, {"memory", "pids"})), h.own)
            if h.version == 2 and h.controllers & {"memory", "pids"}
            else h
            for h in hierarchies
        ]
        groups, homes = plan(name, usable)
    else:
        groups, homes = {}, {}
    if not groups:
        decided = Containment(Mode.PROCESS_TREE, note=why or "no usable cgroup controller")
        containment.write(record, decided)
        return None, decided
    group = TaskGroup(groups, homes)
    intent = Containment(Mode.CGROUP, dict(groups), memory_max, pids_max, "being set up")
    if previous is None:
        containment.write(record, intent)
    try:
        group.create()
        memory, pids = group.limit(memory_max, pids_max)
    except OSError as e:
        if previous is not None:
            raise  # its processes are in those groups: following trees instead would miss some
        group.remove()
        decided = Containment(Mode.PROCESS_TREE, note=f"cgroups not writable: {_text(e)}")
        containment.write(record, decided)
        return None, decided
    missing = [role for role in ("unified", "memory", "pids") if role not in groups]
    note = f"no {', '.join(missing)} group" if missing else ""
    decided = Containment(Mode.CGROUP, dict(groups), memory, pids, note)
    if decided != previous:
        containment.write(record, decided)
    return group, decided


def _text(e: OSError) -> str:
    return f"{e.strerror or e}: {e.filename}" if e.filename else str(e.strerror or e)
