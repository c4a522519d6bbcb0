"""Import layering, read from the source with ``ast`` (nothing is imported).

The packages of ``borealis`` and the only direction their imports may point
(docs/ARCHITECTURE.md, docs/development.md)::

    cli ──▶ agent ──▶ executor ──▶ contract
     │                              ▲
     ├──▶ observer ─────────────────┤
     └──▶ scheduler ────────────────┘

``contract`` imports the standard library and itself only. Each package may import the
packages listed for it below and any third-party library; nothing imports ``cli``; nothing
imports the generic top-level names ``executor``, ``observer`` or ``scheduler``.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO

# package -> the borealis packages it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "contract": frozenset(),
    "executor": frozenset({"contract"}),
    "agent": frozenset({"contract", "executor"}),
    "observer": frozenset({"contract"}),
    "scheduler": frozenset({"contract"}),
    "cli": frozenset({"contract", "executor", "agent", "observer", "scheduler"}),
}
GENERIC_NAMES = ("executor", "observer", "scheduler", "contract", "agent", "cli")


def package_dirs() -> dict[str, Path]:
    """``borealis.X`` -> its folder, as pyproject.toml maps them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: REPO / folder for name, folder in mapping.items()}


def module_name(path: Path, package: str, folder: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, made absolute, with its line number."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level - 1 >= len(base_parts):
                    yield node.lineno, "." * node.level + (node.module or "")  # escapes the tree
                    continue
                base = ".".join(base_parts[: len(base_parts) - (node.level - 1)])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # `from borealis import executor` imports borealis.executor, not just borealis
            for alias in node.names:
                yield node.lineno, target if alias.name == "*" else f"{target}.{alias.name}"


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def problem(importer: str, name: str) -> str | None:
    """Why the package ``importer`` (e.g. ``observer``) may not import ``name``, or None."""
    top = name.split(".")[0]
    if top in GENERIC_NAMES:
        return f"the generic top-level name {top!r}: import borealis.{top}"
    if name.startswith("."):
        return "a relative import that leaves borealis"
    if importer == "contract" and top not in sys.stdlib_module_names and top != "borealis":
        return "the contract imports the standard library only"
    if top != "borealis":
        return None
    parts = name.split(".")
    if len(parts) < 2:
        return "the namespace package borealis itself"
    target = parts[1]
    if target == importer or target in ALLOWED[importer]:
        return None
    return f"{importer} may not import borealis.{target}"


def violations(package: str) -> list[str]:
    folder = package_dirs()[f"borealis.{package}"]
    found = []
    for path in sorted(folder.rglob("*.py")):
        module = module_name(path, f"borealis.{package}", folder)
        for line, name in imported_modules(path.read_text(), module, path.name == "__init__.py"):
            why = problem(package, name)
            if why:
                found.append(f"{path.relative_to(REPO)}:{line}: imports {name}: {why}")
    return found


def test_every_package_has_a_rule_and_the_rules_cover_every_package() -> None:
    assert {name.removeprefix("borealis.") for name in package_dirs()} == set(ALLOWED)
    contract = {p.stem for p in package_dirs()["borealis.contract"].glob("*.py")}
    assert {"states", "stream", "records", "replay", "taskspec", "validation"} <= contract


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    assert violations(package) == []


def test_tests_and_benchmarks_use_the_borealis_names() -> None:
    found = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if ".venv" in path.relative_to(REPO).parts:
                continue  # benchmarks/.venv (benchmarks/setup.sh): installed packages, not ours
            for line, name in imported_modules(path.read_text(), "tests.x", False):
                if name.split(".")[0] in ("executor", "observer", "scheduler"):
                    found.append(f"{path.relative_to(REPO)}:{line}: imports {name}")
    assert found == []


# -- the checker itself ----------------------------------------------------------------------


def imports_of(source: str, module: str = "borealis.contract.stream") -> list[str]:
    return [name for _, name in imported_modules(source, module, is_package=False)]


def test_relative_imports_are_resolved() -> None:
    assert imports_of("from .states import TaskState") == ["borealis.contract.states.TaskState"]
    assert imports_of("from . import records") == ["borealis.contract.records"]
    assert imports_of("from ..executor import runner") == ["borealis.executor.runner"]
    assert imports_of("from ...x import y", "borealis.contract") == ["...x"]
    package = imported_modules("from .errors import E", "borealis.contract", is_package=True)
    assert [name for _, name in package] == ["borealis.contract.errors.E"]


@pytest.mark.parametrize(
    ("importer", "source", "bad"),
    [
        ("contract", "import os, json, zlib\nfrom collections.abc import Callable", False),
        ("contract", "from __future__ import annotations", False),
        ("contract", "from .records import decode", False),
        ("contract", "import borealis.contract.states", False),
        ("contract", "from borealis import contract", False),
        ("contract", "import psutil", True),
        ("contract", "def f():\n    import psutil\n", True),
        ("contract", "from ..executor.runner import planner", True),
        ("contract", "from ...elsewhere import x", True),
        ("executor", "import psutil\nfrom borealis.contract import layout", False),
        ("executor", "from borealis.agent import executors", True),
        ("executor", "from borealis.cli import options", True),
        ("agent", "from borealis.executor.runner import proctree", False),
        ("agent", "from borealis.scheduler import core", True),
        ("observer", "from borealis.contract.replay import load", False),
        ("observer", "import tornado.web", False),
        ("observer", "from borealis.executor.runner import runner", True),
        ("observer", "from borealis import executor", True),
        ("observer", "import borealis.cli.main", True),
        ("scheduler", "from borealis.observer import api", True),
        ("cli", "from borealis.scheduler.core import Scheduler", False),
        ("cli", "import executor.runner", True),
        ("cli", "from scheduler import core", True),
        ("cli", "import borealis", True),
    ],
)
def test_the_check_can_fail(importer: str, source: str, bad: bool) -> None:
    module = f"borealis.{importer}.x"
    names = imports_of(source, module)
    assert any(problem(importer, name) for name in names) is bad
