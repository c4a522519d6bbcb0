"""Evaluate a ``.aurora`` / ``.thermos`` config file and collect what it defines.

A config file is Python, run with the configuration language in scope: every
pystachio type, the Thermos and Aurora schema (``schema.py``), the helpers
(``helpers.py``), ``export(task)`` and ``include(path)``. Thermos-style files
call ``export(task)``; Aurora-style files assign ``jobs = [...]``. Both may
appear in one file.

Whatever goes wrong while evaluating (a missing file, a syntax error, an
exception raised by the config's own code, a misspelt field) becomes one
``InputError`` naming the file and line, never a traceback.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pystachio

from borealis.contract.errors import InputError

from . import helpers, schema

_PYSTACHIO_NAMES = (
    "Boolean",
    "Choice",
    "Default",
    "Empty",
    "Enum",
    "Environment",
    "Float",
    "Integer",
    "List",
    "Map",
    "Ref",
    "Required",
    "String",
    "Struct",
)

MAX_INCLUDE_DEPTH = 32


@dataclass
class LoadedConfig:
    path: Path
    tasks: list[Any] = field(default_factory=list)  # pystachio Task, in export order
    jobs: list[Any] = field(default_factory=list)  # pystachio Job, in file order


def base_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__builtins__": __builtins__}
    for name in _PYSTACHIO_NAMES:
        namespace[name] = getattr(pystachio, name)
    for name in schema.__all__:
        namespace[name] = getattr(schema, name)
    for name in helpers.__all__:
        namespace[name] = getattr(helpers, name)
    return namespace


class _Evaluation:
    def __init__(self, path: Path) -> None:
        self.root = path
        self.files: set[str] = set()
        self.stack: list[Path] = []
        self.result = LoadedConfig(path)
        self.namespace = base_namespace()
        self.namespace["export"] = self.export
        self.namespace["include"] = self.include

    def export(self, task: Any) -> None:
        if isinstance(task, dict):
            task = schema.Task(task)
        if not isinstance(task, schema.Task):
            raise TypeError(f"export() takes a Task, not {type(task).__name__}")
        self.result.tasks.append(task)

    def include(self, name: str) -> None:
        base = self.stack[-1].parent if self.stack else Path.cwd()
        self.run_file(base / name)

    def run_file(self, path: Path) -> None:
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise RecursionError(f"include() nested more than {MAX_INCLUDE_DEPTH} deep")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            problem = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise InputError(str(path), "", f"cannot read config: {problem}") from None
        filename = str(path)
        self.files.add(filename)
        code = compile(text, filename, "exec", dont_inherit=True)
        self.stack.append(path)
        try:
            exec(code, self.namespace)
        finally:
            self.stack.pop()


def load(path: Path | str) -> LoadedConfig:
    """Evaluate the config at ``path``; raise ``InputError`` on any problem."""
    path = Path(path)
    evaluation = _Evaluation(path)
    try:
        evaluation.run_file(path)
    except InputError:
        raise
    except SyntaxError as e:
        where = f"{e.filename or path}:{e.lineno}" if e.lineno else str(path)
        raise InputError(where, "", f"syntax error: {e.msg}") from None
    except (Exception, SystemExit) as e:  # the config's code failed or exited: file and line
        raise InputError(_where(e, evaluation.files, path), "", _describe(e)) from None
    jobs = evaluation.namespace.get("jobs", [])
    if not isinstance(jobs, list | tuple):
        raise InputError(str(path), "jobs", f"expected a list of Job, got {type(jobs).__name__}")
    for index, job in enumerate(jobs):
        if not isinstance(job, schema.MesosJob):
            raise InputError(
                str(path), f"jobs[{index}]", f"expected a Job or Service, got {type(job).__name__}"
            )
    evaluation.result.jobs = list(jobs)
    return evaluation.result


def _where(error: BaseException, files: set[str], fallback: Path) -> str:
    """The innermost ``file:line`` of the traceback that is inside a config file."""
    where = str(fallback)
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename in files:
            where = f"{frame.filename}:{frame.lineno}"
    return where


_ENUM_ERROR = re.compile(r"^Enum_\w+ only accepts the following values: (.*)$")


def _describe(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    if not message:
        return type(error).__name__
    first = message[0]
    enum = _ENUM_ERROR.match(first)
    if enum:  # pystachio names the generated class, not what the user wrote
        first = f"expected one of {enum.group(1)}"
    return f"{type(error).__name__}: {first}"
