"""borealis status: the tasks under a checkpoint root, or one task in detail.

    borealis status [TASK_ID] [--root DIR] [--json]

Without TASK_ID: one line per task (newest first) with its state, launch time
and runner. With TASK_ID: the task's header, its state history, and every run
of every process with state, pid, exit status and start/stop times. ``--json``
prints the same as JSON. An ACTIVE task whose runner is not alive needs
``borealis runner TASK_ID`` (or ``borealis run`` again) to carry on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from executor.contract.layout import CheckpointRoot
from executor.contract.replay import ProcessRun, RunnerState, load
from executor.contract.taskspec import TaskSpec, task_from_text
from executor.runner.proctree import is_alive

from .options import add_root, root_of, task_id_type


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task_id", nargs="?", type=task_id_type("TASK_ID"), metavar="TASK_ID")
    add_root(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


@dataclass
class TaskView:
    task_id: str
    state: RunnerState
    spec: TaskSpec | None

    @property
    def runner_alive(self) -> bool:
        return bool(self.state.runners) and is_alive(self.state.runners[-1].identity)

    @property
    def state_name(self) -> str:
        current = self.state.task_state
        return current.value if current else "STARTING"


def view(root: CheckpointRoot, task_id: str) -> TaskView:
    paths = root.task(task_id)
    location = paths.task_file()
    spec = task_from_text(location.read_text(), str(location)) if location else None
    return TaskView(task_id, load(paths.runner_stream), spec)


def _clock(value: float | None, with_date: bool = False) -> str:
    if value is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S", time.localtime(value))


def _run_json(run: ProcessRun) -> dict[str, Any]:
    return {
        "run": run.run,
        "state": run.state.value,
        "pid": run.pid.pid if run.pid else None,
        "return_code": run.return_code,
        "waiting_time": run.waiting_time,
        "start_time": run.start_time,
        "stop_time": run.stop_time,
        "reason": run.reason or None,
        "warnings": list(run.warnings),
    }


def task_json(v: TaskView) -> dict[str, Any]:
    header = v.state.header
    last = v.state.statuses[-1] if v.state.statuses else None
    names = [p.name for p in v.spec.processes] if v.spec else list(v.state.processes)
    return {
        "task_id": v.task_id,
        "state": v.state_name,
        "cause": last.cause.value if last and last.cause else None,
        "reason": last.reason or None if last else None,
        "name": v.spec.name if v.spec else None,
        "sandbox": header.sandbox if header else None,
        "user": header.user if header else None,
        "hostname": header.hostname if header else None,
        "ports": header.ports if header else {},
        "launch_time": header.launch_time if header else None,
        "runner_pid": v.state.runners[-1].identity.pid if v.state.runners else None,
        "runner_alive": v.runner_alive,
        "history": [
            {"state": s.state.value, "time": s.time, "reason": s.reason or None}
            for s in v.state.statuses
        ],
        "processes": {name: [_run_json(r) for r in v.state.runs(name)] for name in names},
    }


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def print_task(v: TaskView) -> None:
    header = v.state.header
    print(f"task {v.task_id}: {v.state_name}")
    if v.state.statuses and v.state.statuses[-1].reason:
        print(f"  reason   {v.state.statuses[-1].reason}")
    if header:
        print(f"  sandbox  {header.sandbox}")
        print(
            f"  user     {header.user}   host {header.hostname}   "
            f"launched {_clock(header.launch_time, True)}"
        )
        if header.ports:
            print("  ports    " + " ".join(f"{k}={p}" for k, p in sorted(header.ports.items())))
    if v.state.runners:
        alive = "alive" if v.runner_alive else "not running"
        print(f"  runner   pid {v.state.runners[-1].identity.pid} ({alive})")
    rows = [["PROCESS", "RUN", "STATE", "PID", "EXIT", "STARTED", "ENDED", "NOTE"]]
    names = [p.name for p in v.spec.processes] if v.spec else list(v.state.processes)
    for name in names:
        runs = v.state.runs(name)
        if not runs:
            rows.append([name, "-", "not started", "", "", "", "", ""])
        for r in runs:
            rows.append(
                [
                    name,
                    str(r.run),
                    r.state.value,
                    str(r.pid.pid) if r.pid else "",
                    "" if r.return_code is None else str(r.return_code),
                    _clock(r.start_time),
                    _clock(r.stop_time),
                    "; ".join(note for note in (r.reason, *r.warnings) if note),
                ]
            )
    print(_table(rows))


def run(args: argparse.Namespace) -> int:
    root = root_of(args)
    if args.task_id:
        v = view(root, args.task_id)
        if v.spec is None and v.state.header is None:
            print(f"borealis: no task {args.task_id} under {root.path}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(task_json(v), indent=2))
        else:
            print_task(v)
        return 0
    views = [view(root, task_id) for task_id in root.task_ids()]
    views.sort(key=lambda v: -(v.state.header.launch_time if v.state.header else 0))
    if args.json:
        print(json.dumps([task_json(v) for v in views], indent=2))
        return 0
    if not views:
        print(f"no tasks under {root.path}")
        return 0
    rows = [["TASK", "STATE", "LAUNCHED", "RUNNER"]]
    for v in views:
        runner = "-"
        if v.state.runners and not (v.state.task_state and v.state.task_state.terminal):
            pid = v.state.runners[-1].identity.pid
            runner = f"pid {pid}" if v.runner_alive else f"pid {pid} (not running)"
        launched = _clock(v.state.header.launch_time, True) if v.state.header else "-"
        rows.append([v.task_id, v.state_name, launched, runner])
    print(_table(rows))
    return 0
