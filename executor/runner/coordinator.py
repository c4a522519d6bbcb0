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
no typing at run time, no record classes). A launch arrives as plain values (``launch.py``);
the run's log files come opened by the runner (``runlogs.py``); its command is started by
``spawn.py``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from borealis.contract.framing import append_whole, frame, no_space
from borealis.contract.runrecords import process_status, process_warning, to_bytes
from borealis.contract.states import ProcessState, process_state_for_exit

from .cgroup_join import entered, oom_kills_in
from .launch import Launch
from .logpump import LINGER, MAX_LINGER, Output
from .procstat import identity_of
from .runlogs import outputs
from .spawn import start, start_problem

START_FAILURE_RC = 127  # the shell's "command not found" status, for a run that could not start
NO_SPACE_RETRY = 0.1
NO_SPACE_RETRY_MAX = 2.0


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
            self._child_ends, self.outputs = outputs(self.launch, self.logs, self.report)
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
            self.pid = start(self.launch, *self._child_ends)
            self.pidfd = os.pidfd_open(self.pid)
        except Exception as e:
            self._fail(e)
        finally:
            self._close_child_ends()  # the child has its copies

    def _close_child_ends(self) -> None:
        for fd in set(self._child_ends):
            if fd is not None:
                os.close(fd)
        self._child_ends = (None, None)

    def _fail(self, error: Exception) -> None:
        """Whatever stops the command from starting ends the run FAILED."""
        for output in self.outputs:
            output.close()
        self.outputs = []
        self._close_child_ends()
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
            self.write_held()
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
