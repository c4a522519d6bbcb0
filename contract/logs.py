"""Reading a process's log as one stream across its rotations: the one reader of rotated logs.

The rotation contract (docs/logs.md): ``stdout`` is the live file; at a rotation it is
renamed ``stdout.1`` (older ones move up to ``stdout.N``, names from ``layout.rotated``) and a
new ``stdout`` starts; a renamed file is never written again. So the stream's files, oldest
first, are ``stdout.N`` ... ``stdout.1``, ``stdout`` (``chain``), and a file keeps its inode
through every rename.

Three ways to read it, all on that chain:

* ``LogFollower`` keeps its file open, reads it to the end and only then moves on to the file
  that replaced it, so it reads every byte exactly once, like ``tail -F`` (``borealis tail
  -f``, ``borealis run --follow``);
* ``read`` takes a *cursor* ``"<inode>:<offset>"`` (or ``"start"``, ``"end"``) and returns up to
  a length of bytes after or before it, as one chunk per file touched, never splitting a UTF-8
  character except at a file's own end (the observer's log viewer, which holds no file open
  between requests). A cursor stays valid across any number of rotations until its file is
  dropped beyond the last backup; a reader that fell that far behind continues at the oldest
  file kept and is told so (``gap``);
* ``last_lines`` reads the end of the stream, reaching back into rotated files when the live
  one is too short.

Every file is reached through ``confined``: from a directory the caller trusts (``top``, the
sandbox; by default the log's own directory) one name at a time, never following a symbolic
link, opening only regular files and never blocking on a FIFO. A task owns its sandbox and may
plant a link or a FIFO at any of these names; the reader (the observer, ``borealis tail``, maybe
root) then gets ``confined.Refused`` instead of another file or a hang.

Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import confined
from .layout import rotated

T = TypeVar("T")

CHUNK = 1 << 20
MAX_BACKUPS = 1000  # never look further down a chain than this


@dataclass(frozen=True)
class Segment:
    path: Path
    inode: int
    size: int


def _unless_missing(look: Callable[[], T]) -> T | None:
    """``look()``, or ``None`` when what it looks for is not there (a refusal of any other
    kind, a link or a FIFO, is raised)."""
    try:
        return look()
    except FileNotFoundError:
        return None
    except confined.Refused as e:
        if e.refusal is confined.Refusal.MISSING:
            return None
        raise


def _lstat(path: Path, top: Path) -> os.stat_result | None:
    """``path`` (under ``top``) as it is, links not followed; ``None``: it is not there."""
    return _unless_missing(lambda: confined.lstat_under(top, os.path.relpath(path, top)))


def open_log(path: Path, top: Path | None = None) -> int | None:
    """A descriptor of the regular file ``path`` reached from ``top`` without following a link
    (``None``: not there; ``confined.Refused``: a link, a FIFO or something else)."""
    start = top or path.parent
    return _unless_missing(lambda: confined.open_under(start, os.path.relpath(path, start))[0])


def chain(live: Path, top: Path | None = None) -> list[Segment]:
    """The stream's files that exist, oldest first.

    Read while the writer may be rotating: a rotation renames ``live.k`` to ``live.k+1`` from
    the highest index down, so one name at a time is missing and a file may be seen under
    two names (before and after its rename). One missing name is stepped over (two in a row
    end the chain), and a file seen again keeps its newer name.
    """
    top = top or live.parent
    found: list[Segment] = []
    missing = 0
    for index in range(MAX_BACKUPS + 1):
        path = rotated(live, index)
        st = _lstat(path, top)
        if st is None:
            if index > 0:  # no live file: between a rename and the new live file
                missing += 1
                if missing == 2:
                    break
            continue
        missing = 0
        segment = Segment(path, st.st_ino, st.st_size)
        if found and found[-1].inode == st.st_ino:
            found[-1] = segment  # renamed one step up while we looked
        else:
            found.append(segment)
    found.reverse()
    return found


# -- following, as tail -F does ------------------------------------------------------------


class LogFollower:
    """Follows ``path`` by name through rotations, from the start of the live file (or its end,
    or, ``oldest``, from the start of the oldest rotated file kept: the whole stream)."""

    def __init__(
        self, path: Path, *, at_end: bool = False, oldest: bool = False, top: Path | None = None
    ) -> None:
        """``top``: the directory the walk to ``path`` starts from (the sandbox)."""
        self.path = path
        self.top = top or path.parent
        self.at_end = at_end
        self.oldest = oldest
        self.gaps = 0  # times the reader fell so far behind that rotated data was gone
        self._fd: int | None = None
        self._inode: int | None = None

    def _open(self, path: Path, *, seek_end: bool = False) -> bool:
        fd = open_log(path, self.top)
        if fd is None:
            return False
        self.close()
        self._fd = fd
        self._inode = os.fstat(fd).st_ino
        if seek_end:
            os.lseek(fd, 0, os.SEEK_END)
        return True

    @property
    def position(self) -> int:
        """How far into the current file the reader is."""
        return os.lseek(self._fd, 0, os.SEEK_CUR) if self._fd is not None else 0

    def read(self, limit: int = CHUNK) -> bytes:
        """What was appended since the last call (``b""``: nothing new yet)."""
        if self._fd is None and not self._open(self._first(), seek_end=self.at_end):
            return b""
        assert self._fd is not None
        data = os.read(self._fd, limit)
        if data:
            return data
        current = _lstat(self.path, self.top)
        if current is None:
            return b""  # between a rename and the new file's creation
        if current.st_ino == self._inode:
            return b""
        # Rotated away: the old file is complete now; finish it, then move on.
        data = os.read(self._fd, limit)
        if data:
            return data
        self._advance()
        return os.read(self._fd, limit) if self._fd is not None else b""

    def _first(self) -> Path:
        if self.oldest and not self.at_end:
            segments = chain(self.path, self.top)
            if segments:
                return segments[0].path
        return self.path

    def _advance(self) -> None:
        """Open the file written after ours. Names shift at every rotation, so the successor is
        found by name, opened, and kept only if it is still the file (inode) that was found: a
        rotation in between renames it, and a look at the chain again finds where it went."""
        finished = self._inode
        for _ in range(MAX_BACKUPS):
            path, inode, gap = self._successor(finished)
            if not self._open(path):
                return  # between a rename and the new live file: try again at the next read
            if inode is None or self._inode == inode:
                self.gaps += gap
                return
        self.gaps += 1  # rotating faster than it can be looked at: go on from here

    def _successor(self, finished: int | None) -> tuple[Path, int | None, int]:
        """Where the file after ``finished`` is, its inode, and 1 if files were lost between."""
        segments = chain(self.path, self.top)
        for index, segment in enumerate(segments):
            if segment.inode == finished:
                if index + 1 < len(segments):
                    after = segments[index + 1]
                    return after.path, after.inode, 0
                return self.path, None, 0
        # Our file is gone from the chain (dropped beyond the backups): continue with the
        # oldest one kept; anything in between is lost to us.
        if segments and segments[0].path != self.path:
            return segments[0].path, segments[0].inode, 1
        return self.path, None, 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def last_lines(
    path: Path, count: int, live_size: int | None = None, top: Path | None = None
) -> bytes:
    """The last ``count`` lines of the logical stream (``count <= 0``: all of it).

    Reads backwards from the end of the live file (only its first ``live_size`` bytes, if
    given), then of ``path.1`` and so on, in blocks, until it has enough lines: a 100 MB log
    costs a few reads, not 100 MB.
    """
    tail = b""
    for segment in reversed(chain(path, top)):
        fd = open_log(segment.path, top)
        if fd is None:
            break
        try:
            end = os.fstat(fd).st_size
            if segment.path == path and live_size is not None:
                end = min(end, live_size)
            while end > 0:
                start = max(0, end - CHUNK) if count > 0 else 0
                tail = os.pread(fd, end - start, start) + tail
                end = start
                if count > 0 and tail.count(b"\n") > count:
                    return _keep_last_lines(tail, count)
        finally:
            os.close(fd)
    return tail if count <= 0 else _keep_last_lines(tail, count)


def _keep_last_lines(data: bytes, count: int) -> bytes:
    cut = len(data)
    for _ in range(count + (1 if data.endswith(b"\n") else 0)):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return data
    return data[cut + 1 :]


# -- reading at a cursor -------------------------------------------------------------------


class BadCursor(ValueError):
    pass


def parse_cursor(text: str) -> tuple[int, int] | str:
    if text in ("start", "end"):
        return text
    inode, sep, offset = text.partition(":")
    if not sep or not inode.isdigit() or not offset.isdigit():
        raise BadCursor(f"bad cursor {text!r}: expected 'start', 'end' or INODE:OFFSET")
    return int(inode), int(offset)


def _utf8_tail_cut(data: bytes) -> int:
    """How many bytes at the end of ``data`` are an incomplete UTF-8 character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead
        if byte & 0x80 == 0:
            return 0
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return back if back < need else 0
    return 0


