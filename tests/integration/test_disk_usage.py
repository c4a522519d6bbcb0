"""Sandbox disk usage (``borealis.executor.runner.diskusage``) against GNU du, with real files
and inotify.

Every check waits (bounded, polling ``usage()``) until the monitor agrees with ``du -sb``,
``du -sB1`` and ``du -s --inodes`` run on the same tree after the changes stopped. The
mutations happen after ``start()``, so the incremental path is what is checked.

The fallbacks are made real without touching the host's settings: the inotify limits are
per user namespace (``/proc/sys/user/max_inotify_*``), so a child monitor started in a new
user namespace (``unshare --user --map-root-user``) can be given no inotify instance, or too
few watches, without anything else on the host noticing; the queue overflow is real too (the
monitor has no thread: the kernel queue fills up simply because ``usage()`` is not called while
more events than ``fs.inotify.max_queued_events`` happen).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support import REPO, wait_for
from watchdog.observers.inotify_c import CallbackId, InotifyFD

from borealis.executor.runner import diskwatch
from borealis.executor.runner.diskusage import DiskMonitor, DiskUsage
from borealis.executor.runner.diskwatch import MASK, Watches

MB = 1024 * 1024


def du(root: Path, prefix: Sequence[str] = ()) -> tuple[int, int, int]:
    """(apparent bytes, allocated bytes, entries) of ``root`` according to GNU du."""

    def one(*flags: str) -> int:
        argv = [*prefix, "du", "-s", *flags, str(root)]
        out = subprocess.run(argv, capture_output=True, text=True)
        return int(out.stdout.split()[0])

    return one("-b"), one("-B1"), one("--inodes")


def totals(usage: DiskUsage | dict[str, Any]) -> tuple[int, int, int]:
    if isinstance(usage, DiskUsage):
        return usage.apparent, usage.allocated, usage.entries
    return usage["apparent"], usage["allocated"], usage["entries"]


def agrees(read: Any, root: Path, timeout: float = 30.0, prefix: Sequence[str] = ()) -> Any:
    """Poll ``read()`` (a usage) until its totals equal du's; return the last reading."""
    seen: dict[str, Any] = {}

    def same() -> bool:
        seen["usage"] = read()
        seen["du"] = du(root, prefix)
        return totals(seen["usage"]) == seen["du"]

    try:
        wait_for(same, timeout, "usage() == du")
    except AssertionError:
        raise AssertionError(f"monitor {seen['usage']} != du {seen['du']}") from None
    return seen["usage"]


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox"
    path.mkdir()
    return path


@pytest.fixture
def monitors() -> Iterator[list[DiskMonitor]]:
    made: list[DiskMonitor] = []
    yield made
    for monitor in made:
        monitor.close()


def inotify_in_use() -> tuple[int, int]:
    """(inotify descriptors, inotify watches) this process holds, from /proc."""
    descriptors = watches = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as fp:
                watches += sum(line.startswith("inotify wd:") for line in fp)
        except OSError:
            continue  # the descriptor of the listing itself
        descriptors += 1
    return descriptors, watches


def directories(root: Path) -> int:
    out = subprocess.run(["find", str(root), "-type", "d"], capture_output=True, check=True)
    return len(out.stdout.splitlines())


def queue_size() -> int:
    return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())


def started(made: list[DiskMonitor], root: Path, **options: Any) -> DiskMonitor:
    monitor = DiskMonitor(root, **options)
    made.append(monitor)
    monitor.start()
    return monitor


def write(path: Path, size: int, mode: str = "wb") -> None:
    with open(path, mode) as fp:
        fp.write(b"x" * size)


