"""The Mesos v1 executor API's messages, as JSON, per docs/mesos.md (written from the
Mesos protobufs and agent source notes in the project reference, not from Mesos's doc
examples, several of which are wrong).

Shapes: field names are the protobuf snake_case names, enums their string names, ``bytes``
base64 strings, ids ``{"value": ...}``. A status ``uuid`` is base64 of the 16 raw bytes of an
RFC 4122 UUID (the agent rejects anything else with 400).

``check_call`` is the agent side: it refuses a call exactly where a Mesos agent would (the
content type is compared as an exact string; 400 for a body that is not a valid call).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from borealis.contract import requestcheck
from borealis.contract.mesos import MesosReason, MesosState

CONTENT_TYPE = "application/json"
PATH = "/api/v1/executor"

CALL_TYPES = ("SUBSCRIBE", "UPDATE", "MESSAGE", "HEARTBEAT")


def new_uuid() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode()


def valid_uuid(text: Any) -> bool:
    """Base64 of exactly 16 bytes that form an RFC 4122 UUID of a known version."""
    if not isinstance(text, str):
        return False
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 16:
        return False
    value = uuid.UUID(bytes=raw)
    return value.variant == uuid.RFC_4122 and value.version in (1, 2, 3, 4, 5)


def ident(value: str) -> dict[str, str]:
    return {"value": value}


def status(
    task_id: str,
    state: MesosState,
    *,
    executor_id: str,
    message: str = "",
    reason: MesosReason | None = None,
    healthy: bool | None = None,
    clock: float | None = None,
) -> dict[str, Any]:
    """A ``TaskStatus`` as an executor sends it."""
    out: dict[str, Any] = {
        "task_id": ident(task_id),
        "state": state.value,
        "source": "SOURCE_EXECUTOR",
        "executor_id": ident(executor_id),
        "uuid": new_uuid(),
        "timestamp": time.time() if clock is None else clock,
    }
    if message:
        out["message"] = message
    if reason is not None:
        out["reason"] = reason.value
    if healthy is not None:
        out["healthy"] = healthy
    return out


def call(kind: str, framework_id: str, executor_id: str, **payload: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "framework_id": ident(framework_id),
        "executor_id": ident(executor_id),
        **payload,
    }


def subscribe(
    framework_id: str,
    executor_id: str,
    unacknowledged_tasks: list[dict[str, Any]],
    unacknowledged_updates: list[dict[str, Any]],
) -> dict[str, Any]:
    return call(
        "SUBSCRIBE",
        framework_id,
        executor_id,
        subscribe={
            "unacknowledged_tasks": unacknowledged_tasks,
            "unacknowledged_updates": [{"status": s} for s in unacknowledged_updates],
        },
    )


def update(framework_id: str, executor_id: str, task_status: dict[str, Any]) -> dict[str, Any]:
    return call("UPDATE", framework_id, executor_id, update={"status": task_status})


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


# --- the agent side ------------------------------------------------------------------


@dataclass
class Refusal(Exception):
    code: int
    message: str


def _value(obj: Any, field: str) -> str:
    if not isinstance(obj, dict) or not isinstance(obj.get(field), dict):
        raise Refusal(400, f"Failed to validate executor::Call: missing {field}")
    value = obj[field].get("value")
    if not isinstance(value, str):
        raise Refusal(400, f"Failed to validate executor::Call: {field}.value must be a string")
    return value


def check_status(task_status: dict[str, Any], executor_id: str) -> None:
    """The rules a TaskStatus from an executor follows (an UPDATE's, or one re-sent in a
    SUBSCRIBE): a task id, a state other than TASK_STAGING, SOURCE_EXECUTOR, a valid uuid, and
    no other executor's id; ``Refusal`` otherwise."""
    _value(task_status, "task_id")
    state = MesosState.parse(task_status.get("state"))
    if state is None:
        raise Refusal(
            400, f"Failed to validate executor::Call: bad state {task_status.get('state')!r}"
        )
    if state is MesosState.TASK_STAGING:
        raise Refusal(400, "Failed to validate executor::Call: TASK_STAGING is not allowed")
    if task_status.get("source") != "SOURCE_EXECUTOR":
        raise Refusal(400, "Failed to validate executor::Call: source must be SOURCE_EXECUTOR")
    if not valid_uuid(task_status.get("uuid")):
        raise Refusal(400, "Failed to validate executor::Call: uuid is not a valid UUID")
    if "executor_id" in task_status and _value(task_status, "executor_id") != executor_id:
        raise Refusal(400, "Failed to validate executor::Call: executor_id mismatch")


def check_call(content_type: str | None, body: bytes) -> dict[str, Any]:
    """The call in a request to ``/api/v1/executor``, or ``Refusal`` (code and message)."""
    if content_type is None:
        raise Refusal(415, "Expecting 'Content-Type' to be present")
    if content_type not in (CONTENT_TYPE, "application/x-protobuf"):
        raise Refusal(415, f"Expecting 'Content-Type' of {CONTENT_TYPE} or application/x-protobuf")
    if content_type != CONTENT_TYPE:
        raise Refusal(415, "this agent speaks JSON only")
    try:
        message = requestcheck.json_value(body)
    except requestcheck.BadBody as e:
        raise Refusal(400, f"Failed to parse body into JSON: {e}") from None
    if not isinstance(message, dict):
        raise Refusal(400, "Failed to convert JSON into Call protobuf: not an object")
    kind = message.get("type")
    if kind == "HEARTBEAT":
        return message  # answered 202 before any validation, as the agent does
    if kind not in CALL_TYPES:
        raise Refusal(501 if kind == "UNKNOWN" else 400, f"unknown call type {kind!r}")
    _value(message, "framework_id")
    executor_id = _value(message, "executor_id")
    if kind == "UPDATE":
        payload = message.get("update")
        task_status = payload.get("status") if isinstance(payload, dict) else None
        if not isinstance(task_status, dict):
            raise Refusal(
                400, "Failed to validate executor::Call: expecting 'update' to be present"
            )
        check_status(task_status, executor_id)
    if kind == "SUBSCRIBE":
        payload = message.get("subscribe")
        if not isinstance(payload, dict):
            raise Refusal(
                400, "Failed to validate executor::Call: expecting 'subscribe' to be present"
            )
        unacknowledged = payload.get("unacknowledged_updates", [])
        if not isinstance(unacknowledged, list):
            raise Refusal(400, "Failed to validate executor::Call: unacknowledged_updates")
        for entry in unacknowledged:
            task_status = entry.get("status") if isinstance(entry, dict) else None
            if not isinstance(task_status, dict):
                raise Refusal(
                    400, "Failed to validate executor::Call: an unacknowledged update has no status"
                )
            check_status(task_status, executor_id)  # the same rules as an UPDATE's
    if kind == "MESSAGE":
        payload = message.get("message")
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
            raise Refusal(400, "Failed to validate executor::Call: expecting 'message.data'")
    return message
