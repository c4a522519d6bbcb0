"""A runner SIGKILLed at any moment: re-attach, real exit codes, no run twice."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import (
    borealis,
    gone,
    marked,
    pid_alive,
    replayed,
    run_lines,
    start_borealis,
    wait_for,
)

from borealis.contract.layout import CheckpointRoot
from borealis.contract.records import Identity, ProcessStatus, RunnerStarted, encode
from borealis.contract.states import ProcessState, TaskState
from borealis.contract.stream import frame
from borealis.executor.runner.proctree import identify, read_stat


def running(root: CheckpointRoot, task_id: str, name: str, run: int = 0) -> bool:
    try:
        last = replayed(root, task_id).last_run(name)
    except FileNotFoundError:
        return False
    return last is not None and last.run == run and last.state is ProcessState.RUNNING


def test_restarted_runner_reattaches_and_records_exits_it_missed(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    # `gate` processes wait for a file; each appends its run number to a trace
    # file when it starts, so a second start of a run would be visible.
    gate = (
        'echo "$BOREALIS_RUN" >> starts.{n}; while [ ! -e go.{n} ]; do sleep 0.05; done; exit {rc}'
    )
    config = tmp_path / "r.aurora"
    config.write_text(
        f"""
a = Process(name='a', cmdline='{gate.format(n="a", rc=0)}')
b = Process(name='b', cmdline='{gate.format(n="b", rc=7)}', max_failures=1)
c = Process(name='c', cmdline='{gate.format(n="c", rc=0)}')
after = Process(name='after', cmdline='echo "$BOREALIS_RUN" >> starts.after')
export(Task(name='r', processes=[a, b, c, after], constraints=order(a, after), max_failures=2))
"""
    )
    args = ["--root", str(root.path), "--task-id", "r"]
    first = start_borealis("run", str(config), *args, log=tmp_path / "1.log")
    for name in "abc":
        wait_for(lambda name=name: running(root, "r", name), 20, f"{name} running")
    before = replayed(root, "r")
    pids = {name: before.last_run(name).pid for name in "abc"}  # type: ignore[union-attr]
    first.kill()
    first.wait()
    sandbox = root.path / "sandboxes/r"
    # While no runner is alive: `a` and `b` end (b with status 7), `c` keeps running.
    (sandbox / "go.a").touch()
    (sandbox / "go.b").touch()
    wait_for(lambda: gone(pids["a"].pid), 10, "a exits")
    assert all(pid_alive(p.pid) for n, p in pids.items() if n == "c")

    second = start_borealis("run", str(config), *args, log=tmp_path / "2.log")
    wait_for(lambda: running(root, "r", "after") or _ran(root, "r"), 20, "after starts")
    (sandbox / "go.c").touch()
    assert second.wait(30) == 0, (tmp_path / "2.log").read_text()

    state = replayed(root, "r")
    assert state.task_state is TaskState.SUCCESS
    for name in "abc":
        (run,) = state.runs(name)
        assert run.pid == pids[name], f"{name} was re-attached, not restarted"
        assert run_lines(sandbox / f"starts.{name}") == ["0"]
    assert state.runs("b")[0].state is ProcessState.FAILED
    assert state.runs("b")[0].return_code == 7  # recorded while no runner was alive
    assert run_lines(sandbox / "starts.after") == ["0"]
    assert len(state.runners) == 2


def _ran(root: CheckpointRoot, task_id: str) -> bool:
    last = replayed(root, task_id).last_run("after")
    return last is not None and last.state.terminal


def test_second_runner_refuses_while_the_first_lives(root: CheckpointRoot, tmp_path: Path) -> None:
    config = tmp_path / "s.aurora"
    config.write_text("export(Task(name='s', processes=[Process(name='w', cmdline='sleep 1000')]))")
    args = ["--root", str(root.path), "--task-id", "s"]
    first = start_borealis("run", str(config), *args, log=tmp_path / "1.log")
    try:
        wait_for(lambda: running(root, "s", "w"), 20, "running")
        second = borealis("runner", "s", "--root", str(root.path))
        assert second.returncode == 5
        assert second.stderr.count("\n") == 1
        assert f"pid {first.pid}" in second.stderr and "already running" in second.stderr
        assert len(replayed(root, "s").runs("w")) == 1
    finally:
        first.terminate()
        assert first.wait(30) == 3


def test_torn_last_record_is_tolerated(root: CheckpointRoot, tmp_path: Path) -> None:
    config = tmp_path / "t.aurora"
    config.write_text("export(Task(name='t', processes=[Process(name='w', cmdline='true')]))")
    assert borealis("run", str(config), "--root", str(root.path), "--task-id", "t").returncode == 0
    stream = root.task("t").runner_stream
    good = stream.read_bytes()
    torn = frame(encode(RunnerStarted(Identity(1, 1), 0.0, "x")))
    stream.write_bytes(good + torn[: len(torn) // 2])
    result = borealis("status", "t", "--root", str(root.path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "SUCCESS"


def test_corruption_in_the_middle_is_a_clear_error(root: CheckpointRoot, tmp_path: Path) -> None:
    config = tmp_path / "m.aurora"
    config.write_text("export(Task(name='m', processes=[Process(name='w', cmdline='true')]))")
    assert borealis("run", str(config), "--root", str(root.path), "--task-id", "m").returncode == 0
    stream = root.task("m").runner_stream
    data = bytearray(stream.read_bytes())
    data[40] ^= 0xFF  # inside the first record's payload
    stream.write_bytes(bytes(data))
    for command in (["status", "m"], ["runner", "m"]):
        result = borealis(*command, "--root", str(root.path))
        assert result.returncode == 5
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "corrupt checkpoint record at byte 0" in result.stderr
        assert str(stream) in result.stderr


def test_a_recycled_pid_is_never_taken_for_the_process(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    """The checkpoint names a pid that now belongs to a stranger: LOST, stranger untouched."""
    config = tmp_path / "p.aurora"
    config.write_text("export(Task(name='p', processes=[Process(name='w', cmdline='sleep 1000')]))")
    args = ["--root", str(root.path), "--task-id", "p"]
    first = start_borealis("run", str(config), *args, log=tmp_path / "1.log")
    wait_for(lambda: running(root, "p", "w"), 20, "running")
    first.kill()
    first.wait()
    state = replayed(root, "p")
    run = state.last_run("w")
    assert run is not None and run.pid is not None and run.coordinator is not None
    # Kill the real coordinator and process, then start a stranger and make the
    # checkpoint point at it with the wrong start time, as after pid reuse.
    for ident in (run.coordinator, run.pid):
        os.kill(ident.pid, 9)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
    try:
        real = identify(stranger.pid)
        assert real is not None
        fake = Identity(stranger.pid, real.start_ticks + 12345)
        stream = root.task("p").runner_stream
        records = [
            ProcessStatus("w", 1, ProcessState.WAITING, 1.0),
            ProcessStatus("w", 1, ProcessState.FORKED, 1.0, coordinator=fake),
            ProcessStatus("w", 1, ProcessState.RUNNING, 1.0, pid=fake),
        ]
        # run 0 must end first: it died with its coordinator (LOST when resumed)
        _resume_and_kill_after_loss(root, stream, records, tmp_path)
        assert stranger.poll() is None, "the stranger must not be signalled"
    finally:
        stranger.kill()
        stranger.wait()


def _resume_and_kill_after_loss(
    root: CheckpointRoot, stream: Path, records: list[ProcessStatus], tmp_path: Path
) -> None:
    # First resume: run 0 (coordinator dead) becomes LOST and run 1 would be
    # forked for real. Instead, append a fake run 1 by hand and resume again.
    lost = ProcessStatus("w", 0, ProcessState.LOST, 1.0, reason="test")
    with open(stream, "ab") as fp:
        fp.write(b"".join(frame(encode(r)) for r in [lost, *records]))
    proc = start_borealis("runner", "p", "--root", str(root.path), log=tmp_path / "2.log")
    wait_for(lambda: len(replayed(root, "p").runs("w")) >= 3, 20, "a new run")
    state = replayed(root, "p")
    assert state.runs("w")[1].state is ProcessState.LOST
    assert "coordinator" in state.runs("w")[1].reason
    proc.terminate()
    assert proc.wait(30) == 3


def test_reboot_makes_active_runs_lost(root: CheckpointRoot, tmp_path: Path) -> None:
    config = tmp_path / "b.aurora"
    config.write_text("export(Task(name='b', processes=[Process(name='w', cmdline='sleep 1000')]))")
    first = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "b", log=tmp_path / "1.log"
    )
    wait_for(lambda: running(root, "b", "w"), 20, "running")
    first.kill()
    first.wait()
    stream = root.task("b").runner_stream
    # Rewrite the boot id in the runner records, as if they came from an earlier boot.
    from borealis.contract.stream import read_all

    payloads = [
        p.replace(b'"boot_id":"', b'"boot_id":"earlier-') if b'"t":"runner"' in p else p
        for p in read_all(stream).payloads
    ]
    stream.write_bytes(b"".join(frame(p) for p in payloads))
    victim = replayed(root, "b").last_run("w")
    assert victim is not None and victim.pid is not None
    os.kill(victim.pid.pid, 9)  # a reboot would have taken it
    proc = start_borealis("runner", "b", "--root", str(root.path), log=tmp_path / "2.log")
    wait_for(lambda: len(replayed(root, "b").runs("w")) >= 2, 20, "a new run")
    run0 = replayed(root, "b").runs("w")[0]
    assert run0.state is ProcessState.LOST and "rebooted" in run0.reason
    proc.terminate()
    assert proc.wait(30) == 3
    assert marked("b", root.path / "sandboxes/b") == []


@pytest.mark.parametrize("when", ["after-waiting", "after-fork"])
def test_killed_around_a_fork_never_starts_a_run_twice(
    root: CheckpointRoot, tmp_path: Path, when: str
) -> None:
    """Kill the runner right after it recorded a run, before or after the fork."""
    config = tmp_path / "w.aurora"
    config.write_text(
        "export(Task(name='w', processes=["
        "Process(name='p', cmdline='echo $BOREALIS_RUN >> starts; sleep 0.5')]))"
    )
    point = "before-fork" if when == "after-waiting" else "after-fork"
    env = {**os.environ, "BOREALIS_FAULTS": f"seed=1,rate=1.0,only={point}"}
    args = ["--root", str(root.path), "--task-id", "w"]
    crashed = borealis("run", str(config), *args, env=env)
    assert crashed.returncode == -9
    run = replayed(root, "w").last_run("p")
    assert run is not None and run.state is ProcessState.WAITING
    resumed = borealis("runner", "w", "--root", str(root.path))
    assert resumed.returncode == 0, resumed.stderr
    assert run_lines(root.path / "sandboxes/w/starts") == ["0"]
    assert [r.state for r in replayed(root, "w").runs("p")] == [ProcessState.SUCCESS]


def test_shim_deaths_start_nothing_twice_and_every_process_still_succeeds(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    """SIGKILL the task's shim again and again while the task launches runs.

    Each death ends the runs it held: they are LOST and started again (a new run number);
    runs it had not started yet are handed to the next shim. No run is ever started twice,
    and in the end every process has succeeded once.
    """
    config = tmp_path / "sp.aurora"
    config.write_text(
        "mark = 'echo $BOREALIS_RUN >> starts.$BOREALIS_PROCESS'\n"
        "steps = [Process(name='s%d' % i, cmdline=mark + '; sleep 0.05') for i in range(20)]\n"
        "wide = [Process(name='w%d' % i, cmdline=mark) for i in range(20)]\n"
        "export(Task(name='sp', processes=steps + wide, constraints=order(*steps)))\n"
    )
    proc = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "sp", log=tmp_path / "run.log"
    )
    killed = 0
    while proc.poll() is None and killed < 6:  # each death costs the runs it held a retry
        for pid in _shims(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
                killed += 1
        time.sleep(0.2)
    assert proc.wait(120) == 0, (tmp_path / "run.log").read_text()
    assert killed >= 3
    if killed > 4:  # more than 3 deaths in a minute: the runner forks its shims itself
        assert "forking one from the runner" in (tmp_path / "run.log").read_text()
    state = replayed(root, "sp")
    sandbox = root.path / "sandboxes/sp"
    for name in [f"s{i}" for i in range(20)] + [f"w{i}" for i in range(20)]:
        runs = state.runs(name)
        assert [r.state for r in runs[:-1]] == [ProcessState.LOST] * (len(runs) - 1), name
        assert runs[-1].state is ProcessState.SUCCESS, name
        started = run_lines(sandbox / f"starts.{name}")
        assert len(started) == len(set(started)), f"{name}: a run started twice: {started}"
        assert str(runs[-1].run) in started and set(started) <= {str(r.run) for r in runs}


def test_a_killed_shim_leaves_nothing_running_unsupervised(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    """SIGKILL the shim while it holds three long runs: the runner records each run LOST
    (the documented rule), no process of those runs is left alive, and a new shim starts
    their next runs."""
    config = tmp_path / "k.aurora"
    config.write_text(
        "procs = [Process(name='p%d' % i, cmdline='sleep 1000') for i in range(3)]\n"
        "export(Task(name='k', processes=procs))\n"
    )
    proc = start_borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "k", log=tmp_path / "run.log"
    )
    names = ["p0", "p1", "p2"]
    try:
        wait_for(lambda: all(running(root, "k", n) for n in names), 30, "all three running")
        first = {n: replayed(root, "k").runs(n)[0] for n in names}
        shim = {run.coordinator for run in first.values()}
        assert len(shim) == 1  # one shim holds every run of the task
        (holder,) = shim
        assert holder is not None and holder.pid in _shims(proc.pid)
        os.kill(holder.pid, 9)
        wait_for(lambda: all(running(root, "k", n, 1) for n in names), 30, "the next runs")
        state = replayed(root, "k")
        for name in names:
            lost, again = state.runs(name)
            assert lost.state is ProcessState.LOST, name
            assert "shim" in lost.reason, lost.reason
            assert lost.pid is not None
            assert gone(lost.pid.pid) or identify(lost.pid.pid) != lost.pid, (
                f"{name}: its process outlived its shim"
            )
            assert again.coordinator is not None and again.coordinator != holder
            assert again.pid is not None and read_stat(again.pid.pid) is not None
            assert read_stat(again.pid.pid).ppid == again.coordinator.pid  # type: ignore[union-attr]
    finally:
        proc.terminate()
        assert proc.wait(30) == 3  # KILLED


def _shims(runner: int) -> list[int]:
    """The runner's shims (its children named borealis-shim)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None and stat.ppid == runner:
                with contextlib.suppress(OSError), open(f"/proc/{entry}/comm", "rb") as fp:
                    if fp.read().strip() == b"borealis-shim":
                        found.append(int(entry))
    return found
