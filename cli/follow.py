"""What ``borealis run --follow`` prints: every process's output, line by line, as it comes.

Each line is prefixed with the process and its run, ``|`` for stdout and ``!`` for stderr::

    build[0] | compiling 3 files
    test[1] ! AssertionError: expected 3, got 2

It reads what any reader reads (the runner's stream for the runs, ``contract/logs.py`` for the
rotated files), from a thread of its own, so following never slows the runner down, and it
loses nothing across rotations. A line is printed once it is complete; what is left without a
newline when the task ends is printed then.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import BinaryIO

from borealis.contract.confined import Refused
from borealis.contract.layout import TaskPaths, process_log
from borealis.contract.logs import LogFollower
from borealis.contract.replay import Follower

STREAMS = (("stdout", b"|"), ("stderr", b"!"))


class OutputFollower:
    def __init__(self, paths: TaskPaths, out: BinaryIO, poll: float = 0.1) -> None:
        self.paths = paths
        self.out = out
        self.poll = poll
        self._runs = Follower(paths.runner_stream)
        self._logs: dict[tuple[str, int, str], tuple[LogFollower, bytearray]] = {}
        self._refused: set[tuple[str, int, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Print what is left (the task has ended) and stop."""
        self._stop.set()
        self._thread.join()
        self._pass()
        for (process, run, stream), (_, pending) in self._logs.items():
            if pending:
                self._line(process, run, stream, bytes(pending) + b"\n")
            pending.clear()
        for reader, _ in self._logs.values():
            reader.close()
        self._runs.close()
        self.out.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            self._pass()

    def _pass(self) -> None:
        try:
            self._runs.update()
        except FileNotFoundError:
            return  # the runner has not written its stream yet
        header = self._runs.state.header
        if header is None:
            return
        for process, runs in self._runs.state.processes.items():
            for each in runs:
                for stream, _ in STREAMS:
                    key = (process, each.run, stream)
                    if key not in self._logs:
                        sandbox = Path(header.sandbox)
                        path = process_log(sandbox, process, each.run, stream)
                        reader = LogFollower(path, oldest=True, top=sandbox)
                        self._logs[key] = (reader, bytearray())
        for (process, run, stream), (reader, pending) in self._logs.items():
            if (process, run, stream) in self._refused:
                continue
            try:
                while chunk := reader.read():
                    pending += chunk
            except Refused as e:  # a link or a FIFO at a log name: say so once, read on
                self._refused.add((process, run, stream))
                print(f"{process}[{run}] {stream}: {e.refusal.text}: not read", file=sys.stderr)
            end = pending.rfind(b"\n")
            if end >= 0:
                self._line(process, run, stream, bytes(pending[: end + 1]))
                del pending[: end + 1]
        self.out.flush()

    def _line(self, process: str, run: int, stream: str, lines: bytes) -> None:
        mark = dict(STREAMS)[stream]
        prefix = f"{process}[{run}] ".encode() + mark + b" "
        self.out.write(b"".join(prefix + line + b"\n" for line in lines.splitlines()))
