"""The shim: one small process per task that starts every run, holds its pipes and waits on it.

The runner plans; the shim does what must go on while no runner is there. The runner records
a run (WAITING) and commits it, locks the process's stream and sends the shim a ``Launch``
with the locked descriptor attached (``SCM_RIGHTS`` over a ``SOCK_SEQPACKET`` socketpair).
The shim starts the run's ``Coordinator`` (``coordinator.py``), which records FORKED,
starts the command as the shim's child, records RUNNING, moves its output when it goes
through a pipe, and records the exit status, all in the process's stream; then the stream
and its lock are handed back by closing them. One ``poll`` loop serves every run: the
requests, each child's pidfd, each output pipe, and the timers of held records and of
lingering output. The doorbell (the runner's FIFO) is rung once per loop turn with every
process whose stream grew.

It outlives its runner: when the runner dies, the shim carries on with the runs it has, so an
exit status is never lost and no log line is dropped; a new runner re-attaches to it by
identity (the ``coordinator`` of each run's FORKED record) and starts a shim of its own for
new runs. The shim exits once its runner's end of the socket is closed and its last run is
over. If the shim itself dies (SIGKILL), its runs end with it: every run it had that has not
recorded its end is LOST, whatever is left of it is killed by the runner, and it is started
again under the LOST rule (``docs/runner.md``); its children's output pipes close with it,
so nothing of the task keeps running unsupervised.

Kept small on purpose (docs/runner.md, "The process model and its footprint"): started as
``python -I -S`` with only this package's directory on its path, it imports the standard
library's smallest modules and the project's lean ones. Where a fresh interpreter cannot be
started, or keeps dying, the runner forks one from itself instead (``ShimHandle.forked``):
bigger, same behaviour.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable

from .coordinator import Coordinator, Loop, spawn_all
from .launch import Launch
from .procstat import identity_of, set_process_name

MAX_REQUEST = 1 << 20
FD_SIZE = 4  # a descriptor in an SCM_RIGHTS message: a C int
SEND_TIMEOUT = 10  # seconds: a shim that takes no launch for this long is stuck
NAME = "borealis-shim"
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[2]); "
    "from borealis.executor.runner.shim import main; sys.exit(main())"
)


def _ignore(signum: int, frame: object) -> None:
    pass  # caught, not ignored: a caught signal is back to its default in an exec'd child


class Shim(Loop):
    """The shim's loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.poller = select.poll()
        self.handlers: dict[int, Callable[[], None]] = {}
        self.coordinators: list[Coordinator] = []
        me = identity_of(os.getpid())
        assert me is not None
        self.me = me
        self.rung: dict[str, set[str]] = {}  # doorbell -> processes whose streams grew
        self.doorbells: dict[str, int] = {}  # doorbell -> a descriptor open for writing
        self.runner_gone = False

    # -- Loop -------------------------------------------------------------

    def watch(self, fd: int, handler: Callable[[], None]) -> None:
        self.poller.register(fd, select.POLLIN)
        self.handlers[fd] = handler

    def unwatch(self, fd: int) -> None:
        if self.handlers.pop(fd, None) is not None:
            self.poller.unregister(fd)

    def ring(self, doorbell: str, process: str) -> None:
        self.rung.setdefault(doorbell, set()).add(process)

    # -- the loop ----------------------------------------------------------

    def serve(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, _ignore)  # the runner decides what a stop means
        self.watch(self.sock.fileno(), self._requests)
        while not (self.runner_gone and not self.coordinators):
            for fd, _ in self.poller.poll(self._timeout()):
                handler = self.handlers.get(fd)
                if handler is not None:
                    handler()
            now = time.monotonic()
            for coordinator in self.coordinators:
                coordinator.tick(now)
            spawn_all(self.coordinators)  # those whose FORKED record is on disk
            self.coordinators = [c for c in self.coordinators if not c.done]
            self._ring_all()
        return 0

    def _timeout(self) -> int:
        ticks = [t for t in (c.next_tick() for c in self.coordinators) if t is not None]
        if not ticks:
            return -1
        return max(0, int((min(ticks) - time.monotonic()) * 1000) + 1)

    def _requests(self) -> None:
        flags = socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC
        room = socket.CMSG_SPACE(4 * FD_SIZE)
        while True:
            try:
                message, ancillary, _, _ = self.sock.recvmsg(MAX_REQUEST, room, flags)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, ancillary = b"", []
            fds = [
                int.from_bytes(data[i : i + FD_SIZE], sys.byteorder, signed=True)
                for level, kind, data in ancillary
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
                for i in range(0, len(data) - FD_SIZE + 1, FD_SIZE)
            ]
            if not message and not fds:  # the runner closed its end, or died
                self.unwatch(self.sock.fileno())
                self.sock.close()
                self.runner_gone = True
                return
            try:
                launch = Launch.from_wire(message)
            except (ValueError, EOFError, TypeError):
                launch = None
            if launch is None or not fds:
                for fd in fds:
                    os.close(fd)
                continue
            # the stream (locked), then the run's log directory and files if the runner
            # opened them (Coordinator checks how many)
            coordinator = Coordinator(launch, fds[0], self.me, self, fds[1:])
            self.coordinators.append(coordinator)
            coordinator.start()

    def _ring_all(self) -> None:
        """One ring per doorbell: the names of the processes whose streams grew.

        Never blocks, never fails: with no runner (ENXIO, EPIPE) the next one reads every
        stream when it starts; with the FIFO full (EAGAIN) the runner notices the overflow
        and reads every stream.
        """
        rung, self.rung = self.rung, {}
        for doorbell, names in rung.items():
            fd = self.doorbells.get(doorbell)
            if fd is None:
                try:
                    fd = os.open(doorbell, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                except OSError:
                    continue
                self.doorbells[doorbell] = fd
            try:
                os.write(fd, "".join(f"{name}\n" for name in sorted(names)).encode())
            except BlockingIOError:
                pass
            except OSError:  # the reader is gone: open it afresh next time
                os.close(fd)
                del self.doorbells[doorbell]


def main() -> int:
    """``python -I -S -c BOOT FD ROOT LABEL``: serve the runner on the socket ``FD``."""
    set_process_name(NAME)
    sock = socket.socket(fileno=int(sys.argv[1]))
    os.set_inheritable(sock.fileno(), False)
    return Shim(sock).serve()


class ShimHandle:
    """The runner's handle on its shim."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        # A kernel-level send timeout: Python's own socket timeout would also make every
        # MSG_DONTWAIT call wait.
        timeval = struct.pack("@ll", SEND_TIMEOUT, 0)  # seconds, microseconds
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        self.pidfd = os.pidfd_open(pid)
        identity = identity_of(pid)
        self.identity = identity if identity is not None else [pid, 0]

    @classmethod
    def started(cls, label: str) -> ShimHandle:
        """A shim in a fresh, minimal interpreter (``OSError`` if it cannot be started)."""
        import subprocess

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", BOOT, str(theirs.fileno()), package_root, label],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the runner's terminal is the runner's
            )
            proc.returncode = 0  # the runner reaps every child itself
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(proc.pid, ours)

    @classmethod
    def forked(cls) -> ShimHandle:
        """A shim forked from the runner itself: for when a fresh interpreter cannot start."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                keep = theirs.fileno()
                os.closerange(3, keep)  # the runner's lock on its stream among them
                os.closerange(keep + 1, 1 << 20)
                set_process_name(NAME)
                status = Shim(theirs).serve()
            finally:
                os._exit(status)
        theirs.close()
        return cls(pid, ours)

    def send(self, launch: Launch, fds: list[int]) -> bool:
        """Hand one launch over with its locked stream and, if opened, its log directory and
        files; False if the shim is gone or stuck."""
        try:
            socket.send_fds(self.sock, [launch.to_wire()], fds)
        except OSError:  # EPIPE / ECONNRESET: it died; EAGAIN after the timeout: it hangs
            return False
        return True

    def close(self, *, wait: float = 0.0) -> None:
        """Close our end: the shim exits once its last run is over. Safe to repeat.

        ``wait``: the task is over, so the shim has nothing left to do; wait that long for it
        to go, then kill it."""
        if self.sock.fileno() >= 0:
            self.sock.close()
        if self.pidfd < 0:
            return
        if wait > 0:
            ready, _, _ = select.select([self.pidfd], [], [], wait)
            if not ready:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        os.close(self.pidfd)
        self.pidfd = -1
