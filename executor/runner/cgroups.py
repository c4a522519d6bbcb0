"""A task's cgroups: where they go, creating them, entering, killing, limits, removal.

Each task gets a group named ``borealis/<task_id>@<root>`` under the runner's own group
in each hierarchy it uses (found from /proc/self/mountinfo and /proc/self/cgroup, so no
mount point is assumed); ``<root>`` is a short digest of the task's checkpoint directory,
since a task id is unique under one checkpoint root only, and two tasks must never share a
group (a kill of one would kill the other). Roles:

* ``unified`` (cgroup2): membership and kill (``cgroup.kill``; on kernels without it,
  ``cgroup.freeze`` + SIGKILL each member + thaw). On a pure v2 host it also carries
  the memory and pids controllers when they can be enabled for the subtree.
* ``memory``, ``pids`` (v1, or v2 when enabled there): ``memory.limit_in_bytes`` /
  ``memory.max`` from the task's ``Resources.ram``; ``pids.max`` from the runner's
  ``max_pids``. The memory limit also caps swap where the kernel accounts it, so a
  task over its RAM is stopped by the OOM killer rather than swapped out.
* ``freezer`` (v1): a consistent kill where no unified hierarchy is writable.

A user process enters the group before it execs: its coordinator moves itself in,
spawns the command (a child is born in its parent's groups) and moves back out
(``entered``), so the coordinator, which must outlive a group kill to record the exit
status, is never a member for longer than one spawn.

Where nothing is writable (a non-root runner, a read-only /sys/fs/cgroup), ``contain``
returns no group and the runner keeps following the process tree (``proctree.py``).
The decision is recorded in the task's checkpoint directory before any process starts
(``contract/containment.py``); a restarted runner reuses the recorded groups.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from borealis.contract import containment
from borealis.contract.containment import Containment, Mode

log = logging.getLogger("borealis.runner")

PARENT = "borealis"  # the runner's own group holds one of these, with one group per task
DEFAULT_MAX_PIDS = 4096
FREEZE_WAIT = 2.0
EMPTY_WAIT = 2.0


@dataclass(frozen=True)
class Hierarchy:
    """One mounted hierarchy and this process's group in it."""

    version: int  # 1 or 2
    controllers: frozenset[str]  # v1: mount options; v2: cgroup.controllers of our group
    own: Path  # the directory of this process's group


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def detect(proc: Path = Path("/proc/self")) -> list[Hierarchy]:
    """Every cgroup hierarchy mounted here in which this process's group can be reached."""
    memberships: dict[str, str] = {}  # "" for v2, else the v1 controller list
    for line in (proc / "cgroup").read_text().splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            memberships[parts[1]] = parts[2]
    found: list[Hierarchy] = []
    seen: set[str] = set()
    for line in (proc / "mountinfo").read_text().splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 4 or fields[sep + 1] not in ("cgroup", "cgroup2"):
            continue
        mount_root, mount_point = _unescape(fields[3]), _unescape(fields[4])
        if fields[sep + 1] == "cgroup2":
            key, version = "", 2
        else:
            options = set(fields[sep + 3].split(","))
            key = next((k for k in memberships if k and set(k.split(",")) <= options), "\0")
            version = 1
        path = memberships.get(key)
        if path is None or key in seen:
            continue
        relative = os.path.relpath(path, mount_root)
        if relative.startswith(".."):
            continue  # our group is outside what this mount shows
        own = Path(os.path.normpath(os.path.join(mount_point, relative)))
        if version == 2:
            try:
                controllers = frozenset((own / "cgroup.controllers").read_text().split())
            except OSError:
                continue
        else:
            controllers = frozenset(key.split(","))
        seen.add(key)
        found.append(Hierarchy(version, controllers, own))
    return found


