"""Rotation: where files are cut, what is kept, and that no byte is lost or repeated."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from borealis.executor.runner.logrotate import RotatingFile, cut_point, lookback_for


def logical_stream(path: Path) -> bytes:
    """Every kept file of a rotated log, oldest first, as one byte string."""
    rotated = sorted(
        (p for p in path.parent.iterdir() if p.name.startswith(path.name + ".")),
        key=lambda p: -int(p.name.rsplit(".", 1)[1]),
    )
    return b"".join(p.read_bytes() for p in [*rotated, path])


# -- cut_point: a pure function -------------------------------------------------------------


def test_no_cut_while_the_file_stays_under_the_limit() -> None:
    assert cut_point(b"abc\n", size=10, limit=100, lookback=20, at_line_start=True) is None
    assert cut_point(b"x" * 90, size=10, limit=100, lookback=20, at_line_start=True) is None


def test_cut_after_the_last_line_end_before_the_limit() -> None:
    data = b"aaaa\nbbbb\ncccc\ndddd"
    # file at 90 of 100: 10 bytes fit; the last line end within them is at index 9
    assert cut_point(data, size=90, limit=100, lookback=20, at_line_start=False) == 10


def test_a_line_end_too_far_back_is_not_used() -> None:
    data = b"a\n" + b"x" * 50
    # the only line end is 48 bytes before the limit, outside a 20-byte look-back:
    # the cut moves past the limit, to the first line end there (none: not yet)
    assert cut_point(data, size=50, limit=100, lookback=20, at_line_start=False) is None


def test_cut_at_the_start_when_the_file_already_ends_with_a_line() -> None:
    assert cut_point(b"y" * 30, size=95, limit=100, lookback=20, at_line_start=True) == 0
    assert cut_point(b"y" * 30, size=95, limit=100, lookback=20, at_line_start=False) == 25


def test_past_the_limit_the_first_line_end_within_the_look_ahead() -> None:
    data = b"x" * 10 + b"\nrest"
    assert cut_point(data, size=95, limit=100, lookback=20, at_line_start=False) == 11


def test_a_line_longer_than_the_window_is_cut_at_the_hard_limit() -> None:
    data = b"x" * 100
    assert cut_point(data, size=95, limit=100, lookback=20, at_line_start=False) == 25


def test_a_file_already_past_the_limit_cuts_at_the_next_line_end() -> None:
    assert cut_point(b"ab\ncd", size=105, limit=100, lookback=20, at_line_start=False) == 3
    assert cut_point(b"x" * 30, size=105, limit=100, lookback=20, at_line_start=False) == 15


def test_lookback_is_at_most_half_the_file() -> None:
    assert lookback_for(100) == 50
    assert lookback_for(1 << 30) == 64 * 1024


# -- RotatingFile ------------------------------------------------------------------------


def lines(count: int, start: int = 0, width: int = 0) -> bytes:
    return b"".join(b"%08d %s\n" % (i, b"w" * width) for i in range(start, start + count))


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096, 1 << 20])
def test_every_byte_once_in_order_and_files_end_on_line_ends(tmp_path: Path, chunk: int) -> None:
    data = lines(5000)
    log = RotatingFile(str(tmp_path / "stdout"), 4096, 100)
    for i in range(0, len(data), chunk):
        log.write(data[i : i + chunk])
    log.close()
    assert logical_stream(tmp_path / "stdout") == data
    assert log.rotations >= 10
    for path in tmp_path.iterdir():
        content = path.read_bytes()
        assert content.endswith(b"\n") or not content, path.name
        assert len(content) <= 4096 + lookback_for(4096)


def test_backups_keep_the_newest_files_only(tmp_path: Path) -> None:
    data = lines(2000)
    log = RotatingFile(str(tmp_path / "stdout"), 1000, 3)
    log.write(data)
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["stdout", "stdout.1", "stdout.2", "stdout.3"]
    kept = logical_stream(tmp_path / "stdout")
    assert kept and data.endswith(kept)  # the newest bytes, contiguous, older ones dropped
    assert len(kept) < len(data)


def test_no_newline_stream_is_cut_at_the_hard_limit_without_loss(tmp_path: Path) -> None:
    data = bytes(random.Random(1).randrange(256) for _ in range(50_000)).replace(b"\n", b"")
    log = RotatingFile(str(tmp_path / "stdout"), 1000, 1000)
    for i in range(0, len(data), 333):
        log.write(data[i : i + 333])
    log.close()
    assert logical_stream(tmp_path / "stdout") == data
    sizes = [p.stat().st_size for p in tmp_path.iterdir() if p.name != "stdout"]
    assert set(sizes) == {1000 + lookback_for(1000)}


def test_a_line_longer_than_log_size_is_kept_whole_across_files(tmp_path: Path) -> None:
    huge = b"h" * 10_000 + b"\n"
    data = b"before\n" + huge + b"after\n"
    log = RotatingFile(str(tmp_path / "stdout"), 1000, 100)
    log.write(data)
    log.close()
    assert logical_stream(tmp_path / "stdout") == data


def test_binary_data_round_trips(tmp_path: Path) -> None:
    data = bytes(range(256)) * 400
    log = RotatingFile(str(tmp_path / "stdout"), 2048, 1000)
    log.write(data)
    log.close()
    assert logical_stream(tmp_path / "stdout") == data


def test_spliced_bytes_count_and_the_next_cut_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    log = RotatingFile(str(path), 1000, 10)
    room = log.splice_room
    assert room == 1000 - lookback_for(1000)
    block = lines(100)[:room]  # as if spliced: bytes written behind the object's back
    os.write(log.fd, block)
    log.spliced(len(block))
    assert log.splice_room == 0
    log.write(lines(100, start=100))
    log.close()
    assert logical_stream(path) == block + lines(100, start=100)


def test_zero_backups_drops_rotated_files(tmp_path: Path) -> None:
    log = RotatingFile(str(tmp_path / "stdout"), 100, 0)
    log.write(lines(100))
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["stdout"]


def test_files_are_0640(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        log = RotatingFile(str(tmp_path / "stdout"), 100, 2)
        log.write(lines(50))
        log.close()
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {
        "0o640"
    }  # not world-readable (docs/security.md)
