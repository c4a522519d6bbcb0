"""Every task under the observed checkpoint roots, kept current from the disk.

``reconcile`` lists ``tasks/active`` and ``tasks/finished`` of every root (the roots given
with ``--root``, plus each run directory of a Mesos agent's work directory, found with
``mesos_roots``) and adds, finishes or drops tasks; the observer calls it when a file event
says a task file appeared or moved, and every ``--reconcile-interval`` seconds anyway.
``refresh`` catches up with every active task (cheap: one ``read`` and one ``stat`` per task
when nothing changed). Requests only read what these two left in memory.

A task id is the key: should two roots hold the same id, the first one found is shown and
the rest are counted in ``duplicates`` (and in ``/metrics``).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from borealis.contract.layout import TASK_ID_RE, AgentWorkDir, CheckpointRoot

from .model import Detail, ObservedTask, read_detail

SORT_KEYS = ("launch_time", "task_id", "name", "state", "state_time", "cpu", "rss", "disk")


def _listdir(path: Path) -> list[str]:
    try:
        return [name for name in os.listdir(path) if TASK_ID_RE.match(name)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


class TaskStore:
    def __init__(
        self,
        roots: Iterable[Path],
        mesos_work_dirs: Iterable[Path] = (),
        *,
        cache_size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.roots = [CheckpointRoot(Path(r)) for r in roots]
        self.mesos_work_dirs = [AgentWorkDir(Path(w)) for w in mesos_work_dirs]
        self.tasks: dict[str, ObservedTask] = {}
        self.duplicates = 0
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Detail] = OrderedDict()
        self._clock = clock
        self.last_reconcile_seconds = 0.0
        self.last_refresh_seconds = 0.0
        self.reconciles = 0
        self.cache_misses = 0

    def checkpoint_roots(self) -> list[CheckpointRoot]:
        roots = list(self.roots)
        for work_dir in self.mesos_work_dirs:
            roots.extend(CheckpointRoot(run) for run in work_dir.run_dirs())
        return roots

    def reconcile(self) -> None:
        started = self._clock()
        seen: dict[str, tuple[CheckpointRoot, bool]] = {}
        duplicates = 0
        for root in self.checkpoint_roots():
            here = {name: False for name in _listdir(root.active_dir)}
            here.update((name, True) for name in _listdir(root.finished_dir))
            for task_id, finished in here.items():
                if task_id in seen and seen[task_id][0] != root:
                    duplicates += 1
                    continue
                seen[task_id] = (root, finished)
        self.duplicates = duplicates
        for task_id in [t for t in self.tasks if t not in seen]:
            self.tasks.pop(task_id).close()  # removed (garbage-collected)
            self._cache.pop(task_id, None)
        for task_id, (root, finished) in seen.items():
            task = self.tasks.get(task_id)
            if task is not None and task.root != root:
                task.close()
                task = None
            if task is None:
                task = ObservedTask(root, task_id, finished)
                task.start()
                self.tasks[task_id] = task
                self._park(task)
            elif finished and not task.finished:
                task.finish()
                self._park(task)
        self.reconciles += 1
        self.last_reconcile_seconds = self._clock() - started

    def refresh(self) -> int:
        """Catch up with every active task; how many changed."""
        started = self._clock()
        changed = sum(task.refresh() for task in self.tasks.values() if not task.finished)
        self.last_refresh_seconds = self._clock() - started
        return changed

    def _park(self, task: ObservedTask) -> None:
        """A finished task's full state goes to the bounded cache; its row stays."""
        if not task.finished or task.detail is None:
            return
        self._remember(task.task_id, task.detail)
        task.detail = None

    def _remember(self, task_id: str, detail: Detail) -> None:
        self._cache[task_id] = detail
        self._cache.move_to_end(task_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def get(self, task_id: str) -> ObservedTask | None:
        return self.tasks.get(task_id)

    def detail(self, task: ObservedTask) -> Detail:
        if task.detail is not None:
            return task.detail
        cached = self._cache.get(task.task_id)
        if cached is None:
            self.cache_misses += 1
            cached = read_detail(task.paths)
        self._remember(task.task_id, cached)
        return cached

    def rows(
        self,
        which: str = "all",
        *,
        sort: str = "launch_time",
        descending: bool = True,
        offset: int = 0,
        limit: int = 20,
        query: str = "",
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of task rows: ``which`` is active, finished or all; ``query`` matches
        task ids and names (substring, case-insensitive)."""
        rows = [
            t.row
            for t in self.tasks.values()
            if which == "all" or (which == "active") != t.finished
        ]
        if query:
            needle = query.lower()
            rows = [
                r
                for r in rows
                if needle in r["task_id"].lower() or needle in (r["name"] or "").lower()
            ]
        present = [r for r in rows if r.get(sort) is not None]
        absent = [r for r in rows if r.get(sort) is None]
        present.sort(key=lambda r: (r[sort], r["task_id"]), reverse=descending)
        absent.sort(key=lambda r: r["task_id"])
        ordered = present + absent
        return len(ordered), ordered[offset : offset + limit]

    def counts(self) -> dict[str, int]:
        active = sum(1 for t in self.tasks.values() if not t.finished)
        return {"active": active, "finished": len(self.tasks) - active, "all": len(self.tasks)}

    def close(self) -> None:
        for task in self.tasks.values():
            task.close()
        self.tasks.clear()
