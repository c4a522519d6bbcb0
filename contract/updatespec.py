"""How a job is updated: Aurora's ``UpdateConfig`` as the job JSON's ``update`` field.

::

    {"strategy": "queue" | "batch" | "variable_batch", "batch_sizes": [3] or ["25%"] or [1, 2, 5],
     "watch_secs": 45, "max_per_shard_failures": 0, "max_total_failures": 0,
     "rollback_on_failure": true, "autopause_after_batch": false,
     "pulse_interval_secs": null, "sla_aware": false,
     "progress_deadline_secs": null, "canary": null or 1 or "10%"}

Aurora's fields and defaults, plus three of ours (docs/updates.md): a batch size may be a
percentage (of the job's instances, rounded down, at least 1); ``progress_deadline_secs`` rolls
an update back when no instance finished updating for that long; ``canary`` makes the first
batch that size and pauses the update after it until it is resumed. ``wait_for_batch_completion``
with the Queue strategy is the Batch strategy, as in Aurora.

Standard library only.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .reading import Reader, join_path, show


class Strategy(enum.Enum):
    QUEUE = "queue"  # keep up to a batch of instances in flight: start one as soon as one ends
    BATCH = "batch"  # start a batch when the previous one has finished
    VARIABLE_BATCH = "variable_batch"  # as BATCH, the n-th batch of batch_sizes[n] (last repeats)


@dataclass(frozen=True)
class BatchSize:
    """A count of instances, or a percentage of the job's instances."""

    count: int = 1
    percent: float | None = None

    def of(self, instances: int) -> int:
        if self.percent is None:
            return self.count
        return max(1, math.floor(instances * self.percent / 100 + 1e-9))

    def to_json(self) -> int | str:
        return self.count if self.percent is None else f"{self.percent:g}%"

    @classmethod
    def parse(cls, r: Reader, value: Any, path: str) -> BatchSize:
        if isinstance(value, str) and value.endswith("%"):
            try:
                percent = float(value[:-1])
            except ValueError:
                percent = -1.0
            if not 0 < percent <= 100:
                raise r.fail(path, f"expected a percentage in (0, 100], got {value!r}")
            return cls(percent=percent)
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise r.fail(
                path, f"expected a count >= 1 or a percentage like '25%', got {show(value)}"
            )
        return cls(count=value)


@dataclass(frozen=True)
class UpdateSettings:
    strategy: Strategy = Strategy.QUEUE
    batch_sizes: tuple[BatchSize, ...] = (BatchSize(),)
    watch_secs: int = 45
    max_per_shard_failures: int = 0
    max_total_failures: int = 0
    rollback_on_failure: bool = True
    autopause_after_batch: bool = False
    pulse_interval_secs: int | None = None
    sla_aware: bool = False
    progress_deadline_secs: int | None = None
    canary: BatchSize | None = None

    def batch_size(self, index: int, instances: int) -> int:
        """How many instances the ``index``-th batch (from 0) may hold."""
        if self.canary is not None:
            if index == 0:
                return self.canary.of(instances)
            index -= 1
        sizes = self.batch_sizes
        return sizes[min(index, len(sizes) - 1)].of(instances)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.value,
            "batch_sizes": [b.to_json() for b in self.batch_sizes],
            "watch_secs": self.watch_secs,
            "max_per_shard_failures": self.max_per_shard_failures,
            "max_total_failures": self.max_total_failures,
            "rollback_on_failure": self.rollback_on_failure,
            "autopause_after_batch": self.autopause_after_batch,
            "pulse_interval_secs": self.pulse_interval_secs,
            "sla_aware": self.sla_aware,
            "progress_deadline_secs": self.progress_deadline_secs,
            "canary": None if self.canary is None else self.canary.to_json(),
        }


_KEYS = frozenset(UpdateSettings().to_json())


