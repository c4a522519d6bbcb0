"""Where a task's cgroups go: the hierarchies mounted here, this process's group in each,
which hierarchy plays which role, and the task's group name (``cgroups.py`` uses them).

Found from /proc/self/mountinfo and /proc/self/cgroup, so no mount point is assumed; a
hierarchy whose mount does not show our group (a container's view) is left out. Roles:

* ``unified`` (cgroup2): membership and kill; on a pure v2 host also ``memory`` and
  ``pids``, when those controllers can be enabled for our subtree.
* ``memory``, ``pids`` (v1, where v2 does not have them); ``freezer`` (v1) only where no
  unified hierarchy is usable, for a consistent kill.

The task's group is ``borealis/<task_id>@<digest>`` under our own group: the digest of the
task's checkpoint directory keeps two tasks of the same id under two checkpoint roots
apart (a task id is unique under one root only; a shared group would share a kill).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from .cgroup_join import write_control

PARENT = "borealis"  # the runner's own group holds one of these, with one group per task


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
        if relative == ".." or relative.startswith("../"):
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


def roles(hierarchies: list[Hierarchy]) -> dict[str, Hierarchy]:
    """Which hierarchy plays each role; v2 wins where it has the controller."""
    chosen: dict[str, Hierarchy] = {}
    for h in hierarchies:
        if h.version == 2:
            chosen["unified"] = h
            for name in ("memory", "pids"):
                if name in h.controllers:
                    chosen[name] = h
    for h in hierarchies:
        if h.version == 1:
            for name in ("memory", "pids", "freezer"):
                if name in h.controllers and name not in chosen:
                    chosen[name] = h
    if "unified" in chosen:
        chosen.pop("freezer", None)  # cgroup.kill or cgroup.freeze do its job
    return chosen


def enable_v2(h: Hierarchy, wanted: set[str]) -> set[str]:
    """Enable controllers for our group's subtree (v2); the ones that could be."""
    enabled: set[str] = set()
    for name in sorted(wanted & h.controllers):
        try:
            write_control(h.own / "cgroup.subtree_control", f"+{name}")
            (h.own / PARENT).mkdir(exist_ok=True)
            write_control(h.own / PARENT / "cgroup.subtree_control", f"+{name}")
            enabled.add(name)
        except OSError:
            pass  # our own group has processes (the no-internal-process rule), or no right
    return enabled


def group_name(task_id: str, checkpoint_dir: Path) -> str:
    """The task's group name: its id, and which checkpoint root it belongs to.

    The root is told by 16 hex digits: the CRC-32 and the Adler-32 of the checkpoint directory
    (``zlib``). Not a SHA-256 any more: ``hashlib`` maps OpenSSL's libcrypto, which cost every
    runner some 2 MB (docs/runner.md, "The process model and its footprint"); the digest only
    tells roots apart on one host, it guards nothing.
    """
    key = os.fsencode(os.path.abspath(checkpoint_dir))
    return f"{task_id}@{zlib.crc32(key):08x}{zlib.adler32(key):08x}"


def legacy_group_name(task_id: str, checkpoint_dir: Path) -> str:
    """The name runners before issue #13 gave the group (10 hex digits of a SHA-256): a task
    they started keeps it, so a newer runner must recognise it."""
    import hashlib  # only here: see group_name

    digest = hashlib.sha256(os.fsencode(os.path.abspath(checkpoint_dir))).hexdigest()
    return f"{task_id}@{digest[:10]}"


def plan(name: str, hierarchies: list[Hierarchy]) -> tuple[dict[str, str], dict[str, str]]:
    """The task's group (``name``) per role, and this process's own group per role."""
    found = roles(hierarchies)
    groups = {role: str(h.own / PARENT / name) for role, h in found.items()}
    homes = {role: str(h.own) for role, h in found.items()}
    return groups, homes
