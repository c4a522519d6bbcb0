"""Fixtures for the scheduler's end-to-end tests: a real agent and a real scheduler on free
loopback ports (helpers in tests/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import Embedded, embedded


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Embedded]:
    with embedded(
        tmp_path,
        *("--penalty", "1s", "--max-penalty", "8s", "--flapping-threshold", "60s"),
        *("--host-cpu", "4", "--executor-cpu", "0.1"),
    ) as found:
        yield found
