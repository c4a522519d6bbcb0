"""Logs: how fast 1 GiB of numbered lines gets from a process's stdout onto disk.

    benchmarks/.venv/bin/python benchmarks/logs.py [--runs 5] [--circus-runs 2]

A generator (``benchmarks/lines.py``: the bytes of ``tests/tools/numbered_lines.py``,
10,737,418 lines of 100 bytes = 1 GiB, written as fast as the kernel takes them) floods its
stdout, captured by each system in turn (the order rotates between repetitions):

* file                 the limit without a pipe: ``lines.py > file`` (Popen, stdout = the file)
* borealis-standard    ``borealis run`` with ``Logger(mode='standard')``: the process
                       appends to its own file
* borealis-rotate      ``borealis run`` with ``Logger(mode='rotate',
                       rotate=RotatePolicy(log_size=64*MB, backups=100))``: a pipe to the
                       task's shim, which splices / writes into rotating files
* supervisord          ``supervisord -n``, ``stdout_logfile_maxbytes = 64MB``,
                       ``stdout_logfile_backups = 100``, ``startsecs = 0``, no restart
* circus               ``circusd``, ``stdout_stream.class = FileStream``,
                       ``max_bytes`` 64 MiB, ``backup_count = 100``, ``respawn = false``
* cat                  the limit for any pipe-captured stream: ``lines.py | cat > file``

**Wall time** is from the spawn of the first process (the generator, ``borealis run``,
``supervisord``, ``circusd``) until the generator has exited and all its output is on disk:
for file and cat when they are reaped; for Borealis when ``borealis run`` exits (it exits
when the task ends, and a run's output is on disk before its end is recorded); for the
peers, polled every ``--poll`` s, when the generator has written its ``--times`` file at
exit and the log files hold every byte. MB/s = bytes / wall (MB = 2^20 bytes). For
Borealis also the generator's own run time from the checkpoint (RUNNING ``start_time`` to
SUCCESS ``stop_time``, read with ``borealis.contract.replay.load``).

**CPU of the component that moves the bytes**, per GiB: for Borealis the task's shim, which
holds the run's coordinator (its pid from the checkpoint's FORKED record;
``/proc/PID/task/*/schedstat``, first field, ns, read every ``--poll`` s by a thread until it
is gone, so the last reading is at most one interval before its exit), and separately the
whole Borealis tree (runner + shim: the ``wait4`` rusage of ``borealis run`` plus any orphan
reaped by this subreaper, minus the generator's own CPU from its ``--times`` file); for
supervisord and circus the daemon (schedstat when the output is complete; start-up
included); for cat, cat (``wait4``).

**Checks.** Every output is read back, the rotated files oldest first (all three rotating
systems name them ``stdout.1`` newest .. ``stdout.N`` oldest) and compared with the
expected bytes; on a difference every line is counted: lost, duplicated, garbled, out of
order. Nothing asserts on a figure.

**Page cache warm.** This VM's balloon reports free memory back to the host
(``VIRTIO_BALLOON_F_REPORTING``) about 2 s after it is freed, and the next touch of such a
page costs a host fault: writing 1 GiB into the page cache then takes 1.5 s instead of
0.3 s. So just before every run, twice the output size is written to a scratch file and
unlinked (``--no-pretouch`` to see the cold figures), and each run's outputs are deleted
once checked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
import lines
from harness import fmt, median, table

from borealis.contract import replay
from borealis.contract.states import ProcessState

SYSTEMS = ["file", "borealis-standard", "borealis-rotate", "supervisord", "circus", "cat"]
LABELS = {
    "file": "(a) > file",
    "borealis-standard": "(b) borealis standard",
    "borealis-rotate": "(c) borealis rotate 64 MB",
    "supervisord": "(d) supervisord 64 MB",
    "circus": "(e) circus FileStream 64 MB",
    "cat": "(f) | cat > file",
}
GENERATOR = Path(__file__).resolve().with_name("lines.py")
MB = 1 << 20
GIB = 1 << 30
TASK_ID = "logs"
STALL = 3.0  # s without growth after the generator's exit: the rest is lost


def schedstat(pid: int) -> float | None:
    """CPU seconds the process's threads have run (``/proc/PID/task/*/schedstat``, ns)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as fp:
                total += int(fp.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return total / 1e9


def start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            return int(fp.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def pretouch(directory: Path, size: int) -> None:
    """Write and unlink ``size`` bytes, so that the run gets pages the host has backed."""
    path = directory / "pretouch"
    chunk = bytes(16 * MB)
    with open(path, "wb") as fp:
        for _ in range(0, size, len(chunk)):
            fp.write(chunk)
    path.unlink()


def generator(workdir: Path, count: int) -> list[str]:
    return [sys.executable, str(GENERATOR), str(count), "--times", str(workdir / "times.json")]


def rusage_cpu(ru: Any) -> float:
    return float(ru.ru_utime + ru.ru_stime)


def wait(proc: subprocess.Popen[bytes]) -> float:
    """Reap ``proc`` with ``wait4``; return its CPU seconds (its reaped descendants included)."""
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
    return rusage_cpu(ru)


def reap_orphans(patience: float = 2.0) -> float:
    """Reap every descendant re-parented to this subreaper; return their CPU seconds."""
    cpu = 0.0
    end = time.monotonic() + patience
    while time.monotonic() < end:
        try:
            pid, _, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            cpu += rusage_cpu(ru)
        else:
            time.sleep(0.005)
    return cpu


def rotation_chain(base: Path) -> list[Path]:
    """``base.N`` .. ``base.1``, ``base``: oldest first (a missing index is an error)."""
    found = {}
    for path in base.parent.iterdir():
        suffix = path.name[len(base.name) + 1 :]
        if path.name.startswith(base.name + ".") and suffix.isdigit():
            found[int(suffix)] = path
    if sorted(found) != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{base}: rotated files are not numbered 1..N: {sorted(found)}")
    chain = [found[i] for i in range(len(found), 0, -1)]
    return [*chain, base] if base.exists() else chain


def size_of(base: Path) -> int:
    total = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(base.parent) as entries:
        for entry in entries:
            if entry.name == base.name or entry.name.startswith(base.name + "."):
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
    return total


# -- checking the output --------------------------------------------------------------------


class Concatenation:
    """Read files one after the other as one stream."""

    def __init__(self, files: list[Path]) -> None:
        self.files = list(files)
        self.fp: Any = None

    def read(self, size: int) -> bytes:
        parts = []
        while size > 0:
            if self.fp is None:
                if not self.files:
                    break
                self.fp = open(self.files.pop(0), "rb")  # noqa: SIM115 (closed below)
            data = self.fp.read(size)
            if not data:
                self.fp.close()
                self.fp = None
                continue
            parts.append(data)
            size -= len(data)
        return b"".join(parts)

    def close(self) -> None:
        if self.fp is not None:
            self.fp.close()


def check(files: list[Path], count: int) -> dict[str, int]:
    """Do ``files`` hold lines 0 .. count-1 exactly once, in order? Count what differs."""
    stream = Concatenation(files)
    try:
        same = all(stream.read(len(block)) == block for block in lines.blocks(count))
        same = same and not stream.read(1)
    finally:
        stream.close()
    if same:
        return {"lost": 0, "dup": 0, "garbled": 0, "misordered": 0}
    return count_lines(files, count)


def count_lines(files: list[Path], count: int) -> dict[str, int]:
    """The slow path: every line parsed (about 10 s per GiB)."""
    seen = bytearray(count)
    filler = b"x" * (lines.WIDTH - 12)
    valid = garbled = misordered = 0
    previous = -1
    carry = b""
    for path in files:
        with open(path, "rb") as fp:
            while chunk := fp.read(64 * MB):
                parts = (carry + chunk).split(b"\n")
                carry = parts.pop()
                for line in parts:
                    head = line[:10]
                    if len(line) != lines.WIDTH - 1 or line[11:] != filler or not head.isdigit():
                        garbled += 1
                        continue
                    number = int(head)
                    if number >= count:
                        garbled += 1
                        continue
                    valid += 1
                    seen[number] = 1
                    if number != previous + 1:
                        misordered += 1
                    previous = number
    if carry:
        garbled += 1  # a last line without its line end
    lost = seen.count(0)
    return {
        "lost": lost,
        "dup": valid - (count - lost),
        "garbled": garbled,
        "misordered": misordered,
    }


# -- one run of each system -----------------------------------------------------------------


class CoordinatorWatch(threading.Thread):
    """Finds the run's shim in the checkpoint and reads its CPU time until it is gone."""

    def __init__(self, stream: Path, interval: float) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.interval = interval
        self.stop = threading.Event()
        self.cpu: float | None = None
        self.pid: int | None = None

    def run(self) -> None:
        follower = replay.Follower(self.stream)
        identity = None
        try:
            while identity is None and not self.stop.is_set():
                follower.update()
                runs = follower.state.processes.get("gen")
                if runs and runs[-1].coordinator is not None:
                    identity = runs[-1].coordinator
                else:
                    time.sleep(self.interval)
        finally:
            follower.close()
        if identity is None or start_ticks(identity.pid) != identity.start_ticks:
            return  # never seen, or gone already
        self.pid = identity.pid
        # A zombie still shows its final figure; the pid cannot be reused before it is reaped.
        while (cpu := schedstat(identity.pid)) is not None:
            self.cpu = cpu
            time.sleep(self.interval)


def run_file(workdir: Path, count: int, interval: float) -> dict[str, Any]:
    base = workdir / "out" / "stdout"
    base.parent.mkdir()
    with open(base, "wb") as out, open(workdir / "stderr", "wb") as err:
        t0 = time.time()
        gen = subprocess.Popen(
            generator(workdir, count), stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir
        )
    gen_cpu = wait(gen)
    done = time.time()
    return {"wall": done - t0, "done": done, "gen_cpu": gen_cpu, "mover_cpu": None, "base": base}


def run_cat(workdir: Path, count: int, interval: float) -> dict[str, Any]:
    base = workdir / "out" / "stdout"
    base.parent.mkdir()
    with open(base, "wb") as out, open(workdir / "stderr", "wb") as err:
        t0 = time.time()
        gen = subprocess.Popen(
            generator(workdir, count),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=workdir,
        )
        assert gen.stdout is not None
        cat = subprocess.Popen(["cat"], stdin=gen.stdout, stdout=out, stderr=err, cwd=workdir)
        gen.stdout.close()
    gen_cpu = wait(gen)
    cat_cpu = wait(cat)
    done = time.time()
    return {"wall": done - t0, "done": done, "gen_cpu": gen_cpu, "mover_cpu": cat_cpu, "base": base}


def borealis_config(workdir: Path, count: int, logger: str) -> Path:
    path = workdir / "logs.aurora"
    path.write_text(
        f"gen = Process(name='gen', cmdline={shlex.join(generator(workdir, count))!r},\n"
        f"              logger={logger})\n"
        "export(Task(name='logs', processes=[gen],\n"
        "            resources=Resources(cpu=1, ram=256*MB, disk=4096*MB)))\n"
    )
    return path


def run_borealis(workdir: Path, count: int, interval: float, logger: str) -> dict[str, Any]:
    config = borealis_config(workdir, count, logger)
    root = workdir / "root"
    stream = root / "checkpoints" / TASK_ID / "runner"
    watch = CoordinatorWatch(stream, interval)
    watch.start()
    command = [
        harness.tool("borealis"),
        "run",
        str(config),
        "--root",
        str(root),
        "--task-id",
        TASK_ID,
        "-q",
    ]
    with open(workdir / "borealis.log", "wb") as log:
        t0 = time.time()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
    tree_cpu = wait(proc)
    wall = time.time() - t0
    tree_cpu += reap_orphans()
    watch.stop.set()
    watch.join(10)
    state = replay.load(stream)
    run = state.processes["gen"][-1]
    if run.state is not ProcessState.SUCCESS or run.start_time is None or run.stop_time is None:
        raise RuntimeError(f"borealis: the run ended {run.state.name}: {run.reason}")
    watched = run.coordinator is not None and run.coordinator.pid == watch.pid
    times = json.loads((workdir / "times.json").read_text())
    return {
        "wall": wall,
        "done": run.stop_time,
        "ready": state.runners[0].time - t0,
        "running": run.start_time - t0,
        "after": wall - (run.stop_time - t0),
        "checkpoint": run.stop_time - run.start_time,
        "gen_cpu": times["cpu"],
        "mover_cpu": watch.cpu if watched else None,
        "borealis_cpu": tree_cpu - times["cpu"],
        "base": root / "sandboxes" / TASK_ID / ".logs" / "gen" / "0" / "stdout",
    }


def wait_output(
    base: Path, expected: int, times: Path, pid: int, interval: float, timeout: float
) -> dict[str, Any]:
    """Poll until the generator has exited and ``expected`` bytes are in the log files."""
    end = time.monotonic() + timeout
    last_size, last_change = -1, time.time()
    first_cpu = None
    while True:
        now = time.time()
        size = size_of(base)
        if size != last_size:
            last_size, last_change = size, now
        if first_cpu is None and size > 0:
            first_cpu = schedstat(pid)  # the daemon's start-up, roughly
        if times.exists():
            if size >= expected:
                return {"done": now, "mover_cpu": schedstat(pid), "startup_cpu": first_cpu}
            if now - last_change > STALL:  # the rest never came
                return {"done": last_change, "mover_cpu": schedstat(pid), "startup_cpu": first_cpu}
        if time.monotonic() > end:
            raise TimeoutError(f"{base}: {size} of {expected} bytes after {timeout:.0f} s")
        time.sleep(interval)


def run_daemon(
    workdir: Path, count: int, interval: float, command: list[str], base: Path
) -> dict[str, Any]:
    times = workdir / "times.json"
    with open(workdir / "daemon.log", "wb") as log:
        t0 = time.time()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
    try:
        seen = wait_output(base, count * lines.WIDTH, times, proc.pid, interval, timeout=900)
    finally:
        proc.terminate()  # both flush and close their logs on SIGTERM
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
    return {
        "wall": seen["done"] - t0,
        "done": seen["done"],
        "gen_cpu": json.loads(times.read_text())["cpu"],
        "mover_cpu": seen["mover_cpu"],
        "startup_cpu": seen["startup_cpu"],
        "base": base,
    }


def run_supervisord(workdir: Path, count: int, interval: float, log_size: int) -> dict[str, Any]:
    base = workdir / "out" / "stdout"
    base.parent.mkdir()
    conf = workdir / "supervisord.conf"
    conf.write_text(
        f"[unix_http_server]\nfile = {workdir}/supervisor.sock\n\n"
        f"[supervisord]\nnodaemon = true\nlogfile = {workdir}/supervisord.log\n"
        f"pidfile = {workdir}/supervisord.pid\nchildlogdir = {workdir}\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[program:gen]\ncommand = {shlex.join(generator(workdir, count))}\n"
        f"directory = {workdir}\nstartsecs = 0\nautorestart = false\n"
        f"stdout_logfile = {base}\nstdout_logfile_maxbytes = {log_size}\n"
        f"stdout_logfile_backups = 100\nstderr_logfile = {workdir}/stderr\n"
    )
    command = [harness.tool("supervisord"), "-n", "-c", str(conf)]
    return run_daemon(workdir, count, interval, command, base)


def run_circus(workdir: Path, count: int, interval: float, log_size: int) -> dict[str, Any]:
    base = workdir / "out" / "stdout"
    base.parent.mkdir()
    conf = workdir / "circus.ini"
    conf.write_text(
        f"[circus]\nendpoint = ipc://{workdir}/circus-ctl.sock\n"
        f"pubsub_endpoint = ipc://{workdir}/circus-pub.sock\n"
        f"statsd = false\nmulticast_endpoint =\nlogoutput = {workdir}/circusd.log\n\n"
        f"[watcher:gen]\ncmd = {shlex.join(generator(workdir, count))}\n"
        f"working_dir = {workdir}\nnumprocesses = 1\nrespawn = false\n"
        f"stdout_stream.class = FileStream\nstdout_stream.filename = {base}\n"
        f"stdout_stream.max_bytes = {log_size}\nstdout_stream.backup_count = 100\n"
        f"stderr_stream.class = FileStream\nstderr_stream.filename = {workdir}/stderr\n"
    )
    command = [harness.tool("circusd"), str(conf)]
    return run_daemon(workdir, count, interval, command, base)


def one_run(ws: harness.Workspace, system: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = ws.directory(system)
    size = args.lines * lines.WIDTH
    os.sync()  # nothing of an earlier run left to write back
    if args.pretouch:
        pretouch(workdir, 2 * size)
    log_size = args.log_size * MB
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "file": lambda: run_file(workdir, args.lines, args.poll),
        "cat": lambda: run_cat(workdir, args.lines, args.poll),
        "borealis-standard": lambda: run_borealis(
            workdir, args.lines, args.poll, "Logger(mode='standard')"
        ),
        "borealis-rotate": lambda: run_borealis(
            workdir,
            args.lines,
            args.poll,
            f"Logger(mode='rotate', rotate=RotatePolicy(log_size={args.log_size}*MB, "
            f"backups={args.backups}))",
        ),
        "supervisord": lambda: run_supervisord(workdir, args.lines, args.poll, log_size),
        "circus": lambda: run_circus(workdir, args.lines, args.poll, log_size),
    }
    result = runners[system]()
    base: Path = result.pop("base")
    times = json.loads((workdir / "times.json").read_text())
    result["transfer"] = result.pop("done") - times["start"]
    files = rotation_chain(base)
    result["files"] = len(files)
    result["bytes"] = sum(p.stat().st_size for p in files)
    result.update(check(files, args.lines))
    if not args.keep:
        shutil.rmtree(base.parent)
    return result


# -- report ---------------------------------------------------------------------------------


def per_gib(value: float | None, size: int) -> float | None:
    return None if value is None else value * GIB / size


def rate(wall: float | None, size: int) -> float | None:
    return None if not wall else size / MB / wall


def times_of(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def report(
    args: argparse.Namespace, systems: list[str], results: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    size = args.lines * lines.WIDTH
    print(f"# logs: {args.lines:,} lines of 100 bytes ({size / GIB:.3f} GiB) to stdout")
    print(f"# {harness.machine()}")
    print(
        f"# runs={args.runs} (circus {min(args.runs, args.circus_runs)}) poll={args.poll}s "
        f"log_size={args.log_size} MB backups={args.backups} pretouch={args.pretouch} "
        f"command: {' '.join(sys.argv)}\n"
    )
    rows = []
    for system in systems:
        for i, r in enumerate(results[system]):
            rows.append(
                [
                    LABELS[system],
                    i + 1,
                    fmt(r["wall"]),
                    fmt(r["transfer"]),
                    fmt(r.get("checkpoint")),
                    fmt(r["gen_cpu"], 2),
                    fmt(r["mover_cpu"], 3),
                    fmt(r.get("startup_cpu"), 3),
                    fmt(r.get("borealis_cpu"), 3),
                    r["files"],
                    f"{r['lost']}/{r['dup']}/{r['garbled']}/{r['misordered']}",
                    f"{r['host_busy']:.0f}",
                ]
            )
    print(
        "Per run (seconds. wall: system start -> all on disk; transfer: generator's main() ->"
        " all on disk; lines lost/duplicated/garbled/out of order; host busy %):\n"
    )
    print(
        table(
            ["system", "run", "wall", "transfer", "RUNNING->SUCCESS", "generator CPU",
             "mover CPU", "of which start-up", "borealis tree CPU", "files",
             "lost/dup/garbled/order", "host busy"],
            rows,
        )
    )  # fmt: skip

    keys = ("wall", "transfer", "checkpoint", "ready", "running", "after", "mover_cpu",
            "startup_cpu", "borealis_cpu", "gen_cpu")  # fmt: skip
    medians: dict[str, dict[str, Any]] = {}
    for system in systems:
        runs = results[system]
        m: dict[str, Any] = {k: median([r.get(k) for r in runs]) for k in keys}
        m["runs"] = len(runs)
        for k in ("lost", "dup", "garbled", "misordered"):
            m[k] = sum(r[k] for r in runs)
        m["files"] = median([r["files"] for r in runs])
        medians[system] = m
    a = medians.get("file", {})
    f = medians.get("cat", {})
    rows = []
    for system, m in medians.items():
        bad = m["lost"] + m["dup"] + m["garbled"] + m["misordered"]
        mover = m["mover_cpu"]
        startup = m["startup_cpu"]
        rows.append(
            [
                LABELS[system],
                m["runs"],
                fmt(m["wall"]),
                fmt(rate(m["wall"], size), 0),
                times_of(a.get("wall"), m["wall"]),
                times_of(f.get("wall"), m["wall"]),
                fmt(m["transfer"]),
                fmt(rate(m["transfer"], size), 0),
                times_of(a.get("transfer"), m["transfer"]),
                times_of(f.get("transfer"), m["transfer"]),
                fmt(per_gib(mover, size), 2),
                fmt(
                    per_gib(None if mover is None or startup is None else mover - startup, size), 2
                ),
                fmt(m["files"], 0),
                "none" if not bad else f"{m['lost']}/{m['dup']}/{m['garbled']}/{m['misordered']}",
            ]
        )
    print(
        "\nMedians (x (a), x (f): MB/s over the MB/s of (a), of (f); MB = 2^20 bytes; "
        "lines: sums over all runs):\n"
    )
    print(
        table(
            ["system", "runs", "wall s", "MB/s", "x (a)", "x (f)", "transfer s", "MB/s",
             "x (a)", "x (f)", "mover CPU s/GiB", "after start-up", "files",
             "lines lost/dup/garbled/order"],
            rows,
        )
    )  # fmt: skip

    rows = []
    for system in ("borealis-standard", "borealis-rotate"):
        if system not in medians:
            continue
        m = medians[system]
        rows.append(
            [
                LABELS[system],
                fmt(m["wall"]),
                fmt(m["ready"]),
                fmt(m["running"]),
                fmt(m["checkpoint"]),
                fmt(m["after"]),
                fmt(rate(m["checkpoint"], size), 0),
                times_of(a.get("wall"), m["checkpoint"]),
                times_of(f.get("wall"), m["checkpoint"]),
                fmt(per_gib(m["mover_cpu"], size), 3),
                fmt(m["borealis_cpu"], 3),
            ]
        )
    if rows:
        print(
            "\nBorealis in detail (medians, seconds from the spawn of `borealis run`; "
            "RUNNING -> SUCCESS compared with the wall of (a) and (f), which also count the "
            "generator's interpreter start):\n"
        )
        print(
            table(
                ["system", "run -> exit", "-> runner record", "-> RUNNING",
                 "RUNNING -> SUCCESS", "SUCCESS -> exit", "MB/s on RUNNING -> SUCCESS",
                 "x (a)", "x (f)", "shim CPU s/GiB", "runner+shim CPU s"],
                rows,
            )
        )  # fmt: skip
    return medians


def goals(medians: dict[str, dict[str, Any]]) -> None:
    def get(system: str, key: str) -> float | None:
        value: float | None = medians.get(system, {}).get(key)
        return value

    def speed(x: str, kx: str, y: str, ky: str) -> float | None:
        """How many times faster x is than y (a ratio of rates)."""
        tx, ty = get(x, kx), get(y, ky)
        return None if not tx or ty is None else ty / tx

    def line(goal: str, value: float | None, target: float, higher: bool = True) -> list[str]:
        if value is None:
            return [goal, "n/a", "n/a"]
        met = value >= target if higher else value <= target
        return [goal, f"{value:.2f}", "yes" if met else "no"]

    b, c = "borealis-standard", "borealis-rotate"
    cpu_c, cpu_d = get(c, "mover_cpu"), get("supervisord", "mover_cpu")
    rows = [
        line("(b) >= 0.95 x (a): wall", speed(b, "wall", "file", "wall"), 0.95),
        line("(b) >= 0.95 x (a): transfer", speed(b, "transfer", "file", "transfer"), 0.95),
        line("(b) RUNNING -> SUCCESS >= 0.95 x (a) wall", speed(b, "checkpoint", "file", "wall"),
             0.95),
        line("(c) >= 0.9 x (f): wall", speed(c, "wall", "cat", "wall"), 0.9),
        line("(c) >= 0.9 x (f): transfer", speed(c, "transfer", "cat", "transfer"), 0.9),
        line("(c) RUNNING -> SUCCESS >= 0.9 x (f) wall", speed(c, "checkpoint", "cat", "wall"),
             0.9),
        line("(c) >= 1.4 x (d): wall", speed(c, "wall", "supervisord", "wall"), 1.4),
        line("(c) >= 1.4 x (d): transfer", speed(c, "transfer", "supervisord", "transfer"), 1.4),
        line("(c) shim CPU / supervisord CPU (well under 1: <= 0.5)",
             None if cpu_c is None or not cpu_d else cpu_c / cpu_d, 0.5, higher=False),
    ]  # fmt: skip
    print("\nGoals (ratios of rates, medians):\n")
    print(table(["goal", "value", "met?"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--circus-runs", type=int, default=2,
                        help="repetitions of circus, at ~30 s each (default 2)")  # fmt: skip
    parser.add_argument("--lines", type=int, default=10_737_418, help="lines (default 1 GiB)")
    parser.add_argument("--log-size", type=int, default=64, help="rotation size, MB (64)")
    parser.add_argument("--backups", type=int, default=100, help="rotated files kept (100)")
    parser.add_argument("--poll", type=float, default=0.005, help="poll interval, s (0.005)")
    parser.add_argument("--no-pretouch", dest="pretouch", action="store_false",
                        help="do not warm the page allocator before each run")  # fmt: skip
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the directories and logs")
    args = parser.parse_args()
    systems = harness.systems_arg(args.systems, SYSTEMS)

    with harness.Workspace("logs", keep=args.keep) as ws:
        results = harness.repeat(
            ws, systems, args.runs, lambda s: one_run(ws, s, args), {"circus": args.circus_runs}
        )
    medians = report(args, systems, results)
    goals(medians)
    if args.out:
        harness.save(args.out, args, results, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())
