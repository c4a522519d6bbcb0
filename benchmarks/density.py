"""Density: N tasks of 3 sleeping processes on one host; what resource sampling costs.

    .venv/bin/python benchmarks/density.py [--tasks 200] [--runs 3] [--window 60] [--settle 25]

Issue #4: "200 tasks x 3 processes on one host at the default intervals: total sampling
CPU as a share of one core (goal under 2%), and its memory."

Two configurations of the same N tasks, side by side in one invocation (the order
rotates between repetitions):

* ``sampling``: ``borealis run CONFIG --root ROOT --task-id tNNN -q`` as it is, i.e. the
  default interval (20 s) with the sandbox's disk usage measured;
* ``off``: the same with ``--sample-interval 0`` (no sampling at all).

Each task is ``Task(name='d')`` with 3 processes ``sleep 100000``. The runners are started
in batches (``--batch``, default 10); each batch is waited for until the last run of all 3
processes of each of its tasks is RUNNING (the runner checkpoint, replayed incrementally
with ``replay.Follower``), then the next batch starts. When all N tasks run, the program
waits ``--settle`` seconds (default 25: every runner has sampled at least twice, the first
sample being taken at start), then reads the CPU time of every runner, spawner and
coordinator of the benchmark, sleeps ``--window`` seconds (default 60) without touching
anything, and reads them again.

CPU time of a process = the sum over its threads of ``/proc/PID/task/TID/schedstat``
field 1 (time on CPU, in ns); as a cross-check ``/proc/PID/stat`` utime + stime (clock
ticks, whole thread group, exited threads included) is kept in the JSON. The *runner*
figure is the ``borealis run`` processes alone (all their threads: the loop and, with
sampling, watchdog's inotify threads); spawners and coordinators are listed separately
(sampling should not change them). **Sampling CPU** = runners' CPU with sampling - without,
as a share of one core (CPU seconds / window seconds x 100), and per task per sample
(divided by the samples the runners wrote during the window, counted in each task's
``resources`` history).

Memory, read after the window from ``/proc/PID/smaps_rollup``: RSS, PSS and USS (private
clean + dirty) of the runners, summed and per runner, and the difference between the two
configurations (what sampling's imports, threads and state cost). Threads per runner from
``/proc/PID/stat``.

Then every runner gets SIGTERM (what Ctrl-C does: a clean stop of its processes), is waited
for, and anything still alive whose command line names the checkpoint root or whose working
directory is under it is SIGKILLed and counted (``leftovers``; expected 0). The harness then
kills whatever descendant is left before the next configuration.

Which Borealis runs: ``--borealis`` (default: ``.venv/bin/borealis`` of this checkout, the
working tree). This program imports ``executor`` from the checkout too.

Limits: the soft ``RLIMIT_NOFILE`` of this process (inherited by the runners) is raised to
its hard limit. Not changed: ``fs.inotify.max_user_instances`` (a host-wide sysctl, often
128): each runner with disk usage on takes one inotify instance, and runners that find none
left measure the disk by walking the sandbox instead (``disk_mode`` "scan"); the tables count
the runners in each mode.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import psutil
from harness import fmt, median, table

from borealis.contract import replay
from borealis.contract.resources import read_history
from borealis.contract.states import ProcessState

REPO = Path(__file__).resolve().parents[1]  # the checkout whose .venv is the default

CONFIGS = {
    "sampling": [],  # the defaults: every 20 s, disk usage on
    "nodisk": ["--no-disk-usage"],  # optional (--configs), to split the cost
    "off": ["--sample-interval", "0"],
}
PROCESSES = ("a", "b", "c")
SLEEP_CMD = "sleep 100000"
MB = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")

CONFIG_TEXT = (
    "# density benchmark: one task of 3 sleeping processes\n"
    + "".join(f"{p} = Process(name='{p}', cmdline='{SLEEP_CMD}')\n" for p in PROCESSES)
    + f"export(Task(name='d', processes=[{', '.join(PROCESSES)}]))\n"
)


def default_borealis() -> str:
    script = REPO / ".venv" / "bin" / "borealis"
    if script.exists():
        return str(script)
    return f"{shlex.quote(sys.executable)} -m borealis.cli.main"


# -- /proc readings ------------------------------------------------------------------------


def stat_fields(pid: int) -> list[str]:
    """``/proc/PID/stat`` fields after the command name (field 3, the state, is index 0)."""
    with open(f"/proc/{pid}/stat", "rb") as fp:
        data = fp.read()
    return data[data.rindex(b")") + 2 :].decode().split()


@dataclass
class Cpu:
    ns: int  # schedstat, summed over the live threads
    ticks: int  # stat utime + stime (the whole thread group)
    threads: int
    start: int  # start time in ticks: the pid's identity


def read_cpu(pid: int) -> Cpu | None:
    try:
        fields = stat_fields(pid)
        ns = 0
        tids = os.listdir(f"/proc/{pid}/task")
        for tid in tids:
            with (
                contextlib.suppress(FileNotFoundError, ProcessLookupError),
                open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as fp,
            ):
                ns += int(fp.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    # fields[0] is field 3 of proc(5): utime = 14, stime = 15, threads = 20, start = 22
    return Cpu(ns, int(fields[11]) + int(fields[12]), int(fields[17]), int(fields[19]))


def read_memory(pid: int) -> dict[str, int] | None:
    """RSS, PSS and USS in bytes from ``smaps_rollup``."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fp:
            for line in fp:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    found[key] = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return {
        "rss": found.get("Rss", 0),
        "pss": found.get("Pss", 0),
        "uss": found.get("Private_Clean", 0) + found.get("Private_Dirty", 0),
    }


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the host since boot, all CPUs."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle, total


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


