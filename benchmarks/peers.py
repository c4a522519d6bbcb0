"""The supervisors under comparison, each started with N ``sleep 1000`` processes.

Every system answers the same questions, each through its own interface:

* ``start()``            spawn the supervisor; return ``time.time()`` just before the spawn
* ``all_running()``      does the supervisor report all N processes RUNNING / active?
* ``ready_at``           when the supervisor itself was first seen up (see each class)
* ``pids()``             the pid of each supervised process, as the supervisor reports it
* ``overhead()``         the processes whose CPU and memory are the supervisor's cost
* ``kill()``/``restart()`` SIGKILL the supervisor alone / start it again on the same state

Systems, each with its default settings unless noted:

* ``popen``      the floor: a bare Python parent that ``Popen``s N sleeps and waits
* ``borealis``   ``borealis run CONFIG --root ROOT --task-id ID`` with N processes
* ``supervisord`` ``supervisord -n`` with N ``[program:x]`` sections, ``startsecs = 0``
* ``circus``     ``circusd`` with N ``[watcher:x]`` sections (or one watcher with
  ``numprocesses = N``)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import subprocess
import sys
import time
import uuid
import xmlrpc.client
from pathlib import Path
from typing import Any

import psutil
from harness import SLEEP_ARGV, tool

from borealis.contract import replay
from borealis.contract.states import ProcessState

SLEEP_CMD = " ".join(SLEEP_ARGV)


def names(count: int) -> list[str]:
    return [f"p{i:03d}" for i in range(count)]


NAME = re.compile(r"\bp\d{3}\b")  # any of names(): a helper per process may carry it


class System:
    name = "?"

    def __init__(self, workdir: Path, count: int) -> None:
        self.workdir = workdir
        self.count = count
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_at: float | None = None
        self.log = workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> float:
        self.ready_at = None
        with open(self.log, "ab") as log:
            t0 = time.time()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # a Ctrl-C of the benchmark reaches no supervisor
            )
        return t0

    def restart(self) -> float:
        return self.start()

    def all_running(self) -> bool:
        raise NotImplementedError

    def pids(self) -> dict[str, int]:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def overhead(self) -> list[psutil.Process]:
        """The supervisor's processes: every live process this run started but the sleeps.

        That is every descendant of the benchmark process (one system runs at a time) that
        is not a supervised ``sleep 1000`` nor a zombie, the supervisor first. No process
        name is assumed, and a helper the supervisor double-forks (re-parented to the
        benchmark, a child subreaper) still counts.
        """
        top = psutil.Process(self.pid)
        found = [top]
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if (
                    child.pid != top.pid
                    and child.status() != psutil.STATUS_ZOMBIE
                    and child.cmdline() != SLEEP_ARGV
                ):
                    found.append(child)
        return found

    def kill(self) -> None:
        """SIGKILL the supervisor alone (its children are left as they are)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class PopenParent(System):
    """The floor: a Python parent that Popens N sleeps and blocks in ``wait()``."""

    name = "popen"
    SCRIPT = (
        "import subprocess\n"
        "procs = [subprocess.Popen({argv!r}) for _ in range({count})]\n"
        "for p in procs:\n"
        "    p.wait()\n"
    )

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.SCRIPT.format(argv=SLEEP_ARGV, count=self.count)]

    def _children(self) -> list[int]:
        with contextlib.suppress(psutil.Error):
            return [c.pid for c in psutil.Process(self.pid).children() if c.cmdline() == SLEEP_ARGV]
        return []

    def all_running(self) -> bool:
        if self.ready_at is None:
            self.ready_at = time.time()
        return len(self._children()) == self.count

    def pids(self) -> dict[str, int]:
        return dict(zip(names(self.count), sorted(self._children()), strict=True))


