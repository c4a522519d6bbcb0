"""The error every kind of bad input becomes: one line naming where and what.

``InputError("hello.aurora", "processes[2].max_failures", "expected ...")``
prints as ``hello.aurora: processes[2].max_failures: expected ...``. The CLI
prints it, exits with status 2 and shows no traceback.

Standard library only.
"""

from __future__ import annotations


class InputError(Exception):
    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.field, self.problem) if p]
        return ": ".join(parts)
