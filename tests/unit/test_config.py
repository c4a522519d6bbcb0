"""The configuration language: loading, selection, templating, helpers and errors."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from borealis.contract.errors import InputError
from borealis.contract.taskspec import (
    GB,
    KB,
    MB,
    TB,
    LoggerSpec,
    Resources,
    RotatePolicy,
    TaskSpec,
)
from borealis.contract.templates import RuntimeValues, referenced_ports
from borealis.executor.config import convert, loader
from borealis.executor.config.helpers import java_options, python_options
from borealis.executor.config.jobdoc import job_document

# -- helpers -------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def build(
    path: Path,
    *,
    task: str | None = None,
    job: str | None = None,
    bindings: convert.Bindings | None = None,
    ports: dict[str, int] | None = None,
) -> TaskSpec:
    """What ``borealis run`` does with a config, up to the typed, validated task."""
    selection = convert.select(loader.load(path), task=task, job=job, bindings=bindings)
    chosen = bindings or convert.Bindings()
    values = RuntimeValues("tid", "alice", chosen.hostname, chosen.instance, ports or {})
    return convert.build_spec(selection, values)


def spec_of(tmp_path: Path, text: str, **kw: Any) -> TaskSpec:
    return build(write(tmp_path / "job.aurora", text), **kw)


def error_of(tmp_path: Path, text: str, **kw: Any) -> InputError:
    with pytest.raises(InputError) as info:
        spec_of(tmp_path, text, **kw)
    assert "\n" not in str(info.value), "an error is one line"
    return info.value


def cmdline(spec: TaskSpec, index: int = 0) -> str:
    return spec.processes[index].cmdline


HELLO = """
    hello = Process(name='hello', cmdline='echo hello')
    export(Task(name='hello_task', processes=[hello],
                resources=Resources(cpu=0.5, ram=64*MB, disk=128*MB)))
"""

TWO_TASKS = """
    export(Task(name='a', processes=[Process(name='pa', cmdline='echo a')]))
    export(Task(name='b', processes=[Process(name='pb', cmdline='echo b')]))
"""


# -- Thermos-style: export() ---------------------------------------------------------------


def test_one_exported_task(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, HELLO)
    assert spec.name == "hello_task"
    assert [(p.name, p.cmdline) for p in spec.processes] == [("hello", "echo hello")]
    assert spec.resources == Resources(0.5, 64 * MB, 128 * MB, 0)


def test_thermos_defaults(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, "export(Task(processes=[Process(name='only', cmdline='true')]))")
    assert spec.name == "only", "the name defaults to {{processes[0].name}}"
    assert (spec.max_failures, spec.max_concurrency, spec.finalization_wait) == (1, 0, 30)
    assert spec.constraints == ()
    assert spec.resources is None
    process = spec.processes[0]
    assert (process.max_failures, process.daemon, process.ephemeral) == (1, False, False)
    assert (process.min_duration, process.final, process.logger) == (5, False, None)


def test_every_process_field_reaches_the_spec(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        """
        p = Process(name='p', cmdline='c', max_failures=0, daemon=True, ephemeral=True,
                    min_duration=0, resources=Resources(cpu=1, ram=2, disk=3, gpu=4))
        f = Process(name='f', cmdline='c', final=True)
        export(Task(name='t', processes=[p, f], max_failures=3, max_concurrency=2,
                    finalization_wait=7, constraints=[Constraint(order=['p'])]))
        """,
    )
    p, f = spec.processes
    assert (p.max_failures, p.daemon, p.ephemeral, p.min_duration) == (0, True, True, 0)
    assert p.resources == Resources(1.0, 2, 3, 4)
    assert f.final is True
    assert (spec.max_failures, spec.max_concurrency, spec.finalization_wait) == (3, 2, 7)
    assert spec.constraints == (("p",),)


def test_export_accepts_a_dict(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, "export({'name': 'd', 'processes': [{'name': 'p', 'cmdline': 'x'}]})")
    assert (spec.name, spec.processes[0].name) == ("d", "p")


@pytest.mark.parametrize("name", ["a", "b"])
def test_task_selection(tmp_path: Path, name: str) -> None:
    spec = spec_of(tmp_path, TWO_TASKS, task=name)
    assert spec.name == name
    assert cmdline(spec) == f"echo {name}"


def test_several_tasks_need_task(tmp_path: Path) -> None:
    error = error_of(tmp_path, TWO_TASKS)
    assert error.source == str(tmp_path / "job.aurora")
    assert error.problem == "several tasks exported, pick one with --task (a, b)"


def test_unknown_task(tmp_path: Path) -> None:
    error = error_of(tmp_path, TWO_TASKS, task="c")
    assert error.problem == "no task named 'c' (tasks: a, b)"


def test_ambiguous_task_name(tmp_path: Path) -> None:
    error = error_of(tmp_path, TWO_TASKS + "    export(Task(name='a', processes=[]))\n", task="a")
    assert error.problem == "several tasks named 'a' (tasks: a, b, a)"


def test_task_and_job_together(tmp_path: Path) -> None:
    error = error_of(tmp_path, HELLO, task="hello_task", job="x")
    assert error.problem == "give --task or --job, not both"


def test_a_config_that_defines_nothing(tmp_path: Path) -> None:
    error = error_of(tmp_path, "x = Process(name='a', cmdline='b')")
    assert error.problem == "this config neither exports a task nor defines jobs"


def test_job_asked_of_a_task_config(tmp_path: Path) -> None:
    error = error_of(tmp_path, HELLO, job="hello_task")
    assert (error.field, error.problem) == (
        "jobs",
        "this config defines no jobs (it exports tasks)",
    )


def test_export_of_something_else(tmp_path: Path) -> None:
    error = error_of(tmp_path, "p = Process(name='a', cmdline='b')\nexport(p)\n")
    assert (
        str(error) == f"{tmp_path / 'job.aurora'}:2: TypeError: export() takes a Task, not Process"
    )


# -- Aurora-style: jobs = [...] -------------------------------------------------------------

JOBS = """
    proc = Process(name='hello',
                   cmdline='echo {{role}} {{environment}} {{mesos.instance}} {{mesos.hostname}}')
    task = Task(name='hello', processes=[proc], resources=Resources(cpu=1, ram=1*GB, disk=1*GB))
    job = Job(cluster='west', role='www', environment='prod', task=task)
    jobs = [
        job(name='one'),
        Service(cluster='east', role='ops', environment='devel', name='two', task=task),
    ]
