"""One inotify watch per directory of a tree, read without threads: which paths changed.

``Watches(root)`` adds a watch to every directory under ``root`` through watchdog's
``InotifyFD``, which is never started (no thread): ``drain()``, called from the caller's thread
(``DiskMonitor.usage()``), reads whatever the kernel queued since the previous call from the
instance's descriptor, as long as it is readable (``poll`` with a zero timeout, so it never
blocks), splits each buffer with watchdog's own parser into ``(wd, mask, cookie, name)`` tuples
and handles them here, synchronously, as ``InotifyFD.handle_event`` would hand them to
``on_event`` / ``on_watch_deleted`` / ``on_queue_overflow``, but without building an event object,
taking a lock and copying the callbacks for each (most of what a reading cost): an event is
looked up by its watch descriptor in the tree below, and ``IN_IGNORED`` also makes watchdog
forget the watch, as its ``handle_event`` does, so that ``close()`` does not remove it again.
The handling puts paths into ``changed`` (each once: a set) and directories that got a watch
into ``fresh`` (the caller looks at both again), and keeps the watches in line with the tree:

- a watch descriptor maps to a node of a tree of watched directories (parent, name,
  children), so moving a directory moves its node and renames the paths of its subtree only;
- a directory created or moved in gets watches for its whole subtree (each watch added before
  its directory is listed, so an entry made meanwhile is either listed or reported); adding a
  watch for a directory already watched at that place returns the same descriptor and stops
  there, so ``mkdir -p`` costs one listing per directory, not one per level above it; one
  already watched elsewhere (moved here) is listed again with its subtree, since events read
  with the paths its move made stale may have failed to watch what was created in it;
- a node taken out of the tree (its directory moved from, deleted, replaced, not found when
  its parent is listed again) and not put back by the end of the drain loses the watches of
  its subtree: a directory moved out of the tree is no longer watched;
- ``IN_Q_OVERFLOW`` calls ``on_queue_overflow`` then ``on_events_lost`` (in watchdog's order,
  whoever dispatches it), which sets ``overflowed``: events were lost, the caller starts afresh.

Events are read late (up to one sampling interval), so the paths computed from them can be
stale; nothing relies on them being current: the caller looks at each path again rather than
replaying events (a stale path costs an ``lstat``, never a wrong total), and the tree of watches
converges the same way, since every later change to a name raises a later event about it.

watchdog has no public accessor for the descriptor (needed to poll and read it), nor for its
parser or for forgetting a watch the kernel removed, and its ``close()`` only closes the
descriptor itself when it believes no thread is reading, so ``_InotifyFD`` relies on the
private attributes listed in ``_InotifyFD._PRIVATE``, checked once: if a later watchdog renames
one, ``Watches`` raises ``Unsupported`` and the monitor walks instead (scan mode), with the
reason logged.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import sys
from collections.abc import Iterable, Iterator

from watchdog.observers.inotify_c import (
    CallbackId,
    InotifyConstants,
    InotifyEvent,
    InotifyFD,
    Mask,
    WatchCallback,
    WatchDescriptor,
)

from borealis.contract import confined

log = logging.getLogger(__name__)

IN_MODIFY = InotifyConstants.IN_MODIFY
IN_CREATE = InotifyConstants.IN_CREATE
IN_DELETE = InotifyConstants.IN_DELETE
IN_MOVED_FROM = InotifyConstants.IN_MOVED_FROM
IN_MOVED_TO = InotifyConstants.IN_MOVED_TO
IN_ISDIR = InotifyConstants.IN_ISDIR
IN_IGNORED = InotifyConstants.IN_IGNORED
IN_Q_OVERFLOW = InotifyConstants.IN_Q_OVERFLOW

# What can change a size: creations, deletions and moves of entries (each also changes the size
# of its directory), writes and truncations (IN_MODIFY), and a watched directory's own deletion.
# Not subscribed, so the kernel does not even queue them: opens, closes, reads and attribute
# changes (a link count change needs nothing: hard links are counted by inode). IN_EXCL_UNLINK:
# nothing about a file after it was unlinked (a deleted log still being written). IN_ONLYDIR
# and IN_DONT_FOLLOW: a symbolic link to a directory is not watched. Blocks that change with no
# write (XFS trimming its preallocation, writes through mmap) wait for the reconciliation walk.
MASK = Mask(
    IN_MODIFY
    | IN_CREATE
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | InotifyConstants.IN_DELETE_SELF
    | InotifyConstants.IN_EXCL_UNLINK
    | InotifyConstants.IN_ONLYDIR
    | InotifyConstants.IN_DONT_FOLLOW
)

# A watch added through ``/proc/self/fd/N`` must follow that (magic) link to the directory
# opened without following any link on its path.
FD_MASK = Mask(MASK & ~InotifyConstants.IN_DONT_FOLLOW)

_FS_ENCODING = sys.getfilesystemencoding()

# Bytes per read(): some 4,000 events with short names.
READ_SIZE = 128 * 1024


class Unsupported(RuntimeError):
    """This watchdog lacks what ``_InotifyFD`` relies on."""


class _InotifyFD(InotifyFD):
    """watchdog's inotify instance, read by its owner instead of by its thread."""

    _PRIVATE = (
        "_inotify_fd",
        "_is_reading",
        "_get_or_create_watch",
        "_lock",
        "_remove_watch",
        "_parse_event_buffer",
    )

    def __init__(self) -> None:
        super().__init__()  # OSError: no inotify instance left (EMFILE)
        missing = [name for name in self._PRIVATE if not hasattr(self, name)]
        # No thread is ever reading: close() then closes the descriptors itself (it would
        # otherwise leave that to the reader it believes is there, and leak them).
        self._is_reading = False
        if missing:
            try:
                self.close()
            except Exception:
                pass
            raise Unsupported(f"watchdog's InotifyFD has no {', '.join(missing)}")
        # watchdog calls inotify_init(), not inotify_init1(IN_CLOEXEC): every program the runner
        # starts would inherit the descriptor, and with it this instance and its watches.
        os.set_inheritable(self._inotify_fd, False)

    @property
    def descriptor(self) -> int:
        return self._inotify_fd

    def parse(self, buffer: bytes) -> Iterator[tuple[WatchDescriptor, Mask, int, bytes]]:
        """The events in what ``read()`` returned, as ``(wd, mask, cookie, name)``."""
        return self._parse_event_buffer(buffer)

    def forget(self, wd: WatchDescriptor) -> bool:
        """``IN_IGNORED``: the kernel removed the watch; drop it as ``handle_event`` does.
        True if it was still registered (its callbacks' ``on_watch_deleted`` is then due)."""
        with self._lock:
            return bool(self._remove_watch(wd))

    def _add_callback(
        self, path: bytes, mask: Mask, callback: WatchCallback, id_: CallbackId
    ) -> WatchDescriptor:
        # watchdog's version warns when the watch already has this callback, which is what a
        # second registration of a directory does (a tree created while it is being listed);
        # registering again is otherwise harmless. This is the same without the warning.
        watch = self._get_or_create_watch(path, mask)
        watch.callbacks[id_] = callback
        return watch.wd


