"""One task as the observer sees it: read from the checkpoint directory, never asked of a runner.

An *active* task keeps a ``replay.Follower`` open on its runner stream and reads only what
was appended since the previous refresh (one ``read`` when nothing changed). Its latest
resource sample is re-read only when the history file changed (size or inode). A
*finished* task is replayed once; the store keeps its summary row forever (a few hundred
bytes) and its full state in a bounded cache (``TaskStore``), re-reading it on demand.

Nothing here raises on a damaged checkpoint: the error is kept and shown instead.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from borealis.contract import summary
from borealis.contract.errors import InputError
from borealis.contract.layout import LOG_STREAMS, CheckpointRoot, TaskPaths, run_log_in
from borealis.contract.records import RecordError
from borealis.contract.replay import Follower, RunnerState, TransitionError, load
from borealis.contract.resources import Sample, latest
from borealis.contract.stream import CorruptStream
from borealis.contract.taskspec import TaskSpec, task_from_text

READ_ERRORS = (OSError, CorruptStream, RecordError, TransitionError, InputError, ValueError)


@dataclass
class Detail:
    """Everything the task and process pages show."""

    state: RunnerState
    spec: TaskSpec | None
    config_text: str | None
    error: str | None = None


def read_spec(paths: TaskPaths) -> tuple[TaskSpec | None, str | None, str | None]:
    """The task file's spec and text (``None``s and an error message when unreadable)."""
    location = paths.task_file()
    if location is None:
        return None, None, None
    try:
        text = location.read_text()
        return task_from_text(text, str(location)), text, None
    except READ_ERRORS as e:
        return None, None, f"the task file cannot be read: {e}"


def read_detail(paths: TaskPaths) -> Detail:
    spec, text, error = read_spec(paths)
    try:
        state = load(paths.runner_stream)
    except FileNotFoundError:
        state = RunnerState()
    except READ_ERRORS as e:
        state, error = RunnerState(), f"the runner checkpoint cannot be read: {e}"
    return Detail(state, spec, text, error)


@dataclass
class ObservedTask:
    root: CheckpointRoot
    task_id: str
    finished: bool
    row: dict[str, Any] = field(default_factory=dict)
    detail: Detail | None = None  # always kept while active; cached when finished
    sample: Sample | None = None
    _follower: Follower | None = None
    _resources_key: tuple[int, int] | None = None

    @property
    def paths(self) -> TaskPaths:
        return self.root.task(self.task_id)

    def start(self) -> None:
        """First read: all of the checkpoint (and, while active, keep following it)."""
        paths = self.paths
        if self.finished:
            self.detail = read_detail(paths)
        else:
            spec, text, error = read_spec(paths)
            self._follower = Follower(paths.runner_stream)
            self.detail = Detail(self._follower.state, spec, text, error)
            self._follow()
            self._read_resources()
        self.row = self._row()

    def refresh(self) -> bool:
        """Catch up with an active task; whether anything it shows changed."""
        if self.finished or self.detail is None:
            return False
        changed = self._follow() | self._read_resources()
        if self.detail.spec is None and self.detail.error is None:
            spec, text, error = read_spec(self.paths)
            if spec is not None or error is not None:
                self.detail.spec, self.detail.config_text, self.detail.error = spec, text, error
                changed = True
        if changed:
            self.row = self._row()
        return changed

    def finish(self) -> None:
        """The task file moved to ``tasks/finished``: read the stream's end, stop following."""
        if self._follower is not None:
            self._follow()
            self._follower.close()
            self._follower = None
        self.finished = True
        self.sample = None  # figures of an ended task are stale
        self.row = self._row()

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
            self._follower = None

    def _follow(self) -> bool:
        assert self._follower is not None and self.detail is not None
        try:
            return self._follower.update()
        except FileNotFoundError:
            return False
        except READ_ERRORS as e:
            message = f"the runner checkpoint cannot be read: {e}"
            changed = self.detail.error != message
            self.detail.error = message
            return changed

    def _read_resources(self) -> bool:
        path = self.paths.resources
        try:
            st = os.stat(path)
        except OSError:
            return False
        key = (st.st_ino, st.st_size)
        if key == self._resources_key:
            return False
        self._resources_key = key
        self.sample = latest(path)
        return True

    def _row(self) -> dict[str, Any]:
        """The task's line on the host page and in ``/api/v1/tasks``."""
        detail = self.detail
        state = detail.state if detail else RunnerState()
        spec = detail.spec if detail else None
        header = state.header
        counts = Counter(runs[-1].state.value.lower() for runs in state.processes.values() if runs)
        task_usage = self.sample.task if self.sample else None
        reserved = spec.resources if spec else None
        return {
            "task_id": self.task_id,
            "name": spec.name if spec else None,
            "state": summary.state_name(state),
            "active": not self.finished,
            "launch_time": header.launch_time if header else None,
            "state_time": state.statuses[-1].time if state.statuses else None,
            "user": header.user if header else None,
            "ports": dict(header.ports) if header else {},
            "processes": dict(counts),
            "cpu": task_usage.cpu if task_usage else None,
            "rss": task_usage.rss if task_usage else None,
            "disk": task_usage.disk_allocated if task_usage else None,
            "cpu_reserved": reserved.cpu if reserved else None,
            "ram_reserved": reserved.ram if reserved else None,
            "disk_reserved": reserved.disk if reserved else None,
            "root": str(self.root.path),
            "error": detail.error if detail else None,
        }


def sandbox_of(detail: Detail) -> Path | None:
    header = detail.state.header
    return Path(header.sandbox) if header else None


def log_file(detail: Detail, process: str, run: int, stream: str) -> Path | None:
    """Where a run's ``stdout``/``stderr`` is written (``None``: no such run)."""
    header = detail.state.header
    runs = detail.state.runs(process)
    if header is None or not 0 <= run < len(runs) or stream not in LOG_STREAMS:
        return None
    return run_log_in(Path(header.log_dir), process, run, stream)
