"""Reading a rotated log as one stream: the follower and last_lines."""

from __future__ import annotations

from pathlib import Path

from borealis.contract.logs import LogFollower, last_lines
from borealis.executor.runner.logrotate import RotatingFile


def lines(start: int, count: int) -> bytes:
    return b"".join(b"line %06d\n" % i for i in range(start, start + count))


def test_follower_reads_across_rotations_without_gaps_or_repeats(tmp_path: Path) -> None:
    log = RotatingFile(str(tmp_path / "stdout"), 1000, 100)
    follower = LogFollower(tmp_path / "stdout")
    seen = b""
    for block in range(500):
        log.write(lines(block * 10, 10))
        seen += follower.read()
        if block % 25:  # drain only now and then: fall behind by up to 3 rotations
            continue
        while chunk := follower.read():
            seen += chunk
    while chunk := follower.read():
        seen += chunk
    log.close()
    assert log.rotations >= 50
    assert seen == lines(0, 5000)
    assert follower.gaps == 0


def test_follower_that_falls_too_far_behind_counts_a_gap(tmp_path: Path) -> None:
    log = RotatingFile(str(tmp_path / "stdout"), 1000, 2)
    follower = LogFollower(tmp_path / "stdout")
    log.write(lines(0, 10))
    assert follower.read() == lines(0, 10)
    log.write(lines(10, 1000))  # many rotations; only 2 backups kept
    seen = b""
    while chunk := follower.read():
        seen += chunk
    log.close()
    assert follower.gaps == 1
    assert lines(10, 1000).endswith(seen[-2000:])


def test_follower_at_end_skips_what_is_already_there(tmp_path: Path) -> None:
    (tmp_path / "stdout").write_bytes(b"old\n")
    follower = LogFollower(tmp_path / "stdout", at_end=True)
    assert follower.read() == b""
    with open(tmp_path / "stdout", "ab") as fp:
        fp.write(b"new\n")
    assert follower.read() == b"new\n"


def test_follower_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    follower = LogFollower(tmp_path / "stdout")
    assert follower.read() == b""
    (tmp_path / "stdout").write_bytes(b"hello\n")
    assert follower.read() == b"hello\n"


def test_last_lines_reaches_into_rotated_files(tmp_path: Path) -> None:
    log = RotatingFile(str(tmp_path / "stdout"), 1000, 10)
    log.write(lines(0, 300))
    log.close()
    assert last_lines(tmp_path / "stdout", 250) == lines(50, 250)
    assert last_lines(tmp_path / "stdout", 3) == lines(297, 3)
    everything = last_lines(tmp_path / "stdout", 0)
    assert lines(0, 300).endswith(everything)


def test_last_lines_of_a_line_without_end_and_of_nothing(tmp_path: Path) -> None:
    (tmp_path / "stdout").write_bytes(b"a\nb\nunfinished")
    assert last_lines(tmp_path / "stdout", 2) == b"b\nunfinished"
    assert last_lines(tmp_path / "missing", 5) == b""


def test_last_lines_stops_at_the_live_size(tmp_path: Path) -> None:
    (tmp_path / "stdout").write_bytes(b"a\nb\nc\n")
    assert last_lines(tmp_path / "stdout", 10, live_size=4) == b"a\nb\n"


def test_a_rotation_between_finding_the_next_file_and_opening_it_loses_nothing(
    tmp_path: Path,
) -> None:
    """The follower finds the file after the one it finished by name; a rotation that lands
    before it opens that name moves the file away (seen in CI under load: a whole file was
    skipped). It must notice, by inode, and find the file where it went."""
    log = RotatingFile(str(tmp_path / "stdout"), 1000, 100)

    class Racy(LogFollower):
        armed = False

        def _open(self, path: Path, *, seek_end: bool = False) -> bool:
            if self.armed:
                self.armed = False
                log.write(lines(1000, 100))  # 1.2 KB: one more rotation, right now
            return super()._open(path, seek_end=seek_end)

    follower = Racy(tmp_path / "stdout")
    log.write(lines(0, 9))
    seen = follower.read()
    log.write(lines(9, 100))  # a rotation: the file read so far becomes stdout.1
    follower.armed = True
    while chunk := follower.read():
        seen += chunk
    log.close()
    assert log.rotations == 2
    assert seen == lines(0, 109) + lines(1000, 100)
    assert follower.gaps == 0
