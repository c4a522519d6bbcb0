"""Observer: page latency, CPU and memory of ``borealis observer`` on a dense host.

    .venv/bin/python benchmarks/observer.py [--active 100] [--processes 5] [--finished 400]
        [--runs 3] [--clients 20] [--idle-window 30] [--load-window 30]
        [--out benchmarks/results/observer.json]

Issue #5: "A synthetic host with 100 active tasks x 5 processes (real sleeping processes)
and 400 finished tasks: p50/p99 latency of the host page, a task page, the task list API
and a 64 KiB log read under 20 concurrent clients; observer CPU share of one core when
idle and under that load; RSS. Goals: p99 under 100 ms for every page at that density,
idle CPU under 2% of a core, RSS under 150 MB."

**The host** (built once, kept for every repetition), under one temporary checkpoint root:

* ``--finished`` tasks (default 400), ids ``f0000``...: ``borealis run FIN --root ROOT
  --task-id fNNNN -q``, ``--parallel`` (default 8) at a time until every one has ended
  (each must exit 0). ``FIN`` is ``Task(name='f')`` of 2 processes, ``hello`` =
  ``echo hello; seq 1 2000`` and ``bye`` = ``echo bye``: each leaves a checkpoint, a
  resource history, a sandbox with logs and its file in ``tasks/finished/``.
* ``--active`` tasks (default 100), ids ``a0000``...: ``borealis run ACT --root ROOT
  --task-id aNNNN -q``, started detached (own session) ``--batch`` (default 10) at a time,
  each batch waited for until the last run of every process is RUNNING (the runner
  checkpoint replayed incrementally with ``replay.Follower``, as density.py does). ``ACT``
  is ``Task(name='a')`` of ``--processes`` (default 5) processes: ``p0`` =
  ``seq 1 150000; sleep 100000`` (938,895 bytes of stdout, so a 64 KiB read has data),
  ``p1``... = ``sleep 100000``. The program then waits until every ``p0`` stdout has all
  its bytes. Every runner uses the defaults: resources sampled every 20 s (a history
  exists for every task), disk usage on, logs to files.

**Per repetition** (``--runs``, default 3; figures are medians over them):

1. ``borealis observer --root ROOT --ip 127.0.0.1 --port PORT`` (a free port), its own
   session, output to a file; polled until ``GET /health`` answers 200. Every other request
   sends ``Authorization: Bearer`` with the token it made, ``ROOT/secrets/observer.token``.
2. Warm-up and check: each of the four requests below once; any non-200 is printed.
3. ``--settle`` s (default 10) untouched, then **idle**: the observer's CPU (psutil
   ``cpu_times()`` user + system, plus reaped children's, summed over the observer and any
   child process it has) over ``--idle-window`` s (default 30) with no request, as a share
   of one core (CPU s / wall s x 100). Memory then: RSS, PSS (``/proc/PID/smaps_rollup``)
   and peak RSS (``VmHWM``).
4. **Load**: ``--clients`` (default 20) threads, each with its own persistent
   ``http.client`` connection (HTTP/1.1 keep-alive; reconnecting after an error), issue
   requests back to back for ``--load-window`` s (default 30; a closed loop, no think time
   unless ``--think``), each client cycling through the four kinds (client *i* starts at
   kind *i* mod 4):

   - ``host``: ``GET /``
   - ``task``: ``GET /task/<random active task>``
   - ``list``: ``GET /api/v1/tasks?state=all&offset=0&limit=50``
   - ``log``: ``GET /api/v1/tasks/<random active task>/logs/p0/0/stdout?cursor=start&length=65536``

   Latency = from sending the request to having read the whole body
   (``time.perf_counter``), per kind: count, p50, p99 (nearest rank), max, errors (any
   status but 200, or a failed connection / timeout of ``--timeout`` s). Requests still
   in flight when the window closes are completed and counted. Observer CPU over the load
   window as above; memory after it.
5. **One client**: ``--serial`` (default 100) requests of each kind, one at a time on one
   connection (p50, p99): what each kind costs without queueing. Under the closed-loop load
   a request mostly waits behind the others in flight, so the four kinds' loaded latencies
   are close to one another; this column tells them apart.
6. The observer gets SIGTERM (SIGKILL after 10 s); its exit status is kept.

**The load generator shares the host**: this machine has 2 CPUs, and the 20 client threads
run in this Python process (one GIL) beside the observer, the 100 runners' sampling and
everything else. Its own CPU over the load window (``psutil.Process().cpu_times()``) and
the host's busy share are printed next to the observer's, so a latency figure can be read
against how much CPU was left. Latency includes this process's own scheduling delays.

At the end every active runner gets SIGTERM (a clean stop), is waited for, and anything
still alive whose command line names the root or whose working directory is under it is
SIGKILLed and counted (``leftovers``; expected 0); the harness then kills every
descendant left and removes the temporary directory (``--keep`` to keep it).

``--populate-only`` builds the host, prints how long that took and tears it down (no
observer needed). Which Borealis runs: ``--borealis`` (default ``.venv/bin/borealis`` of
this checkout). The soft ``RLIMIT_NOFILE`` is raised to the hard limit (as density.py).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import resource
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import psutil
from harness import fmt, median, table

from borealis.contract import replay
from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState

REPO = Path(__file__).resolve().parents[1]  # the checkout whose .venv is the default

MB = 1024 * 1024
LOG_LINES = 150000
LOG_BYTES = sum(len(str(i)) + 1 for i in range(1, LOG_LINES + 1))  # what seq writes
LOG_PROCESS = "p0"
READ_LENGTH = 65536
SLEEP_CMD = "sleep 100000"
KINDS = ("host", "task", "list", "log")
KIND_LABELS = {
    "host": "host page `GET /`",
    "task": "task page `GET /task/ID`",
    "list": "task list API `GET /api/v1/tasks?state=all&offset=0&limit=50`",
    "log": "64 KiB log read `GET /api/v1/tasks/ID/logs/p0/0/stdout?cursor=start&length=65536`",
}

FINISHED_CONFIG = (
    "# observer benchmark: a finished task of 2 quick processes\n"
    "hello = Process(name='hello', cmdline='echo hello; seq 1 2000')\n"
    "bye = Process(name='bye', cmdline='echo bye')\n"
    "export(Task(name='f', processes=[hello, bye]))\n"
)

AURORA_ANCHOR = (
    "Aurora anchor (the Thermos observer, for comparison; figures from the issue, not "
    "measured here): at ~100 active tasks the observer used a full core and stopped "
    "answering; a task page took 11 s under a 20% CPU cap with 8 tasks x 3 processes; one "
    "refresh pass took 0.92 s with 55 running + 2004 finished tasks."
)


def active_config(processes: int) -> str:
    names = [f"p{i}" for i in range(processes)]
    lines = ["# observer benchmark: an active task of sleeping processes\n"]
    for name in names:
        cmd = f"seq 1 {LOG_LINES}; {SLEEP_CMD}" if name == LOG_PROCESS else SLEEP_CMD
        lines.append(f"{name} = Process(name='{name}', cmdline='{cmd}')\n")
    lines.append(f"export(Task(name='a', processes=[{', '.join(names)}]))\n")
    return "".join(lines)


def default_borealis() -> str:
    script = REPO / ".venv" / "bin" / "borealis"
    if script.exists():
        return str(script)
    return f"{shlex.quote(sys.executable)} -m borealis.cli.main"


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


def tree(pid: int) -> list[psutil.Process]:
    try:
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu(pid: int) -> dict[tuple[int, float], float]:
    """CPU seconds (user + system + reaped children's) of a process and its descendants."""
    found = {}
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            found[(proc.pid, proc.create_time())] = (
                t.user + t.system + t.children_user + t.children_system
            )
    return found


def cpu_delta(
    before: dict[tuple[int, float], float], after: dict[tuple[int, float], float]
) -> float:
    """CPU used between two readings (a process born in between counts from zero)."""
    return sum(v - before.get(k, 0.0) for k, v in after.items())


def tree_memory(pid: int) -> dict[str, float]:
    total = {"rss": 0.0, "pss": 0.0, "uss": 0.0, "hwm": 0.0, "processes": 0.0}
    for proc in tree(pid):
        mem = read_memory(proc.pid)
        if mem is None:
            continue
        for key, value in mem.items():
            total[key] += value
        total["processes"] += 1
    with contextlib.suppress(psutil.Error):
        top = psutil.Process(pid)
        total["threads"] = float(top.num_threads())
        total["fds"] = float(top.num_fds())
    return total


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the host since boot, all CPUs."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle, total


def self_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def inotify_instances() -> int:
    """inotify instances open on the host (fds whose link is ``anon_inode:inotify``)."""
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                        count += 1
    return count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the synthetic host --------------------------------------------------------------------


@dataclass
class Active:
    task_id: str
    proc: subprocess.Popen[bytes]
    follower: replay.Follower
    processes: tuple[str, ...]
    running_at: float | None = None

    def running(self) -> bool:
        if self.running_at is not None:
            return True
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.task_id}: the runner exited with {self.proc.returncode}")
        self.follower.update()
        runs = self.follower.state.processes
        if all(runs.get(p) and runs[p][-1].state is ProcessState.RUNNING for p in self.processes):
            self.running_at = time.monotonic()
            self.follower.close()
        return self.running_at is not None