class _Node:
    """A watched directory: where it is (``path`` is None once detached from the tree)."""

    __slots__ = ("children", "name", "parent", "path", "prefix", "wd")

    def __init__(self, wd: WatchDescriptor, parent: _Node | None, name: str) -> None:
        self.wd = wd
        self.parent = parent
        self.name = name
        self.children: dict[str, _Node] = {}
        self.path: str | None = None
        self.prefix: str | None = None  # path + "/": what the names of its events go after


# Directories watched per sandbox at most; beyond it the monitor walks the tree instead
# (diskusage's scan mode), so one task cannot take every inotify watch of the host's root.
MAX_WATCHES = 16384
_ID = CallbackId(1)


class Watches:
    """Watches on every directory under ``root``; ``drain()`` collects the changed paths."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.changed: set[str] = set()  # paths to look at again; the caller empties it
        self.fresh: set[str] = set()  # directories watched since: to walk (the caller empties it)
        self.overflowed = False  # the kernel dropped events: start afresh
        self.broken: str | None = None  # why events from some directory would be missing
        self._closed = False
        self._nodes: dict[WatchDescriptor, _Node] = {}
        self._loose: list[_Node] = []  # taken out of the tree during this drain
        self._drain_limit = 2 * _queue_size()
        self._fd = _InotifyFD()
        try:
            self._poll = select.poll()
            self._poll.register(self._fd.descriptor, select.POLLIN)
            # The root must be watched (OSError otherwise); below it, whatever can be.
            wd = self._fd.add_callback(os.fsencode(root), MASK, self, _ID)
            if wd < 0:  # watchdog returns -1 instead of raising EACCES
                raise PermissionError(errno.EACCES, "cannot watch the sandbox: permission denied")
            self._top = top = _Node(wd, None, "")
            self._nodes[wd] = top
            self._set_paths(top, root)
            self._register(self._subdirectories(top, root))
            self.fresh.clear()  # the caller walks the whole tree next
        except BaseException:
            self.close()
            raise

    def drain(self) -> None:
        """Handle every event queued so far (up to twice the kernel queue's size), not blocking."""
        descriptor, poll, limit = self._fd.descriptor, self._poll.poll, self._drain_limit
        handled = 0
        while not self._closed and not self.overflowed and handled < limit and poll(0):
            buffer = os.read(descriptor, READ_SIZE)
            if not buffer:
                break
            handled += self._handle(buffer)
        # What was taken out of the tree and not put back (a directory moved out; moved to a
        # place it had left again by the time its IN_MOVED_TO was read; whose IN_MOVED_TO is
        # not queued yet, which then comes in as new) is watched no more.
        loose, self._loose = self._loose, []
        for node in loose:
            if node.path is None and self._nodes.get(node.wd) is node:
                self._unwatch(node)

    def note(self, paths: Iterable[str]) -> None:
        self.changed.update(paths)

    def close(self) -> None:
        """Remove the watches and close the descriptors (idempotent)."""
        if not self._closed:
            self._closed = True
            self._nodes.clear()
            self._fd.close()

    # -- the events (read by drain(); the callbacks are what handle_event would call) -------

    def _handle(self, buffer: bytes) -> int:
        """Handle the events in ``buffer`` (one ``read()``); return how many there were."""
        nodes, add, count = self._nodes, self.changed.add, 0
        for wd, mask, _, raw in self._fd.parse(buffer):
            count += 1
            if mask & (IN_Q_OVERFLOW | IN_IGNORED):
                if mask & IN_Q_OVERFLOW:  # wd == -1: the last event queued (the caller logs it)
                    # in watchdog's order: every callback hears of the overflow, then of the loss
                    self.on_queue_overflow()
                    self.on_events_lost()
                    return count
                if self._fd.forget(wd):
                    self.on_watch_deleted(wd)
                continue
            # The common case inlined (a file written to, in a directory in the tree); the rest
            # is on_event()'s. An event no watch of the tree asked for (wd == -1) has no node.
            node = nodes.get(wd)
            if node is None:
                continue
            prefix = node.prefix
            if prefix is None:
                continue
            if raw and mask & IN_MODIFY:
                add(prefix + raw.decode(_FS_ENCODING, "surrogateescape"))
            else:
                self._on_event(node, mask, raw)
        return count

    def on_event(self, event: InotifyEvent) -> None:
        node = self._nodes.get(event.wd)
        if node is not None:
            self._on_event(node, event.mask, event.name)

    def _on_event(self, node: _Node, mask: int, raw: bytes) -> None:
        where, prefix = node.path, node.prefix
        if where is None or prefix is None:
            return  # a directory no longer in the tree: its new place (if any) is walked
        if not raw:
            # About the watched directory itself: IN_DELETE_SELF, IN_UNMOUNT.
            self.changed.add(where)
            return
        name = raw.decode(_FS_ENCODING, "surrogateescape")  # os.fsdecode(), inlined
        path = prefix + name
        changed = self.changed
        if mask & IN_MODIFY:
            changed.add(path)
            return
        # Created, deleted, moved from or to: the directory holding it changed too.
        changed.add(path)
        changed.add(where)
        if not mask & IN_ISDIR:
            return
        if mask & (IN_CREATE | IN_MOVED_TO):
            # A directory moved within the tree is put back by this (its watch is found at
            # the new place); the end of the drain unwatches one that is not.
            self._register([(node, name, path, False)])
        elif mask & (IN_DELETE | IN_MOVED_FROM):
            child = node.children.get(name)
            if child is not None:
                self._detach(child)

    def on_watch_deleted(self, wd: WatchDescriptor) -> None:
        # IN_IGNORED: the kernel removed the watch (its directory was deleted or unmounted).
        if self._closed:
            return
        node = self._nodes.pop(wd, None)
        if node is None:
            return
        if node is self._top:
            self.broken = "the sandbox itself is no longer watched (deleted or unmounted)"
            return
        parent, name, path = node.parent, node.name, node.path
        self._detach(node)
        # A deleted directory is empty: what the tree still has under it went elsewhere while
        # the events saying so were dropped (they came from a directory out of the tree).
        self._loose.extend(node.children.values())
        if parent is not None and path is not None:
            # Still in the tree: usually a deletion whose IN_DELETE is next in the queue
            # (ENOENT below); after an unmount, the directory now at that path gets a watch.
            self.changed.add(path)
            self._register([(parent, name, path, False)])

    def on_queue_overflow(self) -> None:
        """The kernel's queue overflowed; ``on_events_lost`` follows (watchdog's protocol)."""

    def on_events_lost(self) -> None:
        """Events were dropped: the caller starts afresh (a walk and new watches)."""
        self.overflowed = True

    # -- the tree of watches ----------------------------------------------------------------

    def _register(self, pending: list[tuple[_Node, str, str, bool]]) -> None:
        """Watch each directory given and every directory under it (an explicit stack: trees
        may be thousands of levels deep). With ``deep``, the directories under one already
        watched at that place are looked at too, else that is where it stops."""
        while pending:
            parent, name, path, deep = pending.pop()
            wd = self._watch(path)
            if wd is None:
                continue
            node = self._nodes.get(wd)
            if node is not None:
                if node.parent is not parent or node.name != name or node.path is None:
                    # Moved here. Events from its subtree were read with paths that the move
                    # made stale, so a directory created there may have failed to get a watch
                    # (ENOENT): its subtree is looked at again.
                    self._place(node, parent, name)
                    deep = True
                if deep and node.path is not None:
                    pending.extend(self._subdirectories(node, node.path, deep=True))
                # Otherwise already watched here, and so is its subtree.
                continue
            node = _Node(wd, None, name)
            self._nodes[wd] = node
            self._place(node, parent, name)
            if node.path is None:
                self._unwatch(node)  # nowhere to put it (stale): later events bring it back
            else:
                # Its entries made before its watch raised no event: it must be walked, even
                # if it took the inode number of a directory counted there before.
                self.fresh.add(node.path)
                pending.extend(self._subdirectories(node, node.path, deep))

    def _subdirectories(
        self, node: _Node, path: str, deep: bool = False
    ) -> list[tuple[_Node, str, str, bool]]:
        found = []
        try:
            # Listed through a descriptor opened from the root one name at a time, never
            # following a link: a directory swapped for one is not listed (docs/security.md).
            fd = self._open_dir(path)
            try:
                with os.scandir(fd) as listing:
                    for entry in listing:
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                found.append((node, entry.name, path + os.sep + entry.name, deep))
                        except OSError:
                            continue
            finally:
                os.close(fd)
        except (OSError, ValueError):
            return []  # vanished or unreadable: its own events (or their absence) say the rest
        if deep and node.children:
            # What the tree has under it and is not there any more went elsewhere.
            names = {name for _, name, _, _ in found}
            for name, child in list(node.children.items()):
                if name not in names:
                    self._detach(child)
        return found

    def _open_dir(self, path: str) -> int:
        """A descriptor of the directory ``path`` (the root or under it), links not followed."""
        prefix = self.root.rstrip(os.sep) + os.sep
        if path != self.root and not path.startswith(prefix):
            raise confined.Refused(confined.Refusal.BAD_NAME, path)
        top = confined.open_top(self.root)
        if path == self.root:
            return top
        try:
            relative = path[len(prefix) :]
            return confined.open_dir(top, confined.names(relative))
        finally:
            os.close(top)

    def _watch(self, path: str) -> WatchDescriptor | None:
        if self.broken is not None:
            return None  # falling back anyway: no more watches
        if len(self._nodes) >= MAX_WATCHES:
            # Watches are root's, counted against one per-user limit for the whole host: a
            # task that makes directories without end must not use them all up.
            self.broken = f"more than {MAX_WATCHES} directories to watch"
            return None
        try:
            fd = self._open_dir(path)
        except (OSError, ValueError):
            return None  # gone, not a directory, a link on the way, unreadable: nothing to watch
        try:
            # The directory just opened, through its descriptor: inotify_add_watch on the path
            # would follow a link the task put in place of a directory above it.
            wd = self._fd.add_callback(f"/proc/self/fd/{fd}".encode(), FD_MASK, self, _ID)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.ENOMEM):
                self.broken = f"cannot watch {path}: {err.strerror}"
            return None
        finally:
            os.close(fd)
        if wd < 0:
            # EACCES (a directory this user may not read): watchdog keeps a watch entry for
            # -1 instead of raising. What du cannot read is counted without its contents anyway.
            self._fd.remove_callbacks([(wd, _ID)])
            return None
        return wd

    def _place(self, node: _Node, parent: _Node, name: str) -> None:
        """Put ``node`` at ``parent/name``, replacing whatever the tree had there."""
        above: _Node | None = parent
        while above is not None:
            if above is node:
                return  # stale: it cannot be under itself; later events put it right
            above = above.parent
        if parent.prefix is None:
            return
        self._detach(node)
        old = parent.children.get(name)
        if old is not None:
            self._detach(old)
        parent.children[name] = node
        node.parent, node.name = parent, name
        self._set_paths(node, parent.prefix + name)

    def _detach(self, node: _Node) -> None:
        """Take ``node`` out of the tree: unwatched at the end of the drain unless put back."""
        parent = node.parent
        if parent is not None and parent.children.get(node.name) is node:
            del parent.children[node.name]
        node.parent = None
        if node.path is not None:
            self._set_paths(node, None)
            self._loose.append(node)

    def _set_paths(self, node: _Node, path: str | None) -> None:
        stack = [(node, path)]
        while stack:
            node, path = stack.pop()
            prefix = None if path is None else path.rstrip("/") + "/"
            node.path, node.prefix = path, prefix
            for child in node.children.values():
                stack.append((child, None if prefix is None else prefix + child.name))

    def _unwatch(self, node: _Node) -> None:
        """Remove the watches of ``node`` and everything under it."""
        self._detach(node)
        wds = []
        stack = [node]
        while stack:
            below = stack.pop()
            if self._nodes.pop(below.wd, None) is not None:
                wds.append(below.wd)
            stack.extend(below.children.values())
            below.children.clear()
        try:
            self._fd.remove_callbacks([(wd, _ID) for wd in wds])
        except OSError as err:
            log.warning("%s: cannot remove %d inotify watches: %s", self.root, len(wds), err)


def _queue_size() -> int:
    """``fs.inotify.max_queued_events``: events the kernel keeps before it overflows."""
    try:
        with open("/proc/sys/fs/inotify/max_queued_events") as fp:
            return max(1024, int(fp.read()))
    except (OSError, ValueError):
        return 16384