class Borealis(System):
    """``borealis run`` on a generated .aurora config; state read from the checkpoint.

    ``ready_at`` is the time in the newest ``runner`` record: when the runner process,
    its imports and the config load done, took control of the task.
    """

    name = "borealis"

    def __init__(
        self,
        workdir: Path,
        count: int,
        *,
        task_id: str = "bench",
        process_fields: str = "",
        runner_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(workdir, count)
        self.root = workdir / "root"
        self.task_id = task_id
        self.config = workdir / "sleepers.aurora"
        self.runner_args = runner_args
        self.config.write_text(self.config_text(process_fields))
        self.follower = replay.Follower(self.stream)
        self.runners_seen = 0
        self.restarted = False

    def config_text(self, process_fields: str) -> str:
        extra = f", {process_fields}" if process_fields else ""
        lines = [
            f"{n} = Process(name='{n}', cmdline='{SLEEP_CMD}'{extra})" for n in names(self.count)
        ]
        lines.append(
            "export(Task(name='sleepers', processes=[{}], "
            "resources=Resources(cpu=1, ram=256*MB, disk=256*MB)))".format(
                ", ".join(names(self.count))
            )
        )
        return "\n".join(lines) + "\n"

    @property
    def stream(self) -> Path:
        return self.root / "checkpoints" / self.task_id / "runner"

    def command(self) -> list[str]:
        if self.restarted:
            return [
                tool("borealis"),
                "runner",
                self.task_id,
                "--root",
                str(self.root),
                "-q",
                *self.runner_args,
            ]
        return [
            tool("borealis"),
            "run",
            str(self.config),
            "--root",
            str(self.root),
            "--task-id",
            self.task_id,
            "-q",
            *self.runner_args,
        ]

    def start(self) -> float:
        self.follower.update()  # whatever is on disk already is not this start's doing
        self.runners_seen = len(self.follower.state.runners)
        return super().start()

    def restart(self) -> float:
        self.restarted = True
        return self.start()

    @property
    def state(self) -> replay.RunnerState:
        return self.follower.state

    def update(self) -> None:
        self.follower.update()
        runners = self.state.runners
        if self.ready_at is None and len(runners) > self.runners_seen:
            self.ready_at = runners[-1].time

    def running(self) -> int:
        return sum(
            1
            for runs in self.state.processes.values()
            if runs and runs[-1].state is ProcessState.RUNNING
        )

    def all_running(self) -> bool:
        self.update()
        return self.ready_at is not None and self.running() == self.count

    def pids(self) -> dict[str, int]:
        found = {}
        for name, runs in self.state.processes.items():
            if runs and runs[-1].state is ProcessState.RUNNING and runs[-1].pid is not None:
                found[name] = runs[-1].pid.pid
        return found


class Supervisord(System):
    """``supervisord -n``; state read over its XML-RPC interface on a unix socket.

    ``ready_at`` is the first time its XML-RPC interface answered.
    """

    name = "supervisord"

    def __init__(self, workdir: Path, count: int) -> None:
        super().__init__(workdir, count)
        self.sock = workdir / "supervisor.sock"
        self.conf = workdir / "supervisord.conf"
        (workdir / "childlogs").mkdir()
        sections = [
            f"[unix_http_server]\nfile = {self.sock}\n",
            f"[supervisord]\nnodaemon = true\nlogfile = {workdir}/supervisord.log\n"
            f"pidfile = {workdir}/supervisord.pid\nchildlogdir = {workdir}/childlogs\n",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
            f"[supervisorctl]\nserverurl = unix://{self.sock}\n",
        ]
        sections += [f"[program:{n}]\ncommand = {SLEEP_CMD}\nstartsecs = 0\n" for n in names(count)]
        self.conf.write_text("\n".join(sections))
        self._rpc: Any = None

    def command(self) -> list[str]:
        return [tool("supervisord"), "-n", "-c", str(self.conf)]

    def start(self) -> float:
        self._rpc = None
        return super().start()

    def _info(self) -> list[dict[str, Any]] | None:
        from supervisor.xmlrpc import SupervisorTransport

        if self._rpc is None:
            transport = SupervisorTransport(None, None, f"unix://{self.sock}")
            self._rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        try:
            info: list[dict[str, Any]] = self._rpc.supervisor.getAllProcessInfo()
        except (OSError, http.client.HTTPException, xmlrpc.client.Error):  # not up yet
            self._rpc = None
            return None
        if self.ready_at is None:
            self.ready_at = time.time()
        return info

    def all_running(self) -> bool:
        info = self._info()
        return (
            info is not None
            and len(info) == self.count
            and all(p["statename"] == "RUNNING" for p in info)
        )

    def pids(self) -> dict[str, int]:
        info = self._info() or []
        return {p["name"]: p["pid"] for p in info if p["statename"] == "RUNNING"}


class Circus(System):
    """``circusd``; state read with the ``status`` / ``list`` commands over its ZeroMQ endpoint.

    ``ready_at`` is the first time its control endpoint answered.
    """

    name = "circus"

    def __init__(self, workdir: Path, count: int, *, one_watcher: bool = False) -> None:
        super().__init__(workdir, count)
        self.one_watcher = one_watcher
        self.endpoint = f"ipc://{workdir}/circus-ctl.sock"
        self.conf = workdir / "circus.ini"
        sections = [
            f"[circus]\nendpoint = {self.endpoint}\n"
            f"pubsub_endpoint = ipc://{workdir}/circus-pub.sock\n"
            # No stats_endpoint: naming one turns circusd-stats on. No multicast
            # discovery socket either: nothing here should listen beyond this host.
            "statsd = false\nmulticast_endpoint =\n"
            f"logoutput = {workdir}/circusd.log\n"
        ]
        if one_watcher:
            sections.append(f"[watcher:sleepers]\ncmd = {SLEEP_CMD}\nnumprocesses = {count}\n")
        else:
            sections += [
                f"[watcher:{n}]\ncmd = {SLEEP_CMD}\nnumprocesses = 1\n" for n in names(count)
            ]
        self.conf.write_text("\n".join(sections))
        self._socket: Any = None

    def command(self) -> list[str]:
        return [tool("circusd"), str(self.conf)]

    def start(self) -> float:
        self._close()
        return super().start()

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def call(self, command: str, timeout: float = 30.0, **props: Any) -> dict[str, Any]:
        """One request/answer on circusd's control endpoint (what ``circusctl`` does)."""
        import zmq

        if self._socket is None:
            self._socket = zmq.Context.instance().socket(zmq.DEALER)
            self._socket.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.setsockopt(zmq.RECONNECT_IVL, 10)  # ms; the default 100 blurs ready_at
            self._socket.connect(self.endpoint)
        call_id = uuid.uuid4().hex
        self._socket.send(
            json.dumps({"id": call_id, "command": command, "properties": props}).encode()
        )
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            if not self._socket.poll(int(left * 1000)):
                break
            answer: dict[str, Any] = json.loads(self._socket.recv())
            if answer.get("id") == call_id:
                if self.ready_at is None:
                    self.ready_at = time.time()
                return answer
        self._close()
        raise TimeoutError(f"circusd did not answer {command!r} within {timeout:.0f} s")

    def all_running(self) -> bool:
        statuses = self.call("status").get("statuses", {})
        expected = 1 if self.one_watcher else self.count
        return len(statuses) == expected and all(s == "active" for s in statuses.values())

    def pids(self) -> dict[str, int]:
        if self.one_watcher:
            found = sorted(self.call("list", name="sleepers").get("pids", []))
            return dict(zip(names(len(found)), found, strict=True))
        found = {}
        for n in names(self.count):
            pids = self.call("list", name=n).get("pids", [])
            if pids:
                found[n] = pids[0]
        return found


def process_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    """User + system CPU time of each process that is still there, by pid."""
    times = {}
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            t = proc.cpu_times()
            times[proc.pid] = t.user + t.system
    return times


def memory(procs: list[psutil.Process]) -> tuple[int, int, int]:
    """Sums of RSS, PSS and USS (bytes) over ``procs``."""
    rss = pss = uss = 0
    for proc in procs:
        info = proc.memory_full_info()
        rss += info.rss
        pss += info.pss
        uss += info.uss
    return rss, pss, uss


def depth(proc: psutil.Process) -> int:
    """How many parents up this process's benchmark is (1: started by the benchmark)."""
    me = psutil.Process().pid
    steps, current = 0, proc
    while current is not None and current.pid != me:
        steps += 1
        current = current.parent()
    return steps


def label(proc: psutil.Process, workdir: Path) -> str:
    """What a process is, the same across runs: depth, name (comm) and command line.

    The run's directory reads ``WORK``, a program of the benchmark's venv its base name and
    a supervised process's name (``p007``) ``p*``, so that like processes group together; a
    process forked without exec (same command line as its parent) is told apart by its
    depth and by the name it may set.
    """
    bindir = str(Path(sys.executable).parent) + "/"
    words = []
    for word in proc.cmdline():
        if word.startswith(bindir):
            word = word[len(bindir) :]
        words.append(word.replace(str(workdir), "WORK"))
    line = NAME.sub("p*", " ".join(words).replace("\n", "\\n"))
    if len(line) > 72:
        line = line[:69] + "..."
    return f"[{depth(proc)}] {NAME.sub('p*', proc.name())}: {line}"
