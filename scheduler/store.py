"""The scheduler's state in SQLite (WAL): jobs, their runs (tasks), and each run's history.

Every change is one transaction, so a scheduler killed at any moment restarts with every job
and task exactly as last committed: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from borealis.contract.jobkey import JobKey
from borealis.contract.jobspec import JobSpec, job_from_json
from borealis.contract.schedule import ScheduleStatus

from .runs import Task, from_row, new_task_id, to_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, spec TEXT NOT NULL, killed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, job_key TEXT NOT NULL, instance INTEGER NOT NULL,
    state TEXT NOT NULL, host TEXT, ports TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL, changed REAL NOT NULL, started REAL, ended REAL,
    message TEXT NOT NULL DEFAULT '', failures INTEGER NOT NULL DEFAULT 0,
    flaps INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    superseded INTEGER NOT NULL DEFAULT 0, intent TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS tasks_by_job ON tasks (job_key, instance);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, state TEXT NOT NULL,
    time REAL NOT NULL, message TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (
    id TEXT PRIMARY KEY, job_key TEXT NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
    job_key TEXT NOT NULL, instance INTEGER NOT NULL, config TEXT NOT NULL,
    PRIMARY KEY (job_key, instance));
"""
# Added after the first release: a store written before them gains them at its next open.
MIGRATIONS = (("tasks", "config", "ALTER TABLE tasks ADD COLUMN config TEXT NOT NULL DEFAULT ''"),)


IN_MOST = 500  # values bound in one ``IN (...)`` (SQLite's limit is far above)
DB_MODE = 0o600  # jobs hold commands and environments: the scheduler's user only


