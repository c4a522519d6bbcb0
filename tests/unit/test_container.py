"""The job's container (contract/container.py) and its Mesos ContainerInfo
(scheduler/mesos/containerinfo.py), as tables: Aurora's three forms read, every refusal one
line naming the field, the job JSON round trip, and config_id left alone without one."""

from __future__ import annotations

from typing import Any

import pytest

from borealis.contract.container import (
    ContainerSpec,
    Kind,
    advertised,
    container_from_json,
    from_aurora,
    kinds_from_text,
)
from borealis.contract.errors import InputError
from borealis.contract.jobspec import job_from_json
from borealis.contract.reading import Reader
from borealis.scheduler.containerpolicy import ContainerPolicy
from borealis.scheduler.mesos.containerinfo import container_info

DOCKER = {"image": "python:3.11", "parameters": [{"name": "env", "value": "A=1"}]}


@pytest.mark.parametrize(
    "plain, expected",
    [
        (None, None),
        ({"docker": DOCKER}, {"docker": DOCKER}),  # Container(docker=Docker(...))
        (DOCKER, {"docker": DOCKER}),  # Docker(...)
        (
            {"image": {"name": "debian", "tag": "12"}, "volumes": []},
            {"mesos": {"image": {"docker": {"name": "debian", "tag": "12"}}, "volumes": []}},
        ),
        (
            {"image": {"name": "app", "image_id": "sha512-1"}, "volumes": []},
            {"mesos": {"image": {"appc": {"name": "app", "image_id": "sha512-1"}}, "volumes": []}},
        ),
        ({"volumes": []}, {"mesos": {"volumes": []}}),  # Mesos(): read as no container below
    ],
)
def test_aurora_forms(plain: Any, expected: Any) -> None:
    assert from_aurora(plain, "c.aurora") == expected


def test_an_empty_container_is_refused_naming_docker() -> None:
    with pytest.raises(InputError, match=r"^c\.aurora: container\.docker: Container\(\) needs"):
        from_aurora({}, "c.aurora")


