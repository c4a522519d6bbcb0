"""Opening paths under a directory a task controls, without ever following the task's links.

A sandbox (and its ``.logs``) belongs to the task's user, who may replace any name in it at any
moment: with a symbolic link to somewhere else, a hard link to a file it cannot write, a FIFO,
or a directory swapped in by ``rename(2)``. Root (the runner, the observer) must therefore
never hand a *path string* under a sandbox to the kernel. Instead:

* the walk starts at a descriptor of a trusted directory (the sandbox, whose own path root
  chose) and opens one name at a time relative to the previous descriptor, with
  ``O_NOFOLLOW``: a link anywhere on the way is refused, not followed;
* a leaf is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO can never block the open), then
  ``fstat`` on that descriptor decides: only regular files (and directories, where asked for)
  are kept, and a file root writes must have exactly one link;
* everything after that (reading, writing, ``fchown``, listing with ``scandir(fd)``, renaming
  with ``src_dir_fd``/``dst_dir_fd``) goes through the descriptors, so there is no window
  between a check and a use.

A refusal is a value (``Refusal``), carried by ``Refused`` (an ``OSError``, so code that
already handles failures to open a file handles it too); callers decide on ``.refusal``, never
on the message. Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
from enum import Enum

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
LEAF_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Refusal(Enum):
    """Why a name under a task's directory was not opened."""

    MISSING = (errno.ENOENT, "no such file")
    LINK = (errno.ELOOP, "a symbolic link (not followed)")
    NOT_DIRECTORY = (errno.ENOTDIR, "not a directory")
    DIRECTORY = (errno.EISDIR, "a directory")
    SPECIAL = (errno.EINVAL, "not a regular file (a FIFO, socket or device)")
    HARD_LINKED = (errno.EMLINK, "a file with more than one hard link")
    BAD_NAME = (errno.EINVAL, "not a plain name ('', '.', '..', a NUL byte or a '/')")
    DENIED = (errno.EACCES, "permission denied")

    @property
    def text(self) -> str:
        return self.value[1]


class Refused(OSError):
    """``refusal`` says why; ``filename`` is the name as the caller gave it (for messages)."""

    def __init__(self, refusal: Refusal, where: str) -> None:
        super().__init__(refusal.value[0], f"refused, {refusal.text}", where)
        self.refusal = refusal


def names(relative: str) -> list[str]:
    """The components of a relative path; '' and '.' are dropped, '..' and NUL refused."""
    if "\x00" in relative or relative.startswith("/"):
        raise Refused(Refusal.BAD_NAME, relative)
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Refused(Refusal.BAD_NAME, relative)
    return parts


def _check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\x00" in name:
        raise Refused(Refusal.BAD_NAME, name)


def _what_is(dir_fd: int, name: str) -> Refusal:
    """Why ``name`` could not be opened as wanted, looked at without following it."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return Refusal.MISSING
    except OSError:
        return Refusal.DENIED
    if stat.S_ISLNK(st.st_mode):
        return Refusal.LINK
    if stat.S_ISDIR(st.st_mode):
        return Refusal.DIRECTORY
    if stat.S_ISREG(st.st_mode):
        return Refusal.DENIED
    return Refusal.SPECIAL


_REFUSED_ERRNOS = {errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENXIO}
_DENIED_ERRNOS = {errno.EACCES, errno.EPERM}


def open_top(path: str | os.PathLike[str]) -> int:
    """A descriptor of a directory root trusts by its path (a sandbox root chose)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir(
    dir_fd: int,
    parts: list[str],
    *,
    create: int | None = None,
    owner: tuple[int, int] | None = None,
) -> int:
    """A new descriptor of the directory ``parts`` names under ``dir_fd`` (the caller closes it).

    ``create``: make missing directories with that mode. ``owner``: ``fchown`` every directory
    walked through (not ``dir_fd`` itself) to that uid/gid.
    """
    current = os.dup(dir_fd)
    os.set_inheritable(current, False)
    try:
        for name in parts:
            _check_name(name)
            following = _open_one_dir(current, name, create)
            os.close(current)
            current = following
            if owner is not None:
                os.fchown(current, *owner)
    except BaseException:
        os.close(current)
        raise
    return current


