"""Which Unix user a Mesos task runs as (Aurora's rule: a job's role is a Unix user).

``task_user`` decides, before anything of the task exists on disk:

* by default the task runs as its **role's** user. A task that names its own ``user`` must
  name the role (a task cannot pick someone else's identity); a role that is not a Unix user
  on this host is refused, never run as the executor's user.
* a role whose uid is 0 runs only with the operator's consent: ``BOREALIS_ALLOW_ROOT_TASKS=1``
  in the executor's environment (``borealis agent --allow-root-tasks`` sets it).
* ``BOREALIS_NO_SETUID=1`` (``borealis agent --no-setuid``, Aurora's ``--nosetuid``) is the
  single-user mode: the role is not a user, tasks run as the executor's user, or as the user
  the task names. Under a root agent this is the operator's consent to run tasks as root.

The operator's settings travel as environment variables, as a Mesos agent hands its
``--executor_environment_variables`` to executors; only the agent and the operator set them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from borealis.contract.errors import InputError
from borealis.executor.runner import prepare
from borealis.executor.runner.runas import RunAs

NO_SETUID_ENV = "BOREALIS_NO_SETUID"
ALLOW_ROOT_ENV = "BOREALIS_ALLOW_ROOT_TASKS"
# set by ``borealis agent --ignore-container``: a task's container is recorded, not run
IGNORE_CONTAINER_ENV = "BOREALIS_IGNORE_CONTAINER"
_TRUE = ("1", "true", "yes", "on")


def enabled(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the operator setting ``name`` is on (``1``, ``true``, ``yes``, ``on``)."""
    value = (os.environ if environ is None else environ).get(name, "")
    return value.strip().lower() in _TRUE


@dataclass(frozen=True)
class Settings:
    no_setuid: bool = False
    allow_root: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls(enabled(NO_SETUID_ENV, environ), enabled(ALLOW_ROOT_ENV, environ))


@dataclass(frozen=True)
class TaskUser:
    name: str
    run_as: RunAs | None  # None: the executor's own user


def asked_user(task: object) -> str | None:
    """The ``user`` a task JSON names, if any (templates are not bound in it: taken as is)."""
    value = task.get("user") if isinstance(task, dict) else None
    return value if isinstance(value, str) and value else None


def task_user(role: str, asked: str | None, settings: Settings, source: str) -> TaskUser:
    """The user the task runs as (``InputError`` naming the field when it may not run)."""
    if settings.no_setuid:  # as before identities: the runner judges the task's own user
        me = prepare.current_user()
        if asked is None or asked == me:
            return TaskUser(me, None)
        return TaskUser(asked, prepare.lookup_user(asked))
    if asked is not None and asked != role:
        raise InputError(
            f"{source}: task",
            "user",
            f"{asked!r} is not the job's role {role!r}: a task runs as its role's user",
        )
    found = prepare.lookup_user(role)
    if found is None:
        raise InputError(f"{source}: job", "role", f"{role!r} is not a Unix user on this host")
    if found.uid == 0 and not settings.allow_root:
        raise InputError(
            f"{source}: job",
            "role",
            f"{role!r} is root: running a task as root needs the operator setting "
            f"{ALLOW_ROOT_ENV}=1 (borealis agent --allow-root-tasks)",
        )
    name, run_as = prepare.resolve_user(role, f"{source}: job.role")
    return TaskUser(name, run_as)


def check_reachable(directory: Path, run_as: RunAs | None) -> None:
    """Refuse a sandbox the task's user could not enter: every directory above it must let
    that user search it (a clear reason now, rather than each process failing in ``chdir``)."""
    if run_as is None or run_as.uid == 0:
        return
    for parent in directory.absolute().parents:
        info = parent.stat()
        if info.st_uid == run_as.uid:
            bit = stat.S_IXUSR
        elif info.st_gid == run_as.gid or info.st_gid in run_as.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            raise PermissionError(
                f"user {run_as.name!r} cannot reach the sandbox: {parent} is mode "
                f"{stat.S_IMODE(info.st_mode):04o}, owned by uid {info.st_uid}"
            )
