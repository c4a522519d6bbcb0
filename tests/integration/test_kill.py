"""Stopping a task: SIGTERM to every process tree, SIGKILL after the grace, finalizers."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from support import borealis, gone, marked, pid_alive, replayed, start_borealis, wait_for

from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState, TaskState

# A daemon that escapes its parent twice over (setsid + double fork) and so is
# no longer in the run's process tree or session: only the environment marker
# still ties it to the task.
DAEMONIZE = (
    'python3 -c "import os, time\n'
    "if os.fork(): os._exit(0)\n"
    "os.setsid()\n"
    "if os.fork(): os._exit(0)\n"
    "open('daemon.pid', 'w').write(str(os.getpid()))\n"
    'time.sleep(1000)"'
)


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def all_running(root: CheckpointRoot, task_id: str, names: list[str]) -> bool:
    try:
        state = replayed(root, task_id)
    except FileNotFoundError:
        return False
    for name in names:
        run = state.last_run(name)
        if run is None or run.state is not ProcessState.RUNNING:
            return False
    return True


def test_kill_reaches_trees_double_forked_daemons_and_escalates(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "k.aurora",
        f"""
tree = Process(name='tree', cmdline='sleep 1000 & sleep 1000 & wait')
stubborn = Process(name='stubborn', cmdline="trap '' TERM; while true; do sleep 0.1; done")
daemon = Process(name='daemon', cmdline='''{DAEMONIZE}; sleep 1000''')
export(Task(name='k', processes=[tree, stubborn, daemon]))
""",
    )
    proc = start_borealis(
        "run",
        str(config),
        "--root",
        str(root.path),
        "--task-id",
        "k",
        "--kill-grace",
        "1s",
        log=tmp_path / "run.log",
    )
    sandbox = root.path / "sandboxes/k"
    wait_for(lambda: all_running(root, "k", ["tree", "stubborn", "daemon"]), 20, "all running")
    wait_for(lambda: (sandbox / "daemon.pid").exists(), 10, "the daemon")
    daemon_pid = int((sandbox / "daemon.pid").read_text())
    # tree: bash + 2 sleeps; stubborn: bash (+ a short sleep); daemon: bash + sleep + the daemon
    wait_for(lambda: len(marked("k", sandbox)) >= 7, 10, "every process of the task")
    started = time.monotonic()
    result = borealis("kill", "k", "--root", str(root.path))
    assert result.returncode == 0, result.stderr
    assert "KILLED" in result.stdout
    assert proc.wait(30) == 3
    assert time.monotonic() - started < 10
    assert not pid_alive(daemon_pid)
    assert marked("k", sandbox) == []
    state = replayed(root, "k")
    assert state.task_state is TaskState.KILLED
    stubborn = state.last_run("stubborn")
    assert stubborn is not None and stubborn.return_code == -9  # escalated to SIGKILL
    tree = state.last_run("tree")
    assert tree is not None and tree.return_code == -15


def test_ctrl_c_runs_finalizers_and_exits_killed(root: CheckpointRoot, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.aurora",
        """
work = Process(name='work', cmdline='sleep 1000')
final = Process(name='final', cmdline='echo finalized > final.out', final=True)
export(Task(name='c', processes=[work, final]))
""",
    )
    proc = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "c", log=tmp_path / "run.log"
    )
    wait_for(lambda: all_running(root, "c", ["work"]), 20, "work running")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 3
    assert (root.path / "sandboxes/c/final.out").read_text() == "finalized\n"
    state = replayed(root, "c")
    assert [s.state for s in state.statuses] == [
        TaskState.ACTIVE,
        TaskState.CLEANING,
        TaskState.FINALIZING,
        TaskState.KILLED,
    ]


def test_second_ctrl_c_kills_at_once_and_skips_finalizers(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "c2.aurora",
        """
work = Process(name='work', cmdline="trap '' TERM INT; while true; do sleep 0.1; done")
final = Process(name='final', cmdline='touch final.out', final=True)
export(Task(name='c2', processes=[work, final]))
""",
    )
    proc = start_borealis(
        "run",
        str(config),
        "--root",
        str(root.path),
        "--task-id",
        "c2",
        "--kill-grace",
        "60s",
        log=tmp_path / "run.log",
    )
    wait_for(lambda: all_running(root, "c2", ["work"]), 20, "work running")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: replayed(root, "c2").task_state is TaskState.CLEANING, 10, "cleaning")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 3
    assert not (root.path / "sandboxes/c2/final.out").exists()
    run = replayed(root, "c2").last_run("work")
    assert run is not None and run.return_code == -9


def test_sigusr2_loses_the_task(root: CheckpointRoot, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "l.aurora",
        "export(Task(name='l', processes=[Process(name='w', cmdline='sleep 1000')]))\n",
    )
    proc = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "l", log=tmp_path / "run.log"
    )
    wait_for(lambda: all_running(root, "l", ["w"]), 20, "running")
    proc.send_signal(signal.SIGUSR2)
    assert proc.wait(15) == 4
    assert replayed(root, "l").task_state is TaskState.LOST


def test_kill_with_no_runner_alive_reattaches_and_kills(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "d.aurora",
        "export(Task(name='d', processes=[Process(name='w', cmdline='sleep 1000')]))\n",
    )
    proc = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "d", log=tmp_path / "run.log"
    )
    wait_for(lambda: all_running(root, "d", ["w"]), 20, "running")
    run = replayed(root, "d").last_run("w")
    assert run is not None and run.pid is not None
    proc.kill()
    proc.wait()
    assert pid_alive(run.pid.pid), "the process outlives its runner"
    listing = borealis("status", "--root", str(root.path))
    assert "not running" in listing.stdout
    result = borealis("kill", "d", "--root", str(root.path))
    assert result.returncode == 0, result.stderr
    assert "KILLED" in result.stdout
    assert gone(run.pid.pid)
    assert marked("d", root.path / "sandboxes/d") == []
    assert root.task("d").finished_task_file.exists()


def test_kill_of_a_finished_task_says_so(root: CheckpointRoot, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "f.aurora",
        "export(Task(name='f', processes=[Process(name='w', cmdline='true')]))\n",
    )
    assert borealis("run", str(config), "--root", str(root.path), "--task-id", "f").returncode == 0
    result = borealis("kill", "f", "--root", str(root.path))
    assert result.returncode == 0
    assert "already ended: SUCCESS" in result.stdout
