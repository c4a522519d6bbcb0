"""Executor: LAUNCH to TASK_RUNNING, executor memory, and 50 executors at once (borealis agent).

    .venv/bin/python benchmarks/executor_launch.py [--runs 3] [--samples 10] [--burst 50]
        [--hc-interval 0.25] [--hc-initial 5] [--settle 0.5] [--bytecode cache]
        [--out benchmarks/results/executor_launch.json]

Issue #6: "Time from LAUNCH to TASK_RUNNING for a task without health checks and for one
with an immediately healthy HTTP check (goal under 1 s including runner start), executor
RSS (goal under 40 MB), and launching 50 executors at once through `borealis agent`."

**Per repetition** (``--runs``, default 3; figures are medians over them), a fresh
``borealis agent --work-dir TMP --port 0`` (its own session, output to a file; its URL is
read from the line ``borealis agent: http://127.0.0.1:PORT/`` and ``GET /health`` must
answer 200). One thread long-polls ``GET /api/v1/agent/updates?after=N&wait=2`` and notes,
for every update, the time its answer arrived (*seen*) beside the update's ``timestamp``
(set by the executor with ``time.time()`` when it builds the update: the cleaner figure).
Every launch is ``POST /api/v1/agent/launch`` with ``checkpoint: true`` (the agent fsyncs
each update, the executor runs with ``MESOS_CHECKPOINT=1``); its body is encoded first, and
*t0* is ``time.time()`` just before the request is sent. Every figure below is counted
from that task's *t0*:

* ``POST answered``: the agent has answered (it has spawned the executor);
* ``TASK_STARTING``: the update's timestamp; the executor sends it when the agent's LAUNCH
  event arrives, just after SUBSCRIBED: interpreter start, imports and subscription;
* ``runner started``: the runner's ``RunnerStarted`` record in the task's checkpoint
  (``replay.load``; the runner's ``time.time()``), which is also when the task becomes
  ACTIVE: the executor has decoded the envelope, written the task file and spawned
  ``borealis runner``, and that runner has started (interpreter, imports, task file);
* ``process RUNNING``: the ``start_time`` of the process's run in the checkpoint (the
  coordinator has spawned it);
* ``TASK_RUNNING``: the update's timestamp, and ``TASK_RUNNING seen`` when the long-poll
  returned it (after the POST to the agent, the agent's fsync and the long-poll's wake-up).

Scenarios, one after another on the same agent:

A. **No health check** (``--samples``, default 10): one process ``sleep 100000``. The
   executor sends TASK_RUNNING when its poll of the checkpoint (every 0.2 s) sees the task
   ACTIVE, which can come before the process itself is RUNNING.
B. **Immediately healthy HTTP check** (``--samples``): one process ``exec PYTHON -S
   server.py {{thermos.ports[health]}} LOG``, a ``http.server`` answering ``GET /health``
   with ``ok`` on 127.0.0.1 (``ports: {"health": FREE_PORT}``), ``lifecycle: {"http":
   null}``, ``health_check: {"initial_interval_secs": --hc-initial (5), "interval_secs":
   --hc-interval (0.25), "min_consecutive_successes": 1, "max_consecutive_failures": 0,
   "timeout_secs": 1}``. The executor checks as soon as it sees the task ACTIVE and then
   every ``interval_secs``; ``initial_interval_secs`` only forgives the failures of the
   first ``ceil(initial / interval)`` checks (with 0 the first check, made before the
   server can listen, would fail the task), it delays nothing. The server writes to LOG
   when its interpreter started (first line of the script), when it listens and each
   ``GET``: ``server started``, ``server listening`` and ``first GET /health``.

   In A and B each sample is ``--settle`` s (default 0.5) after TASK_RUNNING was seen
   measured for memory, then killed (``POST /api/v1/agent/kill``; ``kill → TASK_KILLED``
   seen, ``kill → executor gone`` = ``terminated`` in ``GET /api/v1/agent/state``), and
   the next sample starts only when the executor is gone and no process of the task is
   left (the benchmark is a child subreaper: the runner, orphaned when its executor exits,
   is re-parented to it); whatever is still alive after ``--drain`` s (default 10) is
   SIGKILLed and counted as *stragglers*. So one executor runs at a time.

   **Memory**: RSS, PSS and USS (``/proc/PID/smaps_rollup``) and peak RSS (``VmHWM``) of
   the executor (the ``pid`` the agent reports), of its runner (the pid in the runner's
   checkpoint) and, summed, of the runner's helpers (the spawner and the coordinators:
   every descendant of the runner except the task's processes and theirs); the executor's
   CPU (user + system) so far.
C. **``--burst`` at once** (default 50): ``--burst`` threads, each with its own connection,
   wait on a barrier and POST one launch of scenario A's task; ``all RUNNING`` = the last
   TASK_RUNNING (timestamp, and seen) counted from the first POST; per task, TASK_RUNNING
   counted from its own POST (p50, p90, max); the agent's own CPU (``cpu_times()``, its
   children not included) over first POST → all RUNNING seen, as a share of one core; the
   host's busy share over that window; the agent's RSS and peak after ``--settle`` s; the
   executors' memory then (each, and summed: the PSS sum is what they cost together, as
   they share the interpreter's pages). CPU (user + system) at all RUNNING: of each
   executor and each runner so far, and of every live process of ours but the agent,
   against what the host had (CPUs x first POST → all RUNNING). Then every task is
   killed (one POST each, back to back), ``kill all → all executors gone`` is measured,
   and after ``--drain`` s whatever is left of ours (any process but the agent, and any
   ``sleep 100000`` under the temporary directory) is SIGKILLed and counted (expected 0).

**Start-up floors** (per repetition, after the unmeasured launches, ``--floor-reps``
(10) each, median wall time, same interpreter and environment as the executors; a figure
includes the interpreter's exit): ``python -c pass``; ``python -m
borealis.cli.main executor`` without ``MESOS_*`` (every import of the executor, then exit
2 on the missing environment); ``python -m borealis.cli.main runner nosuch --root EMPTY
-q`` (the runner's imports, then exit 2).

**Byte code** (``--bytecode``). ``cache`` (default): the agent, and so every executor,
runner and service, runs with ``PYTHONPYCACHEPREFIX=TMP/pycache`` and without
``PYTHONDONTWRITEBYTECODE``, the prefix filled by ``compileall`` of the ``borealis`` folder
the interpreter imports and by one unmeasured launch of each of A and B on every fresh
agent: every module starts from a ``.pyc``, as in an installed wheel. ``as-is``: the
caller's environment (an editable install without ``__pycache__`` under
``PYTHONDONTWRITEBYTECODE=1`` compiles those modules at every start); the unmeasured
launches still happen.

Before each scenario the program waits for the host to be quiet (``harness.wait_quiet``);
each sample notes the host's busy share from its POST to TASK_RUNNING seen. Which
Borealis runs: ``--borealis`` (default ``.venv/bin/borealis`` of this checkout). The soft
``RLIMIT_NOFILE`` is raised to the hard limit. On exit (Ctrl-C included) the harness
SIGKILLs every descendant and removes the temporary directory (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import math
import os
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import harness
import psutil
from harness import fmt, median, table

from borealis.contract import replay
from borealis.contract.layout import CheckpointRoot

REPO = Path(__file__).resolve().parents[1]  # the checkout whose .venv is the default
MB = 1024 * 1024
SLEEP_CMD = "sleep 100000"
SLEEP_ARGV = SLEEP_CMD.split()
URL_RE = re.compile(r"borealis agent: http://127\.0\.0\.1:(\d+)/")
TERMINAL = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"}
)

SERVER = """\
import time

