"""The framework-facing JSON API of ``borealis agent`` (docs/mesos.md): what the agent and the
scheduler's local backend agree on.

Every refusal is ``{"error": "<text>", "status": <HTTP code>, "refusal": "<Refusal>"}``; a
framework acts on ``refusal``, never on the text.

Standard library only.
"""

from __future__ import annotations

import enum

LAUNCH = "/api/v1/agent/launch"
KILL = "/api/v1/agent/kill"
SHUTDOWN = "/api/v1/agent/shutdown"
UPDATES = "/api/v1/agent/updates"
STATE = "/api/v1/agent/state"


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
