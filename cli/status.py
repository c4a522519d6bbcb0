"""borealis status: the tasks under a checkpoint root, or one task in detail.

    borealis status [TASK_ID] [--root DIR] [--json]

Without TASK_ID: one line per task (newest first) with its state, launch time
and runner, for the tasks under the checkpoint root and those of the embedded
agent working under it (ROOT/agent). With TASK_ID: the task's header, its
state history, and every run of every process with state, pid, exit status
and start/stop times. Figures
for CPU (cores), RSS and sandbox disk come from the runner's latest resource
sample (docs/resources.md); nothing is measured here. --json prints the
same as JSON. An ACTIVE task whose runner is not alive needs
borealis runner TASK_ID (or borealis run again) to carry on.

A task whose checkpoint is damaged (a corrupt record in its stream, an
unreadable task file) does not hide the others: it is listed as CORRUPT with
what could be read before the damage, and one line on stderr names the file
and the byte offset. Exit status: 0, or 5 when any task listed could not be
read in full; 2 for an unknown TASK_ID.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from borealis.contract import containment, summary
from borealis.contract.errors import InputError
from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import RunnerState, load_salvaged
from borealis.contract.resources import Sample, format_bytes, latest
from borealis.contract.taskspec import TaskSpec, task_from_text
from borealis.executor.runner.proctree import is_alive

from .options import add_root, command_parser, root_of, task_id_type

UNREADABLE = 5  # as ``borealis run`` for a checkpoint that cannot be read


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("task_id", nargs="?", type=task_id_type("TASK_ID"), metavar="TASK_ID")
    add_root(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


@dataclass
class TaskView:
    task_id: str
    state: RunnerState
    spec: TaskSpec | None
    sample: Sample | None = None
    problem: str | None = None  # what could not be read (its state is what came before)
    containment: containment.Containment | None = None  # cgroup or process-tree mode

    @property
    def live_sample(self) -> Sample | None:
        """The latest sample while the task is running (figures of an ended task are stale)."""
        current = self.state.task_state
        return None if current is None or current.terminal else self.sample

    @property
    def runner_alive(self) -> bool:
        return bool(self.state.runners) and is_alive(self.state.runners[-1].identity)

    @property
    def state_name(self) -> str:
        return "CORRUPT" if self.problem else summary.state_name(self.state)


def view(root: CheckpointRoot, task_id: str) -> TaskView:
    """A task as far as it can be read (``problem`` says what could not be)."""
    paths = root.task(task_id)
    salvage = load_salvaged(paths.runner_stream)
    problem = salvage.problem
    spec = None
    location = paths.task_file()
    if location:
        try:
            spec = task_from_text(location.read_text(), str(location))
        except (InputError, OSError, UnicodeDecodeError) as e:
            problem = problem or str(e)
    try:
        sample = latest(paths.resources)
    except Exception:  # resource figures are advisory: never the reason a task is hidden
        sample = None
    try:
        contained = containment.read(paths.containment)
    except ValueError:
        contained = None  # a damaged record: status still shows the rest
    return TaskView(task_id, salvage.state, spec, sample, problem, contained)


def _bytes(n: int | None) -> str:
    return "-" if n is None else format_bytes(n, ("B", "K", "M", "G", "T"))


def _resources(sample: Sample | None) -> tuple[str, str, str]:
    """CPU, RSS and disk columns of the task as a whole."""
    if sample is None:
        return "-", "-", "-"
    task = sample.task
    return f"{task.cpu:.2f}", _bytes(task.rss), _bytes(task.disk_allocated)


def _clock(value: float | None, with_date: bool = False) -> str:
    if value is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S", time.localtime(value))


def status_json(v: TaskView) -> dict[str, Any]:
    out = summary.task_json(v.task_id, v.state, v.spec)
    out["runner_alive"] = v.runner_alive
    out["resources"] = v.sample.to_json() if v.sample else None
    out["unreadable"] = v.problem
    out["containment"] = v.containment.to_json() if v.containment else None
    return out


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
        if header.ignored_container:
            print(f"  on host  without its {header.ignored_container} (--ignore-container)")
    if v.containment is not None:
        print(f"  contain  {containment.describe(v.containment)}")
    if v.state.runners:
        alive = "alive" if v.runner_alive else "not running"
        print(f"  runner   pid {v.state.runners[-1].identity.pid} ({alive})")
    for index, status in enumerate(v.state.statuses):
        label = "history" if index == 0 else ""
        why = f"  {status.reason}" if status.reason else ""
        print(f"  {label:<8} {_clock(status.time, True)}  {status.state.value}{why}")
    sample = v.live_sample
    if sample is not None:
        task, reserved = sample.task, v.spec.resources if v.spec else None
        cpu, rss, disk = _resources(sample)
        print(
            f"  usage    cpu {cpu}{f' of {reserved.cpu:g}' if reserved else ''}   "
            f"rss {rss}{f' of {_bytes(reserved.ram)}' if reserved else ''}   "
            f"disk {disk}{f' of {_bytes(reserved.disk)}' if reserved else ''}   "
            f"processes {task.procs}   at {_clock(sample.time)}"
        )
    rows = [["PROCESS", "RUN", "STATE", "PID", "EXIT", "STARTED", "ENDED", "CPU", "RSS", "NOTE"]]
    for name in summary.process_names(v.state, v.spec):
        runs = v.state.runs(name)
        if not runs:
            rows.append([name, "-", "not started", "", "", "", "", "", "", ""])
        usage = sample.processes.get(name) if sample else None
        for r in runs:
            measured = usage is not None and usage.run == r.run and not r.state.terminal
            rows.append(
                [
                    name,
                    str(r.run),
                    r.state.value,
                    str(r.pid.pid) if r.pid else "",
                    "" if r.return_code is None else str(r.return_code),
                    _clock(r.start_time),
                    _clock(r.stop_time),
                    f"{usage.cpu:.2f}" if usage and measured else "",
                    _bytes(usage.rss) if usage and measured else "",
                    "; ".join(note for note in (r.reason, *r.warnings) if note),
                ]
            )
    print(_table(rows))


def run(args: argparse.Namespace) -> int:
    root = root_of(args)
    if args.task_id:
        v = view(root.holding(args.task_id), args.task_id)
        if v.spec is None and v.state.header is None:
            print(f"borealis: no task {args.task_id} under {root.path}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(status_json(v), indent=2))
        else:
            print_task(v)
        return _report_unreadable([v])
    seen: set[str] = set()
    views = []
    for each in root.with_agent_runs():  # and the embedded agent's tasks under it
        for task_id in each.task_ids():
            if task_id not in seen:
                seen.add(task_id)
                views.append(view(each, task_id))
    views.sort(key=lambda v: -(v.state.header.launch_time if v.state.header else 0))
    if args.json:
        print(json.dumps([status_json(v) for v in views], indent=2))
        return _report_unreadable(views)
    if not views:
        print(f"no tasks under {root.path} (nor under its agent/)")
        return 0
    rows = [["TASK", "STATE", "LAUNCHED", "CPU", "RSS", "DISK", "RUNNER"]]
    for v in views:
        runner = "-"
        if v.state.runners and not (v.state.task_state and v.state.task_state.terminal):
            pid = v.state.runners[-1].identity.pid
            runner = f"pid {pid}" if v.runner_alive else f"pid {pid} (not running)"
        launched = _clock(v.state.header.launch_time, True) if v.state.header else "-"
        rows.append([v.task_id, v.state_name, launched, *_resources(v.live_sample), runner])
    print(_table(rows))
    return _report_unreadable(views)


def _report_unreadable(views: list[TaskView]) -> int:
    """One line on stderr per task that could not be read; the exit status."""
    damaged = [v for v in views if v.problem]
    for v in damaged:
        print(f"borealis: task {v.task_id}: cannot be read in full: {v.problem}", file=sys.stderr)
    return UNREADABLE if damaged else 0
