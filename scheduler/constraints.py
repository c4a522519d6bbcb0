"""Aurora's placement constraints, parsed: ``{'attr': 'v1,v2'}``, negated ``'!v1,v2'``, and
``'limit:N'`` (at most N instances of the job per value of the attribute). The attribute
``host`` is every host's name, so ``{'host': 'limit:1'}`` asks for host diversity.

Pure; the errors are one line naming the attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ATTRIBUTE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
LIMIT_RE = re.compile(r"^limit:(\d{1,6})$")


class ConstraintError(ValueError):
    pass


@dataclass(frozen=True)
class Constraint:
    attribute: str
    values: frozenset[str] = frozenset()
    negated: bool = False
    limit: int | None = None  # set: a limit constraint (values unused)

    def allows(self, value: str | None) -> bool:
        """Whether a host whose attribute is ``value`` (``None``: absent) passes a value
        constraint (limit constraints are checked by the placer, which counts)."""
        if self.limit is not None:
            return True
        present = value is not None and value in self.values
        return not present if self.negated else present

    def to_text(self) -> str:
        if self.limit is not None:
            return f"limit:{self.limit}"
        return ("!" if self.negated else "") + ",".join(sorted(self.values))


def parse(attribute: str, text: str) -> Constraint:
    if not ATTRIBUTE_RE.match(attribute):
        raise ConstraintError(f"constraint attribute {attribute!r} is not a valid name")
    if not isinstance(text, str) or not text.strip():
        raise ConstraintError(f"constraint {attribute!r}: empty value")
    text = text.strip()
    limit = LIMIT_RE.match(text)
    if limit:
        n = int(limit.group(1))
        if n < 1:
            raise ConstraintError(f"constraint {attribute!r}: limit must be at least 1")
        return Constraint(attribute, limit=n)
    if text.startswith("limit:"):
        raise ConstraintError(f"constraint {attribute!r}: expected limit:N, got {text!r}")
    negated = text.startswith("!")
    values = frozenset(v.strip() for v in text.lstrip("!").split(",") if v.strip())
    if not values:
        raise ConstraintError(f"constraint {attribute!r}: no values in {text!r}")
    return Constraint(attribute, values, negated)


def parse_all(constraints: dict[str, str]) -> tuple[Constraint, ...]:
    return tuple(parse(attribute, text) for attribute, text in sorted(constraints.items()))
