"""One synthetic host for the observer tests: real tasks run by the real runner, and one
``borealis observer`` over them (session-scoped: built once, about ten seconds).

=========  ===========================================================================
task id    what it is
=========  ===========================================================================
ok         finished, SUCCESS (``hello``)
failed     finished, FAILED: ``boom`` exits 3
killed     finished, KILLED by ``borealis kill`` while ``sleeper`` ran
rotated    finished, SUCCESS: ``writer`` wrote 20,000 lines into 64 KiB rotated files
live       active: ``ticker`` (a line every 0.2 s), ``chatter`` (rotated at 32 KiB, then
           sleeps) and three sleepers: five processes
xss        finished: processes named ``<script>alert(1)`` and ``<img src=x onerror=...>``,
           a task name and log lines made of HTML
p1         finished: its sandbox holds a secret, links to /etc/passwd, to / and to the
           sandbox of ``p10``, a FIFO and nested directories
p10        finished: its sandbox holds another secret (the ``/x/p1`` vs ``/x/p10`` case)
=========  ===========================================================================
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from observing import Host, start_observer, stop_observer
from support import REPO, borealis, kill_leftovers, replayed, wait_for

from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState

CONFIGS = {
    "ok": "export(Task(name='ok', processes=[Process(name='hello', cmdline='echo hello world')]))",
    "failed": (
        "export(Task(name='failed', processes=[Process(name='boom',"
        " cmdline='echo about to fail; echo oops >&2; exit 3')]))"
    ),
    "killed": (
        "export(Task(name='killed', processes=[Process(name='sleeper', cmdline='sleep 100000')],"
        " finalization_wait=5))"
    ),
    "rotated": (
        "export(Task(name='rotated', processes=[Process(name='writer',"
        " cmdline=\"seq -f 'line %06g of the rotated log' 1 20000\","
        " logger=Logger(mode='rotate', rotate=RotatePolicy(log_size=64*KB, backups=20)))]))"
    ),
    "live": (
        "export(Task(name='live', processes=["
        "Process(name='ticker', cmdline='i=0; while true; do i=$((i+1)); echo \"tick $i\";"
        " sleep 0.2; done'),"
        "Process(name='chatter', cmdline=\"seq -f 'chatter %06g' 1 10000; sleep 100000\","
        " logger=Logger(mode='rotate', rotate=RotatePolicy(log_size=32*KB, backups=20))),"
        "Process(name='s1', cmdline='sleep 100000'),"
        "Process(name='s2', cmdline='sleep 100000'),"
        "Process(name='s3', cmdline='sleep 100000')],"
        " resources=Resources(cpu=1, ram=256*MB, disk=512*MB)))"
    ),
    "xss": (
        "export(Task(name='<b onmouseover=alert(4)>xss', processes=["
        "Process(name='<script>alert(1)', cmdline='echo \"<script>alert(3)</script>\"'),"
        "Process(name='<img src=x onerror=alert(2)>',"
        " cmdline='echo \"<img src=x onerror=window.__xss=1>\"')]))"
    ),
    "p1": (
        "export(Task(name='p1', processes=[Process(name='setup', cmdline="
        "'echo secret-of-p1 > secret.txt && ln -s /etc/passwd passwd_link && ln -s / root_link"
        " && ln -s ../p10/secret.txt sibling_link && ln -s ../p10 sibling_dir && mkfifo pipe"
        " && mkdir -p sub/dir && echo nested file > sub/dir/file.txt"
        ' && printf "caf\\\\303\\\\251 na\\\\303\\\\257ve\\\\n" > utf8.txt\')]))'
    ),
    "p10": (
        "export(Task(name='p10', processes=[Process(name='setup',"
        " cmdline='echo secret-of-p10 > secret.txt')]))"
    ),
}
FINISHED = ["ok", "failed", "rotated", "xss", "p1", "p10"]


def _running(root: CheckpointRoot, task_id: str, names: list[str]) -> bool:
    try:
        state = replayed(root, task_id)
    except FileNotFoundError:
        return False
    return all(
        (run := state.last_run(n)) is not None and run.state is ProcessState.RUNNING for n in names
    )


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    base = tmp_path_factory.mktemp("observer-host")
    root = CheckpointRoot(base / "root")
    root.ensure()
    configs = base / "configs"
    configs.mkdir()
    for name, text in CONFIGS.items():
        (configs / f"{name}.aurora").write_text(text + "\n")
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "borealis.cli.main",
                "run",
                str(configs / f"{name}.aurora"),
                "--root",
                str(root.path),
                "--task-id",
                name,
                "-q",
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in [*FINISHED, "killed", "live"]
    ]
    try:
        for proc, name in zip(runs, [*FINISHED, "killed", "live"], strict=True):
            if name in FINISHED:
                proc.wait(timeout=60)
        wait_for(lambda: _running(root, "killed", ["sleeper"]), 30, "killed's sleeper")
        killed = borealis("kill", "killed", "--root", str(root.path))
        assert killed.returncode == 0, killed.stderr
        names = ["ticker", "chatter", "s1", "s2", "s3"]
        wait_for(lambda: _running(root, "live", names), 30, "live's processes")
        observer = start_observer(base / "observer.log", "--root", str(root.path))
        yield Host(root, observer, configs)
        stop_observer(observer)
    finally:
        for proc in runs:
            if proc.poll() is None:
                proc.terminate()
        for proc in runs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        kill_leftovers(base)