@dataclass
class Host:
    workdir: Path
    borealis: list[str]
    processes: int
    root: Path = field(init=False)
    logs: Path = field(init=False)
    active: list[Active] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.workdir / "root"
        self.logs = self.workdir / "logs"
        self.logs.mkdir()
        self.finished_config = self.workdir / "finished.aurora"
        self.finished_config.write_text(FINISHED_CONFIG)
        self.active_config = self.workdir / "active.aurora"
        self.active_config.write_text(active_config(self.processes))
        self.names = tuple(f"p{i}" for i in range(self.processes))

    def _run(self, config: Path, task_id: str) -> subprocess.Popen[bytes]:
        command = [
            *self.borealis,
            "run",
            str(config),
            "--root",
            str(self.root),
            "--task-id",
            task_id,
            "-q",
        ]
        with open(self.logs / f"{task_id}.log", "wb") as log:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # a Ctrl-C of the benchmark reaches no runner
            )

    def populate_finished(self, count: int, parallel: int, timeout: float) -> float:
        """Run ``count`` quick tasks to their end, ``parallel`` at a time; return seconds."""
        t0 = time.monotonic()
        pending = [f"f{i:04d}" for i in range(count)]
        pending.reverse()
        running: list[tuple[str, subprocess.Popen[bytes], float]] = []
        failed: list[str] = []
        while pending or running:
            while pending and len(running) < parallel:
                task_id = pending.pop()
                running.append(
                    (task_id, self._run(self.finished_config, task_id), time.monotonic())
                )
            still = []
            for task_id, proc, started in running:
                rc = proc.poll()
                if rc is None:
                    if time.monotonic() - started > timeout:
                        proc.kill()
                        proc.wait()
                        failed.append(f"{task_id} (timed out)")
                    else:
                        still.append((task_id, proc, started))
                    continue
                if rc != 0:
                    failed.append(f"{task_id} (exit {rc})")
                else:
                    self.finished.append(task_id)
            running = still
            time.sleep(0.02)
        if failed:
            raise RuntimeError(f"finished tasks that did not succeed: {', '.join(failed[:10])}")
        done = sorted(p.name for p in (self.root / "tasks" / "finished").iterdir())
        if done != sorted(self.finished):
            raise RuntimeError(f"{len(done)} files in tasks/finished, expected {count}")
        return time.monotonic() - t0

    def populate_active(self, count: int, batch: int, timeout: float) -> float:
        """Start ``count`` tasks, ``batch`` at a time, until every process RUNNING; seconds."""
        t0 = time.monotonic()
        for first in range(0, count, batch):
            group = []
            for i in range(first, min(first + batch, count)):
                task_id = f"a{i:04d}"
                stream = self.root / "checkpoints" / task_id / "runner"
                proc = self._run(self.active_config, task_id)
                group.append(Active(task_id, proc, replay.Follower(stream), self.names))
            self.active.extend(group)
            harness.wait_for(
                lambda g=group: all(t.running() for t in g),  # type: ignore[misc]
                timeout,
                0.1,
                f"tasks {group[0].task_id}..{group[-1].task_id}: all RUNNING",
            )
        harness.wait_for(
            lambda: all(self.log_size(t.task_id) >= LOG_BYTES for t in self.active),
            timeout,
            0.2,
            f"every {LOG_PROCESS} stdout to reach {LOG_BYTES} bytes",
        )
        return time.monotonic() - t0

    def log_size(self, task_id: str) -> int:
        path = self.root / "sandboxes" / task_id / ".logs" / LOG_PROCESS / "0" / "stdout"
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def check(self) -> dict[str, int]:
        """What is on disk: task files by state, and the processes of the active tasks alive."""
        sleeps = 0
        for proc in psutil.process_iter(["cmdline", "status"]):
            with contextlib.suppress(psutil.Error, ValueError):
                if (
                    proc.info["cmdline"] == SLEEP_CMD.split()
                    and proc.info["status"] != psutil.STATUS_ZOMBIE
                    and Path(proc.cwd()).is_relative_to(self.root)
                ):
                    sleeps += 1
        return {
            "tasks_active": len(list((self.root / "tasks" / "active").iterdir())),
            "tasks_finished": len(list((self.root / "tasks" / "finished").iterdir())),
            "sleeps": sleeps,
        }

    def stop(self, timeout: float) -> dict[str, Any]:
        """SIGTERM every active runner, wait, then SIGKILL whatever is left under the root."""
        t0 = time.monotonic()
        for task in self.active:
            with contextlib.suppress(ProcessLookupError):
                task.proc.send_signal(signal.SIGTERM)
        end = t0 + timeout
        codes: Counter[str] = Counter()
        for task in self.active:
            try:
                codes[str(task.proc.wait(timeout=max(0.1, end - time.monotonic())))] += 1
            except subprocess.TimeoutExpired:
                codes["timeout"] += 1
        stopped = time.monotonic() - t0
        left = self.leftovers()
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        for task in self.active:
            with contextlib.suppress(subprocess.TimeoutExpired):
                task.proc.wait(timeout=5)
        harness.reap()
        if self.leftovers():
            raise RuntimeError("processes under the root survived SIGKILL")
        return {"stop_s": stopped, "exit_codes": dict(codes), "leftovers": len(left)}

    def leftovers(self) -> list[psutil.Process]:
        """Live processes whose command line names the root or whose cwd is under it."""
        root = str(self.root)
        found = []
        me = os.getpid()
        for proc in psutil.process_iter(["cmdline", "status"]):
            if proc.pid == me:
                continue
            with contextlib.suppress(psutil.Error, ValueError):
                if proc.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                named = root in " ".join(proc.info["cmdline"] or ())
                if named or Path(proc.cwd()).is_relative_to(self.root):
                    found.append(proc)
        return found


