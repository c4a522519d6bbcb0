"""The on-disk layout of a checkpoint root: a public contract.

Operators, log collectors, the observer and the executor rely on these paths;
``docs/layout.md`` documents them. Every path is computed here and nowhere else::

    <root>/tasks/active/<task_id>            task JSON while the task runs
    <root>/tasks/finished/<task_id>          the same file, renamed when it ends
    <root>/checkpoints/<task_id>/runner      the runner's merged record stream
    <root>/checkpoints/<task_id>/process.<name>   one coordinator stream per process
    <root>/checkpoints/<task_id>/doorbell    FIFO: coordinators wake the runner
    <root>/checkpoints/<task_id>/runner.log  the runner's own output, when an executor starts it
    <root>/checkpoints/<task_id>/resources[.1]   resource samples, newest file last
    <root>/checkpoints/<task_id>/containment cgroup or process-tree mode, and the task's groups
    <root>/sandboxes/<task_id>/              default sandbox of ``borealis run``
    <root>/agent/                            work directory of the embedded ``borealis agent``
    <root>/secrets/agent.token               bearer token of the agent's framework API (0600)
    <root>/secrets/scheduler.token           bearer token of the scheduler's API (0600)
    <root>/secrets/observer.token            bearer token of the observer's pages and API (0600)
    ~/.borealis/token                        a user's token for the scheduler, if they have one
    <sandbox>/.logs/<process>/<run>/stdout|stderr   process output (rotated: stdout.1 ...)

A Mesos agent's work directory (and the embedded agent's, which copies it)::

    <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<run>/
        the executor's run directory: its sandbox, and a checkpoint root of its own
    <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/latest -> <run>
    <work_dir>/meta/agent.json                      the embedded agent: its id
    <work_dir>/meta/executors/<fw>/<executor>.json  one executor it launched
    <work_dir>/meta/updates.jsonl                   every status update it received

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .logfiles import LOG_FILE as LOG_FILE
from .logfiles import LOG_STREAMS as LOG_STREAMS
from .logfiles import SANDBOX_DIR as SANDBOX_DIR
from .logfiles import rotated_name

ROOT_ENV = "BOREALIS_ROOT"
AGENT_DIR = "agent"  # the embedded agent's work directory, under the checkpoint root
SECRETS_DIR = "secrets"  # the daemons' credentials, under the checkpoint root (mode 0700)

TASK_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
LOG_DIR_NAME = ".logs"

# File modes (docs/security.md): checkpoints and task files are private to the
# user that runs the task's runner; sandboxes and logs are readable by the task
# user's group (log collectors run as root), never by others.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def default_root() -> Path:
    """The checkpoint root used when neither ``--root`` nor ``$BOREALIS_ROOT`` is given."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/borealis")
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(state_home) / "borealis"


def user_token() -> Path:
    """A user's own token for the scheduler (``~/.borealis/token``), read by the CLI last."""
    return Path(os.path.expanduser("~")) / ".borealis" / "token"


def check_task_id(task_id: str) -> str:
    """Return ``task_id`` if it is a valid task id, else raise ``ValueError``."""
    if not TASK_ID_RE.match(task_id):
        raise ValueError(
            f"invalid task id {task_id!r}: use 1-200 characters from [A-Za-z0-9_.-], "
            "not starting with '.' or '-'"
        )
    return task_id