"""


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("one", "echo www prod 3 host-7"),
        ("west/www/prod/one", "echo www prod 3 host-7"),
        ("two", "echo ops devel 3 host-7"),
        ("east/ops/devel/two", "echo ops devel 3 host-7"),
    ],
)
def test_job_selection_and_job_scope(tmp_path: Path, key: str, expected: str) -> None:
    bindings = convert.Bindings(instance=3, hostname="host-7")
    assert cmdline(spec_of(tmp_path, JOBS, job=key, bindings=bindings)) == expected


def test_deprecated_mesos_role_and_cluster_are_bound_from_the_job(tmp_path: Path) -> None:
    # Aurora's client still binds {{mesos.role}} and {{mesos.cluster}}; they were left
    # unbound here, so `run --job` and `job create` refused such a config
    text = JOBS.replace("{{role}} {{environment}}", "{{mesos.role}}@{{mesos.cluster}}")
    bindings = convert.Bindings(instance=3, hostname="host-7")
    assert cmdline(spec_of(tmp_path, text, job="one", bindings=bindings)) == (
        "echo www@west 3 host-7"
    )
    config = loader.load(write(tmp_path / "job.aurora", text))
    document = job_document(config, "east/ops/devel/two", convert.Bindings())
    assert document.task["processes"][0]["cmdline"] == (
        "echo ops@east {{mesos.instance}} {{mesos.hostname}}"  # the host binds these
    )


def test_service_is_a_job_with_service_set(tmp_path: Path) -> None:
    config = loader.load(write(tmp_path / "job.aurora", JOBS))
    assert [j.service().get() for j in config.jobs] == [False, True]
    selection = convert.select(config, job="two")
    assert selection.job is not None
    assert selection.job.service().get() is True
    assert selection.source == str(tmp_path / "job.aurora")


def test_several_jobs_need_job(tmp_path: Path) -> None:
    error = error_of(tmp_path, JOBS)
    assert error.field == "jobs"
    assert error.problem == (
        "several jobs, pick one with --job (west/www/prod/one, east/ops/devel/two)"
    )


@pytest.mark.parametrize("key", ["three", "west/www/prod/two", "www/prod/one"])
def test_unknown_job(tmp_path: Path, key: str) -> None:
    error = error_of(tmp_path, JOBS, job=key)
    assert error.field == "jobs"
    assert error.problem == f"no job named {key!r} (jobs: west/www/prod/one, east/ops/devel/two)"


def test_ambiguous_job(tmp_path: Path) -> None:
    error = error_of(tmp_path, JOBS.replace("name='two'", "name='one'"), job="one")
    assert error.problem.startswith("several jobs named 'one' (jobs: ")


def test_a_single_job_needs_no_selection_and_is_named_after_its_task(tmp_path: Path) -> None:
    text = """
        t = Task(name='solo', processes=[Process(name='p', cmdline='echo {{role}}')])
        jobs = [Job(cluster='c', role='r', environment='e', task=t)]
    """
    assert cmdline(spec_of(tmp_path, text)) == "echo r"
    assert cmdline(spec_of(tmp_path, text, job="solo")) == "echo r"
    assert cmdline(spec_of(tmp_path, text, job="c/r/e/solo")) == "echo r"


def test_task_asked_of_a_job_config(tmp_path: Path) -> None:
    error = error_of(tmp_path, JOBS, task="hello")
    assert error.problem == "this config exports no tasks, only jobs (use --job)"


def test_jobs_must_be_a_list_of_jobs(tmp_path: Path) -> None:
    single = "jobs = Job(cluster='c', role='r', environment='e', task=SimpleTask('a', 'b'))"
    error = error_of(tmp_path, single)
    assert (error.field, error.problem) == ("jobs", "expected a list of Job, got MesosJob")
    error = error_of(tmp_path, JOBS.replace("job(name='one'),", "job(name='one'), 'x',"))
    assert (error.field, error.problem) == ("jobs[1]", "expected a Job or Service, got str")


def test_jobs_may_be_a_tuple(tmp_path: Path) -> None:
    text = "jobs = (Job(cluster='c', role='r', environment='e', task=SimpleTask('a', 'b')),)"
    assert spec_of(tmp_path, text).name == "a"


def test_both_styles_in_one_file(tmp_path: Path) -> None:
    text = JOBS + "    export(Task(name='exported', processes=[Process(name='e', cmdline='e')]))\n"
    assert spec_of(tmp_path, text).name == "exported", "exported tasks come first"
    assert spec_of(tmp_path, text, job="one").name == "hello"


# -- bindings and templates --------------------------------------------------------------------


def test_mesos_bindings_in_a_thermos_task(tmp_path: Path) -> None:
    text = """
        p = Process(name='p', cmdline='{{mesos.instance}}@{{mesos.hostname}}')
        export(Task(processes=[p]))
    """
    spec = spec_of(tmp_path, text, bindings=convert.Bindings(instance=12, hostname="box"))
    assert cmdline(spec) == "12@box"
    assert cmdline(spec_of(tmp_path, text)) == "0@localhost", "the defaults"


def test_runner_bindings(tmp_path: Path) -> None:
    text = """
        cmd = '{{thermos.task_id}} {{thermos.user}} {{thermos.ports[http]}}'
        p = Process(name='p', cmdline=cmd)
        export(Task(processes=[p]))
    """
    assert cmdline(spec_of(tmp_path, text, ports={"http": 8080})) == "tid alice 8080"


def test_user_bind_values(tmp_path: Path) -> None:
    text = """
        p = Process(name='p', cmdline='run {{package}} v{{profile.version}}', max_failures='{{n}}')
        export(Task(processes=[p]))
    """
    bindings = convert.Bindings(user={"package": "web", "profile.version": "3", "n": "4"})
    spec = spec_of(tmp_path, text, bindings=bindings)
    assert cmdline(spec) == "run web v3"
    assert spec.processes[0].max_failures == 4


def test_user_binds_reach_a_job(tmp_path: Path) -> None:
    text = JOBS.replace("{{mesos.hostname}}", "{{extra}}")
    bindings = convert.Bindings(user={"extra": "X"})
    assert cmdline(spec_of(tmp_path, text, job="one", bindings=bindings)) == "echo www prod 0 X"


def test_the_binding_closest_to_an_object_wins(tmp_path: Path) -> None:
    text = """
        p = Process(name='p', cmdline='{{greeting}}').bind(greeting='from the config')
        export(Task(processes=[p]))
    """
    bindings = convert.Bindings(user={"greeting": "from --bind"})
    assert cmdline(spec_of(tmp_path, text, bindings=bindings)) == "from the config"


def test_struct_fields_are_in_scope(tmp_path: Path) -> None:
    text = "export(Task(name='t', processes=[Process(name='p', cmdline='echo {{name}}')]))"
    assert cmdline(spec_of(tmp_path, text)) == "echo p"


def test_real_aurora_style_config(tmp_path: Path) -> None:
    text = """
        class Profile(Struct):
          package = Required(String)
          version = Default(String, 'latest')
          replicas = Default(Integer, 3)
          ratio = Default(Float, 0.5)
          verbose = Default(Boolean, False)
          hosts = Default(List(String), ['h0', 'h1', 'h2'])
          tags = Default(Map(String, String), {'tier': 'gold'})

        install = Process(
          name = 'install',
          cmdline = 'fetch {{profile.package}}-{{profile.version}} --replicas {{profile.replicas}}',
        )
        serve = Process(
          name = 'serve',
          cmdline = 'serve --ratio {{profile.ratio}} --verbose {{profile.verbose}} '
                    '--peer {{profile.hosts[1]}} --tier {{profile.tags[tier]}}',
        )
        base_task = SequentialTask(
          processes = [install, serve],
          resources = Resources(cpu = 1.0, ram = 512*MB, disk = 2*GB),
        )
        base_job = Job(cluster = 'west', role = 'www', environment = 'prod', task = base_task)

        jobs = [
          base_job(name = 'stable').bind(profile = Profile(package = 'app')),
          base_job(name = 'canary', environment = 'staging').bind(
            profile = Profile(package = 'app', version = '2.0-rc1', replicas = 1, ratio = 0.25,
                              verbose = True, hosts = ['c0', 'c1'], tags = {'tier': 'tin'})),
        ]
    """
    stable = spec_of(tmp_path, text, job="stable")
    assert stable.name == "install"
    assert cmdline(stable, 0) == "fetch app-latest --replicas 3"
    assert cmdline(stable, 1) == "serve --ratio 0.5 --verbose False --peer h1 --tier gold"
    assert stable.constraints == (("install", "serve"),)
    assert stable.resources == Resources(1.0, 512 * MB, 2 * GB, 0)
    canary = spec_of(tmp_path, text, job="west/www/staging/canary")
    assert cmdline(canary, 0) == "fetch app-2.0-rc1 --replicas 1"
    assert cmdline(canary, 1) == "serve --ratio 0.25 --verbose True --peer c1 --tier tin"


def test_a_required_struct_field_left_out(tmp_path: Path) -> None:
    text = """
        class Profile(Struct):
          package = Required(String)
        p = Process(name='p', cmdline='fetch {{profile.package}}')
        export(Task(processes=[p]).bind(profile=Profile()))
    """
    error = error_of(tmp_path, text)
    assert error.field == "processes[0].cmdline"
    assert "{{profile.package}}" in error.problem


def test_calling_a_struct_copies_it(tmp_path: Path) -> None:
    text = """
        base = Process(cmdline='echo {{name}}', max_failures=2)
        a = base(name='a')
        b = a(name='b', max_failures=5)
        export(Task(name='t', processes=[a, b]))
    """
    a, b = spec_of(tmp_path, text).processes
    assert (a.name, a.cmdline, a.max_failures) == ("a", "echo a", 2)
    assert (b.name, b.cmdline, b.max_failures) == ("b", "echo b", 5)


def test_bind_on_a_task(tmp_path: Path) -> None:
    text = """
        p = Process(name='p', cmdline='echo {{who}} {{count}}')
        export(Task(name='t1', processes=[p]).bind(who='world', count=2))
        export(Task(name='t2', processes=[p]).bind({'who': 'there', 'count': 3}))
    """
    assert cmdline(spec_of(tmp_path, text, task="t1")) == "echo world 2"
    assert cmdline(spec_of(tmp_path, text, task="t2")) == "echo there 3"


NESTED = """
    hosts = List(String)(['h0', 'h1', 'h2'])
    p = Process(name='p', cmdline='connect {{array[{{mesos.instance}}]}}')
    export(Task(processes=[p]).bind(array=hosts))
