"""Reading inside a task's sandbox, and nowhere else.

Every file the observer serves is named by a path *relative to a sandbox*, which comes from a
request and is therefore hostile, and lies in a directory the task's user owns, who may swap
any name in it for a link, a FIFO or another directory at any moment. ``names`` refuses, before
touching the disk: NUL bytes, over-long paths or names, absolute paths and any ``..``
component. The path is then walked from a descriptor of the sandbox one name at a time,
never following a symbolic link (``contract/confined.py``), and the leaf is opened with
``O_NONBLOCK`` and kept only if ``fstat`` on that descriptor says it is a regular file or a
directory. Everything after that (reading, listing with ``scandir(fd)``) uses the descriptor,
so nothing swapped in between a check and a use is ever read. Links inside the sandbox are
listed as links, never followed (even to a file inside it).

Refusals are 403 (a link, a FIFO, a device, a bad name) or 404 (not there, or not the kind
asked for), with one line of text. Reads are bounded: at most ``MAX_CHUNK`` bytes per request.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from borealis.contract import confined

MAX_PATH = 4096
MAX_NAME = 255
MAX_CHUNK = 1 << 20
DEFAULT_CHUNK = 64 * 1024


class Refused(Exception):
    """The request names something the observer will not read (``status``: 403 or 404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_STATUS = {
    confined.Refusal.MISSING: 404,
    confined.Refusal.NOT_DIRECTORY: 404,
    confined.Refusal.DIRECTORY: 404,
}


def refused(error: confined.Refused) -> Refused:
    """The HTTP refusal for a refusal of the walk."""
    return Refused(_STATUS.get(error.refusal, 403), f"{error.refusal.text} in the sandbox")


def names(relative: str) -> list[str]:
    """The names ``relative`` walks through; ``Refused`` (403) for a path that is not plain."""
    if "\x00" in relative:
        raise Refused(403, "the path contains a NUL byte")
    if len(relative.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise Refused(403, f"the path is longer than {MAX_PATH} bytes")
    if relative.startswith("/"):
        raise Refused(403, "the path must be relative to the sandbox")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise Refused(403, "the path may not contain '..'")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise Refused(403, f"a name in the path is longer than {MAX_NAME} bytes")
    return parts


@dataclass
class Opened:
    """A regular file or a directory inside a sandbox, held open (``rel``: its clean path)."""

    fd: int
    st: os.stat_result
    rel: str

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def size(self) -> int:
        return self.st.st_size

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_entry(sandbox: Path, relative: str, *, directory_ok: bool = True) -> Opened:
    """Open what ``relative`` names inside ``sandbox``: a regular file or a directory."""
    rel = "/".join(names(relative))
    try:
        fd, st = confined.open_under(sandbox, rel, directory_ok=directory_ok)
    except confined.Refused as e:
        raise refused(e) from None
    except FileNotFoundError:
        raise Refused(404, "the sandbox is gone") from None
    except OSError as e:
        raise Refused(403, f"cannot open the file: {e.strerror}") from None
    return Opened(fd, st, rel)


def open_file(sandbox: Path, relative: str) -> Opened:
    """Open a regular file inside ``sandbox`` for reading (``Refused`` otherwise)."""
    return open_entry(sandbox, relative, directory_ok=False)


def bounded(offset: int, length: int, size: int) -> tuple[int, int]:
    """The byte range a read asks for, clamped to the file and to ``MAX_CHUNK``.

    ``offset=-1`` means "the end": with a ``length``, the last ``length`` bytes.
    ``length=-1`` means "as much as allowed".
    """
    length = MAX_CHUNK if length < 0 else min(length, MAX_CHUNK)
    if offset < 0:
        offset = max(0, size - length)
    offset = min(offset, size)
    return offset, min(length, size - offset)


@lru_cache(maxsize=256)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@lru_cache(maxsize=256)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


MAX_ENTRIES = 5000


def listing(directory: Opened) -> list[dict[str, Any]]:
    """The entries of an open directory (``ls -l`` fields), sorted by name.

    Read from the descriptor itself (``scandir(fd)``), so a directory swapped for a link after
    it was opened is not what gets listed. Links are described, not followed; at most
    ``MAX_ENTRIES`` entries are returned.
    """
    if not directory.is_dir:
        raise Refused(404, "not a directory")
    entries = []
    try:
        with os.scandir(directory.fd) as it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append(
                    {
                        "name": entry.name,
                        "type": _kind(st.st_mode),
                        "mode": stat.filemode(st.st_mode),
                        "nlink": st.st_nlink,
                        "user": _user(st.st_uid),
                        "group": _group(st.st_gid),
                        "size": st.st_size,
                        "mtime": st.st_mtime,
                    }
                )
                if len(entries) >= MAX_ENTRIES:
                    break
    except PermissionError:
        raise Refused(403, "the directory cannot be read") from None
    entries.sort(key=lambda e: (e["type"] != "dir", e["name"]))
    return entries
