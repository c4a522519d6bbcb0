"""A task cannot make its root runner write, chown or rename anything outside its sandbox.

Each task runs as ``nobody`` under a root ``borealis run``. Its first process (``plant``)
plants something at a name the runner will open for the second process (``victim``): a
symbolic link at the log file, at the run's or the process's log directory or at ``.logs``,
a FIFO at the log file; a hard link is planted by the test itself (with
``fs.protected_hardlinks`` on, ``nobody`` cannot link a root file, but a host without it
could). Root-owned targets outside the sandbox must keep their owner, mode and content, and
the runner must finish the task: the victim's logging is refused (it fails to start, its
reason naming the log path) instead of following the task's link.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from support import borealis, replayed

from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a root runner needs root")

SECRET = "root-only secret\n"
ROTATE = "Logger(mode='rotate', rotate=RotatePolicy(log_size=1024, backups=3))"


def targets(tmp_path: Path) -> tuple[Path, Path]:
    """A root-only file and a root-only directory (holding a file named ``stdout``)."""
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    (vault / "stdout").write_text(SECRET)
    (vault / "stdout").chmod(0o600)
    return secret, vault


def snapshot(path: Path) -> object:
    st = path.lstat()
    if stat.S_ISDIR(st.st_mode):
        inside = sorted((p.name, snapshot(p)) for p in path.iterdir())
        return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), inside)
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_nlink, path.read_bytes())


def write_config(tmp_path: Path, plant: str, victim: str, logger: str = "") -> Path:
    with_logger = f", logger={logger}" if logger else ""
    path = tmp_path / "attack.aurora"
    path.write_text(
        f"plant = Process(name='plant', cmdline={plant!r})\n"
        f"victim = Process(name='victim', cmdline={victim!r}{with_logger})\n"
        "export(Task(name='attack', user='nobody', processes=[plant, victim],"
        " constraints=order(plant, victim)))\n"
    )
    return path


def run_task(root: CheckpointRoot, config: Path, task_id: str = "t1") -> None:
    try:
        borealis("run", str(config), "--root", str(root.path), "--task-id", task_id, "-q")
    except subprocess.TimeoutExpired:
        pytest.fail("the runner hung on the planted log path")


def victim_run(root: CheckpointRoot) -> tuple[ProcessState, str]:
    state = replayed(root, "t1")
    runs = state.runs("victim")
    assert runs, "the victim never ran"
    assert state.runs("plant")[-1].state is ProcessState.SUCCESS, "the attack was not planted"
    return runs[-1].state, runs[-1].reason


def assert_refused(root: CheckpointRoot, where: str) -> None:
    state, reason = victim_run(root)
    assert state is ProcessState.FAILED
    assert "refused" in reason and where in reason, reason


SYMLINK_ATTACKS = {
    "log file": ("mkdir -p .logs/victim/0 && ln -s {secret} .logs/victim/0/stdout", "stdout"),
    "run dir": ("mkdir -p .logs/victim && ln -s {vault} .logs/victim/0", ".logs/victim/0"),
    "process dir": ("ln -s {vault} .logs/victim", ".logs/victim"),
    ".logs": ("mv .logs .logs-moved && ln -s {vault} .logs", ".logs"),
}


@pytest.mark.parametrize("logger", ["", ROTATE], ids=["standard", "rotate"])
@pytest.mark.parametrize("attack", list(SYMLINK_ATTACKS))
def test_a_planted_symlink_is_never_followed(
    root: CheckpointRoot, tmp_path: Path, attack: str, logger: str
) -> None:
    secret, vault = targets(tmp_path)
    before = snapshot(secret), snapshot(vault)
    plant, where = SYMLINK_ATTACKS[attack]
    config = write_config(
        tmp_path, plant.format(secret=secret, vault=vault), "echo victim-output", logger
    )
    run_task(root, config)
    assert (snapshot(secret), snapshot(vault)) == before
    assert_refused(root, where)


def test_a_hard_link_to_a_root_file_is_not_written(root: CheckpointRoot, tmp_path: Path) -> None:
    secret, _ = targets(tmp_path)
    run_dir = root.path / "sandboxes" / "t1" / ".logs" / "victim" / "0"
    run_dir.mkdir(parents=True)
    os.link(secret, run_dir / "stdout")
    before = snapshot(secret)
    run_task(root, write_config(tmp_path, "true", "echo victim-output"))
    assert snapshot(secret) == before
    assert_refused(root, "stdout")


@pytest.mark.parametrize("logger", ["", ROTATE], ids=["standard", "rotate"])
def test_a_fifo_at_the_log_path_does_not_hang_the_runner(
    root: CheckpointRoot, tmp_path: Path, logger: str
) -> None:
    config = write_config(
        tmp_path, "mkdir -p .logs/victim/0 && mkfifo .logs/victim/0/stdout", "echo hi", logger
    )
    run_task(root, config)
    assert_refused(root, "stdout")


def test_rotation_renames_stay_in_the_run_directory(root: CheckpointRoot, tmp_path: Path) -> None:
    """The run's directory is swapped for a link to a root directory while the process logs:
    rotations go on in the directory the runner opened, and the root directory is untouched."""
    _, vault = targets(tmp_path)
    before = snapshot(vault)
    sandbox = root.path / "sandboxes" / "t1"
    # The victim writes a first line, waits for the swap, then writes enough to rotate.
    victim = (
        "echo first; while [ ! -e swapped ]; do sleep 0.05; done; "
        "for i in $(seq 1 200); do echo line-$i-padding-padding-padding-padding-padding; done"
    )
    swapper = (
        "while [ ! -s .logs/victim/0/stdout ]; do sleep 0.05; done; "
        f"mv .logs/victim/0 .logs/victim/moved && ln -s {vault} .logs/victim/0 && touch swapped"
    )
    path = tmp_path / "race.aurora"
    path.write_text(
        f"victim = Process(name='victim', cmdline={victim!r}, logger={ROTATE})\n"
        f"swapper = Process(name='swapper', cmdline={swapper!r})\n"
        "export(Task(name='race', user='nobody', processes=[victim, swapper]))\n"
    )
    run_task(root, path)
    assert (sandbox / "swapped").exists(), "the swap did not happen"
    assert snapshot(vault) == before
    moved = sandbox / ".logs" / "victim" / "moved"
    names = sorted(p.name for p in moved.iterdir())
    assert "stdout.1" in names, names  # it did rotate, in the directory it opened
    text = b"".join((moved / n).read_bytes() for n in names)
    assert b"line-200-" in text
    state = replayed(root, "t1")
    assert state.runs("victim")[-1].state is ProcessState.SUCCESS


def test_borealis_tail_refuses_a_linked_log_directory_in_one_line(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    _, vault = targets(tmp_path)
    plant = SYMLINK_ATTACKS["run dir"][0].format(vault=vault)
    run_task(root, write_config(tmp_path, plant, "echo victim-output"))
    tail = borealis("tail", "t1", "victim", "--root", str(root.path))
    assert tail.returncode != 0
    assert SECRET not in tail.stdout
    assert len(tail.stderr.strip().splitlines()) == 1 and "symbolic link" in tail.stderr
