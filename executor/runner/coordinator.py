"""The coordinator: the one process that waits on a run and writes its result down.

The runner forks one coordinator per process run. The coordinator becomes a
session leader of its own (a Ctrl-C at the runner's terminal does not reach
it), starts ``/bin/bash -c cmdline`` as a session leader too, and records in
its own stream (``checkpoints/<task_id>/process.<name>``):

    FORKED  (its own identity)      right after the fork
    RUNNING (the child's identity)  once the child exists
    SUCCESS / FAILED / KILLED       with the real exit status, when it ends

and rings the runner's doorbell after each record. It outlives a runner crash,
so an exit status is never lost: the next runner merges what it wrote. The
stream's ``flock`` (taken by the runner before the fork and inherited) is held
for the coordinator's whole life; a free lock therefore proves no coordinator
of that process is alive. Only the exit record is fsynced: after a host crash
every process is gone anyway, but the results of finished runs must survive.

Disk full: a status record that cannot be written (``ENOSPC``/``EDQUOT``) is
held and written again every ``NO_SPACE_RETRY`` seconds (up to
``NO_SPACE_RETRY_MAX``) until there is room; the coordinator stays alive all
that time, so the runner waits for it instead of declaring the run LOST. A
warning record that cannot be written is dropped (the dropped bytes are still
counted and reported with the next warning that fits). A run whose command
cannot be started at all (a bad cwd, an exec failure, a string the kernel
refuses) ends FAILED with the reason and ``START_FAILURE_RC``, so it counts
against ``max_failures`` like any other failure.

SIGTERM, SIGINT and SIGHUP are caught and ignored here (a caught signal goes
back to its default in the exec'd child), so the coordinator stays to record
the exit of a process that a kill reached; only SIGKILL ends it early, and the
runner then declares the run LOST.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypedDict

from borealis.contract import confined
from borealis.contract.layout import LOG_FILE, LOG_STREAMS, SANDBOX_DIR
from borealis.contract.records import ProcessStatus, ProcessWarning, encode
from borealis.contract.states import ProcessState, process_state_for_exit
from borealis.contract.stream import StreamWriter, no_space
from borealis.contract.taskspec import LoggerSpec, ProcessSpec, RotatePolicy

from .cgroups import entered, oom_kills_in
from .logpump import Output, linger, make_pipe, pump_until_exit
from .logrotate import RotatingFile
from .proctree import identify, set_process_name

BASH = "/bin/bash"
MAX_FD = 1 << 20
START_FAILURE_RC = 127  # the shell's "command not found" status, for a run that could not start
NO_SPACE_RETRY = 0.1
NO_SPACE_RETRY_MAX = 2.0


class Switch(TypedDict, total=False):
    """Keyword arguments of ``subprocess.Popen`` and ``asyncio.create_subprocess_exec``."""

    user: int
    group: int
    extra_groups: list[int]


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    def switch(self) -> Switch:
        """The ``subprocess``/``asyncio`` arguments that start a child as this user: uid, gid
        and supplementary groups (the one definition for processes, health checks and the
        agent's fetcher)."""
        return Switch(user=self.uid, group=self.gid, extra_groups=list(self.groups))


@dataclass(frozen=True)
class Launch:
    """Everything a coordinator needs; built by the runner before it forks.

    Paths are plain strings: a coordinator runs in a copy of its parent's
    memory, and every object it touches costs it a private page.
    """

    task_id: str
    process: ProcessSpec
    run: int
    sandbox: str
    log_dir: str  # <sandbox>/.logs/<process>/<run>
    stream: str
    doorbell: str
    env: dict[str, str]
    logger: LoggerSpec  # the effective logger: the process's own, or the runner's default
    run_as: RunAs | None  # None: stay the runner's user
    # (task group, home group) pairs: the command is born in the task's cgroups
    cgroups: tuple[tuple[str, str], ...] = ()


def ring(doorbell: str, process: str) -> None:
    """Tell the runner, if one is listening, that ``process``'s stream grew.

    Never blocks, never fails: with no runner (ENXIO) the next one reads every
    stream when it starts; with the FIFO full (EAGAIN) the runner notices the
    overflow and reads every stream. One ring is a name and a newline, well
    under PIPE_BUF, so rings never interleave.
    """
    try:
        fd = os.open(doorbell, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, process.encode() + b"\n")
    except OSError:
        pass
    finally:
        os.close(fd)


def _ignore(signum: int, frame: object) -> None:
    pass


def _close_inherited_fds(keep: int) -> None:
    """Close every descriptor but 0-2 and ``keep`` (close_range(2): one call each)."""
    os.closerange(3, keep)
    os.closerange(keep + 1, MAX_FD)


def main(launch: Launch, stream_fd: int) -> NoReturn:
    """Entry point in the freshly forked child. Never returns."""
    status = 1
    try:
        gc.disable()  # the runner froze its heap; collecting here would only copy pages
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, _ignore)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        _close_inherited_fds(stream_fd)
        os.set_inheritable(stream_fd, False)  # received over a socket: not close-on-exec
        set_process_name(f"coord {launch.process.name}")
        status = coordinate(launch, StreamWriter(stream_fd, launch.stream))
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc(file=sys.stderr)
    finally:
        os._exit(status)


