"""Fixtures: real ``borealis agent``, ``scheduler`` and ``observer`` on free loopback ports,
each with its default credentials under the test's state root ($BOREALIS_ROOT), started with
no security flag at all, as an operator would start them (helpers in daemons.py)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
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


@pytest.fixture
def base() -> Iterator[Path]:
    """A work directory a task's user can pass through (pytest's own are 0700), removed with
    whatever was left running under it."""
    path = Path(tempfile.mkdtemp(prefix="borealis-security-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        kill_leftovers(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``tmpfs("4m")``: a small filesystem mounted for the test (a disk that fills up);
    unmounted afterwards, once what runs on it is gone."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        path = tmp_path / f"small{len(mounts)}"
        path.mkdir()
        options = f"size={size},mode=0755"
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
        mounts.append(path)
        return path

    try:
        yield mount
    finally:
        kill_leftovers(tmp_path)
        for path in mounts:
            subprocess.run(["umount", "-l", str(path)], check=False)
