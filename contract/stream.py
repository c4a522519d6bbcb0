"""Append-only record streams: framing, checksums, torn tails and corruption.

Every checkpoint file is a sequence of frames::

    +----------------+----------------+---------------------+
    | length: u32 BE | crc32: u32 BE  | payload (length B)  |
    +----------------+----------------+---------------------+

``crc32`` is zlib's CRC-32 of the payload. A frame is appended with a single
``write(2)`` on an ``O_APPEND`` descriptor, so a process crash (even SIGKILL)
leaves either the whole frame or nothing. A host crash can leave a *torn tail*:
a final frame that is incomplete, fails its checksum, or is followed only by
zero bytes. Readers tolerate a torn tail; the writer that next takes the
stream's lock truncates it before appending. Any other damage (a bad frame with
valid data after it) is corruption and raises ``CorruptStream``: silently
skipping records would rebuild a state that never existed.

Disk full: a frame that cannot be written whole is taken back (the stream is
truncated to where it was) and ``OSError(ENOSPC)`` is raised, so a full disk
never leaves a partial frame that a later append would turn into corruption.
The writer keeps the record and tries again (``no_space`` tells which errors
mean "try again later").

Standard library only; the writing half (framing, whole appends) is ``framing.py``.
"""

from __future__ import annotations

import enum
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .framing import HEADER as HEADER
from .framing import MAX_RECORD_BYTES as MAX_RECORD_BYTES
from .framing import append_whole as append_whole
from .framing import frame as frame
from .framing import no_space as no_space


class CorruptStream(Exception):
    """A checkpoint stream is damaged somewhere other than its last record."""

    def __init__(self, path: str, offset: int, problem: str) -> None:
        super().__init__(f"{path}: corrupt checkpoint record at byte {offset}: {problem}")
        self.path = path
        self.offset = offset
        self.problem = problem


class Tail(enum.Enum):
    CLEAN = "clean"  # the data ends exactly at a frame boundary
    INCOMPLETE = "incomplete"  # a frame has started but is not all there (yet)
    TORN = "torn"  # a damaged last frame, or trailing zeros


@dataclass(frozen=True)
class Scan:
    payloads: list[bytes]
    end: int  # offset just past the last good frame
    tail: Tail


def scan(data: bytes, start: int = 0, *, name: str = "<stream>") -> Scan:
    """Split ``data[start:]`` into payloads.

    Stops at the first frame that is not whole and valid. If everything after
    that point is an unfinished frame or zeros, the tail is reported; otherwise
    ``CorruptStream`` is raised.
    """
    payloads: list[bytes] = []
    offset = start
    size = len(data)
    unpack = HEADER.unpack_from
    crc32 = zlib.crc32
    while offset < size:
        if size - offset < HEADER.size:
            return Scan(payloads, offset, _classify_tail(data, offset, name, incomplete=True))
        length, checksum = unpack(data, offset)
        body = offset + HEADER.size
        if length == 0 or length > MAX_RECORD_BYTES:
            return Scan(payloads, offset, _classify_tail(data, offset, name, incomplete=False))
        if body + length > size:
            return Scan(payloads, offset, _classify_tail(data, offset, name, incomplete=True))
        payload = data[body : body + length]
        if crc32(payload) != checksum:
            if not data[body + length :].strip(b"\0"):
                # The last frame, damaged, maybe followed by the zeros a host crash left.
                return Scan(payloads, offset, Tail.TORN)
            return Scan(payloads, offset, _classify_tail(data, offset, name, incomplete=False))
        payloads.append(payload)
        offset = body + length
    return Scan(payloads, offset, Tail.CLEAN)


def _classify_tail(data: bytes, offset: int, name: str, *, incomplete: bool) -> Tail:
    rest = data[offset:]
    if not rest.strip(b"\0"):
        return Tail.TORN
    if incomplete and first_valid_frame(data, offset + 1) is None:
        # A frame whose length runs past the end and no valid frame after it:
        # a write still landing, or one cut short by a crash.
        return Tail.INCOMPLETE
    raise CorruptStream(name, offset, f"invalid frame followed by {len(rest)} bytes")


def first_valid_frame(data: bytes, start: int) -> int | None:
    """Offset of the first whole, valid frame at or after ``start``, if any.

    Used on a suspicious tail (a damaged length field must not pass for an
    unfinished write while intact frames follow it), and to find the frames in
    the last bytes of a stream without reading it from the start.
    """
    size = len(data)
    for offset in range(start, size - HEADER.size):
        length, checksum = HEADER.unpack_from(data, offset)
        body = offset + HEADER.size
        if 0 < length <= size - body and zlib.crc32(data[body : body + length]) == checksum:
            return offset
    return None


def read_all(path: Path) -> Scan:
    """Read a whole stream (missing file = empty stream)."""
    try:
        with open(path, "rb") as fp:
            data = fp.read()
    except FileNotFoundError:
        return Scan([], 0, Tail.CLEAN)
    return scan(data, name=str(path))


class StreamFollower:
    """Reads a stream incrementally from a byte offset (used while it grows)."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._fd: int | None = None

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
        return self._fd

    def read_new(self) -> list[bytes]:
        fd = self._open()
        if fd is None:
            return []
        size = os.fstat(fd).st_size
        if size <= self.offset:
            return []
        data = os.pread(fd, size - self.offset, self.offset)
        try:
            result = scan(data, name=str(self.path))
        except CorruptStream as e:
            # ``scan`` counts from the start of ``data``; report the offset in the file.
            raise CorruptStream(e.path, self.offset + e.offset, e.problem) from None
        if result.end == 0:
            return []
        self.offset += result.end
        return result.payloads

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class StreamWriter:
    """Appends frames to a stream. Only the holder of the stream's lock may write."""

    def __init__(self, fd: int, path: Path | str) -> None:
        self.fd = fd
        self.path = Path(path)

    @classmethod
    def open(cls, path: Path, *, repair: bool = True) -> StreamWriter:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        writer = cls(fd, path)
        if repair:
            writer.repair()
        return writer

    def repair(self) -> Scan:
        """Truncate a torn tail so that new frames follow the last good one."""
        result = read_all(self.path)
        if result.tail is not Tail.CLEAN:
            os.ftruncate(self.fd, result.end)
        return result

    def append(self, payloads: list[bytes]) -> None:
        if payloads:
            append_whole(self.fd, b"".join(frame(p) for p in payloads), self.path)

    def sync(self) -> None:
        os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_before(path: Path, end: int) -> list[bytes]:
    """The whole frames of a stream before byte ``end`` (where a ``CorruptStream`` was found)."""
    with open(path, "rb") as fp:
        data = fp.read(end)
    return scan(data, name=str(path)).payloads


def iter_payloads(path: Path) -> Iterator[bytes]:
    yield from read_all(path).payloads
