"""The README's first command, as a person runs it: ``./scripts/demo`` in a terminal, then
Ctrl-C. Nothing the demo started may survive it, and it must run again at once.

The demo runs under a real pseudo-terminal (it is the session leader, the terminal's
foreground), and Ctrl-C is the byte 0x03 written to the terminal: the kernel turns it into
SIGINT for the foreground process group, as it does for a person at a keyboard.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO

UP = b"demo: the embedded cluster is up"
# No operator identity settings (tests/conftest.py turns them on for older tests): the service
# runs as its role, www-data, as for a person running the README's command.
AS_README = {"BOREALIS_NO_SETUID": "0", "BOREALIS_ALLOW_ROOT_TASKS": "0"}


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A state root's parent that www-data can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="borealis-demo-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Terminal:
    """``scripts/demo`` on a pseudo-terminal, with everything it printed."""

    def __init__(self, root: Path, **env: str) -> None:
        self.output = b""
        self.status: int | None = None
        pid, fd = pty.fork()
        if pid == 0:  # the child: the demo, on the terminal
            os.chdir(REPO)
            os.execve(
                "/bin/bash",
                ["bash", "scripts/demo"],
                {**os.environ, "BOREALIS_ROOT": str(root), **env},
            )
        self.pid, self.fd = pid, fd

    def read_until(self, marker: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while marker not in self.output and time.monotonic() < deadline:
            if not self._read(min(1.0, deadline - time.monotonic())) and self.exited() is not None:
                break
        return marker in self.output

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the terminal closed: the demo exited
            return False
        self.output += data
        return bool(data)

    def exited(self) -> int | None:
        if self.status is not None:
            return self.status
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(0.2)
            code = self.exited()
            if code is not None:
                while self._read(0.1):
                    pass
                return code
        return None

    def hang_up(self) -> None:
        """The terminal goes away (a closed window, an ended tmux or ssh session): the kernel
        sends SIGHUP to the session it controlled."""
        os.close(self.fd)
        self.fd = -1

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.exited() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.exited()

    def close(self) -> None:
        if self.exited() is None:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        if self.fd >= 0:
            os.close(self.fd)

    def text(self) -> str:
        return self.output.decode(errors="replace")


def started_for(root: Path) -> list[str]:
    """Every live process started for this root: the demo hands its root to the daemons it
    starts (and they to executors and runners) as BOREALIS_ROOT; task processes carry their
    sandbox, which is under it, as BOREALIS_SANDBOX."""
    marks = (f"BOREALIS_ROOT={root}".encode(), f"BOREALIS_SANDBOX={root}".encode())
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if any(v.startswith(m) for v in env for m in marks):
            found.append(f"{pid}: {cmdline.decode(errors='replace')[:120]}")
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_stops_everything_the_demo_started_and_it_runs_again_at_once(
    reachable: Path,
) -> None:
    root = reachable / "root"
    demo = Terminal(root, **AS_README)
    try:
        assert demo.read_until(UP, 150), demo.text()[-3000:]
        assert len(started_for(root)) >= 3 + 3 * 4  # 3 daemons; per instance 4 or more
        os.write(demo.fd, b"\x03")  # Ctrl-C
        code = demo.wait(90)
        assert code is not None, "the demo did not stop: " + demo.text()[-2000:]
    finally:
        demo.close()
    assert code == 0, demo.text()[-2000:]
    assert "demo: stopped" in demo.text()
    assert started_for(root) == []

    again = Terminal(root, BOREALIS_DEMO_SECONDS="1", **AS_README)
    try:
        code = again.wait(200)
    finally:
        again.close()
    assert code == 0, again.text()[-3000:]
    assert "created local/www-data/devel/hello: 3 instances" in again.text()
    assert started_for(root) == []


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_closing_the_terminal_stops_everything_as_ctrl_c_does(reachable: Path) -> None:
    # Before the fix the demo died on SIGHUP (and on writing to the gone terminal) and left
    # the cluster, its executors and the service running.
    root = reachable / "root"
    demo = Terminal(root, **AS_README)
    try:
        assert demo.read_until(UP, 150), demo.text()[-3000:]
        assert len(started_for(root)) >= 3 + 3 * 4
        demo.hang_up()
        assert demo.wait_exit(90) is not None, "the demo did not stop on SIGHUP"
    finally:
        demo.close()
    assert started_for(root) == []
