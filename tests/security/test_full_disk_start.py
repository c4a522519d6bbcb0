"""A runner started on a disk that is already full holds the task until there is room.

The checkpoint root is on a small tmpfs mounted by the test, filled before the runner starts.
The first thing the runner writes is how the task is contained (its cgroups and limits, or
the process-tree mode): that record must be on disk before any process starts, or the task
would run outside its groups and limits. The old runner logged the ENOSPC as "its recorded
cgroup is out of reach" and went on without a record (leaving ``containment.tmp`` behind): its
processes ran uncontained once the disk had room. Now it waits, then writes the record, and
the task runs normally: exit 0, no traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from support import fill_up, start_borealis, wait_for

from borealis.contract import containment
from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import load
from borealis.contract.states import TaskState
from borealis.contract.taskspec import task_from_text
from borealis.executor.runner import prepare

TASK = """{"name": "late", "processes": [{"name": "hello", "cmdline": "echo hello",
           "min_duration": 0}]}"""


@pytest.fixture
def small_fs(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("1m")


def test_a_runner_started_on_a_full_disk_waits_and_then_runs_contained(
    tmp_path: Path, small_fs: Path
) -> None:
    root = CheckpointRoot(small_fs / "root")
    paths = root.task("late")
    prepare.write_task_file(paths, task_from_text(TASK, "test"))
    filler = small_fs / "fill"
    fill_up(filler)
    log = tmp_path / "runner.log"
    env = {**os.environ, "BOREALIS_ALLOW_ROOT_TASKS": "1"}
    proc = start_borealis("runner", "late", "--root", str(root.path), log=log, env=env)
    wait_for(lambda: "no space left" in log.read_text(), 30, "the runner to meet the full disk")
    assert proc.poll() is None, log.read_text()
    filler.unlink()
    code = proc.wait(60)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output
    assert code == 0, output
    record = containment.read(paths.containment)
    assert record is not None, output  # written before the process started
    assert not paths.containment.with_name("containment.tmp").exists()
    state = load(paths.runner_stream)
    assert state.task_state is TaskState.SUCCESS
    assert (paths.default_sandbox / ".logs" / "hello" / "0" / "stdout").read_text() == "hello\n"
