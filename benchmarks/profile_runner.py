"""Profile the Borealis runner in the launch or the recovery scenario with py-spy.

    benchmarks/.venv/bin/python benchmarks/profile_runner.py launch   [--seconds 4] [--save FILE]
    benchmarks/.venv/bin/python benchmarks/profile_runner.py recovery [--seconds 6] [--save FILE]

The runner (``borealis run`` for launch; the restarted ``borealis runner`` for recovery,
set up exactly as in ``recovery.py``) is started under ``py-spy record --idle`` at 1 kHz
for ``--seconds``, so time spent blocked (fork, fdatasync, epoll_wait) shows too. Prints
the milestones read from the checkpoint and the functions with the most samples,
inclusive and leaf, from the spawn until the runner went idle for good (the trailing
samples in ``epoll_wait`` are dropped). Sampling slows the runner down: read shares,
not absolute times.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import peers
import recovery


def spy(sut: peers.Borealis, seconds: int, out: Path) -> float:
    """Run the runner's command under py-spy; return the spawn time."""
    cmd = [
        harness.tool("py-spy"),
        "record",
        "--idle",
        "-r",
        "1000",
        "-f",
        "speedscope",
        "-o",
        str(out),
        "-d",
        str(seconds),
        "--",
        *sut.command(),
    ]
    t0 = time.time()
    subprocess.run(cmd, cwd=sut.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sut.update()
    return t0


def summary(out: Path, top: int) -> None:
    """Shares of the samples up to the moment the runner went idle for good."""
    data = json.loads(out.read_text())
    frames = [f"{f['name']} ({Path(f['file']).name}:{f['line']})" for f in data["shared"]["frames"]]
    # In time order, root first, 1 ms each; a sample without a Python frame is dropped.
    samples = [s for s in data["profiles"][0]["samples"] if s]
    while samples and frames[samples[-1][-1]].startswith("EpollSelector.select "):
        samples.pop()  # the idle tail: the runner waiting with nothing left to do
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    for stack in samples:
        for name in {frames[i].split(":")[0] + ")" for i in stack}:
            inclusive[name] += 1
        leaf[frames[stack[-1]]] += 1
    total = len(samples)
    print(f"\n{total} samples of 1 ms from the spawn until the runner went idle for good\n")
    for title, counter in (("inclusive", inclusive), ("leaf", leaf)):
        rows = [[f"{v}", f"{100 * v / total:.1f}%", k] for k, v in counter.most_common(top)]
        print(harness.table(["samples", "share", f"function ({title})"], rows) + "\n")
    # Where the runner's own loop goes: the two calls below TaskRunner.run in each sample.
    loop: collections.Counter[str] = collections.Counter()
    for stack in samples:
        names = [frames[i].split(" (")[0] for i in stack]
        if "TaskRunner.run" in names:
            below = names[names.index("TaskRunner.run") + 1 :][:2]
            loop[" > ".join(below) or "TaskRunner.run"] += 1
    inside = sum(loop.values())
    rows = [[f"{v}", f"{100 * v / inside:.1f}%", k] for k, v in loop.most_common(top)]
    print(
        f"{inside} of them inside TaskRunner.run (the runner's own work, once it has the task):\n"
    )
    print(harness.table(["samples", "share", "calls below TaskRunner.run"], rows) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["launch", "recovery"])
    parser.add_argument("--seconds", type=int, help="sampling time (launch 4, recovery 6)")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--records", type=int, default=100_000, help="recovery only")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", type=Path, help="keep py-spy's speedscope output here")
    args = parser.parse_args()
    seconds = args.seconds or (4 if args.scenario == "launch" else 6)

    with harness.Workspace("profile") as ws, tempfile.TemporaryDirectory() as tmp:
        out = args.save or Path(tmp) / "profile.speedscope.json"
        workdir = ws.directory(args.scenario)
        if args.scenario == "launch":
            sut = peers.Borealis(workdir, args.count)
            t0 = spy(sut, seconds, out)
        else:
            sut = peers.Borealis(
                workdir,
                args.count,
                task_id=recovery.TASK_ID,
                process_fields="max_failures=0",
                runner_args=recovery.RUNNER_ARGS,
            )
            recovery.prefill(sut, args.records)
            sut.restarted = True
            sut.start()
            harness.wait_for(sut.all_running, 300, 0.05, "first runner: all running")
            harness.wait_for(lambda: recovery.idle(sut.pid), 60, 0.01, "first runner idle")
            sut.kill()
            t0 = spy(sut, seconds, out)
        state = sut.state
        if len(state.runners) <= sut.runners_seen:
            raise SystemExit(f"no 'runner' record within {seconds} s under py-spy: raise --seconds")
        runner = state.runners[-1].time
        runs = [r[-1] for r in state.processes.values()]
        print(f"# profile: {args.scenario}, {args.count} processes; {harness.machine()}")
        print(f"spawn -> 'runner' record: {runner - t0:.3f} s (under py-spy)")
        if args.scenario == "launch":
            forks = [r.fork_time for r in runs if r.fork_time is not None]
            starts = [r.start_time for r in runs if r.start_time is not None]
            print(
                f"'runner' record -> last FORKED: {max(forks) - runner:.3f} s, "
                f"-> last RUNNING: {max(starts) - runner:.3f} s ({len(starts)} running)"
            )
        summary(out, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
