"""Containment in cgroups (docs/security.md): escapees, fork bombs, RAM, crashes, fallback.

Real cgroups of this host; every group a test causes is removed by the runner at the end
of its task (asserted), or by the test's own clean-up when it fails. Skipped only where
cgroups are not writable (not root, or a read-only hierarchy), with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import borealis, gone, marked, replayed, start_borealis, wait_for

from borealis.contract.causes import OverLimit, Resource
from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState, TaskState


def _writable() -> str:
    """Why cgroups cannot be used here ('' when they can): a probe group in our own unified
    group (found without the module under test, so that old code fails rather than errors)."""
    if os.geteuid() != 0:
        return "not root"
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    unified = next((m[1] for m in mounts if m[2] == "cgroup2"), None)
    own = next(
        (ln[3:] for ln in Path("/proc/self/cgroup").read_text().splitlines() if ln[:3] == "0::"),
        "/",
    )
    if unified is None:
        return "no cgroup2 hierarchy mounted"
    probe = Path(unified + own.rstrip("/")) / f"borealis-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as e:
        return f"the unified cgroup hierarchy is not writable: {e}"
    return ""


pytestmark = pytest.mark.skipif(bool(_writable()), reason=_writable() or "cgroups writable")


def groups_of(root: CheckpointRoot, task_id: str) -> dict[str, Path]:
    record = json.loads(root.task(task_id).containment.read_text())
    assert record["mode"] == "cgroup", record
    return {role: Path(d) for role, d in record["groups"].items()}


def members(group: Path) -> set[int]:
    return {int(p) for p in (group / "cgroup.procs").read_text().split()}


@contextlib.contextmanager
def removing_groups(root: CheckpointRoot, task_id: str) -> Iterator[None]:
    """On failure, leave no group behind (the runner removes them on success)."""
    try:
        yield
    finally:
        path = root.task(task_id).containment
        record = json.loads(path.read_text()) if path.exists() else {}
        groups = [Path(d) for d in set(record.get("groups", {}).values()) if Path(d).is_dir()]
        for group in groups:
            if (group / "cgroup.kill").exists():
                (group / "cgroup.kill").write_text("1")
            for pid in members(group):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for group in groups:
            wait_for(lambda g=group: not members(g), 10, f"{group} to empty")
            group.rmdir()
            with contextlib.suppress(OSError):  # other tasks' groups may still be in it
                group.parent.rmdir()


def running(root: CheckpointRoot, task_id: str, name: str) -> bool:
    try:
        run = replayed(root, task_id).last_run(name)
    except FileNotFoundError:
        return False
    return run is not None and run.state is ProcessState.RUNNING


def start(
    root: CheckpointRoot, tmp_path: Path, task_id: str, body: str, *flags: str
) -> subprocess.Popen[bytes]:
    config = tmp_path / f"{task_id}.aurora"
    config.write_text(body)
    args = ["run", str(config), "--root", str(root.path), "--task-id", task_id, *flags]
    return start_borealis(*args, log=tmp_path / f"{task_id}.log")


# An escapee: forked twice (the shell in between exits, so it is re-parented to the
# runner, the subreaper), in a session of its own, without the task's environment marker.
ESCAPE = (
    "sh -c 'env -u BOREALIS_TASK_ID setsid sleep 1000 & echo $! > escapee.pid' & wait; sleep 1000"
)


def test_kill_reaches_a_double_forked_escapee_without_the_marker(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    body = f'''
p = Process(name='p', cmdline="{ESCAPE}")
export(Task(name='e', processes=[p]))
'''
    with removing_groups(root, "e"):
        proc = start(root, tmp_path, "e", body, "--kill-grace", "1s")
        sandbox = root.path / "sandboxes/e"
        wait_for(lambda: running(root, "e", "p"), 20, "p running")
        pid_file = sandbox / "escapee.pid"
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 10, "the escapee")
        escapee = int(pid_file.read_text())
        try:
            assert escapee not in marked("e", sandbox)  # tree walk and marker both miss it
            result = borealis("kill", "e", "--root", str(root.path))
            assert result.returncode == 0, result.stderr
            assert "KILLED" in result.stdout
            assert proc.wait(30) == 3
            assert gone(escapee), "the escapee survived borealis kill"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(escapee, signal.SIGKILL)
        for group in groups_of(root, "e").values():
            assert not group.exists(), f"{group} left behind"


BOMB = """\
import os, time
made = refused = 0
for _ in range(200):
    try:
        pid = os.fork()
    except BlockingIOError:  # EAGAIN: pids.max reached
        refused += 1
        continue
    if pid == 0:
        time.sleep(1000)
        os._exit(0)
    made += 1
open("bomb.out", "w").write(f"{made} {refused}")
time.sleep(1000)
"""


def test_a_fork_bomb_stops_at_pids_max_and_kill_cleans_up(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    script = tmp_path / "bomb.py"
    script.write_text(BOMB)
    body = f"""
