"""Updates in the scheduler's SQLite file, next to the jobs and runs (``scheduler/store.py``):
each update with its settings, who started it, both job configs and its progress; each
instance's progress in it; every status it went through. Written in the same transactions as
the runs they change, so a scheduler killed at any moment resumes an update where it was."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from borealis.contract.jobspec import JobSpec, job_from_json
from borealis.contract.updatespec import UpdateSettings

from .planner import InstanceProgress, Progress
from .states import Phase, UpdateStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    id TEXT PRIMARY KEY, job_key TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    user TEXT NOT NULL, created REAL NOT NULL, changed REAL NOT NULL,
    old_job TEXT NOT NULL, new_job TEXT NOT NULL, size INTEGER NOT NULL,
    progress TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS updates_by_job ON updates (job_key, created);
CREATE TABLE IF NOT EXISTS update_instances (
    update_id TEXT NOT NULL, instance INTEGER NOT NULL, old TEXT, new TEXT,
    phase TEXT NOT NULL, batch INTEGER NOT NULL, since REAL NOT NULL,
    PRIMARY KEY (update_id, instance));
CREATE TABLE IF NOT EXISTS update_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, update_id TEXT NOT NULL, status TEXT NOT NULL,
    time REAL NOT NULL, reason TEXT NOT NULL);
"""


@dataclass
class Update:
    id: str
    job_key: str
    user: str
    created: float
    changed: float
    old_job: JobSpec  # the job's config when the update started
    new_job: JobSpec  # the config it rolls out (its ``update`` field: how)
    size: int  # what percentages are taken of: the larger of the old and new instance counts
    progress: Progress

    @property
    def settings(self) -> UpdateSettings:
        return self.new_job.update

    def to_json(self) -> dict[str, Any]:
        p = self.progress
        return {
            "id": self.id,
            "job_key": self.job_key,
            "status": p.status.value,
            "reason": p.reason,
            "user": self.user,
            "created": self.created,
            "changed": self.changed,
            "settings": self.settings.to_json(),
            "batches": p.batches,
            "pulse": p.pulse,
            "instances_before": self.old_job.instances,
            "instances_after": self.new_job.instances,
        }


def _progress_json(p: Progress) -> str:
    return json.dumps(
        {
            "batches": p.batches,
            "paused_after": p.paused_after,
            "pulse": p.pulse,
            "progressed": p.progressed,
            "stopped": p.stopped,
            "cause": p.cause,
        }
    )


class UpdateRecords:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.db.executescript(SCHEMA)

    def add(self, update: Update, instances: list[InstanceProgress]) -> None:
        p = update.progress
        self.db.execute(
            "INSERT INTO updates (id, job_key, status, reason, user, created, changed, "
            "old_job, new_job, size, progress) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                update.id,
                update.job_key,
                p.status.value,
                p.reason,
                update.user,
                update.created,
                update.changed,
                update.old_job.dumps(),
                update.new_job.dumps(),
                update.size,
                _progress_json(p),
            ),
        )
        for inst in instances:
            self.db.execute(
                "INSERT INTO update_instances (update_id, instance, old, new, phase, batch, "
                "since) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    update.id,
                    inst.instance,
                    inst.old,
                    inst.new,
                    inst.phase.value,
                    inst.batch,
                    inst.since,
                ),
            )
        self.event(update.id, p.status, p.reason, update.created)

    def save(self, update: Update, changed: list[InstanceProgress]) -> None:
        p = update.progress
        self.db.execute(
            "UPDATE updates SET status = ?, reason = ?, changed = ?, progress = ? WHERE id = ?",
            (p.status.value, p.reason, update.changed, _progress_json(p), update.id),
        )
        for inst in changed:
            self.db.execute(
                "UPDATE update_instances SET phase = ?, batch = ?, since = ? "
                "WHERE update_id = ? AND instance = ?",
                (inst.phase.value, inst.batch, inst.since, update.id, inst.instance),
            )

    def event(self, update_id: str, status: UpdateStatus, reason: str, when: float) -> None:
        self.db.execute(
            "INSERT INTO update_events (update_id, status, time, reason) VALUES (?, ?, ?, ?)",
            (update_id, status.value, when, reason),
        )

    def get(self, update_id: str) -> Update | None:
        row = self.db.execute("SELECT * FROM updates WHERE id = ?", (update_id,)).fetchone()
        return None if row is None else _update(row)

    def of_job(self, job_key: str) -> list[Update]:
        """Every update of the job, newest first."""
        rows = self.db.execute(
            "SELECT * FROM updates WHERE job_key = ? ORDER BY created DESC, rowid DESC",
            (job_key,),
        ).fetchall()
        return [_update(r) for r in rows]

    def latest(self, job_key: str) -> Update | None:
        """The job's newest update (whether it has ended or not)."""
        row = self.db.execute(
            "SELECT * FROM updates WHERE job_key = ? ORDER BY created DESC, rowid DESC LIMIT 1",
            (job_key,),
        ).fetchone()
        return None if row is None else _update(row)

    def active(self) -> list[Update]:
        terminal = [s.value for s in UpdateStatus if s.terminal]
        marks = ", ".join("?" for _ in terminal)
        rows = self.db.execute(
            f"SELECT * FROM updates WHERE status NOT IN ({marks}) ORDER BY created, rowid",
            terminal,
        ).fetchall()
        return [_update(r) for r in rows]

    def instances(self, update_id: str) -> dict[int, InstanceProgress]:
        rows = self.db.execute(
            "SELECT * FROM update_instances WHERE update_id = ? ORDER BY instance", (update_id,)
        ).fetchall()
        return {
            int(r["instance"]): InstanceProgress(
                int(r["instance"]),
                r["old"],
                r["new"],
                Phase(r["phase"]),
                int(r["batch"]),
                float(r["since"]),
            )
            for r in rows
        }

    def changed(self, update_id: str) -> int:
        """How many instances the update changes (or meant to)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM update_instances WHERE update_id = ?", (update_id,)
        ).fetchone()
        return int(row[0])

    def events(self, update_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT status, time, reason FROM update_events WHERE update_id = ? ORDER BY seq",
            (update_id,),
        ).fetchall()
        return [dict(r) for r in rows]


def _update(row: sqlite3.Row) -> Update:
    progress = json.loads(row["progress"])
    return Update(
        id=row["id"],
        job_key=row["job_key"],
        user=row["user"],
        created=float(row["created"]),
        changed=float(row["changed"]),
        old_job=job_from_json(json.loads(row["old_job"]), "stored update"),
        new_job=job_from_json(json.loads(row["new_job"]), "stored update"),
        size=int(row["size"]),
        progress=Progress(
            status=UpdateStatus(row["status"]),
            batches=int(progress["batches"]),
            paused_after=int(progress["paused_after"]),
            pulse=progress["pulse"],
            progressed=progress["progressed"],
            stopped=progress.get("stopped"),
            reason=row["reason"],
            cause=progress.get("cause", ""),  # absent from updates stored before it existed
        ),
    )