def populate(root: Path) -> None:
    """What exists before ``start()``."""
    (root / "logs").mkdir()
    write(root / "logs" / "app.log", 5000)
    write(root / "shrink", 300_000)
    write(root / "doomed", 12_345)
    (root / "tree" / "a" / "b").mkdir(parents=True)
    for i in range(50):
        write(root / "tree" / "a" / f"f{i}", i * 100)
    write(root / "tree" / "a" / "b" / "leaf", 70_000)
    (root / "goes-out" / "sub").mkdir(parents=True)
    write(root / "goes-out" / "sub" / "data", 40_000)
    write(root / "linked", 9_000)
    (root / "grows").mkdir()


def mutate(root: Path, outside: Path) -> None:
    """Every kind of change the monitor must follow, after ``start()``."""
    # creates, in a directory that grows with them, appends, writes in place, truncations (down,
    # and up: a hole)
    for i in range(400):
        write(root / "grows" / f"a-rather-long-file-name-{i:04d}", 10)
    (root / "new" / "x" / "y").mkdir(parents=True)
    write(root / "new" / "x" / "y" / "made", 20_000)
    write(root / "logs" / "app.log", 3000, "ab")
    with open(root / "logs" / "app.log", "r+b") as fp:
        fp.seek(100)
        fp.write(b"overwritten")
    os.truncate(root / "shrink", 10)
    write(root / "grow", 1)
    os.truncate(root / "grow", 5 * MB)
    # deletes: a file, a directory tree
    os.unlink(root / "doomed")
    shutil.rmtree(root / "tree" / "a" / "b")
    # renames within: a file, a directory with its contents
    os.rename(root / "logs" / "app.log", root / "logs" / "app.log.1")
    os.rename(root / "tree" / "a", root / "moved-a")
    # a directory in from outside, and one out to outside; then writes in both
    os.rename(outside / "comes-in", root / "came-in")
    os.rename(root / "goes-out", outside / "went-out")
    write(root / "came-in" / "deep" / "after-move", 6_000)
    write(outside / "went-out" / "sub" / "after-move", 60_000)
    # hard links: two names in the tree; one to a file outside; one left after its twin goes
    os.link(root / "linked", root / "moved-a" / "linked-again")
    os.link(outside / "lone", root / "link-to-outside")
    os.link(root / "moved-a" / "f10", root / "f10-twin")
    os.unlink(root / "moved-a" / "f10")
    # symbolic links: not followed, counted for themselves
    os.symlink(outside, root / "to-outside")
    os.symlink("does/not/exist", root / "dangling")
    os.symlink("linked", root / "to-linked")
    # a sparse file: 100 MB apparent, one block allocated
    with open(root / "sparse", "wb") as fp:
        fp.seek(100 * MB)
        fp.write(b"1")
    # a deep tree, and many files
    deep = root / "deep"
    deep.mkdir()
    for _ in range(250):
        deep = deep / "d"
        deep.mkdir()
    write(deep / "bottom", 777)
    (root / "many").mkdir()
    for i in range(3000):
        write(root / "many" / f"m{i:04d}", i % 500)


def unmutate(root: Path) -> None:
    """A second round: take most of it away again."""
    shutil.rmtree(root / "deep")
    shutil.rmtree(root / "many")
    os.unlink(root / "moved-a" / "linked-again")
    os.unlink(root / "f10-twin")
    os.truncate(root / "sparse", 0)
    os.rename(root / "came-in", root / "moved-a" / "came-in-again")


def outside_tree(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "comes-in" / "deep").mkdir(parents=True)
    write(outside / "comes-in" / "deep" / "payload", 33_000)
    write(outside / "lone", 4_000)
    return outside


