"""The typed task and its JSON form: round trip, Thermos defaults, field-path errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from borealis.contract.errors import InputError
from borealis.contract.taskspec import (
    GB,
    MB,
    LoggerSpec,
    ProcessSpec,
    Resources,
    RotatePolicy,
    TaskSpec,
    task_from_json,
    task_from_text,
    task_to_json,
)

FULL: dict[str, Any] = {
    "name": "full",
    "processes": [
        {
            "name": "web",
            "cmdline": "serve --port {{thermos.ports[http]}}",
            "max_failures": 0,
            "daemon": True,
            "ephemeral": False,
            "min_duration": 15,
            "final": False,
            "logger": {
                "destination": "console",
                "mode": "rotate",
                "rotate": {"log_size": 10 * MB, "backups": 2},
            },
            "resources": {"cpu": 0.5, "ram": 64 * MB, "disk": 128 * MB, "gpu": 0},
        },
        {
            "name": "sidecar",
            "cmdline": "tail -f /dev/null",
            "max_failures": 3,
            "daemon": False,
            "ephemeral": True,
            "min_duration": 0,
            "final": False,
            "logger": {"destination": "none", "mode": "standard"},
        },
        {
            "name": "cleanup",
            "cmdline": "rm -rf tmp",
            "max_failures": 1,
            "daemon": False,
            "ephemeral": False,
            "min_duration": 5,
            "final": True,
        },
    ],
    "constraints": [{"order": ["sidecar", "web"]}, {"order": []}],
    "resources": {"cpu": 2.0, "ram": 2 * GB, "disk": 10 * GB, "gpu": 1},
    "max_failures": 2,
    "max_concurrency": 4,
    "finalization_wait": 60,
    "user": "nobody",
}


def bad(change: Any, field: str, problem: str) -> None:
    """Apply ``change`` to a copy of FULL and check the error names ``field``."""
    value = copy.deepcopy(FULL)
    change(value)
    with pytest.raises(InputError) as info:
        task_from_json(value, "task.json")
    assert info.value.source == "task.json"
    assert info.value.field == field
    assert problem in info.value.problem
    assert str(info.value) == f"task.json: {field}: {info.value.problem}"


# -- round trip ------------------------------------------------------------------


def test_full_task_round_trips_exactly() -> None:
    spec = task_from_json(copy.deepcopy(FULL))
    assert spec.to_json() == FULL
    assert task_from_json(spec.to_json()) == spec
    assert task_from_text(spec.dumps(), "x") == spec


def test_parsed_fields_are_typed() -> None:
    spec = task_from_json(copy.deepcopy(FULL))
    web = spec.process("web")
    assert web.logger == LoggerSpec("console", "rotate", RotatePolicy(10 * MB, 2))
    assert web.resources == Resources(0.5, 64 * MB, 128 * MB, 0)
    assert spec.constraints == (("sidecar", "web"), ())
    assert spec.resources == Resources(2.0, 2 * GB, 10 * GB, 1)
    assert spec.process("cleanup").final is True
    with pytest.raises(KeyError):
        spec.process("nope")


def test_dumps_is_sorted_indented_json_with_a_newline() -> None:
    spec = task_from_json(copy.deepcopy(FULL))
    text = spec.dumps()
    assert text.endswith("}\n")
    assert json.loads(text) == FULL
    assert text == json.dumps(FULL, indent=2, sort_keys=True) + "\n"


def test_built_spec_round_trips() -> None:
    spec = TaskSpec(
        name="built",
        processes=(ProcessSpec("a", "echo a"), ProcessSpec("b", "echo b", final=True)),
        constraints=(("a",),),
    )
    assert task_from_json(task_to_json(spec)) == spec
    assert "resources" not in task_to_json(spec)
    assert "user" not in task_to_json(spec)


def test_integral_floats_are_accepted_as_integers() -> None:
    value = copy.deepcopy(FULL)
    value["max_failures"] = 3.0
    value["resources"]["cpu"] = 1  # an integer cpu is a number
    spec = task_from_json(value)
    assert spec.max_failures == 3
    assert isinstance(spec.max_failures, int)
    assert spec.resources is not None
    assert isinstance(spec.resources.cpu, float)


# -- Thermos defaults ---------------------------------------------------------------


def test_thermos_defaults_for_missing_fields() -> None:
    spec = task_from_json({"processes": [{"name": "only", "cmdline": "true"}]})
    assert spec.name == "only", "the name defaults to the first process's"
    assert (spec.max_failures, spec.max_concurrency, spec.finalization_wait) == (1, 0, 30)
    assert spec.constraints == ()
    assert spec.resources is None
    assert spec.user is None
    process = spec.processes[0]
    assert (process.max_failures, process.daemon, process.ephemeral) == (1, False, False)
    assert (process.min_duration, process.final) == (5, False)
    assert process.logger is None
    assert process.resources is None


def test_null_fields_take_their_defaults() -> None:
    spec = task_from_json(
        {
            "processes": [{"name": "p", "cmdline": "true", "max_failures": None, "logger": None}],
            "constraints": None,
            "finalization_wait": None,
            "name": None,
        }
    )
    assert spec.processes[0].max_failures == 1
    assert spec.processes[0].logger is None
    assert spec.constraints == ()
    assert spec.finalization_wait == 30
    assert spec.name == "p"


def test_logger_and_rotate_defaults() -> None:
    spec = task_from_json({"processes": [{"name": "p", "cmdline": "x", "logger": {"rotate": {}}}]})
    assert spec.processes[0].logger == LoggerSpec("file", "standard", RotatePolicy(100 * MB, 5))
    assert RotatePolicy() == RotatePolicy(100 * MB, 5)


def test_gpu_defaults_to_zero() -> None:
    spec = task_from_json(
        {"processes": [{"name": "p", "cmdline": "x"}], "resources": {"cpu": 1, "ram": 1, "disk": 1}}
    )
    assert spec.resources == Resources(1.0, 1, 1, 0)


def test_no_processes_gives_an_empty_name() -> None:
    # Types only: the "at least one process" rule is validation's job.
    assert task_from_json({"processes": []}).name == ""


# -- errors: the exact field path ----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("max_failures", "x", "expected an integer >= 0, got 'x'"),
        ("max_failures", -1, "expected an integer >= 0, got -1"),
        ("max_failures", 1.5, "expected an integer >= 0, got 1.5"),
        ("max_failures", True, "expected an integer >= 0, got True"),
        ("min_duration", [5], "expected an integer >= 0, got a list"),
        ("daemon", "yes", "expected true or false, got 'yes'"),
        ("daemon", 1, "expected true or false, got 1"),
        ("ephemeral", "false", "expected true or false, got 'false'"),
        ("final", {"x": 1}, "expected true or false, got an object"),
        ("name", "", "must not be empty"),
        ("name", 7, "expected a string, got 7"),
        ("cmdline", None, "expected a string, got null"),
        ("logger", "file", "expected an object, got 'file'"),
        ("resources", [], "expected an object, got a list"),
    ],
)
def test_bad_process_field(key: str, value: Any, problem: str) -> None:
    bad(lambda t: t["processes"][1].__setitem__(key, value), f"processes[1].{key}", problem)


@pytest.mark.parametrize("key", ["name", "cmdline"])
def test_missing_required_process_field(key: str) -> None:
    bad(lambda t: t["processes"][2].pop(key), f"processes[2].{key}", "required field is missing")


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda t: t.__setitem__("name", ""), "name", "must not be empty"),
        (lambda t: t.__setitem__("max_concurrency", -3), "max_concurrency", ">= 0, got -3"),
        (lambda t: t.__setitem__("finalization_wait", "30s"), "finalization_wait", "got '30s'"),
        (lambda t: t.__setitem__("user", 0), "user", "expected a string, got 0"),
        (lambda t: t.__setitem__("processes", None), "processes", "expected a list of processes"),
        (lambda t: t.pop("processes"), "processes", "got null"),
        (lambda t: t.__setitem__("processes", {}), "processes", "got an object"),
        (lambda t: t["processes"].__setitem__(1, "web"), "processes[1]", "expected an object"),
        (
            lambda t: t.__setitem__("constraints", {}),
            "constraints",
            "expected a list, got an object",
        ),
        (lambda t: t.__setitem__("constraints", ""), "constraints", "expected a list, got ''"),
        (lambda t: t.__setitem__("constraints", False), "constraints", "got False"),
        (lambda t: t["constraints"].__setitem__(0, ["a"]), "constraints[0]", "expected an object"),
        (
            lambda t: t["constraints"][0].__setitem__("order", "sidecar"),
            "constraints[0].order",
            "expected a list of process names, got 'sidecar'",
        ),
        (
            lambda t: t["constraints"][0]["order"].__setitem__(1, 3),
            "constraints[0].order[1]",
            "expected a string, got 3",
        ),
        (
            lambda t: t["constraints"][0]["order"].__setitem__(0, ""),
            "constraints[0].order[0]",
            "must not be empty",
        ),
        (lambda t: t["resources"].pop("ram"), "resources.ram", "required field is missing"),
        (
            lambda t: t["resources"].__setitem__("cpu", "2"),
            "resources.cpu",
            "a number >= 0, got '2'",
        ),
        (lambda t: t["resources"].__setitem__("cpu", -0.5), "resources.cpu", "got -0.5"),
        (lambda t: t["resources"].__setitem__("cpu", False), "resources.cpu", "got False"),
        (lambda t: t["resources"].__setitem__("disk", 1.5), "resources.disk", "got 1.5"),
        (lambda t: t["resources"].__setitem__("gpu", -1), "resources.gpu", ">= 0, got -1"),
        (
            lambda t: t["processes"][0]["resources"].__setitem__("ram", "1G"),
            "processes[0].resources.ram",
            "got '1G'",
        ),
        (
            lambda t: t["processes"][0]["logger"].__setitem__("destination", "syslog"),
            "processes[0].logger.destination",
            "expected one of file, console, both, none, got 'syslog'",
        ),
        (
            lambda t: t["processes"][0]["logger"].__setitem__("mode", 1),
            "processes[0].logger.mode",
            "expected a string, got 1",
        ),
        (
            lambda t: t["processes"][0]["logger"]["rotate"].__setitem__("log_size", 0),
            "processes[0].logger.rotate.log_size",
            "expected an integer >= 1, got 0",
        ),
        (
            lambda t: t["processes"][0]["logger"]["rotate"].__setitem__("backups", -1),
            "processes[0].logger.rotate.backups",
            "expected an integer >= 0, got -1",
        ),
        (
            lambda t: t["processes"][0]["logger"].__setitem__("rotate", 5),
            "processes[0].logger.rotate",
            "expected an object, got 5",
        ),
    ],
)
def test_bad_task_field(change: Any, field: str, problem: str) -> None:
    bad(change, field, problem)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: t.__setitem__("procesess", []), "procesess"),
        (lambda t: t["processes"][1].__setitem__("max_failure", 2), "processes[1].max_failure"),
        (lambda t: t["constraints"][0].__setitem__("before", ["a"]), "constraints[0].before"),
        (lambda t: t["resources"].__setitem__("mem", 1), "resources.mem"),
        (
            lambda t: t["processes"][0]["logger"].__setitem__("dest", "x"),
            "processes[0].logger.dest",
        ),
        (
            lambda t: t["processes"][0]["logger"]["rotate"].__setitem__("size", 1),
            "processes[0].logger.rotate.size",
        ),
    ],
)
def test_unknown_fields_are_refused(change: Any, field: str) -> None:
    bad(change, field, "unknown field (known fields: ")


def test_unknown_field_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        task_from_json({"processes": [], "colour": "red"})
    assert info.value.problem == (
        "unknown field (known fields: constraints, finalization_wait, max_concurrency, "
        "max_failures, name, processes, resources, user)"
    )


def test_a_task_that_is_not_an_object() -> None:
    with pytest.raises(InputError) as info:
        task_from_json([1, 2], "t.json")
    assert str(info.value) == "t.json: expected an object, got a list"


def test_the_first_bad_process_is_reported() -> None:
    processes = [
        {"name": "a", "cmdline": "x"},
        {"name": "b", "cmdline": "x", "daemon": "no"},
        {"name": "c", "cmdline": 1},
    ]
    with pytest.raises(InputError, match=r"processes\[1\]\.daemon"):
        task_from_json({"processes": processes})


# -- task_from_text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "line 1 column 1"),
        ("{", "line 1 column 2"),
        ('{\n  "name": "x",\n  "processes": [,]\n}', "line 3 column 17"),
        ('{"name": "x"} trailing', "line 1 column 15"),
    ],
)
def test_task_from_text_with_invalid_json(text: str, where: str) -> None:
    with pytest.raises(InputError) as info:
        task_from_text(text, "/tasks/active/t1")
    assert info.value.source == "/tasks/active/t1"
    assert info.value.field == where
    assert info.value.problem.startswith("invalid JSON: ")
    assert "\n" not in str(info.value)


def test_task_from_text_type_errors_name_the_source() -> None:
    with pytest.raises(InputError, match=r"^/t: processes\[0\]\.cmdline: required field"):
        task_from_text('{"processes": [{"name": "a"}]}', "/t")
