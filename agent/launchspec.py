"""A framework's launch call, checked field by field before anything touches the disk.

Every field has one shape; anything else is a ``Refused`` (400) naming the field, so a
refused launch creates no run directory and starts nothing. Ids are checked against the
contract's charset (``contract/agentapi.py``) because they become directory names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from borealis.contract.agentapi import Refusal, id_problem

from .refused import Refused

DEFAULT_FRAMEWORK = "borealis-local"


@dataclass(frozen=True)
class LaunchSpec:
    framework_id: str
    executor_id: str
    task_id: str
    task_info: dict[str, Any]
    checkpoint: bool
    capabilities: list[str]
    shutdown_grace: float
    uris: list[Any]
    command: str | None


def bad(field: str, problem: str) -> Refused:
    return Refused(Refusal.BAD_REQUEST, f"{field}: {problem}")


def check_id(field: str, value: object, task: bool = False) -> str:
    problem = id_problem(value, task)
    if problem is not None:
        raise bad(field, problem)
    assert isinstance(value, str)
    return value


MAX_SECONDS = 7 * 24 * 3600  # a grace period longer than a week is a mistake, not a policy


def number(field: str, value: object, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(field, f"expected a number >= 0, got {type(value).__name__}")
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise bad(field, f"expected a number of seconds from 0 to {MAX_SECONDS}")
    return float(value)


def launch_spec(body: dict[str, Any]) -> LaunchSpec:
    task_info = body.get("task_info")
    if not isinstance(task_info, dict) or not isinstance(task_info.get("task_id"), dict):
        raise bad("task_info", "an object with a task_id is required")
    task_id = check_id("task_info.task_id.value", task_info["task_id"].get("value"), task=True)
    framework_id = check_id("framework_id", body.get("framework_id") or DEFAULT_FRAMEWORK)
    executor_id = check_id("executor_id", body.get("executor_id") or f"thermos-{task_id}")
    checkpoint = body.get("checkpoint", True)
    if not isinstance(checkpoint, bool):
        raise bad("checkpoint", "expected true or false")
    capabilities = body.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(
        isinstance(c, str) and c.isidentifier() and len(c) <= 100 for c in capabilities
    ):
        raise bad("capabilities", "expected a list of capability names")
    grace = number("shutdown_grace_period_secs", body.get("shutdown_grace_period_secs"), 5.0)
    uris = body.get("executor_uris", [])
    if not isinstance(uris, list):
        raise bad("executor_uris", "expected a list")
    for index, uri in enumerate(uris):
        value = uri.get("value") if isinstance(uri, dict) else None
        if not isinstance(value, str) or not value or "\0" in value:
            raise bad(f"executor_uris[{index}].value", "expected a non-empty string")
    command = body.get("executor_command")
    if command is not None and (not isinstance(command, str) or "\0" in command):
        raise bad("executor_command", "expected a string without NUL bytes")
    return LaunchSpec(
        framework_id=framework_id,
        executor_id=executor_id,
        task_id=task_id,
        task_info=task_info,
        checkpoint=checkpoint,
        capabilities=list(capabilities),
        shutdown_grace=grace,
        uris=uris,
        command=command or None,
    )
