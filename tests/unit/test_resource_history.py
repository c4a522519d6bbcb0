"""The resource history: its format, its bound, and reading it back (contract/resources.py)."""

from __future__ import annotations

import json
from pathlib import Path

from borealis.contract.resources import (
    ProcessUsage,
    Sample,
    TaskUsage,
    history_files,
    latest,
    read_history,
)
from borealis.contract.stream import iter_payloads
from borealis.executor.runner.monitor import History


def sample(t: float, procs: int = 2) -> Sample:
    processes = {
        f"p{i}": ProcessUsage(run=i, pid=100 + i, cpu=0.5, user=t, rss=1 << 20, procs=1)
        for i in range(procs)
    }
    task = TaskUsage(disk_apparent=10, disk_allocated=4096, disk_mode="scan", ram_reserved=64)
    for usage in processes.values():
        task.add(usage)
    return Sample(t, 1.0, task, processes)


def test_round_trip_keeps_every_field() -> None:
    original = sample(5.0)
    copy = Sample.from_json(json.loads(original.encode()))
    assert copy == original
    assert copy.task.cpu == 1.0 and copy.task.rss == 2 << 20 and copy.task.procs == 2


def test_history_rotates_by_count_and_keeps_two_files(tmp_path: Path) -> None:
    live = tmp_path / "resources"
    history = History(live, max_samples=10, max_bytes=1 << 20)
    for t in range(35):
        history.append(sample(float(t)))
    history.close()
    times = [s.time for s in read_history(live)]
    assert times == [float(t) for t in range(20, 35)]  # resources.1: 20-29, resources: 30-34
    assert all(p.exists() for p in history_files(live))
    assert latest(live) is not None and latest(live).time == 34.0  # type: ignore[union-attr]
    assert [s.time for s in read_history(live, since=32.0)] == [33.0, 34.0]


def test_history_is_bounded_in_bytes(tmp_path: Path) -> None:
    live = tmp_path / "resources"
    history = History(live, max_samples=10**6, max_bytes=20_000)
    for t in range(2000):
        history.append(sample(float(t), procs=5))
    history.close()
    total = sum(p.stat().st_size for p in history_files(live))
    one = len(sample(0.0, procs=5).encode()) + 8
    assert total <= 2 * (20_000 + one)
    assert latest(live).time == 1999.0  # type: ignore[union-attr]


def test_a_restarted_writer_continues_the_count_and_drops_a_torn_tail(tmp_path: Path) -> None:
    live = tmp_path / "resources"
    first = History(live, max_samples=10, max_bytes=1 << 20)
    for t in range(6):
        first.append(sample(float(t)))
    first.close()
    with open(live, "ab") as fp:
        fp.write(b"\x00\x00\x01\x00torn")  # a crash in the middle of a write
    assert latest(live).time == 5.0  # type: ignore[union-attr]
    second = History(live, max_samples=10, max_bytes=1 << 20)
    for t in range(6, 12):
        second.append(sample(float(t)))
    second.close()
    assert [s.time for s in read_history(live)] == [float(t) for t in range(12)]
    # the count went on from the 6 samples already there: the rotation came after the 10th
    assert len(list(iter_payloads(live.with_name("resources.1")))) == 10
    assert len(list(iter_payloads(live))) == 2


def test_latest_reads_only_the_end_of_a_large_file(tmp_path: Path) -> None:
    live = tmp_path / "resources"
    history = History(live, max_samples=10**6, max_bytes=10 << 20)
    for t in range(3000):
        history.append(sample(float(t), procs=8))
    history.close()
    assert live.stat().st_size > 1 << 20
    assert latest(live).time == 2999.0  # type: ignore[union-attr]


def test_no_history_yet(tmp_path: Path) -> None:
    assert latest(tmp_path / "resources") is None
    assert list(read_history(tmp_path / "resources")) == []