T0 = time.time()
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, path = int(sys.argv[1]), sys.argv[2]
log = open(path, "a", buffering=1)
log.write(f"{T0:.6f} start\\n")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health"
        body = b"ok" if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log.write(f"{time.time():.6f} GET {self.path}\\n")

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", port), Handler)
log.write(f"{time.time():.6f} listen\\n")
server.serve_forever()
"""

# (key, label) of the timeline, each counted from the task's POST
TIMELINE = (
    ("reply", "POST answered"),
    ("starting", "TASK_STARTING"),
    ("runner", "runner started"),
    ("process", "process RUNNING"),
    ("running", "TASK_RUNNING"),
    ("running_seen", "TASK_RUNNING seen"),
)
SERVER_TIMELINE = (
    ("server_start", "server started"),
    ("server_listen", "server listening"),
    ("first_get", "first GET /health"),
)
SCENARIOS = {"A": "no health check", "B": "immediately healthy HTTP check"}


def default_borealis() -> str:
    script = REPO / ".venv" / "bin" / "borealis"
    if script.exists():
        return str(script)
    return f"{shlex.quote(sys.executable)} -m borealis.cli.main"


def interpreter(borealis: list[str]) -> str:
    """The Python that runs ``borealis`` (the executors run ``sys.executable -m ...``)."""
    first = Path(borealis[0])
    if first.name.startswith("python"):
        return str(first)
    with contextlib.suppress(OSError), open(first, "rb") as fp:
        line = fp.readline().decode(errors="replace")
        if line.startswith("#!"):
            return line[2:].strip().split()[0]
    return sys.executable


# -- /proc readings ------------------------------------------------------------------------


def read_memory(pid: int) -> dict[str, float] | None:
    """RSS, PSS and USS (``smaps_rollup``) and peak RSS (``VmHWM``), in MB."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fp:
            for line in fp:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    found[key] = int(rest.split()[0]) * 1024
        with open(f"/proc/{pid}/status") as fp:
            for line in fp:
                if line.startswith("VmHWM:"):
                    found["hwm"] = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return {
        "rss": found.get("Rss", 0) / MB,
        "pss": found.get("Pss", 0) / MB,
        "uss": (found.get("Private_Clean", 0) + found.get("Private_Dirty", 0)) / MB,
        "hwm": found.get("hwm", 0) / MB,
    }


def cpu_seconds(pid: int) -> float | None:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the host since boot, all CPUs."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle, total


