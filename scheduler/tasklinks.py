"""Task links: the URLs a job's page shows next to each running instance, with Aurora's
substitutions (its scheduler's ``expandText``): ``%host%`` (the run's host), ``%port:NAME%``
(the run's port NAME), ``%shard_id%`` (the instance number) and ``%task_id%``.

A job's ``task_links`` are used when it has some; otherwise, as Aurora's scheduler fills
them in, an ``http`` link for a task with an ``http`` port and a ``health`` link for one with a
``health`` port. (Aurora's client drops the config's ``task_links``, AURORA-739, so there only
the defaults ever show; here the config's are kept.) Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULTS = {"http": "http://%host%:%port:http%", "health": "http://%host%:%port:health%"}


def templates(task_links: Mapping[str, str], ports: tuple[str, ...]) -> dict[str, str]:
    """The link templates of a job whose instances have the named ``ports``."""
    if task_links:
        return dict(task_links)
    return {name: url for name, url in DEFAULTS.items() if name in ports}


def expand(
    template: str, *, instance: int, task_id: str, host: str | None, ports: Mapping[str, int]
) -> str:
    """``template`` with the run's values put in (what is unknown stays as it is)."""
    text = template.replace("%shard_id%", str(instance)).replace("%task_id%", task_id)
    if host:
        text = text.replace("%host%", host)
    for name, port in ports.items():
        text = text.replace(f"%port:{name}%", str(port))
    return text


def links(
    task_links: Mapping[str, str],
    job_ports: tuple[str, ...],
    *,
    instance: int,
    task_id: str,
    host: str | None,
    ports: Mapping[str, int],
) -> list[tuple[str, str]]:
    """``(name, url)`` for one run, by name; a link still holding a ``%...%`` it could not fill
    is left out (it would lead nowhere)."""
    out = []
    for name, template in sorted(templates(task_links, job_ports).items()):
        url = expand(template, instance=instance, task_id=task_id, host=host, ports=ports)
        if "%host%" not in url and "%port:" not in url:
            out.append((name, url))
    return out
