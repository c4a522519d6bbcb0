"""Task rules: process names, constraints, daemons, ephemerals, finals and cycles."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import pytest

from borealis.contract.errors import InputError
from borealis.contract.taskspec import ProcessSpec, TaskSpec, task_from_json
from borealis.contract.validation import (
    MAX_NAME_BYTES,
    dependencies,
    find_cycle,
    process_name_problem,
    validate,
)


def spec(*processes: str | dict[str, Any], constraints: list[list[str]] | None = None) -> TaskSpec:
    """A TaskSpec (types checked, rules not) from names or process dicts."""
    procs = [
        {"name": p, "cmdline": "true"} if isinstance(p, str) else {"cmdline": "true", **p}
        for p in processes
    ]
    return task_from_json(
        {"name": "t", "processes": procs, "constraints": [{"order": c} for c in constraints or []]}
    )


def refused(task: TaskSpec, field: str, *fragments: str) -> InputError:
    with pytest.raises(InputError) as info:
        validate(task, "job.aurora")
    error = info.value
    assert (error.source, error.field) == ("job.aurora", field)
    for fragment in fragments:
        assert fragment in error.problem
    assert str(error) == f"job.aurora: {field}: {error.problem}"
    assert "\n" not in str(error)
    return error


# -- valid tasks --------------------------------------------------------------------


def test_a_valid_task_passes() -> None:
    validate(
        spec(
            "fetch",
            "build",
            {"name": "watch", "daemon": True},
            {"name": "side", "ephemeral": True},
            {"name": "side2", "ephemeral": True},
            {"name": "cleanup", "final": True},
            {"name": "report", "final": True},
            "ünïcödé name with spaces",
            constraints=[
                ["fetch", "build", "watch"],  # a daemon may depend on others
                ["fetch", "side", "side2"],  # ephemeral after regular, ephemeral after ephemeral
                ["cleanup", "report"],
                [],
                ["build"],
            ],
        )
    )


def test_a_diamond_is_not_a_cycle() -> None:
    validate(spec("a", "b", "c", "d", constraints=[["a", "b", "d"], ["a", "c", "d"]]))


def test_names_of_exactly_the_limit_are_fine() -> None:
    validate(spec("x" * MAX_NAME_BYTES))
    validate(spec("é" * (MAX_NAME_BYTES // 2)))


# -- process names -----------------------------------------------------------------------


def test_at_least_one_process() -> None:
    refused(spec(), "processes", "at least one process")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        (".hidden", "must not start with '.'"),
        (".", "must not start with '.'"),
        ("..", "must not start with '.'"),
        ("a/b", "must not contain '/'"),
        ("/", "must not contain '/'"),
        ("tab\there", "control characters"),
        ("new\nline", "control characters"),
        ("nul\0", "control characters"),
        ("del\x7f", "control characters"),
        ("esc\x1b[31m", "control characters"),
        ("x" * (MAX_NAME_BYTES + 1), f"longer than {MAX_NAME_BYTES} bytes"),
        ("é" * (MAX_NAME_BYTES // 2 + 1), f"longer than {MAX_NAME_BYTES} bytes"),
    ],
)
def test_bad_process_names(name: str, problem: str) -> None:
    assert problem in (process_name_problem(name) or "")
    # Built directly: the JSON layer already refuses an empty name.
    task = TaskSpec("t", (ProcessSpec("ok", "true"), ProcessSpec(name, "true")))
    error = refused(task, "processes[1].name", problem)
    if name and len(name) < 20:
        assert repr(name) in error.problem, "the name is shown, escaped"


@pytest.mark.parametrize("name", ["a", "A-b_c.d", "a.b", "with space", "-dash", "x" * 200])
def test_good_process_names(name: str) -> None:
    assert process_name_problem(name) is None


def test_duplicate_names() -> None:
    refused(spec("a", "b", "a"), "processes[2].name", "duplicate process name 'a'")


def test_final_daemon() -> None:
    task = spec("a", {"name": "f", "final": True, "daemon": True})
    refused(task, "processes[1]", "final process 'f' cannot be a daemon")


# -- constraints -------------------------------------------------------------------------


def test_unknown_name_in_a_constraint() -> None:
    task = spec("build", "test", constraints=[["build", "test"], ["build", "biuld"]])
    refused(task, "constraints[1].order[1]", "unknown process 'biuld' (processes: build, test)")


def test_mixing_final_and_regular_in_one_constraint() -> None:
    task = spec("a", {"name": "f", "final": True}, constraints=[["a", "f"]])
    refused(task, "constraints[0].order", "cannot order regular processes together with final")


def test_mixing_regular_after_final_in_one_constraint() -> None:
    task = spec("a", "b", {"name": "f", "final": True}, constraints=[["a", "b"], ["f", "b"]])
    refused(task, "constraints[1].order", "regular processes together with final")


def test_depending_on_a_daemon() -> None:
    task = spec({"name": "d", "daemon": True}, "x", constraints=[["d", "x"]])
    refused(task, "constraints[0].order", "process 'x' may not depend on daemon process 'd'")


def test_depending_on_a_daemon_in_the_middle_of_an_order() -> None:
    task = spec("a", {"name": "d", "daemon": True}, "z", constraints=[["a", "d", "z"]])
    refused(task, "constraints[0].order", "'z' may not depend on daemon process 'd'")


def test_non_ephemeral_depending_on_ephemeral() -> None:
    task = spec({"name": "e", "ephemeral": True}, "r", constraints=[[], ["e", "r"]])
    refused(
        task,
        "constraints[1].order",
        "non-ephemeral process 'r' may not depend on ephemeral process 'e'",
    )


def test_the_first_bad_constraint_is_reported() -> None:
    task = spec("a", {"name": "d", "daemon": True}, constraints=[["a", "nope"], ["d", "a"]])
    refused(task, "constraints[0].order[1]", "unknown process 'nope'")


# -- cycles ------------------------------------------------------------------------------


def test_self_cycle() -> None:
    refused(spec("a", constraints=[["a", "a"]]), "constraints", "ordering cycle: a -> a")


def test_two_process_cycle_across_constraints() -> None:
    task = spec("a", "b", constraints=[["a", "b"], ["b", "a"]])
    refused(task, "constraints", "ordering cycle: a -> b -> a")


def test_cycle_in_one_order() -> None:
    task = spec("a", "b", "c", constraints=[["a", "b", "c", "a"]])
    refused(task, "constraints", "ordering cycle: a -> b -> c -> a")


def test_cycle_among_final_processes() -> None:
    task = spec(
        "r",
        {"name": "f1", "final": True},
        {"name": "f2", "final": True},
        constraints=[["f1", "f2"], ["f2", "f1"]],
    )
    refused(task, "constraints", "ordering cycle: f1 -> f2 -> f1")


def chain(n: int, descending: bool) -> list[str]:
    """Names of a chain of ``n`` processes, in run order."""
    names = [f"p{i:05d}" for i in range(n)]
    return names[::-1] if descending else names


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("at", ["start", "end"])
def test_a_long_chain_with_a_cycle_at_one_end(descending: bool, at: str) -> None:
    # Whichever way the search walks the chain, one of these cases makes it walk all 5000
    # processes before it meets the cycle: far deeper than the default recursion limit.
    assert sys.getrecursionlimit() < 5000
    names = chain(5000, descending)
    first, second = names[:2] if at == "start" else names[-2:]
    task = spec(*names, constraints=[names, [second, first]])
    error = refused(task, "constraints", "ordering cycle: ")
    cycle = error.problem.removeprefix("ordering cycle: ").split(" -> ")
    assert cycle in ([first, second, first], [second, first, second])


def test_a_long_chain_that_closes_on_itself() -> None:
    names = chain(5000, descending=True)
    task = spec(*names, constraints=[names, [names[-1], names[0]]])
    error = refused(task, "constraints", "ordering cycle: ")
    cycle = error.problem.removeprefix("ordering cycle: ").split(" -> ")
    assert len(cycle) == 5001
    assert cycle[0] == cycle[-1]
    assert set(cycle) == set(names)


@pytest.mark.parametrize("descending", [False, True])
def test_a_long_chain_without_a_cycle_is_valid(descending: bool) -> None:
    names = chain(5000, descending)
    validate(spec(*names, constraints=[names]))


# -- find_cycle and dependencies -----------------------------------------------------------


def test_dependencies_point_from_a_process_to_what_it_waits_for() -> None:
    task = spec(
        "a",
        "b",
        "c",
        {"name": "f", "final": True},
        {"name": "g", "final": True},
        constraints=[["a", "b", "c"], ["a", "c"], ["f", "g"]],
    )
    assert dependencies(task, final=False) == {"a": set(), "b": {"a"}, "c": {"a", "b"}}
    assert dependencies(task, final=True) == {"f": set(), "g": {"f"}}


def test_find_cycle_returns_the_cycle_in_run_order() -> None:
    # run order a -> b -> c -> a: b waits for a, c for b, a for c
    assert find_cycle({"a": {"c"}, "b": {"a"}, "c": {"b"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"x"}}) == ["x", "x"]


def test_find_cycle_ignores_the_acyclic_part() -> None:
    deps = {"a": set(), "b": {"a"}, "c": {"b", "e"}, "d": {"c"}, "e": {"d"}}
    cycle = find_cycle(deps)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"c", "d", "e"}
    for before, after in itertools.pairwise(cycle):
        assert before in deps[after], f"{after} waits for {before}"


def test_find_cycle_without_a_cycle() -> None:
    assert find_cycle({}) is None
    assert find_cycle({"a": set(), "b": {"a"}, "c": {"a", "b"}, "d": {"b", "c"}}) is None


def test_find_cycle_on_a_deep_chain() -> None:
    n = 20000
    deps = {f"n{i:06d}": {f"n{i + 1:06d}"} for i in range(n)}
    deps[f"n{n:06d}"] = set()
    assert find_cycle(deps) is None
    deps[f"n{n:06d}"] = {f"n{n - 1:06d}"}
    assert find_cycle(deps) == [f"n{n - 1:06d}", f"n{n:06d}", f"n{n - 1:06d}"]
