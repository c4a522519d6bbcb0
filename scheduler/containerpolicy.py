"""Which containers the scheduler accepts in a job: the operator's choice, as Aurora's scheduler
flags (``-allowed_container_types``, ``-allow_docker_parameters``, ``-allow_container_volumes``).

Docker parameters (``--privileged``, ``--volume /:/host``, ...) and host volumes give a job's
author the agent host: off unless the operator turns them on (Aurora's defaults). Both kinds of
container are allowed by default, unlike Aurora (Mesos only): a container task is placed only on
hosts that advertise its kind (``placement.py``), so accepting one runs nothing anywhere until
an operator says where.

Pure; a refusal is ``(field, problem)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from borealis.contract.container import ContainerSpec, Kind


@dataclass(frozen=True)
class ContainerPolicy:
    kinds: frozenset[Kind] = frozenset(Kind)
    parameters: bool = False  # docker run parameters from the job
    volumes: bool = False  # host volumes from the job

    def refusal(self, container: ContainerSpec | None) -> tuple[str, str] | None:
        """Why a job with ``container`` is refused here (``None``: it is accepted)."""
        if container is None:
            return None
        kind = container.kind
        if kind not in self.kinds:
            allowed = ",".join(sorted(k.value for k in self.kinds)) or "none"
            return (
                f"container.{kind.value}",
                f"{kind.value} containers are not allowed by this scheduler (allowed: {allowed}; "
                "borealis scheduler --allowed-container-types)",
            )
        if container.parameters and not self.parameters:
            return (
                "container.docker.parameters",
                "Docker parameters are not allowed by this scheduler: they give the job the "
                "agent host (borealis scheduler --allow-docker-parameters)",
            )
        if container.volumes and not self.volumes:
            return (
                "container.mesos.volumes",
                "host volumes are not allowed by this scheduler: they give the job the agent "
                "host's files (borealis scheduler --allow-container-volumes)",
            )
        return None
