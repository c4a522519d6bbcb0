"""The runner's side of its checkpoint stream: lock, replay, record, commit.

``record()`` applies a record to the in-memory state with the same function
replay uses (so an invalid transition is refused before it is written) and
queues it; ``commit()`` writes every queued record with one ``write(2)``, and
``fdatasync``s the stream when the batch holds a record that must survive a
host crash: an ended run, a task state, a header or a runner record (a
WAITING, FORKED or RUNNING record is only worth anything while the host is up,
and a process crash never loses a written record). The runner commits once
per loop iteration that recorded anything, and always before it forks a
coordinator for a run it just recorded (a run must be on disk before its
process can exist).

Disk full: ``commit()`` returns False and keeps the batch when the stream is
out of space (nothing of it stays on disk, see ``append_whole``); the runner
carries on from memory, forks nothing new (a run must be on disk first) and
commits again shortly, so no record is lost once there is room. It does not
end while a record is still pending.

The stream's ``flock`` is the runner lock: a second runner for the same task
fails to take it and stops, naming the pid that holds it.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from borealis.contract.layout import TaskPaths, open_private
from borealis.contract.records import ProcessStatus, Record, RunnerStarted, decode, encode
from borealis.contract.replay import RunnerState, apply, replay_payloads
from borealis.contract.stream import Tail, append_whole, frame, no_space, read_all

from .faults import Faults


class AlreadyRunning(Exception):
    pass


class RunnerCheckpoint:
    def __init__(self, paths: TaskPaths, faults: Faults | None = None) -> None:
        self.paths = paths
        self.path: Path = paths.runner_stream
        self.faults = faults or Faults()
        self.state = RunnerState()
        self._fd = -1
        self._pending: list[bytes] = []
        self._sync = False

    def acquire(self) -> None:
        """Take the runner lock and replay the stream (repairing a torn tail)."""
        self.paths.make_checkpoint_dir()  # 0700 even when an older runner made it wider
        fd = open_private(self.path, os.O_RDWR | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise AlreadyRunning(
                    f"task {self.paths.task_id}: a runner is already running it"
                    f"{self._holder_hint()}"
                ) from None
            raise
        self._fd = fd
        scan = read_all(self.path)
        if scan.tail is not Tail.CLEAN:
            os.ftruncate(fd, scan.end)
        self.state = replay_payloads(scan.payloads, str(self.path))

    def _holder_hint(self) -> str:
        try:
            records = [decode(p) for p in read_all(self.path).payloads]
        except Exception:  # only a hint for the message; the lock is what matters
            return ""
        runners = [r for r in records if isinstance(r, RunnerStarted)]
        return f" (pid {runners[-1].identity.pid})" if runners else ""

    def record(self, record: Record) -> None:
        apply(self.state, record)
        self._pending.append(encode(record))
        if not isinstance(record, ProcessStatus) or record.state.terminal:
            self._sync = True

    @property
    def pending(self) -> bool:
        """Whether recorded records are still waiting to be written."""
        return bool(self._pending)

    def commit(self) -> bool:
        """Write what was recorded; False (the batch kept) while the disk is full."""
        if not self._pending:
            return True
        data = b"".join(frame(p) for p in self._pending)
        self.faults.point("before-write")
        try:
            append_whole(self._fd, data, self.path, self.faults.write)
        except OSError as e:
            if not no_space(e):
                raise
            return False
        self._pending.clear()
        if self._sync:
            self.faults.point("before-sync")
            try:
                os.fdatasync(self._fd)
            except OSError as e:
                if not no_space(e):
                    raise
                return True  # written (a process crash loses nothing); synced next time
            self._sync = False
            self.faults.point("after-sync")
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