"""


@pytest.mark.parametrize(("instance", "host"), [(0, "h0"), (2, "h2")])
def test_nested_templates(tmp_path: Path, instance: int, host: str) -> None:
    spec = spec_of(tmp_path, NESTED, bindings=convert.Bindings(instance=instance))
    assert cmdline(spec) == f"connect {host}"


def test_nested_template_out_of_range_is_unbound(tmp_path: Path) -> None:
    error = error_of(tmp_path, NESTED, bindings=convert.Bindings(instance=3))
    assert error.field == "processes[0].cmdline"
    assert error.problem == "unbound template {{array[3]}} (bind it with --bind array[3]=VALUE)"


def test_nested_templates_through_a_struct(tmp_path: Path) -> None:
    text = """
        class Cfg(Struct):
          hosts = List(String)
          suffix = Default(String, '{{mesos.instance}}')
        p = Process(name='p', cmdline='{{cfg.hosts[{{mesos.instance}}]}}-{{cfg.suffix}}')
        export(Task(processes=[p]).bind(cfg=Cfg(hosts=['a', 'b'])))
    """
    assert cmdline(spec_of(tmp_path, text, bindings=convert.Bindings(instance=1))) == "b-1"


# -- include() ----------------------------------------------------------------------------


def test_include_is_relative_to_the_including_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "lib" / "common.aurora", "include('deeper/units.aurora')\n")
    write(tmp_path / "lib" / "deeper" / "units.aurora", "greeting = Process(cmdline='hi')\n")
    main = write(
        tmp_path / "jobs" / "main.aurora",
        """
        include('../lib/common.aurora')
        export(Task(processes=[greeting(name='g')]))
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = build(main)
    assert (spec.processes[0].name, spec.processes[0].cmdline) == ("g", "hi")


