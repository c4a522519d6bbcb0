"""The runner's side of its coordinators: launching them, following them, re-attaching.

For each process with a run in progress the runner keeps an ``Attachment``:
a reader of the process's coordinator stream (from where the current run's
records start) and, once the coordinator is known, a pidfd that becomes
readable when it exits. Records a coordinator writes are merged into the
runner's stream when its doorbell ring names the process (or when it exits);
a coordinator gone without recording the end of its run makes the run LOST.

Launching: the run is recorded (WAITING) and committed first, then the
process stream is locked and the lock handed to the new coordinator, forked by
the spawner (``spawner.py``) or, failing that, by the runner itself. A WAITING
run without a live coordinator (after a runner or spawner crash) is resolved
by the lock: free means no coordinator lives, so fork one (after merging
anything a dead one wrote); held means one is alive and will report. A run
whose WAITING record could not be written (disk full) waits in the same way
until the runner stream takes it.
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
from borealis.contract.taskspec import LoggerSpec, TaskSpec

from . import coordinator
from .checkpoint import RunnerCheckpoint
from .environment import process_environment, task_environment
from .faults import Faults
from .proctree import ProcessTable, open_child_pidfd, open_pidfd, send_signal, signal_all
from .spawner import Spawner

log = logging.getLogger("borealis.runner")

FORK_RETRY = 0.02
NO_SPACE_RETRY = 0.5  # the runner stream is full: write it again this soon
DOORBELL_OVERFLOW = 60_000  # a FIFO holds 64 KiB: this much at once means it may have filled
SPAWNER_DEATHS = 3  # more than this many in a minute: fork coordinators directly


@dataclass
class Attachment:
    """A coordinator the runner follows: its stream, and a pidfd once it is known."""

    process: str
    run: int
    follower: StreamFollower
    pidfd: int | None = None
    exited: bool = False
    damaged: str | None = None  # its stream cannot be read past here (CorruptStream)


@dataclass(frozen=True)
class LaunchSettings:
    """What every launch of this task shares."""

    task_id: str
    spec: TaskSpec
    user: str
    run_as: coordinator.RunAs | None
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
        spawner: Spawner | None,
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
        self.spawner = spawner
        self._spawner_deaths: list[float] = []
        self._requests: dict[int, Attachment] = {}  # sent to the spawner, not answered yet
        self._next_request = 1
        self._rung: set[str] = set()  # processes whose coordinators rang the doorbell
        self._scan_all = True  # read every stream (at start, and after a doorbell overflow)
        self._task_env: dict[str, str] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._doorbell = -1

    @property
    def sandbox(self) -> Path:
        header = self.ckpt.state.header
        assert header is not None
        return Path(header.sandbox)

    # -- wiring -------------------------------------------------------------

    def open(self, selector: selectors.BaseSelector) -> None:
        """Create the doorbell FIFO and listen to it (and to the spawner)."""
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
        if self.spawner is not None:
            selector.register(self.spawner.fileno(), selectors.EVENT_READ, self.spawner_answers)

    def close(self, *, finished: bool = False) -> None:
        for att in self.attachments.values():
            self._close_attachment(att)
        self.attachments.clear()
        if self.spawner is not None:
            self.spawner.close()
            self.spawner = None
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

    def _exited(self, att: Attachment) -> Callable[[], None]:
        def handler() -> None:
            att.exited = True
            if self._selector is not None and att.pidfd is not None:
                self._selector.unregister(att.pidfd)

        return handler

    def _register(self, att: Attachment, fd: int) -> None:
        att.pidfd = fd
        assert self._selector is not None
        self._selector.register(fd, selectors.EVENT_READ, self._exited(att))

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

    def _watch(self, att: Attachment, coordinator_id: Identity) -> None:
        fd = open_pidfd(coordinator_id)
        if fd is None:
            att.exited = True
        else:
            self._register(att, fd)

    def _close_attachment(self, att: Attachment) -> None:
        if att.pidfd is not None:
            if self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(att.pidfd)
            os.close(att.pidfd)
            att.pidfd = None
        att.follower.close()

    def _detach(self, att: Attachment) -> None:
        self._close_attachment(att)
        self.attachments.pop(att.process, None)
        self.ended = True  # its next run may start now

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
            if not (scan_all or att.exited or att.pidfd is None or att.process in rung):
                continue  # nothing new in its stream
            self._merge(att)
            run = state.last_run(att.process)
            assert run is not None
            if att.pidfd is None and not att.exited and run.coordinator is not None:
                self._watch(att, run.coordinator)
            if att.exited:
                self._merge(att)  # everything it wrote before it went
                run = state.last_run(att.process)
                assert run is not None
                if run.run == att.run and run.state.active:
                    self.record_lost(
                        run,
                        f"its records cannot be read ({att.damaged})"
                        if att.damaged
                        else "its coordinator exited without recording the end",
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
                    "%s[%d] never started its command; killing its coordinator",
                    run.process,
                    run.run,
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
                if att.pidfd is None and not att.exited:
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

    def _launch_of(self, name: str, run: int) -> coordinator.Launch:
        settings = self.settings
        spec = settings.spec.process(name)
        # Thermos' precedence: a logger set on the process wins outright.
        logger = spec.logger if spec.logger is not None else settings.default_logger
        sandbox = self.sandbox
        if self._task_env is None:
            self._task_env = task_environment(
                task_id=settings.task_id,
                sandbox=str(sandbox),
                user=settings.user,
                preserve_env=settings.preserve_env,
            )
        return coordinator.Launch(
            task_id=settings.task_id,
            process=spec,
            run=run,
            sandbox=str(sandbox),
            log_dir=str(process_log_dir(sandbox, name, run)),
            stream=str(self.paths.process_stream(name)),
            doorbell=str(self.paths.doorbell),
            env=process_environment(self._task_env, name, run),
            logger=logger,
            run_as=settings.run_as,
            cgroups=settings.cgroup_moves,
        )

    def _fork(self, att: Attachment, run: int, fd: int) -> None:
        """Start the coordinator of ``run``, handing it ``fd`` (the stream, locked)."""
        launch = self._launch_of(att.process, run)
        att.follower.offset = os.fstat(fd).st_size
        att.run = run
        if self.spawner is not None:
            request = self._next_request
            self._next_request += 1
            if self.spawner.request(request, launch, fd):
                os.close(fd)  # the spawner's copy now holds the lock
                self._requests[request] = att
                self.faults.point("after-fork")
                return
            self._spawner_died()  # fork here instead
        pid = os.fork()
        if pid == 0:
            coordinator.main(launch, fd)
        os.close(fd)
        self._register(att, os.pidfd_open(pid))
        self.faults.point("after-fork")

    # -- the spawner --------------------------------------------------------

    def spawner_answers(self) -> None:
        assert self.spawner is not None
        answers = self.spawner.answers()
        if answers is None:
            self._spawner_died()
            return
        spawner_pid = self.spawner.pid
        for request, pid in answers:
            att = self._requests.pop(request, None)
            if att is None or att.pidfd is not None or att.exited:
                continue
            if pid == 0:  # fork() failed there: the lock is free again, try later
                self.waiting.add(att.process)
                self.wake(self.clock() + FORK_RETRY)
                continue
            fd = open_child_pidfd(pid, spawner_pid)
            if fd is None:
                att.exited = True  # came and went already; its stream says how
            else:
                self._register(att, fd)

    def _spawner_died(self) -> None:
        """Forget the spawner; its unanswered launches are resolved by their locks."""
        spawner, self.spawner = self.spawner, None
        if spawner is None:
            return
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(spawner.fileno())
        spawner.close()
        for att in self._requests.values():
            if att.pidfd is None and not att.exited:
                self.waiting.add(att.process)
        self._requests.clear()
        now = self.clock()
        self._spawner_deaths = [t for t in self._spawner_deaths if now - t < 60] + [now]
        if len(self._spawner_deaths) > SPAWNER_DEATHS:
            log.warning("the spawner keeps dying; forking coordinators directly")
            return
        self.spawner = new_spawner(self.paths)
        if self.spawner is not None and self._selector is not None:
            self._selector.register(
                self.spawner.fileno(), selectors.EVENT_READ, self.spawner_answers
            )


def new_spawner(paths: TaskPaths) -> Spawner | None:
    try:
        return Spawner(str(paths.checkpoint_dir))
    except OSError as e:
        log.warning("cannot start a spawner (%s); forking coordinators directly", e)
        return None


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
