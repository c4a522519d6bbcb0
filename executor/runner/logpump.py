"""Moving a run's output from its pipes to its log files (in the shim).

Used when output must pass through the shim: rotation
(``Logger(mode='rotate')``), or ``destination='both'`` (file and console).
Standard file logging needs none of this: the process writes its own
``O_APPEND`` file.

The shim polls the run's stdout and stderr pipes (``Output.pump`` when one is
readable) with every other run's. Bytes far from a rotation go with ``splice(2)``, pipe to file,
without passing through this process; bytes near a cut, or going to the
console too, are read in chunks of up to 1 MiB. Nothing is flushed per write
and nothing is buffered beyond one read.

When the process exits, whatever is already in the pipes is written, then the
exit is recorded; output from processes it left behind is still forwarded
until the pipes close or stay silent for ``LINGER`` seconds (``MAX_LINGER``
at most), after which the pipes are closed (a late writer gets EPIPE); the
shim keeps that time (``coordinator.py``).

Disk full: the bytes that cannot be written are read and dropped, so the
process never blocks on a full pipe; writing is tried again every
``RETRY_FULL`` seconds; each episode is reported once (``report``) with the
number of bytes lost. If the shim itself dies, the pipes' read ends
close with it and the process gets EPIPE / SIGPIPE instead of hanging.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable

from borealis.contract.framing import no_space

from .logrotate import MAX_READ, RotatingFile

PIPE_SIZE = 1024 * 1024
LINGER = 0.2
MAX_LINGER = 2.0
RETRY_FULL = 1.0


def make_pipe() -> tuple[int, int]:
    """A pipe for one output stream: large (fewer wake-ups), read end non-blocking."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    os.set_blocking(read_end, False)
    return read_end, write_end


class Output:
    """One stream of a run (stdout or stderr) on its way to its destinations."""

    def __init__(
        self,
        name: str,
        pipe: int,
        report: Callable[[str], None],
        *,
        rotating: RotatingFile | None = None,
        plain: int | None = None,
        console: int | None = None,
    ) -> None:
        self.name = name
        self.pipe = pipe
        self.report = report
        self.rotating = rotating
        self.plain = plain  # an O_APPEND file (standard mode with destination 'both')
        self.console = console
        self.dropped = 0
        self.broken = False  # an unexpected error: output is dropped from now on
        self._full_until = 0.0

    def pump(self) -> bool:
        """Move what the pipe holds now; False once it is closed and empty.

        Never raises for a problem with the log: the process must keep running
        and its exit must be recorded whatever happens to its output.
        """
        try:
            return self._pump()
        except Exception as e:  # the pipe must keep draining, whatever broke
            if not self.broken:
                self.broken = True
                self.report(f"{self.name}: the log failed ({e!r}); output is dropped from now on")
            return self._drop()

    def _drop(self) -> bool:
        while True:
            try:
                data = os.read(self.pipe, MAX_READ)
            except BlockingIOError:
                return True
            if not data:
                return False
            self.dropped += len(data)

    def _pump(self) -> bool:
        if self.broken:
            return self._drop()
        while True:
            try:
                if self._can_splice():
                    assert self.rotating is not None
                    moved = os.splice(
                        self.pipe,
                        self.rotating.fd,
                        self.rotating.splice_room,
                        flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK,
                    )
                    if moved == 0:
                        return False
                    self.rotating.spliced(moved)
                    continue
                data = os.read(self.pipe, MAX_READ)
            except BlockingIOError:
                return True
            except OSError as e:
                if not no_space(e):
                    raise
                self._disk_full(e)
                continue
            if not data:
                return False
            self._deliver(data)

    @property
    def disk_full(self) -> bool:
        return time.monotonic() < self._full_until

    def _can_splice(self) -> bool:
        return (
            self.rotating is not None
            and self.console is None
            and self.rotating.splice_room > 0
            and not self.disk_full
        )

    def _deliver(self, data: bytes) -> None:
        if self.console is not None:
            with contextlib.suppress(OSError):  # a closed console must not stop the log
                _write_all(self.console, data)
        if self.disk_full:
            self.dropped += len(data)
            return
        try:
            if self.rotating is not None:
                self.rotating.write(data)
            elif self.plain is not None:
                _write_all(self.plain, data)
        except OSError as e:
            if not no_space(e):
                raise
            self._disk_full(e)
            self.dropped += len(data)

    def _disk_full(self, error: OSError) -> None:
        if not self._full_until:
            self.report(
                f"{self.name}: cannot write the log ({error.strerror}); "
                f"output is dropped until there is room again"
            )
        self._full_until = time.monotonic() + RETRY_FULL

    def report_dropped(self) -> None:
        """Say how much output was lost (before the run's exit is recorded, so that the
        runner merges the warning while it still follows the run)."""
        if self.dropped:
            self.report(f"{self.name}: {self.dropped} bytes of output were dropped in all")
            self.dropped = 0

    def close(self) -> None:
        self.report_dropped()
        os.close(self.pipe)
        if self.rotating is not None:
            with contextlib.suppress(OSError):
                self.rotating.close()
        if self.plain is not None:
            os.close(self.plain)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
