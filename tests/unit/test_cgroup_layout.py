"""Finding the cgroup layout from mountinfo and /proc/self/cgroup (hybrid, pure v2, v1, namespaced)
and the containment record's checks. The hierarchies are directories under tmp_path."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from borealis.contract import containment
from borealis.contract.containment import Containment, Mode
from borealis.executor.runner.cgroup_layout import detect, group_name, legacy_group_name, plan


def fake_proc(tmp_path: Path, mounts: list[tuple[str, str, str, str]], cgroup: str) -> Path:
    """mounts: (mount root, mount point under tmp_path, fstype, super options)."""
    proc = tmp_path / "proc"
    proc.mkdir()
    lines = []
    for n, (root, point, fstype, options) in enumerate(mounts):
        where = tmp_path / point
        where.mkdir(parents=True, exist_ok=True)
        lines.append(f"{30 + n} 23 0:{n} {root} {where} rw,relatime - {fstype} {fstype} {options}")
    lines.insert(0, "23 1 8:1 / / rw - ext4 /dev/sda1 rw")
    (proc / "mountinfo").write_text("\n".join(lines) + "\n")
    (proc / "cgroup").write_text(cgroup)
    return proc


def test_a_hybrid_host_uses_unified_for_kill_and_v1_for_memory_and_pids(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        [
            ("/", "cg/memory", "cgroup", "rw,memory"),
            ("/", "cg/pids", "cgroup", "rw,pids"),
            ("/", "cg/freezer", "cgroup", "rw,freezer"),
            ("/", "cg/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
            ("/", "cg/unified", "cgroup2", "rw"),
        ],
        "5:memory:/svc/a\n4:pids:/\n3:freezer:/\n2:cpu,cpuacct:/\n0::/\n",
    )
    (tmp_path / "cg/unified/cgroup.controllers").write_text("\n")
    groups, homes = plan("web-0", detect(proc))
    assert groups == {
        "unified": str(tmp_path / "cg/unified/borealis/web-0"),
        "memory": str(tmp_path / "cg/memory/svc/a/borealis/web-0"),
        "pids": str(tmp_path / "cg/pids/borealis/web-0"),
    }
    assert homes["memory"] == str(tmp_path / "cg/memory/svc/a")


def test_a_pure_v2_host_takes_every_role_from_the_unified_hierarchy(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, [("/", "cg", "cgroup2", "rw,nsdelegate")], "0::/system.slice/x\n")
    (tmp_path / "cg/system.slice/x").mkdir(parents=True)
    (tmp_path / "cg/system.slice/x/cgroup.controllers").write_text("cpu io memory pids\n")
    groups, _ = plan("t", detect(proc))
    where = str(tmp_path / "cg/system.slice/x/borealis/t")
    assert groups == {"unified": where, "memory": where, "pids": where}


def test_v1_only_kills_through_the_freezer(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        [("/", "cg/freezer", "cgroup", "rw,freezer"), ("/", "cg/pids", "cgroup", "rw,pids")],
        "2:freezer:/\n1:pids:/\n",
    )
    assert set(plan("t", detect(proc))[0]) == {"freezer", "pids"}


def test_a_group_outside_the_mounted_subtree_is_not_used(tmp_path: Path) -> None:
    # a container sees only its own subtree: mount root /docker/c1
    proc = fake_proc(
        tmp_path,
        [
            ("/docker/c1", "cg/pids", "cgroup", "rw,pids"),
            ("/docker/c1", "cg/mem", "cgroup", "rw,memory"),
        ],
        "2:pids:/docker/c1/inner\n1:memory:/elsewhere\n",
    )
    groups, _ = plan("t", detect(proc))
    assert groups == {"pids": str(tmp_path / "cg/pids/inner/borealis/t")}


def test_no_cgroup_mounted_means_no_hierarchy(tmp_path: Path) -> None:
    assert detect(fake_proc(tmp_path, [], "0::/\n")) == []


def test_the_record_round_trips_and_bad_fields_are_named(tmp_path: Path) -> None:
    record = Containment(Mode.CGROUP, {"unified": "/sys/fs/cgroup/x"}, 1 << 20, 64, "")
    path = tmp_path / "containment"
    containment.write(path, record)
    assert containment.read(path) == record
    assert containment.read(tmp_path / "none") is None
    assert "memory 1.0 MiB, pids.max 64" in containment.describe(record)
    for bad, field in (
        ({"mode": "jail"}, "mode"),
        ({"mode": "cgroup", "groups": {"unified": 3}}, "groups"),
        ({"mode": "cgroup", "pids_max": "many"}, "pids_max"),
        ({"mode": "cgroup", "memory_max": True}, "memory_max"),
        ({"mode": "cgroup", "note": 1}, "note"),
    ):
        with pytest.raises(ValueError, match=f"containment: {field}: "):
            Containment.from_json(bad)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        containment.read(path)


def test_group_names_tell_tasks_of_the_same_id_under_two_roots_apart(tmp_path: Path) -> None:
    one, other = tmp_path / "a/checkpoints/web", tmp_path / "b/checkpoints/web"
    assert group_name("web", one) != group_name("web", other)
    assert group_name("web", one) == group_name("web", tmp_path / "a/./checkpoints/web")
    assert group_name("web", one).startswith("web@")


def test_group_names_tell_roots_apart_without_openssl() -> None:
    # CRC-32 and Adler-32 of the checkpoint directory: zlib, not hashlib (which maps libcrypto)
    key = b"/var/lib/borealis/checkpoints/web"
    expected = f"web@{zlib.crc32(key):08x}{zlib.adler32(key):08x}"
    assert group_name("web", Path("/var/lib/borealis/checkpoints/web")) == expected


def test_the_names_earlier_versions_gave_are_known() -> None:
    digest = hashlib.sha256(b"/var/lib/borealis/checkpoints/web").hexdigest()
    legacy = legacy_group_name("web", Path("/var/lib/borealis/checkpoints/web"))
    assert legacy == f"web@{digest[:10]}"
