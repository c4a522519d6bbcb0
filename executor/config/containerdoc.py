"""The container of the job a config selects (``job create``, ``run``, ``inspect``): Aurora's
``Job.container`` read into ``contract/container.py``'s model, errors naming its field."""

from __future__ import annotations

from borealis.contract.container import ContainerSpec, container_from_json, from_aurora
from borealis.contract.errors import InputError
from borealis.contract.reading import Reader

from . import convert


def container_of(selection: convert.Selection, *, strict: bool = True) -> ContainerSpec | None:
    """The selected job's container (``None``: none, or an exported task, which has none).
    ``strict``: a template left unbound in it is an error; otherwise (a container that will
    be ignored) it is kept as ``{{...}}`` text."""
    job = selection.job
    if job is None or not job.has_container():
        return None
    source = selection.source
    plain, unbound = convert.to_plain(job.container(), source, "container")
    document = from_aurora(plain, source)
    if document is None:
        return None
    spec = container_from_json(Reader(source), document, "container")
    if unbound and strict:
        field = spec.field if spec is not None else "container"
        raise InputError(source, field, unbound_problem(unbound[0][1]))
    return spec


def unbound_problem(ref: str) -> str:
    if ref.startswith("docker.image["):
        return (
            f"{{{{{ref}}}}} is left unbound: Aurora's client asks the Docker registry for the "
            "image's digest, Borealis does not (name the image, e.g. image='NAME:TAG')"
        )
    return convert.unbound_problem(ref)


def refusal(container: ContainerSpec) -> str:
    """Why ``borealis run`` will not run a task with ``container`` (the field is named apart)."""
    return (
        f"{container.image_reference}: borealis run cannot run a {container.kind.value} "
        "container (it runs processes on this host); pass --ignore-container to run the "
        "task on the host without it"
    )