@pytest.mark.parametrize(
    "value, message",
    [
        ({"docker": {}}, "c: container.docker.image: required field is missing"),
        ({"docker": {"image": ""}}, "c: container.docker.image: must not be empty"),
        ({"docker": {"image": "x", "tag": 1}}, "c: container.docker.tag: unknown field"),
        (
            {"docker": {"image": "x", "parameters": [{"name": "", "value": "v"}]}},
            "c: container.docker.parameters[0].name: must not be empty",
        ),
        ({"docker": {"image": "x"}, "mesos": {}}, "c: container: expected exactly one of"),
        (
            {"mesos": {"volumes": [{"container_path": "/a", "host_path": "/b", "mode": "RO"}]}},
            "c: container.mesos.volumes: volumes need an image",
        ),
        (
            {"mesos": {"image": {"docker": {"name": "d"}}}},
            "c: container.mesos.image.docker.tag: expected a string",
        ),
        (
            {
                "mesos": {
                    "image": {"appc": {"name": "a", "image_id": "i"}},
                    "volumes": [{"container_path": "/a", "host_path": "/b", "mode": "rw"}],
                }
            },
            "c: container.mesos.volumes[0].mode: expected one of RO, RW, got 'rw'",
        ),
    ],
)
def test_refusals_name_the_field(value: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        container_from_json(Reader("c"), value, "container")
    assert str(caught.value).startswith(message)


def test_mesos_without_an_image_is_no_container() -> None:
    assert container_from_json(Reader("c"), {"mesos": {"volumes": []}}, "container") is None


@pytest.mark.parametrize(
    "value, kind, field, described",
    [
        (
            {"docker": DOCKER},
            Kind.DOCKER,
            "container.docker.image",
            "Docker container (image python:3.11)",
        ),
        (
            {"mesos": {"image": {"docker": {"name": "debian", "tag": "12"}}}},
            Kind.MESOS,
            "container.mesos.image",
            "Mesos container (docker image debian:12)",
        ),
    ],
)
def test_kind_field_description_and_round_trip(
    value: Any, kind: Kind, field: str, described: str
) -> None:
    spec = container_from_json(Reader("c"), value, "container")
    assert isinstance(spec, ContainerSpec)
    assert (spec.kind, spec.field, spec.describe()) == (kind, field, described)
    assert container_from_json(Reader("c"), spec.to_json(), "container") == spec


@pytest.mark.parametrize(
    "value, kinds",
    [
        (None, set()),
        ("", set()),
        ("docker", {"docker"}),
        ("docker,mesos", {"docker", "mesos"}),
        ("docker/mesos", {"docker", "mesos"}),
        ("{docker,mesos}", {"docker", "mesos"}),
    ],
)
def test_advertised(value: str | None, kinds: set[str]) -> None:
    assert advertised(value) == kinds


JOB: dict[str, Any] = {
    "key": {"cluster": "local", "role": "r", "environment": "devel", "name": "j"},
    "task": {
        "name": "t",
        "processes": [{"name": "p", "cmdline": "true"}],
        "resources": {"cpu": 0.1, "ram": 1 << 24, "disk": 1 << 24},
    },
}


def test_the_job_json_carries_it_and_config_id_is_unchanged_without_one() -> None:
    plain = job_from_json(JOB)
    assert "container" not in plain.to_json()
    boxed = job_from_json({**JOB, "container": {"docker": DOCKER}})
    assert boxed.to_json()["container"] == {"docker": DOCKER}
    assert job_from_json(boxed.to_json()) == boxed
    assert boxed.config_id != plain.config_id  # a container changes what an instance runs
    assert job_from_json({**JOB, "container": None}).config_id == plain.config_id


def test_container_info_as_aurora_sends_it() -> None:
    docker = container_from_json(Reader("c"), {"docker": DOCKER}, "container")
    assert docker is not None
    assert container_info(docker) == {
        "type": "DOCKER",
        "docker": {"image": "python:3.11", "parameters": [{"key": "env", "value": "A=1"}]},
    }
    appc = container_from_json(
        Reader("c"),
        {
            "mesos": {
                "image": {"appc": {"name": "app", "image_id": "sha512-1"}},
                "volumes": [{"container_path": "/d", "host_path": "/h", "mode": "RW"}],
            }
        },
        "container",
    )
    assert appc is not None
    assert container_info(appc) == {
        "type": "MESOS",
        "mesos": {},
        "volumes": [
            {"container_path": "/d", "host_path": "/h", "mode": "RW"},
            {
                "container_path": "taskfs",
                "mode": "RO",
                "image": {"type": "APPC", "appc": {"name": "app", "id": "sha512-1"}},
            },
        ],
    }


PARAMS = ContainerSpec(Kind.DOCKER, image="busybox", parameters=(("privileged", "true"),))
VOLUMES = container_from_json(
    Reader("c"),
    {
        "mesos": {
            "image": {"docker": {"name": "debian", "tag": "12"}},
            "volumes": [{"container_path": "/h", "host_path": "/", "mode": "RW"}],
        }
    },
    "container",
)
BARE = ContainerSpec(Kind.DOCKER, image="busybox")


@pytest.mark.parametrize(
    "policy, container, field",
    [
        (ContainerPolicy(), None, None),
        (ContainerPolicy(), BARE, None),
        (ContainerPolicy(), PARAMS, "container.docker.parameters"),
        (ContainerPolicy(parameters=True), PARAMS, None),
        (ContainerPolicy(), VOLUMES, "container.mesos.volumes"),
        (ContainerPolicy(volumes=True), VOLUMES, None),
        (ContainerPolicy(kinds=frozenset({Kind.MESOS})), BARE, "container.docker"),
        (ContainerPolicy(kinds=frozenset(), parameters=True), PARAMS, "container.docker"),
    ],
)
def test_the_operator_s_container_policy(
    policy: ContainerPolicy, container: ContainerSpec | None, field: str | None
) -> None:
    refusal = policy.refusal(container)
    assert (refusal[0] if refusal else None) == field
    if refusal:
        assert "borealis scheduler --allow" in refusal[1]


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("docker,mesos", {Kind.DOCKER, Kind.MESOS}),
        (" Docker ", {Kind.DOCKER}),
        ("none", set()),
        ("", set()),
    ],
)
def test_allowed_container_types(text: str, kinds: set[Kind]) -> None:
    assert kinds_from_text(text) == kinds


def test_an_unknown_container_type_is_named() -> None:
    with pytest.raises(ValueError, match="unknown container type 'rkt'"):
        kinds_from_text("docker,rkt")
