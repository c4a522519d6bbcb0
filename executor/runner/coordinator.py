"""A run's coordinator: starts one process run in the shim, records its life, moves its output.

The shim (``shim.py``) holds one ``Coordinator`` per run it was handed. The coordinator
records in the process's own stream (``checkpoints/<task_id>/process.<name>``), whose
``flock`` the runner took and handed over with the launch:

    FORKED  (the shim's identity)  before the command is started
    RUNNING (the child's identity) once the child exists
    SUCCESS / FAILED / KILLED      with the real exit status, when it ends

and rings the runner's doorbell after each record but FORKED. FORKED is on disk before the
command exists, so a shim that dies at any point never leaves a started run that looks
unstarted: the runner finds FORKED, declares the run LOST and kills what is left of it. Only
the exit record is fsynced: after a host crash every process is gone anyway, but the results
of finished runs must survive. Once the exit record is written the stream is closed, which
frees its lock: a free lock proves that no coordinator of that process is alive, and the
runner may start the next run. Output that processes left behind still write is forwarded
for a moment after that (``logpump.LINGER``), without records.

Disk full: records that cannot be written (``ENOSPC``/``EDQUOT``) are held, in order, and
written again every ``NO_SPACE_RETRY`` seconds (backing off to ``NO_SPACE_RETRY_MAX``) until
there is room; a run whose FORKED record is held is not started until it is written; the
lock is kept until the exit record is on disk, so the runner waits for it instead of
declaring the run LOST. A warning record that cannot be written is dropped (the dropped
bytes are still counted and reported with the next warning that fits). A run whose command
cannot be started at all (a bad cwd, an exec failure, a string the kernel refuses) ends
FAILED with the reason and ``START_FAILURE_RC``, so it counts against ``max_failures`` like
any other failure.

This module runs in the shim, which is kept as small as a Python process can be: it imports
only the standard library's smallest modules and the project's lean ones (no dataclasses,
no typing at run time, no record classes). A launch arrives as plain values (``Launch``).
"""

from __future__ import annotations

import errno
import marshal
import os
import signal
import time
from collections.abc import Callable

from borealis.contract import confined
from borealis.contract.framing import append_whole, frame, no_space
from borealis.contract.logfiles import LOG_FILE, LOG_STREAMS, SANDBOX_DIR
from borealis.contract.runrecords import process_status, process_warning, to_bytes
from borealis.contract.states import ProcessState, process_state_for_exit

from .cgroup_join import entered, oom_kills_in
from .commandline import direct_argv, direct_environment
from .logpump import LINGER, MAX_LINGER, Output, make_pipe
from .logrotate import RotatingFile, open_live
from .procstat import identity_of

BASH = "/bin/bash"
START_FAILURE_RC = 127  # the shell's "command not found" status, for a run that could not start
NO_SPACE_RETRY = 0.1
NO_SPACE_RETRY_MAX = 2.0

# Signals that must be back to their default in the command: the interpreter ignores SIGPIPE
# and SIGXFSZ, and the shim ignores the stop signals.
DEFAULT_SIGNALS = (
    signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
    signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD,
)  # fmt: skip