def test_an_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    included = write(tmp_path / "lib.aurora", "x = 1\ny = x / 0\n")
    main = write(tmp_path / "main.aurora", "include('lib.aurora')\n")
    with pytest.raises(InputError) as info:
        build(main)
    assert str(info.value) == f"{included}:2: ZeroDivisionError: division by zero"


def test_a_syntax_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    included = write(tmp_path / "lib.aurora", "x = 1\ny = (\n")
    main = write(tmp_path / "main.aurora", "include('lib.aurora')\n")
    with pytest.raises(InputError) as info:
        build(main)
    assert str(info.value).startswith(f"{included}:2: syntax error: ")


def test_including_a_missing_file(tmp_path: Path) -> None:
    error = error_of(tmp_path, "include('nope.aurora')\n")
    assert (
        str(error) == f"{tmp_path / 'nope.aurora'}: cannot read config: No such file or directory"
    )


def test_endless_include(tmp_path: Path) -> None:
    error = error_of(tmp_path, "include('job.aurora')\n")
    assert str(error) == (
        f"{tmp_path / 'job.aurora'}:1: RecursionError: include() nested more than 32 deep"
    )


# -- helpers --------------------------------------------------------------------------------


def test_order(tmp_path: Path) -> None:
    text = """
        a, b, c = [Process(name=n, cmdline='x') for n in 'abc']
        export(Task(processes=[a, b, c], constraints=order(a, b) + order('b', c)))
    """
    assert spec_of(tmp_path, text).constraints == (("a", "b"), ("b", "c"))