def update_from_json(r: Reader, value: Any, path: str) -> UpdateSettings:
    obj = r.obj(value, path, _KEYS)
    default = UpdateSettings()

    def count(name: str, minimum: int) -> int:
        found: int = r.optional(
            obj,
            name,
            path,
            lambda v, p: r.integer(v, p, minimum=minimum),
            getattr(default, name),
        )
        return found

    def seconds_or_none(name: str) -> int | None:
        value = obj.get(name)
        return None if value is None else r.integer(value, join_path(path, name), minimum=1)

    strategy = Strategy(
        r.optional(
            obj,
            "strategy",
            path,
            lambda v, p: r.choice(v, p, tuple(s.value for s in Strategy)),
            default.strategy.value,
        )
    )
    raw_sizes = obj.get("batch_sizes", [1])
    sizes_path = join_path(path, "batch_sizes")
    if not isinstance(raw_sizes, list) or not raw_sizes:
        raise r.fail(sizes_path, f"expected a non-empty list, got {show(raw_sizes)}")
    if strategy is not Strategy.VARIABLE_BATCH and len(raw_sizes) != 1:
        raise r.fail(sizes_path, "only the variable_batch strategy takes several sizes")
    sizes = tuple(BatchSize.parse(r, v, join_path(sizes_path, i)) for i, v in enumerate(raw_sizes))
    canary = obj.get("canary")

    def flag(name: str) -> bool:
        found: bool = r.optional(obj, name, path, r.boolean, getattr(default, name))
        return found

    settings = UpdateSettings(
        strategy=strategy,
        batch_sizes=sizes,
        watch_secs=count("watch_secs", 0),
        max_per_shard_failures=count("max_per_shard_failures", 0),
        max_total_failures=count("max_total_failures", 0),
        rollback_on_failure=flag("rollback_on_failure"),
        autopause_after_batch=flag("autopause_after_batch"),
        pulse_interval_secs=seconds_or_none("pulse_interval_secs"),
        sla_aware=flag("sla_aware"),
        progress_deadline_secs=seconds_or_none("progress_deadline_secs"),
        canary=None if canary is None else BatchSize.parse(r, canary, join_path(path, "canary")),
    )
    if settings.autopause_after_batch and strategy is Strategy.QUEUE:
        raise r.fail(
            join_path(path, "autopause_after_batch"),
            "needs the batch or variable_batch strategy (a queue has no batches to pause after)",
        )
    deadline = settings.progress_deadline_secs
    if deadline is not None and deadline <= settings.watch_secs:
        raise r.fail(
            join_path(path, "progress_deadline_secs"),
            f"must be longer than watch_secs ({settings.watch_secs}): no instance could finish "
            "in time",
        )
    return settings


def from_aurora(plain: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """The ``update`` field from an evaluated Aurora ``UpdateConfig`` (plain values).
    ``InputError`` for what Aurora's client calls ambiguous: ``wait_for_batch_completion``
    or a ``batch_size`` other than 1 next to an ``update_strategy``."""
    out: dict[str, Any] = {
        name: plain[name]
        for name in _KEYS & set(plain)
        if name not in ("strategy", "batch_sizes") and plain[name] is not None
    }
    strategy, sizes = Strategy.QUEUE, [plain.get("batch_size", 1)]
    if plain.get("wait_for_batch_completion"):
        strategy = Strategy.BATCH
    chosen = plain.get("update_strategy") or {}
    if chosen and (plain.get("wait_for_batch_completion") or plain.get("batch_size", 1) != 1):
        raise InputError(
            source,
            "update_config",
            "ambiguous: with update_strategy, give the batch size there and leave batch_size "
            "and wait_for_batch_completion unset (Aurora refuses both)",
        )
    if "batch_sizes" in chosen:
        strategy, sizes = Strategy.VARIABLE_BATCH, list(chosen["batch_sizes"])
    elif "autopause_after_batch" in chosen:  # BatchUpdateStrategy
        strategy, sizes = Strategy.BATCH, [chosen.get("batch_size", 1)]
    elif "batch_size" in chosen:  # QueueUpdateStrategy
        strategy, sizes = Strategy.QUEUE, [chosen["batch_size"]]
    if chosen.get("autopause_after_batch"):
        out["autopause_after_batch"] = True
    out["strategy"], out["batch_sizes"] = strategy.value, sizes
    return out
