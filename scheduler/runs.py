"""A run (Aurora's task) as the scheduler keeps it, and its row in the store's ``tasks``
table (``store.py``)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from borealis.contract.jobkey import JobKey
from borealis.contract.schedule import Intent, ScheduleStatus


@dataclass
class Task:
    task_id: str
    job_key: str
    instance: int
    state: ScheduleStatus
    host: str | None
    ports: dict[str, int]
    created: float
    changed: float
    started: float | None
    ended: float | None
    message: str
    failures: int  # failed runs of this instance so far (this one included once it fails)
    flaps: int  # consecutive runs shorter than the flapping threshold
    not_before: float  # THROTTLED until
    superseded: int  # 1 once a newer run of the instance exists (or none is wanted)
    intent: Intent = Intent.NONE  # why the scheduler is stopping it
    config: str = ""  # the id of the job config it runs (``config_id``)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["state"] = self.state.value
        out["intent"] = self.intent.value
        return out


def to_row(task: Task) -> dict[str, Any]:
    """The run as its row's columns."""
    values = task.to_json()
    values["ports"] = json.dumps(task.ports) if task.ports else "{}"
    return values


def new_task_id(key: JobKey, instance: int) -> str:
    return f"{key.role}-{key.environment}-{key.name}-{instance}-{uuid.uuid4().hex[:8]}"


def from_row(row: sqlite3.Row) -> Task:
    values = dict(row)
    values["state"] = ScheduleStatus(values["state"])
    values["intent"] = Intent(values["intent"])
    ports = values["ports"]
    values["ports"] = {} if ports == "{}" else json.loads(ports)  # most runs have none
    return Task(**values)


WAITING = "waiting for a host"  # a new run's message


def fresh_run(
    key: JobKey,
    instance: int,
    config: str,
    now: float,
    state: ScheduleStatus = ScheduleStatus.PENDING,
    message: str = WAITING,
    failures: int = 0,
    flaps: int = 0,
) -> Task:
    """A new run of one instance, not placed, not stored."""
    return Task(
        new_task_id(key, instance),
        str(key),
        instance,
        state,
        None,
        {},
        now,
        now,
        None,
        None,
        message,
        failures,
        flaps,
        0.0,
        0,
        config=config,
    )