def test_order_refuses_other_things(tmp_path: Path) -> None:
    error = error_of(tmp_path, "order(1, 2)\n")
    assert str(error) == (
        f"{tmp_path / 'job.aurora'}:1: ValueError: order() takes processes or process names, not 1"
    )


def test_sequential_task(tmp_path: Path) -> None:
    text = """
        ps = [Process(name=n, cmdline='x') for n in ('one', 'two', 'three')]
        export(SequentialTask(name='seq', processes=ps, finalization_wait=5))
    """
    spec = spec_of(tmp_path, text)
    assert spec.constraints == (("one", "two", "three"),)
    assert (spec.name, spec.finalization_wait) == ("seq", 5)


def test_sequential_task_with_constraints_is_an_error(tmp_path: Path) -> None:
    text = """
        a, b = Process(name='a', cmdline='x'), Process(name='b', cmdline='x')
        t = SequentialTask(processes=[a, b], constraints=order(b, a))
    """
    error = error_of(tmp_path, text)
    assert str(error) == (
        f"{tmp_path / 'job.aurora'}:2: ValueError: "
        "Cannot turn a Task with existing constraints into a SequentialTask!"
    )


def test_simple_task(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, "export(SimpleTask('hello', 'echo hello'))")
    assert spec.name == "hello"
    assert [(p.name, p.cmdline) for p in spec.processes] == [("hello", "echo hello")]
    assert spec.resources == Resources(1.0, 1 * GB, 1 * GB, 0)


COMBINE = """
    b = Task(name='b', processes=[Process(name='b1', cmdline='x'), Process(name='b2', cmdline='y')],
             constraints=order('b1', 'b2'),
             resources=Resources(cpu=2, ram=3*MB, disk=4*KB), finalization_wait=7)
    c = Task(name='c', processes=[Process(name='c1', cmdline='z')],
             resources=Resources(cpu=0.5, ram=5*GB, disk=1*TB, gpu=1), finalization_wait=40)
    export(Tasks.combine(b, c, name='both'))
    export(Tasks.concat(b, c, name='then'))
    export(combine_tasks(b, c, name='both2'))
    export(concat_tasks(b, c, name='then2'))
"""