def private(path: Path) -> None:
    """Create the database file 0600 if it is missing; make it and its WAL files 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DB_MODE))
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", DB_MODE)


class Store:
    def __init__(self, path: Path) -> None:
        self._configs: dict[str, JobSpec] = {}
        private(path)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._migrate()
        private(path)  # the -wal and -shm files exist now (SQLite gives them the db's mode)

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        with self.transaction():
            for table, column, statement in MIGRATIONS:
                columns = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    self.db.execute(statement)
            # jobs stored before configs and instances existed: one config each, every
            # instance wanting it (none for a killed job), every run running it (only those
            # are read: a store already migrated costs one query at start-up)
            rows = self.db.execute(
                "SELECT key, spec, killed FROM jobs WHERE key NOT IN (SELECT job_key FROM configs)"
            ).fetchall()
            for row in rows:
                key, killed = row["key"], bool(row["killed"])
                spec = job_from_json(json.loads(row["spec"]), key)
                config = self.add_config(spec)
                if not killed:
                    for instance in range(spec.instances):
                        self.set_desired(key, instance, config)
                self.db.execute(
                    "UPDATE tasks SET config = ? WHERE job_key = ? AND config = ''", (config, key)
                )

    def transaction(self) -> Any:
        return _Transaction(self.db)

    # jobs
    def add_job(self, spec: JobSpec, now: float) -> None:
        self.db.execute(
            "INSERT INTO jobs (key, spec, created) VALUES (?, ?, ?)",
            (str(spec.key), spec.dumps(), now),
        )

    def job(self, key: str) -> tuple[JobSpec, bool] | None:
        row = self.db.execute("SELECT spec, killed FROM jobs WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return job_from_json(json.loads(row["spec"]), key), bool(row["killed"])

    def alive(self, key: str) -> bool:
        """Whether the job exists and was not killed, without parsing its config (asked for
        every run that ends)."""
        row = self.db.execute("SELECT killed FROM jobs WHERE key = ?", (key,)).fetchone()
        return row is not None and not row["killed"]

    def active(self, key: str) -> bool:
        """Whether a run of the job has not ended (one indexed query: a cron job's trigger
        asks it)."""
        ended = [s.value for s in ScheduleStatus if s.terminal]
        marks = ", ".join("?" for _ in ended)
        row = self.db.execute(
            f"SELECT 1 FROM tasks WHERE job_key = ? AND state NOT IN ({marks}) LIMIT 1",
            (key, *ended),
        ).fetchone()
        return row is not None

    def active_keys(self) -> set[str]:
        """The jobs with a run that has not ended: ``active`` for every job at once, in one
        query over the runs in those states (a pass with many cron slots due asks it)."""
        live = [s.value for s in ScheduleStatus if not s.terminal]
        marks = ", ".join("?" for _ in live)
        rows = self.db.execute(
            f"SELECT DISTINCT job_key FROM tasks WHERE state IN ({marks})", live
        ).fetchall()
        return {str(r["job_key"]) for r in rows}

    def jobs(self) -> list[tuple[JobSpec, bool]]:
        rows = self.db.execute("SELECT key, spec, killed FROM jobs ORDER BY key").fetchall()
        return [(job_from_json(json.loads(r["spec"]), r["key"]), bool(r["killed"])) for r in rows]

    def set_job(self, spec: JobSpec) -> None:
        """The job's current config (what ``job status`` shows; an update sets it)."""
        self.db.execute("UPDATE jobs SET spec = ? WHERE key = ?", (spec.dumps(), str(spec.key)))

    def set_killed(self, key: str) -> None:
        self.db.execute("UPDATE jobs SET killed = 1 WHERE key = ?", (key,))
        self.db.execute("DELETE FROM instances WHERE job_key = ?", (key,))

    def forget_job(self, key: str) -> None:
        self.db.execute("DELETE FROM jobs WHERE key = ?", (key,))
        self.db.execute("DELETE FROM instances WHERE job_key = ?", (key,))

    def start_jobs(self, jobs: list[tuple[JobSpec, str, str]], now: float) -> None:
        """Each (spec, its ``dumps()``, its ``config_id``) stored afresh, every instance wanting
        that config: ``forget_job``, ``add_job``, ``add_config`` and ``set_desired`` for many
        jobs, with one statement per table (the texts are encoded once by the caller)."""
        keys = [str(spec.key) for spec, _, _ in jobs]
        self.db.executemany("DELETE FROM jobs WHERE key = ?", [(k,) for k in keys])
        self.db.executemany("DELETE FROM instances WHERE job_key = ?", [(k,) for k in keys])
        self.db.executemany(
            "INSERT INTO jobs (key, spec, created) VALUES (?, ?, ?)",
            [(key, text, now) for key, (_, text, _) in zip(keys, jobs, strict=True)],
        )
        stored = self._stored_configs({config for _, _, config in jobs})
        new = {}  # as add_config: a config stored now is this spec (no need to parse it back)
        for key, (spec, text, config) in zip(keys, jobs, strict=True):
            if config not in stored and config not in new:
                new[config] = (key, spec, text)
        self.db.executemany(
            "INSERT INTO configs (id, job_key, spec) VALUES (?, ?, ?)",
            [(config, key, text) for config, (key, _, text) in new.items()],
        )
        for config, (_, spec, _) in new.items():
            self._configs.setdefault(config, spec)
        self.db.executemany(
            "INSERT INTO instances (job_key, instance, config) VALUES (?, ?, ?)",
            [
                (k, i, c)
                for k, (s, _, c) in zip(keys, jobs, strict=True)
                for i in range(s.instances)
            ],
        )

    def _stored_configs(self, configs: set[str], *, texts: bool = False) -> dict[str, str]:
        """Which of ``configs`` are stored, with their text when ``texts`` (else "") (a query
        per ``IN_MOST`` ids)."""
        ids, found = sorted(configs), dict[str, str]()
        column = "spec" if texts else "''"
        for at in range(0, len(ids), IN_MOST):
            chunk = ids[at : at + IN_MOST]
            marks = ", ".join("?" for _ in chunk)
            query = f"SELECT id, {column} FROM configs WHERE id IN ({marks})"
            found.update((str(r[0]), str(r[1])) for r in self.db.execute(query, chunk))
        return found

    def know_configs(self, jobs: list[tuple[JobSpec, str, str]]) -> None:
        """Each (spec, its ``dumps()``, its ``config_id``) whose config is stored as that very
        text is kept parsed, as ``config`` would keep it at its first read (the templates of
        cron jobs at start-up: not 10,000 parses in their first slot)."""
        stored = self._stored_configs({config for _, _, config in jobs}, texts=True)
        for spec, text, config in jobs:
            if stored.get(config) == text:
                self._configs.setdefault(config, spec)

    # configs: a job's task-level configs by id, and the one each instance should run
    def add_config(self, spec: JobSpec) -> str:
        return self.add_encoded_config(spec, spec.dumps(), spec.config_id)

    def add_encoded_config(self, spec: JobSpec, text: str, config: str) -> str:
        """``add_config`` with the spec's ``dumps()`` and ``config_id`` already computed."""
        added = self.db.execute(
            "INSERT OR IGNORE INTO configs (id, job_key, spec) VALUES (?, ?, ?)",
            (config, str(spec.key), text),
        )
        if added.rowcount == 1:  # the stored row is this spec: no need to parse it back
            self._configs.setdefault(config, spec)
        return config

    def config(self, config: str) -> JobSpec:
        spec = self._configs.get(config)
        if spec is None:
            row = self.db.execute(
                "SELECT job_key, spec FROM configs WHERE id = ?", (config,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no config {config}")
            spec = job_from_json(json.loads(row["spec"]), row["job_key"])
            self._configs[config] = spec  # ids are content hashes: never stale
        return spec

    def desired(self, job_key: str) -> dict[int, str]:
        """Each wanted instance of the job and the config it should run."""
        rows = self.db.execute(
            "SELECT instance, config FROM instances WHERE job_key = ? ORDER BY instance",
            (job_key,),
        ).fetchall()
        return {int(r["instance"]): str(r["config"]) for r in rows}

    def desired_of(self, job_key: str, instance: int) -> str | None:
        """The config one instance should run; None when it is not wanted. One row, where
        ``desired`` reads the whole job: a run's replacement asks this of every instance."""
        row = self.db.execute(
            "SELECT config FROM instances WHERE job_key = ? AND instance = ?", (job_key, instance)
        ).fetchone()
        return None if row is None else str(row["config"])

    def set_desired(self, job_key: str, instance: int, config: str | None) -> None:
        if config is None:
            self.db.execute(
                "DELETE FROM instances WHERE job_key = ? AND instance = ?", (job_key, instance)
            )
        else:
            self.db.execute(
                "INSERT INTO instances (job_key, instance, config) VALUES (?, ?, ?) "
                "ON CONFLICT(job_key, instance) DO UPDATE SET config = excluded.config",
                (job_key, instance, config),
            )

    # tasks
    def add_task(self, task: Task) -> None:
        self.add_tasks([task])

    def add_tasks(self, tasks: list[Task], *, events: bool = True) -> None:
        """``add_task`` for many runs, with one statement per table (their events left to the
        caller unless ``events``)."""
        if not tasks:
            return
        rows = [to_row(task) for task in tasks]
        columns = ", ".join(rows[0])
        marks = ", ".join("?" for _ in rows[0])
        self.db.executemany(
            f"INSERT INTO tasks ({columns}) VALUES ({marks})", [tuple(r.values()) for r in rows]
        )
        if events:
            self.events([(t.task_id, t.state, t.message, t.created) for t in tasks])

    def update_tasks(self, tasks: list[Task]) -> None:
        """``update_task`` (with its event) for many runs, with one statement per table."""
        if not tasks:
            return
        rows = [to_row(task) for task in tasks]
        names = [k for k in rows[0] if k != "task_id"]
        sets = ", ".join(f"{k} = ?" for k in names)
        self.db.executemany(
            f"UPDATE tasks SET {sets} WHERE task_id = ?",
            [(*(r[k] for k in names), r["task_id"]) for r in rows],
        )
        self.events([(t.task_id, t.state, t.message, t.changed) for t in tasks])

    def events(self, rows: list[tuple[str, ScheduleStatus, str, float]]) -> None:
        self.db.executemany(
            "INSERT INTO events (task_id, state, time, message) VALUES (?, ?, ?, ?)",
            [(task_id, state.value, when, message) for task_id, state, message, when in rows],
        )

    def update_task(self, task: Task, *, event: bool = True) -> None:
        values = task.to_json()
        values["ports"] = json.dumps(task.ports)
        task_id = values.pop("task_id")
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(f"UPDATE tasks SET {sets} WHERE task_id = ?", (*values.values(), task_id))
        if event:
            self.event(task_id, task.state, task.message, task.changed)

    def event(self, task_id: str, state: ScheduleStatus, message: str, when: float) -> None:
        self.db.execute(
            "INSERT INTO events (task_id, state, time, message) VALUES (?, ?, ?, ?)",
            (task_id, state.value, when, message),
        )

    def task(self, task_id: str) -> Task | None:
        row = self.db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else from_row(row)

    def tasks(self, job_key: str | None = None, *, current: bool = False) -> list[Task]:
        query, args = "SELECT * FROM tasks", []
        clauses = []
        if job_key is not None:
            clauses.append("job_key = ?")
            args.append(job_key)
        if current:
            clauses.append("superseded = 0")
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY job_key, instance, created, rowid"
        return [from_row(r) for r in self.db.execute(query, args).fetchall()]

    def tasks_of(self, job_key: str, instances: list[int]) -> list[Task]:
        """Every run of these instances of a job, oldest first."""
        marks = ", ".join("?" for _ in instances)
        rows = self.db.execute(
            f"SELECT * FROM tasks WHERE job_key = ? AND instance IN ({marks}) "
            "ORDER BY instance, created, rowid",
            (job_key, *instances),
        ).fetchall()
        return [from_row(r) for r in rows]

    def latest(self, job_key: str) -> list[Task]:
        """The newest run of each instance of a job."""
        newest: dict[int, Task] = {}
        for task in self.tasks(job_key):
            newest[task.instance] = task  # ordered by creation
        return [newest[i] for i in sorted(newest)]

    def count_in(self, *states: ScheduleStatus) -> int:
        """How many runs are in ``states`` (the state index, no row read)."""
        marks = ", ".join("?" for _ in states)
        row = self.db.execute(
            f"SELECT COUNT(*) FROM tasks WHERE state IN ({marks})", [s.value for s in states]
        ).fetchone()
        return int(row[0])

    def in_states(self, *states: ScheduleStatus) -> list[Task]:
        marks = ", ".join("?" for _ in states)
        rows = self.db.execute(
            f"SELECT * FROM tasks WHERE state IN ({marks}) ORDER BY created, rowid",
            [s.value for s in states],
        ).fetchall()
        return [from_row(r) for r in rows]

    def history(self, task_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT state, time, message FROM events WHERE task_id = ? ORDER BY seq", (task_id,)
        ).fetchall()
        return [dict(r) for r in rows]

    # meta
    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def now() -> float:
    return time.time()


__all__ = ["JobKey", "Store", "Task", "new_task_id"]
