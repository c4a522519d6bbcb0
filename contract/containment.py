"""How a task's processes are held together: in cgroups, or by following the process tree.

The runner decides once, when it first starts a task, and writes the decision to
``checkpoints/<task_id>/containment`` (``TaskPaths.containment``) before any process
starts; a restarted runner reads it back and uses the same groups. ``borealis status``
(and later the observer) show it; the text is rendered here, at the edge.

File format: one JSON object::

    {"mode": "cgroup" | "process-tree",
     "groups": {"<role>": "<directory>", ...},   # role: unified, memory, pids, freezer
     "memory_max": <bytes> | null, "pids_max": <n> | null,
     "note": "<why process-tree, or what part of the cgroup set-up is missing>"}

Standard library only.
"""

from __future__ import annotations

import enum
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .resources import format_bytes


class Mode(enum.Enum):
    CGROUP = "cgroup"  # membership, kill and limits from the kernel
    PROCESS_TREE = "process-tree"  # process trees, sessions and the environment marker


@dataclass(frozen=True)
class Containment:
    mode: Mode
    groups: dict[str, str] = field(default_factory=dict)  # role -> cgroup directory
    memory_max: int | None = None  # bytes, when the memory controller enforces it
    pids_max: int | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "groups": dict(self.groups),
            "memory_max": self.memory_max,
            "pids_max": self.pids_max,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Containment:
        """``ValueError`` naming the field for anything that is not a containment record."""
        if not isinstance(obj, dict):
            raise ValueError("containment: expected an object")
        try:
            mode = Mode(obj.get("mode"))
        except ValueError:
            raise ValueError(f"containment: mode: unknown value {obj.get('mode')!r}") from None
        groups = obj.get("groups", {})
        if not isinstance(groups, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in groups.items()
        ):
            raise ValueError("containment: groups: expected an object of strings")
        limits = {}
        for name in ("memory_max", "pids_max"):
            value = obj.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"containment: {name}: expected an integer or null")
            limits[name] = value
        note = obj.get("note", "")
        if not isinstance(note, str):
            raise ValueError("containment: note: expected a string")
        return cls(mode, dict(groups), limits["memory_max"], limits["pids_max"], note)


def describe(c: Containment) -> str:
    """One line for ``borealis status``."""
    if c.mode is Mode.PROCESS_TREE:
        return f"process tree ({c.note})" if c.note else "process tree"
    limits = [
        f"memory {format_bytes(c.memory_max)}" if c.memory_max is not None else "no memory limit",
        f"pids.max {c.pids_max}" if c.pids_max is not None else "no pids limit",
    ]
    where = c.groups.get("unified") or next(iter(c.groups.values()), "")
    extra = f"; {c.note}" if c.note else ""
    return f"cgroup {where} ({', '.join(limits)}{extra})"


def write(path: Path, c: Containment) -> None:
    """Replace the record atomically (and durably: it must outlive a host crash)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600
    )  # checkpoints are private (docs/security.md)
    try:
        try:
            data = (json.dumps(c.to_json(), sort_keys=True) + "\n").encode()
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written record behind
        raise


def read(path: Path) -> Containment | None:
    """The record, ``None`` when there is none yet; ``ValueError`` when it is damaged."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON: {e}") from None
    return Containment.from_json(obj)
