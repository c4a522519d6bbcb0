"""Put a task on disk before its runner starts: user, task file, sandbox.

Used by ``borealis run`` (and later the executor). Everything that can be
wrong with the input is checked before anything is created, so a refused task
leaves no sandbox, task file or checkpoint behind.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import tempfile
from pathlib import Path

from borealis.contract.errors import InputError
from borealis.contract.layout import PRIVATE_FILE, SANDBOX_DIR, TaskPaths
from borealis.contract.states import TaskState
from borealis.contract.taskspec import TaskSpec, task_from_text

from .runas import RunAs
from .runner import RunContext, RunnerOptions, TaskRunner


def current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def resolve_user(wanted: str | None, source: str) -> tuple[str, RunAs | None]:
    """The user processes run as, and how to switch to it (``None``: no switch)."""
    me = current_user()
    if not wanted or wanted == me:
        return me, None
    run_as = lookup_user(wanted)
    if run_as is None:
        raise InputError(source, "user", f"unknown user {wanted!r}")
    if os.geteuid() != 0:
        raise InputError(
            source, "user", f"running processes as {wanted!r} needs root (running as {me!r})"
        )
    return wanted, run_as


def lookup_user(name: str) -> RunAs | None:
    """``name``'s uid, primary gid and supplementary groups (``None``: no such user)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = tuple(os.getgrouplist(name, entry.pw_gid))
    return RunAs(name, entry.pw_uid, entry.pw_gid, groups)


def check_new_or_same(paths: TaskPaths, spec: TaskSpec) -> bool:
    """Whether this is a resume of the same task; refuse a different one under the same id."""
    if paths.finished_task_file.exists():
        raise InputError(
            "--task-id",
            paths.task_id,
            "this task already finished; pick another id (or remove it with borealis gc)",
        )
    existing = paths.active_task_file
    if not existing.exists():
        return False
    on_disk = task_from_text(existing.read_text(), str(existing))
    if on_disk.to_json() != spec.to_json():
        raise InputError(
            "--task-id",
            paths.task_id,
            f"a different task already runs under this id (see {existing})",
        )
    return True


def write_task_file(paths: TaskPaths, spec: TaskSpec) -> None:
    paths.root.ensure()
    directory = paths.root.active_dir
    fd, tmp = tempfile.mkstemp(prefix=f".{paths.task_id}.", dir=directory)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # as every checkpoint file (docs/security.md)
        with os.fdopen(fd, "w") as fp:
            fp.write(spec.dumps())
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, paths.active_task_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_task_file(paths: TaskPaths) -> TaskSpec:
    location = paths.task_file()
    if location is None:
        raise InputError("", paths.task_id, f"no such task under {paths.root.path}")
    return task_from_text(location.read_text(), str(location))


def make_sandbox(sandbox: Path, run_as: RunAs | None) -> None:
    """Make the sandbox and give it to the task's user: ``fchown`` on the directory itself,
    opened without following a link (never the target of one planted at its name)."""
    # Created here: task users pass through its parent, and only they (and their
    # group) read it. A sandbox that already exists (``--sandbox DIR``) keeps its mode.
    missing = [d for d in (sandbox.parent, *sandbox.parent.parents) if not d.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o711, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        sandbox.mkdir(mode=SANDBOX_DIR)
    if run_as is not None:
        fd = os.open(sandbox, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchown(fd, run_as.uid, run_as.gid)
        finally:
            os.close(fd)


def resume(
    paths: TaskPaths,
    options: RunnerOptions,
    *,
    sandbox: Path | None = None,
    ports: dict[str, int] | None = None,
    hostname: str = "localhost",
    kill: TaskState | None = None,
    ignored_container: str = "",
) -> TaskState:
    """Run (or resume, or kill) a task whose task file is already on disk
    (``ignored_container``: the container it runs without, recorded at its first start)."""
    spec = read_task_file(paths)
    source = str(paths.task_file())
    user, run_as = resolve_user(spec.user, source)
    chosen = sandbox or paths.default_sandbox
    if not paths.runner_stream.exists():
        make_sandbox(chosen, run_as)
    context = RunContext(
        chosen.absolute(), user, dict(ports or {}), hostname, run_as, ignored_container
    )
    runner = TaskRunner(paths.root, paths.task_id, spec, context, options, kill=kill)
    return runner.run()