class Launch:
    """Everything a coordinator needs, as plain values; built by the runner, sent to the shim
    over a socket (``to_wire``: ``marshal``, both ends being the same interpreter)."""

    FIELDS = (
        "task_id", "process", "run", "cmdline", "sandbox", "log_dir", "stream", "doorbell",
        "env", "destination", "mode", "log_size", "backups", "run_as", "cgroups", "log_problem",
    )  # fmt: skip
    __slots__ = FIELDS

    def __init__(
        self,
        task_id: str,
        process: str,
        run: int,
        cmdline: str,
        sandbox: str,
        log_dir: str,  # <sandbox>/.logs/<process>/<run>
        stream: str,
        doorbell: str,
        env: dict[str, str],
        destination: str,  # the effective logger: the process's own, or the runner's default
        mode: str,
        log_size: int,
        backups: int,
        run_as: tuple[int, int, tuple[int, ...]] | None,  # uid, gid, groups; None: the shim's
        cgroups: tuple[tuple[str, str], ...] = (),  # (task group, home group): born in them
        log_problem: str = "",  # why the runner could not open the log directory, if it could not
    ) -> None:
        self.task_id = task_id
        self.process = process
        self.run = run
        self.cmdline = cmdline
        self.sandbox = sandbox
        self.log_dir = log_dir
        self.stream = stream
        self.doorbell = doorbell
        self.env = env
        self.destination = destination
        self.mode = mode
        self.log_size = log_size
        self.backups = backups
        self.run_as = run_as
        self.cgroups = cgroups
        self.log_problem = log_problem

    def to_wire(self) -> bytes:
        return marshal.dumps(tuple(getattr(self, name) for name in self.FIELDS))  # __init__'s order

    @classmethod
    def from_wire(cls, data: bytes) -> Launch:
        values = marshal.loads(data)
        if type(values) is not tuple or len(values) != len(cls.FIELDS):
            raise ValueError("a launch of the wrong shape")
        return cls(*values)


class Loop:
    """What a coordinator needs from the shim's loop: descriptors to watch, a bell to ring."""

    def watch(self, fd: int, handler: Callable[[], None]) -> None:
        raise NotImplementedError

    def unwatch(self, fd: int) -> None:
        raise NotImplementedError

    def ring(self, doorbell: str, process: str) -> None:
        raise NotImplementedError