def busy_pct(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    total = after[1] - before[1]
    return None if total <= 0 else (after[0] - before[0]) / total * 100.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def sleeps(under: Path) -> list[psutil.Process]:
    """Live ``sleep 100000`` whose working directory is under ``under`` (ours only)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error, ValueError):
            if (
                proc.info["cmdline"] == SLEEP_ARGV
                and proc.info["status"] != psutil.STATUS_ZOMBIE
                and Path(proc.cwd()).is_relative_to(under)
            ):
                found.append(proc)
    return found


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100.0 * len(ordered))) - 1]


# -- the agent -----------------------------------------------------------------------------


class Agent:
    """``borealis agent`` on a free port, and its framework API."""

    def __init__(self, borealis: list[str], work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.log = work / "agent.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    *borealis,
                    "agent",
                    "--work-dir",
                    str(work / "agent"),
                    "--port",
                    "0",
                    "--token-file",
                    str(work / "agent.token"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=work,
                env=env,
                start_new_session=True,  # a Ctrl-C of the benchmark reaches no agent
            )
        self.port = 0
        t0 = time.monotonic()
        harness.wait_for(self._ready, 60, 0.02, "the agent to answer GET /health")
        self.start_s = time.monotonic() - t0

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the agent exited with {self.proc.returncode}:\n{tail}")
        if not self.port:
            found = URL_RE.findall(self.log.read_text(errors="replace"))
            if not found:
                return False
            self.port = int(found[-1])
        try:
            return self.request("GET", "/health", raw=True, timeout=2)[0] == 200
        except OSError:
            return False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def auth(self) -> dict[str, str]:
        """The framework API's bearer token (the agent made the file at its start)."""
        return {"Authorization": f"Bearer {(self.work / 'agent.token').read_text().strip()}"}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        raw: bool = False,
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if path != "/health":
                headers.update(self.auth)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if raw:
            return response.status, data
        try:
            return response.status, json.loads(data or b"{}")
        except ValueError:
            return response.status, {"raw": data[:200].decode(errors="replace")}

    def launch_body(self, task_id: str, envelope: dict[str, Any]) -> bytes:
        task_info = {
            "name": task_id,
            "task_id": {"value": task_id},
            "agent_id": {"value": "borealis"},
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
        }
        return json.dumps({"task_info": task_info, "checkpoint": True}).encode()

    def launch(self, task_id: str, body: bytes) -> dict[str, Any]:
        """POST one (already encoded) launch; the times around it and the agent's answer."""
        t_post = time.time()
        status, reply = self.request("POST", "/api/v1/agent/launch", body)
        t_reply = time.time()
        if status != 200:
            raise RuntimeError(f"launch {task_id}: {status} {reply}")
        return {
            "task_id": task_id,
            "t_post": t_post,
            "t_reply": t_reply,
            "pid": reply["pid"],
            "run_dir": reply["run_dir"],
        }

    def kill(self, task_id: str) -> None:
        body = json.dumps({"task_id": task_id}).encode()
        status, reply = self.request("POST", "/api/v1/agent/kill", body)
        if status != 200:
            raise RuntimeError(f"kill {task_id}: {status} {reply}")

    def executors(self) -> list[dict[str, Any]]:
        status, reply = self.request("GET", "/api/v1/agent/state")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/agent/state: {status} {reply}")
        return list(reply["executors"])

    def wait_gone(self, task_ids: list[str], timeout: float) -> float:
        """``time.time()`` when every executor holding one of ``task_ids`` has terminated."""
        wanted = set(task_ids)

        def gone() -> bool:
            held = [e for e in self.executors() if wanted & set(e["tasks"])]
            return len(held) >= len(wanted) and all(e["terminated"] for e in held)

        return harness.wait_for(gone, timeout, 0.05, f"{len(wanted)} executor(s) to exit")

    def stop(self) -> int | str:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "SIGKILL after timeout"


class Updates(threading.Thread):
    """Long-polls the agent's updates; for each task and state, when it was seen, and it."""

    def __init__(self, agent: Agent) -> None:
        super().__init__(name="updates", daemon=True)
        self.agent = agent
        self.cond = threading.Condition()
        self.seen: dict[str, dict[str, tuple[float, dict[str, Any]]]] = {}
        self.stopping = False
        self.errors = 0

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        after = 0
        while not self.stopping:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.agent.port, timeout=40)
                conn.request(
                    "GET", f"/api/v1/agent/updates?after={after}&wait=2", headers=self.agent.auth
                )
                response = conn.getresponse()
                body = response.read()
                now = time.time()
                data = json.loads(body)
            except (OSError, http.client.HTTPException, ValueError):
                if conn is not None:
                    conn.close()
                    conn = None
                self.errors += 1
                time.sleep(0.05)
                continue
            with self.cond:
                for update in data["updates"]:
                    states = self.seen.setdefault(update["task_id"], {})
                    states.setdefault(update["state"], (now, update))
                after = data["last"]
                self.cond.notify_all()
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self.stopping = True
        self.join(10)

    def get(self, task_id: str, state: str) -> tuple[float, dict[str, Any]] | None:
        with self.cond:
            return self.seen.get(task_id, {}).get(state)

    def wait(self, task_ids: list[str], state: str, timeout: float) -> None:
        """Until every task has reached ``state``; an other terminal state is an error."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                missing = [t for t in task_ids if state not in self.seen.get(t, {})]
                if not missing:
                    return
                for task_id in missing:
                    for other, (_, update) in self.seen.get(task_id, {}).items():
                        if other in TERMINAL:
                            raise RuntimeError(
                                f"{task_id} reached {other} while waiting for {state}: "
                                f"{update.get('message')!r}"
                            )
                left = end - time.monotonic()
                if left <= 0:
                    example = missing[0]
                    raise TimeoutError(
                        f"{len(missing)} task(s) not {state} after {timeout:g} s, e.g. "
                        f"{example} (has {sorted(self.seen.get(example, {}))})"
                    )
                self.cond.wait(min(left, 1.0))


# -- one task ------------------------------------------------------------------------------


def envelope(processes: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "job": {"role": "bench", "environment": "devel", "name": "executor"},
        "task": {"name": "bench", "processes": processes},
        **fields,
    }


def sleeper_envelope() -> dict[str, Any]:
    return envelope([{"name": "sleeper", "cmdline": SLEEP_CMD}])


def server_envelope(
    python: str, server: Path, log: Path, args: argparse.Namespace
) -> dict[str, Any]:
    cmdline = (
        f"exec {shlex.quote(python)} -S {shlex.quote(str(server))} "
        f"{{{{thermos.ports[health]}}}} {shlex.quote(str(log))}"
    )
    return envelope(
        [{"name": "web", "cmdline": cmdline}],
        ports={"health": free_port()},
        health_check={
            "initial_interval_secs": args.hc_initial,
            "interval_secs": args.hc_interval,
            "min_consecutive_successes": 1,
            "max_consecutive_failures": 0,
            "timeout_secs": 1.0,
        },
        lifecycle={"http": None},
    )


def checkpoint(launched: dict[str, Any]) -> replay.RunnerState | None:
    stream = CheckpointRoot(Path(launched["run_dir"])).task(launched["task_id"]).runner_stream
    try:
        return replay.load(stream)
    except (OSError, ValueError):
        return None


def timeline(launched: dict[str, Any], updates: Updates) -> dict[str, float | None]:
    """Seconds from the task's POST to each step (``TIMELINE``)."""
    t0 = launched["t_post"]
    found: dict[str, float | None] = {"reply": launched["t_reply"] - t0}
    for name, key in (("TASK_STARTING", "starting"), ("TASK_RUNNING", "running")):
        seen = updates.get(launched["task_id"], name)
        found[key] = None if seen is None else float(seen[1]["timestamp"]) - t0
        found[f"{key}_seen"] = None if seen is None else seen[0] - t0
    state = checkpoint(launched)
    found["runner"] = state.runners[0].time - t0 if state and state.runners else None
    starts = [
        runs[0].start_time
        for runs in (state.processes.values() if state else [])
        if runs and runs[0].start_time is not None
    ]
    found["process"] = max(starts) - t0 if starts else None
    return found


def server_times(log: Path, t0: float) -> dict[str, float | None]:
    """From the service's log: its interpreter's start, listen and first GET, from t0."""
    found: dict[str, float | None] = {k: None for k, _ in SERVER_TIMELINE}
    gets = 0
    with contextlib.suppress(OSError):
        for line in log.read_text().splitlines():
            stamp, _, what = line.partition(" ")
            key = {"start": "server_start", "listen": "server_listen"}.get(what)
            if what.startswith("GET"):
                gets += 1
                key = "first_get" if gets == 1 else None
            if key and found[key] is None:
                found[key] = float(stamp) - t0
    found["gets"] = float(gets)
    return found


def task_memory(launched: dict[str, Any]) -> dict[str, Any]:
    """Memory and CPU of one task's executor, runner and runner helpers."""
    out: dict[str, Any] = {
        "executor": read_memory(launched["pid"]),
        "executor_cpu": cpu_seconds(launched["pid"]),
    }
    state = checkpoint(launched)
    if state is None or not state.runners:
        return out
    runner = state.runners[-1].identity.pid
    out["runner"] = read_memory(runner)
    out["runner_cpu"] = cpu_seconds(runner)
    task_pids = {
        run.pid.pid for runs in state.processes.values() for run in runs if run.pid is not None
    }
    try:
        below = psutil.Process(runner).children(recursive=True)
    except psutil.Error:
        below = []
    excluded = set(task_pids)
    for proc in below:
        if proc.pid in task_pids:
            with contextlib.suppress(psutil.Error):
                excluded.update(p.pid for p in proc.children(recursive=True))
    helpers = {"count": 0.0, "rss": 0.0, "pss": 0.0, "uss": 0.0}
    for proc in below:
        if proc.pid in excluded:
            continue
        mem = read_memory(proc.pid)
        if mem is None:
            continue
        helpers["count"] += 1
        for key in ("rss", "pss", "uss"):
            helpers[key] += mem[key]
    out["helpers"] = helpers
    return out


