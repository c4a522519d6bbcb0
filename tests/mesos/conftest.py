"""Fixtures for the executor's tests: a real ``borealis agent`` on a free loopback port with a
temporary work directory (the helpers are in tests/cluster.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import AgentProcess, envelope, kill_executors
from support import kill_leftovers

__all__ = ["AgentProcess", "envelope", "kill_executors"]


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path / "work", tmp_path / "agent.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
        time.sleep(0.2)
        kill_executors(tmp_path)
        kill_leftovers(tmp_path)