@pytest.mark.parametrize("name", ["both", "both2"])
def test_tasks_combine(tmp_path: Path, name: str) -> None:
    spec = spec_of(tmp_path, COMBINE, task=name)
    assert spec.name == name
    assert [p.name for p in spec.processes] == ["b1", "b2", "c1"]
    assert spec.constraints == (("b1", "b2"),)
    assert spec.resources == Resources(2.5, 3 * MB + 5 * GB, 4 * KB + TB, 1), "summed"
    assert spec.finalization_wait == 40, "the longest"


@pytest.mark.parametrize("name", ["then", "then2"])
def test_tasks_concat(tmp_path: Path, name: str) -> None:
    spec = spec_of(tmp_path, COMBINE, task=name)
    assert [p.name for p in spec.processes] == ["b1", "b2", "c1"]
    assert spec.constraints == (("b1", "b2"), ("b1", "c1"), ("b2", "c1")), "pairwise"
    assert spec.resources == Resources(2.0, 5 * GB, TB, 1), "the largest of each"
    assert spec.finalization_wait == 47, "summed"


def test_combine_of_tasks_without_resources(tmp_path: Path) -> None:
    text = """
        a = Task(name='a', processes=[Process(name='a', cmdline='x')])
        b = SimpleTask('b', 'y')
        export(Tasks.combine(a, b))
    """
    spec = spec_of(tmp_path, text)
    assert spec.resources == Resources(1.0, GB, GB, 0)
    assert spec.finalization_wait == 30


def test_concat_of_three_tasks_orders_each_stage_after_the_last(tmp_path: Path) -> None:
    text = """
        s = [SimpleTask(n, 'true') for n in ('one', 'two', 'three')]
        export(Tasks.concat(*s, name='all'))
    """
    spec = spec_of(tmp_path, text)
    assert spec.constraints == (("one", "two"), ("two", "three"))
    assert spec.finalization_wait == 90
    assert spec.resources == Resources(1.0, GB, GB, 0)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: java_options("server"), "-server"),
        (lambda: java_options("server", Xmx="1g", cp="a:b"), "-server -Xmx 1g -cp a:b"),
        (lambda: java_options({"D": "x=1"}, "ea"), "-D x=1 -ea"),
        (lambda: python_options("u", verbose=1, x=2), "-u --verbose 1 -x 2"),
        (lambda: python_options("O", flag=None), "-O --flag"),
        (lambda: python_options(), ""),
    ],
)
def test_options(call: Any, expected: str) -> None:
    assert call() == expected


def test_options_in_a_config(tmp_path: Path) -> None:
    text = """
        cmd = 'java ' + java_options('server', Xmx='1g') + ' -jar app.jar; '
        cmd += 'python ' + python_options('u', workers=4) + ' app.py'
        export(Task(processes=[Process(name='p', cmdline=cmd)]))
    """
    assert cmdline(spec_of(tmp_path, text)) == (
        "java -server -Xmx 1g -jar app.jar; python -u --workers 4 app.py"
    )


def test_options_refuse_other_values(tmp_path: Path) -> None:
    error = error_of(tmp_path, "java_options(['a'])\n")
    assert error.source == f"{tmp_path / 'job.aurora'}:1"
    assert error.problem.startswith("ValueError: unexpected option ['a']")


def test_units(tmp_path: Path) -> None:
    text = """
        assert (BYTES, KB, MB, GB, TB) == (1, 1024, 1024**2, 1024**3, 1024**4)
        export(Task(processes=[Process(name='p', cmdline='x')],
                    resources=Resources(cpu=1, ram=3*MB + 5*KB + 7*BYTES, disk=2*TB + GB)))
    """
    spec = spec_of(tmp_path, text)
    assert spec.resources == Resources(1.0, 3 * 1024**2 + 5 * 1024 + 7, 2 * 1024**4 + 1024**3, 0)


@pytest.mark.parametrize(
    ("logger", "expected"),
    [
        ("Logger()", LoggerSpec("file", "standard", None)),
        ("Logger(destination='console')", LoggerSpec("console", "standard", None)),
        (
            "Logger(mode='rotate', rotate=RotatePolicy())",
            LoggerSpec("file", "rotate", RotatePolicy(100 * MB, 5)),
        ),
        (
            "Logger(rotate=RotatePolicy(log_size=10*MB))",
            LoggerSpec("file", "standard", RotatePolicy(10 * MB, 5)),
        ),
        (
            "Logger(destination='none', rotate=RotatePolicy(backups=2))",
            LoggerSpec("none", "standard", RotatePolicy(100 * MB, 2)),
        ),
    ],
)
def test_logger_and_rotate_policy_defaults(tmp_path: Path, logger: str, expected: Any) -> None:
    spec = spec_of(
        tmp_path, f"export(Task(processes=[Process(name='p', cmdline='x', logger={logger})]))"
    )
    assert spec.processes[0].logger == expected


