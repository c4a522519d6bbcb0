"""Helpers for tests: build tasks, run them for real, poll with a deadline."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import RunnerState, load
from borealis.contract.states import TaskState
from borealis.contract.taskspec import TaskSpec, task_from_json
from borealis.contract.validation import validate
from borealis.executor.runner.proctree import ProcessTable
from borealis.executor.runner.runner import RunContext, RunnerOptions, TaskRunner

REPO = Path(__file__).resolve().parent.parent


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    what: str = "condition",
    seen: Callable[[], Any] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``; the
    failure says ``what`` was awaited and, with ``seen``, what there was instead."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            instead = f" (instead: {seen()!r})" if seen is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{instead}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def wait_for_size(path: Path, size: int, stalled: float = 10.0, limit: float = 300.0) -> int:
    """Wait until ``path`` holds ``size`` bytes, or stops growing for ``stalled`` seconds (a
    reader that lost data never catches up: the caller's checks then say what is missing,
    at once, instead of at a timeout). Returns the size reached."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while True:
        now = path.stat().st_size if path.exists() else 0
        if now >= size:
            return now
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stalled:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still growing after {limit}s: {now} of {size} bytes")
        time.sleep(0.05)


def task(*processes: dict[str, Any], **fields: Any) -> TaskSpec:
    """A validated TaskSpec from process dicts (``min_duration`` defaults to 0 here)."""
    procs = [{"min_duration": 0, **p} for p in processes]
    spec = task_from_json({"name": fields.pop("name", "t"), "processes": procs, **fields})
    validate(spec)
    return spec


def run_in_process(
    root: CheckpointRoot,
    spec: TaskSpec,
    task_id: str = "t1",
    options: RunnerOptions | None = None,
    **context: Any,
) -> tuple[TaskState, TaskRunner]:
    """Run a task to its end in this process; check live state == replayed state."""
    sandbox = root.path / "sandboxes" / task_id
    sandbox.mkdir(parents=True, exist_ok=True)
    paths = root.task(task_id)
    paths.active_task_file.write_text(spec.dumps())
    ctx = RunContext(sandbox=sandbox, user=context.pop("user", "root"), **context)
    runner = TaskRunner(root, task_id, spec, ctx, options or RunnerOptions(kill_grace=2))
    state = runner.run()
    assert runner.state == load(paths.runner_stream), "live state differs from replayed state"
    return state, runner


def replayed(root: CheckpointRoot, task_id: str) -> RunnerState:
    return load(root.task(task_id).runner_stream)


def borealis(*args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run the borealis CLI in a subprocess (as an installed user would)."""
    return subprocess.run(
        [sys.executable, "-m", "borealis.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=kw.pop("cwd", REPO),
        **kw,
    )


STARTED: list[subprocess.Popen[bytes]] = []


def start_borealis(*args: str, log: Path, **kw: Any) -> subprocess.Popen[bytes]:
    """Start the CLI in the background; its stdout and stderr go to ``log``.

    Whatever a test leaves running is killed after it (``conftest.py``).
    """
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "borealis.cli.main", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=kw.pop("cwd", REPO),
            **kw,
        )
    STARTED.append(proc)
    return proc


def names_path_under(data: bytes, under: Path) -> bool:
    """Whether ``data`` (a command line, an environment) names ``under`` or a path inside it:
    as a whole path component, so that /tmp/x/test_kill1 never matches /tmp/x/test_kill10."""
    return _under_re(under).search(data) is not None


def _under_re(under: Path) -> re.Pattern[bytes]:
    return re.compile(
        rb"(?:^|[\0\s=:'\"])" + re.escape(str(under).encode()) + rb"(?:/|$|[\0\s'\"])"
    )


def kill_leftovers(under: Path) -> list[int]:
    """SIGKILL every process a test left behind under ``under``; return their pids.

    Found by the task marker (``BOREALIS_SANDBOX`` inside ``under``) or by a command line
    that names a path inside it (runners, spawners, coordinators), component by component.
    """
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    STARTED.clear()
    pattern = _under_re(under)
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fp:
                cmdline = fp.read()
            with open(f"/proc/{entry}/environ", "rb") as fp:
                environ = fp.read()
        except OSError:
            continue
        marker = any(
            v.startswith(b"BOREALIS_SANDBOX=") and pattern.search(v) for v in environ.split(b"\0")
        )
        if marker or pattern.search(cmdline):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry), 9)
                killed.append(int(entry))
    remove_task_cgroups(under)
    return killed


def remove_task_cgroups(under: Path, wait: float = 5.0) -> None:
    """Kill and remove the cgroups of tasks under ``under`` whose runner did not (it was
    killed): every test leaves the host's cgroups as it found them (docs/security.md)."""
    for dirpath, _, files in os.walk(under):
        if (
            "containment" not in files
            or os.path.basename(os.path.dirname(dirpath)) != "checkpoints"
        ):
            continue
        try:
            groups = json.loads(Path(dirpath, "containment").read_text()).get("groups", {})
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(groups, dict):
            continue
        for group in sorted({Path(d) for d in groups.values() if isinstance(d, str)}):
            if not group.is_dir():
                continue
            with contextlib.suppress(OSError):
                (group / "cgroup.kill").write_text("1")
            deadline = time.monotonic() + wait
            while True:
                try:
                    group.rmdir()
                    break
                except OSError:  # busy until its last member is reaped
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
            with contextlib.suppress(OSError):  # other tasks' groups may still be in it
                group.parent.rmdir()


def marked(task_id: str, sandbox: Path | str) -> list[int]:
    """Live processes carrying the task's environment marker."""
    return ProcessTable().marked(task_id, str(sandbox))


def run_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone(pid: int) -> bool:
    """The process has exited (it may still be a zombie its parent has not reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as fp:
            return fp.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def fill_up(path: Path) -> None:
    """Take every free byte of ``path``'s filesystem (small writes, so nothing is left over);
    the write that finds none must fail with ENOSPC."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