def _open_outputs(
    launch: Launch, report: Callable[[str], None]
) -> tuple[int | None, int | None, list[Output]]:
    """The child's stdout and stderr, and the outputs this coordinator must pump.

    ``file`` + ``standard``: the process appends to its own files (no copy).
    ``console``: it inherits ours. ``none``: /dev/null. Rotation and ``both``
    go through pipes to this process (``logpump.py``).
    """
    if not os.path.isdir(launch.sandbox):
        # Never re-create a sandbox behind the task's back.
        raise FileNotFoundError(errno.ENOENT, "the sandbox is missing", launch.sandbox)
    logger = launch.logger
    if logger.destination == "console":
        return None, None, []
    if logger.destination == "none":
        devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        return devnull, devnull, []
    owner = (launch.run_as.uid, launch.run_as.gid) if launch.run_as is not None else None
    directory = _open_log_dir(launch, owner)
    try:
        return _open_log_files(launch, directory, owner, report)
    finally:
        os.close(directory)


def _open_log_dir(launch: Launch, owner: tuple[int, int] | None) -> int:
    """The run's log directory, made and walked from the sandbox without following a link
    the task planted (``contract/confined.py``); each directory on the way given to the
    task's user."""
    try:
        top = confined.open_top(launch.sandbox)  # the path root chose: trusted
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(errno.ENOENT, "the sandbox is missing", launch.sandbox) from None
    try:
        parts = confined.names(os.path.relpath(launch.log_dir, launch.sandbox))
        return confined.open_dir(top, parts, create=SANDBOX_DIR, owner=owner)
    except confined.Refused as e:
        raise confined.Refused(e.refusal, launch.log_dir) from None
    finally:
        os.close(top)


def _open_log_files(
    launch: Launch, directory: int, owner: tuple[int, int] | None, report: Callable[[str], None]
) -> tuple[int | None, int | None, list[Output]]:
    logger = launch.logger
    append = os.O_WRONLY | os.O_CREAT | os.O_APPEND

    def open_log(name: str) -> int:
        try:
            return confined.open_leaf(directory, name, append, LOG_FILE, owner=owner)[0]
        except confined.Refused as e:
            raise confined.Refused(e.refusal, os.path.join(launch.log_dir, name)) from None

    if logger.destination == "file" and logger.mode == "standard":
        stdout = open_log(LOG_STREAMS[0])
        try:
            return stdout, open_log(LOG_STREAMS[1]), []
        except BaseException:
            os.close(stdout)
            raise
    policy = logger.rotate or RotatePolicy()
    child_ends: list[int] = []
    outputs: list[Output] = []
    for name, console in zip(LOG_STREAMS, (1, 2), strict=True):
        read_end, write_end = make_pipe()
        child_ends.append(write_end)
        path = os.path.join(launch.log_dir, name)
        rotating = plain = None
        if logger.mode == "rotate":
            try:
                rotating = RotatingFile(
                    path, policy.log_size, policy.backups, owner=owner, dir_fd=directory
                )
            except confined.Refused as e:
                raise confined.Refused(e.refusal, path) from None
        else:
            plain = open_log(name)
        outputs.append(
            Output(
                name,
                read_end,
                report,
                rotating=rotating,
                plain=plain,
                console=console if logger.destination == "both" else None,
            )
        )
    return child_ends[0], child_ends[1], outputs


# Signals that must be back to their default in the command: the interpreter
# ignores SIGPIPE and SIGXFSZ, and a spawner ignores SIGINT and SIGHUP.
_DEFAULT_SIGNALS = (
    signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
    signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD,
)  # fmt: skip


