"""A job's container: Aurora's ``Job.container`` as the job JSON's ``container`` field, and the
agent attribute that says which kinds of container a host can run.

::

    {"docker": {"image": "python:3.11", "parameters": [{"name": "env", "value": "A=1"}]}}
    {"mesos": {"image": {"docker": {"name": "debian", "tag": "bookworm"}}
                        or {"appc": {"name": "example.com/app", "image_id": "sha512-..."}},
               "volumes": [{"container_path": "/data", "host_path": "/srv/data", "mode": "RO"}]}}

The shape is Aurora's ``Container`` union (``docker`` or ``mesos``), so an error names the
config's own field (``container.docker.image``). ``Container(docker=Docker(...))`` and
``Docker(...)`` are the same container; ``Mesos()`` without an image is no container at all,
as in Aurora (it runs as any task does), and volumes without an image are refused: Aurora
mounts volumes only into an image's filesystem and would drop them without a word.

A host runs a kind of container only when its ``containers`` attribute lists it
(``containers=docker,mesos``; ``docker/mesos`` too, since a Mesos agent's text attribute may
not hold a comma); nothing here runs a container, so a task that needs one is
placed only on such a host, and ``borealis run`` refuses it unless told to run it on the host
(docs/containers.md).

Standard library only.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .reading import Reader, join_path, show

ATTRIBUTE = "containers"  # the host attribute listing the kinds a host runs


class Kind(enum.Enum):
    DOCKER = "docker"  # Mesos' Docker containerizer runs the executor in a Docker image
    MESOS = "mesos"  # Mesos' own containerizer, with a Docker or appc filesystem image


class Mode(enum.Enum):
    RO = "RO"
    RW = "RW"


@dataclass(frozen=True)
class Image:
    """A Mesos container's filesystem image: a Docker image (``name:tag``) or an appc one."""

    kind: str  # "docker" or "appc"
    name: str
    tag: str = ""  # docker
    image_id: str = ""  # appc

    def reference(self) -> str:
        return (
            f"{self.name}:{self.tag}" if self.kind == "docker" else f"{self.name}@{self.image_id}"
        )

    def to_json(self) -> dict[str, Any]:
        if self.kind == "docker":
            return {"docker": {"name": self.name, "tag": self.tag}}
        return {"appc": {"name": self.name, "image_id": self.image_id}}


@dataclass(frozen=True)
class Volume:
    container_path: str
    host_path: str
    mode: Mode = Mode.RO

    def to_json(self) -> dict[str, Any]:
        return {
            "container_path": self.container_path,
            "host_path": self.host_path,
            "mode": self.mode.value,
        }


@dataclass(frozen=True)
class ContainerSpec:
    kind: Kind
    image: str = ""  # DOCKER: the Docker image the executor runs in
    parameters: tuple[tuple[str, str], ...] = ()  # DOCKER: docker run's --NAME=VALUE
    filesystem: Image | None = None  # MESOS: always set (Mesos() without one is no container)
    volumes: tuple[Volume, ...] = ()  # MESOS

    @property
    def field(self) -> str:
        """The config field that asks for it (what a refusal names)."""
        return f"container.{self.kind.value}.image"

    @property
    def image_reference(self) -> str:
        if self.filesystem is not None:
            return f"{self.filesystem.kind} image {self.filesystem.reference()}"
        return f"image {self.image}"

    def describe(self) -> str:
        """``Docker container (image python:3.11)``, ``Mesos container (docker image a:b)``."""
        return f"{self.kind.value.capitalize()} container ({self.image_reference})"

    def to_json(self) -> dict[str, Any]:
        if self.kind is Kind.DOCKER:
            params = [{"name": n, "value": v} for n, v in self.parameters]
            return {"docker": {"image": self.image, "parameters": params}}
        assert self.filesystem is not None
        return {
            "mesos": {
                "image": self.filesystem.to_json(),
                "volumes": [v.to_json() for v in self.volumes],
            }
        }


def advertised(value: str | None) -> frozenset[str]:
    """The kinds a host's ``containers`` attribute lists (``docker,mesos`` or ``docker/mesos``;
    a Mesos SET ``{docker,mesos}``; none when absent)."""
    if not value:
        return frozenset()
    parts = re.split(r"[,/]", value.strip().strip("{}"))
    return frozenset(part.strip().lower() for part in parts if part.strip())


