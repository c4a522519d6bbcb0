"""Fixtures: real ``borealis agent``, ``scheduler`` and ``observer`` on free loopback ports,
each with its default credentials under the test's state root ($BOREALIS_ROOT), started with
no security flag at all, as an operator would start them (helpers in daemons.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import kill_executors
from daemons import Daemon, root, start
from support import kill_leftovers

from borealis.contract.layout import CheckpointRoot


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Daemon]:
    daemon = start(
        "agent", ["--work-dir", str(tmp_path / "work")], tmp_path / "agent.log", root().agent_token
    )
    try:
        yield daemon
    finally:
        daemon.stop()
        kill_executors(tmp_path)
        kill_leftovers(tmp_path)


@pytest.fixture
def scheduler(agent: Daemon, tmp_path: Path) -> Iterator[Daemon]:
    daemon = start(
        "scheduler",
        ["--agent", agent.url, "--db", str(tmp_path / "scheduler.db")],
        tmp_path / "scheduler.log",
        root().scheduler_token,
    )
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def observer(tmp_path: Path) -> Iterator[Daemon]:
    obs_root = CheckpointRoot(tmp_path / "obs-root")
    obs_root.path.mkdir()
    daemon = start(
        "observer", ["--root", str(obs_root.path)], tmp_path / "obs.log", obs_root.observer_token
    )
    try:
        yield daemon
    finally:
        daemon.stop()
