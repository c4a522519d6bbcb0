"""Token files (contract/credentials.py): made private, never through a link, compared exactly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from borealis.contract.credentials import (
    CredentialError,
    bearer,
    ensure_token,
    matches,
    read_token,
)


def test_made_once_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "agent.token"
    token = ensure_token(path)
    assert len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert ensure_token(path) == token == read_token(path)


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    # e.g. a scheduler whose --token-file sits beside its database: the directory keeps its mode
    secrets = tmp_path / "state"
    secrets.mkdir(mode=0o755)
    os.chmod(secrets, 0o755)
    ensure_token(secrets / "t")
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o755
    assert stat.S_IMODE((secrets / "t").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775])
def test_a_directory_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    # whoever can write there could plant a token of their own before the first start
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    with pytest.raises(CredentialError, match="may write to this directory"):
        ensure_token(shared / "t")
    assert not (shared / "t").exists()


def test_a_directory_another_user_owns_is_refused(tmp_path: Path) -> None:
    # 0700 but not ours: its owner could delete or swap the token at will
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(CredentialError, match="may write to this directory"):
        ensure_token(theirs / "t")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_an_existing_token_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "t"
    path.write_text("y" * 40 + "\n")
    os.chmod(path, mode)
    with pytest.raises(CredentialError, match="mode 0600"):
        ensure_token(path)
    assert read_token(path) == "y" * 40  # a client may still read a token it was given


@pytest.mark.parametrize("dangling", [True, False])
def test_a_link_at_the_path_is_never_followed(tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "target"
    if not dangling:
        target.write_text("x" * 40 + "\n")
    (tmp_path / "s").mkdir(mode=0o700)
    link = tmp_path / "s" / "t"
    link.symlink_to(target)
    with pytest.raises(CredentialError, match="t:"):
        ensure_token(link)
    assert not target.exists() if dangling else target.read_text() == "x" * 40 + "\n"


def test_a_linked_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "secrets").symlink_to(real)
    with pytest.raises(CredentialError, match="not a directory"):
        ensure_token(tmp_path / "secrets" / "t")
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("content", ["short", "", "has space in it 0123456789", "\xe9" * 20])
def test_bad_token_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t"
    path.write_text(content)
    with pytest.raises(CredentialError):
        read_token(path)


def test_bearer_and_matches() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer abc") == bearer("BEARER  abc ") == "abc"  # the scheme ignores case
    assert bearer("Bearer ") is None and bearer("Bearer") is None
    assert bearer("Basic abc") is None and bearer(None) is None
    assert matches("a" * 20, "a" * 20)
    assert not matches("a" * 19, "a" * 20)
    assert not matches(None, "a" * 20)
    assert not matches("", "")  # an empty secret authenticates nothing
    assert not matches("\udcff", "a" * 20)