def kinds_from_text(text: str) -> frozenset[Kind]:
    """``docker,mesos`` (any case; ``none`` or empty: none at all); ``ValueError`` naming an
    unknown one."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()} - {"none"}
    known = {k.value: k for k in Kind}
    unknown = sorted(names - set(known))
    if unknown:
        raise ValueError(f"unknown container type {unknown[0]!r} (docker, mesos or none)")
    return frozenset(known[n] for n in names)


_DOCKER_KEYS = frozenset({"image", "parameters"})
_MESOS_KEYS = frozenset({"image", "volumes"})
_VOLUME_KEYS = frozenset({"container_path", "host_path", "mode"})


def container_from_json(r: Reader, value: Any, path: str) -> ContainerSpec | None:
    """The ``container`` field, checked (``None``: no container)."""
    obj = r.obj(value, path, frozenset({"docker", "mesos"}))
    if len(obj) != 1:
        raise r.fail(path, "expected exactly one of docker or mesos")
    if "docker" in obj:
        where = join_path(path, "docker")
        docker = r.obj(obj["docker"], where, _DOCKER_KEYS)
        if "image" not in docker:
            raise r.fail(join_path(where, "image"), "required field is missing")
        image = r.string(docker["image"], join_path(where, "image"), nonempty=True)
        raw = docker.get("parameters") or []
        if not isinstance(raw, list):
            raise r.fail(join_path(where, "parameters"), f"expected a list, got {show(raw)}")
        parameters = []
        for i, item in enumerate(raw):
            at = join_path(join_path(where, "parameters"), i)
            p = r.obj(item, at, frozenset({"name", "value"}))
            name = r.string(p.get("name"), join_path(at, "name"), nonempty=True)
            parameters.append((name, r.string(p.get("value"), join_path(at, "value"))))
        return ContainerSpec(Kind.DOCKER, image=image, parameters=tuple(parameters))
    where = join_path(path, "mesos")
    mesos = r.obj(obj["mesos"], where, _MESOS_KEYS)
    raw_volumes = mesos.get("volumes") or []
    if not isinstance(raw_volumes, list):
        raise r.fail(join_path(where, "volumes"), f"expected a list, got {show(raw_volumes)}")
    volumes = tuple(
        _volume(r, v, join_path(join_path(where, "volumes"), i)) for i, v in enumerate(raw_volumes)
    )
    if mesos.get("image") is None:
        if volumes:
            raise r.fail(
                join_path(where, "volumes"),
                "volumes need an image: Aurora mounts them only into an image's filesystem "
                "(and drops them silently without one)",
            )
        return None  # Mesos() alone: Aurora's default, no container
    filesystem = _image(r, mesos["image"], join_path(where, "image"))
    return ContainerSpec(Kind.MESOS, filesystem=filesystem, volumes=volumes)


def _image(r: Reader, value: Any, path: str) -> Image:
    obj = r.obj(value, path, frozenset({"docker", "appc"}))
    if len(obj) != 1:
        raise r.fail(path, "expected exactly one of docker or appc")
    kind = next(iter(obj))
    where = join_path(path, kind)
    second = "tag" if kind == "docker" else "image_id"
    fields = r.obj(obj[kind], where, frozenset({"name", second}))
    name = r.string(fields.get("name"), join_path(where, "name"), nonempty=True)
    other = r.string(fields.get(second), join_path(where, second), nonempty=True)
    if kind == "docker":
        return Image("docker", name, tag=other)
    return Image("appc", name, image_id=other)


def _volume(r: Reader, value: Any, path: str) -> Volume:
    obj = r.obj(value, path, _VOLUME_KEYS)
    mode = r.choice(obj.get("mode", "RO"), join_path(path, "mode"), tuple(m.value for m in Mode))
    return Volume(
        container_path=r.string(
            obj.get("container_path"), join_path(path, "container_path"), nonempty=True
        ),
        host_path=r.string(obj.get("host_path"), join_path(path, "host_path"), nonempty=True),
        mode=Mode(mode),
    )


def from_aurora(plain: Any, source: str = "config") -> dict[str, Any] | None:
    """The ``container`` field from an evaluated Aurora ``Container``, ``Docker`` or ``Mesos``
    (plain values; ``None`` when there is none). The three are told apart by their fields:
    ``Container`` has ``docker``, ``Docker`` a string ``image``, ``Mesos`` its ``volumes``."""
    if plain is None:
        return None
    if not isinstance(plain, dict):
        raise InputError(source, "container", f"expected a container, got {show(plain)}")
    if "docker" in plain or plain == {}:
        if not plain.get("docker"):
            raise InputError(source, "container.docker", "Container() needs docker=Docker(...)")
        return {"docker": plain["docker"]}
    if isinstance(plain.get("image"), str):
        return {"docker": plain}
    image = plain.get("image")
    if isinstance(image, dict):
        kind = "docker" if "tag" in image else "appc"
        plain = {**plain, "image": {kind: image}}
    return {"mesos": plain}
