"""The memory of one runner process: PSS and USS of a 1-process task, and what it imports.

    .venv/bin/python benchmarks/runner_memory.py [--runs 3] [--settle 3] [--python PY]

For each command (``borealis run CONFIG`` and ``borealis runner TASK_ID``) and each sampling
setting (the default, and ``--sample-interval 0``), starts a task of one process,
``sleep 1000``, under a temporary ``--root`` (``--allow-root`` for ``run``, so it works as
root), waits until the runner logs that the process is running, lets it settle (``--settle``
seconds: the first resource sample is taken within a second), reads the PSS and USS of the
runner process (the process this program started, never its children), and stops the
task with SIGTERM. ``borealis runner`` is given a task file written from
``borealis inspect`` output, as the executor would write it. The table shows medians over
``--runs`` runs, and the time from the start of the command to the process running.

The packages listed are what the live runner's command line (read from ``/proc``: after
``borealis run`` has become ``borealis runner``, the latter's) loads before the task starts
(its parser's imports, as ``borealis.cli.main.parser`` does them), plus what sampling
loads, found by doing the same imports in a fresh ``PY -c``; the shared libraries are read
from the live runner's ``/proc/PID/maps`` (extension modules loaded lazily show up there).

``--python PY``: the interpreter whose Borealis is measured (default: this one), e.g. the
venv of another worktree, to compare two versions side by side. Needs only psutil and the
standard library (and harness.py, which has the same needs).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import harness
import psutil

CONFIG = """\
export(Task(
  name = 'sleeper',
  processes = [Process(name = 'sleep', cmdline = 'sleep 1000')],
  resources = Resources(cpu = 0.1, ram = 64*MB, disk = 64*MB),
))
"""
RUNNING = b"sleep[0] running (pid "
MODULES = """\
import sys
from borealis.cli import main
main.parser({argv!r})
if {sampling!r}:
    from borealis.executor.runner import diskusage, sampler
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def borealis(python: str) -> list[str]:
    return [python, "-m", "borealis.cli.main"]


def prepare_runner(python: str, config: Path, root: Path, task_id: str) -> None:
    """Write the task file ``borealis runner`` starts from, as the executor writes it."""
    inspect = [*borealis(python), "inspect", str(config), "--task-id", task_id]
    text = subprocess.run(inspect, check=True, capture_output=True, text=True).stdout
    active = root / "tasks" / "active"
    for directory in (root, root / "tasks", active, root / "tasks" / "finished"):
        directory.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(active / task_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fp:
        fp.write(text)


def command(python: str, which: str, config: Path, root: Path, sampling: bool) -> list[str]:
    task_id = "mem"
    flags = ["--root", str(root)] + ([] if sampling else ["--sample-interval", "0"])
    if which == "run":
        return [*borealis(python), "run", str(config), "--task-id", task_id, "--allow-root", *flags]
    prepare_runner(python, config, root, task_id)
    return [*borealis(python), "runner", task_id, *flags]


def one(ws: harness.Workspace, python: str, which: str, sampling: bool, settle: float) -> dict:
    base = ws.directory(f"{which}-{'sampling' if sampling else 'nosampling'}")
    config = base / "sleeper.aurora"
    config.write_text(CONFIG)
    argv = command(python, which, config, base / "root", sampling)
    log = base / "runner.log"
    with open(log, "wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=base)
    try:
        harness.wait_for(
            lambda: RUNNING in log.read_bytes() or proc.poll() is not None, 60, 0.005, "RUNNING"
        )
        started = time.monotonic() - start
        if proc.poll() is not None:
            raise SystemExit(f"{which} exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(settle)
        runner = psutil.Process(proc.pid)
        info = runner.memory_full_info()
        libs = sorted(
            {Path(m.path).name for m in runner.memory_maps() if ".so" in Path(m.path).name}
        )
        cmdline = runner.cmdline()
        argv = cmdline[cmdline.index("borealis.cli.main") + 1 :]
        return {"pss": info.pss, "uss": info.uss, "started": started, "libs": libs, "argv": argv}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        ws.reset()


def modules(python: str, argv: list[str], sampling: bool) -> list[str]:
    code = MODULES.format(argv=argv, sampling=sampling)
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    return sorted(set(out.stdout.split()) - set(sys.stdlib_module_names) - {"__main__"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    rows = []
    with harness.Workspace("runner-memory") as ws:
        for which in ("run", "runner"):
            for sampling in (True, False):
                results = [
                    one(ws, args.python, which, sampling, args.settle) for _ in range(args.runs)
                ]
                rows.append((which, sampling, results))
    print(f"{'command':<8} {'sampling':<9} {'PSS KiB':>8} {'USS KiB':>8} {'to RUNNING':>11}")
    for which, sampling, results in rows:
        pss = statistics.median(r["pss"] for r in results) / 1024
        uss = statistics.median(r["uss"] for r in results) / 1024
        started = statistics.median(r["started"] for r in results)
        on = "20s" if sampling else "off"
        print(f"{which:<8} {on:<9} {pss:>8.0f} {uss:>8.0f} {started * 1000:>9.0f}ms")
    print()
    for which, sampling, results in rows:
        on = "sampling" if sampling else "no sampling"
        argv = results[0]["argv"]
        print(f"{which}, {on}: the live runner is `borealis {' '.join(argv[:2])} ...`; loaded:")
        print("    packages:", " ".join(modules(args.python, argv, sampling)))
        print("    shared objects mapped in the live runner:", " ".join(results[0]["libs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
