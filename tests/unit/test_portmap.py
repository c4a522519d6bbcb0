"""Announcer port maps (contract/portmap.py), table by table: what each name resolves to, what
is requested, what binds to which number, and the one-line errors."""

from __future__ import annotations

import pytest

from borealis.contract.envelope import Announce, Envelope, bind_task, envelope_from_json
from borealis.contract.errors import InputError
from borealis.contract.jobkey import JobKey
from borealis.contract.portmap import PortMapError, resolve

# (portmap, referenced ports, requested, static, alias -> root)
RESOLVE = [
    # Announcer() alone: 'aurora' is the primary port's alias; http is requested even unused
    ({"aurora": "http"}, set(), ("http",), {}, {"aurora": "http"}),
    ({"aurora": "http"}, {"aurora"}, ("http",), {}, {"aurora": "http"}),
    # http_example.aurora: alias and http are one port
    (
        {"alias": "http"},
        {"tcp", "http", "alias", "health"},
        ("health", "http", "tcp"),
        {},
        {"alias": "http"},
    ),
    # static: never requested, whatever references it
    ({"http": "80"}, {"http"}, (), {"http": 80}, {}),
    ({"http": "80", "aurora": "http"}, {"aurora"}, (), {"http": 80, "aurora": 80}, {}),
    # transitive, in any order of the map
    (
        {"https": "aurora", "aurora": "http"},
        {"https"},
        ("http",),
        {},
        {"https": "http", "aurora": "http"},
    ),
    ({"a": "b", "b": "c", "c": "9000"}, {"a"}, (), {"a": 9000, "b": 9000, "c": 9000}, {}),
    # Aurora's docstring example: thrift -> service, a name outside the map: requested
    (
        {"http": "80", "aurora": "http", "https": "aurora", "thrift": "service"},
        set(),
        ("service",),
        {"http": 80, "aurora": 80, "https": 80},
        {"thrift": "service"},
    ),
    # what int() reads: spaces and a sign
    ({"web": " 8080 "}, set(), (), {"web": 8080}, {}),
    # no announcer: what the task references
    ({}, {"http", "health"}, ("health", "http"), {}, {}),
]


@pytest.mark.parametrize(("portmap", "referenced", "requested", "static", "roots"), RESOLVE)
def test_resolve(
    portmap: dict[str, str],
    referenced: set[str],
    requested: tuple[str, ...],
    static: dict[str, int],
    roots: dict[str, str],
) -> None:
    plan = resolve(portmap, referenced)
    assert plan.requested == requested
    assert dict(plan.static) == static
    assert dict(plan.roots) == roots


ERRORS = [
    ({"a": "a"}, "announce.portmap.a", "aliases form a cycle (a -> a)"),
    ({"x": "a", "a": "b", "b": "a"}, "announce.portmap.a", "aliases form a cycle (a -> b -> a)"),
    ({"alias": ""}, "announce.portmap.alias", "is an alias of nothing (an empty port name)"),
    ({"alias": "  "}, "announce.portmap.alias", "is an alias of nothing (an empty port name)"),
    ({"http": "0"}, "announce.portmap.http", "static port 0 is not from 1 to 65535"),
    ({"http": "-80"}, "announce.portmap.http", "static port -80 is not from 1 to 65535"),
    ({"http": "65536"}, "announce.portmap.http", "static port 65536 is not from 1 to 65535"),
    (
        {"my alias": "http"},
        "announce.portmap.my alias",
        "'my alias' is not a port name (letters, digits, _ . -)",
    ),
    (
        {"alias": "ht tp"},
        "announce.portmap.alias",
        "'ht tp' is not a port name (letters, digits, _ . -)",
    ),
]


@pytest.mark.parametrize(("portmap", "field", "problem"), ERRORS)
def test_resolve_errors_name_the_entry(portmap: dict[str, str], field: str, problem: str) -> None:
    with pytest.raises(PortMapError) as caught:
        resolve(portmap, {"http"})
    assert (caught.value.field, caught.value.problem) == (field, problem)
    assert str(caught.value) == f"{field}: {problem}"


