"""The runner: drives one task through its states, crash-safe.

One runner process per task, single-threaded, around one ``selectors`` loop
woken by: the doorbell FIFO (a coordinator wrote a record), a pidfd per
coordinator (it exited), the signal wake-up pipe, and timers the planner asks
for. Each iteration:

1. merge new coordinator records into the runner stream; a coordinator that
   exited without recording the end of its run makes that run LOST;
2. turn signals into kill / lose requests;
3. act on the task state (``ACTIVE``: launch what the plan says is ready;
   ``CLEANING``: SIGTERM every process, SIGKILL after the kill grace;
   ``FINALIZING``: run the final plan within ``finalization_wait``);
4. commit (one write and one fdatasync for everything recorded).

All state lives in the checkpoint: the runner's in-memory state is only ever
changed by ``RunnerCheckpoint.record``, which applies a record exactly as
replay does. A new runner for the same task replays the stream, re-attaches to
live coordinators by identity (pid + start ticks) through pidfds, merges what
they wrote while it was away, and carries on; see ``_recover``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import logging
import os
import selectors
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from executor.contract.layout import CheckpointRoot, log_dir, process_log_dir
from executor.contract.records import (
    Header,
    Identity,
    ProcessStatus,
    RunnerStarted,
    TaskStatus,
    decode,
)
from executor.contract.replay import ProcessRun, RunnerState, advances
from executor.contract.states import ProcessState, TaskState
from executor.contract.stream import StreamFollower
from executor.contract.taskspec import TaskSpec

from . import coordinator
from .checkpoint import RunnerCheckpoint
from .environment import process_environment, task_environment
from .faults import Faults
from .planner import DEFAULT_MAX_RUNS, healthy, plan
from .proctree import (
    ProcessTable,
    boot_id,
    identify,
    is_alive,
    open_child_pidfd,
    open_pidfd,
    send_signal,
    signal_all,
)
from .spawner import Spawner

log = logging.getLogger("borealis.runner")

PR_SET_CHILD_SUBREAPER = 36
MAX_SLEEP = 60.0
STRAY_SCAN_INTERVAL = 0.25
FORK_RETRY = 0.02
DOORBELL_OVERFLOW = 60_000  # a FIFO holds 64 KiB: this much at once means it may have filled


def _drain(fd: int) -> bytes:
    chunks = []
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class RunnerOptions:
    kill_grace: float = 10.0  # SIGTERM -> SIGKILL, capped by the task's finalization_wait
    max_runs: int = DEFAULT_MAX_RUNS  # run cap per process (0 = none)
    preserve_env: bool = False
    lost_timeout: float = 60.0  # a run FORKED this long without RUNNING is LOST
    coordinator_grace: float = 5.0  # after SIGKILLing a run, wait this long for its coordinator
    default_destination: str = "file"
    use_spawner: bool = True  # fork coordinators from a small helper process (spawner.py)


@dataclass(frozen=True)
class RunContext:
    """What the caller decides for a task's first start (kept in the header)."""

    sandbox: Path
    user: str
    ports: dict[str, int] = field(default_factory=dict)
    hostname: str = "localhost"
    run_as: coordinator.RunAs | None = None


@dataclass
class Attachment:
    """A coordinator the runner follows: its stream, and a pidfd once it is known."""

    process: str
    run: int
    follower: StreamFollower
    pidfd: int | None = None
    exited: bool = False