# -- errors ---------------------------------------------------------------------------------


def test_syntax_error(tmp_path: Path) -> None:
    error = error_of(tmp_path, "p = Process(name='a', cmdline='x')\nexport(p))\n")
    assert error.source == f"{tmp_path / 'job.aurora'}:2"
    assert str(error) == f"{tmp_path / 'job.aurora'}:2: syntax error: unmatched ')'"


def test_syntax_error_on_a_later_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, "x = 1\ny = 2\nz = = 3\n")
    assert str(error) == f"{tmp_path / 'job.aurora'}:3: syntax error: invalid syntax"


def test_runtime_exception(tmp_path: Path) -> None:
    error = error_of(tmp_path, "x = 1\ny = {}\nz = y['missing']\n")
    assert str(error) == f"{tmp_path / 'job.aurora'}:3: KeyError: 'missing'"


def test_an_exception_inside_a_config_function_names_the_innermost_line(tmp_path: Path) -> None:
    text = """
        def make(n):
            return Process(name=n, cmdline=undefined_name)

        p = make('a')
    """
    error = error_of(tmp_path, text)
    assert (
        str(error)
        == f"{tmp_path / 'job.aurora'}:2: NameError: name 'undefined_name' is not defined"
    )


def test_a_multi_line_exception_message_keeps_its_first_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, "raise RuntimeError('first\\nsecond')\n")
    assert str(error) == f"{tmp_path / 'job.aurora'}:1: RuntimeError: first"


@pytest.mark.parametrize("call", ["import sys; sys.exit(0)", "raise SystemExit(3)", "exit()"])
def test_a_config_that_exits(tmp_path: Path, call: str) -> None:
    error = error_of(tmp_path, f"x = 1\n{call}\n")
    assert str(error).startswith(f"{tmp_path / 'job.aurora'}:2: SystemExit")


@pytest.mark.parametrize(
    ("text", "line", "attribute"),
    [
        ("export(Task(processes=[Process(nmae='x', cmdline='y')]))", 1, "nmae"),
        ("p = Process(name='a', cmdline='b')\nt = Task(proceses=[p])\n", 2, "proceses"),
        ("j = Job(rol='www')\n", 1, "rol"),
    ],
)
def test_a_misspelt_struct_field(tmp_path: Path, text: str, line: int, attribute: str) -> None:
    error = error_of(tmp_path, text)
    assert str(error) == (
        f"{tmp_path / 'job.aurora'}:{line}: AttributeError: Unknown schema attribute {attribute}"
    )


@pytest.mark.parametrize(
    ("fields", "path", "problem"),
    [
        ("max_failures='x'", "processes[1].max_failures", "expected an integer, got 'x'"),
        ("max_failures=[1]", "processes[1].max_failures", "expected an integer, got [1]"),
        ("min_duration='{{oops'", "processes[1].min_duration", "expected an integer, got '{{oops'"),
        ("daemon='maybe'", "processes[1].daemon", "expected true or false, got 'maybe'"),
        ("max_failures=-1", "processes[1].max_failures", "expected an integer >= 0, got -1"),
        ("cmdline={'a': 1}", "processes[1].cmdline", "expected a string, got {'a': 1}"),
        ("name='bad/name'", "processes[1].name", "must not contain '/'"),
        (
            "resources=Resources(cpu='lots', ram=1, disk=1)",
            "processes[1].resources.cpu",
            "expected a number, got 'lots'",
        ),
    ],
)
def test_a_bad_field_value_names_the_field(
    tmp_path: Path, fields: str, path: str, problem: str
) -> None:
    text = f"""
        ok = Process(name='ok', cmdline='true')
        export(Task(processes=[ok, Process(name='p', cmdline='true')({fields})]))
    """
    error = error_of(tmp_path, text)
    assert error.source == str(tmp_path / "job.aurora")
    assert error.field == path
    assert problem in error.problem


