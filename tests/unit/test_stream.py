"""Checkpoint stream framing: round trips, torn tails, corruption, repair and following."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from borealis.contract.stream import (
    HEADER,
    MAX_RECORD_BYTES,
    CorruptStream,
    StreamFollower,
    StreamWriter,
    Tail,
    frame,
    iter_payloads,
    read_all,
    scan,
)

PAYLOADS = [b"first", b'{"t":"task"}', b"x" * 1000, bytes(range(1, 256))]


def frames(*payloads: bytes) -> bytes:
    return b"".join(frame(p) for p in payloads)


def bad_checksum(payload: bytes) -> bytes:
    data = bytearray(frame(payload))
    data[4] ^= 0xFF  # first byte of the crc
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- framing -----------------------------------------------------------------


def test_frame_layout_is_length_crc_payload() -> None:
    data = frame(b"hello")
    assert data[:4] == struct.pack(">I", 5)
    assert data[4:8] == struct.pack(">I", zlib.crc32(b"hello"))
    assert data[8:] == b"hello"
    assert HEADER.size == 8


def test_round_trip() -> None:
    data = frames(*PAYLOADS)
    result = scan(data)
    assert result.payloads == PAYLOADS
    assert result.end == len(data)
    assert result.tail is Tail.CLEAN


def test_empty_data_is_a_clean_empty_stream() -> None:
    result = scan(b"")
    assert (result.payloads, result.end, result.tail) == ([], 0, Tail.CLEAN)


def test_scan_from_an_offset() -> None:
    first = frame(b"one")
    data = first + frame(b"two")
    result = scan(data, len(first))
    assert result.payloads == [b"two"]
    assert result.end == len(data)


def test_largest_payload_round_trips() -> None:
    payload = b"z" * MAX_RECORD_BYTES
    assert scan(frame(payload)).payloads == [payload]


@pytest.mark.parametrize("size", [0, MAX_RECORD_BYTES + 1])
def test_frame_refuses_empty_and_oversized_payloads(size: int) -> None:
    with pytest.raises(ValueError, match=f"{size} bytes"):
        frame(b"a" * size)


def test_read_all_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    result = read_all(tmp_path / "missing")
    assert (result.payloads, result.end, result.tail) == ([], 0, Tail.CLEAN)


def test_read_all_and_iter_payloads(tmp_path: Path) -> None:
    path = write(tmp_path / "s", frames(*PAYLOADS))
    assert read_all(path).payloads == PAYLOADS
    assert list(iter_payloads(path)) == PAYLOADS


# -- torn tails: tolerated, the good prefix is returned ----------------------

GOOD = frames(b"alpha", b"beta")


@pytest.mark.parametrize(
    ("tail", "kind"),
    [
        pytest.param(frame(b"gamma")[:6], Tail.INCOMPLETE, id="truncated-header"),
        pytest.param(frame(b"gamma")[:8], Tail.INCOMPLETE, id="header-only"),
        pytest.param(frame(b"gamma")[:-1], Tail.INCOMPLETE, id="truncated-payload"),
        pytest.param(bad_checksum(b"gamma"), Tail.TORN, id="bad-checksum-last"),
        pytest.param(b"\0" * 3, Tail.TORN, id="few-zeros"),
        pytest.param(b"\0" * 100, Tail.TORN, id="many-zeros"),
        pytest.param(bad_checksum(b"gamma") + b"\0" * 40, Tail.TORN, id="bad-checksum-then-zeros"),
        pytest.param(frame(b"gamma")[:8] + b"\0" * 5, Tail.TORN, id="header-then-zero-payload"),
    ],
)
def test_torn_tail_is_tolerated(tmp_path: Path, tail: bytes, kind: Tail) -> None:
    data = GOOD + tail
    result = scan(data)
    assert result.payloads == [b"alpha", b"beta"]
    assert result.end == len(GOOD)
    assert result.tail is kind
    on_disk = read_all(write(tmp_path / "s", data))
    assert (on_disk.payloads, on_disk.end, on_disk.tail) == (result.payloads, len(GOOD), kind)


def test_a_stream_that_is_only_a_torn_frame_is_empty() -> None:
    result = scan(bad_checksum(b"only"))
    assert (result.payloads, result.end, result.tail) == ([], 0, Tail.TORN)


# -- corruption: damage with valid data after it ------------------------------


def garbage_length(payload: bytes) -> bytes:
    data = bytearray(frame(payload))
    data[0:4] = struct.pack(">I", MAX_RECORD_BYTES + 7)
    return bytes(data)


def zero_length(payload: bytes) -> bytes:
    data = bytearray(frame(payload))
    data[0:4] = b"\0\0\0\0"
    return bytes(data)


def long_length(payload: bytes) -> bytes:
    """A damaged length that runs past the end of the data: looks like an unfinished write."""
    data = bytearray(frame(payload))
    data[0:4] = struct.pack(">I", 5000)
    return bytes(data)


@pytest.mark.parametrize(
    "damaged",
    [
        pytest.param(bad_checksum(b"gamma") + frame(b"delta"), id="bad-checksum-then-valid"),
        pytest.param(bad_checksum(b"gamma") + b"garbage", id="bad-checksum-then-garbage"),
        pytest.param(garbage_length(b"gamma") + frame(b"delta"), id="garbage-length-then-valid"),
        pytest.param(garbage_length(b"gamma"), id="garbage-length-then-data"),
        pytest.param(zero_length(b"gamma") + frame(b"delta"), id="zero-length-then-data"),
        pytest.param(
            long_length(b"gamma") + frame(b"delta") + frame(b"epsilon"),
            id="damaged-length-looks-incomplete",
        ),
    ],
)
def test_damage_in_the_middle_is_corruption(tmp_path: Path, damaged: bytes) -> None:
    path = write(tmp_path / "runner", GOOD + damaged)
    with pytest.raises(CorruptStream) as info:
        read_all(path)
    assert info.value.path == str(path)
    assert info.value.offset == len(GOOD)
    assert str(info.value).startswith(f"{path}: corrupt checkpoint record at byte {len(GOOD)}: ")


def test_scan_names_the_stream_in_corruption() -> None:
    with pytest.raises(CorruptStream, match=r"^my-stream: .* at byte 0: "):
        scan(bad_checksum(b"a") + frame(b"b"), name="my-stream")


def test_damaged_length_without_a_valid_frame_after_is_incomplete() -> None:
    # The counterpart of the case above: nothing valid follows, so it may be a write landing.
    result = scan(GOOD + long_length(b"gamma") + b"not a frame")
    assert result.payloads == [b"alpha", b"beta"]
    assert result.tail is Tail.INCOMPLETE


# -- the writer ---------------------------------------------------------------


def test_writer_appends_frames(tmp_path: Path) -> None:
    path = tmp_path / "s"
    writer = StreamWriter.open(path)
    try:
        writer.append([b"a", b"b"])
        writer.append([])
        writer.append([b"c"])
        writer.sync()
    finally:
        writer.close()
    assert read_all(path).payloads == [b"a", b"b", b"c"]
    assert path.read_bytes() == frames(b"a", b"b", b"c")


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(frame(b"gamma")[:5], id="truncated-header"),
        pytest.param(frame(b"gamma")[:-2], id="truncated-payload"),
        pytest.param(bad_checksum(b"gamma"), id="bad-checksum"),
        pytest.param(b"\0" * 64, id="zeros"),
    ],
)
def test_repair_truncates_a_torn_tail_so_the_next_append_is_readable(
    tmp_path: Path, tail: bytes
) -> None:
    path = write(tmp_path / "s", GOOD + tail)
    writer = StreamWriter.open(path, repair=False)
    try:
        result = writer.repair()
        assert result.tail is not Tail.CLEAN
        assert path.stat().st_size == len(GOOD)
        writer.append([b"after"])
    finally:
        writer.close()
    scanned = read_all(path)
    assert scanned.payloads == [b"alpha", b"beta", b"after"]
    assert scanned.tail is Tail.CLEAN


def test_open_repairs_by_default(tmp_path: Path) -> None:
    path = write(tmp_path / "s", GOOD + bad_checksum(b"gamma"))
    writer = StreamWriter.open(path)
    try:
        writer.append([b"after"])
    finally:
        writer.close()
    assert read_all(path).payloads == [b"alpha", b"beta", b"after"]


def test_without_repair_an_append_after_a_torn_tail_is_corruption(tmp_path: Path) -> None:
    # Why repair exists: a frame appended after the damaged one makes the damage fatal.
    path = write(tmp_path / "s", GOOD + bad_checksum(b"gamma"))
    writer = StreamWriter.open(path, repair=False)
    try:
        writer.append([b"after"])
    finally:
        writer.close()
    with pytest.raises(CorruptStream):
        read_all(path)


def test_repair_leaves_a_clean_stream_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "s", GOOD)
    writer = StreamWriter.open(path, repair=False)
    try:
        result = writer.repair()
    finally:
        writer.close()
    assert result.tail is Tail.CLEAN
    assert path.read_bytes() == GOOD


def test_repair_refuses_a_corrupt_stream(tmp_path: Path) -> None:
    original = GOOD + bad_checksum(b"gamma") + frame(b"delta")
    path = write(tmp_path / "s", original)
    with pytest.raises(CorruptStream):
        StreamWriter.open(path)
    assert path.read_bytes() == original, "a corrupt stream must not be truncated"


def test_close_is_idempotent(tmp_path: Path) -> None:
    writer = StreamWriter.open(tmp_path / "s")
    writer.close()
    writer.close()
    assert writer.fd == -1


# -- the follower -------------------------------------------------------------


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fp:
        fp.write(data)


def test_follower_of_a_missing_file_reads_nothing(tmp_path: Path) -> None:
    follower = StreamFollower(tmp_path / "later")
    try:
        assert follower.read_new() == []
        assert follower.offset == 0
        append(tmp_path / "later", frame(b"now"))
        assert follower.read_new() == [b"now"]
    finally:
        follower.close()


def test_follower_reads_incrementally(tmp_path: Path) -> None:
    path = write(tmp_path / "s", frames(b"a", b"b"))
    follower = StreamFollower(path)
    try:
        assert follower.read_new() == [b"a", b"b"]
        assert follower.read_new() == []
        append(path, frame(b"c"))
        assert follower.read_new() == [b"c"]
        assert follower.offset == path.stat().st_size
    finally:
        follower.close()


def test_follower_waits_for_an_incomplete_frame(tmp_path: Path) -> None:
    path = write(tmp_path / "s", frame(b"a"))
    follower = StreamFollower(path)
    try:
        assert follower.read_new() == [b"a"]
        start = follower.offset
        whole = frame(b"bbbbbbbb") + frame(b"c")
        written = 0
        for cut in (3, 8, 12):  # inside the header, at its end, inside the payload
            append(path, whole[written:cut])
            written = cut
            assert follower.read_new() == []
            assert follower.offset == start, "an incomplete frame must not be consumed"
        append(path, whole[written:])
        assert follower.read_new() == [b"bbbbbbbb", b"c"]
        assert follower.offset == start + len(whole)
    finally:
        follower.close()


def test_follower_from_an_offset(tmp_path: Path) -> None:
    first = frame(b"skip")
    path = write(tmp_path / "s", first + frame(b"keep"))
    follower = StreamFollower(path, len(first))
    try:
        assert follower.read_new() == [b"keep"]
    finally:
        follower.close()


def test_follower_does_not_consume_a_torn_tail(tmp_path: Path) -> None:
    path = write(tmp_path / "s", GOOD + bad_checksum(b"gamma"))
    follower = StreamFollower(path)
    try:
        assert follower.read_new() == [b"alpha", b"beta"]
        assert follower.offset == len(GOOD)
        assert follower.read_new() == []
    finally:
        follower.close()
    writer = StreamWriter.open(path)  # the next runner repairs, then appends
    try:
        writer.append([b"delta"])
    finally:
        writer.close()
    follower = StreamFollower(path, len(GOOD))
    try:
        assert follower.read_new() == [b"delta"]
    finally:
        follower.close()


def test_follower_reports_corruption_at_its_offset_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "s", GOOD)
    follower = StreamFollower(path)
    try:
        assert follower.read_new() == [b"alpha", b"beta"]
        append(path, frame(b"gamma") + bad_checksum(b"delta") + frame(b"epsilon"))
        with pytest.raises(CorruptStream) as info:
            follower.read_new()
    finally:
        follower.close()
    expected = len(GOOD) + len(frame(b"gamma"))
    assert info.value.offset == expected
    assert info.value.path == str(path)
    assert f"at byte {expected}:" in str(info.value)