# -- the observer and its clients ----------------------------------------------------------


class Observer:
    def __init__(self, borealis: list[str], root: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.token_file = CheckpointRoot(root).observer_token  # made at its first start
        command = [
            *borealis,
            "observer",
            "--root",
            str(root),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root.parent,
                start_new_session=True,
            )

    @property
    def auth(self) -> dict[str, str]:
        """The header every request but /health needs (read once the observer is up)."""
        return {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={} if path == "/health" else self.auth)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the observer exited with {self.proc.returncode}:\n{tail}")
        try:
            return self.get("/health", timeout=2.0)[0] == 200
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> int | str:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for proc in reversed(tree(self.proc.pid)):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            self.proc.wait()
            return "SIGKILL after timeout"


def request_path(kind: str, rng: random.Random, active: list[str]) -> str:
    if kind == "host":
        return "/"
    if kind == "task":
        return f"/task/{rng.choice(active)}"
    if kind == "list":
        return "/api/v1/tasks?state=all&offset=0&limit=50"
    if kind == "log":
        return (
            f"/api/v1/tasks/{rng.choice(active)}/logs/{LOG_PROCESS}/0/stdout"
            f"?cursor=start&length={READ_LENGTH}"
        )
    raise ValueError(kind)


@dataclass
class Sample:
    kind: str
    seconds: float
    status: int  # 0: no answer (connection error, timeout)
    size: int
    path: str
    error: str = ""


class Client(threading.Thread):
    """One client: a persistent connection, requests back to back until ``deadline``."""

    def __init__(
        self,
        index: int,
        port: int,
        auth: dict[str, str],
        active: list[str],
        start: threading.Event,
        deadline: list[float],
        timeout: float,
        think: float,
    ) -> None:
        super().__init__(name=f"client-{index}", daemon=True)
        self.index = index
        self.port = port
        self.auth = auth
        self.active = active
        self.start_event = start
        self.deadline = deadline
        self.timeout = timeout
        self.think = think
        self.samples: list[Sample] = []
        self.reconnects = 0

    def run(self) -> None:
        rng = random.Random(self.index)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self.start_event.wait()
        i = self.index
        while time.monotonic() < self.deadline[0]:
            kind = KINDS[i % len(KINDS)]
            i += 1
            path = request_path(kind, rng, self.active)
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=self.auth)
                response = conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - t0
                self.samples.append(Sample(kind, elapsed, response.status, len(body), path))
                if response.will_close:
                    conn.close()
                    self.reconnects += 1
            except (OSError, http.client.HTTPException) as exc:
                elapsed = time.perf_counter() - t0
                self.samples.append(
                    Sample(kind, elapsed, 0, 0, path, f"{type(exc).__name__}: {exc}")
                )
                conn.close()
                self.reconnects += 1
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            if self.think:
                time.sleep(self.think)
        conn.close()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def load(observer: Observer, active: list[str], args: argparse.Namespace) -> dict[str, Any]:
    start = threading.Event()
    deadline = [math.inf]
    clients = [
        Client(i, observer.port, observer.auth, active, start, deadline, args.timeout, args.think)
        for i in range(args.clients)
    ]
    for c in clients:
        c.start()
    time.sleep(0.2)  # every thread parked on the event
    cpu0 = tree_cpu(observer.proc.pid)
    me0 = self_cpu()
    busy0, total0 = host_cpu()
    wall0 = time.monotonic()
    deadline[0] = wall0 + args.load_window
    start.set()
    for c in clients:
        c.join(args.load_window + args.timeout + 30)
    wall = time.monotonic() - wall0
    busy1, total1 = host_cpu()
    me1 = self_cpu()
    cpu1 = tree_cpu(observer.proc.pid)
    if any(c.is_alive() for c in clients):
        raise RuntimeError("a client thread did not finish")

    samples = [s for c in clients for s in c.samples]
    result: dict[str, Any] = {
        "wall": wall,
        "cpu": cpu_delta(cpu0, cpu1),
        "loadgen_cpu": me1 - me0,
        "host_pct": (busy1 - busy0) / (total1 - total0) * 100.0,
        "reconnects": sum(c.reconnects for c in clients),
        "requests": len(samples),
    }
    result["cpu_pct"] = result["cpu"] / wall * 100.0
    result["loadgen_pct"] = result["loadgen_cpu"] / wall * 100.0
    result["rps"] = len(samples) / wall
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        mine = [s for s in samples if s.kind == kind]
        ok = [s.seconds * 1000.0 for s in mine if s.status == 200]
        errors = [s for s in mine if s.status != 200]
        statuses = Counter(str(s.status) if s.status else s.error.split(":")[0] for s in errors)
        kinds[kind] = {
            "count": len(mine),
            "errors": len(errors),
            "error_kinds": dict(statuses),
            "error_examples": [f"{s.status} {s.path} {s.error}".strip() for s in errors[:3]],
            "p50_ms": percentile(ok, 50),
            "p99_ms": percentile(ok, 99),
            "max_ms": max(ok) if ok else None,
            "mean_ms": sum(ok) / len(ok) if ok else None,
            "bytes_median": median([float(s.size) for s in mine if s.status == 200]),
            # every latency (errors included) makes a p99 over all runs possible
            "all_ms": [round(s.seconds * 1000.0, 3) for s in mine],
        }
    result["kinds"] = kinds
    return result


