"""The disk usage of a directory tree, counted as GNU ``du`` counts it, kept current path by path.

What counts (``du -sb`` / ``du -sB1`` of the root, coreutils 9):

- every entry under the root and the root itself, found with ``lstat``: a symbolic link is
  never followed and counts its own size and blocks, a mount point is descended into;
- apparent size = ``st_size`` (directories included), allocated = ``st_blocks * 512``;
- a file with several hard links in the tree counts once (keyed by ``(st_dev, st_ino)``).

A ``Tally`` holds the tree as nested dictionaries (one node per directory, one inode key per
other entry) and one record per inode, so totals can be corrected for one path without a walk:
``refresh(path)`` looks at that path again and brings the tree in line with what it finds, so
applying it in any order, any number of times, after any change, converges to the truth. That
makes it safe to feed with paths from file system events, however late, repeated or mislabelled.

The task owns the tree and may swap any directory in it for a symbolic link at any moment,
while this runs as root: nothing under the root is looked at by path. Directories are opened
one name at a time relative to their parent's descriptor, never following a link
(``contract/confined.py``), listed with ``scandir(fd)`` and their entries looked at with
``fstatat(fd, name, AT_SYMLINK_NOFOLLOW)``; a directory that is not the one just counted at
its name (swapped meanwhile) is not walked. So a link planted anywhere on a path makes the path
vanish from the count instead of making root count what the link points to.

Entries that vanish or cannot be read while being looked at are normal (a process is writing
the tree): they are simply not counted, and nothing here raises for them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from borealis.contract import confined

# A non-directory entry is stored as its inode key; an inode's record is [links in the tree,
# st_size, st_blocks * 512].
InodeKey = int


def inode_key(st: os.stat_result) -> InodeKey:
    return (st.st_dev << 64) | st.st_ino


class _Dir:
    """A directory: its own inode and sizes, and its entries by name."""

    __slots__ = ("allocated", "apparent", "children", "key")

    def __init__(self, st: os.stat_result) -> None:
        self.key = inode_key(st)
        self.apparent = st.st_size
        self.allocated = st.st_blocks * 512
        self.children: dict[str, _Dir | InodeKey] = {}


_Entry = _Dir | InodeKey


class _DirFds:
    """Descriptors of the directories under a root, opened without following links, kept for
    one batch of changes (``Tally.apply``) so that paths in one directory open it once."""

    LIMIT = 256  # descriptors kept at most; then they are all closed and opened again as needed

    def __init__(self, root: str) -> None:
        self.root = root
        self._prefix = root.rstrip(os.sep) + os.sep
        self._open: dict[str, int] = {}

    def get(self, where: str) -> int | None:
        """A descriptor of the directory at ``where`` (the root or under it), or ``None`` when
        there is none there now (gone, not a directory, a link on the way, unreadable)."""
        fd = self._open.get(where)
        if fd is not None:
            return fd
        if len(self._open) >= self.LIMIT:
            self.close()
        # Up to the nearest directory already open (the root at worst), then down again.
        missing: list[str] = []
        at = where
        while at not in self._open:
            if at == self.root:
                try:
                    self._open[at] = confined.open_top(at)
                except OSError:
                    return None
                break
            if not at.startswith(self._prefix):
                return None
            at, _, name = at.rpartition(os.sep)
            missing.append(name)
        fd = self._open[at]
        for name in reversed(missing):
            try:
                fd = confined.open_dir(fd, [name])
            except (OSError, ValueError):
                return None
            at = at + os.sep + name
            self._open[at] = fd
        return fd

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


class Tally:
    """Running totals for the tree under ``root`` (an absolute, normalised path)."""

    def __init__(self, root: str) -> None:
        self.root = root = os.path.normpath(root)
        self.apparent = 0
        self.allocated = 0
        self.entries = 0
        self._prefix = root.rstrip(os.sep) + os.sep
        self._top: _Entry | None = None
        self._inodes: dict[InodeKey, list[int]] = {}

    @classmethod
    def scan(cls, root: str) -> Tally:
        """A full walk of ``root``."""
        tally = cls(root)
        tally.refresh(root)
        return tally

    @property
    def totals(self) -> tuple[int, int, int]:
        return self.apparent, self.allocated, self.entries

    # -- applying changes ------------------------------------------------------------------

    def apply(
        self, paths: Iterable[str], fresh: Iterable[str] = (), *, normalized: bool = False
    ) -> None:
        """``refresh`` each path, skipping those inside a subtree already walked or dropped.

        ``fresh``: directories known to be new (not the one counted at that path, even with
        the same inode number, which a file system reuses at once): each is walked again.
        ``normalized``: the caller vouches that every path is as ``os.path.normpath`` makes it.
        """
        if normalized:
            renew = set(fresh)
            # A set of paths (what DiskMonitor hands over) is sorted as it is, not copied.
            todo = renew.union(paths) if renew or not isinstance(paths, set) else paths
        else:
            renew = {os.path.normpath(p) for p in fresh}
            todo = renew.union(os.path.normpath(p) for p in paths)
        covered: set[str] = set()
        # Directories found on the way, by path: the next path in the same directory (sorted,
        # they follow each other) is not looked up from the top again. Emptied whenever a
        # subtree is walked or dropped, the only changes that replace or detach a directory.
        parents: dict[str, _Dir] = {}
        refresh, refresh_child, sep = self._refresh, self._refresh_child, os.sep
        fds = _DirFds(self.root)
        try:
            # Sorted, a directory comes before everything under it, so its walk can cover them.
            for path in sorted(todo):
                if covered and self._inside(path, covered):
                    continue
                again = bool(renew) and path in renew
                where, _, name = path.rpartition(sep)
                node = parents.get(where)  # only ever the root or under it: path is too
                if node is not None:
                    done = refresh_child(node, name, path, fds, again)
                else:
                    done = refresh(path, again, fds, parents)
                if done is not None:
                    covered.add(done)
                    parents.clear()
                    fds.close()  # directories were replaced or dropped: open them afresh
        finally:
            fds.close()

    def refresh(self, path: str, *, fresh: bool = False) -> str | None:
        """Look at ``path`` again; return the path of a subtree that was walked or dropped.

        A path outside the root is ignored. When a parent of ``path`` is not known as a
        directory, that parent is refreshed instead (which covers ``path``). ``fresh``: a
        directory found at ``path`` is walked even if it has the inode counted there.
        """
        # Normalised (no "..", "." or "//"), never resolved: resolving would follow the
        # symbolic links this must not follow. Then inside the root means under its prefix.
        fds = _DirFds(self.root)
        try:
            return self._refresh(os.path.normpath(path), fresh, fds)
        finally:
            fds.close()

    def _refresh(
        self, path: str, fresh: bool, fds: _DirFds, parents: dict[str, _Dir] | None = None
    ) -> str | None:
        if path == self.root:
            return self._refresh_root()
        prefix = self._prefix
        if not path.startswith(prefix):
            return None
        top = self._top
        if not isinstance(top, _Dir):
            return self._refresh_root()
        where, _, last = path.rpartition(os.sep)
        node = None if parents is None else parents.get(where)
        if node is None:
            node = top
            if len(where) >= len(prefix):  # not directly in the root
                names = where[len(prefix) :].split(os.sep)
                for depth, name in enumerate(names):
                    child = node.children.get(name)
                    if not isinstance(child, _Dir):
                        ancestor = prefix + os.sep.join(names[: depth + 1])
                        return self._refresh_child(node, name, ancestor, fds)
                    node = child
            if parents is not None:
                parents[where] = node
        return self._refresh_child(node, last, path, fds, fresh)

    def _refresh_root(self) -> str | None:
        st = _lstat(self.root)
        top = self._top
        if (
            st is not None
            and isinstance(top, _Dir)
            and stat.S_ISDIR(st.st_mode)
            and top.key == inode_key(st)
        ):
            self._resize_dir(top, st)
            return None
        if top is not None:
            self._drop(top)
            self._top = None
        if st is not None:
            self._top = self._build(None, self.root, st)
        return self.root

    def _refresh_child(
        self, parent: _Dir, name: str, path: str, fds: _DirFds, fresh: bool = False
    ) -> str | None:
        old = parent.children.get(name)
        dir_fd = fds.get(path.rpartition(os.sep)[0])
        st = None
        if dir_fd is not None:
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except (OSError, ValueError):
                pass
        if st is None:
            if old is None:
                return None
            del parent.children[name]
            self._drop(old)
            # Only a directory has entries that its removal covers (a deleted file covers
            # nothing, and reporting it would make apply() check every later path against it).
            return path if isinstance(old, _Dir) else None
        if stat.S_ISDIR(st.st_mode):
            if isinstance(old, _Dir) and old.key == inode_key(st) and not fresh:
                # Same directory: only its own size changed; its entries have their own events.
                self._resize_dir(old, st)
                return None
            if old is not None:
                self._drop(old)
            assert dir_fd is not None  # st was found through it
            parent.children[name] = self._build(dir_fd, name, st)
            return path
        key = (st.st_dev << 64) | st.st_ino  # inode_key(st), inlined
        if old == key:
            # The same file (the usual case: it was written to): its sizes, in place.
            record = self._inodes[key]
            apparent, allocated = st.st_size, st.st_blocks * 512
            self.apparent += apparent - record[1]
            self.allocated += allocated - record[2]
            record[1], record[2] = apparent, allocated
            return None
        if old is not None:
            self._drop(old)
        parent.children[name] = self._add_inode(st)
        return path if isinstance(old, _Dir) else None

    # -- bookkeeping -----------------------------------------------------------------------

    def _build(self, dir_fd: int | None, name: str, st: os.stat_result) -> _Entry:
        """Count ``name`` in ``dir_fd`` (already looked at: ``st``) and, for a directory,
        everything under it. ``dir_fd`` ``None``: ``name`` is the root's path."""
        if not stat.S_ISDIR(st.st_mode):
            return self._add_inode(st)
        top = self._add_dir(st)
        fd = _open_same(dir_fd, name, top.key)
        if fd is None:
            return top
        # Depth first, with an explicit stack rather than recursion (trees may be thousands of
        # levels deep): one descriptor per level, each with the subdirectories it has left.
        stack: list[tuple[int, list[tuple[_Dir, str]]]] = [(fd, self._list(top, fd))]
        try:
            while stack:
                fd, pending = stack[-1]
                if not pending:
                    os.close(fd)
                    stack.pop()
                    continue
                node, child_name = pending.pop()
                child_fd = _open_same(fd, child_name, node.key)
                if child_fd is not None:
                    stack.append((child_fd, self._list(node, child_fd)))
        finally:
            for fd, _ in stack:
                os.close(fd)
        return top

    def _list(self, node: _Dir, fd: int) -> list[tuple[_Dir, str]]:
        """Count the entries of the directory ``node`` open as ``fd``; its subdirectories."""
        try:
            with os.scandir(fd) as listing:
                found = list(listing)
        except OSError:
            # Vanished or unreadable: du counts the directory itself and reports an error; a
            # later event or walk brings the rest.
            return []
        children = node.children
        subdirectories = []
        for entry in found:
            try:
                est = entry.stat(follow_symlinks=False)  # fstatat(fd, name): no path
            except OSError:
                continue
            if stat.S_ISDIR(est.st_mode):
                child = self._add_dir(est)
                children[entry.name] = child
                subdirectories.append((child, entry.name))
            else:
                children[entry.name] = self._add_inode(est)
        return subdirectories

    def _add_dir(self, st: os.stat_result) -> _Dir:
        node = _Dir(st)
        self.apparent += node.apparent
        self.allocated += node.allocated
        self.entries += 1
        return node

    def _resize_dir(self, node: _Dir, st: os.stat_result) -> None:
        apparent, allocated = st.st_size, st.st_blocks * 512
        self.apparent += apparent - node.apparent
        self.allocated += allocated - node.allocated
        node.apparent, node.allocated = apparent, allocated

    def _add_inode(self, st: os.stat_result) -> InodeKey:
        key = inode_key(st)
        apparent, allocated = st.st_size, st.st_blocks * 512
        record = self._inodes.get(key)
        if record is None:
            self._inodes[key] = [1, apparent, allocated]
            self.apparent += apparent
            self.allocated += allocated
            self.entries += 1
        else:
            # Another link to an inode already counted: count it once, at its latest size.
            record[0] += 1
            self.apparent += apparent - record[1]
            self.allocated += allocated - record[2]
            record[1], record[2] = apparent, allocated
        return key

    def _drop_inode(self, key: InodeKey) -> None:
        record = self._inodes[key]
        record[0] -= 1
        if record[0] == 0:
            del self._inodes[key]
            self.apparent -= record[1]
            self.allocated -= record[2]
            self.entries -= 1

    def _drop(self, entry: _Entry) -> None:
        """Uncount ``entry`` and, for a directory, everything under it."""
        if not isinstance(entry, _Dir):
            self._drop_inode(entry)
            return
        stack = [entry]
        while stack:
            node = stack.pop()
            self.apparent -= node.apparent
            self.allocated -= node.allocated
            self.entries -= 1
            for child in node.children.values():
                if isinstance(child, _Dir):
                    stack.append(child)
                else:
                    self._drop_inode(child)

    def _inside(self, path: str, covered: set[str]) -> bool:
        parent = os.path.dirname(path)
        while len(parent) >= len(self.root):
            if parent in covered:
                return True
            up = os.path.dirname(parent)
            if up == parent:
                break
            parent = up
        return False


def _open_same(dir_fd: int | None, name: str, key: InodeKey) -> int | None:
    """A descriptor of the directory ``name`` in ``dir_fd`` (``None``: ``name`` is the root's
    path) if it is still the directory counted as ``key``; ``None`` when it is not (a link or
    another directory swapped in meanwhile), or cannot be opened (gone, unreadable, too deep
    for the descriptors left: du would not count it either)."""
    try:
        fd = confined.open_top(name) if dir_fd is None else confined.open_dir(dir_fd, [name])
    except (OSError, ValueError):
        return None
    if inode_key(os.fstat(fd)) != key:
        os.close(fd)
        return None
    return fd


def _lstat(path: str) -> os.stat_result | None:
    """``lstat``, or ``None`` when the path is gone or cannot be looked at (a normal race)."""
    try:
        return os.lstat(path)
    except (OSError, ValueError):
        # ValueError: a name with a NUL byte cannot exist; OSError covers ENOENT, ENOTDIR,
        # EACCES and ENAMETOOLONG (deeper than PATH_MAX: see docs/resources.md).
        return None
