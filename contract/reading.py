"""Reading decoded JSON into typed values, each error naming its source and field path.

``Reader("task.json").integer(value, "processes[2].max_failures")`` returns the integer or
raises ``InputError("task.json", "processes[2].max_failures", "expected ...")``. Used by the
task format (``taskspec``) and the launch envelope (``envelope``).

Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import InputError

T = TypeVar("T")


class Reader:
    """Reads decoded JSON into typed values; every error names the source and field path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> InputError:
        return InputError(self.source, path, problem)

    def obj(self, value: Any, path: str, known: frozenset[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {show(value)}")
        unknown = sorted(set(value) - known)
        if unknown:
            raise self.fail(
                join_path(path, unknown[0]),
                f"unknown field (known fields: {', '.join(sorted(known))})",
            )
        return value

    def string(self, value: Any, path: str, *, nonempty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {show(value)}")
        if nonempty and not value:
            raise self.fail(path, "must not be empty")
        if "\0" in value:
            # No string of a task, job or envelope can carry one: argv, environment
            # entries and paths end at the first NUL, so it could only fail later.
            raise self.fail(path, "must not contain a NUL byte")
        return value

    def integer(self, value: Any, path: str, *, minimum: int | None = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail(
                    path, f"expected an integer{bound_text(minimum)}, got {show(value)}"
                )
        if minimum is not None and value < minimum:
            raise self.fail(path, f"expected an integer{bound_text(minimum)}, got {value}")
        return int(value)

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number >= 0, got {show(value)}")
        if value < 0:
            raise self.fail(path, f"expected a number >= 0, got {value}")
        return float(value)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {show(value)}")
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        text = self.string(value, path)
        if text not in choices:
            raise self.fail(path, f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    def optional(
        self, obj: dict[str, Any], key: str, path: str, convert: Callable[[Any, str], T], default: T
    ) -> T:
        if key not in obj or obj[key] is None:
            return default
        return convert(obj[key], join_path(path, key))


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def bound_text(minimum: int | None) -> str:
    return f" >= {minimum}" if minimum is not None else ""


def show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)
