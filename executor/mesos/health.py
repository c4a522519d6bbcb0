"""Health checks as Aurora runs them (``HealthCheckConfig``): when a task counts as RUNNING,
and when as unhealthy.

``HealthPlanner`` is pure: feed it each check's outcome, it answers STARTING, RUNNING or
FAILED (with a reason). The arithmetic (reference section 4.3):

* ``forgiving = ceil(initial_interval_secs / interval_secs)``: failures among the first
  ``forgiving`` checks are ignored (the service is still coming up);
* RUNNING after ``min_consecutive_successes`` successes in a row;
* before RUNNING, the budget is ``forgiving + max_consecutive_failures +
  min_consecutive_successes`` checks: FAILED as soon as the checks left cannot bring the
  required successes, or when more than ``max_consecutive_failures`` counted failures come
  in a row;
* after RUNNING, FAILED when more than ``max_consecutive_failures`` checks fail in a row.

``probe_http`` and ``probe_shell`` run one check (a shell check as the task's user, with the
uid, gid, groups and environment its processes get, inside the task's cgroups; an HTTP check
without following redirects and with a bounded body); a ``.healthchecksnooze`` file in the sandbox
makes every check pass (``snoozed``).
"""

from __future__ import annotations

import asyncio
import enum
import math
import os
import signal
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from borealis.contract import confined, containment
from borealis.contract.containment import Mode
from borealis.contract.envelope import HealthCheck, HttpChecker, ShellChecker
from borealis.executor.runner import prepare
from borealis.executor.runner.cgroup_join import join
from borealis.executor.runner.environment import task_environment
from borealis.executor.runner.runas import RunAs, Switch

SNOOZE_FILE = ".healthchecksnooze"
HTTP_BODY_MAX = 64 * 1024  # bytes of an HTTP check's body read at most; more fails the check
SHELL_OUTPUT_KEPT = 4 * 1024  # bytes of a shell check's output kept: the end, for its last line
READ_CHUNK = 64 * 1024
EXCERPT = 60  # characters of a task's answer quoted in a failed check's message


