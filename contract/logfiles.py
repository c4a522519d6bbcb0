"""The names and modes of a run's log files (``<sandbox>/.logs/<process>/<run>/``).

Kept apart from ``layout.py`` (which re-exports them) so that the shim, which creates and
rotates every run's log files and is kept small, needs nothing else.
"""

from __future__ import annotations

LOG_STREAMS = ("stdout", "stderr")  # a run's log files, in its log directory
SANDBOX_DIR = 0o750  # the sandbox and every directory made in it (its log directories too)
LOG_FILE = 0o640


def rotated_name(name: str, index: int) -> str:
    """The ``index``-th older file of a rotated file: ``stdout`` -> ``stdout.1`` ... (0: itself).

    Process logs (``stdout.1`` newest .. ``stdout.N``) and the resource history
    (``resources.1``) rotate by this name; log collectors rely on it (docs/logs.md)."""
    return name if index == 0 else f"{name}.{index}"