class TaskRunner:
    def __init__(
        self,
        root: CheckpointRoot,
        task_id: str,
        spec: TaskSpec,
        context: RunContext,
        options: RunnerOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
        faults: Faults | None = None,
        kill: TaskState | None = None,
        spawner: Spawner | None = None,
    ) -> None:
        self.paths = root.task(task_id)
        self.task_id = task_id
        self.spec = spec
        self.context = context
        self.options = options or RunnerOptions()
        self.clock = clock
        self.faults = faults or Faults.from_env()
        self.ckpt = RunnerCheckpoint(self.paths, self.faults)
        self.attachments: dict[str, Attachment] = {}
        self._waiting: set[str] = set()  # WAITING runs with no coordinator attached yet
        self._wakes: list[float] = []
        self._signals: list[int] = []
        self._kill: TaskState | None = kill  # KILLED or LOST, once requested
        self._kill_signal = "borealis kill" if kill else ""
        self._force = False
        self._termed: set[Identity] = set()
        self._members: list[Identity] = []
        self._members_at = -1.0
        self._stop_started: float | None = None
        self._selector: selectors.BaseSelector | None = None
        self._doorbell = -1
        self._wakeup_r = -1
        self._wakeup_w = -1
        self._old_handlers: dict[int, object] = {}
        self._old_wakeup = -1
        self._task_env: dict[str, str] | None = None
        self._spawner = spawner
        self._spawner_deaths: list[float] = []
        self._requests: dict[int, Attachment] = {}  # sent to the spawner, not answered yet
        self._next_request = 1
        self._rung: set[str] = set()  # processes whose coordinators rang the doorbell
        self._replan = True  # something the plan depends on changed
        self._plan_wake: float | None = None  # when the plan itself asked to be woken
        self._scan_all = True  # read every stream (at start, and after a doorbell overflow)

    @property
    def state(self) -> RunnerState:
        return self.ckpt.state

    @property
    def sandbox(self) -> Path:
        header = self.state.header
        return Path(header.sandbox) if header else self.context.sandbox

    # -- lifecycle ----------------------------------------------------------

    def run(self) -> TaskState:
        """Run (or resume) the task to its end; return the terminal state."""
        try:
            if self._spawner is None and self.options.use_spawner:
                self._spawner = self._new_spawner()
            self.ckpt.acquire()
            self._setup()
            self._start()
            while True:
                self._step()
                final = self.state.task_state
                if final is not None and final.terminal:
                    break
                self._wait()
            self._finish()
            assert final is not None
            return final
        finally:
            self._teardown()

    def _setup(self) -> None:
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self._selector = selectors.DefaultSelector()
        # Forked coordinators share the heap copy-on-write; a frozen heap is not
        # walked by the collector, so neither side copies pages it does not change.
        gc.freeze()
        doorbell = self.paths.doorbell
        try:
            if not stat.S_ISFIFO(os.lstat(doorbell).st_mode):
                os.unlink(doorbell)
                os.mkfifo(doorbell, 0o622)
        except FileNotFoundError:
            os.mkfifo(doorbell, 0o622)
        # O_RDWR: the FIFO never reports EOF, and never blocks this open.
        self._doorbell = os.open(doorbell, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._doorbell, selectors.EVENT_READ, "doorbell")
        if self._spawner is not None:
            self._selector.register(self._spawner.fileno(), selectors.EVENT_READ, "spawner")
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, "signal")
        self._old_wakeup = signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        for sig in (
            signal.SIGINT,
            signal.SIGTERM,
            signal.SIGUSR1,
            signal.SIGUSR2,
            signal.SIGCHLD,
            signal.SIGHUP,
        ):
            previous = signal.getsignal(sig)
            if sig == signal.SIGHUP and previous == signal.SIG_IGN:
                continue  # started under nohup: keep ignoring hangups
            self._old_handlers[sig] = previous
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _teardown(self) -> None:
        gc.unfreeze()
        for sig, handler in self._old_handlers.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, handler)  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            signal.set_wakeup_fd(self._old_wakeup)
        for att in self.attachments.values():
            self._close_attachment(att)
        self.attachments.clear()
        if self._spawner is not None:
            self._spawner.close()
            self._spawner = None
        if self._selector is not None:
            self._selector.close()
        for fd in (self._doorbell, self._wakeup_r, self._wakeup_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.ckpt.close()

    def _start(self) -> None:
        now = self.clock()
        current_boot = boot_id()
        if self.state.header is None:
            ctx = self.context
            self.ckpt.record(
                Header(
                    task_id=self.task_id,
                    sandbox=str(ctx.sandbox),
                    log_dir=str(log_dir(ctx.sandbox)),
                    hostname=ctx.hostname,
                    user=ctx.user,
                    uid=ctx.run_as.uid if ctx.run_as else os.getuid(),
                    ports=dict(ctx.ports),
                    launch_time=now,
                    boot_id=current_boot,
                )
            )
            self.ckpt.record(TaskStatus(TaskState.ACTIVE, now))
        me = identify(os.getpid())
        assert me is not None
        self.ckpt.record(RunnerStarted(me, now, current_boot))
        previous_boot = self.state.runners[-2].boot_id if len(self.state.runners) > 1 else None
        if previous_boot is not None and previous_boot != current_boot:
            for run in self.state.active_runs():
                self._record_lost(run, "the host rebooted while the run was active")
        self.ckpt.commit()
        if not (self.state.task_state and self.state.task_state.terminal):
            self._recover()
            self.ckpt.commit()

    def _finish(self) -> None:
        paths = self.paths
        if paths.active_task_file.exists():
            paths.root.finished_dir.mkdir(parents=True, exist_ok=True)
            self.faults.point("before-rename")
            os.replace(paths.active_task_file, paths.finished_task_file)
            os.utime(paths.finished_task_file)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.doorbell)

    # -- re-attaching after a restart ---------------------------------------

    def _recover(self) -> None:
        for run in self.state.active_runs():
            name = run.process
            att = Attachment(name, run.run, self._follower(name))
            self.attachments[name] = att
            self._merge(att)
            current = self.state.last_run(name)
            assert current is not None
            if not current.state.active:
                continue  # it ended while no runner was looking; the coordinator may linger
            if current.state is ProcessState.WAITING:
                self._waiting.add(name)  # resolved by _resolve_waiting()
            elif current.coordinator is not None:
                self._watch(att, current.coordinator)
            else:
                att.exited = True
        self._resolve_waiting()

    def _watch(self, att: Attachment, coordinator_id: Identity) -> None:
        fd = open_pidfd(coordinator_id)
        if fd is None:
            att.exited = True
            return
        att.pidfd = fd
        assert self._selector is not None
        self._selector.register(fd, selectors.EVENT_READ, att)

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
        self._replan = True  # its next run may start now

    # -- merging coordinator records ----------------------------------------

    def _merge(self, att: Attachment) -> None:
        for payload in att.follower.read_new():
            record = decode(payload)
            if not isinstance(record, ProcessStatus) or record.process != att.process:
                continue
            if advances(self.state, record):
                self.ckpt.record(record)
                self._log_transition(record)
                if record.state.terminal:
                    self._replan = True

    def _log_transition(self, record: ProcessStatus) -> None:
        label = f"{record.process}[{record.run}]"
        if record.state is ProcessState.RUNNING and record.pid is not None:
            log.info("%s running (pid %d)", label, record.pid.pid)
        elif record.state.terminal:
            detail = f"exit status {record.return_code}" if record.return_code is not None else ""
            if record.return_code is not None and record.return_code < 0:
                detail = f"signal {-record.return_code}"
            extra = "; ".join(p for p in (detail, record.reason) if p)
            log.info("%s %s%s", label, record.state.value, f" ({extra})" if extra else "")

    def _collect(self) -> None:
        rung, self._rung = self._rung, set()
        scan_all, self._scan_all = self._scan_all, False
        for att in list(self.attachments.values()):
            if att.process in self._waiting:
                continue  # _resolve_waiting() looks after these
            if not (scan_all or att.exited or att.pidfd is None or att.process in rung):
                continue  # nothing new in its stream
            self._merge(att)
            run = self.state.last_run(att.process)
            assert run is not None
            if att.pidfd is None and not att.exited and run.coordinator is not None:
                self._watch(att, run.coordinator)
            if att.exited:
                self._merge(att)  # everything it wrote before it went
                run = self.state.last_run(att.process)
                assert run is not None
                if run.run == att.run and run.state.active:
                    self._record_lost(run, "its coordinator exited without recording the end")
                self._detach(att)

    def _record_lost(self, run: ProcessRun, reason: str) -> None:
        if run.state is not ProcessState.WAITING:
            # Nobody supervises this run any more: end whatever is left of it
            # before it is retried (found by pid, or by its environment marker
            # if the coordinator died before it could record the pid).
            table = ProcessTable()
            pids = table.trees([run.pid] if run.pid else [])
            pids.update(table.marked(self.task_id, str(self.sandbox), run.process, run.run))
            signal_all(table.live(pids), signal.SIGKILL)
        record = ProcessStatus(run.process, run.run, ProcessState.LOST, self.clock(), reason=reason)
        self.ckpt.record(record)
        self._log_transition(record)
        self._replan = True

    # -- launching ----------------------------------------------------------

    def _launch(self, names: list[str] | tuple[str, ...]) -> None:
        started = []
        for name in names:
            if name in self.attachments or name in self._waiting:
                continue  # the previous coordinator has not exited yet
            run = len(self.state.runs(name))
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
        self.ckpt.commit()  # the runs exist on disk before their processes do
        self.faults.point("before-fork")
        for name in started:
            # A run this runner has just recorded has no coordinator yet: fork
            # as soon as the stream's lock is ours (the previous run's
            # coordinator may still be on its way out; then try again soon).
            fd = self._lock_stream(name)
            if fd is None:
                self._waiting.add(name)
                self._wake(self.clock() + FORK_RETRY)
                continue
            att = Attachment(name, len(self.state.runs(name)) - 1, self._follower(name))
            self.attachments[name] = att
            self._fork(att, att.run, fd)

    def _follower(self, name: str) -> StreamFollower:
        """A reader of the process's stream, from where its current run's records start."""
        run = self.state.last_run(name)
        offset = run.stream_offset if run is not None and run.stream_offset is not None else 0
        return StreamFollower(self.paths.process_stream(name), offset)

    def _lock_stream(self, name: str) -> int | None:
        """Open and lock a process stream; ``None`` while a coordinator holds it."""
        stream = self.paths.process_stream(name)
        fd = os.open(stream, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return None
        return fd

    def _resolve_waiting(self) -> None:
        """Fork coordinators for WAITING runs, unless one is already alive.

        The process stream's lock decides: if it is free, no coordinator of
        this process lives, so one is forked now (after reading anything a
        dead one wrote). If it is held, a coordinator forked by a previous
        runner has not written its first record yet, or the previous run's
        coordinator is still exiting: look again shortly.
        """
        stopping = self.state.task_state is not TaskState.ACTIVE and not self._finalizing_allowed()
        for name in sorted(self._waiting):
            run = self.state.last_run(name)
            assert run is not None
            att = self.attachments.get(name)
            if att is None:
                att = Attachment(name, run.run, self._follower(name))
                self.attachments[name] = att
            self._merge(att)
            run = self.state.last_run(name)
            assert run is not None
            if run.state is not ProcessState.WAITING:
                self._waiting.discard(name)
                if att.pidfd is None and not att.exited:
                    if run.coordinator is not None and run.state.active:
                        self._watch(att, run.coordinator)
                    else:
                        att.exited = True  # its coordinator came and went
                continue
            fd = self._lock_stream(name)
            if fd is None:
                self._wake(self.clock() + FORK_RETRY)
                continue
            self._merge(att)  # a coordinator may have written and died just now
            run = self.state.last_run(name)
            assert run is not None
            if run.state is not ProcessState.WAITING:
                os.close(fd)
                continue  # handled on the next pass
            if stopping:
                os.close(fd)
                self._waiting.discard(name)
                self._detach(att)
                self._record_lost(run, "not started: the task is stopping")
                continue
            self._fork(att, run.run, fd)
            self._waiting.discard(name)

    def _fork(self, att: Attachment, run: int, fd: int) -> None:
        spec = self.spec.process(att.process)
        destination = (
            spec.logger.destination if spec.logger is not None else self.options.default_destination
        )
        sandbox = self.sandbox
        if self._task_env is None:
            header = self.state.header
            self._task_env = task_environment(
                task_id=self.task_id,
                sandbox=str(sandbox),
                user=header.user if header else self.context.user,
                preserve_env=self.options.preserve_env,
            )
        launch = coordinator.Launch(
            task_id=self.task_id,
            process=spec,
            run=run,
            sandbox=str(sandbox),
            log_dir=str(process_log_dir(sandbox, spec.name, run)),
            stream=str(self.paths.process_stream(att.process)),
            doorbell=str(self.paths.doorbell),
            env=process_environment(self._task_env, spec.name, run),
            destination=destination,
            run_as=self.context.run_as,
        )
        att.follower.offset = os.fstat(fd).st_size
        att.run = run
        if self._spawner is not None:
            request = self._next_request
            self._next_request += 1
            if self._spawner.request(request, launch, fd):
                os.close(fd)  # the spawner's copy now holds the lock
                self._requests[request] = att
                self.faults.point("after-fork")
                return
            self._spawner_died()  # fork here instead
        pid = os.fork()
        if pid == 0:
            coordinator.main(launch, fd)
        os.close(fd)
        att.pidfd = os.pidfd_open(pid)
        assert self._selector is not None
        self._selector.register(att.pidfd, selectors.EVENT_READ, att)
        self.faults.point("after-fork")

    # -- the spawner --------------------------------------------------------

    def _new_spawner(self) -> Spawner | None:
        try:
            return Spawner(str(self.paths.checkpoint_dir))
        except OSError as e:
            log.warning("cannot start a spawner (%s); forking coordinators directly", e)
            return None

    def _spawner_answers(self) -> None:
        assert self._spawner is not None
        answers = self._spawner.answers()
        if answers is None:
            self._spawner_died()
            return
        spawner_pid = self._spawner.pid
        for request, pid in answers:
            att = self._requests.pop(request, None)
            if att is None or att.pidfd is not None or att.exited:
                continue
            if pid == 0:  # fork() failed there: the lock is free again, try later
                self._waiting.add(att.process)
                self._wake(self.clock() + FORK_RETRY)
                continue
            fd = open_child_pidfd(pid, spawner_pid)
            if fd is None:
                att.exited = True  # came and went already; its stream says how
                continue
            att.pidfd = fd
            assert self._selector is not None
            self._selector.register(fd, selectors.EVENT_READ, att)

    def _spawner_died(self) -> None:
        """Forget the spawner; its unanswered launches are resolved by their locks."""
        spawner, self._spawner = self._spawner, None
        if spawner is None:
            return
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(spawner.fileno())
        spawner.close()
        for att in self._requests.values():
            if att.pidfd is None and not att.exited:
                self._waiting.add(att.process)
        self._requests.clear()
        now = self.clock()
        self._spawner_deaths = [t for t in self._spawner_deaths if now - t < 60] + [now]
        if len(self._spawner_deaths) > 3:
            log.warning("the spawner keeps dying; forking coordinators directly")
            return
        self._spawner = self._new_spawner()
        if self._spawner is not None and self._selector is not None:
            self._selector.register(self._spawner.fileno(), selectors.EVENT_READ, "spawner")

    # -- the stages ---------------------------------------------------------

    def _step(self) -> None:
        self._wakes = []
        self._collect()
        self._take_signals()
        if self._waiting:
            self._resolve_waiting()
        for _ in range(4):  # a stage may finish at once and hand over to the next
            before = self.state.task_state
            now = self.clock()
            if before is TaskState.ACTIVE:
                self._step_active(now)
            elif before is TaskState.CLEANING:
                self._step_cleaning(now)
            elif before is TaskState.FINALIZING:
                self._step_finalizing(now)
            if self.state.task_state is before:
                break
            self._stop_started = None
            self._termed.clear()
        self._check_stuck(self.clock())
        self.ckpt.commit()

    def _leave_active(self, cause: TaskState, reason: str) -> None:
        self.ckpt.record(TaskStatus(TaskState.CLEANING, self.clock(), cause, reason))
        log.info(
            "task %s: stopping (%s)%s", self.task_id, cause.value, f": {reason}" if reason else ""
        )

    def _step_active(self, now: float) -> None:
        if self._kill is not None:
            self._leave_active(self._kill, self._kill_reason())
            return
        # The plan changes only when a run ends or a min_duration gap passes;
        # a run merely starting (the bulk of the records) does not change it.
        due = self._plan_wake is not None and now >= self._plan_wake
        if not (self._replan or due):
            if self._plan_wake is not None:
                self._wake(self._plan_wake)
            return
        self._replan = False
        regular = plan(self.spec, self.state, now, final=False, max_runs=self.options.max_runs)
        ok, why = healthy(self.spec, regular)
        if not ok:
            self._leave_active(TaskState.FAILED, why)
        elif regular.complete:
            self._leave_active(TaskState.SUCCESS, "")
        else:
            self._launch(regular.launch)
            self._plan_wake = regular.wake_at
            if regular.wake_at is not None:
                self._wake(regular.wake_at)

    def _budget_end(self) -> float:
        left_active = self.state.entered(TaskState.CLEANING)
        assert left_active is not None
        return left_active + self.spec.finalization_wait

    def _finalizing_allowed(self) -> bool:
        return (
            self.state.task_state is TaskState.FINALIZING
            and not self._force
            and self.state.cause is not TaskState.LOST
        )

    def _step_cleaning(self, now: float) -> None:
        left_active = self.state.entered(TaskState.CLEANING)
        assert left_active is not None
        grace = min(self.options.kill_grace, float(self.spec.finalization_wait))
        immediate = self._force or self.state.cause is TaskState.LOST
        if not self._stop_all(now, left_active if immediate else left_active + grace):
            return
        has_finals = any(p.final for p in self.spec.processes)
        if immediate or not has_finals or now >= self._budget_end():
            if has_finals and not immediate:
                log.info("task %s: finalization_wait spent, skipping finalizers", self.task_id)
            self._terminal(now)
        else:
            self.ckpt.record(TaskStatus(TaskState.FINALIZING, now, self.state.cause))

    def _step_finalizing(self, now: float) -> None:
        deadline = self._budget_end()
        finals = plan(self.spec, self.state, now, final=True, max_runs=self.options.max_runs)
        over = self._force or self.state.cause is TaskState.LOST or now >= deadline
        if not (over or finals.complete or finals.deadlocked):
            self._launch(finals.launch)
            if finals.wake_at is not None:
                self._wake(finals.wake_at)
            self._wake(deadline)
            return
        if self._stop_started is None:
            self._stop_started = now
        escalate = now if over else min(self._stop_started + self.options.kill_grace, deadline)
        if self._stop_all(now, escalate):
            self._terminal(now)

    def _stop_all(self, now: float, escalate_at: float) -> bool:
        """Stop every process of the task; return True once none is left.

        SIGTERM reaches each process once, SIGKILL everything still there from
        ``escalate_at`` on; coordinators that have not recorded the end of
        their run ``coordinator_grace`` after that are killed too (LOST). Each
        signal also goes to the process group of every live run, so that a
        child forked after the last scan is not missed; and "none left" is
        only believed after a fresh scan.
        """
        if self._waiting:
            self._resolve_waiting()  # WAITING runs: fork nothing, mark LOST
        members = self._task_members(now)
        if not members and not self.state.active_runs() and not self._waiting:
            members = self._task_members(now, fresh=True)
            if not members:
                return True
        sig = signal.SIGKILL if now >= escalate_at else signal.SIGTERM
        for run in self.state.active_runs():
            # The group id is the run's pid: certainly ours while that process lives.
            if run.pid is None or not is_alive(run.pid):
                continue
            if sig == signal.SIGKILL or run.pid not in self._termed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(run.pid.pid, sig)
        if sig == signal.SIGKILL:
            signal_all(members, signal.SIGKILL)
        else:
            fresh = [m for m in members if m not in self._termed]
            signal_all(fresh, signal.SIGTERM)
            self._termed.update(fresh)
            self._wake(escalate_at)
        self._wake(now + STRAY_SCAN_INTERVAL)
        if now >= escalate_at + self.options.coordinator_grace:
            for run in self.state.active_runs():
                if run.coordinator is not None:
                    send_signal(run.coordinator, signal.SIGKILL)
        elif self.state.active_runs():
            self._wake(escalate_at + self.options.coordinator_grace)
        return False

    def _task_members(self, now: float, fresh: bool = False) -> list[Identity]:
        """The task's live processes, re-scanned at most every STRAY_SCAN_INTERVAL."""
        if fresh or now - self._members_at >= STRAY_SCAN_INTERVAL or self._members_at > now:
            roots = [r.pid for r in self.state.active_runs() if r.pid is not None]
            table = ProcessTable()
            self._members = table.task_members(roots, self.task_id, str(self.sandbox))
            self._members_at = now
        return [m for m in self._members if is_alive(m)]

    def _terminal(self, now: float) -> None:
        cause = self.state.cause or TaskState.FAILED
        reason = self.state.statuses[-1].reason
        if cause is TaskState.SUCCESS:
            reason = ""
        self.ckpt.record(TaskStatus(cause, now, None, reason))
        log.info("task %s: %s%s", self.task_id, cause.value, f" ({reason})" if reason else "")

    def _check_stuck(self, now: float) -> None:
        """Coordinators that forked but never started their command are LOST."""
        for att in self.attachments.values():
            run = self.state.last_run(att.process)
            if run is None or run.state is not ProcessState.FORKED or run.fork_time is None:
                continue
            limit = run.fork_time + self.options.lost_timeout
            if now >= limit and run.coordinator is not None:
                log.warning(
                    "%s[%d] never started its command; killing its coordinator",
                    run.process,
                    run.run,
                )
                send_signal(run.coordinator, signal.SIGKILL)
            else:
                self._wake(limit)

    # -- signals and requests -----------------------------------------------

    def _take_signals(self) -> None:
        signals, self._signals = self._signals, []
        for signum in signals:
            if signum == signal.SIGCHLD:
                self._reap()
            elif signum == signal.SIGUSR2:
                self._request(TaskState.LOST, signum)
            else:
                self._request(TaskState.KILLED, signum)
        self._reap()

    def _request(self, cause: TaskState, signum: int) -> None:
        """A kill (KILLED) or lose (LOST) request; a second kill forces SIGKILL now."""
        state = self.state.task_state
        if state is None or state.terminal:
            return
        self._kill_signal = signal.Signals(signum).name
        if self._kill is not None and not self._force:
            log.info("task %s: %s again, killing everything now", self.task_id, self._kill_signal)
            self._force = True
        if self._kill is None or cause is TaskState.LOST:
            self._kill = cause
        # Past ACTIVE the cause is already on record; a kill or loss replaces an
        # outcome (SUCCESS, FAILED) but a kill does not replace a loss.
        current = self.state.cause
        if (
            state is not TaskState.ACTIVE
            and current is not self._kill
            and current is not TaskState.LOST
        ):
            self.ckpt.record(TaskStatus(state, self.clock(), self._kill, self._kill_reason()))

    def _kill_reason(self) -> str:
        verb = "lost" if self._kill is TaskState.LOST else "killed"
        return f"{verb} by {self._kill_signal}"

    def _reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    # -- waiting ------------------------------------------------------------

    def _wake(self, at: float) -> None:
        self._wakes.append(at)

    def _wait(self) -> None:
        assert self._selector is not None
        timeout = MAX_SLEEP
        if self._wakes:
            timeout = min(timeout, max(0.0, min(self._wakes) - self.clock()))
        if self._signals:
            timeout = 0.0
        for key, _ in self._selector.select(timeout):
            if key.data == "doorbell":
                data = _drain(key.fd)
                if len(data) >= DOORBELL_OVERFLOW:
                    self._scan_all = True  # some rings may have been refused
                self._rung.update(n.decode(errors="replace") for n in data.split(b"\n") if n)
            elif key.data == "signal":
                _drain(key.fd)
            elif key.data == "spawner":
                self._spawner_answers()
            elif isinstance(key.data, Attachment):
                key.data.exited = True
                self._selector.unregister(key.fd)
