"""The observer's store (observer/store.py): finished tasks cached with a bound, Mesos run
directories found, duplicates counted. Tasks are the v1 fixture copied under several ids."""

from __future__ import annotations

import shutil
from pathlib import Path

from support import REPO, run_in_process, task

from borealis.contract.layout import AgentWorkDir, CheckpointRoot
from borealis.observer.store import TaskStore

FIXTURE = REPO / "tests" / "fixtures" / "v1"


def fixture_root(path: Path) -> CheckpointRoot:
    shutil.copytree(FIXTURE, path, symlinks=True)
    return CheckpointRoot(path)


def test_finished_details_are_cached_with_a_bound_and_read_again(root: CheckpointRoot) -> None:
    spec = task({"name": "hello", "cmdline": "echo hi"})
    for task_id in ("t1", "t2", "t3"):
        run_in_process(root, spec, task_id)
    store = TaskStore([root.path], cache_size=2)
    store.reconcile()
    tasks = [store.tasks[t] for t in ("t1", "t2", "t3")]
    assert all(t.finished and t.detail is None for t in tasks)  # rows only; details cached
    assert [t.row["state"] for t in tasks] == ["SUCCESS"] * 3
    assert len(store._cache) == 2 and store.cache_misses == 0
    oldest = next(t for t in tasks if t.task_id not in store._cache)
    detail = store.detail(oldest)  # evicted: read again from disk
    assert store.cache_misses == 1 and detail.state.last_run("hello") is not None
    assert len(store._cache) == 2 and oldest.task_id in store._cache
    store.detail(oldest)
    assert store.cache_misses == 1


def test_mesos_run_directories_are_found_and_latest_is_skipped(tmp_path: Path) -> None:
    runs = tmp_path / "work" / "slaves" / "S0" / "frameworks" / "F" / "executors" / "E" / "runs"
    runs.mkdir(parents=True)
    fixture_root(runs / "R1")
    (runs / "R2").mkdir()  # an executor run with no Borealis checkpoint root
    (runs / "latest").symlink_to("R1")
    assert AgentWorkDir(tmp_path / "work").run_dirs() == [runs / "R1"]
    store = TaskStore([], [tmp_path / "work"])
    store.reconcile()
    assert sorted(store.tasks) == sorted(CheckpointRoot(runs / "R1").task_ids())
    assert store.duplicates == 0


def test_a_task_id_under_two_roots_is_shown_once_and_counted(tmp_path: Path) -> None:
    first = fixture_root(tmp_path / "a")
    fixture_root(tmp_path / "b")
    store = TaskStore([tmp_path / "a", tmp_path / "b"])
    store.reconcile()
    assert len(store.tasks) == len(first.task_ids())
    assert store.duplicates == len(first.task_ids())
    assert all(t.root == first for t in store.tasks.values())


def test_rows_filter_sort_and_page(tmp_path: Path) -> None:
    fixture_root(tmp_path / "root")
    store = TaskStore([tmp_path / "root"])
    store.reconcile()
    total, rows = store.rows("finished", sort="task_id", descending=False, limit=100)
    assert total == len(rows) and [r["task_id"] for r in rows] == sorted(store.tasks)
    assert store.rows("active")[0] == 0
    assert store.rows("all", query="no-such-thing")[0] == 0
