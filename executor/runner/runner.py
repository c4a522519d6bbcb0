"""The runner: drives one task through its states, crash-safe.

One runner process per task, single-threaded, around one ``selectors`` loop
woken by: the doorbell FIFO (the shim wrote a record), a pidfd per shim (it
exited), the signal wake-up pipe, and timers the planner asks for. The runs
themselves are started and waited on by the task's shim (``shim.py``). Each iteration:

1. merge new coordinator records into the runner stream (``coordinators.py``);
2. turn signals into kill / lose requests;
3. act on the task state (``ACTIVE``: launch what the plan says is ready;
   ``CLEANING``: stop every process (``stopping.py``); ``FINALIZING``: run the
   final plan within ``finalization_wait``);
4. commit (one write for everything recorded; see ``checkpoint.py``). On a
   full disk the records stay in memory and the commit is tried again every
   ``NO_SPACE_RETRY`` seconds; nothing new is forked meanwhile, and the runner
   does not exit before its terminal record is written.

All state lives in the checkpoint: the runner's in-memory state is only ever
changed by ``RunnerCheckpoint.record``, which applies a record exactly as
replay does. A new runner for the same task replays the stream, re-attaches to
live shims by identity (pid + start ticks) through pidfds, merges what
they wrote while it was away, and carries on.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import selectors
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from borealis.contract.causes import Cause, OverLimit, Resource, Signalled
from borealis.contract.containment import describe as describe_containment
from borealis.contract.layout import CheckpointRoot, log_dir
from borealis.contract.records import Header, RunnerStarted, TaskStatus
from borealis.contract.replay import RunnerState
from borealis.contract.states import TaskState
from borealis.contract.stream import no_space
from borealis.contract.taskspec import LoggerSpec, RotatePolicy, TaskSpec

from .cgroups import DEFAULT_MAX_PIDS, TaskGroup, contain
from .checkpoint import RunnerCheckpoint
from .coordinators import NO_SPACE_RETRY, Coordinators, LaunchSettings, drain
from .faults import Faults
from .monitor import MonitorOptions, ResourceMonitor
from .planner import DEFAULT_MAX_RUNS, plan, unhealthy
from .proctree import boot_id, identify
from .runas import RunAs
from .shim import ShimHandle
from .stopping import HostProcesses, Stopper

log = logging.getLogger("borealis.runner")

PR_SET_CHILD_SUBREAPER = 36
DEFAULT_LOGGER = LoggerSpec(destination="file", mode="rotate", rotate=RotatePolicy())
MAX_SLEEP = 60.0


@dataclass(frozen=True)
class RunnerOptions:
    kill_grace: float = 10.0  # SIGTERM -> SIGKILL, capped by the task's finalization_wait
    max_runs: int = DEFAULT_MAX_RUNS  # run cap per process (0 = none)
    preserve_env: bool = False
    lost_timeout: float = 60.0  # a run FORKED this long without RUNNING is LOST
    coordinator_grace: float = 5.0  # after SIGKILLing a run, wait this long for its coordinator
    # Bounded logs unless a process says otherwise (docs/logs.md says why).
    logger: LoggerSpec = field(default_factory=lambda: DEFAULT_LOGGER)
    monitor: MonitorOptions = field(default_factory=MonitorOptions)  # resource sampling
    max_pids: int = DEFAULT_MAX_PIDS  # pids.max of the task's cgroup (0 = no limit)
    memory_limit: bool = True  # the task's cgroup is limited to Resources.ram


@dataclass(frozen=True)
class RunContext:
    """What the caller decides for a task's first start (kept in the header)."""

    sandbox: Path
    user: str
    ports: dict[str, int] = field(default_factory=dict)
    hostname: str = "localhost"
    run_as: RunAs | None = None
    ignored_container: str = ""  # the container it runs without, on the host (kept in header)


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
        shim: ShimHandle | None = None,
    ) -> None:
        self.paths = root.task(task_id)
        self.task_id = task_id
        self.spec = spec
        self.context = context
        self.options = options or RunnerOptions()
        self.clock = clock
        self.faults = faults or Faults.from_env()
        self.ckpt = RunnerCheckpoint(self.paths, self.faults)
        self._shim = shim  # started early by the caller, or by the first launch
        self.coordinators: Coordinators | None = None  # once the header names the user
        self.monitor: ResourceMonitor | None = None  # once the header names the sandbox
        self.cgroup: TaskGroup | None = None  # the task's cgroup, where the host allows one
        self._stopper = Stopper(task_id, self._wake)
        self._wakes: list[float] = []
        self._signals: list[int] = []
        self._kill: TaskState | None = kill  # KILLED or LOST, once requested
        self._kill_signal = "borealis kill" if kill else ""
        self._force = False
        self._stop_started: float | None = None
        self._plan_wake: float | None = None  # when the plan itself asked to be woken
        self._selector: selectors.BaseSelector | None = None
        self._wakeup_r = -1
        self._wakeup_w = -1
        self._old_handlers: dict[int, object] = {}
        self._old_wakeup = -1
        self._disk_full = False  # the last commit found no space (logged once per episode)

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
            if self._shim is None:
                # Its interpreter starts on the other CPU while this one sets the task up; a
                # runner that stops early closes the socket and the unused shim exits.
                with contextlib.suppress(OSError):
                    self._shim = ShimHandle.started(str(self.paths.checkpoint_dir))
            self.ckpt.acquire()
            self._setup()
            self._start()
            while True:
                self._step()
                final = self.state.task_state
                if final is not None and final.terminal and not self.ckpt.pending:
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
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, self._drain_wakeup)
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

    def _drain_wakeup(self) -> None:
        drain(self._wakeup_r)

    def _teardown(self) -> None:
        for sig, handler in self._old_handlers.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, handler)  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            signal.set_wakeup_fd(self._old_wakeup)
        if self.coordinators is not None:
            finished = self.state.task_state is not None and self.state.task_state.terminal
            self.coordinators.close(finished=finished)
        elif self._shim is not None:
            self._shim.close()  # never used: it exits as soon as its socket is closed
        if self.monitor is not None:
            self.monitor.close()
        if self._selector is not None:
            self._selector.close()
        for fd in (self._wakeup_r, self._wakeup_w):
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
                    ignored_container=ctx.ignored_container,
                )
            )
            self.ckpt.record(TaskStatus(TaskState.ACTIVE, now))
        me = identify(os.getpid())
        assert me is not None
        self.ckpt.record(RunnerStarted(me, now, current_boot))
        header = self.state.header
        assert header is not None
        self._contain()
        settings = LaunchSettings(
            task_id=self.task_id,
            spec=self.spec,
            user=header.user,
            run_as=self.context.run_as,
            default_logger=self.options.logger,
            preserve_env=self.options.preserve_env,
            lost_timeout=self.options.lost_timeout,
            cgroup_moves=self.cgroup.moves() if self.cgroup is not None else (),
        )
        coordinators = Coordinators(
            self.paths,
            self.ckpt,
            settings,
            clock=self.clock,
            faults=self.faults,
            wake=self._wake,
            shim=self._shim,
        )
        self.coordinators = coordinators
        assert self._selector is not None
        coordinators.open(self._selector)
        previous_boot = self.state.runners[-2].boot_id if len(self.state.runners) > 1 else None
        if previous_boot is not None and previous_boot != current_boot:
            for run in self.state.active_runs():
                coordinators.record_lost(run, "the host rebooted while the run was active")
        self._commit()
        if not (self.state.task_state and self.state.task_state.terminal):
            coordinators.recover()
            coordinators.resolve_waiting(stopping=self._stopping())
            self._commit()
            if self.options.monitor.interval > 0:
                try:
                    self.monitor = ResourceMonitor(
                        self.paths, self.spec, self.sandbox, self.options.monitor, self.clock
                    )
                except Exception as e:  # sampling is advisory: never the end of a task
                    log.warning("task %s: no resource sampling: %s", self.task_id, e)

    def _contain(self) -> None:
        """The task's cgroup (``cgroups.py``), decided once and recorded before any launch."""
        resources = self.spec.resources if self.options.memory_limit else None
        held = False
        while True:
            try:
                self.cgroup, decided = contain(
                    self.paths.containment,
                    self.task_id,
                    memory_max=resources.ram if resources and resources.ram > 0 else None,
                    pids_max=self.options.max_pids or None,
                )
                break
            except OSError as e:
                # A full disk: no process starts before the record is written (it would run
                # outside the task's groups and limits), unless the task is being stopped.
                if no_space(e) and not self._stop_signalled():
                    if not held:
                        held = True
                        log.warning(
                            "task %s: %s: no space left; holding the task's start until "
                            "there is room",
                            self.task_id,
                            self.paths.containment,
                        )
                    time.sleep(NO_SPACE_RETRY)
                    continue
                log.warning("task %s: its containment cannot be recorded: %s", self.task_id, e)
                return
            except ValueError as e:
                log.warning("task %s: its recorded cgroup is out of reach: %s", self.task_id, e)
                return
        if held:
            log.info("task %s: the containment record is written", self.task_id)
        log.info("task %s: containment: %s", self.task_id, describe_containment(decided))
        self._stopper.host = HostProcesses(self.cgroup)

    def _stop_signalled(self) -> bool:
        return any(sig in (signal.SIGTERM, signal.SIGINT) for sig in self._signals)

    def _out_of_memory(self) -> OverLimit | None:
        """The kernel killed a process at the task's memory limit (its cgroup says so)."""
        kills = self.cgroup.oom_kills() if self.cgroup is not None else 0
        if not kills:
            return None
        assert self.cgroup is not None
        ram = self.spec.resources.ram if self.spec.resources is not None else 0
        return OverLimit(Resource.RAM, self.cgroup.memory_peak() or ram, ram, kills)

    def _finish(self) -> None:
        paths = self.paths
        if self.cgroup is not None:
            self.cgroup.remove(reap=self._reap)
        if paths.active_task_file.exists():
            paths.root.finished_dir.mkdir(parents=True, exist_ok=True)
            self.faults.point("before-rename")
            os.replace(paths.active_task_file, paths.finished_task_file)
            os.utime(paths.finished_task_file)

    # -- the stages ---------------------------------------------------------

    @property
    def _coordinators(self) -> Coordinators:
        assert self.coordinators is not None
        return self.coordinators

    def _stopping(self) -> bool:
        """Whether a WAITING run must not start any more (the task is stopping)."""
        state = self.state.task_state
        finalizing = (
            state is TaskState.FINALIZING
            and not self._force
            and self.state.cause is not TaskState.LOST
        )
        return state is not TaskState.ACTIVE and not finalizing

    def _step(self) -> None:
        self._wakes = []
        coordinators = self._coordinators
        coordinators.collect()
        self._take_signals()
        if coordinators.waiting:
            coordinators.resolve_waiting(stopping=self._stopping())
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
            self._stopper.reset()
        coordinators.check_stuck(self.clock())
        self._sample()
        self._commit()

    def _commit(self) -> None:
        """Write what was recorded; on a full disk, keep it and try again soon."""
        if self.ckpt.commit():
            if self._disk_full:
                self._disk_full = False
                log.info("task %s: the checkpoint is written again", self.task_id)
            return
        if not self._disk_full:
            self._disk_full = True
            log.warning(
                "task %s: %s: no space left; holding records until there is room",
                self.task_id,
                self.ckpt.path,
            )
        self._wake(self.clock() + NO_SPACE_RETRY)

    def _sample(self) -> None:
        """Resource sampling when due (``monitor.py``); an enforced limit fails the task."""
        monitor = self.monitor
        if monitor is None:
            return
        state = self.state.task_state
        if state is None or state.terminal:
            return
        violation = monitor.step(self.state)
        if violation is not None and state is TaskState.ACTIVE and self._kill is None:
            self._leave_active(TaskState.FAILED, violation)
            self._wake(self.clock())  # act on it at once
        self._wake(monitor.next_at)

    def _leave_active(self, cause: TaskState, why: Cause | None) -> None:
        now = self.clock()
        if why is None:
            status = TaskStatus(TaskState.CLEANING, now, cause)
        else:
            status = TaskStatus.because(TaskState.CLEANING, now, cause, why)
        self.ckpt.record(status)
        reason = f": {status.reason}" if status.reason else ""
        log.info("task %s: stopping (%s)%s", self.task_id, cause.value, reason)

    def _step_active(self, now: float) -> None:
        if self._kill is not None:
            self._leave_active(self._kill, self._kill_cause())
            return
        out_of_memory = self._out_of_memory()
        if out_of_memory is not None:
            self._leave_active(TaskState.FAILED, out_of_memory)
            return
        # The plan changes only when a run ends or a min_duration gap passes;
        # a run merely starting (the bulk of the records) does not change it.
        coordinators = self._coordinators
        due = self._plan_wake is not None and now >= self._plan_wake
        if not (coordinators.ended or due):
            if self._plan_wake is not None:
                self._wake(self._plan_wake)
            return
        coordinators.ended = False
        regular = plan(self.spec, self.state, now, final=False, max_runs=self.options.max_runs)
        why = unhealthy(self.spec, regular)
        if why is not None:
            self._leave_active(TaskState.FAILED, why)
        elif regular.complete:
            self._leave_active(TaskState.SUCCESS, None)
        else:
            coordinators.launch(regular.launch)
            self._plan_wake = regular.wake_at
            if regular.wake_at is not None:
                self._wake(regular.wake_at)

    def _budget_end(self) -> float:
        left_active = self.state.entered(TaskState.CLEANING)
        assert left_active is not None
        return left_active + self.spec.finalization_wait

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
            self._coordinators.launch(finals.launch)
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
        """Stop every process of the task (see ``stopping.py``); True once none is left."""
        coordinators = self._coordinators
        if coordinators.waiting:
            coordinators.resolve_waiting(stopping=self._stopping())  # fork nothing: LOST
        return self._stopper.stop_all(
            self.state,
            str(self.sandbox),
            now,
            escalate_at,
            self.options.coordinator_grace,
            pending=bool(coordinators.waiting),
        )

    def _terminal(self, now: float) -> None:
        cause = self.state.cause or TaskState.FAILED
        last = self.state.statuses[-1]
        reason, why = ("", None) if cause is TaskState.SUCCESS else (last.reason, last.why)
        self.ckpt.record(TaskStatus(cause, now, None, reason, why))
        log.info("task %s: %s%s", self.task_id, cause.value, f" ({reason})" if reason else "")

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
            self.ckpt.record(
                TaskStatus.because(state, self.clock(), self._kill, self._kill_cause())
            )

    def _kill_cause(self) -> Signalled:
        return Signalled(self._kill_signal, lost=self._kill is TaskState.LOST)

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
            key.data()  # every registered descriptor carries its handler
