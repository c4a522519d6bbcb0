"""Cursors over a rotated log (contract/logs.py), on files made by hand."""

from __future__ import annotations

import os
from pathlib import Path

from borealis.contract import logs


def write_chain(live: Path, *parts: bytes) -> None:
    """``parts`` oldest first: the last one is the live file, the others stdout.N..stdout.1."""
    for index, data in enumerate(reversed(parts)):
        path = live if index == 0 else live.with_name(f"{live.name}.{index}")
        path.write_bytes(data)


def read_all(live: Path, cursor: str = "start", length: int = 7) -> tuple[bytes, list[str], str]:
    got, files = b"", []
    while True:
        page = logs.read(live, cursor, length)
        if not page["chunks"]:
            return got, files, cursor
        for chunk in page["chunks"]:
            got += chunk["data"].encode()
            files.append(chunk["file"])
        cursor = page["end"]


def test_forward_reads_walk_the_chain_oldest_first(tmp_path: Path) -> None:
    live = tmp_path / "stdout"
    write_chain(live, b"one\n", b"two\n", b"three\n")
    page = logs.read(live, "start", 100)
    assert [c["file"] for c in page["chunks"]] == ["stdout.2", "stdout.1", "stdout"]
    assert "".join(c["data"] for c in page["chunks"]) == "one\ntwo\nthree\n"
    assert page["at_start"] and page["files"] == ["stdout.2", "stdout.1", "stdout"]
    got, _, _ = read_all(live, length=3)
    assert got == b"one\ntwo\nthree\n"


def test_a_cursor_survives_a_rotation(tmp_path: Path) -> None:
    live = tmp_path / "stdout"
    write_chain(live, b"first\n")
    cursor = logs.read(live, "start", 3)["end"]  # inside the live file
    os.rename(live, live.with_name("stdout.1"))
    live.write_bytes(b"second\n")
    page = logs.read(live, cursor, 100)
    assert [(c["file"], c["data"]) for c in page["chunks"]] == [
        ("stdout.1", "st\n"),
        ("stdout", "second\n"),
    ]


def test_a_dropped_file_is_a_gap_and_reading_goes_on_at_the_oldest(tmp_path: Path) -> None:
    live = tmp_path / "stdout"
    write_chain(live, b"old\n", b"new\n")
    cursor = logs.read(live, "start", 2)["end"]  # in stdout.1
    live.with_name("stdout.1").unlink()
    page = logs.read(live, cursor, 100)
    assert page["gap"] and page["chunks"][0]["data"] == "new\n"


def test_no_utf8_character_is_split_between_reads(tmp_path: Path) -> None:
    live = tmp_path / "stdout"
    text = "é€𝄞 naïve café " * 50
    write_chain(live, text.encode()[:301], text.encode()[301:])
    for length in (1, 2, 3, 5, 7, 64):
        got, _, _ = read_all(live, length=max(length, 4))
        assert got.decode() == text, length


def test_backward_reads_reach_the_start_without_splitting_characters(tmp_path: Path) -> None:
    live = tmp_path / "stdout"
    text = "ab€cd𝄞ef\n" * 40
    data = text.encode()
    write_chain(live, data[:100], data[100:211], data[211:])
    page = logs.read(live, "end", 9, backwards=True)
    got = "".join(c["data"] for c in page["chunks"])
    while not page["at_start"]:
        page = logs.read(live, page["start"], 9, backwards=True)
        got = "".join(c["data"] for c in page["chunks"]) + got
    assert got == text


def test_end_cursor_missing_files_and_bad_cursors(tmp_path: Path) -> None:
    live = tmp_path / "stdout"
    empty = logs.read(live, "end", 10)
    assert empty["chunks"] == [] and empty["files"] == []
    write_chain(live, b"abc")
    end = logs.read(live, "end", 10)
    assert end["chunks"] == [] and end["end"].endswith(":3")
    live.write_bytes(b"abcdef")
    assert logs.read(live, end["end"], 10)["chunks"][0]["data"] == "def"
    for bad in ("", "12", "a:b", "-1:3", "1:-3"):
        try:
            logs.read(live, bad, 10)
        except logs.BadCursor as e:
            assert "bad cursor" in str(e)
        else:
            raise AssertionError(f"{bad!r} was accepted")
