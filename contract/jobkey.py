"""A job's key: Aurora's role, environment and name, and the cluster a client names it in.

``cluster/role/environment/name`` is how people and the scheduler write it; a launch envelope
carries only role, environment and name (an executor has no use for the cluster). Identifiers
follow Aurora: letters, digits, ``_``, ``.``, ``-``; they become directory names (the
serverset path, run directories), so none may start with ``.`` (``.``, ``..`` and hidden names
are refused).

Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .reading import Reader, join_path

IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")  # Aurora's job key identifiers
PARTS = ("role", "environment", "name")


@dataclass(frozen=True)
class JobKey:
    role: str
    environment: str
    name: str
    cluster: str = ""  # empty where it is not needed (a launch envelope)

    def path(self) -> str:
        """``role/environment/name``: where the job's serverset and Aurora's URLs put it."""
        return f"{self.role}/{self.environment}/{self.name}"

    def __str__(self) -> str:
        return f"{self.cluster}/{self.path()}" if self.cluster else self.path()

    def to_json(self) -> dict[str, str]:
        out = {"role": self.role, "environment": self.environment, "name": self.name}
        return {"cluster": self.cluster, **out} if self.cluster else out

    @classmethod
    def parse(cls, text: str, source: str = "job key") -> JobKey:
        """``CLUSTER/ROLE/ENV/NAME`` (``InputError`` for anything else)."""
        parts = text.split("/")
        if len(parts) != 4:
            raise InputError(source, text, "expected CLUSTER/ROLE/ENV/NAME")
        r = Reader(source)
        cluster, role, environment, name = (
            identifier_from_json(r, part, field)
            for part, field in zip(parts, ("cluster", *PARTS), strict=True)
        )
        return cls(role, environment, name, cluster)


def parse_instances(text: str, source: str = "instances") -> frozenset[int]:
    """Aurora's instance ranges: ``0-3,7`` is instances 0, 1, 2, 3 and 7."""
    found: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise InputError(source, text, "expected instance ranges such as 0-3,7")
        first, last = int(low), int(high) if dash else int(low)
        if last < first or last >= 10_000:
            raise InputError(source, text, f"{part.strip()!r} is not a range of instances")
        found.update(range(first, last + 1))
    return frozenset(found)


def parse_with_instances(
    text: str, source: str = "job key"
) -> tuple[JobKey, frozenset[int] | None]:
    """``CLUSTER/ROLE/ENV/NAME[/INSTANCES]``: the key and the instances (None: all)."""
    key, slash, ranges = text, "", ""
    if text.count("/") == 4:
        key, slash, ranges = text.rpartition("/")
    return JobKey.parse(key, source), parse_instances(ranges, source) if slash else None


def identifier_from_json(r: Reader, value: Any, path: str) -> str:
    text = r.string(value, path, nonempty=True)
    if not IDENTIFIER_RE.match(text):
        raise r.fail(path, f"{text!r} is not a valid identifier (letters, digits, '_', '.', '-')")
    if text.startswith("."):
        raise r.fail(path, f"{text!r} must not start with '.'")
    return text


def job_key_from_json(r: Reader, value: Any, path: str, *, cluster: bool) -> JobKey:
    """A key object: with ``cluster`` required (a job), or without one (an envelope)."""
    names = ("cluster", *PARTS) if cluster else PARTS
    obj = r.obj(value, path, frozenset(names))
    for key in names:
        if key not in obj:
            raise r.fail(join_path(path, key), "required field is missing")
    values = {key: identifier_from_json(r, obj[key], join_path(path, key)) for key in names}
    return JobKey(**values)
