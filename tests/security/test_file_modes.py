"""State files are not world-readable: checkpoints, task files, sandboxes, logs, scheduler.db.

After a real ``borealis run`` (as root, as in CI) and a real scheduler start, every
file and directory Borealis wrote is walked: none may be readable or searchable by
others, except the two documented pass-through directories (the checkpoint root and
``sandboxes/``: 0711, so that a task user reaches its sandbox without listing them).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cluster import SchedulerProcess, running_agent
from support import borealis

from borealis.contract.layout import CheckpointRoot

CONFIG = """
plain = Process(name='plain', cmdline='echo out; echo err >&2')
rotated = Process(name='rotated', cmdline='echo out; echo err >&2',
                  logger=Logger(mode='rotate', rotate=RotatePolicy(log_size=1*MB, backups=2)))
export(Task(name='modes', processes=[plain, rotated]))
"""


def open_to_others(top: Path) -> list[str]:
    """Every entry under ``top`` (itself included) with any permission for others."""
    found = []
    for path in [top, *top.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & 0o007:
            found.append(f"{path} {stat.filemode(mode)}")
    return found


def test_a_run_leaves_nothing_world_readable(tmp_path: Path) -> None:
    root = CheckpointRoot(tmp_path / "fresh-root")  # created by the run itself
    config = tmp_path / "modes.aurora"
    config.write_text(CONFIG)
    result = borealis("run", str(config), "--root", str(root.path), "--task-id", "modes")
    assert result.returncode == 0, result.stderr
    sandbox = root.sandboxes_dir / "modes"
    assert (sandbox / ".logs/plain/0/stdout").read_text() == "out\n"
    assert (sandbox / ".logs/rotated/0/stderr").read_text() == "err\n"
    exposed = [
        *open_to_others(root.path / "tasks"),
        *open_to_others(root.checkpoints_dir),
        *open_to_others(sandbox),
    ]
    assert exposed == [], "\n".join(exposed)
    # the pass-through directories: searchable, not listable
    for directory in (root.path, root.sandboxes_dir):
        assert stat.S_IMODE(directory.stat().st_mode) & 0o007 == 0o001, directory


def test_the_scheduler_database_is_private(tmp_path: Path) -> None:
    state = tmp_path / "state"  # made by the scheduler
    with running_agent(tmp_path) as agent:
        scheduler = SchedulerProcess(state / "scheduler.db", tmp_path / "s.log", agent.url)
        scheduler.start()
        try:
            assert scheduler.get("/api/v1/jobs")["jobs"] == []
            files = sorted(state.glob("scheduler.db*"))
            assert state / "scheduler.db" in files
            assert state / "scheduler.db-wal" in files, files
            modes = {p.name: stat.filemode(os.stat(p).st_mode) for p in files}
            assert set(modes.values()) == {"-rw-------"}, modes
            assert stat.filemode(state.stat().st_mode) == "drwx------"
        finally:
            scheduler.stop()
