"""Seeded fault injection: SIGKILL the runner at random points, over and over.

Each drive runs a task with ``borealis run`` and, until it has killed the
runner at work ``KILLS_PER_DRIVE`` times, either arms the runner's own fault
points (``BOREALIS_FAULTS``: SIGKILL at a checkpoint write, a torn write, around
a fork, before the task file moves) or SIGKILLs it from outside at a random
moment of the task's working life: after the runner has taken control of the
task (its ``runner`` record is in the checkpoint), within the next
``EXTERNAL_SPREAD`` seconds. Only kills of a runner at work count (one that
had taken control); a runner killed while Python was still starting proves
nothing. Every killed runner is replaced by ``borealis runner TASK_ID``. Once
the task has ended, the drive checks that the outcome is exactly the one a
fault-free run gives, that every run in the checkpoint executed exactly once
(each process appends ``$BOREALIS_RUN`` to a file when it starts), and that no
process of the task is left.

5 scenarios x 6 seeds (more, up to 12, until 40 kills have landed) x up to 10 kills:
at least 200 kills of a runner at work per run of the suite (the tests assert the count).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO, marked, replayed, run_lines, wait_for

from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import TaskState

SEEDS = 6  # drives per scenario at least; more (up to MAX_SEEDS) while too few kills landed
MAX_SEEDS = 12
KILLS_PER_DRIVE = 10
EXTERNAL_SPREAD = 0.3  # kill within this long after a runner took control (tasks work ~2-4 s)
MIN_KILLS_PER_SCENARIO = 40
MAX_ATTEMPTS = 200

MARK = 'echo "$BOREALIS_RUN" >> "starts.$BOREALIS_PROCESS"; '


@dataclass(frozen=True)
class Scenario:
    name: str
    config: str
    state: TaskState
    runs: dict[str, list[str]]  # process -> the states of its runs, in order


SCENARIOS = [
    Scenario(
        "sequence",
        f"""
steps = [Process(name='s%d' % i, cmdline='{MARK}sleep 0.6') for i in range(4)]
fin = Process(name='fin', cmdline='{MARK}true', final=True)
export(Task(name='sequence', processes=steps + [fin], constraints=order(*steps)))
""",
        TaskState.SUCCESS,
        {
            "s0": ["SUCCESS"],
            "s1": ["SUCCESS"],
            "s2": ["SUCCESS"],
            "s3": ["SUCCESS"],
            "fin": ["SUCCESS"],
        },
    ),
    Scenario(
        "flaky",
        f"""
flaky = Process(name='flaky', max_failures=3, min_duration=0, cmdline='{MARK}'
  'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; sleep 0.6; [ $n -ge 3 ]')
after = Process(name='after', cmdline='{MARK}sleep 0.6')
export(Task(name='flaky', processes=[flaky, after], constraints=order(flaky, after)))
""",
        TaskState.SUCCESS,
        {"flaky": ["FAILED", "FAILED", "SUCCESS"], "after": ["SUCCESS"]},
    ),
    Scenario(
        "failing",
        f"""
bad = Process(name='bad', max_failures=3, min_duration=0, cmdline='{MARK}sleep 0.6; exit 3')
cleanup = Process(name='cleanup', cmdline='{MARK}sleep 0.1', final=True)
export(Task(name='failing', processes=[bad, cleanup]))
""",
        TaskState.FAILED,
        {"bad": ["FAILED", "FAILED", "FAILED"], "cleanup": ["SUCCESS"]},
    ),
    Scenario(
        "parallel",
        f"""
procs = [Process(name='p%d' % i, cmdline='{MARK}sleep 0.6') for i in range(9)]
export(Task(name='parallel', processes=procs, max_concurrency=3))
""",
        TaskState.SUCCESS,
        {f"p{i}": ["SUCCESS"] for i in range(9)},
    ),
    Scenario(
        "killed_retry",
        f"""
p = Process(name='p', min_duration=0, cmdline='{MARK}sleep 0.6; '
  'if [ "$BOREALIS_RUN" = 0 ]; then kill -9 $$; fi')
