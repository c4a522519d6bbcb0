"""``borealis executor``: one Mesos task, from LAUNCH to its acknowledged terminal update.

States sent, as Aurora's executor does: TASK_STARTING at once; TASK_RUNNING when the runner
has started the task and, with a health check, after ``min_consecutive_successes`` healthy
checks (an HTTP check needs a port named ``health``; a shell check always runs); TASK_KILLING
when the framework has the ``TASK_KILLING_STATE`` capability; then one terminal update
mapped from the runner's end state (``statuses.final_status``), or from a cause the executor
found itself (``statuses.Failure``: a failed health check, malformed ``TaskInfo.data``, a
task that cannot start).

A task's driver goes through these phases (``MOVES`` holds every allowed step)::

    STARTING ──▶ RUNNING ──▶ KILLING ──▶ DONE
        │           └───────────────────▲ ▲
        └──────────────▶ KILLING ───────┘ │
        └─────────────────────────────────┘   (it ended, or could not start)

The executor exits once its terminal update is acknowledged; after ``ack_timeout`` without
an acknowledgement (non-zero); and after a SHUTDOWN, within the agent's shutdown grace period
whether its updates were acknowledged or not (the agent destroys an executor that outstays it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from borealis.contract.envelope import Envelope, HttpChecker, bind_task, envelope_from_bytes
from borealis.contract.errors import InputError
from borealis.contract.layout import TASK_ID_RE, CheckpointRoot, executor_sandbox
from borealis.contract.mesos import MesosReason, MesosState
from borealis.contract.states import TaskState
from borealis.contract.validation import validate

from . import containers, identity, lifecycle, protocol
from .client import AgentLink
from .environment import MesosEnvironment
from .health import Health, HealthPlanner, probe_http, shell_check, snoozed
from .statuses import Failure, Final, Why, final_status
from .taskrun import TaskRun

log = logging.getLogger("borealis.executor")
SHUTDOWN_MARGIN = 1.0  # leave the agent's grace period this much earlier than it ends


@dataclass
class ExecutorOptions:
    kill_grace: float = 10.0  # the runner's TERM -> KILL grace
    ack_timeout: float = 60.0  # fail-safe: exit (non-zero) if the terminal update is never ACKed
    hostname: str = ""
    announcer_ensemble: str = ""  # ZooKeeper hosts; empty: nothing is announced
    announcer_serverset_path: str = "/aurora"
    announcer_allow_custom_path: bool = False
    announcer_auth: Path | None = None
    announcer_session_timeout: float = 10.0
    poll: float = 0.2  # how often the runner's checkpoint is looked at
    runner_exit_wait: float = 2.0  # after the runner exits, its last records are surely written
    clock: Callable[[], float] = time.monotonic


class Phase(enum.Enum):
    STARTING = "STARTING"  # TASK_STARTING sent; the runner is starting the task
    RUNNING = "RUNNING"  # TASK_RUNNING sent (after the health checks, with any)
    KILLING = "KILLING"  # stopping the task: killed, unhealthy, shut down or disconnected
    DONE = "DONE"  # the terminal update is sent


MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.STARTING: frozenset({Phase.RUNNING, Phase.KILLING, Phase.DONE}),
    Phase.RUNNING: frozenset({Phase.KILLING, Phase.DONE}),
    Phase.KILLING: frozenset({Phase.DONE}),
    Phase.DONE: frozenset(),
}


class Executor:
    def __init__(self, env: MesosEnvironment, options: ExecutorOptions | None = None) -> None:
        self.env = env
        self.options = options or ExecutorOptions()
        self.clock = self.options.clock
        self.hostname = self.options.hostname or socket.getfqdn()
        self.link = AgentLink(env, self.on_event)
        self.capabilities: set[str] = set()
        self.driver: TaskDriver | None = None
        self.all_acked = asyncio.Event()
        self.out_of_time = asyncio.Event()  # stop waiting for acknowledgements
        self.out_of_time_why = ""
        self.shutting_down = False  # SHUTDOWN arrived: unacknowledged updates are no failure
        self.disconnected = False
        self._background: set[asyncio.Future[None]] = set()

    def spawn(self, coroutine: Any) -> None:
        """Run ``coroutine`` in the background, keeping a reference until it is done."""
        future: asyncio.Future[None] = asyncio.ensure_future(coroutine)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    def give_up_waiting(self, after: float, why: str) -> None:
        """Stop waiting for acknowledgements ``after`` seconds from now (the earliest wins)."""

        def expire() -> None:
            if not self.out_of_time.is_set():
                self.out_of_time_why = why
                self.out_of_time.set()

        asyncio.get_running_loop().call_later(max(0.0, after), expire)

    # --- events -------------------------------------------------------------------------

    def on_event(self, event: dict[str, Any]) -> None:
        try:
            self._dispatch(event)
        except (AttributeError, TypeError, KeyError, ValueError) as e:
            log.error("ignoring a malformed %s event: %r", event.get("type"), e)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            info = event.get("subscribed", {}).get("framework_info", {})
            self.capabilities = {
                c.get("type", "") for c in info.get("capabilities", []) if isinstance(c, dict)
            }
            log.info("subscribed (capabilities: %s)", sorted(self.capabilities) or "none")
        elif kind == "LAUNCH":
            self._launch(event.get("launch", {}).get("task", {}))
        elif kind == "KILL":
            kill = event.get("kill", {})
            task_id = kill.get("task_id", {}).get("value")
            grace = _grace(kill.get("kill_policy"))
            if self.driver is not None and self.driver.task_id == task_id:
                self.driver.kill(grace, "killed by the framework")
        elif kind == "ACKNOWLEDGED":
            ack = event.get("acknowledged", {})
            task_status = self.link.acknowledged(
                ack.get("task_id", {}).get("value", ""), ack.get("uuid", "")
            )
            if task_status is not None:
                self._maybe_done()
        elif kind == "SHUTDOWN":
            self.shutdown()
        elif kind == "ERROR":
            log.error("the agent reported an error: %s", event.get("error", {}).get("message"))

    def _launch(self, task_info: dict[str, Any]) -> None:
        task_id = task_info.get("task_id", {}).get("value", "")
        self.link.launched(task_info)
        if self.driver is not None:
            final = Failure(Why.SECOND_TASK, "task already running on this executor").final()
            self.spawn(self.send(task_id, final.state, final.message, final.reason))
            return
        self.driver = TaskDriver(self, task_info)
        self.spawn(self.driver.run())

    def shutdown(self) -> None:
        """SHUTDOWN (or SIGTERM): stop the task, and be gone within the grace period."""
        grace = self.env.shutdown_grace_period
        self.shutting_down = True
        self.give_up_waiting(grace - SHUTDOWN_MARGIN, "the shutdown grace period is over")
        if self.driver is not None:
            self.driver.kill(max(0.5, grace - 2 * SHUTDOWN_MARGIN), "the executor was shut down")
        else:
            self._maybe_done()

    # --- updates ------------------------------------------------------------------------

    async def send(
        self,
        task_id: str,
        state: MesosState,
        message: str = "",
        reason: MesosReason | None = None,
        healthy: bool | None = None,
    ) -> None:
        task_status = protocol.status(
            task_id,
            state,
            executor_id=self.env.executor_id,
            message=message,
            reason=reason,
            healthy=healthy,
        )
        log.info("%s %s%s", task_id, state.value, f": {message}" if message else "")
        await self.link.update(task_status)

    def _maybe_done(self) -> None:
        if self.link.pending():
            return
        if self.driver is None or self.driver.phase is Phase.DONE:
            self.all_acked.set()

    # --- main ---------------------------------------------------------------------------

    async def main(self) -> int:
        """Serve until every update is acknowledged; the exit status."""
        link = asyncio.ensure_future(self.link.run())
        acked = asyncio.ensure_future(self.all_acked.wait())
        late = asyncio.ensure_future(self.out_of_time.wait())
        await asyncio.wait([link, acked, late], return_when=asyncio.FIRST_COMPLETED)
        acked.cancel()
        late.cancel()
        if not link.done():
            self.link.close()
            link.cancel()
            if self.all_acked.is_set():
                return 0
            log.warning("exiting: %s", self.out_of_time_why)
            ended = self.driver is None or self.driver.phase is Phase.DONE
            return 0 if ended and (self.shutting_down or not self.link.pending()) else 1
        # Disconnected for good: stop the task, exit without waiting for acknowledgements.
        self.disconnected = True
        log.warning("%s: stopping the task", self.link.reason)
        if self.driver is not None and self.driver.phase is not Phase.DONE:
            grace = max(0.5, self.env.shutdown_grace_period - SHUTDOWN_MARGIN)
            self.driver.kill(grace, self.link.reason)
            await self.driver.done.wait()
        return 0


def _grace(policy: Any) -> float | None:
    if not isinstance(policy, dict):
        return None
    period = policy.get("grace_period", {})
    nanos = period.get("nanoseconds") if isinstance(period, dict) else None
    return nanos / 1e9 if isinstance(nanos, int | float) and nanos >= 0 else None


class TaskDriver:
    """Runs one task and reports its states (``Phase``)."""

    def __init__(self, executor: Executor, task_info: dict[str, Any]) -> None:
        self.executor = executor
        self.options = executor.options
        self.clock = executor.clock
        self.task_info = task_info
        self.task_id: str = task_info.get("task_id", {}).get("value", "")
        self.phase = Phase.STARTING
        self.done = asyncio.Event()
        self.envelope: Envelope | None = None
        self.run_: TaskRun | None = None
        self.failure: Failure | None = None  # a cause found here, overriding the runner's end
        self.kill_request: tuple[float | None, str] | None = None  # (grace, why)
        self._killing: asyncio.Future[None] | None = None
        self.default_grace = _grace(task_info.get("kill_policy"))
        self.announcer: Any = None
        self.user: identity.TaskUser | None = None

    def _enter(self, phase: Phase) -> None:
        if phase not in MOVES[self.phase]:
            raise AssertionError(f"task {self.task_id}: {self.phase.value} -> {phase.value}")
        self.phase = phase

    async def run(self) -> None:
        await self.executor.send(self.task_id, MesosState.TASK_STARTING, "launching the runner")
        try:
            self._start()
        except InputError as e:
            await self._finish(Failure(Why.INVALID, str(e)).final())
            return
        except OSError as e:
            await self._finish(Failure(Why.CANNOT_START, f"the task could not start: {e}").final())
            return
        except Exception as e:  # never end without a terminal update
            log.exception("starting the task failed")
            why = Failure(Why.CANNOT_START, f"the task could not start: {e!r}")
            await self._finish(why.final())
            return
        health = asyncio.ensure_future(self._health())
        try:
            await self._follow()
        finally:
            health.cancel()

    def _start(self) -> None:
        ex = self.executor
        if not TASK_ID_RE.match(self.task_id):
            raise InputError("TaskInfo", "task_id", f"{self.task_id!r} is not a usable task id")
        raw = self.task_info.get("data")
        if not isinstance(raw, str):
            raise InputError("TaskInfo", "data", "missing: expected the Borealis task envelope")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("TaskInfo", "data", "not base64") from None
        self.envelope = envelope_from_bytes(data)
        # the container it runs without, or refused, before anything is made
        ignored = containers.prepare(self.envelope.container, ex.env)
        asked = identity.asked_user(self.envelope.task)
        self.user = identity.task_user(
            self.envelope.job.role, asked, identity.Settings.from_environ(), "TaskInfo.data"
        )
        name = self.user.name
        spec = bind_task(self.envelope, task_id=self.task_id, hostname=ex.hostname, user=name)
        spec = replace(spec, user=name)  # what the runner switches to
        validate(spec, "TaskInfo.data: task")
        sandbox = executor_sandbox(ex.env.directory)
        identity.check_reachable(sandbox, self.user.run_as)
        root = CheckpointRoot(ex.env.directory)
        self.run_ = TaskRun(root, self.task_id, sandbox)
        self.run_.start(spec, self.envelope.port_numbers(), self.options.kill_grace, ignored)

    def _task_state(self) -> TaskState | None:
        assert self.run_ is not None
        return self.run_.state().task_state

    def _ended(self) -> bool:
        current = self._task_state()
        return current is not None and current.terminal

    def _needs_health_wait(self) -> bool:
        env = self.envelope
        assert env is not None
        if env.health_check is None:
            return False
        if isinstance(env.health_check.checker, HttpChecker):
            return "health" in env.port_numbers()
        return True

    def _may_say_running(self) -> bool:
        """RUNNING is due as soon as the runner started the task (health checks say it else)."""
        return self.phase is Phase.STARTING and not self._needs_health_wait()

    async def _follow(self) -> None:
        run = self.run_
        assert run is not None
        runner_gone_since: float | None = None
        while True:
            state = run.state()
            current = state.task_state
            if current is not None and current.terminal:
                if self._may_say_running() and state.entered(TaskState.ACTIVE) is not None:
                    # it ran and ended between two looks: say so, in order
                    await self._running("the runner started the task")
                break
            if current is TaskState.ACTIVE and self._may_say_running():
                await self._running("the runner started the task")
            exited = run.runner_exited()
            if exited is not None and not run.runner_alive():
                runner_gone_since = runner_gone_since or self.clock()
                if self.clock() - runner_gone_since > self.options.runner_exit_wait:
                    await self._finish(self._runner_gone(exited, current).final())
                    return
            if self.kill_request is not None and self._killing is None:
                self._killing = asyncio.ensure_future(self._kill())
            await asyncio.sleep(self.options.poll)
        if self._killing is not None and not self._killing.done():
            self._killing.cancel()  # the task ended on its own meanwhile
        if self.failure is not None:
            await self._finish(self.failure.final())
            return
        final = final_status(run.state())
        if self.kill_request is not None:
            # Killed on request: KILLED, however the task ended (a service may exit 0 on
            # /quitquitquit); the message says how it did.
            why = self.kill_request[1]
            ended = run.state().task_state
            if final.state is not MesosState.TASK_KILLED:
                why += f" (it ended {ended.value if ended else '?'})"
            final = Final(MesosState.TASK_KILLED, why)
        await self._finish(final)

    def _runner_gone(self, status: int, current: TaskState | None) -> Failure:
        assert self.run_ is not None
        if current is None:  # it never started the task: a bad task or host
            said = self.run_.runner_output_tail()
            message = f"the runner could not start the task (status {status})"
            return Failure(Why.RUNNER_REFUSED, f"{message}: {said}" if said else message)
        return Failure(
            Why.RUNNER_GONE,
            f"the runner exited with status {status} while the task was {current.value}",
        )

    async def _running(self, message: str, healthy: bool | None = None) -> None:
        self._enter(Phase.RUNNING)
        await self.executor.send(self.task_id, MesosState.TASK_RUNNING, message, healthy=healthy)
        try:
            await self._announce()
        except Exception as e:  # kazoo raises many kinds; any of them means "not announced"
            why = f"could not join the serverset: {type(e).__name__}: {e}"
            self.failure = Failure(Why.NOT_ANNOUNCED, why)
            self.kill(self.default_grace, why)

    async def _announce(self) -> None:
        """Join the serverset once RUNNING (healthy): clients see only instances that are."""
        options, env = self.options, self.envelope
        assert env is not None
        if env.announce is None or not options.announcer_ensemble:
            return
        from .announcer import Announcer, read_auth
        from .serverset import member_data

        if env.announce.zk_path and not options.announcer_allow_custom_path:
            raise InputError("announce", "zk_path", "custom serverset paths are not allowed here")
        path = env.announce.zk_path or "/".join(
            [options.announcer_serverset_path.rstrip("/"), env.job.path()]
        )
        auth, acl = read_auth(options.announcer_auth) if options.announcer_auth else ([], None)
        data = member_data(self.executor.hostname, env.port_numbers(), env.announce, env.instance)
        announcer = Announcer(
            options.announcer_ensemble,
            path,
            data,
            auth=auth,
            acl=acl,
            session_timeout=options.announcer_session_timeout,
        )
        hc = env.health_check
        timeout = (
            15.0
            if hc is None
            else hc.initial_interval_secs + hc.max_consecutive_failures * hc.interval_secs
        )
        self.announcer = announcer
        await asyncio.to_thread(announcer.join, max(timeout, 1.0))

    async def _leave(self) -> None:
        announcer, self.announcer = self.announcer, None
        if announcer is not None:
            await asyncio.to_thread(announcer.leave)

    async def _health(self) -> None:
        env, run = self.envelope, self.run_
        assert env is not None and run is not None
        config = env.health_check
        if config is None or not self._needs_health_wait():
            return  # no check, or an HTTP check without a `health` port (skipped, as Aurora)
        checker = config.checker
        planner = HealthPlanner(config)
        while self._task_state() is None:
            await asyncio.sleep(self.options.poll)
        while self.kill_request is None:
            if snoozed(run.sandbox):
                verdict = planner.record(True)
            else:
                if isinstance(checker, HttpChecker):
                    port = env.port_numbers()["health"]
                    outcome = await probe_http(checker, port, config.timeout_secs)
                else:
                    assert self.user is not None
                    outcome = await shell_check(
                        checker,
                        run.sandbox,
                        config.timeout_secs,
                        self.task_id,
                        self.user.run_as,
                        run.paths.containment,
                    )
                verdict = planner.record(outcome.ok, outcome.problem)
            if verdict.health is Health.RUNNING and self.phase is Phase.STARTING:
                await self._running("healthy", healthy=True)
            elif verdict.health is Health.FAILED:
                self.failure = Failure(Why.UNHEALTHY, verdict.reason)
                self.kill(self.default_grace, verdict.reason)
                return
            await asyncio.sleep(config.interval_secs)

    def kill(self, grace: float | None, why: str) -> None:
        if self.phase is Phase.DONE:
            return
        if self.kill_request is not None:
            # a repeated kill can only shorten the time left
            old = self.kill_request[0]
            if grace is None or (old is not None and old <= grace):
                return
        self.kill_request = (grace if grace is not None else self.default_grace, why)
        if self.phase is not Phase.KILLING:
            self._enter(Phase.KILLING)
        if self.run_ is None:
            return  # not started: _follow never runs; the launch path reports
        if self._killing is not None and not self._killing.done():
            self._killing.cancel()
            self._killing = asyncio.ensure_future(self._kill())

    async def _kill(self) -> None:
        assert self.kill_request is not None and self.run_ is not None and self.envelope is not None
        grace, why = self.kill_request
        ex = self.executor
        if "TASK_KILLING_STATE" in ex.capabilities and self.failure is None:
            await ex.send(self.task_id, MesosState.TASK_KILLING, why)
        deadline = None if grace is None else self.clock() + grace
        run = self.run_
        await lifecycle.shut_down(
            lifecycle=self.envelope.lifecycle,
            ports=self.envelope.port_numbers(),
            ended=self._ended,
            terminate=run.stop,
            deadline=deadline,
            before=self._leave,  # out of the serverset before the service is asked to stop
            clock=self.clock,
            poll=self.options.poll,
        )

    async def _finish(self, final: Final) -> None:
        await self._leave()
        self._enter(Phase.DONE)
        await self.executor.send(self.task_id, final.state, final.message, final.reason)
        self.executor.give_up_waiting(
            self.options.ack_timeout, "no ACK for the terminal update within --ack-timeout"
        )
        self.done.set()
        if self.run_ is not None:
            self.run_.close()