@dataclass(frozen=True)
class CheckpointRoot:
    """A directory holding tasks, their checkpoints and (standalone) sandboxes."""

    path: Path

    @property
    def active_dir(self) -> Path:
        return self.tasks_dir / "active"

    @property
    def finished_dir(self) -> Path:
        return self.tasks_dir / "finished"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def sandboxes_dir(self) -> Path:
        return self.path / "sandboxes"

    @property
    def tasks_dir(self) -> Path:
        """Holds ``active/`` and ``finished/``: where a watcher learns of new and ended tasks."""
        return self.path / "tasks"

    @property
    def scheduler_db(self) -> Path:
        """The embedded scheduler's SQLite file, by default."""
        return self.path / "scheduler.db"

    @property
    def agent_work_dir(self) -> AgentWorkDir:
        """Where ``borealis agent`` keeps its executors' run directories by default."""
        return AgentWorkDir(self.path / AGENT_DIR)

    @property
    def secrets_dir(self) -> Path:
        """The daemons' credentials (a 0700 directory of 0600 files)."""
        return self.path / SECRETS_DIR

    @property
    def agent_token(self) -> Path:
        """The bearer token of ``borealis agent``'s framework API, by default."""
        return self.secrets_dir / "agent.token"

    @property
    def scheduler_token(self) -> Path:
        """The bearer token of ``borealis scheduler``'s API, by default."""
        return self.secrets_dir / "scheduler.token"

    @property
    def observer_token(self) -> Path:
        """The bearer token of ``borealis observer``'s pages and API, by default."""
        return self.secrets_dir / "observer.token"

    def with_agent_runs(self) -> list[CheckpointRoot]:
        """This root and the checkpoint root of every run of the embedded agent working under
        it: every task of the host, as ``borealis status`` and the observer show them."""
        return [self, *(CheckpointRoot(run) for run in self.agent_work_dir.run_dirs())]

    def holding(self, task_id: str) -> CheckpointRoot:
        """The root of ``with_agent_runs`` that has ``task_id`` (this one if none has)."""
        for root in self.with_agent_runs():
            if root.task(task_id).task_file() is not None:
                return root
        return self

    def task(self, task_id: str) -> TaskPaths:
        return TaskPaths(self, check_task_id(task_id))

    def task_ids(self, which: str = "all") -> list[str]:
        """Task ids found under ``tasks/active`` and/or ``tasks/finished`` (unsorted)."""
        dirs = {
            "active": [self.active_dir],
            "finished": [self.finished_dir],
            "all": [self.active_dir, self.finished_dir],
        }[which]
        ids: set[str] = set()
        for directory in dirs:
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                continue
            ids.update(name for name in names if TASK_ID_RE.match(name))
        return list(ids)

    def ensure(self) -> None:
        """Create the root's trees: ``tasks/`` and ``checkpoints/`` private to their owner.

        The root itself is 0711 when created here: task users must pass through it to
        their sandboxes (``sandboxes/<task_id>``), but need not list it.
        """
        with contextlib.suppress(FileExistsError):
            self.path.mkdir(mode=0o711, parents=True)
        tasks = self.active_dir.parent
        for directory in (tasks, self.active_dir, self.finished_dir, self.checkpoints_dir):
            directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            with contextlib.suppress(PermissionError):  # someone else's root: theirs to keep
                if directory.stat().st_mode & 0o077:
                    os.chmod(directory, PRIVATE_DIR)


@dataclass(frozen=True)
class TaskPaths:
    """Every path belonging to one task under a checkpoint root."""

    root: CheckpointRoot
    task_id: str

    @property
    def active_task_file(self) -> Path:
        return self.root.active_dir / self.task_id

    @property
    def finished_task_file(self) -> Path:
        return self.root.finished_dir / self.task_id

    @property
    def checkpoint_dir(self) -> Path:
        return self.root.checkpoints_dir / self.task_id

    @property
    def runner_stream(self) -> Path:
        return self.checkpoint_dir / "runner"

    def process_stream(self, process: str) -> Path:
        return self.checkpoint_dir / f"process.{process}"

    @property
    def doorbell(self) -> Path:
        return self.checkpoint_dir / "doorbell"

    @property
    def runner_log(self) -> Path:
        """The runner's stdout and stderr when an executor starts it (its warnings, and why it
        could not start the task)."""
        return self.checkpoint_dir / "runner.log"

    @property
    def resources(self) -> Path:
        """The live resource history file (``resources.1`` holds the previous one)."""
        return self.checkpoint_dir / "resources"

    @property
    def containment(self) -> Path:
        """How the task's processes are contained (``contract/containment.py``)."""
        return self.checkpoint_dir / "containment"

    @property
    def default_sandbox(self) -> Path:
        return self.root.sandboxes_dir / self.task_id

    def make_checkpoint_dir(self) -> Path:
        """Create ``checkpoints/<task_id>`` (0700), or bring an existing one back to 0700."""
        self.root.checkpoints_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        return private_dir(self.checkpoint_dir)

    def task_file(self) -> Path | None:
        """The task file, wherever it currently is (active first), or ``None``."""
        for candidate in (self.active_task_file, self.finished_task_file):
            if candidate.exists():
                return candidate
        return None


