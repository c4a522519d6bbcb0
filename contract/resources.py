"""Resource samples: what the runner measured, in a bounded history beside the checkpoint.

The runner samples its task every interval (``executor/runner/monitor.py``) and appends
one sample to ``checkpoints/<task_id>/resources``, a stream of framed records
(``stream.py``) whose payloads are JSON objects::

    {"v": 1, "t": 1764150000.0, "interval": 20.0,
     "task": {<usage>, "disk_apparent": 8192, "disk_allocated": 12288, "disk_mode": "inotify",
              "ram_reserved": 1073741824, "disk_reserved": 0, "cpu_reserved": 1.0},
     "processes": {"web": {"run": 0, "pid": 4242, <usage>}, ...}}

    <usage> = "cpu": cores used over the interval (1.0 = one core busy),
              "user", "system": seconds used so far by this run (task: by the live runs),
              "rss": bytes resident, summed over the tree (shared pages counted per process),
              "pss": bytes, or null unless PSS sampling is on,
              "threads", "fds", "procs": counts over the tree,
              "read_bytes", "write_bytes": storage I/O of the live processes of the tree

When the live file holds ``max_samples`` samples or ``max_bytes`` bytes it is renamed
``resources.1`` (replacing the older one) and a new one is started, so the history
covers between one and two files' worth (by default a file holds one hour of samples
or 1 MiB, whichever comes first) and never exceeds ``2 * max_bytes`` on disk. Readers
read ``resources.1`` then ``resources``; a torn last record (a crash mid-write) is skipped.

Standard library only: the observer and ``borealis status`` read this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .layout import rotated
from .stream import CorruptStream, first_valid_frame, read_all, scan

FORMAT = 1
TAIL_WINDOW = 256 * 1024  # ``latest`` reads at most this much of a file
USAGE_FIELDS = (
    "cpu",
    "user",
    "system",
    "rss",
    "pss",
    "threads",
    "fds",
    "procs",
    "read_bytes",
    "write_bytes",
)


@dataclass
class Usage:
    """What a process tree (or the whole task) was using at one sample."""

    cpu: float = 0.0
    user: float = 0.0
    system: float = 0.0
    rss: int = 0
    pss: int | None = None
    threads: int = 0
    fds: int = 0
    procs: int = 0
    read_bytes: int = 0
    write_bytes: int = 0

    def add(self, other: Usage) -> None:
        self.cpu += other.cpu
        self.user += other.user
        self.system += other.system
        self.rss += other.rss
        if other.pss is not None:
            self.pss = (self.pss or 0) + other.pss
        self.threads += other.threads
        self.fds += other.fds
        self.procs += other.procs
        self.read_bytes += other.read_bytes
        self.write_bytes += other.write_bytes

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in USAGE_FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        return cls(**{name: data[name] for name in USAGE_FIELDS if name in data})


@dataclass
class ProcessUsage(Usage):
    run: int = 0
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "pid": self.pid, **super().to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessUsage:
        usage = Usage.from_json(data)
        return cls(**usage.__dict__, run=int(data.get("run", 0)), pid=int(data.get("pid", 0)))


@dataclass
class TaskUsage(Usage):
    disk_apparent: int | None = None
    disk_allocated: int | None = None
    disk_mode: str = ""  # "inotify", "scan", or "" when disk is not measured
    cpu_reserved: float | None = None
    ram_reserved: int | None = None
    disk_reserved: int | None = None

    EXTRA = (
        "disk_apparent",
        "disk_allocated",
        "disk_mode",
        "cpu_reserved",
        "ram_reserved",
        "disk_reserved",
    )

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), **{name: getattr(self, name) for name in self.EXTRA}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskUsage:
        usage = Usage.from_json(data)
        extra = {name: data[name] for name in cls.EXTRA if name in data}
        return cls(**usage.__dict__, **extra)


@dataclass
class Sample:
    time: float
    interval: float
    task: TaskUsage
    processes: dict[str, ProcessUsage] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT,
            "t": self.time,
            "interval": self.interval,
            "task": self.task.to_json(),
            "processes": {name: usage.to_json() for name, usage in self.processes.items()},
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sample:
        return cls(
            time=float(data["t"]),
            interval=float(data["interval"]),
            task=TaskUsage.from_json(data["task"]),
            processes={
                name: ProcessUsage.from_json(usage)
                for name, usage in dict(data.get("processes", {})).items()
            },
        )


def format_bytes(n: float, units: tuple[str, ...] = ("B", "KiB", "MiB", "GiB")) -> str:
    """``n`` bytes in the largest of ``units`` (powers of 1024) under 1024, or the last one.

    ``("B", "KiB", "MiB", "GiB")`` gives ``"1.0 MiB"``; single-letter units (``"M"``) are
    written without a space (``"1.0M"``), for narrow columns.
    """
    space = " " if len(units[-1]) > 1 else ""
    for unit in units:
        if n < 1024 or unit == units[-1]:
            return f"{n:.0f}{space}{unit}" if unit == units[0] else f"{n:.1f}{space}{unit}"
        n /= 1024
    raise AssertionError("unreachable: the last unit always returns")


def history_files(live: Path) -> list[Path]:
    """The history's files, oldest first."""
    return [rotated(live, 1), live]


def read_history(live: Path, since: float | None = None) -> Iterator[Sample]:
    """Every sample kept, oldest first (optionally only those taken after ``since``).

    A damaged file yields nothing more (the history is advisory; the task is unaffected).
    """
    for path in history_files(live):
        try:
            payloads = read_all(path).payloads
        except (CorruptStream, OSError):
            continue
        for payload in payloads:
            try:
                sample = Sample.from_json(json.loads(payload))
            except (ValueError, KeyError, TypeError):
                continue
            if since is None or sample.time > since:
                yield sample


def _last_payloads(path: Path) -> list[bytes]:
    """The frames in the last ``TAIL_WINDOW`` bytes of a stream (all of a short one)."""
    try:
        with open(path, "rb") as fp:
            size = fp.seek(0, 2)
            start = max(0, size - TAIL_WINDOW)
            fp.seek(start)
            data = fp.read()
    except OSError:
        return []
    first = 0 if start == 0 else first_valid_frame(data, 0)
    if first is None:
        return []
    try:
        result = scan(data, first, name=str(path))
    except CorruptStream:
        return []
    return result.payloads


def latest(live: Path) -> Sample | None:
    """The newest sample, or ``None`` when there is none yet (reads only the files' ends)."""
    for path in reversed(history_files(live)):
        for payload in reversed(_last_payloads(path)):
            try:
                return Sample.from_json(json.loads(payload))
            except (ValueError, KeyError, TypeError):
                continue
    return None