p = Process(name='p', cmdline='exec python3 {script}')
export(Task(name='b', processes=[p]))
"""
    with removing_groups(root, "b"):
        proc = start(root, tmp_path, "b", body, "--max-pids", "16", "--kill-grace", "1s")
        out = root.path / "sandboxes/b/bomb.out"
        wait_for(lambda: out.exists() and out.read_text(), 60, "the bomb to finish forking")
        made, refused = map(int, out.read_text().split())
        assert refused > 0, f"all {made} forks succeeded: no pids limit"
        assert made < 16
        groups = groups_of(root, "b")
        assert len(members(groups["pids"])) <= 16
        assert int((groups["pids"] / "pids.max").read_text()) == 16
        assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks
        result = borealis("kill", "b", "--root", str(root.path))
        assert result.returncode == 0, result.stderr
        assert proc.wait(30) == 3
        assert marked("b", root.path / "sandboxes/b") == []
        for group in groups.values():
            assert not group.exists()


def test_a_process_over_the_tasks_ram_is_stopped_by_the_kernel_with_the_cause(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    # 256 MiB, every page written, in a task that reserves 64 MiB; it would then succeed
    hog = tmp_path / "hog.py"
    hog.write_text("data = b'x' * (256 << 20)\nprint(len(data))\n")
    body = f"""
p = Process(name='p', cmdline='exec python3 {hog}')
export(Task(name='m', processes=[p], resources=Resources(cpu=1, ram=64*MB, disk=512*MB)))
"""
    with removing_groups(root, "m"):
        proc = start(root, tmp_path, "m", body)
        assert proc.wait(60) != 0
        state = replayed(root, "m")
        assert state.task_state is TaskState.FAILED
        why = state.statuses[-1].why
        assert isinstance(why, OverLimit) and why.resource is Resource.RAM, why
        assert why.oom_kills >= 1 and why.reserved == 64 << 20
        assert "out of memory" in state.statuses[-1].reason
        run = state.last_run("p")
        assert run is not None and run.return_code == -signal.SIGKILL
        assert run.state is ProcessState.FAILED and "out of memory" in run.reason, run
        status = borealis("status", "m", "--root", str(root.path))
        assert "out of memory" in status.stdout
        for group in groups_of(root, "m").values():
            assert not group.exists()


def test_a_restarted_runner_keeps_the_one_group_and_its_members(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    body = """
p = Process(name='p', cmdline='sleep 1000 & sleep 1000; wait')
export(Task(name='r', processes=[p]))
"""
    with removing_groups(root, "r"):
        first = start(root, tmp_path, "r", body, "--kill-grace", "1s")
        wait_for(lambda: running(root, "r", "p"), 20, "p running")
        groups = groups_of(root, "r")
        unified = groups["unified"]
        wait_for(lambda: len(members(unified)) == 3, 10, "bash and two sleeps in the group")
        before = members(unified)
        runner = replayed(root, "r").runners[-1].identity.pid
        os.kill(runner, signal.SIGKILL)
        first.wait(10)
        again = start_borealis("runner", "r", "--root", str(root.path), log=tmp_path / "2.log")
        wait_for(lambda: len(replayed(root, "r").runners) == 2, 20, "the second runner")
        assert groups_of(root, "r") == groups  # the same groups, none created beside them
        siblings = [d.name for d in unified.parent.iterdir() if d.is_dir()]
        assert siblings.count(unified.name) == 1
        assert members(unified) == before
        result = borealis("kill", "r", "--root", str(root.path))
        assert result.returncode == 0, result.stderr
        assert again.wait(30) == 3
        assert not any(members_left(g) for g in groups.values())


def members_left(group: Path) -> bool:
    return group.exists() and bool(members(group))


def test_the_group_is_removed_when_the_task_ends(root: CheckpointRoot, tmp_path: Path) -> None:
    body = """
