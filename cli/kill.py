"""borealis kill: stop a task cleanly and wait for it to end.

    borealis kill TASK_ID [--root DIR] [--timeout DURATION]

Sends SIGTERM to the task's runner, which stops every process (SIGTERM, then
SIGKILL after the kill grace) and runs the final processes, then waits for the
task to end and prints its final state. If no runner is alive, one is started
here just to re-attach to the processes and kill them.

A task whose checkpoint is damaged is still stopped: its runner, if alive,
gets SIGTERM and is waited for; then every process that the readable part of
the checkpoint names, and everything carrying the task's marker, gets
SIGTERM, then SIGKILL after the kill grace. The state
cannot be recorded in a damaged stream, so the command says what it could not
read (file and byte offset) and exits 5 once the processes are gone.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import TaskState
from borealis.executor.runner import prepare
from borealis.executor.runner.proctree import ProcessTable, is_alive, send_signal
from borealis.executor.runner.stopping import Stopper

from .options import (
    add_root,
    command_parser,
    parse_duration,
    root_holding,
    setup_logging,
    task_id_type,
)
from .runner_flags import runner_options
from .status import UNREADABLE, TaskView, view

POLL = 0.1
COORDINATOR_GRACE = 5.0


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("task_id", type=task_id_type("TASK_ID"), metavar="TASK_ID")
    add_root(parser)
    parser.add_argument(
        "--timeout",
        default="5m",
        metavar="DURATION",
        help="give up waiting after this long (default 5m)",
    )
    parser.set_defaults(
        func=run,
        kill_grace="10s",
        max_runs=0,
        preserve_env=False,
        log_destination="file",
        log_mode="rotate",
        log_size="100MB",
        log_backups=5,
        sample_interval="0",  # a runner resumed only to kill samples nothing
        no_disk_usage=True,
        no_enforce_disk=False,
        enforce_ram=False,
        sample_pss=False,
        disk_reconcile="10m",
        disk_scan="60s",
    )


def run(args: argparse.Namespace) -> int:
    setup_logging()
    root = root_holding(args, args.task_id)
    timeout = parse_duration(args.timeout, "--timeout")
    v = view(root, args.task_id)
    if v.spec is None:
        print(f"borealis: no task {args.task_id} under {root.path}", file=sys.stderr)
        return 2
    if v.problem:
        return kill_unreadable(root, v, timeout, parse_duration(args.kill_grace, "--kill-grace"))
    current = v.state.task_state
    if current is not None and current.terminal:
        print(f"task {args.task_id} already ended: {current.value}")
        return 0
    if v.runner_alive and send_signal(v.state.runners[-1].identity, signal.SIGTERM):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = view(root, args.task_id).state.task_state
            if current is not None and current.terminal:
                print(f"task {args.task_id}: {current.value}")
                return 0
            time.sleep(0.1)
        print(f"borealis: task {args.task_id} did not end within {args.timeout}", file=sys.stderr)
        return 1
    final = prepare.resume(root.task(args.task_id), runner_options(args), kill=TaskState.KILLED)
    print(f"task {args.task_id}: {final.value}")
    return 0


def kill_unreadable(root: CheckpointRoot, v: TaskView, timeout: float, grace: float) -> int:
    """Stop a task whose checkpoint cannot be read in full, from what can be read."""
    print(f"borealis: task {v.task_id}: cannot be read in full: {v.problem}", file=sys.stderr)
    deadline = time.monotonic() + timeout
    runner = v.state.runners[-1].identity if v.state.runners else None
    if runner is not None and v.runner_alive and send_signal(runner, signal.SIGTERM):
        while is_alive(runner) and time.monotonic() < deadline:
            time.sleep(POLL)  # it stops the processes itself, as for any kill
    header = v.state.header
    sandbox = header.sandbox if header else str(root.task(v.task_id).default_sandbox.absolute())
    wakes: list[float] = []
    stopper = Stopper(v.task_id, wakes.append)
    escalate_at = time.time() + grace
    while True:
        wakes.clear()
        now = time.time()
        done = stopper.stop_all(v.state, sandbox, now, escalate_at, COORDINATOR_GRACE)
        if done or not _anything_left(v, sandbox):
            break
        if time.monotonic() >= deadline:
            print(f"borealis: task {v.task_id}: processes still running after the timeout",
                  file=sys.stderr)  # fmt: skip
            return 1
        time.sleep(max(0.0, min([POLL, *(w - now for w in wakes)])))
    print(f"task {v.task_id}: processes stopped (its state could not be recorded)")
    return UNREADABLE


def _anything_left(v: TaskView, sandbox: str) -> bool:
    """Whether a process or coordinator of the task is alive.

    The readable part of a damaged stream never sees its runs end, so the
    stopper's own "nothing left" (no active run) cannot be reached: look at
    the host instead.
    """
    active = v.state.active_runs()
    roots = [r.pid for r in active if r.pid is not None]
    if ProcessTable().task_members(roots, v.task_id, sandbox):
        return True
    return any(r.coordinator is not None and is_alive(r.coordinator) for r in active)
