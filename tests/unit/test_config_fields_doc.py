"""docs/config.md's field table names every field of every struct of the configuration schema
(issue #15: each takes effect as in Aurora, differs as said, or is refused): a field added to
``executor/config/schema.py`` without a row fails here."""

from __future__ import annotations

import re

from pystachio.composite import Structural
from support import REPO

from borealis.executor.config import schema

DOC = (REPO / "docs" / "config.md").read_text()
TABLE = DOC[DOC.index("## Every field") :]
TABLE = TABLE[: TABLE.index("\n## ", 4)]


def structs() -> list[tuple[str, type[Structural]]]:
    found = []
    for name in schema.__all__:
        value = getattr(schema, name)
        if isinstance(value, type) and issubclass(value, Structural) and name != "Job":
            found.append((name, value))  # Job is MesosJob under its usual name
    return found


def first_cell(row: str) -> str:
    cells = row.split("|")
    return cells[1] if len(cells) > 2 else ""


def covered(struct: str, field: str) -> bool:
    """Where a field counts as having a row: ``Struct.field`` (or ``.field`` after
    ``Struct.``, or ``*.field``) in a row; a row whose first cell is the whole struct (``see
    ...``); the struct's constructor written out with the field (``RotatePolicy(log_size=...,
    backups=...)``); or the field in the first cell of a row under a heading naming the struct."""
    for row in TABLE.splitlines():
        first = first_cell(row)
        if f"`{struct}.{field}`" in row or f"`*.{field}`" in row:
            return True
        if f"`{struct}." in first and f"`.{field}`" in first:
            return True
        if re.search(rf"`{struct}`(;|\s*$)", first):
            return True
        for args in re.findall(rf"\b{struct}\(([^)]*)\)", row):
            if re.search(rf"\b{field}\b", args):
                return True
    heading = "**Job**" if struct == "MesosJob" else f"**{struct}**"
    for block in re.split(r"\n(?=\*\*)", TABLE):
        lines = block.split("\n")
        if heading in lines[0] and any(f"`{field}`" in first_cell(r) for r in lines[1:]):
            return True
    return False


def test_a_missing_row_is_found() -> None:
    assert not covered("Process", "no_such_field")
    assert not covered("Task", "ram")  # a Resources field is not a Task's


def test_every_schema_field_has_a_row() -> None:
    assert len(structs()) >= 30  # the schema's structs are found (not a vacuous pass)
    missing = [
        f"{name}.{field}"
        for name, struct in structs()
        for field in struct.TYPEMAP
        if not covered(name, field)
    ]
    assert missing == []
