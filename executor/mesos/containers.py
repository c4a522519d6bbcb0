"""What the executor does with its task's container (``contract/container.py``).

* Docker: Mesos' Docker containerizer runs this executor inside the container, with
  ``MESOS_SANDBOX`` the sandbox as seen in there (``/mnt/mesos/sandbox``), not the agent's
  ``MESOS_DIRECTORY``; nothing to do. When the two are the same path, no containerizer put the
  executor in a container (``borealis agent``): the task is refused rather than run on the host
  unasked.
* Mesos image: the image is only mounted at ``taskfs`` in the sandbox for the executor to run
  the processes in, which Aurora's executor does (through ``mesos-containerizer launch``) and
  this one does not: refused.
* Under an agent that runs container tasks on the host (``borealis agent --ignore-container``,
  which sets ``IGNORE_CONTAINER_ENV``) the container is recorded in the task's header instead.
"""

from __future__ import annotations

from borealis.contract.container import ContainerSpec, Kind
from borealis.contract.errors import InputError

from . import identity
from .environment import MesosEnvironment


def ignored(container: ContainerSpec | None, env: MesosEnvironment) -> str:
    """The container the task runs without ("" when none is); ``InputError`` when it cannot
    be honoured here."""
    if container is None:
        return ""
    if identity.enabled(identity.IGNORE_CONTAINER_ENV):
        return container.describe()
    if container.kind is Kind.MESOS:
        problem = "this executor cannot run processes in a Mesos image (use Docker(...))"
    elif env.sandbox == env.directory:
        problem = "this agent did not start the executor in the Docker container"
    else:
        return ""  # in the Docker container the containerizer made
    raise InputError(
        "TaskInfo.data",
        container.field,
        f"{container.image_reference}: {problem}; an agent that runs such tasks on the host "
        "without their container says so: borealis agent --ignore-container",
    )