class Health(enum.Enum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"


@dataclass
class Verdict:
    health: Health
    reason: str = ""


class HealthPlanner:
    def __init__(self, config: HealthCheck) -> None:
        self.config = config
        self.forgiving = math.ceil(config.initial_interval_secs / config.interval_secs)
        self.budget = (
            self.forgiving + config.max_consecutive_failures + config.min_consecutive_successes
        )
        self.attempts = 0
        self.successes = 0  # in a row
        self.failures = 0  # counted failures in a row
        self.running = False
        self.last_problem = ""

    def record(self, ok: bool, problem: str = "") -> Verdict:
        cfg = self.config
        self.attempts += 1
        if ok:
            self.successes += 1
            self.failures = 0
        else:
            self.successes = 0
            self.last_problem = problem
            if self.running or self.attempts > self.forgiving:
                self.failures += 1
        if self.running:
            if self.failures > cfg.max_consecutive_failures:
                return Verdict(Health.FAILED, self._why())
            return Verdict(Health.RUNNING)
        if self.successes >= cfg.min_consecutive_successes:
            self.running = True
            return Verdict(Health.RUNNING)
        if self.failures > cfg.max_consecutive_failures:
            return Verdict(Health.FAILED, self._why())
        left = self.budget - self.attempts
        if self.successes + left < cfg.min_consecutive_successes:
            return Verdict(
                Health.FAILED,
                f"not healthy after {self.attempts} checks ({self._last()})",
            )
        return Verdict(Health.STARTING)

    def _last(self) -> str:
        return self.last_problem or "no successful check"

    def _why(self) -> str:
        return f"failed health check: {self.failures} in a row ({self._last()})"


@dataclass
class Outcome:
    ok: bool
    problem: str = ""
    snoozed: bool = False


def snoozed(sandbox: Path) -> bool:
    """Whether the sandbox holds a ``.healthchecksnooze`` regular file. Looked at without
    following a link (this runs as root; the task could point the name anywhere)."""
    try:
        found = confined.lstat_under(sandbox, SNOOZE_FILE)
    except OSError:  # no such file, or the sandbox itself is gone
        return False
    return stat.S_ISREG(found.st_mode)


async def probe_http(checker: HttpChecker, port: int, timeout: float) -> Outcome:
    """GET ``http://127.0.0.1:PORT<endpoint>``: with ``expected_response_code`` set, that code
    passes; otherwise a 200 whose body, stripped, equals ``expected_response`` ignoring case.

    The task answers, so its answer is bounded: redirects are not followed (a 3xx fails,
    unless it is the expected code), a body over ``HTTP_BODY_MAX`` fails, and a failure
    quotes at most ``EXCERPT`` characters of the body, escaped.
    """
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError
    from tornado.simple_httpclient import HTTPStreamClosedError

    url = f"http://127.0.0.1:{port}{checker.endpoint}"
    # a client of our own: the shared one keeps tornado's 100 MB body limit
    client = AsyncHTTPClient(force_instance=True, max_body_size=HTTP_BODY_MAX)
    try:
        response = await client.fetch(
            url,
            request_timeout=timeout,
            connect_timeout=timeout,
            follow_redirects=False,
            raise_error=False,
        )
    except HTTPStreamClosedError:  # also how tornado ends a body over max_body_size
        return Outcome(
            False,
            f"GET {checker.endpoint}: no whole answer "
            f"(the connection closed, or the body is over {HTTP_BODY_MAX} bytes)",
        )
    except (TimeoutError, OSError, HTTPClientError) as e:
        return Outcome(False, f"GET {checker.endpoint}: {e}")
    finally:
        client.close()
    if response.code == 599:
        return Outcome(False, f"GET {checker.endpoint}: {response.error}")
    if checker.expected_response_code:
        if response.code == checker.expected_response_code:
            return Outcome(True)
        return Outcome(
            False,
            f"GET {checker.endpoint}: status {response.code}, "
            f"expected {checker.expected_response_code}",
        )
    if 300 <= response.code < 400:
        return Outcome(
            False,
            f"GET {checker.endpoint}: status {response.code}, a redirect "
            "(health checks do not follow redirects)",
        )
    body = (response.body or b"").decode("utf-8", "replace").strip()
    if response.code == 200 and body.lower() == checker.expected_response.strip().lower():
        return Outcome(True)
    return Outcome(False, f"GET {checker.endpoint}: status {response.code}, body {excerpt(body)}")


def excerpt(text: str) -> str:
    """At most ``EXCERPT`` characters of what a task sent, quoted and escaped (no control
    characters reach a status message or a log)."""
    cut = text[:EXCERPT]
    return ascii(cut) + ("..." if len(text) > EXCERPT else "")


def check_environment(task_id: str, sandbox: Path, run_as: RunAs | None) -> dict[str, str]:
    """A shell check's environment: the one the task's processes start with (``HOME`` the
    sandbox, ``USER`` the task's user, the task marker), never the executor's own."""
    user = run_as.name if run_as is not None else prepare.current_user()
    return task_environment(task_id=task_id, sandbox=str(sandbox), user=user)


def task_groups(record: Path) -> tuple[str, ...]:
    """The task's cgroup directories from its containment record (the runner writes it
    before any process starts); ``()`` in process-tree mode. ``ValueError`` when there is
    no record yet or it is damaged: a check must not start outside the task's groups."""
    found = containment.read(record)
    if found is None:
        raise ValueError(f"{record}: the task's containment is not recorded yet")
    if found.mode is not Mode.CGROUP:
        return ()
    return tuple(sorted(set(found.groups.values())))


def _child(groups: tuple[str, ...], run_as: RunAs | None) -> Callable[[], None]:
    """What the check's child does before exec: join the task's groups while it is still
    root, then become the task's user (what ``RunAs.switch`` does, after the join)."""

    def enter_then_switch() -> None:
        join(groups)
        if run_as is not None:
            os.setgroups(list(run_as.groups))
            os.setgid(run_as.gid)
            os.setuid(run_as.uid)

    return enter_then_switch


async def _tail(stream: asyncio.StreamReader, keep: int) -> bytes:
    """Read to the end, keeping only the last ``keep`` bytes."""
    kept = b""
    while chunk := await stream.read(READ_CHUNK):
        kept = (kept + chunk)[-keep:]
    return kept


async def probe_shell(
    checker: ShellChecker,
    sandbox: Path,
    timeout: float,
    task_id: str,
    run_as: RunAs | None,
    groups: tuple[str, ...] = (),
) -> Outcome:
    """``/bin/bash -c COMMAND`` in the sandbox, as the task's user (``run_as``; ``None``: the
    executor's own user) with the task's environment: exit status 0 passes.

    With ``groups`` (the task's cgroups, ``task_groups``) the check is born in them: the
    task's limits hold for it and the task's kill reaches whatever it leaves behind. Its
    output is read in chunks and only the last ``SHELL_OUTPUT_KEPT`` bytes are kept; it is
    killed at ``timeout``.
    """
    # in groups, the child switches users itself, after joining them (as root)
    switch: Switch = run_as.switch() if run_as is not None and not groups else {}
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/bash",
            "-c",
            checker.shell_command,
            cwd=sandbox,
            env=check_environment(task_id, sandbox, run_as),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child(groups, run_as) if groups else None,
            **switch,
        )
    except OSError as e:  # e.g. the sandbox is gone: a failed check, not a dead executor
        return Outcome(False, f"shell check could not start: {e.strerror or e}")
    except subprocess.SubprocessError:  # the join (or the switch) failed in the child
        return Outcome(False, "shell check could not start in the task's cgroup")

    async def run() -> bytes:
        assert proc.stdout is not None
        kept = await _tail(proc.stdout, SHELL_OUTPUT_KEPT)
        await proc.wait()
        return kept

    try:
        output = await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        return Outcome(False, f"shell check timed out after {timeout:g}s")
    if proc.returncode == 0:
        return Outcome(True)
    tail = output.decode("utf-8", "replace").strip().splitlines()[-1:] if output else []
    detail = f": {excerpt(tail[0])}" if tail else ""
    return Outcome(False, f"shell check exited {proc.returncode}{detail}")


async def shell_check(
    checker: ShellChecker,
    sandbox: Path,
    timeout: float,
    task_id: str,
    run_as: RunAs | None,
    record: Path,
) -> Outcome:
    """``probe_shell`` in the groups the task's containment ``record`` names."""
    try:
        groups = task_groups(record)
    except (OSError, ValueError) as e:
        return Outcome(False, f"shell check not started: {e}")
    return await probe_shell(checker, sandbox, timeout, task_id, run_as, groups)