class Coordinator:
    """One run, from its FORKED record to its closed pipes. Never blocks."""

    def __init__(
        self,
        launch: Launch,
        stream_fd: int,
        me: list[int],
        loop: Loop,
        logs: list[int] | None = None,
    ) -> None:
        """``logs``: the run's log directory and files, opened by the runner (``open_logs``)."""
        self.launch = launch
        self.fd = stream_fd
        self.logs = logs or []
        self.me = me
        self.loop = loop
        self.held: list[bytes] = []  # framed records not written yet, in order
        self.retry_at = 0.0
        self._delay = NO_SPACE_RETRY
        self._announced = False
        self._sync = False
        self._then: Callable[[], None] | None = None  # what follows once ``held`` is written
        self.outputs: list[Output] = []
        self._child_ends: tuple[int | None, int | None] = (None, None)
        self.spawnable = False  # FORKED is on disk: spawn_all may start it
        self.pid = 0
        self.pidfd = -1
        self.warnings = 0
        self.ooms = 0
        self.ended = False  # the exit (or start failure) is recorded or held
        self.linger_until = 0.0  # once ended and written: forward output until then
        self.quiet_until = 0.0
        self.done = False

    # -- records --------------------------------------------------------

    def _record(self, state: ProcessState, *, final: bool = False, **fields: object) -> None:
        launch = self.launch
        obj = process_status(launch.process, launch.run, state.value, time.time(), **fields)  # type: ignore[arg-type]
        self.held.append(frame(to_bytes(obj)))
        self._sync = self._sync or final

    def write_held(self) -> bool:
        """Write the held records; True once none is left (on a full disk: try later)."""
        if not self.held:
            return True
        try:
            append_whole(self.fd, b"".join(self.held), self.launch.stream)
        except OSError as e:
            if not no_space(e):
                raise
            if not self._announced:
                self._announced = True
                _say(f"{self.launch.stream}: {e.strerror}; holding a record until there is room")
            self.retry_at = time.monotonic() + self._delay
            self._delay = min(self._delay * 2, NO_SPACE_RETRY_MAX)
            return False
        self.held.clear()
        self.retry_at = 0.0
        self._delay = NO_SPACE_RETRY
        if self._sync:
            self._sync = False
            try:  # written is what matters; the sync is for host crashes
                os.fdatasync(self.fd)
            except OSError:
                pass
        then, self._then = self._then, None
        if then is not None:
            then()
        return True

    def retry(self) -> None:
        """Called by the shim at ``retry_at``."""
        self.write_held()

    def _after_written(self, then: Callable[[], None]) -> None:
        self._then = then
        self.write_held()

    def report(self, message: str) -> None:
        """A warning about this run (e.g. its log cannot be written); dropped if it does not fit."""
        launch = self.launch
        if self.fd < 0:
            return  # the run is over and its stream handed back
        obj = process_warning(launch.process, launch.run, self.warnings, time.time(), message)
        try:
            append_whole(self.fd, frame(to_bytes(obj)), launch.stream)
        except OSError as e:
            if not no_space(e):
                raise
            return  # a warning about a full disk may not fit on it: dropped
        self.warnings += 1
        self.loop.ring(launch.doorbell, launch.process)

    # -- the run --------------------------------------------------------

    def start(self) -> None:
        """Record FORKED; once it is on disk the run may be spawned (``spawn_all``)."""
        self._record(ProcessState.FORKED, coordinator=self.me)
        self._after_written(self._spawnable)  # the run exists on disk before its process does

    def _spawnable(self) -> None:
        self.spawnable = True

    def _prepare(self, ooms: int) -> bool:
        """Open the run's outputs; False (the run FAILED) if they cannot be opened."""
        self.spawnable = False
        self.ooms = ooms
        try:
            self._child_ends, self.outputs = _open_outputs(self.launch, self.logs, self.report)
        except Exception as e:
            self._fail(e)
            return False
        finally:
            for fd in self.logs:  # not taken over: the run could not use them
                os.close(fd)
            self.logs = []
        return True

    def _exec(self) -> None:
        """Start the command (the caller is in the task's cgroups); on failure, FAILED."""
        try:
            self.pid = _start(self.launch, *self._child_ends)
            self.pidfd = os.pidfd_open(self.pid)
        except Exception as e:
            self._fail(e)
        finally:
            for fd in set(self._child_ends):
                if fd is not None:
                    os.close(fd)
            self._child_ends = (None, None)

    def _fail(self, error: Exception) -> None:
        """Whatever stops the command from starting ends the run FAILED."""
        for output in self.outputs:
            output.close()
        self.outputs = []
        for fd in set(self._child_ends):
            if fd is not None:
                os.close(fd)
        self._child_ends = (None, None)
        self.ended = True
        reason = f"could not start: {start_problem(error)}"
        self._record(ProcessState.FAILED, final=True, return_code=START_FAILURE_RC, reason=reason)
        self._after_written(self._release)

    def _started(self) -> None:
        if self.ended:
            return  # it could not start: FAILED is recorded
        launch = self.launch
        self._record(ProcessState.RUNNING, pid=identity_of(self.pid) or [self.pid, 0])
        self._after_written(lambda: self.loop.ring(launch.doorbell, launch.process))
        self.loop.watch(self.pidfd, self._exited)
        for output in self.outputs:
            self.loop.watch(output.pipe, self._pumper(output))

    def _pumper(self, output: Output) -> Callable[[], None]:
        def pump() -> None:
            self.quiet_until = time.monotonic() + LINGER
            if not output.pump():
                self._drop(output)

        return pump

    def _drop(self, output: Output) -> None:
        self.loop.unwatch(output.pipe)
        self.outputs.remove(output)
        output.close()
        if self.fd < 0 and not self.outputs:
            self.done = True

    def _exited(self) -> None:
        self.loop.unwatch(self.pidfd)
        os.close(self.pidfd)
        self.pidfd = -1
        for output in list(self.outputs):  # what it wrote just before it exited
            if not output.pump():
                self._drop(output)
        _, status = os.waitpid(self.pid, 0)
        return_code = os.waitstatus_to_exitcode(status)
        for output in self.outputs:
            output.report_dropped()  # merged by the runner while it still follows the run
        self.ended = True
        launch = self.launch
        if return_code == -signal.SIGKILL and oom_kills_in(launch.cgroups) > self.ooms:
            reason = "killed by the kernel: out of memory at the task's cgroup memory limit"
            self._record(ProcessState.FAILED, final=True, return_code=return_code, reason=reason)
        else:
            state = process_state_for_exit(return_code)
            self._record(state, final=True, return_code=return_code)
        self._after_written(self._release)

    def _release(self) -> None:
        """The exit is on disk: hand the stream (and its lock) back, then linger."""
        os.close(self.fd)
        self.fd = -1
        self.loop.ring(self.launch.doorbell, self.launch.process)
        now = time.monotonic()
        self.linger_until = now + MAX_LINGER
        self.quiet_until = now + LINGER
        if not self.outputs:
            self.done = True

    def tick(self, now: float) -> None:
        """Time passed: retry held records, end a linger that went quiet or too long."""
        if self.held and now >= self.retry_at:
            self.retry()
        if self.fd < 0 and self.outputs and now >= min(self.linger_until, self.quiet_until):
            for output in list(self.outputs):  # a late writer now gets EPIPE
                self._drop(output)

    def next_tick(self) -> float | None:
        """When ``tick`` has something to do (monotonic time), if ever."""
        if self.held:
            return self.retry_at
        if self.fd < 0 and self.outputs:
            return min(self.linger_until, self.quiet_until)
        return None


