"""Whether the embedded agent answers: the rule, pure (the time is passed in), for the loop in
``daemon.py`` that probes the agent's ``/health``.

The agent is *unreachable* once it has not answered for ``timeout`` seconds (``borealis
scheduler --agent-timeout``, default 30 s): every probe failed or went unanswered, as when the
agent is stopped (SIGSTOP), hung, or cut off. It is *back* at the first answer after that. A
probe waits at most ``probe_interval(timeout)`` (a fifth of the timeout, between 0.2 s and
5 s), and probes follow each other at that interval, so the loss is noticed between
``timeout`` and ``timeout`` plus two intervals after the last answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_TIMEOUT = 30.0


class Change(enum.Enum):
    LOST = "lost"  # no answer for the timeout: its runs are PARTITIONED
    BACK = "back"  # answers again: its runs are reconciled


def probe_interval(timeout: float) -> float:
    """How long one probe may take, and the pause between two."""
    return min(5.0, max(0.2, timeout / 5))


@dataclass
class AgentWatch:
    timeout: float
    last_answer: float  # when the agent last answered (the watch's start counts as one)
    down: bool = False

    def answered(self, now: float) -> Change | None:
        self.last_answer = now
        if self.down:
            self.down = False
            return Change.BACK
        return None

    def silent(self, now: float) -> Change | None:
        """A probe failed at ``now``."""
        if not self.down and now - self.last_answer >= self.timeout:
            self.down = True
            return Change.LOST
        return None
