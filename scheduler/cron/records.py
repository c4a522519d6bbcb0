"""Cron jobs in the scheduler's SQLite file, next to the jobs and runs (``scheduler/store.py``):
each cron job's template (the job JSON it launches), when it was scheduled, the planner's
persisted state (the cursor and an owed launch), the last slot that fired, and every trigger
and skip. The tables are created when the store is opened (an older store gains them).
The state is written in the transaction that creates the runs of a slot, so a scheduler
stopped at any moment neither fires a slot twice nor forgets it."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from borealis.contract.jobspec import JobSpec, job_from_json

from .planner import CronState
from .slots import Slot

SCHEMA = """
CREATE TABLE IF NOT EXISTS cron_jobs (
    key TEXT PRIMARY KEY, spec TEXT NOT NULL, since REAL NOT NULL, cursor REAL NOT NULL,
    owed TEXT, last_slot TEXT, last_fired REAL);
CREATE TABLE IF NOT EXISTS cron_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, time REAL NOT NULL,
    action TEXT NOT NULL, slot TEXT NOT NULL, slot_at REAL NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cron_events_by_key ON cron_events (key, seq);
CREATE TABLE IF NOT EXISTS cron_state (
    key TEXT PRIMARY KEY, cursor REAL NOT NULL, owed TEXT, last_slot TEXT, last_fired REAL);
"""
# The state changes at every slot, the template (a kilobyte or more) only when it is scheduled:
# the state has its own small rows (a store from before has them made from cron_jobs', whose
# state columns are no longer read).
STATE_FROM_OLD_ROWS = (
    "INSERT OR IGNORE INTO cron_state (key, cursor, owed, last_slot, last_fired) "
    "SELECT key, cursor, owed, last_slot, last_fired FROM cron_jobs"
)
SELECT = (
    "SELECT j.key, j.spec, j.since, s.cursor, s.owed, s.last_slot, s.last_fired "
    "FROM cron_jobs j JOIN cron_state s ON s.key = j.key"
)
HISTORY = 20  # events `cron show` lists


class Happened(enum.Enum):
    FIRED = "FIRED"  # the slot's runs were created
    SKIPPED = "SKIPPED"  # the slot (or several) did not run: the reason says why
    KILLING = "KILLING"  # the active runs are being killed; the slot launches when they end
    SCHEDULED = "SCHEDULED"  # the template was (re)placed
    DESCHEDULED = "DESCHEDULED"


@dataclass
class CronJob:
    spec: JobSpec  # its ``cron`` is set
    state: CronState
    last_slot: str | None = None  # the label of the last slot that fired
    last_fired: float | None = None  # when it fired
    # the template's JSON text and config id, computed once (a slot writes both)
    _encoded: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def key(self) -> str:
        return str(self.spec.key)

    @property
    def encoded(self) -> tuple[str, str]:
        """The template's ``dumps()`` and ``config_id``: encoded once (when it is scheduled
        or loaded), not at every slot."""
        if self._encoded is None:
            self._encoded = (self.spec.dumps(), self.spec.config_id)
        return self._encoded


def _slot_json(slot: Slot | None) -> str | None:
    if slot is None:
        return None
    return json.dumps({"at": slot.at, "wall": slot.wall.isoformat(), "manual": slot.manual})


def _slot(text: str | None) -> Slot | None:
    if text is None:
        return None
    value = json.loads(text)
    return Slot(value["at"], dt.datetime.fromisoformat(value["wall"]), bool(value["manual"]))


def _job(row: sqlite3.Row) -> CronJob:
    spec = job_from_json(json.loads(row["spec"]), row["key"])
    return CronJob(
        spec,
        CronState(row["since"], row["cursor"], _slot(row["owed"])),
        row["last_slot"],
        row["last_fired"],
        (row["spec"], spec.config_id),  # the text is the template's dumps(), stored by put
    )


class CronRecords:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.db.executescript(SCHEMA)
        self.db.execute(STATE_FROM_OLD_ROWS)

    def put(self, job: CronJob) -> None:
        """Add or replace a cron job (its template and state)."""
        self.db.execute(
            "INSERT INTO cron_jobs (key, spec, since, cursor, owed, last_slot, last_fired) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET spec = excluded.spec, "
            "since = excluded.since, cursor = excluded.cursor, owed = excluded.owed, "
            "last_slot = excluded.last_slot, last_fired = excluded.last_fired",
            (
                job.key,
                job.encoded[0],
                job.state.since,
                job.state.cursor,
                _slot_json(job.state.owed),
                job.last_slot,
                job.last_fired,
            ),
        )
        self.db.execute(
            "INSERT INTO cron_state (key, cursor, owed, last_slot, last_fired) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET cursor = excluded.cursor, "
            "owed = excluded.owed, last_slot = excluded.last_slot, "
            "last_fired = excluded.last_fired",
            (
                job.key,
                job.state.cursor,
                _slot_json(job.state.owed),
                job.last_slot,
                job.last_fired,
            ),
        )

    def save_states(self, jobs: list[CronJob]) -> None:
        """The planner's state and the last fired slot of each job (one statement)."""
        self.db.executemany(
            "UPDATE cron_state SET cursor = ?, owed = ?, last_slot = ?, last_fired = ? "
            "WHERE key = ?",
            [
                (j.state.cursor, _slot_json(j.state.owed), j.last_slot, j.last_fired, j.key)
                for j in jobs
            ],
        )

    def remove(self, key: str) -> None:
        self.db.execute("DELETE FROM cron_jobs WHERE key = ?", (key,))
        self.db.execute("DELETE FROM cron_state WHERE key = ?", (key,))

    def get(self, key: str) -> CronJob | None:
        row = self.db.execute(f"{SELECT} WHERE j.key = ?", (key,)).fetchone()
        return None if row is None else _job(row)

    def all(self) -> list[CronJob]:
        return [_job(r) for r in self.db.execute(f"{SELECT} ORDER BY j.key")]

    def event(
        self, key: str, when: float, happened: Happened, slot: str, slot_at: float, reason: str
    ) -> None:
        self.add_events([(key, when, happened, slot, slot_at, reason)])

    def add_events(self, events: list[tuple[str, float, Happened, str, float, str]]) -> None:
        """Many ``event``s in one statement."""
        self.db.executemany(
            "INSERT INTO cron_events (key, time, action, slot, slot_at, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(key, when, what.value, slot, at, why) for key, when, what, slot, at, why in events],
        )

    def events(self, key: str, most: int = HISTORY) -> list[dict[str, Any]]:
        """The newest ``most`` events of the job, oldest first."""
        rows = self.db.execute(
            "SELECT time, action, slot, slot_at, reason FROM cron_events WHERE key = ? "
            "ORDER BY seq DESC LIMIT ?",
            (key, most),
        ).fetchall()
        return [dict(r) for r in reversed(rows)]