def sysctl(name: str) -> str:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return "?"


# -- tasks ---------------------------------------------------------------------------------


@dataclass
class Task:
    task_id: str
    proc: subprocess.Popen[bytes]
    follower: replay.Follower
    running_at: float | None = None
    spawner: int | None = None
    coordinators: list[int] = field(default_factory=list)

    def running(self) -> bool:
        if self.running_at is not None:
            return True
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.task_id}: the runner exited with {self.proc.returncode}")
        self.follower.update()
        processes = self.follower.state.processes
        if all(
            processes.get(p) and processes[p][-1].state is ProcessState.RUNNING for p in PROCESSES
        ):
            self.running_at = time.monotonic()
            self.follower.close()
        return self.running_at is not None


class Density:
    def __init__(self, workdir: Path, tasks: int, borealis: list[str], extra: list[str]) -> None:
        self.workdir = workdir
        self.root = workdir / "root"
        self.count = tasks
        self.borealis = borealis
        self.extra = extra
        self.config = workdir / "d.aurora"
        self.config.write_text(CONFIG_TEXT)
        self.logs = workdir / "logs"
        self.logs.mkdir()
        self.tasks: list[Task] = []

    def spawn(self, task_id: str) -> Task:
        stream = self.root / "checkpoints" / task_id / "runner"
        command = [
            *self.borealis,
            "run",
            str(self.config),
            "--root",
            str(self.root),
            "--task-id",
            task_id,
            "-q",
            *self.extra,
        ]
        with open(self.logs / f"{task_id}.log", "wb") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # a Ctrl-C of the benchmark reaches no runner
            )
        return Task(task_id, proc, replay.Follower(stream))

    def start(self, batch: int, timeout: float) -> float:
        """Start every task, ``batch`` at a time; return the seconds until all ran."""
        t0 = time.monotonic()
        for first in range(0, self.count, batch):
            group = [self.spawn(f"t{i:03d}") for i in range(first, min(first + batch, self.count))]
            self.tasks.extend(group)
            harness.wait_for(
                lambda g=group: all(t.running() for t in g),  # type: ignore[misc]
                timeout,
                0.1,
                f"tasks {group[0].task_id}..{group[-1].task_id}: all RUNNING",
            )
        return time.monotonic() - t0

    def find_helpers(self) -> None:
        """Each runner's spawner (its child) and the coordinators (the spawner's children)."""
        for task in self.tasks:
            runner = psutil.Process(task.proc.pid)
            spawners = [
                c for c in runner.children() if "borealis.executor.runner.spawner" in _cmd(c)
            ]
            if len(spawners) != 1:
                raise RuntimeError(f"{task.task_id}: {len(spawners)} spawners found")
            task.spawner = spawners[0].pid
            task.coordinators = [
                c.pid
                for c in spawners[0].children()
                if "borealis.executor.runner.spawner" in _cmd(c)
            ]
            if len(task.coordinators) != len(PROCESSES):
                raise RuntimeError(f"{task.task_id}: {len(task.coordinators)} coordinators")

    def groups(self) -> dict[str, list[int]]:
        return {
            "runners": [t.proc.pid for t in self.tasks],
            "spawners": [t.spawner for t in self.tasks if t.spawner is not None],
            "coordinators": [c for t in self.tasks for c in t.coordinators],
        }

    def stop(self, timeout: float) -> dict[str, Any]:
        """SIGTERM every runner, wait for them, then SIGKILL whatever is left under the root."""
        t0 = time.monotonic()
        for task in self.tasks:
            with contextlib.suppress(ProcessLookupError):
                task.proc.send_signal(signal.SIGTERM)
        end = t0 + timeout
        codes: Counter[str] = Counter()
        for task in self.tasks:
            try:
                codes[str(task.proc.wait(timeout=max(0.1, end - time.monotonic())))] += 1
            except subprocess.TimeoutExpired:
                codes["timeout"] += 1
        stopped = time.monotonic() - t0
        left = self.leftovers()
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        for task in self.tasks:
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


