"""Writing one frame of a checkpoint stream: the format, and appending it whole or not at all.

The frame format (``stream.py`` reads it)::

    +----------------+----------------+---------------------+
    | length: u32 BE | crc32: u32 BE  | payload (length B)  |
    +----------------+----------------+---------------------+

This is the writing half only, with nothing but the standard library's smallest modules, so
that the shim (``executor/runner/shim.py``), which writes every run's records and is kept as
small as a process can be, can import it without the readers' machinery.
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from collections.abc import Callable

HEADER = struct.Struct(">II")
MAX_RECORD_BYTES = 1 << 20
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def no_space(error: OSError) -> bool:
    """Whether ``error`` means the file system (or the user's quota) is full."""
    return error.errno in NO_SPACE_ERRNOS


def frame(payload: bytes) -> bytes:
    if not payload or len(payload) > MAX_RECORD_BYTES:
        raise ValueError(f"record payload of {len(payload)} bytes is out of range")
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def append_whole(
    fd: int, data: bytes, path: object, write: Callable[[int, bytes], int] = os.write
) -> None:
    """Append ``data`` to the ``O_APPEND`` stream ``fd`` with one write, or not at all.

    On a short write or an error the stream is cut back to its previous end and ``OSError``
    is raised (``ENOSPC`` for a short write). ``path`` only names the stream in that error.
    """
    start = os.fstat(fd).st_size
    try:
        written = write(fd, data)
    except OSError:
        _cut_back(fd, start)
        raise
    if written != len(data):
        _cut_back(fd, start)
        raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)", str(path))


def _cut_back(fd: int, size: int) -> None:
    try:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)
    except OSError:
        pass  # the next writer to take the lock repairs a torn tail