@pytest.mark.parametrize(
    ("fields", "path", "problem"),
    [
        ("max_concurrency='many'", "max_concurrency", "expected an integer, got 'many'"),
        ("resources=Resources(cpu=1, ram=-1, disk=1)", "resources.ram", ">= 0, got -1"),
        ("resources=Resources(cpu=1)", "resources.ram", "required field is missing"),
        ("finalization_wait=-5", "finalization_wait", "expected an integer >= 0, got -5"),
        (
            "constraints=[Constraint(order=['a', 'zz'])]",
            "constraints[0].order[1]",
            "unknown process 'zz'",
        ),
    ],
)
def test_a_bad_task_field_names_the_field(
    tmp_path: Path, fields: str, path: str, problem: str
) -> None:
    text = f"export(Task(processes=[Process(name='a', cmdline='true')], {fields}))"
    error = error_of(tmp_path, text)
    assert error.field == path
    assert problem in error.problem


def test_no_processes(tmp_path: Path) -> None:
    for text in ("export(Task(processes=[]))", "export(Task())", "export(Task(name='n'))"):
        error = error_of(tmp_path, text)
        assert (error.field, error.problem) == ("processes", "a task needs at least one process")


def test_an_unbound_template_names_the_field(tmp_path: Path) -> None:
    text = """
        export(Task(processes=[Process(name='a', cmdline='true'),
                               Process(name='b', cmdline='echo {{greeting}} {{other}}')]))
    """
    error = error_of(tmp_path, text)
    assert error.field == "processes[1].cmdline"
    assert error.problem == "unbound template {{greeting}} (bind it with --bind greeting=VALUE)"


def test_an_unbound_template_in_a_task_field(tmp_path: Path) -> None:
    text = "export(Task(name='{{job_name}}', processes=[Process(name='a', cmdline='x')]))"
    error = error_of(tmp_path, text)
    assert error.field == "name"
    assert "{{job_name}}" in error.problem


def test_a_referenced_port_that_is_not_given(tmp_path: Path) -> None:
    text = """
        p = Process(name='p', cmdline='serve {{thermos.ports[http]}} {{thermos.ports[admin]}}')
        export(Task(processes=[p]))
    """
    error = error_of(tmp_path, text, ports={"http": 80})
    assert error.field == "processes[0].cmdline"
    assert error.problem == "port 'admin' is referenced but not given (pass --port admin=NUMBER)"
    spec = spec_of(tmp_path, text, ports={"http": 80, "admin": 81})
    assert cmdline(spec) == "serve 80 81"


def test_referenced_ports(tmp_path: Path) -> None:
    text = """
        a = Process(name='a', cmdline='serve {{thermos.ports[http]}} {{thermos.ports[admin]}}')
        b = Process(name='b', cmdline='check {{thermos.ports[http]}} {{unrelated}}')
        export(Task(processes=[a, b]))
    """
    selection = convert.select(loader.load(write(tmp_path / "job.aurora", text)))
    plain, _ = convert.to_plain(selection.task, selection.source)
    assert referenced_ports(plain) == {"http", "admin"}


def test_unbound_problem() -> None:
    assert convert.unbound_problem("thermos.ports[web]") == (
        "port 'web' is referenced but not given (pass --port web=NUMBER)"
    )
    assert convert.unbound_problem("profile.version") == (
        "unbound template {{profile.version}} (bind it with --bind profile.version=VALUE)"
    )


def test_task_name(tmp_path: Path) -> None:
    path = write(tmp_path / "job.aurora", "export(Task(name='{{x}}', processes=[]))\n")
    assert convert.task_name(convert.select(loader.load(path))) == "task"
    path = write(tmp_path / "job.aurora", HELLO)
    assert convert.task_name(convert.select(loader.load(path))) == "hello_task"


def test_a_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        loader.load(tmp_path / "nope.aurora")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.aurora'}: cannot read config: No such file or directory"
    )


def test_a_config_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.aurora"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError) as info:
        loader.load(path)
    assert str(info.value).startswith(f"{path}: cannot read config: ")


def test_to_plain_reports_coercion_with_the_path(tmp_path: Path) -> None:
    path = write(
        tmp_path / "job.aurora",
        "export(Task(processes=[Process(name='a', cmdline='x', max_failures='x')]))",
    )
    selection = convert.select(loader.load(path))
    with pytest.raises(InputError) as info:
        convert.to_plain(selection.task, "src")
    assert str(info.value) == "src: processes[0].max_failures: expected an integer, got 'x'"


def test_a_bad_enum_value_names_the_allowed_values(tmp_path: Path) -> None:
    text = (
        "p = Process(name='x', cmdline='true', logger=Logger(destination='bogus'))\n"
        "export(Task(processes=[p]))\n"
    )
    error = error_of(tmp_path, text)
    assert str(error).endswith(":1: ValueError: expected one of file, console, both, none")
    assert "Enum_" not in str(error)
