"""Reading inside a task's sandbox, and nowhere else.

Every file the observer serves is named by a path *relative to a sandbox*, which
comes from a request and is therefore hostile. ``resolve`` refuses, before touching
the disk: NUL bytes, over-long paths or names, absolute paths and any ``..``
component. It then resolves symbolic links and requires the result to be the
sandbox itself or lie under it *as a directory prefix* (``/x/task1`` is not inside
``/x/task10``'s sandbox and vice versa). ``open_file`` opens what ``resolve`` gave
without following a final link and checks again, on the open descriptor
(``/proc/self/fd``), where the file really is, so a link swapped in between the
check and the open is caught too. Only regular files are read (a FIFO or a device
inside a sandbox would otherwise block or leak).

Reads are bounded: at most ``MAX_CHUNK`` bytes per request.
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

MAX_PATH = 4096
MAX_NAME = 255
MAX_CHUNK = 1 << 20
DEFAULT_CHUNK = 64 * 1024


class Refused(Exception):
    """The request names something the observer will not read (``status``: 403 or 404)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def resolve(sandbox: Path, relative: str) -> Path:
    """The real path ``relative`` names inside ``sandbox``; ``Refused`` if it is not inside."""
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
    top = os.path.realpath(sandbox)
    real = os.path.realpath(os.path.join(top, *parts))
    if not _within(real, top):
        raise Refused(403, "the path leads outside the sandbox")
    if not os.path.lexists(real):
        raise Refused(404, "no such file in the sandbox")
    return Path(real)


@dataclass
class OpenFile:
    fd: int
    size: int
    path: Path

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> OpenFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_file(sandbox: Path, relative: str) -> OpenFile:
    """Open a regular file inside ``sandbox`` for reading (``Refused`` otherwise)."""
    path = resolve(sandbox, relative)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Refused(404, "no such file in the sandbox") from None
    except OSError as e:
        raise Refused(403, f"cannot open the file: {e.strerror}") from None
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
        st = os.fstat(fd)
        if not _within(where, os.path.realpath(sandbox)):
            raise Refused(403, "the path leads outside the sandbox")
        if not stat.S_ISREG(st.st_mode):
            raise Refused(404 if stat.S_ISDIR(st.st_mode) else 403, "not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return OpenFile(fd, st.st_size, path)


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


def listing(sandbox: Path, relative: str) -> list[dict[str, Any]]:
    """The entries of a directory inside ``sandbox`` (``ls -l`` fields), sorted by name.

    Links are described, not followed; at most ``MAX_ENTRIES`` entries are returned.
    """
    path = resolve(sandbox, relative)
    if not path.is_dir():
        raise Refused(404, "not a directory")
    entries = []
    try:
        with os.scandir(path) as it:
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


def relative_to(sandbox: Path, path: Path) -> str:
    """``path`` (a result of ``resolve``) written relative to the sandbox ('' for itself)."""
    rel = os.path.relpath(path, os.path.realpath(sandbox))
    return "" if rel == "." else rel
