"""What ``borealis run`` and ``borealis status`` show a person: the task's own output with
``--follow``, where a failed process's stderr is, and a task's state history."""

from __future__ import annotations

import re
from pathlib import Path

from support import borealis

from borealis.contract.layout import CheckpointRoot


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.aurora"
    path.write_text(body)
    return path


def test_follow_prints_every_line_of_every_process_labelled_across_rotations(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    cfg = config(
        tmp_path,
        "rot = Logger(mode='rotate', rotate=RotatePolicy(log_size=4*KB, backups=100))\n"
        "a = Process(name='a', cmdline='for i in $(seq 1 5000); do echo \"out $i\"; done',"
        " logger=rot, min_duration=0)\n"
        "b = Process(name='b', cmdline='echo oops >&2; echo done', min_duration=0)\n"
        "export(Task(name='t', processes=[a, b], constraints=order(a, b)))\n",
    )
    result = borealis("run", str(cfg), "--root", str(root.path), "--task-id", "f", "--follow")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("a[0] | ")] == [
        f"a[0] | out {i}" for i in range(1, 5001)
    ]  # in order, none lost or repeated through some 10 rotations
    assert len(list((root.path / "sandboxes/f/.logs/a/0").glob("stdout.*"))) >= 5
    assert "b[0] ! oops" in lines and "b[0] | done" in lines
    quiet = borealis("run", str(cfg), "--root", str(root.path), "--task-id", "q")
    assert "out 1" not in quiet.stdout  # only with --follow


def test_a_failed_process_says_where_its_stderr_is(root: CheckpointRoot, tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        "export(Task(name='t', processes=[Process(name='srv', cmdline='echo bind: in use >&2;"
        " exit 1', min_duration=0)]))\n",
    )
    result = borealis("run", str(cfg), "--root", str(root.path), "--task-id", "busy")
    assert result.returncode == 1
    stderr = root.path / "sandboxes/busy/.logs/srv/0/stderr"
    assert f"srv[0] FAILED (exit status 1; its stderr: {stderr})" in result.stderr
    assert stderr.read_text() == "bind: in use\n"


def test_status_of_a_task_shows_its_state_history(root: CheckpointRoot, tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        "export(Task(name='t', processes=[Process(name='p', cmdline='exit 3', min_duration=0)]))\n",
    )
    borealis("run", str(cfg), "--root", str(root.path), "--task-id", "h")
    result = borealis("status", "h", "--root", str(root.path))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    history = text[text.index("  history") : text.index("PROCESS")]
    states = re.findall(r"\d\d:\d\d:\d\d  ([A-Z]+)", history)
    assert states == ["ACTIVE", "CLEANING", "FAILED"], text
    assert "failed 1 of max_failures=1 runs (last exit status 3)" in result.stdout