def _roles(hierarchies: list[Hierarchy]) -> dict[str, Hierarchy]:
    """Which hierarchy plays each role; v2 wins where it has the controller."""
    roles: dict[str, Hierarchy] = {}
    for h in hierarchies:
        if h.version == 2:
            roles["unified"] = h
            for name in ("memory", "pids"):
                if name in h.controllers:
                    roles[name] = h
    for h in hierarchies:
        if h.version == 1:
            for name in ("memory", "pids", "freezer"):
                if name in h.controllers and name not in roles:
                    roles[name] = h
    if "unified" in roles:
        roles.pop("freezer", None)  # cgroup.kill or cgroup.freeze do its job
    return roles


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _read_keyed(path: Path, key: str) -> int | None:
    """The value of ``key`` in a flat-keyed file such as memory.events."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return None


def _enable_v2(h: Hierarchy, wanted: set[str]) -> set[str]:
    """Enable controllers for our group's subtree (v2); the ones that could be."""
    enabled: set[str] = set()
    for name in sorted(wanted & h.controllers):
        try:
            _write(h.own / "cgroup.subtree_control", f"+{name}")
            (h.own / PARENT).mkdir(exist_ok=True)
            _write(h.own / PARENT / "cgroup.subtree_control", f"+{name}")
            enabled.add(name)
        except OSError:
            pass  # our own group has processes (the no-internal-process rule), or no right
    return enabled


def group_name(task_id: str, checkpoint_dir: Path) -> str:
    """The task's group name: its id, and which checkpoint root it belongs to."""
    digest = hashlib.sha256(os.fsencode(os.path.abspath(checkpoint_dir))).hexdigest()
    return f"{task_id}@{digest[:10]}"


def plan(name: str, hierarchies: list[Hierarchy]) -> tuple[dict[str, str], dict[str, str]]:
    """The task's group (``name``) per role, and this process's own group per role."""
    roles = _roles(hierarchies)
    groups = {role: str(h.own / PARENT / name) for role, h in roles.items()}
    homes = {role: str(h.own) for role, h in roles.items()}
    return groups, homes


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
                _write(memory / "memory.max", str(memory_max))
                with contextlib.suppress(OSError):  # absent without swap accounting
                    _write(memory / "memory.swap.max", "0")
            else:
                _write(memory / "memory.limit_in_bytes", str(memory_max))
                with contextlib.suppress(OSError):
                    _write(memory / "memory.memsw.limit_in_bytes", str(memory_max))
            set_memory = memory_max
        pids = self.groups.get("pids")
        if pids is not None and pids_max:
            _write(pids / "pids.max", str(pids_max))
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
                _write(unified / "cgroup.kill", "1")
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
                _write(unified / "cgroup.freeze", "1")
                self._wait(lambda: _read_keyed(unified / "cgroup.events", "frozen") == 1)
            elif freezer is not None:
                _write(freezer / "freezer.state", "FROZEN")
                self._wait(lambda: (freezer / "freezer.state").read_text().strip() == "FROZEN")
        except OSError as e:
            log.warning("cannot freeze the task's group: %s", e)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                if unified is not None and (unified / "cgroup.freeze").exists():
                    _write(unified / "cgroup.freeze", "0")
                elif freezer is not None:
                    _write(freezer / "freezer.state", "THAWED")

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
            value = _read_keyed(memory / name, "oom_kill")
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
            with contextlib.suppress(OSError):  # busy with other tasks: fine
                d.parent.rmdir()
        return removed


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
        homes = {role: ours[role] for role in groups if role in ours}
    elif hierarchies:
        for h in hierarchies:
            if h.version == 2 and h.controllers & {"memory", "pids"}:
                h_enabled = _enable_v2(h, {"memory", "pids"})
                hierarchies[hierarchies.index(h)] = Hierarchy(2, frozenset(h_enabled), h.own)
        groups, homes = plan(name, hierarchies)
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


def oom_kills_in(moves: tuple[tuple[str, str], ...]) -> int:
    """OOM kills so far in the task's memory group, from a coordinator's ``moves``."""
    for group, _ in moves:
        for name in ("memory.events", "memory.oom_control"):
            value = _read_keyed(Path(group) / name, "oom_kill")
            if value is not None:
                return value
    return 0


@contextlib.contextmanager
def entered(moves: tuple[tuple[str, str], ...]) -> Iterator[None]:
    """Be in the task's groups for the duration (a child forked meanwhile is born there).

    ``moves``: (task group, home group) directory pairs. Failing to enter raises
    ``OSError`` (the run must not start outside its group); leaving is best effort.
    """
    me = str(os.getpid())
    left: list[str] = []
    try:
        for group, home in moves:
            _write(Path(group) / "cgroup.procs", me)
            left.append(home)
        yield
    finally:
        for home in left:
            with contextlib.suppress(OSError):
                _write(Path(home) / "cgroup.procs", me)
