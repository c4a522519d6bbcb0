"""A full disk never kills a coordinator or the runner, and no exit status is lost.

The whole checkpoint root (task file, streams, sandbox, logs) lives on a small
tmpfs mounted by the test. One process fills it and frees it again a few
seconds later; meanwhile two others keep running, failing and being restarted,
so the runner's and the coordinators' streams cross page boundaries while
there is no room. The old code lost those runs (the coordinator died on
ENOSPC) and the runner died on a short write with the task left ACTIVE.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import kill_leftovers, start_borealis

from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import load
from borealis.contract.states import ProcessState, TaskState

CONFIG = """
fill = Process(name='fill', cmdline='''
head -c 64M /dev/zero > big 2>/dev/null
echo filled
sleep 4
rm -f big
touch freed
''', min_duration=0)
work1 = Process(name='work1', max_failures=0, min_duration=0,
                cmdline='test -e freed && exit 0; sleep 0.1; echo "run $RANDOM"; exit 7')
work2 = Process(name='work2', max_failures=0, min_duration=0,
                cmdline='test -e freed && exit 0; sleep 0.15; echo "run $RANDOM" >&2; exit 9')
export(Task(name='full', processes=[fill, work1, work2]))
"""


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount)], check=True
    )
    try:
        yield mount
    finally:
        kill_leftovers(tmp_path)
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_holds_every_exit_until_there_is_room(tmp_path: Path, small_fs: Path) -> None:
    root = CheckpointRoot(small_fs / "root")
    root.ensure()
    config = tmp_path / "full.aurora"
    config.write_text(CONFIG)
    log = tmp_path / "run.log"
    proc = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "full", log=log
    )
    code = proc.wait(90)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output
    # The disk really was full for the checkpoints, not only for the task's files.
    assert "no space left; holding records" in output or "holding a record" in output, output
    assert code == 0, output
    state = load(root.task("full").runner_stream)
    assert state.task_state is TaskState.SUCCESS
    for name, failed_rc in (("work1", 7), ("work2", 9)):
        runs = state.runs(name)
        assert len(runs) >= 2, (name, runs)
        # Every run that started has its real exit status; none is LOST.
        assert all(r.state is not ProcessState.LOST for r in runs), (name, runs)
        assert [r.return_code for r in runs[:-1]] == [failed_rc] * (len(runs) - 1), runs
        assert runs[-1].state is ProcessState.SUCCESS and runs[-1].return_code == 0
    fill = state.last_run("fill")
    assert fill is not None and fill.state is ProcessState.SUCCESS
    assert (root.finished_dir / "full").exists()
