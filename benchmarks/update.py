"""Job updates (issue #14): the scheduler's own cost on a simulated backend, and the overhead of
a real rolling update on the embedded cluster.

    .venv/bin/python benchmarks/update.py [--parts sim,e2e] [--sim-runs 5] [--e2e-runs 3]
        [--instances 1000] [--batch 100] [--e2e-instances 20] [--e2e-batch 5] [--watch 1]
        [--hc-interval 0.25] [--profile] [--out benchmarks/results/update.json]

**sim** (goal: the update completes in under 5 s of scheduler time). A 1,000-instance service
on ten simulated hosts (64 cpu each) with a real SQLite ``Store`` in a temporary directory; the
fake backend answers every launch with TASK_RUNNING (healthy at once) and every kill with
TASK_KILLED, delivered to ``Scheduler.on_status`` right after the pass that caused them, as the
embedded scheduler's update follower would. Once every instance runs, the job is updated to a new
command with ``batch_sizes [100]``, ``watch_secs 0``; ``Scheduler.tick()`` is driven in a loop
whose fake clock advances 0.5 s per pass (the embedded scheduler's ``TICK``) until the update
is terminal. Measured from the update's start: passes, wall time, and process time (scheduler
CPU: the passes, the status updates and SQLite, all in this process), in total and per instance
transition (one instance moved from the old config to the new: kill, new run, RUNNING,
UPDATED). Each run is a fresh child process, started when the host is quiet; medians of
``--sim-runs`` (5). ``--profile`` adds one more child under cProfile and prints where the time
goes.

**e2e** (goal: overhead <= 1.5x). A real ``borealis agent`` and ``borealis scheduler`` on free
loopback ports with their state in a temporary directory; a 20-instance service whose process
is ``echo vN; exec sleep 1000`` with a shell health check (``true``, every ``--hc-interval``
0.25 s, ``initial_interval_secs`` 5, one success); once all 20 are RUNNING (healthy), it is
updated to v2 with ``batch_sizes [5]``, ``watch_secs 1`` (strategy queue, Aurora's default).
Wall time runs from the POST of the update until a poll (every 50 ms) sees it ROLLED_FORWARD;
overhead = wall / (batches x watch_secs) = wall / 4 s. Where the time goes comes from the
scheduler's run histories afterwards, per instance: the old run's kill request to KILLED (the
executor stops the task and reports), to the new run ASSIGNED (a scheduling pass), STARTING
(the agent started an executor), RUNNING (runner, process, first passing health check); the
rest of a batch's share of the wall time is the watch, waiting for passes and the first pass
after the POST. The scheduler's and the agent's CPU during the update are read from /proc.
Medians of ``--e2e-runs`` (3).
The agent and the executors run with a byte-code cache (``PYTHONPYCACHEPREFIX``), filled by
the creation of the job, as an installed Borealis would have.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MB = 1 << 20
TICK = 0.5
KEY = "local/www-data/devel/upd"

# -- sim: the scheduler alone ------------------------------------------------------------


def sim_spec(command: str, instances: int, batch: int) -> Any:
    from borealis.contract.jobspec import job_from_json

    key = {"cluster": "c", "role": "r", "environment": "e", "name": "j"}
    return job_from_json(
        {
            "key": key,
            "instances": instances,
            "service": True,
            "task": {
                "name": "j",
                "processes": [{"name": "p", "cmdline": command}],
                "resources": {"cpu": 0.1, "ram": 16 * MB, "disk": 16 * MB},
            },
            "update": {"batch_sizes": [batch], "watch_secs": 0},
        }
    )


def measure_sim(instances: int, batch: int, profile: bool) -> dict[str, Any]:
    from borealis.contract.mesos import MesosState
    from borealis.scheduler.core import LaunchProblem, Policy, Scheduler
    from borealis.scheduler.placement import Host
    from borealis.scheduler.store import Store, Task

    class Backend:
        """Hosts that answer at once: a launch is RUNNING (healthy), a kill is KILLED."""

        def __init__(self) -> None:
            self.answers: list[tuple[str, MesosState]] = []

        def hosts(self) -> list[Host]:
            return [
                Host(f"h{i}", 64, 256_000 * MB, 10_000_000 * MB, ((31000, 32000),))
                for i in range(10)
            ]

        async def launch(self, task: Task, job: object) -> LaunchProblem | None:
            self.answers.append((task.task_id, MesosState.TASK_RUNNING))
            return None

        async def kill(self, task: Task) -> None:
            self.answers.append((task.task_id, MesosState.TASK_KILLED))

        async def flush(self) -> None:
            pass

        async def wants_offers(self, wanted: bool) -> None:
            pass

    class Clock:
        now = 1_000_000.0

        def __call__(self) -> float:
            return self.now

    with tempfile.TemporaryDirectory(prefix="borealis-bench-update-") as tmp:
        backend, clock = Backend(), Clock()
        scheduler = Scheduler(Store(Path(tmp) / "s.db"), backend, Policy(), clock)

        async def one_pass() -> None:
            await scheduler.tick()
            answers, backend.answers = backend.answers, []
            for task_id, state in answers:
                await scheduler.on_status(task_id, state)
            clock.now += TICK

        async def drive() -> dict[str, Any]:
            scheduler.create_job(sim_spec("v1", instances, batch))
            for _ in range(3):
                await one_pass()
            running = [t for t in scheduler.store.latest("c/r/e/j") if t.state.value == "RUNNING"]
            if len(running) != instances:
                raise SystemExit(f"only {len(running)} of {instances} instances RUNNING")
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
            update = scheduler.updates.start(sim_spec("v2", instances, batch), None, "bench")
            wall0, cpu0, passes = time.perf_counter(), time.process_time(), 0
            if profiler:
                profiler.enable()
            while True:
                await one_pass()
                passes += 1
                found = scheduler.updates.records.get(update.id)
                assert found is not None
                if found.progress.status.terminal or passes > 10_000:
                    break
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            if profiler:
                profiler.disable()
                import io
                import pstats

                text = io.StringIO()
                stats = pstats.Stats(profiler, stream=text)
                stats.sort_stats("tottime").print_stats(18)
                stats.sort_stats("cumulative").print_stats("borealis", 25)
                print(text.getvalue(), file=sys.stderr)
            moved = sum(
                1
                for t in scheduler.store.latest("c/r/e/j")
                if t.config == update.new_job.config_id and t.state.value == "RUNNING"
            )
            return {
                "status": found.progress.status.value,
                "passes": passes,
                "simulated_s": passes * TICK,
                "wall_s": wall,
                "cpu_s": cpu,
                "transitions": moved,
                "cpu_ms_per_transition": 1000 * cpu / moved if moved else None,
                "wall_ms_per_transition": 1000 * wall / moved if moved else None,
            }

        result = asyncio.run(drive())
        scheduler.store.close()
        return result


def run_sim(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import harness

    runs = []
    for rep in range(args.sim_runs + (1 if args.profile else 0)):
        profiled = args.profile and rep == args.sim_runs
        label = "profiled run" if profiled else f"run {rep + 1}/{args.sim_runs}"
        busy = harness.wait_quiet()
        print(f"... sim {label}", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, "--instances", str(args.instances)]
        command += ["--batch", str(args.batch), "--child-sim"]
        if profiled:
            command.append("--profile")
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        if profiled:
            print(out.stderr, file=sys.stderr)
        else:
            runs.append({**json.loads(out.stdout), "host_busy": busy})
    keys = ("passes", "simulated_s", "wall_s", "cpu_s", "cpu_ms_per_transition")
    medians = {k: harness.median([r[k] for r in runs]) for k in keys}
    medians["wall_ms_per_transition"] = harness.median([r["wall_ms_per_transition"] for r in runs])
    return runs, medians


# -- e2e: the embedded cluster ----------------------------------------------------------

URL_RE = {
    name: re.compile(rf"borealis {name}: http://127\.0\.0\.1:(\d+)/")
    for name in ("agent", "scheduler")
}


class Daemon:
    """``borealis agent`` or ``borealis scheduler`` on a free loopback port."""

    def __init__(self, name: str, args: list[str], work: Path, env: dict[str, str]) -> None:
        import harness

        self.name, self.log = name, work / f"{name}.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [harness.tool("borealis"), name, "--port", "0", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=work,
                env=env,
                start_new_session=True,  # a Ctrl-C of the benchmark reaches neither daemon
            )
        self.port = 0
        harness.wait_for(self._ready, 60, 0.05, f"borealis {name} to answer GET /health")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"borealis {self.name} exited with {self.proc.returncode}:\n{tail}")
        if not self.port:
            found = URL_RE[self.name].findall(self.log.read_text(errors="replace"))
            if not found:
                return False
            self.port = int(found[-1])
        try:
            url = f"http://127.0.0.1:{self.port}/health"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Api:
    def __init__(self, port: int, token: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {
            "Authorization": f"Bearer {token.read_text().strip()}",
            "Content-Type": "application/json",
        }

    def call(self, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{path}: {e.code} {e.read().decode(errors='replace')}") from None


def e2e_config(version: str, args: argparse.Namespace) -> str:
    """The job as an .aurora file: what a user would write."""
    return f"""
