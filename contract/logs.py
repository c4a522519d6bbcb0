"""Reading a process's log as one stream across its rotations.

The rotation contract (docs/logs.md): ``stdout`` is the live file; at a
rotation it is renamed ``stdout.1`` (older ones move up to ``stdout.N``) and a
new ``stdout`` starts; a renamed file is never written again. So a reader that
keeps its file open, reads it to the end, and only then moves on to the file
that replaced it reads every byte exactly once, like ``tail -F``.

``LogFollower`` does that (used by ``borealis tail -f`` and the observer);
``last_lines`` reads the end of the logical stream, reaching back into rotated
files when the live one is too short.

Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

CHUNK = 1 << 20


def rotated(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


class LogFollower:
    """Follows ``path`` by name through rotations, from its start (or its end)."""

    def __init__(self, path: Path, *, at_end: bool = False) -> None:
        self.path = path
        self.at_end = at_end
        self.gaps = 0  # times the reader fell so far behind that rotated data was gone
        self._fd: int | None = None
        self._inode: int | None = None

    def _open(self, path: Path, *, seek_end: bool = False) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        self.close()
        self._fd = fd
        self._inode = os.fstat(fd).st_ino
        if seek_end:
            os.lseek(fd, 0, os.SEEK_END)
        return True

    @property
    def position(self) -> int:
        """How far into the current file the reader is."""
        return os.lseek(self._fd, 0, os.SEEK_CUR) if self._fd is not None else 0

    def read(self, limit: int = CHUNK) -> bytes:
        """What was appended since the last call (``b""``: nothing new yet)."""
        if self._fd is None and not self._open(self.path, seek_end=self.at_end):
            return b""
        assert self._fd is not None
        data = os.read(self._fd, limit)
        if data:
            return data
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            return b""  # between a rename and the new file's creation
        if current == self._inode:
            return b""
        # Rotated away: the old file is complete now; finish it, then move on.
        data = os.read(self._fd, limit)
        if data:
            return data
        self._open(self._successor())
        return os.read(self._fd, limit) if self._fd is not None else b""

    def _successor(self) -> Path:
        """The file written after ours: the one just below it in the rotation chain."""
        index = 1
        while True:
            candidate = rotated(self.path, index)
            try:
                inode = os.stat(candidate).st_ino
            except FileNotFoundError:
                break
            if inode == self._inode:
                return rotated(self.path, index - 1) if index > 1 else self.path
            index += 1
        # Our file is gone from the chain (dropped beyond the backups): continue
        # with the oldest one kept; anything in between is lost to us.
        if index > 1:
            self.gaps += 1
            return rotated(self.path, index - 1)
        return self.path

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def last_lines(path: Path, count: int, live_size: int | None = None) -> bytes:
    """The last ``count`` lines of the logical stream (``count <= 0``: all of it).

    Reads backwards from the end of the live file (only its first
    ``live_size`` bytes, if given), then of ``path.1`` and so on, in blocks,
    until it has enough lines: a 100 MB log costs a few reads, not 100 MB.
    """
    tail = b""
    index = 0
    while True:
        current = path if index == 0 else rotated(path, index)
        try:
            fd = os.open(current, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            break
        try:
            end = os.fstat(fd).st_size
            if index == 0 and live_size is not None:
                end = min(end, live_size)
            while end > 0:
                start = max(0, end - CHUNK) if count > 0 else 0
                tail = os.pread(fd, end - start, start) + tail
                end = start
                if count > 0 and tail.count(b"\n") > count:
                    return _keep_last_lines(tail, count)
        finally:
            os.close(fd)
        index += 1
    return tail if count <= 0 else _keep_last_lines(tail, count)


def _keep_last_lines(data: bytes, count: int) -> bytes:
    cut = len(data)
    for _ in range(count + (1 if data.endswith(b"\n") else 0)):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return data
    return data[cut + 1 :]