def spawn_all(coordinators: list[Coordinator]) -> None:
    """Start every spawnable run, entering the task's cgroups once for all of them.

    A child is born in its parent's cgroups, so the shim joins the task's groups for the
    spawns and leaves them at once: a group kill must spare it, since it records the exits.
    """
    batches: dict[tuple[tuple[str, str], ...], list[Coordinator]] = {}
    for coordinator in coordinators:
        if coordinator.spawnable:
            batches.setdefault(coordinator.launch.cgroups, []).append(coordinator)
    for cgroups, batch in batches.items():
        ooms = oom_kills_in(cgroups)  # the count before, to tell an OOM kill at exit
        ready = [c for c in batch if c._prepare(ooms)]
        if not ready:
            continue
        try:
            with entered(cgroups):
                for coordinator in ready:
                    coordinator._exec()
        except OSError as e:  # the groups cannot be entered: nothing may start outside them
            for coordinator in ready:
                if not coordinator.ended and coordinator.pidfd < 0:
                    coordinator._fail(e)
        for coordinator in ready:
            coordinator._started()


def _say(text: str) -> None:
    try:
        os.write(2, (text + "\n").encode(errors="replace"))
    except OSError:
        pass


class CannotStart(Exception):
    """The runner found that this run cannot start (its log directory); the reason is ready."""


def _open_outputs(
    launch: Launch, logs: list[int], report: Callable[[str], None]
) -> tuple[tuple[int | None, int | None], list[Output]]:
    """The child's stdout and stderr, and the outputs the shim must pump.

    ``file`` + ``standard``: the process appends to its own files (no copy).
    ``console``: it inherits ours. ``none``: /dev/null. Rotation and ``both``
    go through pipes to the shim (``logpump.py``). ``logs``: the run's log
    directory and its two files, which the runner opened (``open_logs``); taken over
    (closed here or by the outputs).
    """
    if not os.path.isdir(launch.sandbox):
        # Never re-create a sandbox behind the task's back.
        raise FileNotFoundError(errno.ENOENT, "the sandbox is missing", launch.sandbox)
    if launch.destination == "console":
        return (None, None), []
    if launch.destination == "none":
        devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        return (devnull, devnull), []
    if launch.log_problem or len(logs) != 3:
        raise CannotStart(launch.log_problem or "its log files were not handed over")
    directory, stdout, stderr = logs
    logs.clear()  # taken over from here
    owner = (launch.run_as[0], launch.run_as[1]) if launch.run_as is not None else None
    try:
        if launch.destination == "file" and launch.mode == "standard":
            return (stdout, stderr), []
        child_ends: list[int] = []
        outputs: list[Output] = []
        try:
            for name, file, console in zip(LOG_STREAMS, (stdout, stderr), (1, 2), strict=True):
                rotating = plain = None
                if launch.mode == "rotate":
                    path = os.path.join(launch.log_dir, name)
                    rotating = RotatingFile(
                        path, launch.log_size, launch.backups, owner=owner, dir_fd=directory,
                        fd=file,
                    )  # fmt: skip
                else:
                    plain = file
                read_end, write_end = make_pipe()
                child_ends.append(write_end)
                outputs.append(
                    Output(
                        name,
                        read_end,
                        report,
                        rotating=rotating,
                        plain=plain,
                        console=console if launch.destination == "both" else None,
                    )
                )
        except BaseException:
            for fd in child_ends:
                os.close(fd)
            for output in outputs:
                output.close()
            raise
        return (child_ends[0], child_ends[1]), outputs
    finally:
        os.close(directory)


