"""What the executor does with its task's container (``contract/container.py``).

* Docker: Mesos' Docker containerizer runs this executor inside the container, with
  ``MESOS_SANDBOX`` the sandbox as seen in there (``/mnt/mesos/sandbox``), not the agent's
  ``MESOS_DIRECTORY``. As Aurora's executor does, the agent's path is made a link to the
  mounted sandbox inside the container, so that the checkpoint root and the paths recorded in
  the header are the host's, where the observer reads them. When the two are the same path,
  no containerizer put the executor in a container (``borealis agent``): the task is refused
  rather than run on the host unasked.
* Mesos image: the image is only mounted at ``taskfs`` in the sandbox for the executor to run
  the processes in, which Aurora's executor does (through ``mesos-containerizer launch``) and
  this one does not: refused.
* Under an agent that runs container tasks on the host (``borealis agent --ignore-container``,
  which sets ``IGNORE_CONTAINER_ENV``) the container is recorded in the task's header instead.
"""

from __future__ import annotations

from pathlib import Path

from borealis.contract.container import ContainerSpec, Kind
from borealis.contract.errors import InputError

from . import identity
from .environment import MesosEnvironment


def prepare(container: ContainerSpec | None, env: MesosEnvironment) -> str:
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
    else:  # in the Docker container the containerizer made
        link_directory(env.directory, env.sandbox)
        return ""
    raise InputError(
        "TaskInfo.data",
        container.field,
        f"{container.image_reference}: {problem}; an agent that runs such tasks on the host "
        "without their container says so: borealis agent --ignore-container",
    )


def link_directory(directory: Path, sandbox: Path) -> None:
    """Inside a container, make the agent's ``directory`` path lead to the ``sandbox`` mounted
    there (left alone when the path exists: mounted too, or linked by an earlier executor)."""
    if directory.exists() or directory.is_symlink():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    directory.symlink_to(sandbox, target_is_directory=True)
