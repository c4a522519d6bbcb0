"""rsyslog's imfile follows a rotating Borealis log and collects every line exactly once.

A real, private ``rsyslogd`` (Debian's ``rsyslog``; ``scripts/test`` installs it) runs in
the foreground with its own configuration and work directory, following the process's
``stdout`` with imfile in inotify mode, and writes each message bare to a file. The process
writes numbered lines at 10 MB/s through 60 rotations of 1 MB files (see docs/logs.md,
"Collectors and rates", for the rates imfile keeps up with). The test fails, and does not
skip, when rsyslogd is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO, borealis, wait_for, wait_for_size

from borealis.contract.layout import CheckpointRoot

GENERATOR = REPO / "tests" / "tools" / "numbered_lines.py"
MB = 1024 * 1024
RATE = 10 * MB
LOG_SIZE = 1 * MB
ROTATIONS = 60


def rsyslogd() -> str:
    found = shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(p, os.X_OK)), None
    )
    assert found, "rsyslogd is missing: apt-get install -y rsyslog (scripts/test does)"
    return found


def rsyslog_config(work: Path, stdout: Path, out: Path) -> str:
    """As benchmarks/imfile.py: one worker, since two write their batches out of order."""
    return f"""\
global(workDirectory="{work}")
main_queue(queue.workerThreads="1")
module(load="imfile" mode="inotify")
template(name="bare" type="string" string="%msg%\\n")
ruleset(name="collect") {{
    action(type="omfile" file="{out}" template="bare")
}}
input(type="imfile" file="{stdout}" tag="t:" ruleset="collect"
      readMode="0" reopenOnTruncate="off" freshStartTail="off")
"""


def numbered(count: int) -> bytes:
    filler = b"x" * 88
    return b"".join(b"%010d %s\n" % (i, filler) for i in range(count))


def describe(data: bytes, count: int) -> str:
    """What is wrong with ``data`` (expected: lines 0..count-1, once each, in order)."""
    numbers = [int(line[:10]) for line in data.split(b"\n") if line[:10].isdigit()]
    seen = set(numbers)
    lost = sum(1 for i in range(count) if i not in seen)
    first = next((i for i, n in enumerate(numbers) if n != i), None)
    return (
        f"{len(numbers)} lines for {count}: {lost} lost, {len(numbers) - len(seen)} repeated, "
        f"first out of place at line {first}"
    )


def holds_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_imfile_collects_every_line_once_through_60_rotations(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    daemon_path = rsyslogd()
    count = (ROTATIONS + 1) * LOG_SIZE // 100
    stdout = root.path / "sandboxes" / "rs" / ".logs" / "p" / "0" / "stdout"
    stdout.parent.mkdir(parents=True)
    # imfile is started on an existing file, as a collector should be (GNU tail -F misses
    # rotations when started before the file exists); the coordinator appends to it.
    stdout.touch()
    work = tmp_path / "rsyslog"
    work.mkdir()
    collected = tmp_path / "collected"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(rsyslog_config(work, stdout, collected))
    cfg = tmp_path / "rs.aurora"
    cfg.write_text(
        f"p = Process(name='p', cmdline='{sys.executable} {GENERATOR} {count} --rate {RATE}',"
        f" logger=Logger(mode='rotate', rotate=RotatePolicy(log_size={LOG_SIZE}, backups=100)))\n"
        "export(Task(name='rs', processes=[p]))\n"
    )
    with open(tmp_path / "rsyslogd.log", "wb") as log:
        daemon = subprocess.Popen(
            [daemon_path, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: holds_open(daemon.pid, stdout), 10, "imfile to open the log")
        result = borealis("run", str(cfg), "--root", str(root.path), "--task-id", "rs", "-q")
        assert result.returncode == 0, result.stderr
        wait_for_size(collected, count * 100, limit=60)  # returns early if imfile lost some
        time.sleep(0.5)  # a repeat would show up now
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    rotations = sum(1 for p in stdout.parent.iterdir() if p.name.startswith("stdout."))
    assert rotations >= 50
    data = collected.read_bytes()
    assert data == numbered(count), describe(data, count)
