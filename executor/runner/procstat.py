"""Reading ``/proc/<pid>/stat`` with system calls only (the shim and the process table)."""

from __future__ import annotations

import os

START_TICKS = 19  # field 22 of stat(5), counted from field 3 (the state)


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (``state`` first); ``None``
    if the process is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    try:
        data = os.read(fd, 4096)
    except ProcessLookupError:
        return None
    finally:
        os.close(fd)
    if not data:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    return data[data.rindex(b")") + 2 :].split()


def identity_of(pid: int) -> list[int] | None:
    """``[pid, start ticks]``: a process named so that a recycled pid is never taken for it
    (``records.Identity``'s stored form); ``None`` if it is gone."""
    fields = stat_fields(pid)
    return [pid, int(fields[START_TICKS])] if fields is not None else None


def set_process_name(name: str) -> None:
    """Set this process's name as ``ps -o comm`` and ``top`` show it (15 bytes at most)."""
    try:
        with open("/proc/self/comm", "wb") as fp:  # prctl(PR_SET_NAME) without ctypes
            fp.write(name.encode()[:15])
    except OSError:
        pass
