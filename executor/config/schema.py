"""The configuration language's types: Thermos' task schema and Aurora's job schema.

These are pystachio ``Struct``s with the same names, fields, types and defaults
as Apache Aurora's (``apache.thermos.config.schema_base`` and
``apache.aurora.config.schema.base``), so that existing ``.aurora`` and
``.thermos`` files load unchanged. Everything here is exposed by name inside a
config file. Right after loading, tasks are converted to the typed
``borealis.contract.taskspec.TaskSpec`` (see ``convert.py``); only the config
file itself ever sees these structs.
"""


# mypy: disable-error-code="misc"

from __future__ import annotations

from pystachio import (
    Boolean,
    Choice,
    Default,
    Empty,
    Enum,
    Float,
    Integer,
    List,
    Map,
    Required,
    String,
    Struct,
)

from borealis.contract.taskspec import BYTES, GB, KB, MB, TB

__all__ = [
    "BYTES",
    "KB",
    "MB",
    "GB",
    "TB",
    "ThermosContext",
    "MesosContext",
    "Resources",
    "Constraint",
    "RotatePolicy",
    "LoggerDestination",
    "LoggerMode",
    "Logger",
    "Process",
    "Task",
    "QueueUpdateStrategy",
    "BatchUpdateStrategy",
    "VariableBatchUpdateStrategy",
    "UpdateConfig",
    "HttpHealthChecker",
    "ShellHealthChecker",
    "HealthCheckerConfig",
    "DefaultHealthChecker",
    "HealthCheckConfig",
    "HttpLifecycleConfig",
    "LifecycleConfig",
    "DisableLifecycle",
    "DefaultLifecycleConfig",
    "Announcer",
    "MesosTaskInstance",
    "Parameter",
    "Docker",
    "AppcImage",
    "DockerImage",
    "Mode",
    "Volume",
    "Mesos",
    "Container",
    "PartitionPolicy",
    "Metadata",
    "ExecutorConfig",
    "PercentageSlaPolicy",
    "CountSlaPolicy",
    "CoordinatorSlaPolicy",
    "MesosJob",
    "Job",
    "Service",
    "AURORA_EXECUTOR_NAME",
]

AURORA_EXECUTOR_NAME = "AuroraExecutor"


# -- bound by the runner and the executor -----------------------------------


class ThermosContext(Struct):
    ports = Map(String, Integer)
    task_id = String
    user = String


class MesosContext(Struct):
    instance = Required(Integer)
    hostname = Required(String)
    # deprecated in Aurora, still bound by its client from the job: {{mesos.role}} and
    # {{mesos.cluster}} (bound when a job is selected, see convert.select)
    role = String
    cluster = String


# -- the task: Thermos ------------------------------------------------------


class Resources(Struct):
    cpu = Required(Float)
    ram = Required(Integer)
    disk = Required(Integer)
    gpu = Default(Integer, 0)


class Constraint(Struct):
    order = List(String)


class RotatePolicy(Struct):
    log_size = Default(Integer, 100 * MB)
    backups = Default(Integer, 5)


LoggerDestination = Enum("file", "console", "both", "none")
LoggerMode = Enum("standard", "rotate")


class Logger(Struct):
    destination = Default(LoggerDestination, LoggerDestination("file"))
    mode = Default(LoggerMode, LoggerMode("standard"))
    rotate = RotatePolicy


class Process(Struct):
    cmdline = Required(String)
    name = Required(String)
    resources = Resources  # accepted, unused (as in Thermos)
    max_failures = Default(Integer, 1)  # failed runs before the process is failed; 0 = no limit
    daemon = Default(Boolean, False)  # re-run after success
    ephemeral = Default(Boolean, False)  # not waited for when deciding the task is complete
    min_duration = Default(Integer, 5)  # seconds between the end of one run and the next
    final = Default(Boolean, False)  # runs in the finalizing plan, after the regular one
    logger = Default(Logger, Empty)


class Task(Struct):
    name = Default(String, "{{processes[0].name}}")
    processes = List(Process)
    constraints = Default(List(Constraint), [])
    resources = Resources
    max_failures = Default(Integer, 1)  # failed processes before the task fails; 0 = no limit
    max_concurrency = Default(Integer, 0)  # processes running at once; 0 = no limit
    finalization_wait = Default(Integer, 30)  # seconds from leaving ACTIVE to the end
    user = String


# -- the job: Aurora --------------------------------------------------------


# A batch size is a count, or (ours) a percentage of the job's instances such as '25%'.
BatchSize = Choice([Integer, String])


class QueueUpdateStrategy(Struct):
    batch_size = Default(BatchSize, 1)


class BatchUpdateStrategy(Struct):
    batch_size = Default(BatchSize, 1)
    autopause_after_batch = Default(Boolean, False)


class VariableBatchUpdateStrategy(Struct):
    batch_sizes = Required(List(BatchSize))
    autopause_after_batch = Default(Boolean, False)


