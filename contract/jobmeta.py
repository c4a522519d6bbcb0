"""What a job says about itself: Aurora's ``tier``, ``production``, ``metadata`` and
``task_links`` as job JSON fields, and the job fields a Borealis job may not set.

::

    "tier": "preemptible" | "preferred" | "revocable",  "production": false,
    "metadata": [{"key": "owner", "value": "team-a"}],
    "task_links": {"logs": "http://%host%:%port:http%/logs"}

``tier`` is one of Aurora's default tiers (``preemptible`` when unset) and ``production`` is
derived from it as Aurora's scheduler derives it (only ``preferred`` is production). Their
quota and preemption meaning arrives with issue #18; until then they are stored and shown.
``metadata`` (key/value pairs, duplicates dropped, as Aurora's set) and ``task_links`` are
stored and shown. Refused here, with one line: a GPU (Aurora's default cluster refuses
them too), and a custom executor.

Standard library only.
"""

from __future__ import annotations

from typing import Any

from .errors import InputError
from .reading import Reader, join_path, show

TIERS = ("preemptible", "preferred", "revocable")  # Aurora's default tiers.json
DEFAULT_TIER = "preemptible"
PRODUCTION_TIERS = frozenset({"preferred"})  # neither preemptible nor revocable
AURORA_EXECUTOR = "AuroraExecutor"


def tier_from_json(r: Reader, value: Any, path: str) -> str:
    return r.choice(value, path, TIERS)


def metadata_from_json(r: Reader, value: Any, path: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise r.fail(path, f"expected a list, got {show(value)}")
    pairs: dict[tuple[str, str], None] = {}
    for i, item in enumerate(value):
        where = join_path(path, i)
        obj = r.obj(item, where, frozenset({"key", "value"}))
        if "key" not in obj or "value" not in obj:
            raise r.fail(where, "expected an object with key and value")
        key = r.string(obj["key"], join_path(where, "key"), nonempty=True)
        pairs[key, r.string(obj["value"], join_path(where, "value"))] = None
    return tuple(pairs)


def links_from_json(r: Reader, value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise r.fail(path, f"expected an object, got {show(value)}")
    for name, url in value.items():
        r.string(url, join_path(path, name), nonempty=True)
    return dict(value)


def tier_from_aurora(plain: dict[str, Any], source: str, warn: list[str]) -> str:
    """The job's tier from Aurora's ``tier`` and deprecated ``production``: a job that says
    ``production=True`` and no tier is put in ``preferred`` (what production meant), with
    Aurora's deprecation warning; one that names a tier that is not production is refused."""
    tier = plain.get("tier")
    if not plain.get("production"):
        return tier or DEFAULT_TIER
    if tier is None:
        warn.append("production is deprecated: use tier='preferred' (as Aurora's client says)")
        return "preferred"
    if tier not in PRODUCTION_TIERS:
        raise InputError(
            source,
            "production",
            f"production=True contradicts tier={tier!r}, which is not a production tier "
            "(drop production, or use tier='preferred')",
        )
    return str(tier)


def refuse_unsupported(plain: dict[str, Any], source: str, warn: list[str]) -> None:
    """One line for the job fields Borealis cannot honour; a warning for those it ignores."""
    executor = plain.get("executor_config") or {}
    name = executor.get("name", AURORA_EXECUTOR)
    if name != AURORA_EXECUTOR:
        raise InputError(
            source,
            "executor_config.name",
            f"custom executor {name!r} is not supported: Borealis runs only Aurora's default "
            f"executor ({AURORA_EXECUTOR!r}, Thermos)",
        )
    if plain.get("enable_hooks"):
        warn.append(
            "enable_hooks=True is ignored: Borealis has no client hooks (Aurora runs the "
            "hooks its client registers; none exist here)"
        )


def check_gpu(r: Reader, gpu: int, path: str) -> None:
    """A job's task may not ask for GPUs: no Borealis agent offers any, and Aurora's default
    cluster (``-allow_gpu_resource=false``) refuses them the same way."""
    if gpu:
        raise r.fail(path, f"GPU resource support is disabled in this cluster, got gpu={gpu}")
