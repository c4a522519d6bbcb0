"""The runner's side of its coordinators: launching them, following them, re-attaching.

Every run's coordinator lives in the task's shim (``shim.py``): one process
per task, or a few after runner restarts (a shim serves the runs it was given
until they end; each runner starts its own for new runs). For each process
with a run in progress the runner keeps an ``Attachment``: a reader of the
process's stream (from where the current run's records start) and the
identity of the shim that holds the run, followed through one pidfd per shim.
Records are merged into the runner's stream when a doorbell ring names the
process; a run whose end is merged is detached at once (the shim frees the
stream's lock right after writing it); a shim gone while runs it held had not
recorded their end makes those runs LOST.

Launching: the run is recorded (WAITING) and committed first, then the
process stream is locked and the lock handed to the shim with the launch. A
WAITING run without a live coordinator (after a runner or shim crash) is
resolved by the lock: free means no coordinator lives, so launch it again
(after merging anything a dead one wrote); held means one is alive and will
report. A run whose WAITING record could not be written (disk full) waits in
the same way until the runner stream takes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import selectors
import signal
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from borealis.contract.layout import TaskPaths, process_log, process_log_dir
from borealis.contract.records import (
    Identity,
    ProcessStatus,
    ProcessWarning,
    RecordError,
    decode,
)
from borealis.contract.replay import ProcessRun, advances, warning_is_new
from borealis.contract.states import ProcessState
from borealis.contract.stream import CorruptStream, StreamFollower
from borealis.contract.taskspec import LoggerSpec, RotatePolicy, TaskSpec

from .checkpoint import RunnerCheckpoint
from .environment import process_environment, task_environment
from .faults import Faults
from .launch import Launch
from .proctree import ProcessTable, open_pidfd, send_signal, signal_all
from .runas import RunAs
from .runlogs import needs_logs, open_logs
from .shim import ShimHandle
from .spawn import start_problem

log = logging.getLogger("borealis.runner")

FORK_RETRY = 0.02
NO_SPACE_RETRY = 0.5  # the runner stream is full: write it again this soon
DOORBELL_OVERFLOW = 60_000  # a FIFO holds 64 KiB: this much at once means it may have filled
SHIM_DEATHS = 3  # more than this many in a minute: fork the shim from the runner instead
SHIM_EXIT_WAIT = 5.0  # at the task's end: how long the shim may take to go


@dataclass
class Attachment:
    """A run the runner follows: its stream, and the shim that holds it once it is known."""

    process: str
    run: int
    follower: StreamFollower
    coordinator: Identity | None = None  # the shim holding the run (followed by a pidfd)
    exited: bool = False  # that shim is gone
    damaged: str | None = None  # its stream cannot be read past here (CorruptStream)


@dataclass(frozen=True)
class LaunchSettings:
    """What every launch of this task shares."""

    task_id: str
    spec: TaskSpec
    user: str
    run_as: RunAs | None
    default_logger: LoggerSpec  # for processes whose config sets no logger
    preserve_env: bool
    lost_timeout: float
    cgroup_moves: tuple[tuple[str, str], ...] = ()  # the task's cgroups (cgroups.py)


def drain(fd: int) -> bytes:
    chunks = []
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    return b"".join(chunks)


class Coordinators:
    def __init__(
        self,
        paths: TaskPaths,
        ckpt: RunnerCheckpoint,
        settings: LaunchSettings,
        *,
        clock: Callable[[], float],
        faults: Faults,
        wake: Callable[[float], None],
        shim: ShimHandle | None = None,
    ) -> None:
        self.paths = paths
        self.ckpt = ckpt
        self.settings = settings
        self.clock = clock
        self.faults = faults
        self.wake = wake
        self.attachments: dict[str, Attachment] = {}
        self.waiting: set[str] = set()  # WAITING runs with no coordinator attached yet
        self.ended = True  # a run ended (or a coordinator left) since the runner last looked
        self.shim = shim  # this runner's shim: given, or started at the first launch
        self._shim_deaths: list[float] = []
        self._watches: dict[Identity, int] = {}  # shim -> a pidfd, readable once it is gone
        self._rung: set[str] = set()  # processes whose coordinators rang the doorbell
        self._scan_all = True  # read every stream (at start, and after a doorbell overflow)
        self._task_env: dict[str, str] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._doorbell = -1
        self._sandbox: Path | None = None  # the header's, once read

    @property
    def sandbox(self) -> Path:
        if self._sandbox is None:
            header = self.ckpt.state.header
            assert header is not None
            self._sandbox = Path(header.sandbox)
        return self._sandbox

    # -- wiring -------------------------------------------------------------

    def open(self, selector: selectors.BaseSelector) -> None:
        """Create the doorbell FIFO and listen to it."""
        self._selector = selector
        doorbell = self.paths.doorbell
        try:
            if not stat.S_ISFIFO(os.lstat(doorbell).st_mode):
                os.unlink(doorbell)
                os.mkfifo(doorbell, 0o600)
        except FileNotFoundError:
            os.mkfifo(doorbell, 0o600)
        # O_RDWR: the FIFO never reports EOF, and never blocks this open.
        self._doorbell = os.open(doorbell, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        selector.register(self._doorbell, selectors.EVENT_READ, self.rang)
        if self.shim is not None:
            self._watch_fd(shim_identity(self.shim), self.shim.pidfd)

    def close(self, *, finished: bool = False) -> None:
        for att in self.attachments.values():
            att.follower.close()
        self.attachments.clear()
        for identity in list(self._watches):
            self._unwatch(identity)
        if self.shim is not None:
            # With the task over, the shim has nothing left; otherwise it carries on alone.
            self.shim.close(wait=SHIM_EXIT_WAIT if finished else 0.0)
            self.shim = None
        if self._doorbell >= 0:
            os.close(self._doorbell)
            self._doorbell = -1
        if finished:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.paths.doorbell)

    def rang(self) -> None:
        data = drain(self._doorbell)
        if len(data) >= DOORBELL_OVERFLOW:
            self._scan_all = True  # some rings may have been refused
        self._rung.update(n.decode(errors="replace") for n in data.split(b"\n") if n)

    def _watch(self, att: Attachment, coordinator_id: Identity) -> None:
        """Follow the shim ``coordinator_id`` for ``att`` (one pidfd per shim)."""
        att.coordinator = coordinator_id
        if coordinator_id in self._watches:
            return
        fd = open_pidfd(coordinator_id)
        if fd is None:
            att.exited = True
            return
        self._watch_fd(coordinator_id, fd)

    def _watch_fd(self, coordinator_id: Identity, fd: int) -> None:
        self._watches[coordinator_id] = fd
        assert self._selector is not None
        self._selector.register(fd, selectors.EVENT_READ, lambda: self._gone(coordinator_id))

    def _gone(self, coordinator_id: Identity) -> None:
        """A shim exited (or was given up): the runs it held are looked at by ``collect``; if
        it was this runner's, the next launch starts another."""
        for att in self.attachments.values():
            if att.coordinator == coordinator_id:
                att.exited = True
        self._unwatch(coordinator_id)
        shim = self.shim
        if shim is not None and shim_identity(shim) == coordinator_id:
            self.shim = None
            shim.close()
            now = self.clock()
            self._shim_deaths = [t for t in self._shim_deaths if now - t < 60] + [now]
            self.ended = True  # look at its runs now

    def _unwatch(self, coordinator_id: Identity) -> None:
        fd = self._watches.pop(coordinator_id, None)
        if fd is None:
            return
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fd)
        shim = self.shim
        if shim is None or fd != shim.pidfd:
            os.close(fd)  # the current shim's pidfd is its handle's to close

    # -- re-attaching after a restart ---------------------------------------

    def recover(self) -> None:
        state = self.ckpt.state
        for run in state.active_runs():
            name = run.process
            att = Attachment(name, run.run, self._follower(name))
            self.attachments[name] = att
            self._merge(att)
            current = state.last_run(name)
            assert current is not None
            if not current.state.active:
                continue  # it ended while no runner was looking; the coordinator may linger
            if current.state is ProcessState.WAITING:
                self.waiting.add(name)  # resolved by resolve_waiting()
            elif current.coordinator is not None:
                self._watch(att, current.coordinator)
            else:
                att.exited = True

    def _detach(self, att: Attachment) -> None:
        att.follower.close()
        self.attachments.pop(att.process, None)
        self.ended = True  # its next run may start now
        coordinator_id = att.coordinator
        shim = self.shim
        if coordinator_id is None or (shim is not None and shim_identity(shim) == coordinator_id):
            return
        if all(other.coordinator != coordinator_id for other in self.attachments.values()):
            self._unwatch(coordinator_id)  # an earlier runner's shim: nothing more to follow

    # -- merging coordinator records ----------------------------------------

    def _merge(self, att: Attachment) -> None:
        if att.damaged is not None:
            return
        try:
            payloads = att.follower.read_new()
            records = [decode(payload) for payload in payloads]
        except (CorruptStream, RecordError) as e:
            # A damaged process stream must not take the runner down: the task's
            # other processes, and stopping this one, do not depend on it.
            att.damaged = str(e)
            log.warning("%s[%d]: its records cannot be read: %s", att.process, att.run, e)
            return
        for record in records:
            if isinstance(record, ProcessWarning):
                if record.process == att.process and warning_is_new(self.ckpt.state, record):
                    self.ckpt.record(record)
                    log.warning("%s[%d]: %s", record.process, record.run, record.message)
                continue
            if not isinstance(record, ProcessStatus) or record.process != att.process:
                continue
            if advances(self.ckpt.state, record):
                self.ckpt.record(record)
                log_transition(record, self.sandbox)
                if record.state.terminal:
                    self.ended = True

    def collect(self) -> None:
        """Merge what coordinators wrote; a coordinator gone too early makes its run LOST."""
        rung, self._rung = self._rung, set()
        scan_all, self._scan_all = self._scan_all, False
        state = self.ckpt.state
        for att in list(self.attachments.values()):
            if att.process in self.waiting:
                continue  # resolve_waiting() looks after these
            if not (scan_all or att.exited or att.coordinator is None or att.process in rung):
                continue  # nothing new in its stream
            self._merge(att)
            run = state.last_run(att.process)
            assert run is not None
            if att.coordinator is None and not att.exited and run.coordinator is not None:
                self._watch(att, run.coordinator)
            if run.run == att.run and run.state.terminal:
                self._detach(att)  # over: its shim frees the stream's lock right after
                continue
            if att.exited:
                self._merge(att)  # everything it wrote before it went
                run = state.last_run(att.process)
                assert run is not None
                if run.run == att.run and run.state is ProcessState.WAITING:
                    # its shim died before it started anything: the lock decides again
                    att.exited, att.coordinator = False, None
                    self.waiting.add(att.process)
                    continue
                if run.run == att.run and run.state.active:
                    self.record_lost(
                        run,
                        f"its records cannot be read ({att.damaged})"
                        if att.damaged
                        else "its coordinator (the task's shim) exited without recording the end",
                    )
                self._detach(att)

    def record_lost(self, run: ProcessRun, reason: str) -> None:
        if run.state is not ProcessState.WAITING:
            # Nobody supervises this run any more: end whatever is left of it
            # before it is retried (found by pid, or by its environment marker
            # if the coordinator died before it could record the pid).
            table = ProcessTable()
            pids = table.trees([run.pid] if run.pid else [])
            task_id, sandbox = self.settings.task_id, str(self.sandbox)
            pids.update(table.marked(task_id, sandbox, run.process, run.run))
            signal_all(table.live(pids), signal.SIGKILL)
        record = ProcessStatus(run.process, run.run, ProcessState.LOST, self.clock(), reason=reason)
        self.ckpt.record(record)
        log_transition(record, self.sandbox)
        self.ended = True

    def check_stuck(self, now: float) -> None:
        """Coordinators that forked but never started their command are killed (LOST)."""
        state = self.ckpt.state
        for att in self.attachments.values():
            run = state.last_run(att.process)
            if run is None or run.state is not ProcessState.FORKED or run.fork_time is None:
                continue
            limit = run.fork_time + self.settings.lost_timeout
            if now >= limit and run.coordinator is not None:
                log.warning(
                    "%s[%d] never started its command; killing its shim (pid %d)",
                    run.process,
                    run.run,
                    run.coordinator.pid,
                )
                send_signal(run.coordinator, signal.SIGKILL)
            else:
                self.wake(limit)

    # -- launching ----------------------------------------------------------

    def launch(self, names: list[str] | tuple[str, ...]) -> None:
        state = self.ckpt.state
        started = []
        for name in names:
            if name in self.attachments or name in self.waiting:
                continue  # the previous coordinator has not exited yet
            run = len(state.runs(name))
            # Where this run's records will start in the process stream: nothing
            # writes to it while no coordinator of the process is alive.
            try:
                offset = os.stat(self.paths.process_stream(name)).st_size
            except FileNotFoundError:
                offset = 0
            self.ckpt.record(
                ProcessStatus(name, run, ProcessState.WAITING, self.clock(), offset=offset)
            )
            started.append(name)
        if not started:
            return
        if not self.ckpt.commit():  # the runs exist on disk before their processes do
            self.waiting.update(started)  # forked by resolve_waiting() once they are written
            self.wake(self.clock() + NO_SPACE_RETRY)
            return
        self.faults.point("before-fork")
        for name in started:
            # A run just recorded has no coordinator yet: fork as soon as the
            # stream's lock is ours (the previous run's coordinator may still
            # be on its way out; then try again soon).
            fd = self._lock_stream(name)
            if fd is None:
                self.waiting.add(name)
                self.wake(self.clock() + FORK_RETRY)
                continue
            att = Attachment(name, len(state.runs(name)) - 1, self._follower(name))
            self.attachments[name] = att
            self._fork(att, att.run, fd)

    def _follower(self, name: str) -> StreamFollower:
        """A reader of the process's stream, from where its current run's records start."""
        run = self.ckpt.state.last_run(name)
        offset = run.stream_offset if run is not None and run.stream_offset is not None else 0
        return StreamFollower(self.paths.process_stream(name), offset)

    def _lock_stream(self, name: str) -> int | None:
        """Open and lock a process stream; ``None`` while a coordinator holds it."""
        stream = self.paths.process_stream(name)
        fd = os.open(stream, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return None
        return fd

    def resolve_waiting(self, *, stopping: bool) -> None:
        """Fork coordinators for WAITING runs, unless one is already alive.

        The process stream's lock decides: if it is free, no coordinator of
        this process lives, so one is forked now (after reading anything a
        dead one wrote), or, when the task is ``stopping``, the run is LOST
        without ever starting. If it is held, a coordinator forked by a
        previous runner has not written its first record yet, or the previous
        run's coordinator is still exiting: look again shortly.
        """
        state = self.ckpt.state
        if self.waiting and not self.ckpt.commit():
            self.wake(self.clock() + NO_SPACE_RETRY)  # no fork before its run is on disk
            return
        for name in sorted(self.waiting):
            run = state.last_run(name)
            assert run is not None
            att = self.attachments.get(name)
            if att is None:
                att = Attachment(name, run.run, self._follower(name))
                self.attachments[name] = att
            self._merge(att)
            run = state.last_run(name)
            assert run is not None
            if run.state is not ProcessState.WAITING:
                self.waiting.discard(name)
                if att.coordinator is None and not att.exited:
                    if run.coordinator is not None and run.state.active:
                        self._watch(att, run.coordinator)
                    else:
                        att.exited = True  # its coordinator came and went
                continue
            fd = self._lock_stream(name)
            if fd is None:
                self.wake(self.clock() + FORK_RETRY)
                continue
            self._merge(att)  # a coordinator may have written and died just now
            run = state.last_run(name)
            assert run is not None
            if att.damaged is not None:  # whether it started cannot be told: never twice
                os.close(fd)
                self.waiting.discard(name)
                self._detach(att)
                self.record_lost(run, f"its records cannot be read ({att.damaged})")
                continue
            if run.state is not ProcessState.WAITING:
                os.close(fd)
                continue  # handled on the next pass
            self.waiting.discard(name)
            if stopping:
                os.close(fd)
                self._detach(att)
                self.record_lost(run, "not started: the task is stopping")
                continue
            self._fork(att, run.run, fd)

    def _launch_of(self, name: str, run: int) -> Launch:
        settings = self.settings
        spec = settings.spec.process(name)
        # Thermos' precedence: a logger set on the process wins outright.
        logger = spec.logger if spec.logger is not None else settings.default_logger
        policy = logger.rotate or RotatePolicy()
        sandbox = self.sandbox
        if self._task_env is None:
            self._task_env = task_environment(
                task_id=settings.task_id,
                sandbox=str(sandbox),
                user=settings.user,
                preserve_env=settings.preserve_env,
            )
        run_as = settings.run_as
        return Launch(
            task_id=settings.task_id,
            process=name,
            run=run,
            cmdline=spec.cmdline,
            sandbox=str(sandbox),
            log_dir=str(process_log_dir(sandbox, name, run)),
            stream=str(self.paths.process_stream(name)),
            doorbell=str(self.paths.doorbell),
            env=process_environment(self._task_env, name, run),
            destination=logger.destination,
            mode=logger.mode,
            log_size=policy.log_size,
            backups=policy.backups,
            run_as=(run_as.uid, run_as.gid, run_as.groups) if run_as is not None else None,
            cgroups=settings.cgroup_moves,
        )

    def _fork(self, att: Attachment, run: int, fd: int) -> None:
        """Hand ``run`` and ``fd`` (its stream, locked) to the shim, started if need be."""
        launch = self._launch_of(att.process, run)
        att.follower.offset = os.fstat(fd).st_size
        att.run = run
        fds = [fd]
        if needs_logs(launch):
            try:
                fds += open_logs(launch)
            except Exception as e:  # the shim records the run FAILED with this reason
                launch.log_problem = start_problem(e)
        for _ in range(2):  # a shim found dead or stuck is replaced once
            shim = self._shim()
            if shim.send(launch, fds):
                for sent in fds:
                    os.close(sent)  # the shim's copy of the stream now holds the lock
                self._watch(att, shim_identity(shim))
                self.faults.point("after-fork")
                return
            log.warning("the shim (pid %d) took no launch; replacing it", shim.pid)
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(shim.pidfd, signal.SIGKILL)
            self._gone(shim_identity(shim))
        for unsent in fds:
            os.close(unsent)  # the lock is free again: launched later, when the lock decides
        self.waiting.add(att.process)
        self.wake(self.clock() + FORK_RETRY)

    # -- the shim -----------------------------------------------------------

    def _shim(self) -> ShimHandle:
        """This runner's shim; a new one if it has none (or the last one died)."""
        if self.shim is not None:
            return self.shim
        shim = None
        now = self.clock()
        if sum(1 for t in self._shim_deaths if now - t < 60) <= SHIM_DEATHS:
            try:
                shim = ShimHandle.started(str(self.paths.checkpoint_dir))
            except OSError as e:
                log.warning("cannot start a shim (%s); forking one from the runner", e)
        else:
            log.warning("the shim keeps dying; forking one from the runner")
        if shim is None:
            shim = ShimHandle.forked()
        self.shim = shim
        self._watch_fd(shim_identity(shim), shim.pidfd)
        return shim


def shim_identity(shim: ShimHandle) -> Identity:
    """The shim as its runs' FORKED records name it."""
    return Identity(*shim.identity)


def log_transition(record: ProcessStatus, sandbox: Path) -> None:
    label = f"{record.process}[{record.run}]"
    if record.state is ProcessState.RUNNING and record.pid is not None:
        log.info("%s running (pid %d)", label, record.pid.pid)
    elif record.state.terminal:
        detail = f"exit status {record.return_code}" if record.return_code is not None else ""
        if record.return_code is not None and record.return_code < 0:
            detail = f"signal {-record.return_code}"
        extra = "; ".join(p for p in (detail, record.reason) if p)
        if record.state in (ProcessState.FAILED, ProcessState.KILLED):
            # where to look next: what the process said before it went
            stderr = process_log(sandbox, record.process, record.run, "stderr")
            extra = "; ".join(p for p in (extra, f"its stderr: {stderr}") if p)
        log.info("%s %s%s", label, record.state.value, f" ({extra})" if extra else "")
