"""A byte-flipped checkpoint stream affects only its own task.

The old ``borealis status`` exited 5 and listed nothing when one task's stream
was corrupt, and ``borealis kill`` of that task exited 5 with its processes
still running and no command able to stop them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from support import borealis, gone, marked, replayed, start_borealis, wait_for

from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState
from borealis.contract.stream import HEADER, read_all

LONG = """
a = Process(name='a', cmdline='sleep 1000')
b = Process(name='b', cmdline='sleep 1000 & sleep 1000 & wait')
export(Task(name='long', processes=[a, b]))
"""
QUICK = """
export(Task(name='quick', processes=[Process(name='q', cmdline='true')]))
"""


def flip_a_middle_record(path: Path) -> int:
    """Flip one payload byte of the second-to-last frame; return that frame's offset."""
    scan = read_all(path)
    offsets = [0]
    for payload in scan.payloads:
        offsets.append(offsets[-1] + HEADER.size + len(payload))
    target = offsets[-3]  # valid frames follow it: corruption, not a torn tail
    with open(path, "r+b") as fp:
        fp.seek(target + HEADER.size + 2)
        byte = fp.read(1)
        fp.seek(target + HEADER.size + 2)
        fp.write(bytes([byte[0] ^ 0x55]))
    return target


def start_long(root: CheckpointRoot, tmp_path: Path) -> list[int]:
    """Run the long task, SIGKILL its runner, and corrupt its stream; return its pids."""
    config = tmp_path / "long.aurora"
    config.write_text(LONG)
    proc = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "long", log=tmp_path / "l.log"
    )
    sandbox = root.path / "sandboxes/long"

    def running() -> bool:
        state = replayed(root, "long")
        runs = [state.last_run(n) for n in ("a", "b")]
        return all(r is not None and r.state is ProcessState.RUNNING for r in runs)

    wait_for(running, 30, "both processes running")
    wait_for(lambda: len(marked("long", sandbox)) >= 4, 10, "every process of the task")
    pids = marked("long", sandbox)
    return [proc.pid, *pids]


def test_status_lists_the_others_and_names_the_damage(root: CheckpointRoot, tmp_path: Path) -> None:
    config = tmp_path / "quick.aurora"
    config.write_text(QUICK)
    result = borealis("run", str(config), "--root", str(root.path), "--task-id", "quick")
    assert result.returncode == 0, result.stderr
    runner_pid, *_ = start_long(root, tmp_path)
    os.kill(runner_pid, signal.SIGKILL)
    wait_for(lambda: gone(runner_pid), 10, "the runner gone")
    stream = root.task("long").runner_stream
    offset = flip_a_middle_record(stream)

    result = borealis("status", "--root", str(root.path))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 5, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "SUCCESS" in rows["quick"], result.stdout
    assert "CORRUPT" in rows["long"], result.stdout
    problem = result.stderr.splitlines()
    assert len(problem) == 1, result.stderr
    assert str(stream) in problem[0] and f"byte {offset}" in problem[0], problem

    result = borealis("status", "long", "--root", str(root.path))
    assert result.returncode == 5 and "CORRUPT" in result.stdout, result
    assert f"byte {offset}" in result.stderr
    borealis("kill", "long", "--root", str(root.path))  # leave nothing behind


def test_kill_stops_the_processes_of_a_task_with_a_corrupt_stream(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    runner_pid, *pids = start_long(root, tmp_path)
    os.kill(runner_pid, signal.SIGKILL)
    wait_for(lambda: gone(runner_pid), 10, "the runner gone")
    stream = root.task("long").runner_stream
    offset = flip_a_middle_record(stream)
    assert all(not gone(pid) for pid in pids)

    result = borealis("kill", "long", "--root", str(root.path), "--timeout", "60s")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert "processes stopped" in result.stdout
    assert str(stream) in result.stderr and f"byte {offset}" in result.stderr
    assert all(gone(pid) for pid in pids), [p for p in pids if not gone(p)]
    assert marked("long", root.path / "sandboxes/long") == []


def test_kill_with_a_live_runner_and_a_corrupt_stream(root: CheckpointRoot, tmp_path: Path) -> None:
    runner_pid, *pids = start_long(root, tmp_path)
    flip_a_middle_record(root.task("long").runner_stream)
    result = borealis("kill", "long", "--root", str(root.path), "--timeout", "60s")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 5, (result.stdout, result.stderr)
    wait_for(lambda: gone(runner_pid), 10, "the runner gone")
    assert all(gone(pid) for pid in pids), [p for p in pids if not gone(p)]


def flip_first_record(path: Path) -> None:
    """Flip one payload byte of the first frame (a valid frame follows it)."""
    assert len(read_all(path).payloads) >= 2
    with open(path, "r+b") as fp:
        fp.seek(HEADER.size + 2)
        byte = fp.read(1)
        fp.seek(HEADER.size + 2)
        fp.write(bytes([byte[0] ^ 0x55]))


def test_a_damaged_process_stream_does_not_stop_kill(root: CheckpointRoot, tmp_path: Path) -> None:
    runner_pid, *pids = start_long(root, tmp_path)
    os.kill(runner_pid, signal.SIGKILL)
    wait_for(lambda: gone(runner_pid), 10, "the runner gone")
    flip_first_record(root.task("long").process_stream("a"))

    result = borealis("kill", "long", "--root", str(root.path), "--timeout", "60s")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "KILLED" in result.stdout
    assert all(gone(pid) for pid in pids), [p for p in pids if not gone(p)]
    state = replayed(root, "long")
    a, b = state.last_run("a"), state.last_run("b")
    assert a is not None and a.state is ProcessState.LOST, a
    assert "its records cannot be read" in a.reason and "corrupt" in a.reason, a.reason
    assert b is not None and b.state is ProcessState.KILLED, b
