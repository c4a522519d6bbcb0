"""Fixtures for the scheduler's end-to-end tests: a real agent and a real scheduler on free
loopback ports (helpers in tests/cluster.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster import AgentProcess, SchedulerProcess, kill_executors
from support import kill_leftovers


@dataclass
class Embedded:
    agent: AgentProcess
    scheduler: SchedulerProcess
    base: Path


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Embedded]:
    agent = AgentProcess(tmp_path / "agent", tmp_path / "agent.log")
    agent.start()
    scheduler = SchedulerProcess(
        tmp_path / "scheduler.db",
        tmp_path / "scheduler.log",
        agent.url,
        extra=(
            "--penalty",
            "1s",
            "--max-penalty",
            "8s",
            "--flapping-threshold",
            "60s",
            "--host-cpu",
            "4",
            "--executor-cpu",
            "0.1",
        ),
    )
    scheduler.start()
    try:
        yield Embedded(agent, scheduler, tmp_path)
    finally:
        scheduler.stop()
        agent.stop()
        time.sleep(0.2)
        kill_executors(tmp_path)
        kill_leftovers(tmp_path)
