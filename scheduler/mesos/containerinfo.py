"""A job's container as Mesos ``ContainerInfo`` (``mesos.proto``), set where Aurora sets it:
on the ``ExecutorInfo`` of the launch, since the Borealis executor is what runs in it.

* Docker (``Docker(...)``, ``Container(docker=...)``): ``type DOCKER`` with ``docker.image``
  and ``docker.parameters`` (``{key, value}``, docker run's ``--key=value``).
* Mesos with an image (``Mesos(image=...)``): ``type MESOS`` whose volumes are the job's
  (``host_path`` -> ``container_path``, ``RO``/``RW``) and, last, the image itself mounted
  read-only at ``taskfs`` (a Docker image as ``name:tag``, an appc one by name and id), which
  is where Aurora's executor finds the task's filesystem.

Pure: JSON in, JSON out.
"""

from __future__ import annotations

from typing import Any

from borealis.contract.container import ContainerSpec, Image, Kind

TASK_FILESYSTEM = "taskfs"  # where the image is mounted in the executor's sandbox (as Aurora)


def container_info(container: ContainerSpec) -> dict[str, Any]:
    if container.kind is Kind.DOCKER:
        parameters = [{"key": name, "value": value} for name, value in container.parameters]
        return {"type": "DOCKER", "docker": {"image": container.image, "parameters": parameters}}
    assert container.filesystem is not None  # a Mesos container without an image is none
    volumes: list[dict[str, Any]] = [
        {"container_path": v.container_path, "host_path": v.host_path, "mode": v.mode.value}
        for v in container.volumes
    ]
    volumes.append(
        {"container_path": TASK_FILESYSTEM, "mode": "RO", "image": image(container.filesystem)}
    )
    return {"type": "MESOS", "mesos": {}, "volumes": volumes}


def image(filesystem: Image) -> dict[str, Any]:
    if filesystem.kind == "docker":
        return {"type": "DOCKER", "docker": {"name": f"{filesystem.name}:{filesystem.tag}"}}
    return {"type": "APPC", "appc": {"name": filesystem.name, "id": filesystem.image_id}}