p = Process(name='p', cmdline='cat /proc/self/cgroup > cgroup.txt')
export(Task(name='g', processes=[p]))
"""
    with removing_groups(root, "g"):
        assert start(root, tmp_path, "g", body).wait(60) == 0
        groups = groups_of(root, "g")
        inside = (root.path / "sandboxes/g/cgroup.txt").read_text()
        assert f"/borealis/{groups['unified'].name}\n" in inside  # it ran inside the group
        assert groups["unified"].name.startswith("g@")
        for group in groups.values():
            assert not group.exists(), f"{group} left behind"


def test_read_only_cgroups_fall_back_to_process_trees_and_status_says_so(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = tmp_path / "f.aurora"
    config.write_text("export(Task(name='f', processes=[Process(name='p', cmdline='true')]))\n")
    # a private mount namespace in which every cgroup hierarchy is read-only
    remount = (
        "for m in $(awk '$9 ~ /^cgroup/ {print $5}' /proc/self/mountinfo); do "
        'mount -o remount,bind,ro "$m" || exit 99; done; exec "$@"'
    )
    cli = [sys.executable, "-m", "borealis.cli.main"]
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", remount, "sh", *cli,
         "run", str(config), "--root", str(root.path), "--task-id", "f"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(root.task("f").containment.read_text())
    assert record["mode"] == "process-tree"
    status = borealis("status", "f", "--root", str(root.path))
    line = next(x for x in status.stdout.splitlines() if x.strip().startswith("contain"))
    assert "process tree" in line and "Read-only file system" in line, line
    shown = json.loads(borealis("status", "f", "--root", str(root.path), "--json").stdout)
    assert shown["containment"]["mode"] == "process-tree"


def test_a_kill_spares_a_task_of_the_same_id_under_another_root(tmp_path: Path) -> None:
    roots = [CheckpointRoot(tmp_path / name) for name in ("one", "two")]
    body = "export(Task(name='s', processes=[Process(name='p', cmdline='sleep 1000')]))\n"
    config = tmp_path / "s.aurora"
    config.write_text(body)
    with removing_groups(roots[0], "s"), removing_groups(roots[1], "s"):
        procs = []
        for r in roots:
            args = ["run", str(config), "--root", str(r.path), "--task-id", "s"]
            procs.append(start_borealis(*args, log=tmp_path / f"{r.path.name}.log"))
        for r in roots:
            wait_for(lambda r=r: running(r, "s", "p"), 20, "p running")
        assert groups_of(roots[0], "s") != groups_of(roots[1], "s")
        result = borealis("kill", "s", "--root", str(roots[0].path))
        assert result.returncode == 0, result.stderr
        assert procs[0].wait(30) == 3
        assert procs[1].poll() is None and running(roots[1], "s", "p")
        assert members(groups_of(roots[1], "s")["unified"])
        assert borealis("kill", "s", "--root", str(roots[1].path)).returncode == 0
        assert procs[1].wait(30) == 3


def test_without_cgroup_kill_the_v1_freezer_kills_every_member(tmp_path: Path) -> None:
    """The kill used where no unified hierarchy is writable: freeze, SIGKILL each, thaw."""
    from borealis.executor.runner.cgroup_join import entered
    from borealis.executor.runner.cgroup_layout import detect, plan
    from borealis.executor.runner.cgroups import TaskGroup

    v1 = [h for h in detect() if h.version == 1 and h.controllers & {"freezer", "pids"}]
    if not any("freezer" in h.controllers for h in v1):
        pytest.skip("no v1 freezer hierarchy on this host")
    groups, homes = plan(f"freezer-test-{os.getpid()}", v1)
    group = TaskGroup(groups, homes)
    group.create()
    try:
        assert set(groups) == {"freezer", "pids"}
        with entered(group.moves()):  # as a coordinator does: the child is born inside
            tree = subprocess.Popen(
                ["sh", "-c", "for i in 1 2 3 4 5; do sleep 1000 & done; exec sleep 1000"]
            )
        mine = (Path("/proc/self/cgroup")).read_text()
        assert f"freezer-test-{os.getpid()}" not in mine  # we went back home
        wait_for(lambda: len(group.pids()) == 6, 10, "six members", seen=group.pids)
        group.kill()
        assert tree.wait(10) == -signal.SIGKILL
        wait_for(lambda: not group.pids(), 10, "an empty group", seen=group.pids)
        state = (Path(groups["freezer"]) / "freezer.state").read_text().strip()
        assert state == "THAWED"
    finally:
        for pid in group.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert group.remove()
    assert not any(Path(d).exists() for d in groups.values())


def test_a_group_named_by_an_earlier_version_is_found_again_and_a_foreign_one_refused(
    tmp_path: Path,
) -> None:
    """Group names changed in issue #13 (zlib, not SHA-256): a runner restarted on a task an
    earlier version started still finds its recorded group; a record naming a group that is
    neither name of this task is still refused."""
    from borealis.contract import containment
    from borealis.contract.containment import Containment, Mode
    from borealis.executor.runner.cgroup_layout import detect, legacy_group_name, plan
    from borealis.executor.runner.cgroups import contain

    checkpoint = tmp_path / "checkpoints" / "old"
    checkpoint.mkdir(parents=True)
    record = checkpoint / "containment"
    hierarchies = detect()
    legacy, _ = plan(legacy_group_name("old", checkpoint), hierarchies)
    containment.write(record, Containment(Mode.CGROUP, legacy, None, 64, ""))
    group, decided = contain(record, "old", memory_max=None, pids_max=64)
    try:
        assert group is not None and decided.groups == legacy
        assert all(Path(d).is_dir() for d in legacy.values())
    finally:
        if group is not None:
            group.remove()
    foreign, _ = plan("other@0123456789", hierarchies)
    containment.write(record, Containment(Mode.CGROUP, foreign, None, 64, ""))
    with pytest.raises(ValueError, match="is not this task's group"):
        contain(record, "old", memory_max=None, pids_max=64)
