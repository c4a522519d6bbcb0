"""borealis runner: run or resume a task that is already on disk.

    borealis runner TASK_ID [--root DIR] [--sandbox DIR] [--port NAME=NUM]... [-q] [-f]
                    [--ignored-container DESCRIPTION]

The task file <root>/tasks/active/TASK_ID must exist (borealis run
and the executor write it). Use this to restart a task whose runner died: the
new runner re-attaches to the live processes and carries on. The sandbox and
ports recorded at the task's first start win over the flags; so does
--ignored-container, which records in the task's header that it runs on the
host without the container it asked for (status and the observer show it). With --follow,
every process's output is printed too, as borealis run --follow prints it.
Exit status as for borealis run (which ends by becoming this command).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from borealis.contract.states import ExitCode
from borealis.executor.runner import prepare

from .options import (
    add_root,
    command_parser,
    parse_ports,
    root_of,
    setup_logging,
    task_id_type,
)
from .runner_flags import add_runner_options, runner_options


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("task_id", type=task_id_type("TASK_ID"), metavar="TASK_ID")
    add_root(parser)
    parser.add_argument("--sandbox", type=Path, help="sandbox directory (first start only)")
    parser.add_argument("--port", action="append", metavar="NAME=NUM", help="(first start only)")
    parser.add_argument(
        "--ignored-container",
        default="",
        metavar="DESCRIPTION",
        help="the container the task runs without, on the host (first start only)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings")
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="print every process's output as it comes: name[run] | stdout, name[run] ! stderr",
    )
    add_runner_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.quiet)
    paths = root_of(args).task(args.task_id)
    options = runner_options(args)
    follower = None
    if args.follow:
        # Imported only here: a runner that does not print output does not pay for it.
        from .follow import OutputFollower

        follower = OutputFollower(paths, sys.stdout.buffer)
        follower.start()
    try:
        state = prepare.resume(
            paths,
            options,
            sandbox=args.sandbox,
            ports=parse_ports(args.port),
            hostname=os.uname().nodename,
            ignored_container=args.ignored_container,
        )
    finally:
        if follower is not None:
            follower.stop()
    return int(ExitCode.for_task_state(state))
