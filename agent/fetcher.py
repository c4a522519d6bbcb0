"""The agent's fetcher: ``executor_uris`` copied into a run directory **as the task's user**.

As the Mesos fetcher does for ``CommandInfo.uris`` (no extraction, no cache), with the rule
that root never reads on a task's behalf: the source is read by a child process that runs as
the fetching user (uid, gid and supplementary groups: ``RunAs.switch``), ``/bin/cat`` for a
local path or ``file://`` URL and ``curl`` for ``http(s)://``. The child only writes to the
descriptor it inherits; the agent creates that file itself (``O_EXCL | O_NOFOLLOW`` in the run
directory it just made), owned by the user, mode 0644 or 0755 when ``executable``. A user who
cannot read a file therefore cannot fetch it, and nothing half-fetched is left behind.

Who fetches (``fetch_user``): the launch body's ``user`` (as Mesos' ``CommandInfo.user``; the
scheduler's local backend sets it to the job's role); without one, the agent's own user unless
that is root (refused, except in the operator's single-user mode, ``BOREALIS_NO_SETUID``).
Fetching as root needs ``BOREALIS_ALLOW_ROOT_TASKS`` as running a task as root does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

from borealis.contract.layout import (
    LOG_STREAMS,
    CheckpointRoot,
    executor_output,
    executor_sandbox,
)
from borealis.executor.mesos.identity import ALLOW_ROOT_ENV, Settings
from borealis.executor.runner import prepare
from borealis.executor.runner.runas import RunAs

FETCH_TIMEOUT = 60.0
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class FetchError(Exception):
    """A URI that is not fetched; the message is one line for the framework."""


def fetch_user(asked: Any, settings: Settings | None = None) -> RunAs | None:
    """The user to fetch as (``None``: the agent's own, non-root or allowed, user)."""
    settings = settings or Settings.from_environ()
    if asked is None or asked == "":
        if os.geteuid() == 0 and not settings.no_setuid:
            raise FetchError(
                "executor_uris need a user to fetch as (the launch's user field): "
                "the agent does not read files as root for a task"
            )
        return None
    if not isinstance(asked, str):
        raise FetchError("user must be a string")
    run_as = prepare.lookup_user(asked)
    if run_as is None:
        raise FetchError(f"user {asked!r} is not a Unix user on this host")
    if run_as.uid == 0 and not settings.allow_root:
        raise FetchError(
            f"user {asked!r} is root: fetching as root needs {ALLOW_ROOT_ENV}=1 "
            "(borealis agent --allow-root-tasks)"
        )
    if os.geteuid() != 0:
        if run_as.uid != os.geteuid():
            raise FetchError(f"fetching as {asked!r} needs an agent running as root")
        return None
    return run_as


def reader_argv(value: str) -> list[str]:
    """The child command that writes ``value``'s content to its standard output."""
    parsed = urllib.parse.urlparse(value)
    if parsed.scheme in ("http", "https"):
        curl = shutil.which("curl", path=SAFE_PATH)
        if curl is None:
            raise FetchError(f"cannot fetch {value}: http(s) URIs need curl on this host")
        return [curl, "--fail", "--silent", "--show-error", "--location", "--proto", "=http,https",
                "--max-time", f"{FETCH_TIMEOUT:g}", "--", value]  # fmt: skip
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
    elif parsed.scheme == "":
        path = value
    else:
        raise FetchError(f"cannot fetch {value}: unsupported scheme {parsed.scheme!r}")
    if not os.path.isabs(path):
        raise FetchError(f"cannot fetch {value}: a local path must be absolute")
    return ["/bin/cat", "--", path]


def target_name(value: str, run_dir: Path) -> str:
    """The copy's name: the URI's last path component, never one the run directory's layout
    uses (the sandbox, the checkpoint root, the executor's output)."""
    name = Path(urllib.parse.urlparse(value).path).name
    if name in ("", ".", ".."):
        return "fetched"
    root = CheckpointRoot(run_dir)
    taken = {
        executor_sandbox(run_dir),
        root.tasks_dir,
        root.checkpoints_dir,
        *(executor_output(run_dir, stream) for stream in LOG_STREAMS),
    }
    if run_dir / name in taken:
        raise FetchError(f"cannot fetch {value}: {name!r} is a name of the run directory")
    return name


def fetch_one(
    value: str, argv: list[str], target: Path, executable: bool, run_as: RunAs | None
) -> None:
    """Copy what ``argv`` (run as ``run_as``) writes into the new file ``target``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o600)
    except OSError as e:
        raise FetchError(f"cannot fetch {value}: {target.name}: {e.strerror or e}") from None
    try:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.PIPE,
                cwd="/",
                env={"PATH": SAFE_PATH, "LC_ALL": "C"},
                timeout=FETCH_TIMEOUT + 5,
                check=False,
                **(run_as.switch() if run_as is not None else {}),
            )
        except subprocess.TimeoutExpired:
            raise FetchError(f"cannot fetch {value}: timed out") from None
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            who = f" as {run_as.name}" if run_as is not None else ""
            detail = said[-1][:200] if said else f"exit status {done.returncode}"
            raise FetchError(f"cannot fetch {value}{who}: {detail}")
        os.fchmod(fd, 0o755 if executable else 0o644)
        if run_as is not None:
            os.fchown(fd, run_as.uid, run_as.gid)
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)


def fetch_all(uris: Any, run_dir: Path, user: Any) -> None:
    """Every ``{"value": ..., "executable": bool}`` entry, checked before anything is read."""
    if not isinstance(uris, list):
        raise FetchError("executor_uris must be a list")
    entries: list[tuple[str, list[str], Path, bool]] = []
    for uri in uris:
        value = uri.get("value") if isinstance(uri, dict) else None
        if not isinstance(value, str) or not value:
            raise FetchError("each executor_uris entry needs a value")
        target = run_dir / target_name(value, run_dir)
        entries.append((value, reader_argv(value), target, bool(uri.get("executable"))))
    if not entries:
        return
    run_as = fetch_user(user)
    for value, argv, target, executable in entries:
        fetch_one(value, argv, target, executable, run_as)