def log_bytes(body: bytes) -> int | None:
    """Bytes of log data in a log read's answer (``chunks[].bytes``), if it parses."""
    try:
        return sum(int(c["bytes"]) for c in json.loads(body)["chunks"])
    except (ValueError, KeyError, TypeError):
        return None


def serial(observer: Observer, active: list[str], count: int, timeout: float) -> dict[str, Any]:
    """``count`` requests of each kind, one at a time on one connection: the cost per kind."""
    rng = random.Random(1)
    auth = observer.auth
    conn = http.client.HTTPConnection("127.0.0.1", observer.port, timeout=timeout)
    found: dict[str, Any] = {}
    try:
        for kind in KINDS:
            times: list[float] = []
            errors = 0
            for _ in range(count):
                path = request_path(kind, rng, active)
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path, headers=auth)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    errors += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", observer.port, timeout=timeout)
                    continue
                if response.status == 200:
                    times.append((time.perf_counter() - t0) * 1000.0)
                else:
                    errors += 1
            found[kind] = {
                "count": count,
                "errors": errors,
                "p50_ms": percentile(times, 50),
                "p99_ms": percentile(times, 99),
            }
    finally:
        conn.close()
    return found


def warm_up(observer: Observer, active: list[str]) -> dict[str, Any]:
    """One request of each kind; status, size and time (a cold cache's figure)."""
    rng = random.Random(0)
    found = {}
    for kind in KINDS:
        path = request_path(kind, rng, active)
        t0 = time.perf_counter()
        try:
            status, body = observer.get(path, timeout=30.0)
            found[kind] = {
                "path": path,
                "status": status,
                "bytes": len(body),
                "ms": (time.perf_counter() - t0) * 1000.0,
                "head": body[:200].decode(errors="replace") if status != 200 else "",
            }
            if kind == "log" and status == 200:
                found[kind]["log_bytes"] = log_bytes(body)
        except (OSError, http.client.HTTPException) as exc:
            found[kind] = {"path": path, "status": 0, "error": f"{type(exc).__name__}: {exc}"}
        if found[kind]["status"] != 200:
            print(f"warning: warm-up {kind} {path}: {found[kind]}", file=sys.stderr)
    return found


