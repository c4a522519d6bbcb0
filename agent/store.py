"""What ``borealis agent`` knows, and what it keeps on disk to survive its own restart.

Its work directory is laid out as a Mesos agent's, reduced to what Borealis needs
(``contract/layout.py``, ``AgentWorkDir``): ``meta/agent.json`` holds its id,
``meta/executors/<fw>/<executor>.json`` one executor (ids, run dir, pid, tasks),
``meta/updates.jsonl`` every status update received, in order; run directories go under
``slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/`` with a ``latest`` link.

The metadata holds each executor's secret (``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``), so it is
kept private: ``meta/`` and its directories are 0700, its files 0600.

An update is appended to ``updates.jsonl`` and fsynced before the executor gets its
ACKNOWLEDGED (an acknowledgement means the agent has stored the update).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from borealis.contract.layout import AgentWorkDir, open_private, private_dir
from borealis.contract.mesos import MesosState
from borealis.contract.stream import append_whole


@dataclass
class ExecutorRecord:
    framework_id: str
    executor_id: str
    run_dir: str
    checkpoint: bool
    capabilities: list[str] = field(default_factory=list)
    shutdown_grace: float = 5.0
    pid: int | None = None
    start_ticks: int | None = None
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> TaskInfo
    states: dict[str, str] = field(default_factory=dict)  # task id -> latest state
    undelivered: list[str] = field(default_factory=list)  # task ids not yet sent in LAUNCH
    terminated: bool = False
    secret: str = ""  # the executor's credential for /api/v1/executor ("" authenticates nothing)

    @property
    def key(self) -> tuple[str, str]:
        return self.framework_id, self.executor_id

    def live_tasks(self) -> list[str]:
        return [t for t in self.tasks if not _terminal(self.states.get(t))]


def _terminal(state: str | None) -> bool:
    known = MesosState.parse(state)
    return known is not None and known.terminal


class AgentStore:
    def __init__(self, work_dir: Path) -> None:
        self.layout = AgentWorkDir(work_dir)
        for directory in (self.layout.meta, self.layout.executors_meta):
            private_dir(directory)
        info = self.layout.agent_info
        if info.exists():
            self.agent_id: str = str(json.loads(info.read_text())["agent_id"])
        else:
            self.agent_id = f"borealis-{uuid.uuid4().hex[:12]}-S0"
            _write_atomic(info, {"agent_id": self.agent_id})
        self.executors: dict[tuple[str, str], ExecutorRecord] = {}
        self.updates: list[dict[str, Any]] = []
        self.seen_uuids: set[str] = set()
        self._load()
        self._log_fd = open_private(self.layout.updates_log)

    def _load(self) -> None:
        for path in sorted(self.layout.executors_meta.glob("*/*.json")):
            record = ExecutorRecord(**json.loads(path.read_text()))
            self.executors[record.key] = record
        log = self.layout.updates_log
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line
                self.updates.append(entry)
                self.seen_uuids.add(entry.get("uuid") or "")

    def run_dir(self, framework_id: str, executor_id: str) -> Path:
        base = self.layout.runs_dir(self.agent_id, framework_id, executor_id)
        run = base / uuid.uuid4().hex
        run.mkdir(parents=True)
        latest = self.layout.latest_link(base)
        tmp = base / f".latest.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run.name)
        os.replace(tmp, latest)
        return run

    def discard_run(self, run: Path) -> None:
        """Remove a run directory whose launch was refused (and ``latest`` if it names it)."""
        import shutil

        base = run.parent
        latest = self.layout.latest_link(base)
        if latest.is_symlink() and os.readlink(latest) == run.name:
            latest.unlink()
        shutil.rmtree(run, ignore_errors=True)
        for empty in (base, base.parent):  # runs/, then executors/<id>/, if nothing else is there
            try:
                empty.rmdir()
            except OSError:
                break

    def save(self, record: ExecutorRecord) -> None:
        path = self.layout.executor_meta(record.framework_id, record.executor_id)
        private_dir(path.parent)
        _write_atomic(path, asdict(record))

    def record_update(self, record: ExecutorRecord, task_status: dict[str, Any]) -> bool:
        """Store an update (durably); whether it was new (duplicates are dropped by uuid)."""
        uid = task_status.get("uuid", "")
        task_id = task_status["task_id"]["value"]
        if uid in self.seen_uuids:
            return False
        entry = {
            "seq": len(self.updates) + 1,
            "framework_id": record.framework_id,
            "executor_id": record.executor_id,
            "task_id": task_id,
            "state": task_status["state"],
            "message": task_status.get("message", ""),
            "reason": task_status.get("reason"),
            "healthy": task_status.get("healthy"),
            "source": task_status.get("source"),
            "timestamp": task_status.get("timestamp"),
            "uuid": uid or None,
        }
        # One whole line or nothing (a full disk leaves no torn line); OSError goes to the
        # caller, which does not acknowledge the update, so the executor sends it again.
        append_whole(self._log_fd, (json.dumps(entry) + "\n").encode(), self.layout.updates_log)
        if record.checkpoint:
            os.fsync(self._log_fd)
        self.updates.append(entry)
        if uid:
            self.seen_uuids.add(uid)
        record.states[task_id] = entry["state"]
        self.save(record)
        return True

    def close(self) -> None:
        if self._log_fd >= 0:
            os.close(self._log_fd)
            self._log_fd = -1


def _write_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(fd, "w") as fp:
        json.dump(value, fp)
        fp.flush()
        os.fsync(fp.fileno())
    os.replace(tmp, path)
