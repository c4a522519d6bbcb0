"""A process's log as one logical stream across its rotated files.

The files of one stream, oldest first, are ``stdout.N`` ... ``stdout.1``, ``stdout``
(docs/logs.md). A rotation renames files but never rewrites one, so a position in the
stream is written as a *cursor* ``"<inode>:<offset>"``: the file (by inode, which a
rename keeps) and a byte offset in it. A cursor stays valid across any number of
rotations until its file is dropped beyond the last backup; a reader that fell that far
behind continues at the oldest file kept and is told so (``gap``).

``read`` returns *chunks*, one per file it touched, so a viewer can draw a marker
where one file ends and the next begins. Reads never return more than the requested
length (itself bounded by ``sandbox.MAX_CHUNK``) and never split a UTF-8 character
except at a file's own end.

``"start"`` is the beginning of the oldest file kept, ``"end"`` the end of the live one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sandbox import MAX_CHUNK

MAX_BACKUPS = 1000  # never look further down a chain than this


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Segment:
    path: Path
    inode: int
    size: int


def chain(live: Path) -> list[Segment]:
    """The stream's files that exist, oldest first."""
    found: list[Segment] = []
    for index in range(MAX_BACKUPS + 1):
        path = live if index == 0 else live.with_name(f"{live.name}.{index}")
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            if index == 0:
                continue  # between a rename and the new live file
            break
        found.append(Segment(path, st.st_ino, st.st_size))
    found.reverse()
    return found


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


def _read(seg: Segment, offset: int, length: int) -> bytes:
    try:
        with open(seg.path, "rb") as fp:
            if os.fstat(fp.fileno()).st_ino != seg.inode:
                return b""  # renamed under us; the next read finds it again
            fp.seek(offset)
            return fp.read(length)
    except FileNotFoundError:
        return b""


def read(live: Path, cursor: str, length: int, *, backwards: bool = False) -> dict[str, Any]:
    """Up to ``length`` bytes after (or, ``backwards``, before) ``cursor``.

    Returns ``{"chunks": [...], "start": cursor, "end": cursor, "at_start": bool,
    "gap": bool, "files": [names]}``; ``start``/``end`` bound what was returned, so
    the next forward read passes ``end`` and the next backward one ``start``.
    """
    where = parse_cursor(cursor)
    length = max(0, min(length, MAX_CHUNK))
    segments = chain(live)
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
    chunks = _backward(segments, index, offset, length) if backwards else None
    if chunks is None:
        chunks = _forward(segments, index, offset, length)
    result["chunks"] = chunks
    if chunks:
        result["start"], result["end"] = chunks[0]["cursor"], chunks[-1]["end"]
    else:
        here = f"{segments[index].inode}:{offset}"
        result["start"] = result["end"] = here
    first = chunks[0]["cursor"] if chunks else f"{segments[index].inode}:{offset}"
    result["at_start"] = first == f"{segments[0].inode}:0"
    return result


def _forward(segments: list[Segment], index: int, offset: int, length: int) -> list[dict[str, Any]]:
    chunks = []
    while length > 0 and index < len(segments):
        seg = segments[index]
        data = _read(seg, offset, length)
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
    segments: list[Segment], index: int, offset: int, length: int
) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    while length > 0:
        start = max(0, offset - length)
        data = _read(segments[index], start, offset - start)
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