class UpdateConfig(Struct):
    batch_size = Default(BatchSize, 1)
    watch_secs = Default(Integer, 45)
    max_per_shard_failures = Default(Integer, 0)
    max_total_failures = Default(Integer, 0)
    rollback_on_failure = Default(Boolean, True)
    wait_for_batch_completion = Default(Boolean, False)
    pulse_interval_secs = Integer
    sla_aware = Default(Boolean, False)
    update_strategy = Choice(
        [QueueUpdateStrategy, BatchUpdateStrategy, VariableBatchUpdateStrategy]
    )
    # ours (docs/updates.md): roll back when no instance finished updating for this long;
    # a first batch of this size (a count or a percentage), then a pause until resumed
    progress_deadline_secs = Integer
    canary = BatchSize


class HttpHealthChecker(Struct):
    endpoint = Default(String, "/health")
    expected_response = Default(String, "ok")
    expected_response_code = Default(Integer, 0)


class ShellHealthChecker(Struct):
    shell_command = Required(String)


class HealthCheckerConfig(Struct):
    http = HttpHealthChecker
    shell = ShellHealthChecker


DefaultHealthChecker = HealthCheckerConfig(http=HttpHealthChecker())


class HealthCheckConfig(Struct):
    health_checker = Default(HealthCheckerConfig, DefaultHealthChecker)
    initial_interval_secs = Default(Float, 15.0)
    interval_secs = Default(Float, 10.0)
    max_consecutive_failures = Default(Integer, 0)
    min_consecutive_successes = Default(Integer, 1)
    timeout_secs = Default(Float, 1.0)


class HttpLifecycleConfig(Struct):
    port = Default(String, "health")
    graceful_shutdown_endpoint = Default(String, "/quitquitquit")
    shutdown_endpoint = Default(String, "/abortabortabort")
    graceful_shutdown_wait_secs = Default(Integer, 5)
    shutdown_wait_secs = Default(Integer, 5)


class LifecycleConfig(Struct):
    http = HttpLifecycleConfig


DisableLifecycle = LifecycleConfig()
DefaultLifecycleConfig = LifecycleConfig(http=HttpLifecycleConfig())


class Announcer(Struct):
    primary_port = Default(String, "http")
    portmap = Default(Map(String, String), {"aurora": "{{primary_port}}"})
    zk_path = String


class MesosTaskInstance(Struct):
    task = Required(Task)
    instance = Required(Integer)
    role = Required(String)
    announce = Announcer
    environment = Required(String)
    health_check_config = Default(HealthCheckConfig, HealthCheckConfig())
    lifecycle = LifecycleConfig


class Parameter(Struct):
    name = Required(String)
    value = Required(String)


class Docker(Struct):
    image = Required(String)
    parameters = Default(List(Parameter), [])


class AppcImage(Struct):
    name = Required(String)
    image_id = Required(String)


class DockerImage(Struct):
    name = Required(String)
    tag = Required(String)


Mode = Enum("RO", "RW")


class Volume(Struct):
    container_path = Required(String)
    host_path = Required(String)
    mode = Required(Mode)


class Mesos(Struct):
    image = Choice([AppcImage, DockerImage])
    volumes = Default(List(Volume), [])


class Container(Struct):
    docker = Docker


class PartitionPolicy(Struct):
    reschedule = Default(Boolean, True)
    delay_secs = Default(Integer, 0)


class Metadata(Struct):
    key = Required(String)
    value = Required(String)


class ExecutorConfig(Struct):
    name = Default(String, AURORA_EXECUTOR_NAME)
    data = Default(String, "")


class PercentageSlaPolicy(Struct):
    percentage = Required(Float)
    duration_secs = Required(Integer)


class CountSlaPolicy(Struct):
    count = Required(Integer)
    duration_secs = Required(Integer)


class CoordinatorSlaPolicy(Struct):
    coordinator_url = Required(String)
    status_key = Default(String, "drain")


class MesosJob(Struct):
    name = Default(String, "{{task.name}}")
    role = Required(String)
    contact = String
    cluster = Required(String)
    environment = Required(String)
    instances = Default(Integer, 1)
    task = Required(Task)
    announce = Announcer
    tier = String
    cron_schedule = String
    cron_collision_policy = Default(String, "KILL_EXISTING")
    cron_timezone = String  # ours (docs/cron.md): an IANA zone; unset: the scheduler's
    cron_catch_up = String  # ours: skip, once (default) or all
    cron_catch_up_window_secs = Integer  # ours: default 3600
    update_config = Default(UpdateConfig, UpdateConfig())
    constraints = Map(String, String)
    metadata = Default(List(Metadata), [])
    service = Default(Boolean, False)
    max_task_failures = Default(Integer, 1)
    production = Default(Boolean, False)
    priority = Default(Integer, 0)
    health_check_config = Default(HealthCheckConfig, HealthCheckConfig())
    lifecycle = Default(LifecycleConfig, DefaultLifecycleConfig)
    task_links = Map(String, String)
    executor_config = Default(ExecutorConfig, ExecutorConfig())
    enable_hooks = Default(Boolean, False)
    partition_policy = PartitionPolicy
    sla_policy = Choice([CoordinatorSlaPolicy, CountSlaPolicy, PercentageSlaPolicy])
    container = Choice([Container, Docker, Mesos])


Job = MesosJob
Service = Job(service=True)
