"""Fixtures for the executor's tests: a real ``borealis agent`` on a free loopback port with a
temporary work directory (the helpers are in tests/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import AgentProcess, running_agent


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    with running_agent(tmp_path) as process:
        yield process
