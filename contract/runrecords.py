"""The JSON of the records a run's coordinator writes: a process status and a warning.

The one definition of their field names, shared by ``records.encode`` (every writer that
holds ``Record`` objects) and by the shim, which writes these two kinds of records for every
run of a task and is kept small: it builds them from plain values, without the record
classes, their enums and their readers. An identity is ``[pid, start_ticks]``.

``to_bytes`` writes the compact JSON that ``json.dumps(obj, separators=(",", ":"),
ensure_ascii=False)`` writes, for the only values records hold (str, int, float, bool, None,
lists and dicts of those), without importing ``json``: the ``json`` package brings ``re`` and
the decoder with it, some 0.3 MiB in every shim. ``records.encode``, which the runner calls for
every record it merges, uses json's C encoder instead; ``tests/unit/test_runrecords.py``
checks that the two write the same bytes.
"""

from __future__ import annotations

# JSON's escapes: the two that must be, and every control character below U+0020.
_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({ord("\b"): "\\b", ord("\t"): "\\t", ord("\n"): "\\n", ord("\f"): "\\f"})
_ESCAPES.update({ord("\r"): "\\r", ord('"'): '\\"', ord("\\"): "\\\\"})


def _json(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"a record cannot hold {value!r}")
        return float.__repr__(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_json(str(k)) + ":" + _json(v) for k, v in value.items()) + "}"
    raise TypeError(f"a record cannot hold a {type(value).__name__}")


def to_bytes(obj: dict[str, object]) -> bytes:
    """A record object as its stored payload: compact JSON, UTF-8."""
    return _json(obj).encode()


def process_status(
    name: str,
    run: int,
    state: str,
    time: float,
    *,
    coordinator: list[int] | None = None,
    pid: list[int] | None = None,
    return_code: int | None = None,
    offset: int | None = None,
    reason: str = "",
) -> dict[str, object]:
    obj: dict[str, object] = {
        "t": "process",
        "name": name,
        "run": run,
        "state": state,
        "time": time,
    }
    if coordinator is not None:
        obj["coordinator"] = coordinator
    if pid is not None:
        obj["pid"] = pid
    if return_code is not None:
        obj["rc"] = return_code
    if offset is not None:
        obj["offset"] = offset
    if reason:
        obj["reason"] = reason
    return obj


def process_warning(name: str, run: int, seq: int, time: float, message: str) -> dict[str, object]:
    return {"t": "warning", "name": name, "run": run, "seq": seq, "time": time, "message": message}
