"""imfile: the highest write rate at which rsyslog's imfile follows a rotating Borealis log
without losing or repeating a line, beside a plain rename-rotating writer as the control.

    benchmarks/.venv/bin/python benchmarks/imfile.py [--rates 5,10,15,20,30,50] [--log-size 1]
        [--larger 4,16] [--runs 3] [--rotations 60] [--backups 1000] [--writers borealis,plain]

Each run is done for each writer, alternating: ``borealis`` (below) and ``plain``: the same
generator piped into ``rename_writer.py`` (no Borealis), which cuts at line ends and renames
``stdout`` -> ``stdout.1`` as the coordinator does. A loss that only Borealis shows is ours.

Needs Debian's ``rsyslog`` (``apt-get install -y rsyslog``); the system daemon is neither
started nor touched. Per run:

1. The log directory of the task's process is created with an **empty ``stdout``** in it,
   before rsyslogd starts: imfile, like GNU ``tail -F``, is given an existing file (the
   coordinator appends to it). ``--no-precreate`` starts rsyslogd 1 s before ``borealis run``
   with neither the file nor its directories there (the coordinator creates them).
2. A private ``rsyslogd -n -f CONFIG -i PIDFILE`` runs in the foreground with its own work
   directory (state files) and this configuration (``rsyslog_config``): imfile in inotify
   mode, one ``input(type="imfile")`` on that ``stdout`` with ``readMode="0"`` (one line, one
   message), ``reopenOnTruncate="off"`` (Borealis never truncates: rotation is by rename),
   ``freshStartTail="off"`` (read from the start); its own ruleset, whose only action is
   ``omfile`` with a template that writes the message and a newline, nothing else; and
   ``main_queue(queue.workerThreads="1")``: with the default of two workers, rsyslog starts
   the second one under load and the two write their batches (256 messages) out of order.
   (``maxLinesAtOnce`` is a polling-mode setting; in inotify mode rsyslog rejects it.)
   The run starts once rsyslogd has the file open (``/proc/PID/fd``).
3. ``borealis run`` of one process, ``tests/tools/numbered_lines.py COUNT --rate R`` (lines of
   100 bytes, paced in blocks of 1,000 lines), with ``Logger(mode='rotate',
   rotate=RotatePolicy(log_size=S, backups=B))``; COUNT gives ``--rotations`` rotations
   (default 60, so at least 50).
4. After the task ends, wait until imfile's output holds every byte (or has not grown for
   ``--settle`` s), stop rsyslogd with SIGTERM, then check that the output holds every line
   exactly once, in order (and, as a control, that Borealis' own rotated files do).

Every rate in ``--rates`` runs ``--runs`` times at ``--log-size`` MB (MB = 2^20 bytes); a rate
is lossless if every run is exact. Rates that lose lines are run again with each file size in
``--larger``. Nothing asserts on a figure.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import harness
import logs
from harness import fmt, median, table

from borealis.contract import replay
from borealis.contract.states import ProcessState

GENERATOR = Path(__file__).resolve().parent.parent / "tests" / "tools" / "numbered_lines.py"
RENAME_WRITER = Path(__file__).resolve().parent / "rename_writer.py"
MB = 1 << 20
GIB = 1 << 30
WIDTH = 100
TASK_ID = "imfile"


def rsyslog_config(work: Path, stdout: Path, out: Path) -> str:
    """A private rsyslogd: imfile on ``stdout`` -> ``out``, the bare message per line."""
    return f"""\
global(workDirectory="{work}")
main_queue(queue.workerThreads="1")
module(load="imfile" mode="inotify")
template(name="bare" type="string" string="%msg%\\n")
ruleset(name="collect") {{
    action(type="omfile" file="{out}" template="bare")
}}
input(type="imfile" file="{stdout}" tag="t:" ruleset="collect"
      readMode="0" reopenOnTruncate="off" freshStartTail="off")
