"""Rename-based log rotation, at line boundaries, for collectors that follow by name.

The contract (docs/logs.md): ``stdout`` is always the live file; when it is
full it is renamed to ``stdout.1`` (``stdout.1`` to ``stdout.2`` and so on, the
oldest beyond ``backups`` dropped) and a new ``stdout`` is created. A file is
never written after it has been renamed, and nothing is ever truncated or
copied, so ``tail -F``, rsyslog's imfile and friends read every byte once.

Where to rotate (``cut_point``): a file grows to ``log_size`` bytes; the cut
goes after the last line end in the ``lookback`` bytes before that size; if
there is none, after the first line end in the ``lookback`` bytes past it; a
line longer than that window is cut at ``log_size + lookback``. So lines are
not split unless they are longer than the window, files never exceed
``log_size + lookback``, and nothing is held back in memory.

Bytes that are far from a cut are moved with ``splice(2)`` from the process's
pipe straight into the file (no copy through this process); only the bytes in
the window around a cut are read, to find the line end.

The directory is held open and every open, rename and unlink is relative to it
(``contract/confined.py``): the live file is opened without following a link,
must be a regular file with one link, and is ``fchown``-ed; a task that plants a
link, a FIFO or a hard link at a log name makes the open fail (``Refused``),
never redirects root's writes or renames.
"""

from __future__ import annotations

import os

from borealis.contract import confined
from borealis.contract.logfiles import LOG_FILE, rotated_name

LOOKBACK = 64 * 1024
MAX_READ = 1024 * 1024


def lookback_for(log_size: int) -> int:
    return min(LOOKBACK, log_size // 2)


def cut_point(data: bytes, size: int, limit: int, lookback: int, at_line_start: bool) -> int | None:
    """Where in ``data`` to rotate, given a file of ``size`` bytes; ``None``: not yet.

    ``at_line_start``: the file so far ends with a line end (or is empty).
    """
    end = size + len(data)
    if end <= limit:
        return None
    room = limit - size  # bytes of data that still fit below the limit (< 0: past it)
    if room >= 0:
        line_end = data.rfind(b"\n", max(0, room - lookback), room)
        if line_end >= 0:
            return line_end + 1
        if at_line_start and size > 0 and size >= limit - lookback:
            return 0
    start = max(0, room)
    hard = limit + lookback - size  # where in data the file would reach its hard limit
    line_end = data.find(b"\n", start, max(start, hard))
    if line_end >= 0:
        return line_end + 1
    if end > limit + lookback:
        return max(0, hard)
    return None


def open_live(dir_fd: int, name: str, owner: tuple[int, int] | None) -> int:
    """The live file of a rotated stream, in ``dir_fd``, not following a link.

    Not O_APPEND: splice(2) refuses append-mode files; the rotating writer is the only
    writer, so its own offset is the end of the file. O_RDWR: the last byte is read back
    after a splice, to know if a line ended there.
    """
    return confined.open_leaf(dir_fd, name, os.O_RDWR | os.O_CREAT, LOG_FILE, owner=owner)[0]


class RotatingFile:
    """The live file of one stream, rotated by renaming.

    Not thread-safe; one writer per path (the run's coordinator).
    """

    def __init__(
        self,
        path: str,
        log_size: int,
        backups: int,
        *,
        owner: tuple[int, int] | None = None,
        dir_fd: int | None = None,
        fd: int | None = None,
    ) -> None:
        """``dir_fd``: the directory ``path`` is in, already opened safely (it is duplicated);
        without it the parent of ``path`` is opened, as a directory the caller trusts.
        ``fd``: the live file, already opened there by ``open_live`` (taken over)."""
        if log_size < 1:
            raise ValueError("log_size must be at least 1 byte")
        self.path = path
        self.name = os.path.basename(path)
        if dir_fd is None:
            self.dir_fd = confined.open_top(os.path.dirname(path) or ".")
        else:
            self.dir_fd = os.dup(dir_fd)
            os.set_inheritable(self.dir_fd, False)
        self.limit = log_size
        self.backups = backups
        self.lookback = lookback_for(log_size)
        self.owner = owner
        self.fd = -1
        self.size = 0
        self.rotations = 0
        self._line_start: bool | None = None  # does the file end with a line end? None: look
        try:
            if fd is None:
                self._open()
            else:
                self.fd = fd
                self.size = os.lseek(fd, 0, os.SEEK_END)
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self.fd = open_live(self.dir_fd, self.name, self.owner)
        self.size = os.lseek(self.fd, 0, os.SEEK_END)

    def _ends_with_line(self) -> bool:
        if self._line_start is None:
            self._line_start = self.size == 0 or os.pread(self.fd, 1, self.size - 1) == b"\n"
        return self._line_start

    @property
    def splice_room(self) -> int:
        """How many bytes may be spliced blindly before a cut must be looked for."""
        if self.fd < 0:
            return 0
        return max(0, self.limit - self.lookback - self.size)

    def spliced(self, count: int) -> None:
        """``count`` bytes were spliced into the file behind our back."""
        if count:
            self.size += count
            self._line_start = None

    def write(self, data: bytes) -> None:
        """Write ``data``, rotating at the cut points on the way."""
        view = memoryview(data)
        while view:
            # Only the bytes up to the hard limit (and one more) can decide the cut.
            window = max(0, self.limit - self.size) + self.lookback + 1
            cut = cut_point(
                bytes(view[:window]), self.size, self.limit, self.lookback, self._ends_with_line()
            )
            if cut is None:
                self._write_all(view)
                return
            self._write_all(view[:cut])
            self.rotate()
            view = view[cut:]

    def _write_all(self, data: memoryview) -> None:
        if not data:
            return
        if self.fd < 0:  # the new file could not be created (disk full): try again
            self._open()
            self._line_start = True
        view = data
        while view:
            written = os.write(self.fd, view)
            self.size += written
            view = view[written:]
        self._line_start = data[-1] == 0x0A

    def rotate(self) -> None:
        """stdout -> stdout.1 -> ... -> stdout.N (dropped beyond), then a new stdout."""
        os.close(self.fd)
        self.fd = -1
        if self.backups > 0:
            name = self.name
            # Only the files this writer made can exist (a run's directory is its own).
            for index in range(min(self.rotations, self.backups - 1), 0, -1):
                try:
                    confined.rename(
                        self.dir_fd, rotated_name(name, index), rotated_name(name, index + 1)
                    )
                except FileNotFoundError:
                    pass
            confined.rename(self.dir_fd, name, rotated_name(name, 1))
        else:
            confined.unlink(self.dir_fd, self.name)
        self.rotations += 1
        self.size = 0
        self._line_start = True
        self._open()  # may fail on a full disk: _write_all tries again

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1