def _cmd(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


# -- one run -------------------------------------------------------------------------------


def one_run(ws: harness.Workspace, config: str, args: argparse.Namespace) -> dict[str, Any]:
    borealis = shlex.split(args.borealis)
    sut = Density(ws.directory(config), args.tasks, borealis, CONFIGS[config])
    result: dict[str, Any] = {}
    try:
        inotify_before = inotify_instances()
        result["start_s"] = sut.start(args.batch, args.start_timeout)
        time.sleep(args.settle)
        sut.find_helpers()
        groups = sut.groups()

        before = {g: {p: read_cpu(p) for p in pids} for g, pids in groups.items()}
        wall0, clock0 = time.monotonic(), time.time()
        busy0, total0 = host_cpu()
        time.sleep(args.window)
        busy1, total1 = host_cpu()
        wall1, clock1 = time.monotonic(), time.time()
        after = {g: {p: read_cpu(p) for p in pids} for g, pids in groups.items()}
        wall = wall1 - wall0

        each: dict[int, int] = {}  # pid -> ns used in the window
        for g, pids in groups.items():
            ns = ticks = 0
            changed = 0
            for p in pids:
                b, a = before[g][p], after[g][p]
                if b is None or a is None or a.start != b.start:
                    raise RuntimeError(f"{config}: {g} pid {p} exited during the window")
                each[p] = a.ns - b.ns
                ns += a.ns - b.ns
                ticks += a.ticks - b.ticks
                changed += a.threads != b.threads
            result[f"{g}_cpu"] = ns / 1e9
            result[f"{g}_cpu_stat"] = ticks / TICKS
            result[f"{g}_thread_changes"] = changed
        result["runners_pct"] = result["runners_cpu"] / wall * 100.0
        result["wall"] = wall
        result["host_window_pct"] = (busy1 - busy0) / (total1 - total0) * 100.0
        ncpu = os.cpu_count() or 1
        result["host_window_cores"] = result["host_window_pct"] * ncpu / 100.0

        threads = [after["runners"][p].threads for p in groups["runners"]]  # type: ignore[union-attr]
        result["threads_min"] = min(threads)
        result["threads_median"] = statistics.median(threads)
        result["threads_max"] = max(threads)
        result["threads_hist"] = dict(sorted(Counter(threads).items()))

        for g, pids in groups.items():
            mems = [read_memory(p) for p in pids]
            for key in ("rss", "pss", "uss"):
                total = sum(m[key] for m in mems if m is not None)
                result[f"{g}_{key}"] = total / MB
                result[f"{g}_{key}_each"] = total / MB / max(1, len(pids))

        samples = 0
        modes: Counter[str] = Counter()
        by_mode: dict[str, float] = {}  # runners' CPU s in the window, by disk mode
        for task in sut.tasks:
            live = sut.root / "checkpoints" / task.task_id / "resources"
            last = None
            for sample in read_history(live, since=clock0):
                if sample.time <= clock1:
                    samples += 1
                last = sample
            mode = "no sample" if last is None else (last.task.disk_mode or "no disk")
            modes[mode] += 1
            by_mode[mode] = by_mode.get(mode, 0.0) + each[task.proc.pid] / 1e9
        result["samples"] = samples
        result["disk_modes"] = dict(modes)
        result["cpu_by_mode"] = dict(by_mode)
        result["inotify_before"] = inotify_before
        result["inotify_during"] = inotify_instances()
    finally:
        result.update(sut.stop(args.stop_timeout))
    running = len(sut.tasks)
    if running != args.tasks:
        raise RuntimeError(f"{config}: {running} tasks started, expected {args.tasks}")
    return result


# -- main ----------------------------------------------------------------------------------


def raise_limits() -> dict[str, str]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    now = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    return {
        "RLIMIT_NOFILE": f"{soft} -> {now[0]} (hard {now[1]})",
        "RLIMIT_NPROC": f"{nproc[0]} (unchanged)",
        "fs.inotify.max_user_instances": f"{sysctl('fs.inotify.max_user_instances')} (unchanged)",
        "fs.inotify.max_user_watches": f"{sysctl('fs.inotify.max_user_watches')} (unchanged)",
        "kernel.pid_max": f"{sysctl('kernel.pid_max')} (unchanged)",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200, help="tasks (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--window", type=float, default=60.0, help="measured window, s (60)")
    parser.add_argument("--settle", type=float, default=25.0, help="wait before measuring (25)")
    parser.add_argument("--batch", type=int, default=10, help="runners started at once (10)")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="per batch, s (120)")
    parser.add_argument("--stop-timeout", type=float, default=120.0, help="s (120)")
    parser.add_argument(
        "--borealis",
        default=default_borealis(),
        help="the borealis command (default: this checkout's .venv/bin/borealis)",
    )
    parser.add_argument(
        "--configs",
        default="sampling,off",
        help=f"comma-separated subset of {', '.join(CONFIGS)} (default sampling,off)",
    )
    parser.add_argument("--goal", type=float, default=2.0, help="%% of one core (2)")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    limits = raise_limits()
    configs = harness.systems_arg(args.configs, list(CONFIGS))
    if "sampling" not in configs or "off" not in configs:
        raise SystemExit("--configs must include sampling and off")

    with harness.Workspace("density", keep=args.keep) as ws:
        results = harness.repeat(ws, configs, args.runs, lambda c: one_run(ws, c, args))

    print(
        f"# density: {args.tasks} tasks x {len(PROCESSES)} x `{SLEEP_CMD}`, "
        f"window {args.window:.0f} s after {args.settle:.0f} s settle"
    )
    print(f"# {harness.machine()}")
    print(f"# borealis command: {args.borealis}")
    print("# limits: " + "; ".join(f"{k} {v}" for k, v in limits.items()))
    print(f"# runs={args.runs} batch={args.batch} command: {' '.join(sys.argv)}\n")

    rows = []
    for config in configs:
        for i, r in enumerate(results[config]):
            rows.append(
                [
                    config,
                    i + 1,
                    fmt(r["start_s"], 1),
                    fmt(r["runners_cpu"], 3),
                    fmt(r["runners_cpu_stat"], 2),
                    fmt(r["runners_pct"], 3),
                    fmt(r["spawners_cpu"], 3),
                    fmt(r["coordinators_cpu"], 3),
                    r["samples"],
                    ", ".join(
                        f"{k} {v}: {r['cpu_by_mode'][k] * 1000 / v:.1f} ms/runner"
                        for k, v in r["disk_modes"].items()
                    ),
                    fmt(r["runners_pss"], 1),
                    fmt(r["runners_rss"], 1),
                    f"{r['threads_min']}-{r['threads_max']}",
                    fmt(r["host_window_pct"], 1),
                    f"{r['host_busy']:.0f}",
                    f"{r['stop_s']:.1f} / {r['leftovers']}",
                ]
            )
    print("Per run (runner CPU from schedstat, all threads; stat = utime+stime, 10 ms ticks):\n")
    print(
        table(
            [
                "config",
                "run",
                "start all s",
                "runners CPU s",
                "(stat) s",
                "% of a core",
                "spawners CPU s",
                "coordinators CPU s",
                "samples",
                "disk mode: runners, runner CPU each",
                "runners PSS MB",
                "runners RSS MB",
                "threads/runner",
                "host busy % (window)",
                "host busy % before",
                "stop s / leftovers",
            ],
            rows,
        )
    )

    keys = [
        "start_s",
        "runners_cpu",
        "runners_pct",
        "spawners_cpu",
        "coordinators_cpu",
        "samples",
        "runners_rss",
        "runners_pss",
        "runners_uss",
        "runners_rss_each",
        "runners_pss_each",
        "runners_uss_each",
        "threads_median",
        "spawners_pss",
        "coordinators_pss",
    ]
    medians: dict[str, dict[str, float | None]] = {
        c: {k: median([r[k] for r in results[c]]) for k in keys} for c in configs
    }

    # Sampling cost per repetition: the two configurations of the same repetition.
    pairs = []
    for on, off in zip(results["sampling"], results["off"], strict=False):
        cpu = on["runners_cpu"] - off["runners_cpu"]
        pct = cpu / on["wall"] * 100.0
        per = cpu / on["samples"] * 1000.0 if on["samples"] else None
        pss = (on["runners_pss_each"] - off["runners_pss_each"]) * 1024
        pairs.append({"cpu": cpu, "pct": pct, "per_sample_ms": per, "pss_each_kb": pss})
    if pairs:
        print("\nSampling cost per repetition (sampling - off):\n")
        print(
            table(
                [
                    "run",
                    "runners CPU s",
                    "% of one core",
                    "ms per task per sample",
                    "PSS/runner kB",
                ],
                [
                    [
                        i + 1,
                        fmt(p["cpu"], 3),
                        fmt(p["pct"], 3),
                        fmt(p["per_sample_ms"], 2),
                        fmt(p["pss_each_kb"], 0),
                    ]
                    for i, p in enumerate(pairs)
                ],
            )
        )

    print("\nMedians:\n")
    mrows = []
    for c in configs:
        m = medians[c]
        mrows.append(
            [
                c,
                fmt(m["start_s"], 1),
                fmt(m["runners_cpu"], 3),
                fmt(m["runners_pct"], 3),
                fmt(m["spawners_cpu"], 3),
                fmt(m["coordinators_cpu"], 3),
                fmt(m["samples"], 0),
                fmt(m["runners_pss"], 1),
                fmt(m["runners_pss_each"], 2),
                fmt(m["runners_uss_each"], 2),
                fmt(m["runners_rss_each"], 2),
                fmt(m["threads_median"], 0),
            ]
        )
    on, off = medians["sampling"], medians["off"]

    def diff(key: str, digits: int, scale: float = 1.0, config: str = "sampling") -> str:
        a, b = medians[config][key], off[key]
        return "-" if a is None or b is None else fmt((a - b) * scale, digits)

    for c in configs:
        if c == "off":
            continue
        mrows.append(
            [
                f"{c} - off",
                "",
                *(
                    diff(key, digits, config=c)
                    for key, digits in [
                        ("runners_cpu", 3),
                        ("runners_pct", 3),
                        ("spawners_cpu", 3),
                        ("coordinators_cpu", 3),
                    ]
                ),
                "",
                *(
                    diff(key, digits, config=c)
                    for key, digits in [
                        ("runners_pss", 1),
                        ("runners_pss_each", 2),
                        ("runners_uss_each", 2),
                        ("runners_rss_each", 2),
                        ("threads_median", 0),
                    ]
                ),
            ]
        )
    print(
        table(
            [
                "config",
                "start all s",
                "runners CPU s",
                "% of one core",
                "spawners CPU s",
                "coordinators CPU s",
                "samples",
                "runners PSS MB",
                "PSS/runner MB",
                "USS/runner MB",
                "RSS/runner MB",
                "threads/runner",
            ],
            mrows,
        )
    )

    share = None
    if on["runners_pct"] is not None and off["runners_pct"] is not None:
        share = on["runners_pct"] - off["runners_pct"]
    per_sample = median([p["per_sample_ms"] for p in pairs])
    print("\nGoals:\n")
    print(
        table(
            ["goal", "result", "met?"],
            [
                [
                    f"sampling CPU of {args.tasks} tasks < {args.goal:g}% of one core",
                    f"{fmt(share, 3)}% (median of paired runs: "
                    f"{fmt(median([p['pct'] for p in pairs]), 3)}%; "
                    f"{fmt(per_sample, 2)} ms per task per sample)",
                    "-" if share is None else ("met" if share < args.goal else "not met"),
                ],
                [
                    "sampling memory (no goal)",
                    f"{diff('runners_pss', 1)} MB PSS in all, "
                    f"{diff('runners_pss_each', 0, 1024)} kB per runner "
                    f"(+{diff('threads_median', 0)} threads)",
                    "-",
                ],
            ],
        )
    )
    medians["pairs"] = {
        "pct": median([p["pct"] for p in pairs]),
        "per_sample_ms": per_sample,
        "pss_each_kb": median([p["pss_each_kb"] for p in pairs]),
    }
    if args.out:
        harness.save(args.out, args, {"runs": results, "pairs": pairs, "limits": limits}, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())
