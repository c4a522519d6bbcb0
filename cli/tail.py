"""borealis tail: print a process's output, and follow it with -f.

    borealis tail TASK_ID PROCESS [--run N] [--stderr] [-n LINES] [-f] [--root DIR]

Prints the last LINES lines (default 10; 0 for everything) of the stdout (or
--stderr) of the process's latest run, or of run N, reaching back into
rotated files (stdout.1 ...) when needed. With -f it keeps printing
what the process writes, across rotations, without gaps or repeats; without
--run it moves on to the process's next run when one starts (announced on
stderr), and it stops once the task has ended and everything was printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from borealis.contract.confined import Refused
from borealis.contract.errors import InputError
from borealis.contract.layout import process_log
from borealis.contract.logs import LogFollower, last_lines
from borealis.contract.replay import Follower

from .options import add_root, command_parser, int_type, root_holding, task_id_type
from .status import view

POLL = 0.2


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("task_id", type=task_id_type("TASK_ID"), metavar="TASK_ID")
    parser.add_argument("process", metavar="PROCESS")
    parser.add_argument(
        "--run", type=int_type("--run"), metavar="N", help="run number (default: the latest)"
    )
    parser.add_argument("--stderr", action="store_true", help="stderr instead of stdout")
    parser.add_argument("-n", "--lines", type=int_type("--lines"), default=10, metavar="LINES")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    add_root(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _tail(args)
    except Refused as e:  # the task planted a link, a FIFO... at a log name
        raise InputError("", str(e.filename), f"{e.refusal.text}: not read") from None


def _tail(args: argparse.Namespace) -> int:
    root = root_holding(args, args.task_id)
    v = view(root, args.task_id)
    if v.state.header is None:
        raise InputError("", args.task_id, f"no started task with this id under {root.path}")
    names = [p.name for p in v.spec.processes] if v.spec else list(v.state.processes)
    if args.process not in names:
        raise InputError("", args.process, f"no such process (processes: {', '.join(names)})")
    runs = v.state.runs(args.process)
    if args.run is not None and not 0 <= args.run < max(len(runs), 1 if args.follow else 0):
        raise InputError("--run", str(args.run), f"the process has {len(runs)} run(s)")
    sandbox = Path(v.state.header.sandbox)
    stream = "stderr" if args.stderr else "stdout"
    current = args.run if args.run is not None else max(len(runs) - 1, 0)
    out = sys.stdout.buffer

    def path_of(run: int) -> Path:
        return process_log(sandbox, args.process, run, stream)

    reader = LogFollower(path_of(current), at_end=True, top=sandbox)
    reader.read(0)  # opens the live file at its end, if it exists yet
    reader.at_end = False  # a file that appears later is read from its start
    out.write(last_lines(path_of(current), args.lines, live_size=reader.position, top=sandbox))
    out.flush()
    if not args.follow:
        reader.close()
        return 0
    follower = Follower(root.task(args.task_id).runner_stream)
    try:
        while True:
            follower.update()
            chunk = reader.read()
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            state = follower.state
            runs = state.runs(args.process)
            ended = current < len(runs) and runs[current].state.terminal
            if args.run is None and len(runs) > current + 1:
                current += 1
                reader.close()
                reader = LogFollower(path_of(current), top=sandbox)
                print(f"--- {args.process} run {current} ---", file=sys.stderr, flush=True)
                continue
            task_over = state.task_state is not None and state.task_state.terminal
            if task_over or (args.run is not None and ended):
                return 0
            time.sleep(POLL)
    except KeyboardInterrupt:
        return 0
    finally:
        follower.close()
        reader.close()