"""


def rsyslogd() -> str:
    for directory in ("/usr/sbin", "/sbin", *os.environ.get("PATH", "").split(":")):
        path = Path(directory) / "rsyslogd"
        if path.exists():
            return str(path)
    raise SystemExit("rsyslogd is missing: apt-get install -y rsyslog")


def holds_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


class LagSampler(threading.Thread):
    """How far imfile's output is behind what the process wrote, sampled every ``interval`` s.

    Written = the sizes of ``stdout`` and every ``stdout.N`` (all kept with the default
    ``--backups``). ``max_lag``: the most it was behind (bytes) while its output was still
    exact: each sample reads the last whole line collected, whose number must be its offset
    / 100; from the first sample where it is not (a line was lost or repeated), ``lost_at``
    is set and the lag no longer counts. A collector that follows by name loses a whole file
    when it is a file or more behind: a later file has taken the name by the time it looks.
    """

    def __init__(self, stdout: Path, out: Path, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.stdout = stdout
        self.out = out
        self.interval = interval
        self.stop = threading.Event()
        self.max_lag = 0
        self.lost_at: int | None = None  # bytes collected when a difference was first seen

    def run(self) -> None:
        while not self.stop.wait(self.interval) and self.lost_at is None:
            written = logs.size_of(self.stdout)
            try:
                with open(self.out, "rb") as fp:
                    got = os.fstat(fp.fileno()).st_size
                    tail = os.pread(fp.fileno(), 2 * WIDTH, max(0, got - 2 * WIDTH))
            except FileNotFoundError:
                continue
            if b"\n" not in tail:
                continue
            end = got - len(tail) + tail.rfind(b"\n") + 1  # after the last whole line
            if end >= WIDTH:
                line = tail[end - WIDTH - (got - len(tail)) :][:10]
                if not line.isdigit() or int(line) * WIDTH != end - WIDTH:
                    self.lost_at = got
                    continue
            self.max_lag = max(self.max_lag, written - got)


def one_run(
    ws: harness.Workspace, writer: str, rate: float, size: float, args: argparse.Namespace
) -> dict[str, Any]:
    workdir = ws.directory(f"{writer}-{rate:g}MBs-{size:g}MB")
    log_size = int(size * MB)
    count = (args.rotations + 1) * log_size // WIDTH
    root = workdir / "root"
    stdout = root / "sandboxes" / TASK_ID / ".logs" / "p" / "0" / "stdout"
    if args.precreate:
        stdout.parent.mkdir(parents=True)
        stdout.touch()
    work = workdir / "rsyslog"
    work.mkdir()
    out = workdir / "collected"
    conf = workdir / "rsyslog.conf"
    conf.write_text(rsyslog_config(work, stdout, out))
    cmdline = f"{sys.executable} {GENERATOR} {count} --rate {int(rate * MB)}"
    config = workdir / "imfile.aurora"
    config.write_text(
        f"p = Process(name='p', cmdline={cmdline!r}, logger=Logger(mode='rotate',\n"
        f"    rotate=RotatePolicy(log_size={log_size}, backups={args.backups})))\n"
        "export(Task(name='imfile', processes=[p]))\n"
    )
    with open(workdir / "rsyslogd.log", "wb") as log:
        daemon = subprocess.Popen(
            [rsyslogd(), "-n", "-f", str(conf), "-i", str(workdir / "rsyslogd.pid")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
            start_new_session=True,
        )  # fmt: skip
    try:
        if args.precreate:
            harness.wait_for(lambda: holds_open(daemon.pid, stdout), 10, 0.01, "imfile to open")
        else:
            time.sleep(1.0)  # let it start and find nothing
        sampler = LagSampler(stdout, out)
        sampler.start()
        if writer == "plain":
            stdout.parent.mkdir(parents=True, exist_ok=True)
            command = f"{cmdline} | {sys.executable} {RENAME_WRITER} {stdout} {log_size}"
        else:
            command = shlex.join(
                [harness.tool("borealis"), "run", str(config), "--root", str(root),
                 "--task-id", TASK_ID, "-q"]
            )  # fmt: skip
        with open(workdir / f"{writer}.log", "wb") as log:
            started = time.time()
            run = subprocess.run(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
            )  # fmt: skip
        ended = time.time()
        if run.returncode != 0:
            raise RuntimeError(f"{writer} exited {run.returncode}: see {workdir}")
        expected = count * WIDTH
        last, changed = -1, time.time()
        while True:
            now = time.time()
            got = out.stat().st_size if out.exists() else 0
            if got != last:
                last, changed = got, now
            if got >= expected or now - changed > args.settle:
                break
            time.sleep(0.02)
        lag = (changed if got >= expected else now) - ended
        sampler.stop.set()
        sampler.join()
        cpu = logs.schedstat(daemon.pid)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(20)
    if writer == "plain":
        span = ended - started
    else:
        state = replay.load(root / "checkpoints" / TASK_ID / "runner")
        (proc_run,) = state.processes["p"]
        if proc_run.state is not ProcessState.SUCCESS:
            raise RuntimeError(f"the process ended {proc_run.state.name}")
        assert proc_run.start_time is not None and proc_run.stop_time is not None
        span = proc_run.stop_time - proc_run.start_time
    files = logs.rotation_chain(stdout)
    if args.backups > len(files):  # all kept: Borealis' own files must hold every line
        control = logs.check(files, count)
        if any(control.values()):
            raise RuntimeError(f"{writer}'s own log files are wrong: {control}")
    result: dict[str, Any] = logs.check([out], count) if out.exists() else {"lost": count}
    warnings = (workdir / "rsyslogd.log").read_text(errors="replace").splitlines()
    result.update(
        {
            "rate": rate,
            "size": size,
            "lines": count,
            # with fewer backups than rotations, count them: files are cut at line ends
            "rotations": len(files) - 1
            if args.backups > len(files)
            else (count - 1) // (log_size // WIDTH),
            "writer": writer,
            "written": expected / MB / span,
            "lag": lag,
            "max_lag": sampler.max_lag / log_size,  # in files, while still exact
            "lost_at": sampler.lost_at,
            "cpu": cpu,
            "warnings": len(warnings),
            "exact": not any(result.get(k) for k in ("lost", "dup", "garbled", "misordered")),
        }
    )
    if not args.keep:
        for path in [*files, out]:
            path.unlink(missing_ok=True)
    return result


def sweep(
    ws: harness.Workspace, rates: list[float], size: float, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every rate ``--runs`` times for each writer, the writers alternating run by run."""
    results = []
    for rate in rates:
        for i in range(args.runs):
            for writer in args.writers[i % 2 :] + args.writers[: i % 2]:
                harness.wait_quiet()
                print(f"... {writer}: {rate:g} MB/s, {size:g} MB files, run {i + 1}/{args.runs}",
                      file=sys.stderr, flush=True)  # fmt: skip
                try:
                    results.append(one_run(ws, writer, rate, size, args))
                finally:
                    ws.reset()
    return results