def _utf8_head_cut(data: bytes) -> int:
    """How many continuation bytes open ``data`` (the rest of a character cut off before)."""
    count = 0
    while count < min(3, len(data)) and data[count] & 0xC0 == 0x80:
        count += 1
    return count


def _chunk(seg: Segment, offset: int, data: bytes) -> dict[str, Any]:
    return {
        "file": seg.path.name,
        "cursor": f"{seg.inode}:{offset}",
        "end": f"{seg.inode}:{offset + len(data)}",
        "data": data.decode("utf-8", "replace"),
        "bytes": len(data),
    }


def _read(seg: Segment, offset: int, length: int, top: Path) -> bytes:
    fd = open_log(seg.path, top)
    if fd is None:
        return b""
    try:
        if os.fstat(fd).st_ino != seg.inode:
            return b""  # renamed under us; the next read finds it again
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def read(
    live: Path, cursor: str, length: int, *, backwards: bool = False, top: Path | None = None
) -> dict[str, Any]:
    """Up to ``length`` bytes after (or, ``backwards``, before) ``cursor``.

    Returns ``{"chunks": [...], "start": cursor, "end": cursor, "at_start": bool,
    "gap": bool, "files": [names]}``; ``start``/``end`` bound what was returned, so
    the next forward read passes ``end`` and the next backward one ``start``.
    """
    where = parse_cursor(cursor)
    length = max(0, length)
    top = top or live.parent
    segments = chain(live, top)
    result: dict[str, Any] = {
        "chunks": [],
        "gap": False,
        "files": [s.path.name for s in segments],
    }
    if not segments:
        result.update(start="start", end="start", at_start=True)
        return result
    if where == "start":
        index, offset = 0, 0
    elif where == "end":
        index, offset = len(segments) - 1, segments[-1].size
    else:
        assert isinstance(where, tuple)
        inode, offset = where
        index = next((i for i, s in enumerate(segments) if s.inode == inode), -1)
        if index < 0 or offset > segments[index].size:
            # our file was dropped (or the cursor is from something else): oldest kept
            result["gap"] = True
            index, offset = 0, 0
    chunks = _backward(segments, index, offset, length, top) if backwards else None
    if chunks is None:
        chunks = _forward(segments, index, offset, length, top)
    result["chunks"] = chunks
    if chunks:
        result["start"], result["end"] = chunks[0]["cursor"], chunks[-1]["end"]
    else:
        here = f"{segments[index].inode}:{offset}"
        result["start"] = result["end"] = here
    first = chunks[0]["cursor"] if chunks else f"{segments[index].inode}:{offset}"
    result["at_start"] = first == f"{segments[0].inode}:0"
    return result


def _forward(
    segments: list[Segment], index: int, offset: int, length: int, top: Path
) -> list[dict[str, Any]]:
    chunks = []
    while length > 0 and index < len(segments):
        seg = segments[index]
        data = _read(seg, offset, length, top)
        last = index == len(segments) - 1
        full = offset + len(data) >= seg.size
        if data and not (full and not last):
            # stopped inside a file (by length, or the live file's current end)
            data = data[: len(data) - _utf8_tail_cut(data)]
        if data:
            chunks.append(_chunk(seg, offset, data))
            length -= len(data)
            offset += len(data)
        if last or offset < seg.size:
            break
        index, offset = index + 1, 0
    return chunks


def _backward(
    segments: list[Segment], index: int, offset: int, length: int, top: Path
) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    while length > 0:
        start = max(0, offset - length)
        data = _read(segments[index], start, offset - start, top)
        if start > 0:
            cut = _utf8_head_cut(data)
            data, start = data[cut:], start + cut
        if data:
            chunks.insert(0, _chunk(segments[index], start, data))
            length -= len(data)
        if start > 0 or index == 0:
            break
        index -= 1
        offset = segments[index].size
    return chunks
