"""Shared fixtures: a fresh checkpoint root per test, and no leaked processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import kill_leftovers

from borealis.contract.layout import CheckpointRoot
from borealis.executor.mesos.identity import ALLOW_ROOT_ENV, NO_SETUID_ENV

# The suite runs as root and predates identities: its tasks run as root, as the operator's
# explicit settings allow (agents and `borealis run` inherit them). tests/security/ turns
# them off (`identity_env`) to test the default: a task runs as its role.
os.environ.setdefault(NO_SETUID_ENV, "1")
os.environ.setdefault(ALLOW_ROOT_ENV, "1")


@pytest.fixture
def root(tmp_path: Path) -> CheckpointRoot:
    checkpoint_root = CheckpointRoot(tmp_path / "root")
    checkpoint_root.ensure()
    return checkpoint_root


@pytest.fixture(autouse=True)
def _isolated_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Commands that fall back to $BOREALIS_ROOT must never touch a real host root.
    monkeypatch.setenv("BOREALIS_ROOT", str(tmp_path / "root"))
    yield
    # A failed test must not leave runners or task processes behind for the next ones.
    kill_leftovers(tmp_path)
