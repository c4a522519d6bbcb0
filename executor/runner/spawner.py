"""The spawner: a small process that forks coordinators on the runner's behalf.

``fork()`` costs in proportion to the memory of the process that forks (its
page tables are copied), and each coordinator then lives in a copy of that
memory. The runner has the planner, the checkpoint and, under ``borealis run``,
the whole config language loaded; a coordinator needs none of it. So the runner
starts one spawner, a fresh interpreter that imports only the coordinator
(about a third of the runner's size), and sends it each launch over a
``SOCK_SEQPACKET`` socketpair with the process stream's locked descriptor
attached (``SCM_RIGHTS``). The spawner forks the coordinator, closes its own
copy of the descriptor and answers with the coordinator's pid. Forks get
cheaper, happen on the other CPU while the runner carries on, and the
coordinators stay small.

Crash safety is unchanged: the run is on disk (WAITING) before its request is
sent, and the stream's lock travels with the request. A request lost with a
dying spawner leaves the lock free, so the runner forks that run again; one the
spawner carried out holds the lock, so the runner waits for its coordinator.
The spawner exits once the runner's end of the socket is closed (the runner
ended or crashed) and it has forked every request already queued; coordinators
are not its concern after the fork (it only reaps them).

Protocol: request = pickle of ``(request_id, Launch)`` plus one descriptor;
answer = ``>QI`` (request_id, pid), pid 0 when ``fork()`` failed.
"""

from __future__ import annotations

import array
import contextlib
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from types import FrameType

from . import coordinator
from .proctree import set_process_name

ANSWER = struct.Struct(">QI")
MAX_REQUEST = 1 << 20
SEND_TIMEOUT = 10.0


def _reap(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(sock: socket.socket) -> int:
    """The spawner's loop: fork a coordinator per request until the runner goes."""
    signal.signal(signal.SIGCHLD, _reap)
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the runner decides what a Ctrl-C means
    while True:
        message, ancillary, _, _ = sock.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(4))
        if not message:
            return 0
        fds = array.array("i")
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        request_id, launch = pickle.loads(message)
        try:
            pid = os.fork()
        except OSError:
            pid = 0
        if pid == 0 and fds:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                coordinator.main(launch, fds[0])
            finally:
                os._exit(1)
        for fd in fds:
            os.close(fd)
        sock.send(ANSWER.pack(request_id, pid))


class Spawner:
    """The runner's handle on its spawner process."""

    def __init__(self, label: str) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno()), label],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        # A kernel-level send timeout: Python's own socket timeout would also
        # make every MSG_DONTWAIT receive wait for data.
        seconds = int(SEND_TIMEOUT)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, 0))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def fileno(self) -> int:
        return self.sock.fileno()

    def request(self, request_id: int, launch: coordinator.Launch, fd: int) -> bool:
        """Send one launch; False if the spawner is gone or stuck."""
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
        try:
            self.sock.sendmsg([pickle.dumps((request_id, launch))], rights)
        except OSError:  # EPIPE / ECONNRESET: it died; TimeoutError: it hangs
            return False
        return True

    def answers(self) -> list[tuple[int, int]] | None:
        """Answers received so far; ``None`` once the spawner has gone."""
        found: list[tuple[int, int]] = []
        while True:
            try:
                data = self.sock.recv(ANSWER.size, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return found
            except OSError:
                data = b""
            if not data:  # closed: report what came first, then None next time
                return found or None
            request, pid = ANSWER.unpack(data)
            found.append((request, pid))

    def close(self) -> None:
        """Close our end (the spawner then exits) and wait for it; safe to repeat."""
        if self.sock.fileno() < 0:
            return
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        except ChildProcessError:
            pass  # already reaped by the runner's SIGCHLD handling


def _main() -> int:
    set_process_name("borealis-spawn")
    sock = socket.socket(fileno=int(sys.argv[1]))
    return serve(sock)


if __name__ == "__main__":
    sys.exit(_main())
