"""Root looks at a sandbox without following the task's links: disk usage and health snoozing.

The sandbox belongs to the task's user (``nobody`` here), who may swap any directory in it for
a symbolic link at any moment. Outside it, a root-only directory holds a big file. The runner's
disk accounting (``diskscan.Tally``, fed with changed paths as the inotify monitor feeds it)
must never count that file, and the executor must not take a link named ``.healthchecksnooze``
that points at a root-only file as the task's request to snooze its health checks. The old
code looked at ``<sandbox>/d/...`` by path, so a ``d`` swapped for a link was followed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from borealis.executor.mesos.health import SNOOZE_FILE, snoozed
from borealis.executor.runner.diskscan import Tally
from borealis.executor.runner.diskwatch import Watches

NOBODY = 65534
BIG = 8 * 1024 * 1024


@pytest.fixture
def sandbox(base: Path) -> Path:
    box = base / "sandbox"
    box.mkdir(mode=0o750)
    os.chown(box, NOBODY, NOBODY)
    return box


@pytest.fixture
def secret(base: Path) -> Path:
    """A root-only directory with a big file, and a subdirectory holding another."""
    private = base / "private"
    private.mkdir(mode=0o700)
    (private / "sub").mkdir(mode=0o700)
    for name in ("big", "sub/big"):
        with open(private / name, "wb") as fp:
            fp.write(os.urandom(BIG))
    return private


def as_task(sandbox: Path, action: str, *args: str) -> None:
    """Change the sandbox as its user would (a real process as ``nobody``)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            getattr(os, action)(*args)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (action, args)


def test_a_directory_swapped_for_a_link_is_not_followed_by_the_disk_tally(
    sandbox: Path, secret: Path
) -> None:
    as_task(sandbox, "mkdir", str(sandbox / "d"))
    as_task(sandbox, "mkdir", str(sandbox / "d" / "sub"))
    tally = Tally.scan(str(sandbox))
    # The task swaps d for a link to the root-only directory, then touches paths under it
    # (the events a watcher reports: d/big and d/sub, with d/sub as a new directory).
    as_task(sandbox, "rename", str(sandbox / "d"), str(sandbox / "old"))
    as_task(sandbox, "symlink", str(secret), str(sandbox / "d"))
    changed = [str(sandbox / "d" / "big"), str(sandbox / "d" / "sub")]
    tally.apply(changed, fresh=[str(sandbox / "d" / "sub")])
    apparent, _, _ = tally.totals
    assert apparent < BIG, f"counted {apparent} bytes: the link was followed"
    # Once the events for the swap itself arrive, the totals are the truth (du's figures).
    tally.apply([str(sandbox / "d"), str(sandbox / "old")])
    assert tally.totals == Tally.scan(str(sandbox)).totals


def test_a_link_in_the_sandbox_is_counted_as_a_link(sandbox: Path, secret: Path) -> None:
    as_task(sandbox, "symlink", str(secret), str(sandbox / "link"))
    tally = Tally.scan(str(sandbox))
    tally.apply([str(sandbox / "link" / "big"), str(sandbox / "link" / "sub")])
    assert tally.totals[0] < BIG
    assert tally.totals == Tally.scan(str(sandbox)).totals


def test_a_snooze_link_to_a_root_only_file_does_not_snooze(sandbox: Path, secret: Path) -> None:
    as_task(sandbox, "symlink", str(secret / "big"), str(sandbox / SNOOZE_FILE))
    assert not snoozed(sandbox)  # exists() followed it, as root
    as_task(sandbox, "unlink", str(sandbox / SNOOZE_FILE))
    fd_path = str(sandbox / SNOOZE_FILE)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: the task snoozes its checks for real
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        os.close(os.open(fd_path, os.O_WRONLY | os.O_CREAT, 0o600))
        os._exit(0)
    os.waitpid(pid, 0)
    assert snoozed(sandbox)


def test_the_watcher_does_not_list_a_directory_reached_through_a_swapped_link(
    sandbox: Path, secret: Path
) -> None:
    """Events are read late: a directory created in ``d`` is looked at by the path of ``d``
    after ``d`` was swapped for a link to a root-only tree. That tree is not listed (its names
    never become paths to look at) nor watched."""
    (secret / "new" / "only-in-secret" / "deeper").mkdir(parents=True)
    as_task(sandbox, "mkdir", str(sandbox / "d"))
    watches = Watches(str(sandbox))
    try:
        as_task(sandbox, "mkdir", str(sandbox / "d" / "new"))
        as_task(sandbox, "rename", str(sandbox / "d"), str(sandbox / "old"))
        as_task(sandbox, "symlink", str(secret), str(sandbox / "d"))
        watches.drain()
        seen = watches.changed | watches.fresh
        leaked = sorted(p for p in seen if "only-in-secret" in p)
        assert leaked == []
    finally:
        watches.close()
