"""Cron jobs (issue #15): trigger skew with 10,000 cron jobs on a simulated backend.

    .venv/bin/python benchmarks/cron.py [--runs 5] [--jobs 10000] [--minutes 6]
        [--scenarios spread,burst] [--out benchmarks/results/cron.json]

Goal: p99 trigger skew <= 1 s, where a trigger's skew is the moment the backend is asked to
launch the slot's run minus the slot's instant.

Each run is a fresh child process with a real SQLite ``Store`` in a temporary directory and
``--jobs`` one-instance cron jobs (zone UTC, KILL_EXISTING, catch-up once), written in one
transaction and loaded by a new ``Scheduler`` (as after a restart: its first pass plans every
job once, timed as the start-up pass). The backend is simulated: 10 hosts with room for
every run, ``launch`` records the time and returns. The scheduler runs its real pass loop
(``scheduler/daemon.py``'s ``keep_ticking``: a pass, then ``until_wanted`` until the next
wake-up, the cron heap's included), on a clock that is the real clock plus an offset, so
that waits are real while the slots come without waiting for real minutes:

* **spread**: job ``i`` runs at minute ``i % 60`` of every hour (``M * * * *``): about 167
  jobs per minute slot. The clock is set 2 s before each of ``--minutes`` consecutive minute
  boundaries in turn (after the previous minute's launches), and the skews of every launch
  are collected.
* **burst**: every job runs at ``0 * * * *``: 10,000 slots of the same instant; the clock is
  set 2 s before it once.

Printed per scenario: p50, p99 and max skew (median over runs, and the spread of the p99 of
the runs), the launches counted, the time to load the jobs and the start-up pass, and, for the
longest pass after it, where its time went: planning the due jobs; writing their runs, events
and states (one transaction, its commit included); placing the runs (in that transaction when
no other run waits, ``placing.place_new``, else in the pass's placement); the backend's
launches. The jobs are stored as ``cron schedule`` stores them (template, state, config).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MB = 1 << 20
HOUR = 3600.0
HOSTS = 10  # placement scans every host for every pending job: not what is measured here
BASE = 1_900_000_800.0  # a whole hour (UTC): 2030-03-17T17:00:00Z


def job_json(i: int, schedule: str) -> dict[str, Any]:
    return {
        "key": {"cluster": "sim", "role": "bench", "environment": "prod", "name": f"c{i}"},
        "instances": 1,
        "task": {
            "name": "t",
            "processes": [{"name": "p", "cmdline": "true"}],
            "resources": {"cpu": 0.01, "ram": 1 * MB, "disk": 1 * MB},
        },
        "cron": {"schedule": schedule, "timezone": "UTC"},
    }


def child(scenario: str, jobs: int, minutes: int) -> dict[str, Any]:
    from borealis.contract.jobspec import JobSpec, job_from_json
    from borealis.scheduler.core import LaunchProblem, Policy, Scheduler
    from borealis.scheduler.cron.planner import CronState
    from borealis.scheduler.cron.records import CronJob, CronRecords
    from borealis.scheduler.daemon import Embedded
    from borealis.scheduler.placement import Host
    from borealis.scheduler.placing import Placing
    from borealis.scheduler.store import Store, Task

    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    slot_of: dict[str, float] = {}
    skews: list[float] = []

    class SimBackend:
        def hosts(self) -> list[Host]:
            return [Host(f"h{i}", 1000.0, 1 << 40, 1 << 40) for i in range(HOSTS)]

        async def launch(self, task: Task, job: JobSpec) -> LaunchProblem | None:
            skews.append(clock() - slot_of[task.job_key])
            return None

        async def kill(self, task: Task) -> None:
            pass

        async def flush(self) -> None:
            pass

        async def wants_offers(self, wanted: bool) -> None:
            pass

    def schedule_of(i: int) -> tuple[str, float]:
        """Job i's schedule and its first slot after BASE - 1 s."""
        minute = 0 if scenario == "burst" else i % 60
        return f"{minute} * * * *", BASE + minute * 60

    longest: dict[str, float] = {}  # each timed step's longest call after the start-up pass

    def timed(cls: Any, name: str) -> None:
        real = getattr(cls, name)

        def note(t: float) -> None:
            if measuring[0]:
                longest[name] = max(longest.get(name, 0.0), time.perf_counter() - t)

        async def wrapper(self: Any, *args: Any) -> Any:
            t = time.perf_counter()
            try:
                return await real(self, *args)
            finally:
                note(t)

        def plain(self: Any, *args: Any) -> Any:
            t = time.perf_counter()
            try:
                return real(self, *args)
            finally:
                note(t)

        setattr(cls, name, wrapper if asyncio.iscoroutinefunction(real) else plain)

    from borealis.scheduler.cron.driver import CronDriver

    measuring = [False]
    timed(CronDriver, "tick")  # planning the due jobs, then _apply
    timed(CronDriver, "_apply")  # the runs, events, states written and placed; kills, launches
    timed(Placing, "place_new")  # placing the fired runs (inside _apply's transaction)
    timed(Placing, "launch")  # the backend's launches of the placed runs (after its commit)
    timed(Scheduler, "_place")  # placing other pending runs, and launching them

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        store = Store(path)
        records = CronRecords(store.db)
        since = BASE - 60
        with store.transaction():
            for i in range(jobs):
                text, first = schedule_of(i)
                spec = job_from_json(job_json(i, text))
                job = CronJob(spec, CronState(since, since))
                records.put(job)
                store.add_encoded_config(spec, *job.encoded)  # as `cron schedule` does
                slot_of[str(spec.key)] = first
        store.close()
        offset[0] = (BASE - 30) - time.time()
        started = time.perf_counter()
        scheduler = Scheduler(Store(path), SimBackend(), Policy(), clock)
        loaded = time.perf_counter() - started
        loop = Embedded(scheduler, None)  # type: ignore[arg-type]

        async def drive() -> float:
            t0 = time.perf_counter()
            await scheduler.tick()  # the start-up pass: every job planned once
            first_pass = time.perf_counter() - t0
            measuring[0] = True
            passes = asyncio.ensure_future(loop.keep_ticking())
            boundaries = [BASE] if scenario == "burst" else [BASE + m * 60 for m in range(minutes)]
            for boundary in boundaries:
                expected = len(skews) + sum(1 for i in range(jobs) if schedule_of(i)[1] == boundary)
                offset[0] = (boundary - 2.0) - time.time()
                scheduler.wanted.set()  # the clock moved: the loop waits again from now
                deadline = time.monotonic() + 60
                while len(skews) < expected and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            passes.cancel()
            await asyncio.gather(passes, return_exceptions=True)
            return first_pass

        first_pass = asyncio.run(drive())
        scheduler.store.close()
    ordered = sorted(skews)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    expected_total = (
        jobs if scenario == "burst" else sum(1 for i in range(jobs) if i % 60 < minutes)
    )
    return {
        "scenario": scenario,
        "launches": len(skews),
        "expected": expected_total,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "max": ordered[-1],
        "min": ordered[0],
        "load_s": loaded,
        "startup_pass_s": first_pass,
        "plan_s": longest.get("tick", 0.0) - longest.get("_apply", 0.0),
        "write_s": longest.get("_apply", 0.0)
        - longest.get("place_new", 0.0)
        - longest.get("launch", 0.0),
        "place_s": longest.get("place_new", 0.0) + longest.get("_place", 0.0),
        "launch_s": longest.get("launch", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=6)
    parser.add_argument("--scenarios", default="spread,burst")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.jobs, args.minutes)))
        return
    results: dict[str, list[dict[str, Any]]] = {}
    for scenario in args.scenarios.split(","):
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--child", scenario, "--jobs", str(args.jobs),
                 "--minutes", str(args.minutes)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results.setdefault(scenario, []).append(json.loads(out.stdout.splitlines()[-1]))
    print(f"{args.jobs} cron jobs, {args.runs} runs each; skew = launch - slot (s)")
    print(f"{'scenario':<8} {'launches':>11} {'p50':>7} {'p99':>7} {'max':>7} "
          f"{'p99 runs':>13} {'load':>6} {'1st pass':>8} {'plan':>6} {'write':>6} "
          f"{'place':>6} {'launch':>6}")  # fmt: skip
    for scenario, runs in results.items():

        def med(name: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[name] for r in runs))

        p99s = [r["p99"] for r in runs]
        launches = f"{int(med('launches'))}/{runs[0]['expected']}"
        print(
            f"{scenario:<8} {launches:>11} {med('p50'):7.3f} {med('p99'):7.3f} {med('max'):7.3f} "
            f"{min(p99s):6.3f}-{max(p99s):<6.3f} {med('load_s'):6.2f} "
            f"{med('startup_pass_s'):8.2f} {med('plan_s'):6.2f} {med('write_s'):6.2f} "
            f"{med('place_s'):6.2f} {med('launch_s'):6.2f}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
