"""Installed, Borealis is one import package, ``borealis``, and nothing else at the top level.

The folders ``contract/``, ``executor/``, ``agent/``, ``observer/``, ``scheduler/`` and ``cli/``
become ``borealis.<folder>`` through pyproject.toml's package-dir mapping. The wheel is built
from a copy of the tracked files (as a release would be), then installed into a fresh virtual
environment beside PyPI's ``executor`` and ``scheduler`` distributions, which take those
generic names: all three must import and work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from support import REPO


def mapping() -> dict[str, str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return dict(config["tool"]["setuptools"]["package-dir"])


def listed_packages() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return sorted(config["tool"]["setuptools"]["packages"])


def packages_on_disk() -> list[str]:
    found = []
    for package, folder in mapping().items():
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            found.append(".".join([package, *parts]))
    return sorted(found)


def test_every_folder_with_code_is_a_listed_package() -> None:
    listed = listed_packages()
    assert set(packages_on_disk()) <= set(listed)
    data_only = {  # no code: files
        f"borealis.{daemon}.{kind}"
        for daemon in ("observer", "scheduler")
        for kind in ("static", "templates")
    }
    assert set(listed) - set(packages_on_disk()) == data_only


def test_every_package_is_typed() -> None:
    assert [f for f in mapping().values() if not (REPO / f / "py.typed").is_file()] == []


def tracked(*where: str) -> list[str]:
    """The files git tracks (under ``where``), which is what a release is built from."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *where], cwd=REPO, capture_output=True, check=True
    ).stdout
    return [os.fsdecode(n) for n in out.split(b"\0") if n and (REPO / os.fsdecode(n)).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the tracked files only."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in tracked():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(work / "dist"), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (built,) = (work / "dist").glob("borealis-*.whl")
    return built


def test_the_wheel_holds_only_borealis_at_the_top_level(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"borealis"}
    # every tracked module and every file the observer serves made it in
    for package, folder in mapping().items():
        for name in tracked(folder):
            inside = "/".join([*package.split("."), *Path(name).relative_to(folder).parts])
            assert inside in names, f"{name} is missing from the wheel"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_borealis_works_beside_pypis_executor_and_scheduler(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    lock = REPO / "requirements" / "coexist.lock"
    subprocess.run([*pip, "--require-hashes", "-r", str(lock)], check=True, capture_output=True)
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, capture_output=True)

    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    record = next(site.glob("borealis-*.dist-info")) / "RECORD"
    ours = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    assert {t for t in ours if not t.endswith(".dist-info") and t != ".."} == {"borealis"}
    assert (site / "executor").is_dir() and (site / "scheduler").is_dir()  # PyPI's, untouched
    # A wheel carries no byte-code (it would be one Python's): pip compiles it on install, even
    # where PYTHONDONTWRITEBYTECODE is set, so a runner does not compile its modules at start.
    assert list((site / "borealis/executor/runner/__pycache__").glob("runner.cpython-*.pyc"))

    work = tmp_path / "elsewhere"  # not the checkout: its folders must not be what imports
    work.mkdir()
    check = """
import datetime, json
import executor, scheduler
from scheduler import Scheduler
from borealis.contract.layout import check_task_id
from borealis.executor.config import loader
seen = []
schedule = Scheduler()
schedule.once(datetime.timedelta(), lambda: seen.append("ran"))
schedule.exec_jobs()
print(json.dumps({
    "executor": executor.execute("echo", "from executor", capture=True),
    "scheduler": seen,
    "borealis": check_task_id("t-1"),
    "files": [m.__file__ for m in (executor, scheduler, loader)],
}))
"""
    out = subprocess.run(
        [str(python), "-c", check], cwd=work, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result["executor"] == "from executor"
    assert result["scheduler"] == ["ran"]
    assert result["borealis"] == "t-1"
    assert all(f.startswith(str(site)) for f in result["files"]), result["files"]

    config = REPO / "sandbox_examples" / "hello_world.aurora"
    run = subprocess.run(
        [str(env_dir / "bin" / "borealis"), "run", str(config), "--task-id", "coexist"],
        cwd=work, capture_output=True, text=True, timeout=120,
        env={**os.environ, "BOREALIS_ROOT": str(tmp_path / "root")},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    status = subprocess.run(
        [str(env_dir / "bin" / "borealis"), "status", "coexist", "--json"],
        cwd=work, capture_output=True, text=True,
        env={**os.environ, "BOREALIS_ROOT": str(tmp_path / "root")},
    )  # fmt: skip
    assert json.loads(status.stdout)["state"] == "SUCCESS"


@pytest.mark.slow
@pytest.mark.xdist_group("builds-in-the-checkout")  # scripts/build-executor: one at a time
def test_the_zipapp_is_byte_compiled_where_it_is_unpacked(tmp_path: Path) -> None:
    # The executor as shipped (scripts/build-executor) carries sources only; shiv compiles them
    # once where it unpacks them, whatever PYTHONDONTWRITEBYTECODE says: without it every
    # runner would compile its modules from source at start.
    pyz = tmp_path / "borealis.pyz"
    subprocess.run(
        [str(REPO / "scripts" / "build-executor"), str(pyz)], check=True, capture_output=True
    )
    with zipfile.ZipFile(pyz) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".pyc")]
    unpacked = tmp_path / "shiv"
    env = {**os.environ, "SHIV_ROOT": str(unpacked), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(
        [sys.executable, str(pyz), "runner", "--help"], check=True, capture_output=True, env=env
    )
    compiled = unpacked.glob("*/site-packages/borealis/executor/runner/__pycache__/*.pyc")
    assert {p.name.split(".")[0] for p in compiled} >= {"runner", "monitor", "coordinator"}