# (portmap, given, numbers of every name)
NUMBERS = [
    ({"alias": "http"}, {"http": 31000}, {"http": 31000, "alias": 31000}),
    # a port given to the alias is its target's too
    ({"alias": "http"}, {"alias": 31000}, {"http": 31000, "alias": 31000}),
    ({"alias": "http"}, {"alias": 5, "http": 5}, {"http": 5, "alias": 5}),
    ({"http": "80", "aurora": "http"}, {}, {"http": 80, "aurora": 80}),
    ({"http": "80"}, {"http": 80, "health": 7}, {"http": 80, "health": 7}),
    ({"a": "b", "b": "c"}, {"c": 1, "x": 2}, {"a": 1, "b": 1, "c": 1, "x": 2}),
    ({"aurora": "http"}, {}, {}),  # nothing given: nothing bound
]


@pytest.mark.parametrize(("portmap", "given", "numbers"), NUMBERS)
def test_numbers(portmap: dict[str, str], given: dict[str, int], numbers: dict[str, int]) -> None:
    assert resolve(portmap).numbers(given) == numbers


NUMBER_ERRORS = [
    (
        {"alias": "http"},
        {"http": 8080, "alias": 8081},
        "announce.portmap.alias: is the same port as 'http', but 'http' was given 8080 and "
        "'alias' 8081",
    ),
    (
        {"alias": "http"},
        {"alias": 8081, "http": 8080},
        "announce.portmap.alias: is the same port as 'http', but 'alias' was given 8081 and "
        "'http' 8080",
    ),
    (
        {"http": "80"},
        {"http": 8080},
        "announce.portmap.http: is the static port 80, but was given 8080",
    ),
    (
        {"http": "80", "web": "http"},
        {"web": 81},
        "announce.portmap.web: is the static port 80, but was given 81",
    ),
]


@pytest.mark.parametrize(("portmap", "given", "message"), NUMBER_ERRORS)
def test_conflicting_numbers_are_refused(
    portmap: dict[str, str], given: dict[str, int], message: str
) -> None:
    with pytest.raises(PortMapError) as caught:
        resolve(portmap).numbers(given)
    assert str(caught.value) == message


def test_describe_says_what_each_port_is() -> None:
    plan = resolve({"alias": "aurora", "aurora": "http", "web": "80", "www": "web"}, {"health"})
    assert plan.describe() == [
        ("alias", "alias of 'http' via 'aurora'"),
        ("aurora", "alias of 'http'"),
        ("health", "requested"),
        ("http", "requested"),
        ("web", "static 80"),
        ("www", "static 80 (alias of 'web')"),
    ]
    assert plan.static_roots() == {"web": 80}


JOB = {"role": "www-data", "environment": "prod", "name": "web"}
TASK = {
    "name": "web",
    "processes": [
        {"name": "p", "cmdline": "serve {{thermos.ports[alias]}} {{thermos.ports[web]}}"}
    ],
}


def test_the_executor_binds_aliases_and_static_ports_from_the_envelope() -> None:
    env = envelope_from_json(
        {
            "job": JOB,
            "task": TASK,
            "ports": {"http": 31000},
            "announce": {"portmap": {"alias": "http", "web": "8443"}},
        }
    )
    assert env.port_numbers() == {"http": 31000, "alias": 31000, "web": 8443}
    spec = bind_task(env, task_id="t", hostname="h", user="u")
    assert spec.processes[0].cmdline == "serve 31000 8443"


def test_an_envelope_whose_ports_contradict_its_port_map_is_refused() -> None:
    env = Envelope(
        job=JobKey("www-data", "prod", "web"),
        task=TASK,
        ports={"http": 31000, "alias": 31001},
        announce=Announce(portmap={"alias": "http"}),
    )
    with pytest.raises(InputError, match=r"^TaskInfo.data: announce.portmap.alias: is the same"):
        bind_task(env, task_id="t", hostname="h", user="u")


def test_a_bad_port_map_is_refused_when_the_envelope_is_read() -> None:
    with pytest.raises(InputError) as caught:
        envelope_from_json(
            {"job": JOB, "task": TASK, "announce": {"portmap": {"a": "b", "b": "a"}}}
        )
    assert str(caught.value) == (
        "TaskInfo.data: announce.portmap.a: aliases form a cycle (a -> b -> a)"
    )
