"""Joining a task's cgroups and reading their counters, with system calls only.

What a process starting a task's command needs (the shim, and the executor's shell health
check): write a pid into a group's ``cgroup.procs``, read a flat-keyed counter such as
``memory.events``. Everything else about cgroups is ``cgroups.py`` and ``cgroup_layout.py``;
this part is apart so that the shim imports nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def write_control(path: os.PathLike[str] | str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read_keyed(path: os.PathLike[str] | str, key: str) -> int | None:
    """The value of ``key`` in a flat-keyed file such as memory.events."""
    try:
        with open(path) as fp:
            for line in fp.read().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return None


def oom_kills_in(moves: tuple[tuple[str, str], ...]) -> int:
    """OOM kills so far in the task's memory group, from a launch's ``moves``."""
    for group, _ in moves:
        for name in ("memory.events", "memory.oom_control"):
            value = read_keyed(os.path.join(group, name), "oom_kill")
            if value is not None:
                return value
    return 0


def join(groups: tuple[str, ...]) -> None:
    """Move the calling process into each of the task's groups (cgroup directories).

    Meant for a child between fork and exec (a ``preexec_fn``): only system calls, no
    logging, no locks. ``OSError`` when a group cannot be joined: the caller must not exec
    outside the task's groups.
    """
    me = str(os.getpid())
    for group in groups:
        write_control(os.path.join(group, "cgroup.procs"), me)


@contextmanager
def entered(moves: tuple[tuple[str, str], ...]) -> Iterator[None]:
    """Be in the task's groups for the duration (a child forked meanwhile is born there).

    ``moves``: (task group, home group) directory pairs. Failing to enter raises
    ``OSError`` (the run must not start outside its group); leaving is best effort.
    """
    me = str(os.getpid())
    left: list[str] = []
    try:
        for group, home in moves:
            write_control(os.path.join(group, "cgroup.procs"), me)
            left.append(home)
        yield
    finally:
        for home in left:
            try:
                write_control(os.path.join(home, "cgroup.procs"), me)
            except OSError:
                pass
