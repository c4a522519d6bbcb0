"""``borealis agent``: the embedded single-host agent.

It launches executors the way a Mesos agent does (environment, run directories, own
session, ``stdout``/``stderr`` in the run directory), watches them, and stops what a dead one
left; ``executor_api.py`` serves them the agent side of the v1 executor API. It is the embedded
cluster of one host and the harness of the executor's protocol tests; it is not a Mesos
agent (no resources, no containers, no master): see docs/mesos.md.

Frameworks (the scheduler's local backend, the tests) use a small JSON API: ``POST
/api/v1/agent/launch|kill|shutdown``, ``GET /api/v1/agent/updates`` (long-poll) and
``GET /api/v1/agent/state``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from borealis.contract import credentials
from borealis.contract.agentapi import Refusal
from borealis.contract.layout import CheckpointRoot, executor_output, open_private
from borealis.contract.mesos import MesosReason, MesosState
from borealis.contract.records import Identity
from borealis.executor.mesos import protocol
from borealis.executor.mesos.taskrun import borealis_command
from borealis.executor.runner.proctree import is_alive, read_stat

from .fetcher import FetchError, fetch_all
from .launchspec import launch_spec
from .refused import Refused
from .store import AgentStore, ExecutorRecord

__all__ = ["Agent", "Refused", "Subscription", "fetch"]

log = logging.getLogger("borealis.agent")


def fetch(uris: Any, run_dir: Path, user: Any = None) -> None:
    """Copy each ``{"value": path or file:// or http(s):// URL, "executable": bool}`` into the
    run directory as ``user`` (``fetcher.py``: never as root on a task's behalf)."""
    try:
        fetch_all(uris, run_dir, user)
    except FetchError as e:
        raise Refused(Refusal.BAD_REQUEST, str(e)) from None


class Subscription:
    """One executor's open event stream."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()


class Agent:
    def __init__(
        self,
        work_dir: Path,
        endpoint: str,
        *,
        reregistration_timeout: float = 2.0,
        registration_timeout: float = 60.0,
        recovery_timeout: str = "15mins",
        backoff_max: str = "2secs",
        attributes: dict[str, str] | None = None,
    ) -> None:
        self.store = AgentStore(work_dir)
        # what it says of itself to frameworks (``containers=docker,mesos``: it takes tasks
        # that ask for those containers, and runs them on the host)
        self.attributes = dict(attributes or {})
        self.endpoint = endpoint
        self.reregistration_timeout = reregistration_timeout
        self.registration_timeout = registration_timeout
        self.recovery_timeout = recovery_timeout
        self.backoff_max = backoff_max
        self.streams: dict[tuple[str, str], Subscription] = {}
        self.children: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self.launched_at: dict[tuple[str, str], float] = {}
        self.new_update = asyncio.Event()
        self.stopping = asyncio.Event()  # set when the agent stops: pending long-polls answer
        self.long_polls = 0  # GET .../updates requests waiting for an update
        self.started = time.monotonic()

    async def end_long_polls(self, within: float = 5.0) -> None:
        """Answer every pending long-poll now (with what there is) and give them ``within``
        seconds to be written, before the loop that runs them ends."""
        self.stopping.set()
        deadline = time.monotonic() + within
        while self.long_polls and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # --- executors ---------------------------------------------------------------------

    def launch(self, body: dict[str, Any]) -> ExecutorRecord:
        spec = launch_spec(body)  # every field checked before anything touches the disk
        task_id, framework_id, executor_id = spec.task_id, spec.framework_id, spec.executor_id
        key = (framework_id, executor_id)
        if any(task_id in r.tasks for r in self.store.executors.values()):
            raise Refused(Refusal.TASK_EXISTS, f"task {task_id} was already launched")
        if key in self.store.executors and not self.store.executors[key].terminated:
            raise Refused(Refusal.EXECUTOR_EXISTS, f"executor {executor_id} already exists")
        run_dir = self.store.run_dir(framework_id, executor_id)
        record = ExecutorRecord(
            framework_id=framework_id,
            executor_id=executor_id,
            run_dir=str(run_dir),
            checkpoint=spec.checkpoint,
            capabilities=spec.capabilities,
            shutdown_grace=spec.shutdown_grace,
            tasks={task_id: spec.task_info},
            states={task_id: MesosState.TASK_STAGING.value},
            undelivered=[task_id],
            secret=credentials.new_secret(),
        )
        env = self.executor_env(record)
        argv = (
            ["/bin/sh", "-c", spec.command] if spec.command else [*borealis_command(), "executor"]
        )
        try:
            fetch(spec.uris, run_dir, body.get("user"))
            with (  # the executor's output is the agent's, as its checkpoints are
                open(open_private(executor_output(run_dir, "stdout")), "ab") as out,
                open(open_private(executor_output(run_dir, "stderr")), "ab") as err,
            ):
                child = subprocess.Popen(
                    argv,
                    cwd=run_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
        except (Refused, OSError) as e:
            self.store.discard_run(run_dir)  # a refused launch leaves no run directory
            if isinstance(e, Refused):
                raise
            raise Refused(Refusal.BAD_REQUEST, f"cannot start the executor: {e}") from None
        stat = read_stat(child.pid)
        record.pid, record.start_ticks = child.pid, stat.start_ticks if stat else None
        self.children[key] = child
        self.launched_at[key] = time.monotonic()
        self.store.executors[key] = record
        self.store.save(record)
        log.info("launched executor %s for task %s (pid %d)", executor_id, task_id, child.pid)
        return record

    def executor_env(self, record: ExecutorRecord) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESOS_")}
        env.update(
            MESOS_FRAMEWORK_ID=record.framework_id,
            MESOS_EXECUTOR_ID=record.executor_id,
            MESOS_AGENT_ENDPOINT=self.endpoint,
            MESOS_DIRECTORY=record.run_dir,
            MESOS_SANDBOX=record.run_dir,
            MESOS_CHECKPOINT="1" if record.checkpoint else "0",
            MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=f"{record.shutdown_grace:g}secs",
            MESOS_SLAVE_ID=self.store.agent_id,
            MESOS_HTTP_COMMAND_EXECUTOR="0",
        )
        env[credentials.EXECUTOR_TOKEN_ENV] = record.secret
        if record.checkpoint:
            env["MESOS_RECOVERY_TIMEOUT"] = self.recovery_timeout
            env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = self.backoff_max
        return env

    def executor_with_secret(self, given: str) -> ExecutorRecord | None:
        """The live executor whose secret ``given`` is (compared in constant time), if any."""
        found = None
        for record in self.store.executors.values():
            if not record.terminated and credentials.matches(given, record.secret):
                found = record
        return found

    def alive(self, record: ExecutorRecord) -> bool:
        child = self.children.get(record.key)
        if child is not None:
            return child.poll() is None
        if record.pid is None or record.start_ticks is None:
            return False
        return is_alive(Identity(record.pid, record.start_ticks))

    def send(self, record: ExecutorRecord, event: dict[str, Any]) -> bool:
        stream = self.streams.get(record.key)
        if stream is None:
            return False
        stream.queue.put_nowait(event)
        return True

    def kill_task(self, task_id: str, grace: float | None) -> None:
        record = self.holding(task_id)
        kill: dict[str, Any] = {"task_id": protocol.ident(task_id)}
        if grace is not None:
            kill["kill_policy"] = {"grace_period": {"nanoseconds": int(grace * 1e9)}}
        if not self.send(record, {"type": "KILL", "kill": kill}):
            raise Refused(Refusal.NOT_SUBSCRIBED, "the executor is not subscribed")

    def shutdown(self, record: ExecutorRecord) -> None:
        self.send(record, {"type": "SHUTDOWN"})
        loop = asyncio.get_event_loop()
        loop.call_later(
            record.shutdown_grace, self.destroy, record, "shutdown grace period expired"
        )

    def holding(self, task_id: str) -> ExecutorRecord:
        for record in self.store.executors.values():
            if task_id in record.tasks and not record.terminated:
                return record
        raise Refused(Refusal.NOT_FOUND, f"no live executor holds task {task_id}")

    def destroy(self, record: ExecutorRecord, why: str) -> None:
        """Kill what is left of an executor and report its unfinished tasks."""
        if record.terminated:
            return
        if self.alive(record) and record.pid is not None:
            try:
                os.killpg(record.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.terminated(record, why)

    def terminated(self, record: ExecutorRecord, why: str) -> None:
        """Fail what the executor left running. An update that cannot be stored (a full disk)
        raises ``OSError`` before the executor is marked terminated: the watch loop tries again."""
        for task_id in record.live_tasks():
            self.clean_up(record, task_id)
            status = {
                "task_id": protocol.ident(task_id),
                "state": MesosState.TASK_FAILED.value,
                "source": "SOURCE_AGENT",
                "reason": MesosReason.REASON_EXECUTOR_TERMINATED.value,
                "message": f"Executor terminated: {why}",
                "uuid": protocol.new_uuid(),
                "timestamp": time.time(),
            }
            self.store.record_update(record, status)
        record.terminated = True
        self.store.save(record)
        stream = self.streams.pop(record.key, None)
        if stream is not None:
            stream.queue.put_nowait(None)
        self.new_update.set()
        log.info("executor %s terminated: %s", record.executor_id, why)

    def clean_up(self, record: ExecutorRecord, task_id: str) -> None:
        """Stop what an executor left running (Mesos destroys the container; here the
        task's runner has its own session, so ``borealis kill`` re-attaches and stops it)."""
        try:
            task_file = CheckpointRoot(Path(record.run_dir)).task(task_id).active_task_file
        except ValueError:  # not a task id the runner could have been given
            return
        if not task_file.exists():
            return
        subprocess.Popen(
            [*borealis_command(), "kill", task_id, "--root", record.run_dir, "--timeout", "60s"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def watch(self) -> None:
        """Notice executors that exit, or never (re-)subscribe in time."""
        while True:
            now = time.monotonic()
            for record in list(self.store.executors.values()):
                if record.terminated:
                    continue
                if not self.alive(record):
                    child = self.children.get(record.key)
                    code = child.returncode if child is not None else "unknown"
                    try:
                        self.terminated(record, f"exited with status {code}")
                    except OSError as e:  # cannot store its tasks' end now: next round
                        log.warning("executor %s ended; %s (retrying)", record.executor_id, e)
                        continue
                    self.children.pop(record.key, None)
                    continue
                subscribed = record.key in self.streams
                since = self.launched_at.get(record.key, self.started)
                if not subscribed and record.key not in self.launched_at:
                    if now - self.started > self.reregistration_timeout:
                        self.destroy(record, "did not re-subscribe after the agent restarted")
                elif not subscribed and now - since > self.registration_timeout:
                    self.destroy(record, "did not subscribe within the registration timeout")
            await asyncio.sleep(0.25)

    def recover(self) -> None:
        """After a restart: executors that cannot come back are finished now."""
        for record in self.store.executors.values():
            if record.terminated:
                continue
            if not record.checkpoint:
                self.destroy(record, "the agent restarted and the framework does not checkpoint")
            elif not self.alive(record):
                self.terminated(record, "gone while the agent was down")