def others(agent: Agent) -> list[psutil.Process]:
    """Our live descendants other than the agent (executors, runners, tasks, orphans)."""
    harness.reap()
    me = psutil.Process()
    return [p for p in me.children(recursive=True) if p.pid != agent.pid and alive(p)]


def drain(agent: Agent, base: Path, grace: float) -> dict[str, Any]:
    """Wait until nothing but the agent is left; SIGKILL and count whatever is after ``grace``."""
    t0 = time.monotonic()
    end = t0 + grace
    while time.monotonic() < end and (others(agent) or sleeps(base)):
        time.sleep(0.05)
    left = others(agent)
    left_sleeps = sleeps(base)
    kinds: Counter[str] = Counter()
    for proc in {p.pid: p for p in [*left, *left_sleeps]}.values():
        with contextlib.suppress(psutil.Error):
            kinds[" ".join(proc.cmdline()[:4])[:80]] += 1
            proc.kill()
    if left or left_sleeps:
        time.sleep(0.1)
        harness.reap()
    return {
        "drain_s": time.monotonic() - t0,
        "stragglers": len(left),
        "sleeps_left": len(left_sleeps),
        "straggler_kinds": dict(kinds),
    }


# -- scenarios -----------------------------------------------------------------------------


def one_task(
    agent: Agent,
    updates: Updates,
    task_id: str,
    env: dict[str, Any],
    args: argparse.Namespace,
    base: Path,
    server_log: Path | None = None,
) -> dict[str, Any]:
    """Launch one task, time it until RUNNING, read its memory, kill it, wait for the end."""
    body = agent.launch_body(task_id, env)
    host0 = host_cpu()
    launched = agent.launch(task_id, body)
    updates.wait([task_id], "TASK_RUNNING", args.timeout)
    host1 = host_cpu()
    time.sleep(args.settle)
    memory = task_memory(launched)
    t_kill = time.time()
    agent.kill(task_id)
    updates.wait([task_id], "TASK_KILLED", args.timeout)
    gone = agent.wait_gone([task_id], args.timeout)
    killed = updates.get(task_id, "TASK_KILLED")
    result: dict[str, Any] = {
        "task_id": task_id,
        "timeline": timeline(launched, updates),
        "host_busy": busy_pct(host0, host1),
        "memory": memory,
        "kill_killed_seen": None if killed is None else killed[0] - t_kill,
        "kill_gone": gone - t_kill,
    }
    running = updates.get(task_id, "TASK_RUNNING")
    result["running_message"] = None if running is None else running[1].get("message")
    if server_log is not None:
        result["server"] = server_times(server_log, launched["t_post"])
    result.update(drain(agent, base, args.drain))
    return result


def scenario(
    kind: str,
    agent: Agent,
    updates: Updates,
    args: argparse.Namespace,
    work: Path,
    base: Path,
    count: int,
    prefix: str,
) -> list[dict[str, Any]]:
    python = interpreter(shlex.split(args.borealis))
    server = work / "server.py"
    if not server.exists():
        server.write_text(SERVER)
    samples = []
    for i in range(count):
        task_id = f"{prefix}{kind.lower()}{i:03d}"
        if kind == "A":
            samples.append(one_task(agent, updates, task_id, sleeper_envelope(), args, base))
        else:
            log = work / f"{task_id}.health.log"
            env = server_envelope(python, server, log, args)
            samples.append(one_task(agent, updates, task_id, env, args, base, log))
    return samples


