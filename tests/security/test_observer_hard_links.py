"""A hard link in a sandbox to a file the task's user does not own is never read out by the
root observer. With ``fs.protected_hardlinks`` off (a sysctl many hosts keep at 1, but not all),
a task can link any file of the host into its sandbox; the test makes the link itself, as root,
as such a task could. The log routes and the sandbox routes refuse it; a hard link the task's
user owns (its own two names for one file) is still served."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from observing import Observer, start_observer, stop_observer
from support import borealis

from borealis.contract.layout import CheckpointRoot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="root-only targets need root")

SECRET = b"root-only-secret-for-hard-links"
NOBODY = 65534


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[Observer, Path]]:
    root = CheckpointRoot(tmp_path / "root")
    root.ensure()
    config = tmp_path / "t.aurora"
    config.write_text(
        "p = Process(name='p', cmdline='echo mine > own; echo hello')\n"
        "export(Task(name='t', user='nobody', processes=[p]))\n"
    )
    done = borealis("run", str(config), "--root", str(root.path), "--task-id", "hl", "-q")
    assert done.returncode == 0, done.stderr
    sandbox = root.path / "sandboxes" / "hl"
    assert sandbox.stat().st_uid == NOBODY
    secret = tmp_path / "secret"  # root's, 0600, outside the sandbox
    secret.write_bytes(SECRET + b"\n")
    secret.chmod(0o600)
    log = sandbox / ".logs" / "p" / "0" / "stdout"
    log.unlink()
    os.link(secret, log)  # a log replaced by a hard link to root's file
    os.link(secret, sandbox / "linked")  # and one more name for it in the sandbox
    os.link(sandbox / "own", sandbox / "own-too")  # the task's own file, twice
    observer = start_observer(tmp_path / "observer.log", "--root", str(root.path))
    yield observer, sandbox
    stop_observer(observer)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks/hl/logs/p/0/stdout?cursor=start",
        "/api/v1/tasks/hl/logs/p/0/stdout",
        "/api/v1/tasks/hl/files/.logs/p/0/stdout",
        "/api/v1/tasks/hl/download/.logs/p/0/stdout",
        "/api/v1/tasks/hl/files/linked",
        "/api/v1/tasks/hl/download/linked",
        "/download/hl/linked",
        "/file/hl/linked",
    ],
)
def test_a_hard_link_to_a_file_the_task_does_not_own_is_refused(
    host: tuple[Observer, Path], path: str
) -> None:
    observer, _ = host
    resp = observer.get(path, timeout=10)
    assert SECRET not in resp.body, path
    assert resp.status in (403, 404), (path, resp.status, resp.text[:200])


def test_the_tasks_own_hard_links_are_served(host: tuple[Observer, Path]) -> None:
    observer, _ = host
    resp = observer.get("/api/v1/tasks/hl/download/own-too", timeout=10)
    assert resp.status == 200 and resp.body == b"mine\n"