@dataclass(frozen=True)
class AgentWorkDir:
    """A Mesos agent's work directory (``--work_dir``), as far as Borealis reads or writes it."""

    path: Path

    def runs_dir(self, agent_id: str, framework_id: str, executor_id: str) -> Path:
        """Where the runs of one executor go (each in a directory of its own)."""
        return (
            self.path / "slaves" / agent_id / "frameworks" / framework_id
            / "executors" / executor_id / "runs"
        )  # fmt: skip

    def latest_link(self, runs_dir: Path) -> Path:
        """``runs/latest``: a link to the newest run of an executor."""
        return runs_dir / "latest"

    def run_dirs(self) -> list[Path]:
        """Every run directory that holds a Borealis checkpoint root, skipping ``latest``."""
        found = []
        for run in self.path.glob("slaves/*/frameworks/*/executors/*/runs/*"):
            if not run.is_symlink() and (run / "tasks").is_dir():
                found.append(run)
        return sorted(found)

    @property
    def meta(self) -> Path:
        return self.path / "meta"

    @property
    def agent_info(self) -> Path:
        return self.meta / "agent.json"

    @property
    def executors_meta(self) -> Path:
        return self.meta / "executors"

    def executor_meta(self, framework_id: str, executor_id: str) -> Path:
        return self.executors_meta / framework_id / f"{executor_id}.json"

    @property
    def updates_log(self) -> Path:
        return self.meta / "updates.jsonl"


def private_dir(directory: Path) -> Path:
    """Create ``directory`` with ``PRIVATE_DIR`` (its parent must exist), or bring an existing
    one of ours back to it. A link at its name is refused (``OSError``), never followed."""
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=PRIVATE_DIR)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_mode & 0o7777 != PRIVATE_DIR:
            with contextlib.suppress(PermissionError):  # someone else's: theirs to keep
                os.fchmod(fd, PRIVATE_DIR)
    finally:
        os.close(fd)
    return directory


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_APPEND) -> int:
    """Open (creating it ``PRIVATE_FILE``) a file of a private directory, never through a link;
    an existing file with a wider mode is brought back to ``PRIVATE_FILE``."""
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if os.fstat(fd).st_mode & 0o7777 != PRIVATE_FILE:
            with contextlib.suppress(PermissionError):
                os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def executor_sandbox(run_dir: Path) -> Path:
    """The sandbox of a Borealis executor's task, inside the executor's run directory."""
    return run_dir / "sandbox"


def executor_output(run_dir: Path, stream: str) -> Path:
    """The executor's own stdout or stderr, in its run directory (as a Mesos agent puts them)."""
    assert stream in LOG_STREAMS
    return run_dir / stream


def rotated(path: Path, index: int) -> Path:
    """``path``'s ``index``-th older file (``logfiles.rotated_name``; 0: itself)."""
    return path.with_name(rotated_name(path.name, index))


def log_dir(sandbox: Path) -> Path:
    return sandbox / LOG_DIR_NAME


def process_log_dir(sandbox: Path, process: str, run: int) -> Path:
    return log_dir(sandbox) / process / str(run)


def process_log(sandbox: Path, process: str, run: int, stream: str) -> Path:
    """``<sandbox>/.logs/<process>/<run>/stdout`` (or ``stderr``): the live file."""
    return run_log_in(log_dir(sandbox), process, run, stream)


def run_log_in(logs: Path, process: str, run: int, stream: str) -> Path:
    """The live log file of a run under a log directory (a header's ``log_dir``)."""
    assert stream in LOG_STREAMS
    return logs / process / str(run) / stream