def one_run(host: Host, run: int, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"host_busy": harness.wait_quiet()}
    print(f"... run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
    active = [t.task_id for t in host.active]
    observer = Observer(host.borealis, host.root, host.logs / f"observer-{run + 1}.log")
    try:
        t0 = time.monotonic()
        harness.wait_for(observer.healthy, args.start_timeout, 0.05, "GET /health == 200")
        result["start_s"] = time.monotonic() - t0
        result["warm_up"] = warm_up(observer, active)
        time.sleep(args.settle)

        pid = observer.proc.pid
        cpu0 = tree_cpu(pid)
        busy0, total0 = host_cpu()
        wall0 = time.monotonic()
        time.sleep(args.idle_window)
        wall = time.monotonic() - wall0
        busy1, total1 = host_cpu()
        cpu1 = tree_cpu(pid)
        idle_cpu = cpu_delta(cpu0, cpu1)
        result["idle"] = {
            "wall": wall,
            "cpu": idle_cpu,
            "cpu_pct": idle_cpu / wall * 100.0,
            "host_pct": (busy1 - busy0) / (total1 - total0) * 100.0,
            "memory": tree_memory(pid),
        }
        result["load"] = load(observer, active, args)
        result["load"]["memory"] = tree_memory(pid)
        result["serial"] = serial(observer, active, args.serial, args.timeout)
        result["inotify_instances"] = inotify_instances()
    finally:
        result["observer_exit"] = observer.stop()
    return result


# -- main ----------------------------------------------------------------------------------


def raise_limits() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return f"RLIMIT_NOFILE {soft} -> {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}"


def check_observer(borealis: list[str]) -> None:
    done = subprocess.run(
        [*borealis, "observer", "--help"], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise SystemExit(
            f"`{' '.join(borealis)} observer --help` failed ({done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-500:]}\n(--populate-only needs no observer)"
        )


def met(value: float | None, goal: float) -> str:
    return "-" if value is None else ("met" if value < goal else "**missed**")


def report(
    args: argparse.Namespace, setup: dict[str, Any], runs: list[dict[str, Any]]
) -> dict[str, Any]:
    rows = []
    for i, r in enumerate(runs):
        idle, ld = r["idle"], r["load"]
        rows.append(
            [
                i + 1,
                fmt(r["start_s"], 2),
                fmt(idle["cpu_pct"], 2),
                fmt(idle["memory"]["rss"], 1),
                fmt(idle["memory"]["pss"], 1),
                fmt(ld["cpu_pct"], 1),
                fmt(ld["loadgen_pct"], 1),
                fmt(ld["host_pct"], 1),
                fmt(ld["rps"], 1),
                ld["requests"],
                sum(k["errors"] for k in ld["kinds"].values()),
                fmt(ld["memory"]["rss"], 1),
                fmt(ld["memory"]["hwm"], 1),
                f"{r['host_busy']:.0f}",
                r["observer_exit"],
            ]
        )
    print("Per run (CPU as % of one core; memory in MB):\n")
    print(
        table(
            [
                "run",
                "start s",
                "idle CPU %",
                "idle RSS",
                "idle PSS",
                "load CPU %",
                "load generator CPU %",
                "host busy % (load)",
                "req/s",
                "requests",
                "errors",
                "RSS after load",
                "peak RSS",
                "host busy % before",
                "observer exit",
            ],
            rows,
        )
    )

    krows = []
    for i, r in enumerate(runs):
        for kind in KINDS:
            k = r["load"]["kinds"][kind]
            krows.append(
                [
                    i + 1,
                    kind,
                    k["count"],
                    k["errors"],
                    fmt(k["p50_ms"], 1),
                    fmt(k["p99_ms"], 1),
                    fmt(k["max_ms"], 1),
                    fmt(k["bytes_median"], 0),
                    f"{fmt(r['serial'][kind]['p50_ms'], 1)} / {fmt(r['serial'][kind]['p99_ms'], 1)}"
                    + (
                        f" ({r['serial'][kind]['errors']} errors)"
                        if r["serial"][kind]["errors"]
                        else ""
                    ),
                    f"{r['warm_up'][kind]['status']} / {fmt(r['warm_up'][kind].get('ms'), 1)}",
                ]
            )
    print(f"\nLatency per request kind under {args.clients} clients, per run (ms):\n")
    print(
        table(
            [
                "run",
                "kind",
                "requests",
                "errors",
                "p50",
                "p99",
                "max",
                "body bytes",
                "one client: p50 / p99",
                "warm-up status / ms",
            ],
            krows,
        )
    )
    print(
        "\nLog data in the warm-up's 64 KiB read (chunks[].bytes): "
        + ", ".join(
            f"run {i + 1}: {r['warm_up']['log'].get('log_bytes')}" for i, r in enumerate(runs)
        )
    )
    for i, r in enumerate(runs):
        for kind in KINDS:
            k = r["load"]["kinds"][kind]
            if k["errors"]:
                print(f"run {i + 1} {kind}: errors {k['error_kinds']}, e.g. {k['error_examples']}")

    medians: dict[str, Any] = {
        "idle_cpu_pct": median([r["idle"]["cpu_pct"] for r in runs]),
        "idle_rss": median([r["idle"]["memory"]["rss"] for r in runs]),
        "idle_pss": median([r["idle"]["memory"]["pss"] for r in runs]),
        "load_cpu_pct": median([r["load"]["cpu_pct"] for r in runs]),
        "loadgen_pct": median([r["load"]["loadgen_pct"] for r in runs]),
        "load_host_pct": median([r["load"]["host_pct"] for r in runs]),
        "rps": median([r["load"]["rps"] for r in runs]),
        "load_rss": median([r["load"]["memory"]["rss"] for r in runs]),
        "load_pss": median([r["load"]["memory"]["pss"] for r in runs]),
        "peak_rss": median([r["load"]["memory"]["hwm"] for r in runs]),
        "kinds": {},
    }
    for kind in KINDS:
        ks = [r["load"]["kinds"][kind] for r in runs]
        pooled = [v for k in ks for v in k["all_ms"]]
        medians["kinds"][kind] = {
            "p50_ms": median([k["p50_ms"] for k in ks]),
            "p99_ms": median([k["p99_ms"] for k in ks]),
            "p99_all_runs_ms": percentile(pooled, 99),
            "serial_p50_ms": median([r["serial"][kind]["p50_ms"] for r in runs]),
            "serial_p99_ms": median([r["serial"][kind]["p99_ms"] for r in runs]),
            "count": median([float(k["count"]) for k in ks]),
            "errors": sum(k["errors"] for k in ks),
        }

    print(f"\nMedians of {len(runs)} run(s):\n")
    mk = medians["kinds"]
    print(
        table(
            [
                "request",
                "p50 ms",
                "p99 ms",
                "p99 pooled ms",
                "requests/run",
                "errors (all runs)",
                "one client: p50 / p99 ms",
            ],
            [
                [
                    KIND_LABELS[kind],
                    fmt(mk[kind]["p50_ms"], 1),
                    fmt(mk[kind]["p99_ms"], 1),
                    fmt(mk[kind]["p99_all_runs_ms"], 1),
                    fmt(mk[kind]["count"], 0),
                    mk[kind]["errors"],
                    f"{fmt(mk[kind]['serial_p50_ms'], 1)} / {fmt(mk[kind]['serial_p99_ms'], 1)}",
                ]
                for kind in KINDS
            ],
        )
    )
    print()
    print(
        table(
            ["figure", "median"],
            [
                ["observer CPU idle, % of one core", fmt(medians["idle_cpu_pct"], 2)],
                ["observer CPU under load, % of one core", fmt(medians["load_cpu_pct"], 1)],
                ["load generator CPU under load, % of one core", fmt(medians["loadgen_pct"], 1)],
                ["host busy under load, % of all CPUs", fmt(medians["load_host_pct"], 1)],
                ["requests per second", fmt(medians["rps"], 1)],
                [
                    "RSS idle / after load / peak, MB",
                    " / ".join(fmt(medians[k], 1) for k in ("idle_rss", "load_rss", "peak_rss")),
                ],
                [
                    "PSS idle / after load, MB",
                    f"{fmt(medians['idle_pss'], 1)} / {fmt(medians['load_pss'], 1)}",
                ],
            ],
        )
    )

    rss_worst = max(
        [
            m
            for m in (medians["idle_rss"], medians["load_rss"], medians["peak_rss"])
            if m is not None
        ],
        default=None,
    )
    goal_rows = [
        [
            f"p99 < {args.goal_p99:g} ms: {KIND_LABELS[kind]}",
            f"{fmt(mk[kind]['p99_ms'], 1)} ms ({mk[kind]['errors']} errors)",
            met(mk[kind]["p99_ms"], args.goal_p99)
            if not mk[kind]["errors"]
            else "**missed** (errors)",
        ]
        for kind in KINDS
    ]
    goal_rows += [
        [
            f"idle CPU < {args.goal_idle:g}% of a core",
            f"{fmt(medians['idle_cpu_pct'], 2)}%",
            met(medians["idle_cpu_pct"], args.goal_idle),
        ],
        [
            f"RSS < {args.goal_rss:g} MB (the largest of idle, after load, peak)",
            f"{fmt(rss_worst, 1)} MB",
            met(rss_worst, args.goal_rss),
        ],
    ]
    print(
        f"\nGoals ({setup['active']} active tasks x {args.processes} processes + "
        f"{setup['finished']} finished, {args.clients} clients):\n"
    )
    print(table(["goal", "result (median)", "met?"], goal_rows))
    print(f"\n{AURORA_ANCHOR}")
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--active", type=int, default=100, help="active tasks (100)")
    parser.add_argument("--processes", type=int, default=5, help="processes per active task (5)")
    parser.add_argument("--finished", type=int, default=400, help="finished tasks (400)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (3)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--idle-window", type=float, default=30.0, help="s (30)")
    parser.add_argument("--load-window", type=float, default=30.0, help="s (30)")
    parser.add_argument("--settle", type=float, default=10.0, help="s after start-up (10)")
    parser.add_argument("--think", type=float, default=0.0, help="s between requests (0)")
    parser.add_argument(
        "--serial", type=int, default=100, help="requests per kind from one client after load"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, s (10)")
    parser.add_argument("--batch", type=int, default=10, help="active runners started at once")
    parser.add_argument("--parallel", type=int, default=8, help="finished tasks run at once (8)")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="s (120)")
    parser.add_argument("--stop-timeout", type=float, default=120.0, help="s (120)")
    parser.add_argument("--goal-p99", type=float, default=100.0, help="ms (100)")
    parser.add_argument("--goal-idle", type=float, default=2.0, help="%% of one core (2)")
    parser.add_argument("--goal-rss", type=float, default=150.0, help="MB (150)")
    parser.add_argument(
        "--borealis",
        default=default_borealis(),
        help="the borealis command (default: this checkout's .venv/bin/borealis)",
    )
    parser.add_argument("--populate-only", action="store_true", help="build the host, tear down")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.processes < 1 or args.active < 1:
        raise SystemExit("--active and --processes must be at least 1")
    limits = raise_limits()
    borealis = shlex.split(args.borealis)
    if not args.populate_only:
        check_observer(borealis)

    runs: list[dict[str, Any]] = []
    setup: dict[str, Any] = {"active": args.active, "finished": args.finished}
    with harness.Workspace("observer", keep=args.keep) as ws:
        host = Host(ws.directory("host"), borealis, args.processes)
        try:
            setup["host_busy"] = harness.wait_quiet()
            print(f"... {args.finished} finished tasks", file=sys.stderr, flush=True)
            setup["finished_s"] = host.populate_finished(
                args.finished, args.parallel, args.start_timeout
            )
            print(f"... {args.active} active tasks", file=sys.stderr, flush=True)
            setup["active_s"] = host.populate_active(args.active, args.batch, args.start_timeout)
            setup.update(host.check())
            setup["inotify_instances"] = inotify_instances()
            expected = args.active * (args.processes - 1)
            if setup["sleeps"] < expected:
                raise RuntimeError(f"{setup['sleeps']} `{SLEEP_CMD}` alive, expected {expected}+")
            if not args.populate_only:
                for run in range(args.runs):
                    runs.append(one_run(host, run, args))
        finally:
            setup.update(host.stop(args.stop_timeout))

    print(
        f"# observer: {args.active} active tasks x {args.processes} processes "
        f"(`{SLEEP_CMD}`, p0 first writes {LOG_BYTES:,} bytes) + {args.finished} finished "
        f"tasks; {args.clients} clients; idle {args.idle_window:g} s, load "
        f"{args.load_window:g} s after {args.settle:g} s settle"
    )
    print(f"# {harness.machine()}")
    print(f"# borealis command: {args.borealis}; {limits}")
    print(f"# runs={args.runs} command: {' '.join(sys.argv)}")
    print(
        f"# host: {args.finished} finished in {setup['finished_s']:.1f} s "
        f"({args.parallel} at a time), {args.active} active in {setup['active_s']:.1f} s; "
        f"on disk {setup['tasks_active']} active + {setup['tasks_finished']} finished, "
        f"{setup['sleeps']} sleeps alive, {setup['inotify_instances']} inotify instances "
        f"on the host (max_user_instances "
        f"{Path('/proc/sys/fs/inotify/max_user_instances').read_text().strip()}); "
        f"stop {setup['stop_s']:.1f} s, exit codes {setup['exit_codes']}, "
        f"leftovers {setup['leftovers']}\n"
    )
    medians: dict[str, Any] = {}
    if runs:
        medians = report(args, setup, runs)
    if args.out:
        harness.save(args.out, args, {"setup": setup, "runs": runs}, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())