def burst(agent: Agent, updates: Updates, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    """``--burst`` launches at once; until all RUNNING; memory; kill all; leftovers."""
    ids = [f"c{i:03d}" for i in range(args.burst)]
    bodies = [agent.launch_body(t, sleeper_envelope()) for t in ids]
    barrier = threading.Barrier(len(ids) + 1)
    launched: list[dict[str, Any] | None] = [None] * len(ids)
    failures: list[str] = []

    def post(i: int) -> None:
        barrier.wait()
        try:
            launched[i] = agent.launch(ids[i], bodies[i])
        except (OSError, http.client.HTTPException, RuntimeError) as e:
            failures.append(f"{ids[i]}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(len(ids))]
    for t in threads:
        t.start()
    time.sleep(0.2)  # every thread parked on the barrier
    agent_cpu0 = cpu_seconds(agent.pid) or 0.0
    host0 = host_cpu()
    wall0 = time.time()
    barrier.wait()
    for t in threads:
        t.join(args.timeout)
    if failures or any(x is None for x in launched):
        raise RuntimeError(f"launches failed: {failures[:5]}")
    tasks = [x for x in launched if x is not None]
    t_posted = time.time()
    updates.wait(ids, "TASK_RUNNING", args.timeout)
    t_all = time.time()
    agent_cpu1 = cpu_seconds(agent.pid) or 0.0
    host1 = host_cpu()
    first = min(t["t_post"] for t in tasks)
    executor_cpu = [cpu_seconds(t["pid"]) for t in tasks]
    tree_cpu = sum(c for c in (cpu_seconds(p.pid) for p in others(agent)) if c is not None)
    runner_cpu = []
    for task in tasks:
        state = checkpoint(task)
        if state is not None and state.runners:
            runner_cpu.append(cpu_seconds(state.runners[-1].identity.pid))

    lines = [timeline(t, updates) for t in tasks]
    running = [updates.get(t["task_id"], "TASK_RUNNING") for t in tasks]
    running_ts = [float(r[1]["timestamp"]) for r in running if r is not None]
    running_seen = [r[0] for r in running if r is not None]
    per_task = [x["running"] for x in lines if x["running"] is not None]
    per_starting = [x["starting"] for x in lines if x["starting"] is not None]
    per_runner = [x["runner"] for x in lines if x["runner"] is not None]

    time.sleep(args.settle)
    memories = [task_memory(t) for t in tasks]
    agent_memory = read_memory(agent.pid)
    ex = [m["executor"] for m in memories if m.get("executor")]
    runners = [m["runner"] for m in memories if m.get("runner")]
    helpers = [m["helpers"] for m in memories if m.get("helpers")]

    t_kill = time.time()
    for task_id in ids:
        agent.kill(task_id)
    t_kill_posted = time.time()
    updates.wait(ids, "TASK_KILLED", args.timeout)
    t_killed = time.time()
    gone = agent.wait_gone(ids, args.timeout)
    left = drain(agent, base, args.drain)

    def total(items: list[dict[str, float]], key: str) -> float:
        return sum(m[key] for m in items)

    return {
        "count": len(ids),
        "posts_s": t_posted - wall0,
        "last_reply_s": max(t["t_reply"] for t in tasks) - first,
        "post_spread_s": max(t["t_post"] for t in tasks) - first,
        "all_running_s": max(running_ts) - first,
        "all_running_seen_s": max(running_seen) - first,
        "wait_s": t_all - wall0,
        "per_task_running": {
            "p50": percentile(per_task, 50),
            "p90": percentile(per_task, 90),
            "max": max(per_task) if per_task else None,
            "min": min(per_task) if per_task else None,
        },
        "per_task_starting_p50": percentile(per_starting, 50),
        "per_task_starting_max": max(per_starting) if per_starting else None,
        "per_task_runner_p50": percentile(per_runner, 50),
        "per_task_runner_max": max(per_runner) if per_runner else None,
        "agent_cpu_s": agent_cpu1 - agent_cpu0,
        "agent_cpu_pct": (agent_cpu1 - agent_cpu0) / max(t_all - wall0, 1e-9) * 100.0,
        "host_busy": busy_pct(host0, host1),
        "agent_memory": agent_memory,
        "executor_cpu_sum": sum(c for c in executor_cpu if c is not None),
        "executor_cpu_median": median(executor_cpu),
        "runner_cpu_sum": sum(c for c in runner_cpu if c is not None),
        "runner_cpu_median": median(runner_cpu),
        "tree_cpu_sum": tree_cpu,
        "cpu_available": (t_all - wall0) * (os.cpu_count() or 1),
        "executors_measured": len(ex),
        "executor_rss_median": median([m["rss"] for m in ex]),
        "executor_rss_max": max((m["rss"] for m in ex), default=None),
        "executor_pss_median": median([m["pss"] for m in ex]),
        "executors_rss_sum": total(ex, "rss"),
        "executors_pss_sum": total(ex, "pss"),
        "executors_uss_sum": total(ex, "uss"),
        "runners_pss_sum": total(runners, "pss"),
        "helpers_pss_sum": total(helpers, "pss"),
        "kill_posts_s": t_kill_posted - t_kill,
        "kill_all_killed_s": t_killed - t_kill,
        "kill_all_gone_s": gone - t_kill,
        **left,
        "timelines": lines,
    }


def floors(python: str, env: dict[str, str], work: Path, reps: int) -> dict[str, float | None]:
    """Median wall time of bare start-ups: the interpreter, the executor's and runner's imports."""
    clean = {k: v for k, v in env.items() if not k.startswith("MESOS_")}
    empty = work / "empty-root"
    empty.mkdir(exist_ok=True)
    commands = {
        "python": [python, "-c", "pass"],
        "executor": [python, "-m", "borealis.cli.main", "executor"],
        "runner": [python, "-m", "borealis.cli.main", "runner", "nosuch", "--root", str(empty)],
    }
    found: dict[str, float | None] = {}
    for name, argv in commands.items():
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run(argv, env=clean, cwd=work, capture_output=True, check=False)
            times.append(time.perf_counter() - t0)
        found[name] = median(times)
    return found


def one_run(ws: harness.Workspace, run: int, args: argparse.Namespace) -> dict[str, Any]:
    work = ws.directory(f"run{run + 1}")
    env = dict(os.environ)
    if args.bytecode == "cache":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(ws.base / "pycache")
    borealis = shlex.split(args.borealis)
    python = interpreter(borealis)
    result: dict[str, Any] = {"host_busy": harness.wait_quiet()}
    print(f"... run {run + 1}/{args.runs}: agent", file=sys.stderr, flush=True)
    agent = Agent(borealis, work, env)
    updates = Updates(agent)
    updates.start()
    result["agent_start_s"] = agent.start_s
    try:
        result["warm_up"] = {
            kind: scenario(kind, agent, updates, args, work, ws.base, 1, "w")[0]
            for kind in ("A", "B")
        }
        harness.wait_quiet()
        result["floors"] = floors(python, env, work, args.floor_reps)
        for kind in ("A", "B"):
            busy = harness.wait_quiet()
            print(
                f"... run {run + 1}/{args.runs}: {kind} ({SCENARIOS[kind]}) x {args.samples}",
                file=sys.stderr,
                flush=True,
            )
            result[kind] = {
                "host_busy_before": busy,
                "samples": scenario(kind, agent, updates, args, work, ws.base, args.samples, ""),
            }
        if args.burst:
            busy = harness.wait_quiet()
            print(
                f"... run {run + 1}/{args.runs}: {args.burst} at once", file=sys.stderr, flush=True
            )
            result["C"] = {"host_busy_before": busy, **burst(agent, updates, args, ws.base)}
        result["agent_memory_end"] = read_memory(agent.pid)
        result["update_poll_errors"] = updates.errors
    finally:
        updates.stop()
        result["agent_exit"] = agent.stop()
        ws.reset()
        left = sleeps(ws.base)
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        result["sleeps_after_reset"] = len(left)
    return result


# -- report --------------------------------------------------------------------------------


def met(value: float | None, goal: float) -> str:
    return "-" if value is None else ("met" if value < goal else "**missed**")


def ms(value: float | None) -> str:
    return "-" if value is None else f"{round(value * 1000) + 0:d}"


def sample_values(run: dict[str, Any], kind: str, key: str) -> list[float]:
    out = []
    for s in run[kind]["samples"]:
        value = s["timeline"].get(key) if key in s["timeline"] else s.get("server", {}).get(key)
        if value is not None:
            out.append(value)
    return out


def memory_values(run: dict[str, Any], kind: str, who: str, key: str) -> list[float]:
    out = []
    for s in run[kind]["samples"]:
        mem = s["memory"].get(who)
        if mem and mem.get(key) is not None:
            out.append(mem[key])
    return out


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def report(args: argparse.Namespace, runs: list[dict[str, Any]]) -> dict[str, Any]:
    medians: dict[str, Any] = {}
    keys = [k for k, _ in TIMELINE]
    for kind in ("A", "B"):
        kind_keys = keys + ([k for k, _ in SERVER_TIMELINE] if kind == "B" else [])
        per_run = [
            {k: median(sample_values(r, kind, k)) for k in kind_keys} for r in runs if kind in r
        ]
        pooled = {k: [v for r in runs for v in sample_values(r, kind, k)] for k in kind_keys}
        medians[kind] = {
            "median": {k: median([p[k] for p in per_run]) for k in kind_keys},
            "p90": {k: percentile(pooled[k], 90) for k in kind_keys},
            "max": {k: max(pooled[k], default=None) for k in kind_keys},
            "min": {k: min(pooled[k], default=None) for k in kind_keys},
            "samples": len(pooled["running"]),
        }
        mem: dict[str, Any] = {}
        for who in ("executor", "runner"):
            for key in ("rss", "pss", "uss", "hwm"):
                values = [v for r in runs for v in memory_values(r, kind, who, key)]
                mem[f"{who}_{key}"] = median(
                    [median(memory_values(r, kind, who, key)) for r in runs]
                )
                mem[f"{who}_{key}_max"] = max(values, default=None)
        helpers = [s["memory"].get("helpers") for r in runs for s in r[kind]["samples"]]
        mem["helpers_pss"] = median([h["pss"] for h in helpers if h])
        mem["helpers_count"] = median([h["count"] for h in helpers if h])
        mem["executor_cpu"] = median(
            [s["memory"].get("executor_cpu") for r in runs for s in r[kind]["samples"]]
        )
        mem["runner_cpu"] = median(
            [s["memory"].get("runner_cpu") for r in runs for s in r[kind]["samples"]]
        )
        medians[kind]["memory"] = mem
        medians[kind]["kill_killed_seen"] = median(
            [s["kill_killed_seen"] for r in runs for s in r[kind]["samples"]]
        )
        medians[kind]["kill_gone"] = median(
            [s["kill_gone"] for r in runs for s in r[kind]["samples"]]
        )
        medians[kind]["host_busy"] = median(
            [s["host_busy"] for r in runs for s in r[kind]["samples"]]
        )
        medians[kind]["stragglers"] = sum(
            s["stragglers"] + s["sleeps_left"] for r in runs for s in r[kind]["samples"]
        )
    medians["floors"] = {
        k: median([r["floors"][k] for r in runs]) for k in ("python", "executor", "runner")
    }

    # -- per run
    rows = []
    for i, r in enumerate(runs):
        row: list[object] = [i + 1, f"{r['host_busy']:.0f}", fmt(r["agent_start_s"], 2)]
        for kind in ("A", "B"):
            running = sample_values(r, kind, "running")
            row += [
                ms(median(sample_values(r, kind, "starting"))),
                ms(median(sample_values(r, kind, "runner"))),
                ms(median(running)),
                ms(max(running, default=None)),
                ms(median(sample_values(r, kind, "running_seen"))),
                fmt(median(memory_values(r, kind, "executor", "rss")), 1),
            ]
        row += [ms(r["warm_up"]["A"]["timeline"]["running"]), r["agent_exit"]]
        rows.append(row)
    print("Per run (A: no health check, B: healthy HTTP check; ms from the POST, medians of")
    print(f"{args.samples} samples; RSS in MB; warm-up = first launch on the fresh agent):\n")
    print(
        table(
            [
                "run",
                "host busy %",
                "agent start s",
                "A STARTING",
                "A runner",
                "A RUNNING",
                "A RUNNING max",
                "A RUNNING seen",
                "A executor RSS",
                "B STARTING",
                "B runner",
                "B RUNNING",
                "B RUNNING max",
                "B RUNNING seen",
                "B executor RSS",
                "warm-up A RUNNING",
                "agent exit",
            ],
            rows,
        )
    )

    # -- timeline
    print("\nLAUNCH → each step, ms from the POST (median of per-run medians; min, p90, max over")
    print(
        f"all {medians['A']['samples']} samples of each scenario; host busy from POST to "
        f"RUNNING seen, median: A {fmt(medians['A']['host_busy'], 0)} %, "
        f"B {fmt(medians['B']['host_busy'], 0)} %):\n"
    )
    trows = []
    for key, label in (*TIMELINE, *SERVER_TIMELINE):
        row = [label]
        for kind in ("A", "B"):
            m = medians[kind]
            if key not in m["median"]:
                row += ["", ""]
                continue
            row += [
                ms(m["median"][key]),
                " / ".join(ms(m[q][key]) for q in ("min", "p90", "max")),
            ]
        trows.append(row)
    print(
        table(
            [
                "step",
                "A median",
                "A min / p90 / max",
                "B median",
                "B min / p90 / max",
            ],
            trows,
        )
    )

    a, b = medians["A"]["median"], medians["B"]["median"]
    f = medians["floors"]
    print("\nWhere the time goes (differences of the medians above, ms):\n")
    print(
        table(
            ["segment", "A", "B", "for comparison"],
            [
                [
                    "POST → TASK_STARTING: executor start (interpreter, imports, subscribe)",
                    ms(a["starting"]),
                    ms(b["starting"]),
                    f"bare executor start-up (imports, exit 2): {ms(f['executor'])}; "
                    f"`python -c pass`: {ms(f['python'])}",
                ],
                [
                    "TASK_STARTING → runner started: envelope, task file, runner start",
                    ms(diff(a["runner"], a["starting"])),
                    ms(diff(b["runner"], b["starting"])),
                    f"bare runner start-up (imports, exit 2): {ms(f['runner'])}",
                ],
                [
                    "runner started → process RUNNING",
                    ms(diff(a["process"], a["runner"])),
                    ms(diff(b["process"], b["runner"])),
                    "",
                ],
                [
                    "runner started → TASK_RUNNING (A: the executor's 0.2 s poll)",
                    ms(diff(a["running"], a["runner"])),
                    ms(diff(b["running"], b["runner"])),
                    "",
                ],
                [
                    "B: process RUNNING → server started (exec, interpreter)",
                    "",
                    ms(diff(b["server_start"], b["process"])),
                    "",
                ],
                [
                    "B: server started → listening (imports, bind)",
                    "",
                    ms(diff(b["server_listen"], b["server_start"])),
                    "",
                ],
                [
                    f"B: listening → first GET /health (next check, every {args.hc_interval:g} s)",
                    "",
                    ms(diff(b["first_get"], b["server_listen"])),
                    "",
                ],
                [
                    "B: first GET → TASK_RUNNING",
                    "",
                    ms(diff(b["running"], b["first_get"])),
                    "",
                ],
                [
                    "TASK_RUNNING timestamp → seen by the long-poll",
                    ms(diff(a["running_seen"], a["running"])),
                    ms(diff(b["running_seen"], b["running"])),
                    "",
                ],
            ],
        )
    )

    print(f"\nMemory {args.settle:g} s after TASK_RUNNING (MB; median of per-run medians, max):\n")
    mrows = []
    for kind in ("A", "B"):
        m = medians[kind]["memory"]
        mrows.append(
            [
                f"{kind}: {SCENARIOS[kind]}",
                f"{fmt(m['executor_rss'], 1)} / {fmt(m['executor_rss_max'], 1)}",
                fmt(m["executor_pss"], 1),
                fmt(m["executor_uss"], 1),
                fmt(m["executor_hwm_max"], 1),
                fmt(m["executor_cpu"], 3),
                f"{fmt(m['runner_rss'], 1)} / {fmt(m['runner_pss'], 1)}",
                f"{fmt(m['helpers_pss'], 1)} ({fmt(m['helpers_count'], 0)})",
                ms(medians[kind]["kill_killed_seen"]),
                ms(medians[kind]["kill_gone"]),
                medians[kind]["stragglers"],
            ]
        )
    print(
        table(
            [
                "scenario",
                "executor RSS median / max",
                "executor PSS",
                "executor USS",
                "executor peak RSS (max)",
                "executor CPU s",
                "runner RSS / PSS",
                "helpers PSS (count)",
                "kill → TASK_KILLED seen ms",
                "kill → executor gone ms",
                "stragglers",
            ],
            mrows,
        )
    )

    bursts = [r["C"] for r in runs if "C" in r]
    if bursts:
        crows = []
        for i, c in enumerate(bursts):
            crows.append(
                [
                    i + 1,
                    f"{c['host_busy_before']:.0f}",
                    fmt(c["last_reply_s"], 2),
                    fmt(c["all_running_s"], 2),
                    fmt(c["all_running_seen_s"], 2),
                    " / ".join(
                        fmt(c["per_task_running"][k], 2) for k in ("min", "p50", "p90", "max")
                    ),
                    fmt(c["per_task_starting_p50"], 2),
                    fmt(c["per_task_runner_p50"], 2),
                    f"{fmt(c['agent_cpu_s'], 2)} ({fmt(c['agent_cpu_pct'], 0)} %)",
                    fmt(c["host_busy"], 0),
                    f"{fmt(c['agent_memory']['rss'], 1)} / {fmt(c['agent_memory']['hwm'], 1)}",
                    fmt(c["executor_rss_median"], 1),
                    f"{fmt(c['executors_rss_sum'], 0)} / {fmt(c['executors_pss_sum'], 0)}",
                    fmt(c["executor_cpu_median"], 2),
                    f"{fmt(c['runners_pss_sum'], 0)} + {fmt(c['helpers_pss_sum'], 0)}",
                    fmt(c["kill_all_gone_s"], 2),
                    f"{c['stragglers']} / {c['sleeps_left']}",
                ]
            )
        print(f"\n{args.burst} launches at once (s unless noted; memory in MB), per run:\n")
        print(
            table(
                [
                    "run",
                    "host busy % before",
                    "last POST answered",
                    "all RUNNING (timestamps)",
                    "all RUNNING seen",
                    "per task POST → RUNNING min / p50 / p90 / max",
                    "per task STARTING p50",
                    "per task runner p50",
                    "agent CPU s (% of a core)",
                    "host busy %",
                    "agent RSS / peak",
                    "executor RSS median",
                    "executors RSS / PSS sum",
                    "executor CPU s median",
                    "runners + helpers PSS sum",
                    "kill all → all gone",
                    "stragglers / sleeps left",
                ],
                crows,
            )
        )
        keys_c = (
            "last_reply_s",
            "all_running_s",
            "all_running_seen_s",
            "per_task_starting_p50",
            "per_task_runner_p50",
            "agent_cpu_s",
            "agent_cpu_pct",
            "host_busy",
            "executor_rss_median",
            "executor_rss_max",
            "executor_pss_median",
            "executors_rss_sum",
            "executors_pss_sum",
            "executors_uss_sum",
            "executor_cpu_median",
            "executor_cpu_sum",
            "runner_cpu_median",
            "runner_cpu_sum",
            "tree_cpu_sum",
            "cpu_available",
            "runners_pss_sum",
            "helpers_pss_sum",
            "kill_all_killed_s",
            "kill_all_gone_s",
        )
        medians["C"] = {k: median([c[k] for c in bursts]) for k in keys_c}
        for k in ("p50", "p90", "max"):
            medians["C"][f"per_task_running_{k}"] = median(
                [c["per_task_running"][k] for c in bursts]
            )
        medians["C"]["agent_rss"] = median([c["agent_memory"]["rss"] for c in bursts])
        medians["C"]["agent_hwm"] = median([c["agent_memory"]["hwm"] for c in bursts])
        medians["C"]["leftovers"] = sum(c["stragglers"] + c["sleeps_left"] for c in bursts)
        mc = medians["C"]
        print(f"\nMedians of {len(bursts)} run(s), {args.burst} at once:\n")
        print(
            table(
                ["figure", "median"],
                [
                    [
                        "first POST → all RUNNING (executor timestamps), s",
                        fmt(mc["all_running_s"], 2),
                    ],
                    ["first POST → all RUNNING seen, s", fmt(mc["all_running_seen_s"], 2)],
                    ["first POST → last POST answered, s", fmt(mc["last_reply_s"], 2)],
                    [
                        "per task POST → TASK_RUNNING p50 / p90 / max, s",
                        " / ".join(
                            fmt(mc[f"per_task_running_{k}"], 2) for k in ("p50", "p90", "max")
                        ),
                    ],
                    [
                        "agent CPU over the launch, s (% of one core)",
                        f"{fmt(mc['agent_cpu_s'], 2)} ({fmt(mc['agent_cpu_pct'], 0)} %)",
                    ],
                    ["host busy over the launch, % of all CPUs", fmt(mc["host_busy"], 0)],
                    [
                        "agent RSS / peak after, MB",
                        f"{fmt(mc['agent_rss'], 1)} / {fmt(mc['agent_hwm'], 1)}",
                    ],
                    [
                        "executor RSS median / max, MB",
                        f"{fmt(mc['executor_rss_median'], 1)} / {fmt(mc['executor_rss_max'], 1)}",
                    ],
                    [
                        f"{args.burst} executors: RSS sum / PSS sum / USS sum, MB",
                        " / ".join(
                            fmt(mc[k], 0)
                            for k in ("executors_rss_sum", "executors_pss_sum", "executors_uss_sum")
                        ),
                    ],
                    [
                        f"{args.burst} runners / their helpers: PSS sum, MB",
                        f"{fmt(mc['runners_pss_sum'], 0)} / {fmt(mc['helpers_pss_sum'], 0)}",
                    ],
                    [
                        "executor CPU to start, median each / sum, s",
                        f"{fmt(mc['executor_cpu_median'], 2)} / {fmt(mc['executor_cpu_sum'], 1)}",
                    ],
                    [
                        "runner CPU to start, median each / sum, s",
                        f"{fmt(mc['runner_cpu_median'], 2)} / {fmt(mc['runner_cpu_sum'], 1)}",
                    ],
                    [
                        "CPU of every live process of ours but the agent / CPU-s the host had "
                        "(cores x first POST → all RUNNING seen)",
                        f"{fmt(mc['tree_cpu_sum'], 1)} / {fmt(mc['cpu_available'], 1)}",
                    ],
                    [
                        "kill all → all TASK_KILLED seen / all executors gone, s",
                        f"{fmt(mc['kill_all_killed_s'], 2)} / {fmt(mc['kill_all_gone_s'], 2)}",
                    ],
                    ["leftover processes (all runs)", mc["leftovers"]],
                ],
            )
        )

    rss_values = [medians[k]["memory"]["executor_rss"] for k in ("A", "B")]
    if "C" in medians:
        rss_values.append(medians["C"]["executor_rss_median"])
    rss_worst = max([v for v in rss_values if v is not None], default=None)
    rss_max = max(
        [
            v
            for v in (
                medians["A"]["memory"]["executor_rss_max"],
                medians["B"]["memory"]["executor_rss_max"],
                medians.get("C", {}).get("executor_rss_max"),
            )
            if v is not None
        ],
        default=None,
    )
    goals = [
        [
            "A: LAUNCH → TASK_RUNNING < 1 s, no health check",
            f"{ms(a['running'])} ms (p90 {ms(medians['A']['p90']['running'])}, "
            f"max {ms(medians['A']['max']['running'])}; seen {ms(a['running_seen'])})",
            met(a["running"], 1.0),
        ],
        [
            "B: LAUNCH → TASK_RUNNING < 1 s, immediately healthy HTTP check",
            f"{ms(b['running'])} ms (p90 {ms(medians['B']['p90']['running'])}, "
            f"max {ms(medians['B']['max']['running'])}; seen {ms(b['running_seen'])})",
            met(b["running"], 1.0),
        ],
        [
            "executor RSS < 40 MB",
            f"{fmt(rss_worst, 1)} MB (largest median of A, B, C; max of any {fmt(rss_max, 1)})",
            met(rss_worst, 40.0),
        ],
    ]
    if "C" in medians:
        goals.append(
            [
                f"{args.burst} at once: all RUNNING, nothing left after the kill",
                f"all RUNNING in {fmt(medians['C']['all_running_s'], 2)} s; "
                f"{medians['C']['leftovers']} leftover processes",
                "recorded" if not medians["C"]["leftovers"] else "**leftovers**",
            ]
        )
    print("\nGoals:\n")
    print(table(["goal", "result (median)", "met?"], goals))
    return medians


# -- main ----------------------------------------------------------------------------------


def raise_limits() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return f"RLIMIT_NOFILE {soft} -> {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}"


# The folder the interpreter imports `borealis` from (for a strict editable install the link
# tree under build/__editable__.*), so that the .pyc files land where imports look for them.
COMPILE_BOREALIS = (
    "import compileall, pathlib, borealis.executor\n"
    "compileall.compile_dir(pathlib.Path(borealis.executor.__file__).parent.parent, quiet=1)\n"
)


def compile_executor(python: str, env: dict[str, str]) -> None:
    subprocess.run(
        [python, "-c", COMPILE_BOREALIS],
        env=env,
        capture_output=True,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions, a fresh agent each (3)")
    parser.add_argument("--samples", type=int, default=10, help="launches of A and of B (10)")
    parser.add_argument("--burst", type=int, default=50, help="launches at once, 0: none (50)")
    parser.add_argument("--hc-interval", type=float, default=0.25, help="interval_secs (0.25)")
    parser.add_argument("--hc-initial", type=float, default=5.0, help="initial_interval_secs (5)")
    parser.add_argument(
        "--settle", type=float, default=0.5, help="s after RUNNING before memory (0.5)"
    )
    parser.add_argument("--drain", type=float, default=10.0, help="s for processes to end (10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="s for any wait (120)")
    parser.add_argument("--floor-reps", type=int, default=10, help="start-up floor reps (10)")
    parser.add_argument(
        "--bytecode",
        choices=("cache", "as-is"),
        default="cache",
        help="cache: .pyc files in a prefix under the temporary directory (default); "
        "as-is: the caller's environment",
    )
    parser.add_argument(
        "--borealis",
        default=default_borealis(),
        help="the borealis command (default: this checkout's .venv/bin/borealis)",
    )
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.runs < 1 or args.samples < 1 or args.burst < 0 or args.hc_interval <= 0:
        raise SystemExit("--runs and --samples must be >= 1, --burst >= 0, --hc-interval > 0")
    limits = raise_limits()

    runs: list[dict[str, Any]] = []
    with harness.Workspace("executor", keep=args.keep) as ws:
        if args.bytecode == "cache":
            env = dict(os.environ)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(ws.base / "pycache")
            compile_executor(interpreter(shlex.split(args.borealis)), env)
        for run in range(args.runs):
            runs.append(one_run(ws, run, args))

    print(
        f"# executor: LAUNCH → TASK_RUNNING through borealis agent; A = `{SLEEP_CMD}`, "
        f"B = http.server with an HTTP health check (interval_secs {args.hc_interval:g}, "
        f"initial_interval_secs {args.hc_initial:g}, min_consecutive_successes 1); "
        f"{args.samples} samples each, one executor at a time; C = {args.burst} at once"
    )
    print(f"# {harness.machine()}")
    print(f"# borealis command: {args.borealis}; byte code: {args.bytecode}; {limits}")
    print(f"# runs={args.runs} command: {' '.join(sys.argv)}")
    floors_rows = ", ".join(
        f"{k} {ms(median([r['floors'][k] for r in runs]))} ms"
        for k in ("python", "executor", "runner")
    )
    print(f"# bare start-ups (median): {floors_rows}\n")
    medians = report(args, runs)
    if args.out:
        harness.save(args.out, args, runs, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())