proc = Process(name='svc', cmdline='echo {version}; exec sleep 1000')
jobs = [Service(
  cluster='local', role='www-data', environment='devel', name='upd',
  instances={args.e2e_instances},
  task=Task(name='upd', processes=[proc],
            resources=Resources(cpu=0.05, ram=16*MB, disk=16*MB)),
  health_check_config=HealthCheckConfig(
    health_checker=HealthCheckerConfig(shell=ShellHealthChecker(shell_command='true')),
    initial_interval_secs=5, interval_secs={args.hc_interval}, min_consecutive_successes=1),
  update_config=UpdateConfig(batch_size={args.e2e_batch}, watch_secs={args.watch}),
)]
"""


def job_json(version: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from borealis.cli.jobclient import load_job
    from borealis.contract.jobkey import JobKey

    path = work / f"{version}.aurora"
    path.write_text(e2e_config(version, args))
    spec = load_job(str(path), JobKey.parse(KEY, "key"), None)
    return spec.to_json()


def one_e2e(ws: Any, rep: int, args: argparse.Namespace) -> dict[str, Any]:
    import harness

    work = ws.directory(f"e2e{rep + 1}")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(ws.base / "pycache")
    env["BOREALIS_ROOT"] = str(work / "root")
    agent = Daemon(
        "agent",
        ["--work-dir", str(work / "agent"), "--token-file", str(work / "agent.token")],
        work,
        env,
    )
    scheduler = Daemon(
        "scheduler",
        [
            "--agent",
            f"http://127.0.0.1:{agent.port}",
            "--db",
            str(work / "scheduler.db"),
            "--token-file",
            str(work / "scheduler.token"),
            "--agent-token-file",
            str(work / "agent.token"),
            "--host-cpu",
            "4",
            "--executor-cpu",
            "0.05",
        ],
        work,
        env,
    )
    try:
        api = Api(scheduler.port, work / "scheduler.token")
        v1, v2 = job_json("v1", args, work), job_json("v2", args, work)
        api.call("/api/v1/jobs", v1)

        def all_running() -> bool:
            tasks = api.call(f"/api/v1/jobs/{KEY}")["tasks"]
            return len(tasks) == args.e2e_instances and all(t["state"] == "RUNNING" for t in tasks)

        harness.wait_for(all_running, 180, 0.2, f"{args.e2e_instances} instances RUNNING")
        time.sleep(1.0)  # let the executors' start-up settle before the update
        cpu0 = [cpu_seconds(d.proc.pid) for d in (scheduler, agent)]
        posted = time.time()
        update = api.call(f"/api/v1/jobs/{KEY}/updates", {"job": v2, "user": "bench"})
        detail: dict[str, Any] = {}

        def ended() -> bool:
            nonlocal detail
            detail = api.call(f"/api/v1/updates/{update['id']}")
            return bool(detail["status"] in TERMINAL)

        seen = harness.wait_for(ended, 300, 0.05, "the update to end")
        cpu1 = [cpu_seconds(d.proc.pid) for d in (scheduler, agent)]
        return {
            "scheduler_cpu_s": cpu1[0] - cpu0[0],
            "agent_cpu_s": cpu1[1] - cpu0[1],
            "status": detail["status"],
            "wall_s": seen - posted,
            "overhead": (seen - posted) / (batches(args) * args.watch),
            **timeline(api, v2_config(detail), posted),
        }
    finally:
        scheduler.stop()
        agent.stop()


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


TERMINAL = {"ROLLED_FORWARD", "ROLLED_BACK", "ABORTED", "ERROR", "FAILED"}


def batches(args: argparse.Namespace) -> int:
    return -(-int(args.e2e_instances) // int(args.e2e_batch))


def v2_config(detail: dict[str, Any]) -> str:
    return str(detail["instances"][0]["new"])


def timeline(api: Api, new_config: str, posted: float) -> dict[str, Any]:
    """Each instance's steps from the scheduler's run histories (seconds): the old run's kill
    request to KILLED, then the new run's ASSIGNED, STARTING and RUNNING; medians over the
    instances."""
    runs = api.call(f"/api/v1/jobs/{KEY}?history=1")["tasks"]
    marks: dict[int, dict[str, float]] = {}
    for run in runs:
        history = api.call(f"/api/v1/tasks/{run['task_id']}")["history"]
        times = {e["state"]: e["time"] for e in reversed(history)}  # the first of each
        mine = marks.setdefault(run["instance"], {})
        if run["config"] != new_config:
            if times.get("KILLING", 0) >= posted and "KILLED" in times:
                mine["kill"], mine["killed"] = times["KILLING"], times["KILLED"]
        else:
            for state in ("ASSIGNED", "STARTING", "RUNNING"):
                if state in times:
                    mine[state.lower()] = times[state]
    steps: dict[str, list[float]] = {s: [] for s in STEPS}
    for mine in marks.values():
        chain = [mine.get(k) for k in ("kill", "killed", "assigned", "starting", "running")]
        for name, a, b in zip(STEPS, chain, chain[1:], strict=False):
            if a is not None and b is not None:
                steps[name].append(b - a)
    kills = [m["kill"] for m in marks.values() if "kill" in m]
    return {
        "first_kill_s": min(kills) - posted if kills else None,
        **{name: statistics.median(v) if v else None for name, v in steps.items()},
    }


STEPS = ("kill", "to_assigned", "to_starting", "to_running")
STEP_NAMES = {
    "kill": "kill request → old run KILLED (executor stops the task, reports)",
    "to_assigned": "→ new run ASSIGNED (waits for a scheduling pass)",
    "to_starting": "→ STARTING (agent starts an executor)",
    "to_running": "→ RUNNING (runner, process, first passing health check)",
}


def run_e2e(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import harness

    runs = []
    with harness.Workspace("update", keep=args.keep) as ws:
        for rep in range(args.e2e_runs):
            busy = harness.wait_quiet()
            print(f"... e2e run {rep + 1}/{args.e2e_runs}", file=sys.stderr, flush=True)
            try:
                result = one_e2e(ws, rep, args)
            finally:
                ws.reset()
            result["host_busy"] = busy
            runs.append(result)
    keys = ("wall_s", "overhead", "first_kill_s", "scheduler_cpu_s", "agent_cpu_s", *STEPS)
    medians: dict[str, Any] = {k: harness.median([r[k] for r in runs]) for k in keys}
    return runs, medians


# -- report ----------------------------------------------------------------------------


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    import harness

    print(f"# update: {harness.machine()}")
    if "sim" in results:
        runs, med = results["sim"]
        print(
            f"\nScheduler alone: {args.instances} instances, batch {args.batch}, watch 0, "
            f"simulated hosts, a pass every {TICK} s of fake time; medians of {len(runs)} runs\n"
        )
        print(
            harness.table(
                [
                    "passes",
                    "fake time s",
                    "wall s",
                    "scheduler CPU s",
                    "CPU ms / transition",
                    "wall ms / transition",
                    "CPU s per run",
                    "host busy %",
                ],
                [
                    [
                        f"{med['passes']:.0f}",
                        harness.fmt(med["simulated_s"], 1),
                        harness.fmt(med["wall_s"], 2),
                        harness.fmt(med["cpu_s"], 2),
                        harness.fmt(med["cpu_ms_per_transition"], 2),
                        harness.fmt(med["wall_ms_per_transition"], 2),
                        ", ".join(f"{r['cpu_s']:.2f}" for r in runs),
                        ", ".join(f"{r['host_busy']:.0f}" for r in runs),
                    ]
                ],
            )
        )
        state = "met" if med["cpu_s"] < 5 else "missed"
        print(f"\nGoal: the update in under 5 s of scheduler time: {med['cpu_s']:.2f} s ({state})")
    if "e2e" in results:
        runs, med = results["e2e"]
        ideal = batches(args) * args.watch
        print(
            f"\nEmbedded cluster: {args.e2e_instances} instances, batch {args.e2e_batch}, "
            f"watch {args.watch} s, health check every {args.hc_interval:g} s; "
            f"medians of {len(runs)} runs\n"
        )
        print(
            harness.table(
                ["wall s", "ideal s", "overhead", "per run", "POST → first kill s", "host busy %"],
                [
                    [
                        harness.fmt(med["wall_s"], 2),
                        f"{ideal:g}",
                        f"{med['overhead']:.2f}x",
                        ", ".join(f"{r['overhead']:.2f}x" for r in runs),
                        harness.fmt(med["first_kill_s"], 2),
                        ", ".join(f"{r['host_busy']:.0f}" for r in runs),
                    ]
                ],
            )
        )
        wave = med["wall_s"] / batches(args)
        steps = sum(med[k] or 0.0 for k in STEPS)
        print(
            f"\nOne instance's steps (medians over the instances, then over the runs), against "
            f"the wall time per batch ({med['wall_s']:.2f} s / {batches(args)} = {wave:.2f} s):\n"
        )
        rows = [[STEP_NAMES[k], harness.fmt(med[k], 3)] for k in STEPS]
        rows.append(
            ["the rest: watch_secs, waiting for passes, POST → first kill", f"{wave - steps:.3f}"]
        )
        rows.append(["scheduler CPU during the update, s", harness.fmt(med["scheduler_cpu_s"], 2)])
        rows.append(["agent CPU during the update, s", harness.fmt(med["agent_cpu_s"], 2)])
        print(harness.table(["step", "s"], rows))
        state = "met" if med["overhead"] <= 1.5 else "missed"
        print(f"\nGoal: overhead <= 1.5x: {med['overhead']:.2f}x ({state})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="sim,e2e")
    parser.add_argument("--sim-runs", type=int, default=5)
    parser.add_argument("--e2e-runs", type=int, default=3)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--e2e-instances", type=int, default=20)
    parser.add_argument("--e2e-batch", type=int, default=5)
    parser.add_argument("--watch", type=int, default=1)
    parser.add_argument("--hc-interval", type=float, default=0.25)
    parser.add_argument("--profile", action="store_true", help="one more sim run under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the e2e work directories")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/update.json"))
    parser.add_argument("--child-sim", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_sim:
        print(json.dumps(measure_sim(args.instances, args.batch, args.profile)))
        return 0
    import harness

    parts = harness.systems_arg(args.parts, ["sim", "e2e"])
    results: dict[str, Any] = {}
    if "sim" in parts:
        results["sim"] = run_sim(args)
    if "e2e" in parts:
        results["e2e"] = run_e2e(args)
    report(args, results)
    harness.save(
        args.out,
        args,
        {k: v[0] for k, v in results.items()},
        {k: v[1] for k, v in results.items()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
