"""Helpers that config files use to compose tasks, as in Thermos.

``order(a, b, c)``, ``SequentialTask(...)``, ``SimpleTask(name, cmd)``,
``Tasks.combine(...)`` (run tasks side by side), ``Tasks.concat(...)`` (run
them one after another), ``java_options`` and ``python_options``.

Behaviour follows Thermos' ``schema_helpers``, with one deliberate difference:
merged process and constraint lists keep their order (Thermos went through a
``set``), so the task a config produces is the same on every load.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from pystachio import Empty, List

from .schema import GB, Constraint, Process, Resources, Task

__all__ = [
    "Options",
    "Processes",
    "SequentialTask",
    "SimpleTask",
    "Tasks",
    "Units",
    "combine_tasks",
    "concat_tasks",
    "java_options",
    "order",
    "python_options",
]


def _value(unit: Any) -> Any:
    return 0 if unit is Empty else unit.get()


def _unique(items: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


class Units:
    """Arithmetic on resources and finalization waits of several tasks."""

    @staticmethod
    def optional_resources(resources: Any) -> Any:
        return Resources() if resources is Empty else resources

    @classmethod
    def _fold(cls, resources: Iterable[Any], op: Any) -> Any:
        total = {"cpu": 0, "ram": 0, "disk": 0, "gpu": 0}
        for res in map(cls.optional_resources, resources):
            for key in total:
                total[key] = op(total[key], _value(getattr(res, key)()))
        return Resources(**total)

    @classmethod
    def resources_sum(cls, *resources: Any) -> Any:
        return cls._fold(resources, lambda a, b: a + b)

    @classmethod
    def resources_max(cls, resources: Iterable[Any]) -> Any:
        return cls._fold(resources, max)

    @staticmethod
    def finalization_wait_sum(waits: Iterable[Any]) -> int:
        return int(sum(_value(w) for w in waits))

    @staticmethod
    def finalization_wait_max(waits: Iterable[Any]) -> int:
        return int(max([0, *(_value(w) for w in waits)]))

    @staticmethod
    def processes_merge(tasks: Iterable[Any]) -> list[Any]:
        return _unique(p for task in tasks for p in task.processes())

    @staticmethod
    def constraints_merge(tasks: Iterable[Any]) -> list[Any]:
        return _unique(c for task in tasks for c in task.constraints())


class Processes:
    @staticmethod
    def _name(process: Any) -> str:
        if isinstance(process, Process):
            return str(process.name().get())
        if isinstance(process, str):
            return process
        raise ValueError(f"order() takes processes or process names, not {process!r}")

    @classmethod
    def order(cls, *processes: Any) -> list[Any]:
        """``order(a, b, c)``: constraints that run a, then b, then c."""
        return [Constraint(order=[cls._name(p) for p in processes])]


class Tasks:
    SIMPLE_CPU = 1.0
    SIMPLE_RAM = 1 * GB
    SIMPLE_DISK = 1 * GB

    @staticmethod
    def _merged(*tasks: Any) -> Any:
        # The last task lends its other fields to the result, as in Thermos.
        return tasks[-1](processes=Units.processes_merge(tasks))

    @classmethod
    def combine(cls, *tasks: Any, **kw: Any) -> Any:
        """One task running all processes of ``tasks`` side by side."""
        if not tasks:
            return Task()
        return cls._merged(*tasks)(
            resources=Units.resources_sum(*(t.resources() for t in tasks)),
            constraints=Units.constraints_merge(tasks),
            finalization_wait=Units.finalization_wait_max(t.finalization_wait() for t in tasks),
            **kw,
        )

    @classmethod
    def concat(cls, *tasks: Any, **kw: Any) -> Any:
        """One task running the processes of each task only after all of the previous one."""
        if not tasks:
            return Task()
        constraints = Units.constraints_merge(tasks)
        for first, second in itertools.pairwise(tasks):
            for p1 in first.processes():
                for p2 in second.processes():
                    if p1 != p2:
                        constraints.extend(Processes.order(p1, p2))
        return cls._merged(*tasks)(
            resources=Units.resources_max(t.resources() for t in tasks),
            constraints=constraints,
            finalization_wait=Units.finalization_wait_sum(t.finalization_wait() for t in tasks),
            **kw,
        )

    @classmethod
    def simple(cls, name: str, command: str) -> Any:
        return Task(
            name=name,
            processes=[Process(name=name, cmdline=command)],
            resources=Resources(cpu=cls.SIMPLE_CPU, ram=cls.SIMPLE_RAM, disk=cls.SIMPLE_DISK),
        )

    @staticmethod
    def sequential(task: Any) -> Any:
        if task.constraints() is not Empty and task.constraints() != List(Constraint)([]):
            raise ValueError("Cannot turn a Task with existing constraints into a SequentialTask!")
        if task.processes() is Empty:
            return task
        return task(constraints=order(*task.processes()))


class Options:
    """Render command-line options from positional names, dicts and keywords."""

    @staticmethod
    def _render(short: str, long: str, name: str, value: Any = None) -> str:
        flag = (short if len(name) == 1 else long) + name
        return f"{flag} {value}" if value else flag

    @classmethod
    def render(cls, short: str, long: str, *options: Any, **kw_options: Any) -> list[str]:
        out: list[str] = []
        for option in options:
            if isinstance(option, str):
                out.append(cls._render(short, long, option))
            elif isinstance(option, dict):
                out.extend(cls._render(short, long, k, v) for k, v in option.items())
            else:
                raise ValueError(f"unexpected option {option!r}: use a name, a dict or keywords")
        out.extend(cls._render(short, long, k, v) for k, v in kw_options.items())
        return out

    @classmethod
    def java(cls, *options: Any, **kw_options: Any) -> str:
        """``java_options('a', b=1) == '-a -b 1'``."""
        return " ".join(cls.render("-", "-", *options, **kw_options))

    @classmethod
    def python(cls, *options: Any, **kw_options: Any) -> str:
        """``python_options('a', boo=1) == '-a --boo 1'``."""
        return " ".join(cls.render("-", "--", *options, **kw_options))


def SimpleTask(name: str, command: str) -> Any:
    return Tasks.simple(name, command)


def SequentialTask(*args: Any, **kw: Any) -> Any:
    return Tasks.sequential(Task(*args, **kw))


order = Processes.order
combine_tasks = Tasks.combine
concat_tasks = Tasks.concat
java_options = Options.java
python_options = Options.python