def _open_one_dir(dir_fd: int, name: str, create: int | None) -> int:
    for _ in range(2):
        try:
            return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            if create is None:
                raise Refused(Refusal.MISSING, name) from None
            try:
                os.mkdir(name, create, dir_fd=dir_fd)
            except FileExistsError:
                pass  # made meanwhile (or a link was): the open decides
        except OSError as e:
            if e.errno in _REFUSED_ERRNOS:
                found = _what_is(dir_fd, name)
                raise Refused(
                    Refusal.NOT_DIRECTORY if found is Refusal.DENIED else found, name
                ) from None
            if e.errno in _DENIED_ERRNOS:
                raise Refused(Refusal.DENIED, name) from None
            raise
    raise Refused(Refusal.MISSING, name)


def open_leaf(
    dir_fd: int,
    name: str,
    flags: int = os.O_RDONLY,
    mode: int = 0o644,
    *,
    directory_ok: bool = False,
    owner: tuple[int, int] | None = None,
) -> tuple[int, os.stat_result]:
    """Open ``name`` in ``dir_fd``: a regular file (or, ``directory_ok``, a directory).

    With a write flag the file must have exactly one link (a hard link to a file elsewhere
    would have root write it); ``owner``: ``fchown`` it. The descriptor is blocking again
    on return for a regular file. Errors other than refusals (a full disk) propagate as is.
    """
    _check_name(name)
    try:
        fd = os.open(name, flags | LEAF_FLAGS, mode, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in _REFUSED_ERRNOS:
            found = Refusal.MISSING if e.errno == errno.ENOENT else _what_is(dir_fd, name)
            if found is Refusal.DIRECTORY and directory_ok:
                found = Refusal.DENIED  # a directory opened for writing: not ours to do
            raise Refused(found, name) from None
        if e.errno in _DENIED_ERRNOS:
            raise Refused(Refusal.DENIED, name) from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            if not directory_ok:
                raise Refused(Refusal.DIRECTORY, name)
            return fd, st
        if not stat.S_ISREG(st.st_mode):
            raise Refused(Refusal.SPECIAL, name)
        if flags & (os.O_WRONLY | os.O_RDWR) and st.st_nlink > 1:
            raise Refused(Refusal.HARD_LINKED, name)
        os.set_blocking(fd, True)
        if owner is not None:
            os.fchown(fd, *owner)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_under(
    top: str | os.PathLike[str],
    relative: str,
    flags: int = os.O_RDONLY,
    *,
    directory_ok: bool = False,
) -> tuple[int, os.stat_result]:
    """``open_leaf`` of ``relative`` under the trusted directory ``top`` ('' is ``top``).

    A file with more than one link that ``top``'s owner does not own is refused for reading
    too: where ``fs.protected_hardlinks`` is off, a task can link any file of the host (say,
    ``/etc/shadow``) into its sandbox, and root must not read it out for the task."""
    parts = names(relative)
    top_fd = open_top(top)
    try:
        top_owner = os.fstat(top_fd).st_uid
        if not parts:
            if not directory_ok:
                raise Refused(Refusal.DIRECTORY, relative)
            fd = os.dup(top_fd)
            os.set_inheritable(fd, False)
            return fd, os.fstat(fd)
        parent = open_dir(top_fd, parts[:-1])
    finally:
        os.close(top_fd)
    try:
        fd, st = open_leaf(parent, parts[-1], flags, directory_ok=directory_ok)
    finally:
        os.close(parent)
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and st.st_uid != top_owner:
        os.close(fd)
        raise Refused(Refusal.HARD_LINKED, relative)
    return fd, st


def lstat_under(top: str | os.PathLike[str], relative: str) -> os.stat_result:
    """What ``relative`` under ``top`` is, its directories walked without following links."""
    parts = names(relative)
    if not parts:
        return os.stat(top)
    top_fd = open_top(top)
    try:
        parent = open_dir(top_fd, parts[:-1])
    finally:
        os.close(top_fd)
    try:
        try:
            return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise Refused(Refusal.MISSING, parts[-1]) from None
    finally:
        os.close(parent)


def rename(dir_fd: int, old: str, new: str) -> None:
    """Rename within one directory held open (a rename never follows a link)."""
    _check_name(old)
    _check_name(new)
    os.rename(old, new, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def unlink(dir_fd: int, name: str) -> None:
    _check_name(name)
    os.unlink(name, dir_fd=dir_fd)