def needs_logs(launch: Launch) -> bool:
    return launch.destination not in ("console", "none")


def open_logs(launch: Launch) -> list[int]:
    """The run's log directory and its two files, ``[directory, stdout, stderr]``.

    Called by the runner, which hands them to the shim with the launch (creating a directory
    and two files is most of a start's work, and the runner has a CPU to spare). The
    directory is made and walked from the sandbox without following a link the task planted
    (``contract/confined.py``), each directory on the way given to the task's user; the files
    are opened in it without following a link, as rotation (``logrotate.open_live``) or an
    appending writer needs them.
    """
    if not os.path.isdir(launch.sandbox):
        raise FileNotFoundError(errno.ENOENT, "the sandbox is missing", launch.sandbox)
    owner = (launch.run_as[0], launch.run_as[1]) if launch.run_as is not None else None
    try:
        top = confined.open_top(launch.sandbox)  # the path root chose: trusted
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(errno.ENOENT, "the sandbox is missing", launch.sandbox) from None
    try:
        parts = confined.names(os.path.relpath(launch.log_dir, launch.sandbox))
        directory = confined.open_dir(top, parts, create=SANDBOX_DIR, owner=owner)
    except confined.Refused as e:
        raise confined.Refused(e.refusal, launch.log_dir) from None
    finally:
        os.close(top)
    opened = [directory]
    try:
        for name in LOG_STREAMS:
            try:
                if launch.mode == "rotate":
                    opened.append(open_live(directory, name, owner))
                else:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
                    opened.append(
                        confined.open_leaf(directory, name, flags, LOG_FILE, owner=owner)[0]
                    )
            except confined.Refused as e:
                raise confined.Refused(e.refusal, os.path.join(launch.log_dir, name)) from None
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    return opened


def _start(launch: Launch, stdout: int | None, stderr: int | None) -> int:
    """Start the command in its own session, in the sandbox; return its pid.

    ``/bin/bash -c cmdline`` (Thermos' rule), or the program itself when the command line
    has no shell syntax and bash would only have exec'd it (``commandline.py``), for a
    task that runs as the shim's own user.
    """
    run_as = launch.run_as
    # Only as the shim's own user: the checks that decide are made with its permissions.
    direct = direct_argv(launch.cmdline, launch.env, launch.sandbox) if run_as is None else None
    if direct is None:
        path, argv, env = BASH, [BASH, "-c", launch.cmdline], launch.env
    else:
        path, argv = direct
        env = direct_environment(launch.env, launch.sandbox, path)
    if run_as is not None:  # posix_spawn cannot switch users
        import subprocess  # only where tasks run as another user: it is a large module

        child = subprocess.Popen(
            argv,
            executable=path,
            cwd=launch.sandbox,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
            user=run_as[0],
            group=run_as[1],
            extra_groups=list(run_as[2]),
        )
        child.returncode = 0  # we reap it ourselves; keep Popen from ever doing so
        return child.pid
    # posix_spawn: vfork + exec in C, the cheapest start there is.
    os.chdir(launch.sandbox)  # the command's cwd; posix_spawn has no parameter for it
    try:
        actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
        ]
        if stdout is not None and stderr is not None:
            actions += [(os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)]
        return os.posix_spawn(
            path,
            argv,
            env,
            file_actions=actions,
            setsid=True,
            setsigdef=DEFAULT_SIGNALS,
            setsigmask=(),
        )
    finally:
        os.chdir("/")  # hold no sandbox open


def start_problem(error: Exception) -> str:
    """One line saying why a command could not start."""
    if isinstance(error, OSError):
        text = error.strerror or str(error)
        return text + (f": {error.filename}" if error.filename else "")
    return str(error) or type(error).__name__