def _start(launch: Launch, stdout: int | None, stderr: int | None) -> int:
    """Start ``/bin/bash -c cmdline`` in its own session; return its pid."""
    argv = [BASH, "-c", launch.process.cmdline]
    run_as = launch.run_as
    if run_as is not None:  # posix_spawn cannot switch users
        child = subprocess.Popen(
            argv,
            cwd=launch.sandbox,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
            **run_as.switch(),
        )
        child.returncode = 0  # we reap it ourselves; keep Popen from ever doing so
        return child.pid
    # posix_spawn (vfork + exec in C) instead of subprocess: far fewer objects
    # touched, so far fewer copy-on-write pages in this forked process.
    os.chdir(launch.sandbox)  # the command's cwd; posix_spawn has no parameter for it
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
    ]
    if stdout is not None and stderr is not None:
        actions += [(os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)]
    return os.posix_spawn(
        BASH,
        argv,
        launch.env,
        file_actions=actions,
        setsid=True,
        setsigdef=_DEFAULT_SIGNALS,
        setsigmask=(),
    )


def start_problem(error: Exception) -> str:
    """One line saying why a command could not start."""
    if isinstance(error, OSError):
        text = error.strerror or str(error)
        return text + (f": {error.filename}" if error.filename else "")
    return str(error) or type(error).__name__


def append_until_written(stream: StreamWriter, payload: bytes) -> None:
    """Append one record, waiting for room while the disk is full (never dropping it)."""
    delay = NO_SPACE_RETRY
    announced = False
    while True:
        try:
            stream.append([payload])
            return
        except OSError as e:
            if not no_space(e):
                raise
            if not announced:
                announced = True
                with contextlib.suppress(Exception):
                    sys.stderr.write(
                        f"{stream.path}: {e.strerror}; holding a record until there is room\n"
                    )
        time.sleep(delay)
        delay = min(delay * 2, NO_SPACE_RETRY_MAX)


def coordinate(launch: Launch, stream: StreamWriter) -> int:
    name, run = launch.process.name, launch.run
    warnings = 0

    def record(state: ProcessState, *, final: bool = False, **fields: object) -> None:
        status = ProcessStatus(name, run, state, time.time(), **fields)  # type: ignore[arg-type]
        append_until_written(stream, encode(status))
        if final:
            with contextlib.suppress(OSError):  # written is what matters; the sync is for crashes
                stream.sync()
        if state is not ProcessState.FORKED:  # the runner that forked us knows that much
            ring(launch.doorbell, name)

    def report(message: str) -> None:
        nonlocal warnings
        try:
            stream.append([encode(ProcessWarning(name, run, warnings, time.time(), message))])
        except OSError as e:
            if not no_space(e):
                raise
            return  # a warning about a full disk may not fit on it: dropped
        warnings += 1
        ring(launch.doorbell, name)

    record(ProcessState.FORKED, coordinator=identify(os.getpid()))
    outputs: list[Output] = []
    ooms = oom_kills_in(launch.cgroups)
    try:
        stdout, stderr, outputs = _open_outputs(launch, report)
        with entered(launch.cgroups):  # only for the spawn: a group kill must spare us
            pid = _start(launch, stdout, stderr)
    except Exception as e:  # whatever stops the command from starting ends the run FAILED
        for output in outputs:
            output.close()
        record(
            ProcessState.FAILED,
            final=True,
            return_code=START_FAILURE_RC,
            reason=f"could not start: {start_problem(e)}",
        )
        return 0
    for fd in {stdout, stderr}:
        if fd is not None:
            os.close(fd)
    record(ProcessState.RUNNING, pid=identify(pid))
    if outputs:
        return_code = pump_until_exit(pid, outputs)
        for output in outputs:
            output.report_dropped()
    else:
        _, status = os.waitpid(pid, 0)
        return_code = os.waitstatus_to_exitcode(status)
    if return_code == -signal.SIGKILL and oom_kills_in(launch.cgroups) > ooms:
        reason = "killed by the kernel: out of memory at the task's cgroup memory limit"
        record(ProcessState.FAILED, final=True, return_code=return_code, reason=reason)
    else:
        record(process_state_for_exit(return_code), final=True, return_code=return_code)
    if outputs:
        linger(outputs)  # output of processes it left behind, briefly
    return 0
