"""Disk usage of a sandbox, kept current from inotify events instead of walking the tree each time.

``DiskMonitor(root).start()`` puts an inotify watch on every directory of the tree
(``diskwatch.Watches``), then walks it once (``diskscan.Tally``). No thread is started: the
kernel queues the events, and ``usage()``, called from the runner's thread, reads all of them
at once without blocking, notes which paths they name (each once, however many events name it),
looks at those paths again and returns the totals. Cheap when little changes, exact after
quiescence. Between two calls the events wait in the kernel, which merges an event with the
last one queued when they are identical: a file written continuously costs one event per call.

Modes and fallbacks (docs/resources.md has the user-facing version):

- ``inotify``: as above. A full walk replaces the incremental totals when the kernel's event
  queue overflowed (more than ``fs.inotify.max_queued_events`` events between two calls; the
  watches are then set up afresh), when more than ``MAX_PENDING`` paths are waiting (a walk is
  then cheaper and memory stays bounded), and every ``reconcile_interval`` seconds as a safety
  net (``drift_corrections`` counts the walks that found different totals).
- ``scan``: no watches; ``usage()`` walks the tree when ``scan_interval`` has passed since the
  last walk and returns the last totals otherwise. Used when asked (``inotify=False``), when
  inotify cannot be set up (no inotify instance or watch left for this user, watchdog missing
  the attributes ``diskwatch`` relies on), when the per-user watch limit is reached later for a
  new directory or the sandbox has more than ``diskwatch.MAX_WATCHES`` directories, when the
  sandbox itself stops being watched, or when reading events failed.

Requires watchdog >= 7.1 (it reports ``IN_Q_OVERFLOW`` to ``on_queue_overflow``; earlier
releases dropped it silently).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from borealis.executor.runner.diskscan import Tally
from borealis.executor.runner.diskwatch import Watches

log = logging.getLogger(__name__)

INOTIFY = "inotify"
SCAN = "scan"

# Paths waiting for usage() beyond which they are forgotten and the next usage() walks instead.
MAX_PENDING = 65536


@dataclass(frozen=True)
class DiskUsage:
    apparent: int  # bytes, what `du -sb ROOT` prints
    allocated: int  # bytes, what `du -sB1 ROOT` prints
    entries: int  # entries of any type (hard links once), the root included
    mode: str  # "inotify" or "scan": which method produced it


class DiskMonitor:
    """Disk usage of the tree under ``root``; one thread at a time, and no thread of its own."""

    def __init__(
        self,
        root: Path,
        *,
        reconcile_interval: float = 600.0,
        scan_interval: float = 60.0,
        inotify: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Absolute but not resolved: a symbolic link in the sandbox must not be followed.
        self.root = os.path.abspath(root)
        self.reconcile_interval = reconcile_interval
        self.scan_interval = scan_interval
        self.mode = INOTIFY if inotify else SCAN
        self.clock = clock
        self.fallback_reason: str | None = None if inotify else "inotify=False"
        self.drift_corrections = 0  # reconciliation walks whose totals differed
        self.overflows = 0  # kernel event queue overflows seen
        self.walks = 0  # full walks done
        self._tally = Tally(self.root)
        self._last_walk = 0.0
        self._started = False
        self._closed = False
        self._watches: Watches | None = None

    def start(self) -> None:
        """Set up the watches (unless in scan mode), then walk the tree once."""
        if self._started:
            return
        self._started = True
        if self.mode == INOTIFY:
            self._watch()
        # After the watches: whatever changes during the walk is also queued, and looked at
        # again by the next usage().
        self._walk()

    def usage(self) -> DiskUsage:
        """The current totals; walks only when a walk is due (see the module docstring)."""
        if not self._started:
            raise RuntimeError("DiskMonitor.usage() before start()")
        if self._closed:
            return self._result()
        now = self.clock()
        watches = self._watches
        if self.mode == INOTIFY and watches is not None:
            try:
                watches.drain()
            except Exception as err:
                # Not a limit of the host: watchdog changed under us, or a bug. Walking works.
                log.exception("%s: cannot read inotify events", self.root)
                watches.broken = watches.broken or f"reading inotify events failed: {err!r}"
            if watches.broken is not None:
                self._fall_back(watches.broken)
                self._walk()
            elif watches.overflowed:
                self.overflows += 1
                log.warning("%s: inotify queue overflowed; watching afresh and walking", self.root)
                self._unwatch()
                self._watch()
                self._walk()
            elif len(watches.changed) > MAX_PENDING:
                self._walk()
            else:
                changed, watches.changed = watches.changed, set()
                fresh, watches.fresh = watches.fresh, set()
                # Made of the (normalised) root and names from the kernel, or normalised by note().
                self._tally.apply(changed, fresh, normalized=True)
                if now - self._last_walk >= self.reconcile_interval:
                    self._reconcile()
        elif now - self._last_walk >= self.scan_interval:
            self._walk()
        return self._result()

    def close(self) -> None:
        """Stop watching (idempotent); ``usage()`` then returns the last totals."""
        self._closed = True
        self._unwatch()

    def note(self, *paths: str) -> None:
        """These paths changed (or may have): the next ``usage()`` looks at them again."""
        if self._watches is not None:
            self._watches.note(os.path.normpath(p) for p in paths)

    # -- internals --------------------------------------------------------------------------

    def _watch(self) -> None:
        try:
            self._watches = watches = Watches(self.root)
        except OSError as err:
            self._fall_back(f"inotify cannot be used: {err}")
            return
        except Exception as err:
            # Not a limit of the host: watchdog changed under us. Walking still works.
            log.exception("%s: cannot use watchdog's inotify instance", self.root)
            self._fall_back(f"inotify cannot be used: {err!r}")
            return
        if watches.broken is not None:
            self._fall_back(watches.broken)

    def _unwatch(self) -> None:
        watches, self._watches = self._watches, None
        if watches is not None:
            watches.close()

    def _walk(self) -> None:
        # Whatever was noted before the walk starts is seen by the walk.
        if self._watches is not None:
            self._watches.changed = set()
            self._watches.fresh = set()
        # Intervals run from the start of one walk to the start of the next.
        self._last_walk = self.clock()
        self._tally = Tally(self.root)  # the old tree goes first: one tree in memory at a time
        self._tally = Tally.scan(self.root)
        self.walks += 1

    def _reconcile(self) -> None:
        before = self._tally.totals
        self._walk()
        if self._tally.totals != before:
            # Also counts a write that landed during the walk; the walk's totals are kept.
            self.drift_corrections += 1
            log.info(
                "%s: reconciliation walk corrected %s to %s", self.root, before, self._tally.totals
            )

    def _fall_back(self, reason: str) -> None:
        log.warning(
            "%s: disk usage falls back to walking every %gs: %s",
            self.root,
            self.scan_interval,
            reason,
        )
        self.mode = SCAN
        self.fallback_reason = reason
        self._unwatch()

    def _result(self) -> DiskUsage:
        apparent, allocated, entries = self._tally.totals
        return DiskUsage(apparent, allocated, entries, self.mode)
