"""A job's ``update`` field (``borealis.contract.updatespec``): parsing, batch sizes, and the
conversion of an evaluated Aurora ``UpdateConfig``, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from borealis.contract.errors import InputError
from borealis.contract.reading import Reader
from borealis.contract.updatespec import (
    BatchSize,
    Strategy,
    UpdateSettings,
    from_aurora,
    update_from_json,
)
from borealis.executor.config import schema


def parse(value: Any) -> UpdateSettings:
    return update_from_json(Reader("job.json"), value, "update")


def test_an_empty_object_is_aurora_defaults() -> None:
    settings = parse({})
    assert settings == UpdateSettings()
    assert (settings.strategy, settings.batch_size(0, 10), settings.watch_secs) == (
        Strategy.QUEUE,
        1,
        45,
    )
    assert (settings.max_per_shard_failures, settings.max_total_failures) == (0, 0)
    assert settings.rollback_on_failure is True
    assert settings.pulse_interval_secs is None and settings.canary is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"strategy": "batch", "batch_sizes": [3]}, {"strategy": Strategy.BATCH}),
        (
            {"strategy": "variable_batch", "batch_sizes": [1, "25%", 5]},
            {"batch_sizes": (BatchSize(1), BatchSize(percent=25.0), BatchSize(5))},
        ),
        ({"batch_sizes": ["12.5%"]}, {"batch_sizes": (BatchSize(percent=12.5),)}),
        ({"batch_sizes": ["4"]}, {"batch_sizes": (BatchSize(4),)}),
        ({"watch_secs": 0}, {"watch_secs": 0}),
        ({"watch_secs": 30.0}, {"watch_secs": 30}),
        ({"max_per_shard_failures": 2, "max_total_failures": 3}, {"max_total_failures": 3}),
        ({"rollback_on_failure": False}, {"rollback_on_failure": False}),
        (
            {"strategy": "batch", "autopause_after_batch": True},
            {"autopause_after_batch": True},
        ),
        ({"pulse_interval_secs": 60}, {"pulse_interval_secs": 60}),
        ({"pulse_interval_secs": None}, {"pulse_interval_secs": None}),
        ({"progress_deadline_secs": 600}, {"progress_deadline_secs": 600}),
        ({"canary": 1}, {"canary": BatchSize(1)}),
        ({"canary": "10%"}, {"canary": BatchSize(percent=10.0)}),
        ({"sla_aware": True}, {"sla_aware": True}),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) and len(str(v)) < 60 else None,
)
def test_fields(value: dict[str, Any], expected: dict[str, Any]) -> None:
    settings = parse(value)
    for name, want in expected.items():
        assert getattr(settings, name) == want, name


@pytest.mark.parametrize(
    "settings",
    [
        UpdateSettings(),
        UpdateSettings(
            strategy=Strategy.VARIABLE_BATCH,
            batch_sizes=(BatchSize(1), BatchSize(percent=33.5), BatchSize(10)),
            watch_secs=0,
            max_per_shard_failures=2,
            max_total_failures=4,
            rollback_on_failure=False,
            autopause_after_batch=True,
            pulse_interval_secs=90,
            sla_aware=True,
            progress_deadline_secs=300,
            canary=BatchSize(percent=5.0),
        ),
    ],
    ids=["defaults", "every-field"],
)
def test_to_json_parses_back_to_the_same_settings(settings: UpdateSettings) -> None:
    assert parse(settings.to_json()) == settings


BAD: list[tuple[Any, str]] = [
    ([], "job.json: update: expected an object, got a list"),
    ({"watch_secs": -1}, "job.json: update.watch_secs: expected an integer >= 0, got -1"),
    ({"watch_secs": "45"}, "job.json: update.watch_secs: expected an integer >= 0, got '45'"),
    ({"watch_secs": True}, "job.json: update.watch_secs: expected an integer >= 0, got True"),
    (
        {"max_total_failures": -2},
        "job.json: update.max_total_failures: expected an integer >= 0, got -2",
    ),
    (
        {"max_per_shard_failures": 1.5},
        "job.json: update.max_per_shard_failures: expected an integer >= 0, got 1.5",
    ),
    (
        {"pulse_interval_secs": 0},
        "job.json: update.pulse_interval_secs: expected an integer >= 1, got 0",
    ),
    (
        {"progress_deadline_secs": -5},
        "job.json: update.progress_deadline_secs: expected an integer >= 1, got -5",
    ),
    (
        {"rollback_on_failure": "yes"},
        "job.json: update.rollback_on_failure: expected true or false, got 'yes'",
    ),
    (
        {"strategy": "fast"},
        "job.json: update.strategy: expected one of queue, batch, variable_batch, got 'fast'",
    ),
    ({"batch_sizes": []}, "job.json: update.batch_sizes: expected a non-empty list, got a list"),
    (
        {"batch_sizes": "25%"},
        "job.json: update.batch_sizes: expected a non-empty list, got '25%'",
    ),
    (
        {"batch_sizes": [1, 2]},
        "job.json: update.batch_sizes: only the variable_batch strategy takes several sizes",
    ),
    (
        {"strategy": "batch", "batch_sizes": [0]},
        "job.json: update.batch_sizes[0]: expected a count >= 1 or a percentage like '25%', got 0",
    ),
    (
        {"strategy": "variable_batch", "batch_sizes": [1, True]},
        "job.json: update.batch_sizes[1]: expected a count >= 1 or a percentage like '25%',"
        " got True",
    ),
    (
        {"batch_sizes": [2.5]},
        "job.json: update.batch_sizes[0]: expected a count >= 1 or a percentage like '25%',"
        " got 2.5",
    ),
    (
        {"batch_sizes": ["150%"]},
        "job.json: update.batch_sizes[0]: expected a percentage in (0, 100], got '150%'",
    ),
    (
        {"batch_sizes": ["0%"]},
        "job.json: update.batch_sizes[0]: expected a percentage in (0, 100], got '0%'",
    ),
    (
        {"batch_sizes": ["many%"]},
        "job.json: update.batch_sizes[0]: expected a percentage in (0, 100], got 'many%'",
    ),
    (
        {"batch_sizes": ["nan%"]},
        "job.json: update.batch_sizes[0]: expected a percentage in (0, 100], got 'nan%'",
    ),
    (
        {"batch_sizes": ["two"]},
        "job.json: update.batch_sizes[0]: expected a count >= 1 or a percentage like '25%',"
        " got 'two'",
    ),
    # a string str.isdigit() accepts but int() does not: still one line, not a ValueError
    (
        {"batch_sizes": ["\u00b2"]},
        "job.json: update.batch_sizes[0]: expected a count >= 1 or a percentage like '25%',"
        " got '\u00b2'",
    ),
    (
        {"canary": 0},
        "job.json: update.canary: expected a count >= 1 or a percentage like '25%', got 0",
    ),
    (
        {"canary": "0.0%"},
        "job.json: update.canary: expected a percentage in (0, 100], got '0.0%'",
    ),
]


@pytest.mark.parametrize("value, message", BAD, ids=[ascii(value) for value, _ in BAD])
def test_bad_values_are_one_line_naming_the_field(value: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(value)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_an_unknown_field_is_named() -> None:
    with pytest.raises(InputError) as caught:
        parse({"watch_sec": 10})
    text = str(caught.value)
    assert text.startswith("job.json: update.watch_sec: unknown field (known fields: ")
    assert "watch_secs" in text and "\n" not in text


@pytest.mark.parametrize(
    "size, instances, expected",
    [
        (BatchSize(3), 10, 3),
        (BatchSize(3), 2, 3),  # a count is a count, however few instances there are
        (BatchSize(percent=25), 10, 2),  # 2.5 rounds down
        (BatchSize(percent=25), 8, 2),
        (BatchSize(percent=10), 29, 2),  # 2.9 rounds down
        (BatchSize(percent=14), 50, 7),  # exactly 7, not 6.999...
        (BatchSize(percent=5), 10, 1),  # 0.5: at least 1
        (BatchSize(percent=1), 1, 1),
        (BatchSize(percent=100), 7, 7),
        (BatchSize(percent=33.3), 1000, 333),
    ],
)
def test_batch_size_of_instances(size: BatchSize, instances: int, expected: int) -> None:
    assert size.of(instances) == expected


@pytest.mark.parametrize(
    "settings, instances, expected",
    [
        (UpdateSettings(batch_sizes=(BatchSize(2),)), 10, [2, 2, 2]),
        (
            UpdateSettings(
                strategy=Strategy.VARIABLE_BATCH,
                batch_sizes=(BatchSize(1), BatchSize(2), BatchSize(5)),
            ),
            10,
            [1, 2, 5, 5, 5],  # the last repeats
        ),
        (UpdateSettings(batch_sizes=(BatchSize(3),), canary=BatchSize(1)), 10, [1, 3, 3]),
        (
            UpdateSettings(
                strategy=Strategy.VARIABLE_BATCH,
                batch_sizes=(BatchSize(percent=20), BatchSize(percent=50)),
                canary=BatchSize(percent=10),
            ),
            20,
            [2, 4, 10, 10],
        ),
    ],
    ids=["fixed", "variable", "canary", "canary-and-percentages"],
)
def test_batch_size_by_index(settings: UpdateSettings, instances: int, expected: list[int]) -> None:
    assert [settings.batch_size(i, instances) for i in range(len(expected))] == expected


# What pystachio's ``UpdateConfig().get()`` gives with every default filled in.
AURORA_DEFAULTS: dict[str, Any] = {
    "batch_size": 1,
    "watch_secs": 45,
    "max_per_shard_failures": 0,
    "max_total_failures": 0,
    "rollback_on_failure": True,
    "wait_for_batch_completion": False,
    "sla_aware": False,
}


@pytest.mark.parametrize(
    "aurora, expected",
    [
        ({}, UpdateSettings()),
        (
            {"batch_size": 3, "watch_secs": 60, "max_total_failures": 2},
            UpdateSettings(batch_sizes=(BatchSize(3),), watch_secs=60, max_total_failures=2),
        ),
        (
            {"batch_size": 4, "wait_for_batch_completion": True},
            UpdateSettings(strategy=Strategy.BATCH, batch_sizes=(BatchSize(4),)),
        ),
        (
            {"pulse_interval_secs": 120, "rollback_on_failure": False, "sla_aware": True},
            UpdateSettings(pulse_interval_secs=120, rollback_on_failure=False, sla_aware=True),
        ),
        (
            {"max_per_shard_failures": 2, "pulse_interval_secs": None},
            UpdateSettings(max_per_shard_failures=2),
        ),
        (
            {"update_strategy": {"batch_size": 5}},  # QueueUpdateStrategy
            UpdateSettings(batch_sizes=(BatchSize(5),)),
        ),
        (
            {"update_strategy": {"batch_size": 2, "autopause_after_batch": False}},
            UpdateSettings(strategy=Strategy.BATCH, batch_sizes=(BatchSize(2),)),
        ),
        (
            {"update_strategy": {"batch_size": 2, "autopause_after_batch": True}},
            UpdateSettings(
                strategy=Strategy.BATCH, batch_sizes=(BatchSize(2),), autopause_after_batch=True
            ),
        ),
        (
            {"update_strategy": {"batch_sizes": [1, 3, 9], "autopause_after_batch": True}},
            UpdateSettings(
                strategy=Strategy.VARIABLE_BATCH,
                batch_sizes=(BatchSize(1), BatchSize(3), BatchSize(9)),
                autopause_after_batch=True,
            ),
        ),
        ({"update_strategy": None}, UpdateSettings()),
    ],
    ids=[
        "defaults",
        "batch_size",
        "wait_for_batch_completion",
        "pulse-and-flags",
        "null-pulse",
        "queue-strategy",
        "batch-strategy",
        "batch-strategy-autopause",
        "variable-batch-strategy",
        "null-strategy",
    ],
)
def test_from_aurora(aurora: dict[str, Any], expected: UpdateSettings) -> None:
    converted = from_aurora({**AURORA_DEFAULTS, **aurora})
    assert parse(converted) == expected
    assert "batch_size" not in converted and "wait_for_batch_completion" not in converted


@pytest.mark.parametrize(
    "aurora",
    [
        {"wait_for_batch_completion": True, "update_strategy": {"batch_size": 2}},
        {
            "wait_for_batch_completion": True,
            "update_strategy": {"batch_sizes": [1, 2], "autopause_after_batch": False},
        },
        {"batch_size": 3, "update_strategy": {"batch_size": 2, "autopause_after_batch": False}},
    ],
    ids=["wait-with-queue-strategy", "wait-with-variable-strategy", "batch_size-with-strategy"],
)
def test_from_aurora_refuses_what_aurora_calls_ambiguous(aurora: dict[str, Any]) -> None:
    # Aurora's client refuses wait_for_batch_completion, or a batch_size above 1, next to an
    # explicit update_strategy ("Ambiguous update configuration"); silently keeping one of the
    # two would update the job differently from what Aurora would have done with that file.
    with pytest.raises(InputError) as caught:
        from_aurora({**AURORA_DEFAULTS, **aurora})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "config, expected",
    [
        (schema.UpdateConfig(), UpdateSettings()),
        (
            schema.UpdateConfig(batch_size="25%", wait_for_batch_completion=True),
            UpdateSettings(strategy=Strategy.BATCH, batch_sizes=(BatchSize(percent=25),)),
        ),
        (
            schema.UpdateConfig(update_strategy=schema.QueueUpdateStrategy()),
            UpdateSettings(),
        ),
        (
            schema.UpdateConfig(update_strategy=schema.BatchUpdateStrategy()),
            UpdateSettings(strategy=Strategy.BATCH),
        ),
        (
            schema.UpdateConfig(
                update_strategy=schema.BatchUpdateStrategy(batch_size=2, autopause_after_batch=True)
            ),
            UpdateSettings(
                strategy=Strategy.BATCH, batch_sizes=(BatchSize(2),), autopause_after_batch=True
            ),
        ),
        (
            schema.UpdateConfig(
                update_strategy=schema.VariableBatchUpdateStrategy(batch_sizes=[1, "50%"])
            ),
            UpdateSettings(
                strategy=Strategy.VARIABLE_BATCH,
                batch_sizes=(BatchSize(1), BatchSize(percent=50)),
            ),
        ),
        (
            schema.UpdateConfig(
                watch_secs=0, progress_deadline_secs=600, canary="10%", pulse_interval_secs=60
            ),
            UpdateSettings(
                watch_secs=0,
                progress_deadline_secs=600,
                canary=BatchSize(percent=10),
                pulse_interval_secs=60,
            ),
        ),
    ],
    ids=[
        "defaults",
        "percent-wait",
        "queue-strategy-defaults",
        "batch-strategy-defaults",
        "batch-strategy",
        "variable-percentages",
        "ours",
    ],
)
def test_from_aurora_of_an_evaluated_update_config(
    config: schema.UpdateConfig, expected: UpdateSettings
) -> None:
    assert parse(from_aurora(dict(config.get()))) == expected
