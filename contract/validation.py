"""The rules a ``TaskSpec`` must satisfy before anything runs.

Each violation raises ``InputError`` naming the field path, for example
``constraints[1].order[0]: unknown process 'biuld' (processes: build, test)``.

Rules (Thermos' own, plus the checks Thermos skipped):

* there is at least one process; names are unique, 1-200 bytes, do not
  start with ``.``, contain no ``/`` and no control characters (they become
  file and directory names); the task's name follows the same rules;
* no cmdline and no user contains a NUL byte (argv and the environment end
  at the first one, so such a process could never start as written);
* every name in a constraint is a process of the task; one constraint orders
  either only regular or only final processes; nothing may depend on a daemon;
  a non-ephemeral process may not depend on an ephemeral one; no cycles;
* a final process may not be a daemon (the final plan could never finish);
* numbers are in range (the JSON layer already checked their types).

Standard library only.
"""

from __future__ import annotations

import itertools

from .errors import InputError
from .taskspec import ProcessSpec, TaskSpec

MAX_NAME_BYTES = 200


def process_name_problem(name: str, what: str = "process name") -> str | None:
    if not name:
        return f"{what} must not be empty"
    if name.startswith("."):
        return f"{what} {name!r} must not start with '.'"
    if "/" in name:
        return f"{what} {name!r} must not contain '/'"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"{what} {name!r} must not contain control characters"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"{what} is longer than {MAX_NAME_BYTES} bytes"
    return None


def dependencies(task: TaskSpec, final: bool) -> dict[str, set[str]]:
    """Process -> the processes it waits for, within the regular or the final plan."""
    deps: dict[str, set[str]] = {p.name: set() for p in task.processes if p.final is final}
    for order in task.constraints:
        if not order or order[0] not in deps:
            continue
        for before, after in itertools.pairwise(order):
            deps[after].add(before)
    return deps


def validate(task: TaskSpec, source: str = "<task>") -> None:
    def fail(path: str, problem: str) -> InputError:
        return InputError(source, path, problem)

    if not task.processes:
        raise fail("processes", "a task needs at least one process")
    problem = process_name_problem(task.name, "task name")
    if problem:
        raise fail("name", problem)
    if task.user is not None and "\0" in task.user:
        raise fail("user", "must not contain a NUL byte")
    by_name: dict[str, ProcessSpec] = {}
    for index, process in enumerate(task.processes):
        path = f"processes[{index}].name"
        problem = process_name_problem(process.name)
        if problem:
            raise fail(path, problem)
        if "\0" in process.cmdline:
            raise fail(f"processes[{index}].cmdline", "must not contain a NUL byte")
        if process.name in by_name:
            raise fail(path, f"duplicate process name {process.name!r}")
        by_name[process.name] = process
        if process.final and process.daemon:
            raise fail(
                f"processes[{index}]",
                f"final process {process.name!r} cannot be a daemon (finalization would never end)",
            )

    known = ", ".join(sorted(by_name))
    for c_index, order in enumerate(task.constraints):
        path = f"constraints[{c_index}].order"
        for n_index, name in enumerate(order):
            if name not in by_name:
                raise fail(f"{path}[{n_index}]", f"unknown process {name!r} (processes: {known})")
        finals = {by_name[name].final for name in order}
        if len(finals) > 1:
            raise fail(path, "cannot order regular processes together with final processes")
        for before, after in itertools.pairwise(order):
            if by_name[before].daemon:
                raise fail(path, f"process {after!r} may not depend on daemon process {before!r}")
            if by_name[before].ephemeral and not by_name[after].ephemeral:
                raise fail(
                    path,
                    f"non-ephemeral process {after!r} may not depend on "
                    f"ephemeral process {before!r}",
                )

    for final in (False, True):
        cycle = find_cycle(dependencies(task, final))
        if cycle:
            raise fail("constraints", "ordering cycle: " + " -> ".join(cycle))


def find_cycle(deps: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the dependency graph, in run order and back to its start, or ``None``.

    Iterative depth-first search, so a long chain of processes cannot exhaust
    the interpreter's recursion limit.
    """
    done: set[str] = set()
    for root in sorted(deps):
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        todo = [iter(sorted(deps[root]))]
        while todo:
            prior = next(todo[-1], None)
            if prior is None:
                todo.pop()
                node = path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            if prior in on_path:
                cycle = [*path[path.index(prior) :], prior]
                # edges point from a process to what it waits for; show run order
                return list(reversed(cycle))
            if prior not in done:
                path.append(prior)
                on_path.add(prior)
                todo.append(iter(sorted(deps[prior])))
    return None