@pytest.mark.parametrize(
    "inotify", [pytest.param(True, marks=pytest.mark.slow), False], ids=["inotify", "scan"]
)
def test_agrees_with_du_after_every_kind_of_change(
    sandbox: Path, tmp_path: Path, monitors: list[DiskMonitor], inotify: bool
) -> None:
    populate(sandbox)
    outside = outside_tree(tmp_path)
    _, watches_before = inotify_in_use()
    monitor = started(monitors, sandbox, inotify=inotify, scan_interval=0.0)
    first = monitor.usage()
    assert totals(first) == du(sandbox)
    assert first.mode == ("inotify" if inotify else "scan"), monitor.fallback_reason

    mutate(sandbox, outside)
    usage = agrees(monitor.usage, sandbox)
    assert usage.apparent > 100 * MB > usage.allocated  # the hole is not allocated

    unmutate(sandbox)
    usage = agrees(monitor.usage, sandbox)
    assert usage.mode == ("inotify" if inotify else "scan")
    if inotify:
        assert monitor.walks == 1, "the changes were followed without walking again"
        assert monitor.overflows == 0
        # One watch per directory, no more: deleted ones and the one moved out lost theirs.
        monitor.usage()
        assert inotify_in_use()[1] - watches_before == directories(sandbox)


