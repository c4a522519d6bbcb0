"""The container of the job a config selects (``borealis run`` and ``inspect``): Aurora's
``Job.container`` read into ``contract/container.py``'s model, errors naming its field."""

from __future__ import annotations

from borealis.contract.container import ContainerSpec, container_from_json, from_aurora
from borealis.contract.errors import InputError
from borealis.contract.reading import Reader

from . import convert


def container_of(selection: convert.Selection) -> ContainerSpec | None:
    """The selected job's container (``None``: none, or an exported task, which has none)."""
    job = selection.job
    if job is None or not job.has_container():
        return None
    source = selection.source
    plain, unbound = convert.to_plain(job.container(), source, "container")
    for path, ref in unbound:
        raise InputError(source, path, convert.unbound_problem(ref))
    document = from_aurora(plain, source)
    if document is None:
        return None
    return container_from_json(Reader(source), document, "container")


def refusal(container: ContainerSpec) -> str:
    """Why ``borealis run`` will not run a task with ``container`` (the field is named apart)."""
    return (
        f"{container.image_reference}: borealis run cannot run a {container.kind.value} "
        "container (it runs processes on this host); pass --ignore-container to run the "
        "task on the host without it"
    )
