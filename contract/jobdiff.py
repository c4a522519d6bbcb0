"""What differs between two configs of a job, field by field (``borealis job diff``, and each
update's record).

``job_diff(old, new)`` lists ``(path, old value, new value)`` for every leaf of the job JSON
(``contract/jobspec.py``) that differs, with paths such as ``task.processes[0].cmdline``; a
field only one side has shows ``None`` on the other.

Standard library only.
"""

from __future__ import annotations

from typing import Any

from .jobspec import JobSpec

MISSING = None


def _leaves(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _leaves(value[key], f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            _leaves(item, f"{path}[{i}]", out)
    else:
        out[path] = value


def field_diff(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _leaves(old, "", before)
    _leaves(new, "", after)
    return [
        (path, before.get(path, MISSING), after.get(path, MISSING))
        for path in sorted(set(before) | set(after))
        if before.get(path, MISSING) != after.get(path, MISSING)
    ]


def job_diff(old: JobSpec, new: JobSpec) -> list[list[Any]]:
    """The differing fields of two configs of a job, as JSON-ready ``[path, old, new]``."""
    return [list(entry) for entry in field_diff(old.to_json(), new.to_json())]
