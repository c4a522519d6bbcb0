"""borealis kill: stop a task cleanly and wait for it to end.

    borealis kill TASK_ID [--root DIR] [--timeout DURATION]

Sends SIGTERM to the task's runner, which stops every process (SIGTERM, then
SIGKILL after the kill grace) and runs the final processes, then waits for the
task to end and prints its final state. If no runner is alive, one is started
here just to re-attach to the processes and kill them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from borealis.contract.states import TaskState
from borealis.executor.runner import prepare
from borealis.executor.runner.proctree import send_signal

from .options import (
    add_root,
    command_parser,
    parse_duration,
    root_holding,
    setup_logging,
    task_id_type,
)
from .runner_flags import runner_options
from .status import view


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
