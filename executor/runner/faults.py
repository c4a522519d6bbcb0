"""Seeded fault injection: the runner SIGKILLs itself at chosen points.

Off unless ``BOREALIS_FAULTS`` is set, e.g. ``BOREALIS_FAULTS=seed=7,rate=0.05``;
``only=NAME`` limits faults to one point (``before-fork``, ``after-fork``,
``before-write``, ``torn-write``, ``before-sync``, ``after-sync``,
``before-rename``).
At every fault point the runner draws from its seeded generator and, with
probability ``rate``, kills itself with SIGKILL right there; at a checkpoint
write it may instead write only part of the frame first (a torn write). The
fault-injection tests restart the runner until the task ends and check that
the outcome is the same as without faults.
"""

from __future__ import annotations

import os
import random
import signal

ENV = "BOREALIS_FAULTS"


class Faults:
    def __init__(self, seed: int = 0, rate: float = 0.0, only: str | None = None) -> None:
        self.rate = rate
        self.only = only
        self._random = random.Random(seed)

    @classmethod
    def from_env(cls, value: str | None = None) -> Faults:
        spec = os.environ.get(ENV, "") if value is None else value
        if not spec:
            return cls()
        fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
        # A harness restarting the runner passes a new seed each time.
        return cls(
            int(fields.get("seed", "0")), float(fields.get("rate", "0.05")), fields.get("only")
        )

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _armed(self, name: str) -> bool:
        return bool(self.rate) and self.only in (None, name)

    def point(self, name: str) -> None:
        """Maybe die here."""
        if self._armed(name) and self._random.random() < self.rate:
            os.kill(os.getpid(), signal.SIGKILL)

    def write(self, fd: int, data: bytes) -> int:
        """Write ``data``, or maybe write a prefix of it and die (a torn write)."""
        if self._armed("torn-write") and self._random.random() < self.rate / 2:
            os.write(fd, data[: self._random.randrange(0, max(1, len(data)))])
            os.kill(os.getpid(), signal.SIGKILL)
        return os.write(fd, data)
