"""contract/confined.py: walking a task's directory without following it anywhere else."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from borealis.contract import confined
from borealis.contract.confined import Refusal, Refused


@pytest.fixture
def top(tmp_path: Path) -> Iterator[int]:
    sandbox = tmp_path / "sandbox"
    (sandbox / "a" / "b").mkdir(parents=True)
    (sandbox / "a" / "b" / "file").write_text("inside\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("outside\n")
    (sandbox / "link_dir").symlink_to(outside)
    (sandbox / "a" / "link_file").symlink_to(outside / "file")
    (sandbox / "a" / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(sandbox / "a" / "fifo")
    os.link(outside / "file", sandbox / "a" / "hard")
    fd = confined.open_top(sandbox)
    yield fd
    os.close(fd)


def refusal(call: object) -> Refusal:
    assert callable(call)
    with pytest.raises(Refused) as caught:
        call()
    return caught.value.refusal


def test_a_plain_walk_opens_the_file(top: int) -> None:
    directory = confined.open_dir(top, ["a", "b"])
    fd, st = confined.open_leaf(directory, "file")
    assert os.read(fd, 100) == b"inside\n" and st.st_size == 7
    assert os.get_blocking(fd)
    os.close(fd)
    os.close(directory)


def test_links_fifos_and_hard_links_are_refused_as_values(top: int) -> None:
    a = confined.open_dir(top, ["a"])
    try:
        assert refusal(lambda: confined.open_dir(top, ["link_dir"])) is Refusal.LINK
        assert refusal(lambda: confined.open_leaf(a, "link_file")) is Refusal.LINK
        assert refusal(lambda: confined.open_leaf(a, "fifo")) is Refusal.SPECIAL  # no hang
        assert refusal(lambda: confined.open_leaf(a, "fifo", os.O_WRONLY)) is Refusal.SPECIAL
        assert refusal(lambda: confined.open_leaf(a, "missing")) is Refusal.MISSING
        assert refusal(lambda: confined.open_leaf(a, "b")) is Refusal.DIRECTORY
        assert refusal(lambda: confined.open_dir(a, ["b", "file"])) is Refusal.NOT_DIRECTORY
        assert refusal(lambda: confined.open_dir(a, [".."])) is Refusal.BAD_NAME
        # Creating through a dangling link would create the file wherever it points.
        create = os.O_WRONLY | os.O_CREAT
        assert refusal(lambda: confined.open_leaf(a, "dangling", create)) is Refusal.LINK
        # Reading a hard-linked file is harmless; writing it would write the other name too.
        fd, _ = confined.open_leaf(a, "hard")
        os.close(fd)
        assert refusal(lambda: confined.open_leaf(a, "hard", os.O_WRONLY)) is Refusal.HARD_LINKED
    finally:
        os.close(a)


def test_names_refuses_what_is_not_a_relative_plain_path() -> None:
    assert confined.names("a//./b/") == ["a", "b"]
    for bad in ("/etc", "a/../b", "..", "a\x00b"):
        assert refusal(lambda bad=bad: confined.names(bad)) is Refusal.BAD_NAME


def test_open_dir_creates_and_renames_stay_in_the_held_directory(top: int, tmp_path: Path) -> None:
    made = confined.open_dir(top, ["new", "deeper"], create=0o755)
    fd, _ = confined.open_leaf(made, "log", os.O_WRONLY | os.O_CREAT, 0o640)
    os.write(fd, b"x")
    os.close(fd)
    # The directory is moved away and a link put in its place: the held descriptor still
    # names the directory itself, so the rename happens there and not at the link's target.
    sandbox = tmp_path / "sandbox"
    (sandbox / "new" / "deeper").rename(sandbox / "new" / "moved")
    (sandbox / "new" / "deeper").symlink_to(tmp_path / "outside")
    confined.rename(made, "log", "log.1")
    os.close(made)
    assert (sandbox / "new" / "moved" / "log.1").read_bytes() == b"x"
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["file"]
