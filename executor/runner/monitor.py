"""The runner's resource monitor: sample once per interval, keep a history, enforce limits.

The runner calls ``step`` from its loop; when a sample is due, the monitor samples
every live run (``sampler.py``) and the sandbox's disk usage (``diskusage.py``),
appends one record to the history (``contract/resources.py`` describes
the format and its bound), and says whether the task broke a limit:

* disk (``Resources.disk``, allocated bytes as ``du -sB1`` counts them) over the
  reservation: the task must fail. On by default, as in Aurora; ``enforce_disk``.
* RAM (``Resources.ram``, the RSS of all the task's processes) over the
  reservation: reported in every sample, and the task fails only with
  ``enforce_ram`` (off by default: under Mesos, cgroups enforce memory).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from borealis.contract.causes import OverLimit, Resource
from borealis.contract.layout import TaskPaths
from borealis.contract.replay import RunnerState
from borealis.contract.resources import Sample, TaskUsage, history_files
from borealis.contract.states import ProcessState
from borealis.contract.stream import HEADER, StreamWriter
from borealis.contract.taskspec import TaskSpec

if TYPE_CHECKING:
    from .diskusage import DiskMonitor

log = logging.getLogger("borealis.monitor")

DEFAULT_INTERVAL = 20.0
HISTORY_SECONDS = 3600.0
HISTORY_FILE_BYTES = 1 << 20  # two files at most: the history never takes over 2 MiB
FIRST_SAMPLE = 1.0  # seconds after the runner starts, at most


@dataclass(frozen=True)
class MonitorOptions:
    interval: float = DEFAULT_INTERVAL  # seconds between samples; 0 = no sampling
    disk: bool = True  # measure the sandbox's disk usage
    enforce_disk: bool = True
    enforce_ram: bool = False
    pss: bool = False  # also read PSS (smaps): about twice the cost of a sample
    disk_reconcile: float = 600.0  # a full walk of the sandbox this often (inotify mode)
    disk_scan: float = 60.0  # without inotify: a full walk at most this often
    history: float = HISTORY_SECONDS
    file_bytes: int = HISTORY_FILE_BYTES


class History:
    """Appends samples to the live file and rotates it (see ``contract/resources.py``)."""

    def __init__(self, live: Path, max_samples: int, max_bytes: int) -> None:
        self.live = live
        self.max_samples = max(1, max_samples)
        self.max_bytes = max_bytes
        self._writer: StreamWriter | None = None
        self._count = 0  # samples in the live file
        self._size = 0  # its bytes

    def append(self, sample: Sample) -> None:
        if self._writer is None:
            self._writer = StreamWriter.open(self.live, repair=False)
            kept = self._writer.repair()  # a restarted runner continues the live file
            self._count, self._size = len(kept.payloads), kept.end
        if self._count >= self.max_samples or self._size >= self.max_bytes:
            self._writer.close()
            self.live.replace(history_files(self.live)[0])
            self._writer = StreamWriter.open(self.live, repair=False)
            self._count, self._size = 0, 0
        payload = sample.encode()
        self._writer.append([payload])
        self._count += 1
        self._size += HEADER.size + len(payload)  # one frame

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ResourceMonitor:
    def __init__(
        self,
        paths: TaskPaths,
        spec: TaskSpec,
        sandbox: Path,
        options: MonitorOptions,
        clock: Callable[[], float],
    ) -> None:
        self.spec = spec
        self.options = options
        self.clock = clock
        # Imported here: psutil and watchdog cost a runner that does not sample ~2 MB.
        from .diskusage import DiskMonitor
        from .sampler import TaskSampler

        self.sampler = TaskSampler(pss=options.pss)
        per_file = math.ceil(options.history / options.interval) if options.interval else 1
        self.history = History(paths.resources, per_file, options.file_bytes)
        self.disk: DiskMonitor | None = (
            DiskMonitor(
                sandbox,
                reconcile_interval=options.disk_reconcile,
                scan_interval=options.disk_scan,
            )
            if options.disk
            else None
        )
        # The first sample comes soon after the start (not at once: the runs are only
        # being launched); the sandbox's first walk waits for it, off the launch path.
        self.next_at = clock() + min(options.interval, FIRST_SAMPLE)
        self._started = False
        self.last: Sample | None = None
        self._last_time: float | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.options.interval > 0

    def start(self) -> None:
        self._started = True
        if self.disk is not None:
            try:
                self.disk.start()
            except OSError as e:  # e.g. the sandbox is unreadable: report, do not fail
                log.warning("disk usage of the sandbox cannot be measured: %s", e)
                self.disk = None

    def close(self) -> None:
        self.history.close()
        if self.disk is not None:
            self.disk.close()

    def step(self, state: RunnerState) -> OverLimit | None:
        """Sample if due. Returns why the task must fail (a limit enforced), else ``None``."""
        now = self.clock()
        if not self.enabled or now < self.next_at:
            return None
        self.next_at = now + self.options.interval
        if not self._started:
            self.start()
        try:
            sample = self.take(state, now)
        except OSError as e:  # sampling is advisory: a failure never stops the task
            log.warning("resource sampling failed: %s", e)
            return None
        try:
            self.history.append(sample)
        except OSError as e:
            log.warning("cannot write the resource history: %s", e)
        self.last = sample
        return self.violation(sample.task)

    def take(self, state: RunnerState, now: float) -> Sample:
        live = [
            (name, run.run, run.pid, run.start_time or now)
            for name, runs in state.processes.items()
            if runs
            for run in runs[-1:]
            if run.state is ProcessState.RUNNING and run.pid is not None
        ]
        processes = self.sampler.sample(live, now)
        resources = self.spec.resources
        task = TaskUsage(
            cpu_reserved=resources.cpu if resources else None,
            ram_reserved=resources.ram if resources else None,
            disk_reserved=resources.disk if resources else None,
        )
        for usage in processes.values():
            task.add(usage)
        if self.disk is not None:
            disk = self.disk.usage()
            task.disk_apparent = disk.apparent
            task.disk_allocated = disk.allocated
            task.disk_mode = disk.mode
        interval = now - self._last_time if self._last_time is not None else 0.0
        self._last_time = now
        return Sample(now, interval, task, processes)

    def violation(self, task: TaskUsage) -> OverLimit | None:
        if self._failed:
            return None
        over = None
        disk, reserved = task.disk_allocated, task.disk_reserved
        if self.options.enforce_disk and disk is not None and reserved and disk > reserved:
            over = OverLimit(Resource.DISK, disk, reserved)
        ram = task.ram_reserved
        if over is None and ram and task.rss > ram:
            if self.options.enforce_ram:
                over = OverLimit(Resource.RAM, task.rss, ram)
            else:
                log.info("RAM over the reservation: %d of %d bytes resident", task.rss, ram)
        self._failed = over is not None
        return over
