"""What every benchmark program shares: a clean-up that always happens, medians and tables.

The benchmark process makes itself a *child subreaper* (``PR_SET_CHILD_SUBREAPER``):
a supervised process orphaned by a killed supervisor is re-parented to the benchmark,
not to init, so "every descendant of this process" names everything a run started,
including the orphans of a SIGKILLed supervisord. ``Workspace.reset()`` SIGKILLs all
of them, reaps them and checks that no ``sleep 1000`` of ours is left on the host.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

# Benchmarks run the same commands under every supervisor as whoever runs them (usually root):
# Borealis needs the operator to say so for root (docs/security.md, "Identities").
os.environ.setdefault("BOREALIS_ALLOW_ROOT_TASKS", "1")
os.environ.setdefault("BOREALIS_NO_SETUID", "1")

PR_SET_CHILD_SUBREAPER = 36
SLEEP_ARGV = ["sleep", "1000"]


def tool(name: str) -> str:
    """A console script installed next to the running interpreter (the benchmark venv)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run benchmarks/setup.sh and use benchmarks/.venv")
    return str(path)


def sleepers(under: Path) -> set[int]:
    """Pids of the live ``sleep 1000`` processes whose working directory is under ``under``.

    Every system is started with its working directory in the workspace (Borealis: the
    sandbox), so this names our sleeps and not those of anyone else on the host.
    """
    found = set()
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error, ValueError):
            info = proc.info
            if (
                info["cmdline"] == SLEEP_ARGV
                and info["status"] != psutil.STATUS_ZOMBIE
                and Path(proc.cwd()).is_relative_to(under)
            ):
                found.add(proc.pid)
    return found


def reap() -> None:
    """Collect every exited child (orphans adopted as subreaper included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(deadline: float = 15.0) -> int:
    """SIGKILL every descendant of this process until none is left; return how many."""
    me = psutil.Process()
    killed: set[int] = set()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        # Supervisors first (the direct children), so that none restarts what we kill next.
        tops = me.children()
        rest = [p for p in me.children(recursive=True) if p not in tops]
        live = [p for p in tops + rest if _alive(p)]
        if not live:
            reap()
            return len(killed)
        for proc in live:
            with contextlib.suppress(psutil.Error):
                proc.kill()
                killed.add(proc.pid)
        time.sleep(0.02)
        reap()
    raise RuntimeError(f"processes still alive after {deadline:.0f} s of SIGKILL")


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Workspace:
    """Temporary directories and processes of one benchmark program, always cleaned up."""

    def __init__(self, name: str, keep: bool = False) -> None:
        self.name = name
        self.keep = keep
        self.base = Path(tempfile.mkdtemp(prefix=f"borealis-bench-{name}-"))
        self._count = 0

    def __enter__(self) -> Workspace:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _exit_on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.reset()
        finally:
            if self.keep:
                print(f"kept {self.base}", file=sys.stderr)
            else:
                shutil.rmtree(self.base, ignore_errors=True)

    def directory(self, label: str) -> Path:
        """A fresh directory for one run."""
        self._count += 1
        path = self.base / f"{self._count:03d}-{label}"
        path.mkdir()
        return path

    def reset(self) -> None:
        """Kill everything this program started and check that no ``sleep 1000`` is left."""
        kill_descendants()
        remove_task_groups(self.base)
        left = self.ours()
        if left:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"leftover sleep processes after clean-up: {sorted(left)}")

    def ours(self) -> set[int]:
        return sleepers(self.base)


def remove_task_groups(base: Path) -> None:
    """Remove the cgroups of the Borealis tasks under ``base`` (each task's ``containment``
    record names them): a runner SIGKILLed by ``kill_descendants`` cannot remove its own, and
    empty groups would pile up under ``borealis/`` run after run."""
    for record in base.glob("**/checkpoints/*/containment"):
        with contextlib.suppress(OSError, ValueError):
            groups = json.loads(record.read_text()).get("groups", {})
            for directory in set(groups.values()):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)  # empty by now: every member was killed and reaped


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def wait_quiet(threshold: float = 10.0, patience: float = 90.0) -> float:
    """Wait (up to ``patience`` s) until the host is idle; return its busy % at the start.

    Between runs nothing of ours is alive, so CPU use then is someone else's (this host
    may be shared, e.g. with a test suite). A figure is worthless if another program
    competed for the two CPUs, so each run starts in a quiet moment when there is one.
    """
    end = time.monotonic() + patience
    while True:
        busy = psutil.cpu_percent(interval=0.5)
        if busy <= threshold or time.monotonic() > end:
            if busy > threshold:
                print(f"warning: host still {busy:.0f}% busy; measuring anyway", file=sys.stderr)
            return busy
        time.sleep(1.0)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float, what: str) -> float:
    """Poll ``condition`` until it holds; return ``time.time()`` when it was seen to hold."""
    end = time.monotonic() + timeout
    while True:
        if condition():
            return time.time()
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def repeat(
    ws: Workspace,
    systems: Sequence[str],
    runs: int,
    one: Callable[[str], dict[str, Any]],
    limits: Mapping[str, int] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run ``one(system)`` ``runs`` times per system, rotating the order, cleaning up after each.

    ``limits``: fewer repetitions for some systems (a slow peer); they take part in the
    first ones. Each result gets ``host_busy``: the host's CPU use (%) just before the run.
    """
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    limits = limits or {}
    for rep in range(runs):
        shift = rep % len(systems)
        for system in [*systems[shift:], *systems[:shift]]:
            if rep >= limits.get(system, runs):
                continue
            busy = wait_quiet()
            print(f"... run {rep + 1}/{runs}: {system}", file=sys.stderr, flush=True)
            try:
                result = one(system)
            finally:
                ws.reset()
            result["host_busy"] = busy
            results[system].append(result)
    return results


# -- figures -------------------------------------------------------------------------------


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a"
    if b == 0:
        return "inf" if a > 0 else "n/a"
    return f"{a / b:.2f}x"


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable on a terminal, pasteable into docs/benchmarks.md)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def save(path: Path, args: object, runs: object, medians: object) -> None:
    """Write the raw figures of one invocation as JSON (benchmarks/results/ is git-ignored)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "command": sys.argv,
        "machine": machine(),
        "args": vars(args),
        "runs": runs,
        "medians": medians,
    }
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")


def machine() -> str:
    """One line naming the machine, the interpreter and the peers' versions."""
    import importlib.metadata as md

    versions = []
    for name in ("borealis", "supervisor", "circus"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions.append(f"{name} {md.version(name)}")
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fp:
        for text in fp:
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Linux {os.uname().release}, "
        f"Python {sys.version.split()[0]}, " + ", ".join(versions) + f"; {borealis_source()}"
    )


PRODUCT_FOLDERS = ("contract", "executor", "agent", "observer", "scheduler", "cli")


def borealis_source() -> str:
    """Which Borealis code is measured: a commit snapshot, or a working tree and its state."""
    import borealis.executor

    # the installed file links back to the checkout (strict editable install)
    src = Path(borealis.executor.__file__).resolve().parent.parent
    marker = src / ".borealis-commit"
    if marker.exists():
        return f"borealis = snapshot of commit {marker.read_text().strip()[:12]}"

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(src), *args], capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", *PRODUCT_FOLDERS)
    return f"borealis = working tree {src} at {head}" + (
        " with uncommitted changes" if dirty else ""
    )


def systems_arg(value: str, known: Sequence[str]) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in known]
    if unknown:
        raise SystemExit(f"unknown system(s) {unknown}; choose from {', '.join(known)}")
    return [k for k in known if k in chosen]