def summary(results: list[dict[str, Any]]) -> list[list[object]]:
    rows: list[list[object]] = []
    keys = sorted({(r["writer"], r["size"], r["rate"]) for r in results})
    for writer, size, rate in keys:
        runs = [r for r in results if (r["writer"], r["size"], r["rate"]) == (writer, size, rate)]
        exact = sum(1 for r in runs if r["exact"])
        worst = max(runs, key=lambda r: r.get("lost", 0) + r.get("dup", 0))
        rows.append(
            [
                writer,
                f"{size:g}",
                f"{rate:g}",
                fmt(median([r["written"] for r in runs]), 1),
                fmt(median([r["rotations"] for r in runs]), 0),
                f"{size / rate:.3f}",
                f"{exact}/{len(runs)}",
                f"{worst.get('lost', 0)}/{worst.get('dup', 0)}/{worst.get('garbled', 0)}/"
                f"{worst.get('misordered', 0)}",
                fmt(max(r["max_lag"] for r in runs), 2),
                fmt(median([r["lag"] for r in runs]), 2),
                fmt(median([r["cpu"] and r["cpu"] * GIB / (r["lines"] * WIDTH) for r in runs]), 2),
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="5,10,15,20,30,50", help="MB/s, comma-separated")
    parser.add_argument("--log-size", type=float, default=1.0, help="file size, MB (1)")
    parser.add_argument("--larger", default="4,16", help="file sizes (MB) for the lossy rates")
    parser.add_argument("--runs", type=int, default=3, help="runs per rate and size (3)")
    parser.add_argument("--rotations", type=int, default=60, help="rotations per run (60)")
    parser.add_argument("--backups", type=int, default=1000, help="rotated files kept (1000)")
    parser.add_argument("--settle", type=float, default=3.0, help="s without growth = done")
    parser.add_argument("--no-precreate", dest="precreate", action="store_false",
                        help="start rsyslogd before the log file exists")  # fmt: skip
    parser.add_argument("--writers", default="borealis,plain",
                        help="borealis, plain (rename_writer.py, the control)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the directories and logs")
    args = parser.parse_args()
    args.writers = [w for w in args.writers.split(",") if w in ("borealis", "plain")]
    rates = [float(r) for r in args.rates.split(",") if r]
    larger = [float(s) for s in args.larger.split(",") if s]
    version = subprocess.run([rsyslogd(), "-v"], capture_output=True, text=True).stdout
    with harness.Workspace("imfile", keep=args.keep) as ws:
        results = sweep(ws, rates, args.log_size, args)
        lossy = sorted({r["rate"] for r in results if not r["exact"]})
        for size in larger:
            if lossy:
                more = sweep(ws, lossy, size, args)
                results += more
                lossy = sorted({r["rate"] for r in more if not r["exact"]})

    print("# imfile: rsyslogd (inotify) following a log rotated by rename: Borealis', and")
    print("# benchmarks/rename_writer.py's (plain: the simplest correct writer, the control)")
    print(f"# {harness.machine()}; {version.splitlines()[0] if version else 'rsyslogd ?'}")
    print(
        f"# runs={args.runs} rotations={args.rotations} backups={args.backups} "
        f"precreate={args.precreate} command: {' '.join(sys.argv)}\n"
    )
    rows = [
        [r["writer"], f"{r['size']:g}", f"{r['rate']:g}", fmt(r["written"], 1), r["rotations"],
         f"{r.get('lost', 0)}/{r.get('dup', 0)}/{r.get('garbled', 0)}/{r.get('misordered', 0)}",
         fmt(r["max_lag"], 2), fmt(r["lag"], 2), r["warnings"]]
        for r in results
    ]  # fmt: skip
    print("Per run (lines lost/duplicated/garbled/out of order in imfile's output):\n")
    print(
        table(
            ["writer", "file MB", "rate MB/s", "written MB/s", "rotations",
             "lost/dup/garbled/order", "max lag before a loss, files", "lag at the end s",
             "rsyslogd messages"],
            rows,
        )
    )  # fmt: skip
    print(
        "\nPer rate and file size (written: MB/s measured from the checkpoint; s per file = "
        "file MB / rate; worst run; max lag: the most imfile's output was behind the writer "
        "while still exact, sampled every 50 ms, in files, worst run; lag at the end: task end "
        "-> imfile's output complete, median):\n"
    )
    print(
        table(
            ["writer", "file MB", "rate MB/s", "written MB/s", "rotations", "s per file",
             "exact runs", "worst lost/dup/garbled/order", "max lag before a loss, files",
             "lag at the end s", "rsyslogd CPU s/GiB"],
            summary(results),
        )
    )  # fmt: skip
    for writer, size in sorted({(r["writer"], r["size"]) for r in results}):
        mine = [r for r in results if (r["writer"], r["size"]) == (writer, size)]
        good = [
            rate for rate in sorted({r["rate"] for r in mine})
            if all(r["exact"] for r in mine if r["rate"] == rate)
        ]  # fmt: skip
        print(
            f"\n{writer}, {size:g} MB files: lossless at "
            f"{', '.join(f'{g:g}' for g in good) or 'none'} MB/s"
        )
    if args.out:
        harness.save(args.out, args, results, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
