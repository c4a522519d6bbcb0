"""Seeded fault injection: the runner SIGKILLs itself at chosen points.

Off unless ``BOREALIS_FAULTS`` is set, e.g. ``BOREALIS_FAULTS=seed=7,rate=0.05``.
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
    def __init__(self, seed: int = 0, rate: float = 0.0) -> None:
        self.rate = rate
        self._random = random.Random(seed)

    @classmethod
    def from_env(cls, value: str | None = None) -> Faults:
        spec = os.environ.get(ENV, "") if value is None else value
        if not spec:
            return cls()
        fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
        # Mix in the pid so that each restarted runner takes a different path.
        seed = int(fields.get("seed", "0")) * 1_000_003 + os.getpid()
        return cls(seed, float(fields.get("rate", "0.05")))

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def point(self, name: str) -> None:
        """Maybe die here."""
        if self.rate and self._random.random() < self.rate:
            os.kill(os.getpid(), signal.SIGKILL)

    def write(self, fd: int, data: bytes) -> int:
        """Write ``data``, or maybe write a prefix of it and die (a torn write)."""
        if self.rate and self._random.random() < self.rate / 2:
            os.write(fd, data[: self._random.randrange(0, max(1, len(data)))])
            os.kill(os.getpid(), signal.SIGKILL)
        return os.write(fd, data)