def test_root_itself_and_hard_links_count_as_du_counts_them(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    write(sandbox / "a", 10_000)
    for i in range(5):
        os.link(sandbox / "a", sandbox / f"a{i}")
    monitor = started(monitors, sandbox)
    root = os.lstat(sandbox)
    a = os.lstat(sandbox / "a")
    expected = (root.st_size + a.st_size, (root.st_blocks + a.st_blocks) * 512, 2)
    assert totals(monitor.usage()) == expected == du(sandbox)


def test_vanishing_paths_do_not_raise(sandbox: Path, monitors: list[DiskMonitor]) -> None:
    (sandbox / "file").write_text("x")
    monitor = started(monitors, sandbox)
    # Events whose paths are gone, under a file, too long, or not even valid.
    monitor.note(
        str(sandbox / "ghost"),
        str(sandbox / "ghost" / "deeper" / "still"),
        str(sandbox / "file" / "under-a-file"),
        str(sandbox / ("n" * 5000)),
        str(sandbox / "nul\0byte"),
        "/elsewhere/entirely",
        f"{sandbox}/../sandbox-sibling",
        f"{sandbox}//file/",
        f"{sandbox}/./",
    )
    assert totals(monitor.usage()) == du(sandbox)

    # Files and directories appearing and vanishing while usage() runs (another process: a
    # thread here would be starved of the GIL by the loop below).
    churn = subprocess.Popen([sys.executable, "-c", CHURN, str(sandbox)])
    readings = 0
    try:
        while churn.poll() is None:
            monitor.usage()
            readings += 1
    finally:
        churn.kill()
        churn.wait()
    assert churn.returncode == 0
    assert readings > 10
    assert agrees(monitor.usage, sandbox).mode == "inotify"


CHURN = """
import shutil, sys
from pathlib import Path

root = Path(sys.argv[1])
for n in range(3000):
    d = root / f"d{n % 7}"
    d.mkdir(exist_ok=True)
    (d / f"f{n}").write_bytes(b"y" * n)
    if n % 3 == 0:
        shutil.rmtree(d, ignore_errors=True)
    if n % 5 == 0:
        shutil.rmtree(root / f"d{(n + 3) % 7}", ignore_errors=True)
"""


def test_scan_mode_walks_only_when_the_interval_has_passed(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    now = [1000.0]
    monitor = started(monitors, sandbox, inotify=False, scan_interval=60, clock=lambda: now[0])
    before = monitor.usage()
    write(sandbox / "new", 50_000)
    now[0] += 59
    assert monitor.usage() == before and monitor.walks == 1
    now[0] += 1
    assert totals(monitor.usage()) == du(sandbox) and monitor.walks == 2


def test_reconciliation_replaces_totals_that_drifted(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    write(sandbox / "f", 100)
    now = [1000.0]
    monitor = started(monitors, sandbox, reconcile_interval=600, clock=lambda: now[0])
    # An extended attribute too large for the inode gets a block of its own (ext4, XFS): du
    # sees it, and no event the monitor subscribes to reports it (IN_ATTRIB): the totals drift.
    blocks = os.lstat(sandbox / "f").st_blocks
    try:
        os.setxattr(sandbox / "f", "user.big", b"v" * 3000)
    except OSError as err:
        pytest.skip(f"no user extended attributes here: {err}")
    if os.lstat(sandbox / "f").st_blocks == blocks:
        pytest.skip("this file system keeps extended attributes without a block of their own")
    stale = monitor.usage()
    assert stale.allocated < du(sandbox)[1]
    now[0] += 599
    assert monitor.usage() == stale and monitor.drift_corrections == 0
    now[0] += 1
    assert totals(monitor.usage()) == du(sandbox)
    assert monitor.drift_corrections == 1 and monitor.walks == 2
    now[0] += 600
    monitor.usage()
    assert monitor.drift_corrections == 1 and monitor.walks == 3, "no drift: nothing corrected"


def test_close_is_idempotent_closes_the_descriptor_and_keeps_the_last_totals(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    (sandbox / "d").mkdir()
    before = inotify_in_use()
    monitor = started(monitors, sandbox)
    assert inotify_in_use() == (before[0] + 1, before[1] + 2)
    write(sandbox / "f", 1000)
    last = agrees(monitor.usage, sandbox)
    monitor.close()
    monitor.close()
    assert inotify_in_use() == before
    write(sandbox / "g", 1000)
    assert monitor.usage() == last


def test_watches_removed_by_the_kernel_are_forgotten_by_watchdog_too(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    # The events are read without watchdog's handle_event, so its bookkeeping of the watches
    # (which close() removes) must still lose those the kernel removed (IN_IGNORED).
    for name in ("keep", "gone", "moved"):
        (sandbox / name / "sub").mkdir(parents=True)
    before = inotify_in_use()
    monitor = started(monitors, sandbox)
    watches = monitor._watches
    assert watches is not None and inotify_in_use()[1] == before[1] + 7
    shutil.rmtree(sandbox / "gone")
    (sandbox / "new" / "deeper").mkdir(parents=True)
    os.rename(sandbox / "moved", sandbox / "keep" / "moved")
    agrees(monitor.usage, sandbox)
    assert monitor.mode == "inotify", monitor.fallback_reason
    kept = set(watches._fd._watch_for_wd)
    assert kept == set(watches._nodes) and len(kept) == directories(sandbox) == 7
    assert inotify_in_use()[1] == before[1] + 7
    monitor.close()
    assert inotify_in_use() == before


def test_no_thread_is_started(sandbox: Path, monitors: list[DiskMonitor]) -> None:
    before = threading.active_count()
    monitor = started(monitors, sandbox)
    assert monitor.mode == "inotify", monitor.fallback_reason
    (sandbox / "d" / "e").mkdir(parents=True)
    write(sandbox / "d" / "e" / "f", 5000)
    assert totals(monitor.usage()) == du(sandbox)
    assert threading.active_count() == before
    monitor.close()
    assert threading.active_count() == before


def test_a_file_written_continuously_between_readings_is_one_event(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    monitor = started(monitors, sandbox)
    # More writes than the kernel queue holds: without its merging of identical consecutive
    # events (the same IN_MODIFY each time), this would overflow it.
    appends = max(20_000, queue_size() + 1000)
    with open(sandbox / "busy.log", "ab", buffering=0) as fp:
        for i in range(appends):
            fp.write(b"line %d\n" % i)
    usage = monitor.usage()
    assert totals(usage) == du(sandbox)
    assert usage.mode == "inotify" and monitor.overflows == 0 and monitor.walks == 1


def test_programs_started_meanwhile_do_not_inherit_the_inotify_descriptor(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    monitor = started(monitors, sandbox)
    assert monitor.mode == "inotify", monitor.fallback_reason
    fds = subprocess.run(["ls", "-l", "/proc/self/fd"], close_fds=False, capture_output=True)
    assert b"inotify" not in fds.stdout


# -- a monitor in a child process: overflow and the fallbacks ---------------------------------

CHILD = """
import json, sys
from pathlib import Path
from borealis.executor.runner.diskusage import DiskMonitor

monitor = DiskMonitor(Path(sys.argv[1]), scan_interval=0.0)
monitor.start()

def report():
    usage = monitor.usage()
    print(json.dumps({
        "apparent": usage.apparent, "allocated": usage.allocated, "entries": usage.entries,
        "mode": usage.mode, "reason": monitor.fallback_reason,
        "overflows": monitor.overflows, "walks": monitor.walks,
    }), flush=True)

report()
for _ in sys.stdin:
    report()
"""


class Child:
    """A DiskMonitor in its own process; ``read()`` asks it for ``usage()``."""

    def __init__(
        self,
        root: Path,
        log: Path,
        limit: tuple[str, int] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        argv = [*prefix, sys.executable, "-c", CHILD, str(root)]
        if limit is not None:
            name, value = limit
            setup = f'echo {value} > /proc/sys/user/{name} && exec "$@"'
            argv = ["unshare", "--user", "--map-root-user", "sh", "-c", setup, "sh", *argv]
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=REPO, text=True
            )
        self.first = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the monitor process exited with status {self.proc.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def read(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    for child in made:
        child.close()


def userns_limits_work() -> bool:
    probe = "echo 0 > /proc/sys/user/max_inotify_instances"
    try:
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "sh", "-c", probe], capture_output=True
        )
    except FileNotFoundError:
        return False
    return done.returncode == 0


needs_userns = pytest.mark.skipif(
    not userns_limits_work(), reason="needs unprivileged user namespaces (unshare --user)"
)


@pytest.mark.slow
def test_queue_overflow_is_followed_by_a_walk_then_events_again(
    sandbox: Path, monitors: list[DiskMonitor]
) -> None:
    (sandbox / "flood").mkdir()
    monitor = started(monitors, sandbox)
    assert monitor.mode == "inotify" and monitor.walks == 1

    # Nothing reads the queue between two readings: more events than it holds overflow it.
    files = queue_size() + 1000
    for i in range(files):
        write(sandbox / "flood" / f"f{i}", i % 100)
    usage = monitor.usage()
    assert monitor.overflows == 1 and monitor.walks == 2
    assert usage.mode == "inotify" and totals(usage) == du(sandbox)

    # Then incremental again: the watches were set up afresh, no more walks are needed.
    (sandbox / "after" / "overflow").mkdir(parents=True)
    write(sandbox / "after" / "overflow" / "f", 12_000)
    for i in range(0, files, 16):
        os.unlink(sandbox / "flood" / f"f{i}")
    usage = agrees(monitor.usage, sandbox)
    assert monitor.walks == 2 and monitor.overflows == 1


def test_an_overflow_dispatched_by_watchdog_itself_makes_the_watches_start_afresh(
    sandbox: Path, tmp_path: Path
) -> None:
    """``Watches`` is a callback of watchdog's protocol as the locked watchdog defines it:
    a real overflow, read and dispatched by watchdog's own ``read_events``/``handle_event``
    (what its reader thread does), reaches ``on_queue_overflow`` then ``on_events_lost``."""
    watches = Watches(str(sandbox))
    flooded = tmp_path / "flooded"
    flooded.mkdir()
    instance = InotifyFD()
    try:
        assert instance.add_callback(os.fsencode(flooded), MASK, watches, CallbackId(7)) > 0
        # Writes to two files in turn: the kernel merges only an event identical to the last
        # one queued, so each write queues one, until the queue overflows.
        files = [os.open(flooded / name, os.O_WRONLY | os.O_CREAT) for name in ("a", "b")]
        try:
            for i in range(queue_size() + 100):
                os.write(files[i % 2], b"x")
        finally:
            for fd in files:
                os.close(fd)
        assert not watches.overflowed
        overflows = []
        for _ in range(queue_size()):  # bounded: the overflow is the last event queued
            events = instance.read_events()
            overflows = [event for event in events if event.is_queue_overflow]
            if overflows or not events:
                break
        assert overflows, "the kernel queue did not overflow"
        instance.handle_event(overflows[0])
        assert watches.overflowed
    finally:
        instance.close()
        watches.close()


@needs_userns
def test_no_inotify_instance_left_falls_back_to_scan(
    sandbox: Path, tmp_path: Path, children: list[Child]
) -> None:
    populate(sandbox)
    child = Child(sandbox, tmp_path / "child.log", ("max_inotify_instances", 0))
    children.append(child)
    assert child.first["mode"] == "scan"
    assert "inotify instance limit reached" in child.first["reason"]
    assert totals(child.first) == du(sandbox)
    mutate(sandbox, outside_tree(tmp_path))
    assert agrees(child.read, sandbox)["mode"] == "scan"


@needs_userns
def test_watch_limit_reached_later_falls_back_to_scan(
    sandbox: Path, tmp_path: Path, children: list[Child]
) -> None:
    (sandbox / "one" / "two").mkdir(parents=True)
    # Exactly the watches the tree needs now: the root, one, one/two.
    child = Child(sandbox, tmp_path / "child.log", ("max_inotify_watches", 3))
    children.append(child)
    assert child.first["mode"] == "inotify"
    (sandbox / "one" / "three").mkdir()  # cannot be watched
    write(sandbox / "one" / "three" / "unseen", 30_000)
    usage = agrees(child.read, sandbox)
    assert usage["mode"] == "scan"
    assert "inotify watch limit reached" in usage["reason"]


# As root, the capabilities that bypass permission bits are dropped, so that a directory without
# permissions is as unreadable to the monitor (and to du) as it is to any other user.
NO_DAC = [
    "setpriv",
    *(f"--{s}=-dac_override,-dac_read_search" for s in ("inh-caps", "bounding-set")),
]


@pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root's"
)
def test_unreadable_directories_count_as_du_counts_them(
    sandbox: Path, tmp_path: Path, children: list[Child]
) -> None:
    prefix = NO_DAC if os.geteuid() == 0 else []
    (sandbox / "open").mkdir()
    write(sandbox / "open" / "f", 1000)
    (sandbox / "locked" / "inner").mkdir(parents=True)
    write(sandbox / "locked" / "inner" / "hidden", 50_000)
    (sandbox / "locked").chmod(0)
    try:
        child = Child(sandbox, tmp_path / "child.log", prefix=prefix)
        children.append(child)
        assert child.first["mode"] == "inotify", child.first["reason"]
        assert totals(child.first) == du(sandbox, prefix) != du(sandbox)

        # Written to, then locked before the monitor looks: its entries cannot be looked at.
        (sandbox / "later").mkdir()
        for i in range(20):
            write(sandbox / "later" / f"f{i}", 3000)
        (sandbox / "later").chmod(0)
        write(sandbox / "open" / "g", 7000)
        write(sandbox / "unreadable-file", 4000)
        (sandbox / "unreadable-file").chmod(0)  # lstat needs no permission on the file
        agrees(child.read, sandbox, prefix=prefix)
    finally:
        (sandbox / "locked").chmod(0o755)
        if (sandbox / "later").exists():
            (sandbox / "later").chmod(0o755)


def test_a_sandbox_with_more_directories_than_the_cap_is_walked_instead(
    sandbox: Path, monitors: list[DiskMonitor], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The watches are root's, from one per-user limit for the whole host: one task making
    # directories without end falls back to walking instead of taking them all.
    monkeypatch.setattr(diskwatch, "MAX_WATCHES", 4)
    (sandbox / "a").mkdir()
    monitor = started(monitors, sandbox, scan_interval=0.0)
    assert monitor.usage().mode == "inotify"
    for name in "bcdef":
        (sandbox / name).mkdir()
        write(sandbox / name / "f", 1000)
    usage = agrees(monitor.usage, sandbox)
    assert usage.mode == "scan"
    assert monitor.fallback_reason == "more than 4 directories to watch"
