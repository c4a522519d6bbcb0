"""The framework-facing JSON API of ``borealis agent`` (docs/mesos.md): what the agent and the
scheduler's local backend agree on.

Every refusal is ``{"error": "<text>", "status": <HTTP code>, "refusal": "<Refusal>"}``; a
framework acts on ``refusal``, never on the text.

Standard library only.
"""

from __future__ import annotations

import enum
import re

LAUNCH = "/api/v1/agent/launch"
KILL = "/api/v1/agent/kill"
SHUTDOWN = "/api/v1/agent/shutdown"
UPDATES = "/api/v1/agent/updates"
STATE = "/api/v1/agent/state"

# A framework, executor or task id becomes a directory name: checked before it touches a path.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
TASK_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")  # contract/layout.py's task ids


def id_problem(value: object, task: bool = False) -> str | None:
    """Why ``value`` cannot be an id (``None``: it can). Ids start with a letter or digit
    (task ids also with ``_``), hold only ``[A-Za-z0-9._-]``, and are 1-200 characters long."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not (TASK_ID_RE if task else ID_RE).fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return (
            f"{shown!r} is not an id: 1-200 characters from [A-Za-z0-9._-], "
            "not starting with '.' or '-'"
        )
    return None


class Refusal(enum.Enum):
    BAD_REQUEST = "bad_request"  # the body is not what the call takes
    TASK_EXISTS = "task_exists"  # a task with this id was launched before: never twice
    EXECUTOR_EXISTS = "executor_exists"  # a live executor already has this id
    NOT_SUBSCRIBED = "not_subscribed"  # the executor holding the task is not reachable now
    NOT_FOUND = "not_found"  # no live executor holds the task


STATUS = {
    Refusal.BAD_REQUEST: 400,
    Refusal.TASK_EXISTS: 409,
    Refusal.EXECUTOR_EXISTS: 409,
    Refusal.NOT_SUBSCRIBED: 409,
    Refusal.NOT_FOUND: 404,
}
