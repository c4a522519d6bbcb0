"""Aurora's placement constraints, parsed: ``{'attr': 'v1,v2'}``, negated ``'!v1,v2'``, and
``'limit:N'`` (at most N instances of the job per value of the attribute). The attribute
``host`` is every host's name, so ``{'host': 'limit:1'}`` asks for host diversity.

``dedicated`` is Aurora's: a job asks for hosts dedicated to it with one value ``ROLE/NAME``
(ROLE its own role, or ``*``), and a host with a ``dedicated`` attribute takes only jobs that
ask for it (every other job gets an implied "no ``dedicated`` attribute" constraint).

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
    absent: bool = False  # the host must not have the attribute at all

    def allows(self, value: str | None) -> bool:
        """Whether a host whose attribute is ``value`` (``None``: absent) passes a value
        constraint (limit constraints are checked by the placer, which counts)."""
        if self.limit is not None:
            return True
        if self.absent:
            return value is None
        present = value is not None and value in self.values
        return not present if self.negated else present

    def to_text(self) -> str:
        if self.absent:
            return "(absent)"
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


DEDICATED = "dedicated"


def parse_all(constraints: dict[str, str], role: str | None = None) -> tuple[Constraint, ...]:
    """A job's constraints, with Aurora's dedicated-host rule; with ``role`` (a job being
    submitted), a ``dedicated`` constraint is checked as Aurora's scheduler checks it."""
    parsed = tuple(parse(attribute, text) for attribute, text in sorted(constraints.items()))
    if DEDICATED not in constraints:
        return (*parsed, Constraint(DEDICATED, absent=True))
    if role is not None:
        dedicated = next(c for c in parsed if c.attribute == DEDICATED)
        if dedicated.limit is not None or len(dedicated.values) != 1:
            raise ConstraintError(
                "constraint 'dedicated': must be one value ROLE/NAME, not a limit or a list"
            )
        owner = next(iter(dedicated.values)).split("/")[0]
        if owner not in ("*", role):
            raise ConstraintError(
                f"constraint 'dedicated': only {owner} may use hosts dedicated to {owner}"
            )
    return parsed
