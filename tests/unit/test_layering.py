"""Import layering, read from the source with ``ast`` (nothing is imported).

``executor/contract/`` is the leaf everything else builds on: standard library and
itself only. The observer and the scheduler may use ``executor.contract`` and no other
part of ``executor``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import REPO

CONTRACT = "executor.contract"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
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
            # `from executor import runner` imports executor.runner, not just executor
            for alias in node.names:
                yield node.lineno, target if alias.name == "*" else f"{target}.{alias.name}"


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def contract_problem(name: str) -> bool:
    """Whether a contract module may not import ``name``."""
    return not (is_stdlib(name) or within(name, CONTRACT))


def upper_layer_problem(name: str) -> bool:
    """Whether an observer or scheduler module may not import ``name``."""
    return within(name, "executor") and not within(name, CONTRACT)


def violations(directory: str, problem: Callable[[str], bool]) -> list[str]:
    found = []
    for path in python_files(directory):
        module = module_name(path)
        for line, name in imported_modules(path.read_text(), module, path.name == "__init__.py"):
            if problem(name):
                found.append(f"{path.relative_to(REPO)}:{line}: imports {name}")
    return found


def python_files(directory: str) -> list[Path]:
    return sorted((REPO / directory).rglob("*.py"))


def test_there_is_something_to_check() -> None:
    names = {p.stem for p in python_files("executor/contract")}
    assert {"states", "stream", "records", "replay", "taskspec", "validation"} <= names
    assert python_files("observer")
    assert python_files("scheduler")


def test_contract_imports_only_the_standard_library_and_itself() -> None:
    assert violations("executor/contract", contract_problem) == []


@pytest.mark.parametrize("directory", ["observer", "scheduler"])
def test_upper_layers_use_only_the_contract_of_executor(directory: str) -> None:
    assert violations(directory, upper_layer_problem) == []


# -- the checker itself ----------------------------------------------------------------------


def imports_of(source: str, module: str = "executor.contract.stream") -> list[str]:
    return [name for _, name in imported_modules(source, module, is_package=False)]


def test_relative_imports_are_resolved() -> None:
    assert imports_of("from .states import TaskState") == ["executor.contract.states.TaskState"]
    assert imports_of("from . import records") == ["executor.contract.records"]
    assert imports_of("from ..runner import planner") == ["executor.runner.planner"]
    assert imports_of("from ...x import y", "executor.contract") == ["...x"]
    package = imported_modules("from .errors import E", "executor.contract", is_package=True)
    assert [name for _, name in package] == ["executor.contract.errors.E"]


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("import os, json, zlib\nfrom collections.abc import Callable, Iterator", False),
        ("from __future__ import annotations", False),
        ("from .records import decode", False),
        ("import executor.contract.states", False),
        ("from executor import contract", False),
        ("import psutil", True),
        ("from pystachio import Struct", True),
        ("from ..runner import planner", True),
        ("from executor import runner", True),
        ("import executor", True),
        ("import executor.contractual", True),
        ("def f():\n    import psutil\n", True),
        ("from ...elsewhere import x", True),
    ],
)
def test_the_contract_check_can_fail(source: str, bad: bool) -> None:
    assert any(contract_problem(name) for name in imports_of(source)) is bad


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("from executor.contract.replay import load", False),
        ("from executor.contract import layout", False),
        ("import psutil, json", False),
        ("from executor.runner import runner", True),
        ("from executor import config", True),
        ("import executor.cli.main", True),
    ],
)
def test_the_upper_layer_check_can_fail(source: str, bad: bool) -> None:
    names = imports_of(source, "observer.server")
    assert any(upper_layer_problem(name) for name in names) is bad
