"""What an executor writes for a task is private, as the runner's own checkpoint files are.

A task runs through the embedded agent and a real ``borealis executor``; then every file and
directory under the task's checkpoint directory (``runner.log`` included, which the executor
opens for its runner) and the executor's own output in its run directory are checked: no
permission for group or others on checkpoints (``PRIVATE_DIR``/``PRIVATE_FILE``), none for
others on the executor's output. The old executor left ``runner.log`` 0644 (umask) in the
0700 directory, and the agent its executor's stdout and stderr 0644.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import AgentProcess, envelope, running_agent

from borealis.contract.layout import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    SANDBOX_DIR,
    CheckpointRoot,
    executor_output,
    executor_sandbox,
)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    with running_agent(tmp_path) as process:
        yield process


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_executor_writes_a_tasks_checkpoint_files_private(agent: AgentProcess) -> None:
    agent.launch("m1", envelope({"name": "hello", "cmdline": "echo hello"}))
    agent.wait_state("m1", "TASK_FINISHED")
    run_dir = Path(agent.executor("m1")["run_dir"])
    paths = CheckpointRoot(run_dir).task("m1")
    assert paths.runner_log.exists()
    wrong = []
    for path in [paths.checkpoint_dir, *paths.checkpoint_dir.rglob("*")]:
        want = PRIVATE_DIR if path.is_dir() else PRIVATE_FILE
        if stat.S_ISFIFO(path.lstat().st_mode):
            continue  # the doorbell: 0600 too, but made by the runner (tested there)
        if mode(path) != want:
            wrong.append(f"{path.name} {oct(mode(path))}")
    assert wrong == []
    for stream in ("stdout", "stderr"):
        assert mode(executor_output(run_dir, stream)) & 0o077 == 0, stream
    assert mode(executor_sandbox(run_dir)) == SANDBOX_DIR