q = Process(name='q', cmdline='{MARK}sleep 0.6')
export(Task(name='killed_retry', processes=[p, q], constraints=order(p, q)))
""",
        TaskState.SUCCESS,
        {"p": ["KILLED", "SUCCESS"], "q": ["SUCCESS"]},
    ),
]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "borealis.cli.main", *args]


def drive(root: CheckpointRoot, scenario: Scenario, seed: int, tmp_path: Path) -> tuple[int, int]:
    """Run the scenario's task to its end under faults; return (exit status, kills)."""
    rng = random.Random(seed)
    config = tmp_path / f"{scenario.name}.aurora"
    config.write_text(scenario.config)
    task_id = f"{scenario.name}-{seed}"
    first = ["run", str(config), "--root", str(root.path), "--task-id", task_id, "-q"]
    resume = ["runner", task_id, "--root", str(root.path), "-q"]
    kills = 0
    log = open(tmp_path / f"{task_id}.log", "ab")  # noqa: SIM115 - closed below
    try:
        for attempt in range(MAX_ATTEMPTS):
            env = dict(os.environ)
            external = False
            if kills < KILLS_PER_DRIVE:
                if attempt % 2 == 0:
                    env["BOREALIS_FAULTS"] = f"seed={seed * 1000 + attempt},rate=0.25"
                else:
                    external = True
            args = first if attempt == 0 else resume
            before = runners(root, task_id)
            proc = subprocess.Popen(_command(*args), cwd=REPO, env=env, stdout=log, stderr=log)
            if external:
                # at a random moment of its work: once it has taken control, not before
                wait_for(lambda: proc.poll() is not None or runners(root, task_id) > before,  # noqa: B023
                         30, "the runner to take control")  # fmt: skip
                try:
                    proc.wait(timeout=rng.uniform(0.0, EXTERNAL_SPREAD))
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
            try:
                status = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                status = proc.wait()
            if status == -signal.SIGKILL:
                kills += runners(root, task_id) > before  # it was at work
                continue
            if status == 5:  # a coordinator briefly held the runner lock; try again
                continue
            return status, kills
        raise AssertionError(f"{task_id}: no end after {MAX_ATTEMPTS} attempts")
    finally:
        log.close()


def runners(root: CheckpointRoot, task_id: str) -> int:
    """How many runners have taken control of the task so far (from its checkpoint)."""
    try:
        return len(replayed(root, task_id).runners)
    except FileNotFoundError:
        return 0


def leftovers(root: CheckpointRoot, task_id: str) -> list[int]:
    """Processes still alive that belong to the task: marked ones, runners, coordinators."""
    found = set(marked(task_id, root.path / "sandboxes" / task_id))
    needle = str(root.path).encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fp:
                    if needle in fp.read():
                        found.add(int(entry))
            except OSError:
                continue
    return sorted(found)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_runner_killed_at_random_converges(
    root: CheckpointRoot, tmp_path: Path, scenario: Scenario
) -> None:
    total = 0
    for seed in range(MAX_SEEDS):
        if seed >= SEEDS and total >= MIN_KILLS_PER_SCENARIO:
            break
        task_id = f"{scenario.name}-{seed}"
        status, kills = drive(root, scenario, seed, tmp_path)
        total += kills
        where = f"{task_id} (after {kills} kills; log {tmp_path / task_id}.log)"
        expected_status = 0 if scenario.state is TaskState.SUCCESS else 1
        assert status == expected_status, where
        state = replayed(root, task_id)
        assert state.task_state is scenario.state, where
        sandbox = root.path / "sandboxes" / task_id
        for name, expected in scenario.runs.items():
            runs = state.runs(name)
            assert [r.state.value for r in runs] == expected, f"{where}: {name}"
            # every recorded run executed exactly once, and nothing else did
            assert run_lines(sandbox / f"starts.{name}") == [str(r.run) for r in runs], (
                f"{where}: {name}"
            )
        assert root.task(task_id).finished_task_file.exists(), where
        assert leftovers(root, task_id) == [], where
    print(f"{scenario.name}: {total} kills of a runner at work")
    assert total >= MIN_KILLS_PER_SCENARIO, f"only {total} runner kills in {scenario.name}"
