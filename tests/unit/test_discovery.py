"""Finding the processes created since the last look (executor/runner/discovery.py)."""

from __future__ import annotations

import os
import subprocess
import threading

from borealis.executor.runner.discovery import PidWatch, is_thread_group_leader


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "30"])


def test_first_look_reads_everything_then_only_what_is_new() -> None:
    watch = PidWatch()
    everything = watch.new()
    assert os.getpid() in everything and watch.full_reads == 1
    child = sleeper()
    try:
        fresh = watch.new()
        assert child.pid in fresh and fresh[child.pid].ppid == os.getpid()
        assert os.getpid() not in fresh  # an old process is not read again
        assert watch.full_reads == 1
    finally:
        child.kill()
        child.wait()


def test_many_new_pids_are_found_through_a_listing() -> None:
    watch = PidWatch(probe_limit=0)  # always list /proc instead of probing
    watch.new()
    child = sleeper()
    try:
        assert child.pid in watch.new()
    finally:
        child.kill()
        child.wait()


def test_asking_for_everything_reads_every_process() -> None:
    watch = PidWatch()
    watch.new()
    assert os.getpid() in watch.new(everything=True) and watch.full_reads == 2


def test_nothing_forked_means_nothing_read() -> None:
    values = iter([(100, 5000), (100, 5000)])
    watch = PidWatch(read_counters=lambda: next(values), pid_max=32768)
    watch.new()
    assert watch.new() == {} and watch.spans == []


def test_the_pid_range_wraps_at_pid_max() -> None:
    values = iter([(100, 32700), (150, 40)])
    watch = PidWatch(read_counters=lambda: next(values), pid_max=32768)
    watch.new()
    watch.new()
    assert watch.spans == [(32701, 32768), (1, 41)]


def test_more_forks_than_half_the_pids_reads_everything() -> None:
    values = iter([(100, 500), (100 + 20000, 400)])
    watch = PidWatch(read_counters=lambda: next(values), pid_max=32768)
    watch.new()
    watch.new()
    assert watch.full_reads == 2


def test_threads_are_told_from_processes() -> None:
    assert is_thread_group_leader(os.getpid())
    ids: list[int] = []
    ready, done = threading.Event(), threading.Event()

    def worker() -> None:
        ids.append(threading.get_native_id())
        ready.set()
        done.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait(10)
    try:
        assert ids and ids[0] != os.getpid()
        assert not is_thread_group_leader(ids[0])  # /proc/TID works, but it is a thread
    finally:
        done.set()
        thread.join()
