"""The committed locks agree with pyproject.toml and with what is installed (offline).

``./scripts/setup`` installs exactly ``requirements/test.lock`` (hash-pinned); these checks
fail when someone changes a dependency in pyproject.toml without running ``./scripts/lock``,
edits a lock by hand into something pyproject.toml does not ask for, or runs the suite in an
environment that is not the lock's (docs/development.md).
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from support import REPO

LOCKS = REPO / "requirements"
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
PROJECT = "borealis"


def pins(path: Path) -> dict[str, tuple[Version, str | None]]:
    """name -> (version, marker) of every ``name==version`` line of a lock."""
    found: dict[str, tuple[Version, str | None]] = {}
    for line in path.read_text().splitlines():
        match = PIN_RE.match(line)
        if match:
            found[canonicalize_name(match[1])] = (Version(match[2]), match[3])
    assert found, f"{path}: no pinned requirement found"
    return found


def applies(marker: str | None) -> bool:
    return marker is None or Requirement(f"x ; {marker}").marker.evaluate()  # type: ignore[union-attr]


def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def requirements(which: str) -> list[Requirement]:
    """What a lock must hold: ``runtime``, ``build`` or ``test`` (both, and the test extra)."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    wanted = []
    if which in ("runtime", "test"):
        wanted += [Requirement(r) for r in project["dependencies"]]
    if which in ("build", "test"):
        wanted += read_in(LOCKS / "build.in")
    if which == "test":
        wanted += [Requirement(r) for r in project["optional-dependencies"]["test"]]
    return wanted


def read_in(path: Path) -> list[Requirement]:
    lines = path.read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def unmet(wanted: list[Requirement], locked: dict[str, tuple[Version, str | None]]) -> list[str]:
    problems = []
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(locked[name][0], prereleases=True):
            problems.append(f"{requirement} is not met by the locked {locked[name][0]}")
    return problems


def test_pyprojects_build_requirements_are_locked() -> None:
    build_system = pyproject()["build-system"]
    assert isinstance(build_system, dict)
    listed = {str(r) for r in read_in(LOCKS / "build.in")}
    assert {str(Requirement(r)) for r in build_system["requires"]} <= listed


@pytest.mark.parametrize("which", ["test", "runtime", "build"])
def test_every_requirement_of_pyproject_is_locked_at_a_version_it_allows(which: str) -> None:
    assert unmet(requirements(which), pins(LOCKS / f"{which}.lock")) == []


def test_the_coexistence_lock_holds_pyprojects_dependencies_and_its_own() -> None:
    wanted = requirements("runtime") + read_in(LOCKS / "coexist.in")
    assert unmet(wanted, pins(LOCKS / "coexist.lock")) == []


@pytest.mark.parametrize("lock", ["runtime.lock", "build.lock", "coexist.lock"])
def test_the_locks_agree_on_every_version_they_share(lock: str) -> None:
    full, other = pins(LOCKS / "test.lock"), pins(LOCKS / lock)
    differ = {n: (v, full[n][0]) for n, (v, _) in other.items() if n in full and full[n][0] != v}
    assert differ == {}


def test_the_environment_is_exactly_the_test_lock() -> None:
    locked = {n: v for n, (v, marker) in pins(LOCKS / "test.lock").items() if applies(marker)}
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in distributions()}
    installed.pop(PROJECT)
    if "pip" not in locked:
        installed.pop("pip", None)  # the venv's own installer, unless something needs a pip
    assert installed == locked, "run ./scripts/setup test (or ./scripts/test)"


def test_every_locked_package_is_needed() -> None:
    """Nothing stale: each locked package is asked for by pyproject.toml or by a package that
    is (read from the installed packages' own metadata, which the previous test pins)."""
    by_name = {canonicalize_name(d.metadata["Name"]): d for d in distributions()}
    environment = default_environment()
    needed: set[str] = set()
    todo = [(r, "") for r in requirements("test")]
    while todo:
        requirement, extra = todo.pop()
        marker = requirement.marker
        if marker is not None and not marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras) or [""]
        key_new = name not in needed
        needed.add(name)
        if name in by_name and (key_new or requirement.extras):
            for text in by_name[name].requires or []:
                for chosen in extras:
                    todo.append((Requirement(text), chosen))
    locked = {n for n, (_, marker) in pins(LOCKS / "test.lock").items() if applies(marker)}
    assert locked - needed == set()


def test_the_checks_can_fail() -> None:
    locked = {"psutil": (Version("7.2.2"), None)}
    assert unmet([Requirement("psutil>=8")], locked) == ["psutil>=8 is not met by the locked 7.2.2"]
    assert unmet([Requirement("tornado")], locked) == ["tornado is not in the lock"]
    assert unmet([Requirement("psutil>=7.0")], locked) == []
    assert applies("sys_platform == 'win32'") is False
    assert PIN_RE.match("colorama==0.4.6 ; sys_platform == 'win32' \\")
