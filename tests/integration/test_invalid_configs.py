"""Bad input through the real CLI: exit status 2, one line, no traceback, nothing on disk.

Every case runs ``borealis run`` in a subprocess against a fresh checkpoint root and
checks the standard from docs/STYLE.md: stderr is exactly one line, ``borealis: ``
followed by the file (or flag), the field path and the problem; the exit status is 2;
there is no traceback; and no sandbox, checkpoint directory or task file was created.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from support import borealis

from borealis.contract.layout import CheckpointRoot

CONFIG = "bad.aurora"


def tree(root: CheckpointRoot) -> set[str]:
    return {str(p.relative_to(root.path)) for p in root.path.rglob("*")}


def write_config(tmp_path: Path, text: str, name: str = CONFIG) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run(root: CheckpointRoot, *args: str) -> subprocess.CompletedProcess[str]:
    return borealis("run", *args, "--root", str(root.path), timeout=60)


def assert_refused(
    result: subprocess.CompletedProcess[str],
    root: CheckpointRoot,
    before: set[str],
    prefix: str,
    *fragments: str,
) -> str:
    """Check the standard for bad input; return the one line of stderr."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    line = lines[0]
    assert result.stderr == line + "\n"
    assert line.startswith("borealis: ")
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert result.stdout == ""
    # nothing was created under the root
    assert tree(root) == before
    assert not root.sandboxes_dir.exists()
    assert list(root.checkpoints_dir.iterdir()) == []
    assert list(root.active_dir.iterdir()) == []
    assert list(root.finished_dir.iterdir()) == []
    return line


def refused_config(
    root: CheckpointRoot,
    tmp_path: Path,
    text: str,
    field: str,
    *fragments: str,
    args: tuple[str, ...] = (),
) -> str:
    """Run a bad config; its error must start with ``borealis: <file>: <field>``."""
    config = write_config(tmp_path, text)
    before = tree(root)
    result = run(root, str(config), *args)
    prefix = f"borealis: {config}: {field}" if field else f"borealis: {config}: "
    return assert_refused(result, root, before, prefix, *fragments)


# -- every validation rule ------------------------------------------------------------------


def one_process(name: str) -> str:
    return f"export(Task(name='t', processes=[Process(name={name}, cmdline='true')]))"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        pytest.param("''", "must not be empty", id="empty"),
        pytest.param("'.hidden'", "process name '.hidden' must not start with '.'", id="dot"),
        pytest.param("'a/b'", "process name 'a/b' must not contain '/'", id="slash"),
        pytest.param("'a\\tb'", "must not contain control characters", id="tab"),
        pytest.param("'a\\x1bb'", "must not contain control characters", id="escape"),
        pytest.param("'x' * 201", "process name is longer than 200 bytes", id="too-long"),
    ],
)
def test_bad_process_name(root: CheckpointRoot, tmp_path: Path, name: str, problem: str) -> None:
    refused_config(root, tmp_path, one_process(name), "processes[0].name: ", problem)


RULES = {
    "duplicate": (
        """
        a = Process(name='a', cmdline='true')
        export(Task(processes=[a, Process(name='b', cmdline='true'), a]))
        """,
        "processes[2].name: ",
        "duplicate process name 'a'",
    ),
    "unknown-in-constraint": (
        """
        build = Process(name='build', cmdline='true')
        test = Process(name='test', cmdline='true')
        export(Task(processes=[build, test], constraints=order(build, test) + order('biuld')))
        """,
        "constraints[1].order[0]: ",
        "unknown process 'biuld' (processes: build, test)",
    ),
    "final-with-regular": (
        """
        a = Process(name='a', cmdline='true')
        f = Process(name='f', cmdline='true', final=True)
        export(Task(processes=[a, f], constraints=order(a, f)))
        """,
        "constraints[0].order: ",
        "cannot order regular processes together with final processes",
    ),
    "depends-on-daemon": (
        """
        d = Process(name='d', cmdline='true', daemon=True)
        x = Process(name='x', cmdline='true')
        export(Task(processes=[d, x], constraints=order(d, x)))
        """,
        "constraints[0].order: ",
        "process 'x' may not depend on daemon process 'd'",
    ),
    "depends-on-ephemeral": (
        """
        e = Process(name='e', cmdline='true', ephemeral=True)
        r = Process(name='r', cmdline='true')
        export(Task(processes=[e, r], constraints=order(e, r)))
        """,
        "constraints[0].order: ",
        "non-ephemeral process 'r' may not depend on ephemeral process 'e'",
    ),
    "self-cycle": (
        """
        a = Process(name='a', cmdline='true')
        export(Task(processes=[a], constraints=order(a, a)))
        """,
        "constraints: ",
        "ordering cycle: a -> a",
    ),
    "cycle": (
        """
        a, b, c = [Process(name=n, cmdline='true') for n in 'abc']
        export(Task(processes=[a, b, c], constraints=order(a, b, c) + order(c, a)))
        """,
        "constraints: ",
        "ordering cycle: a -> b -> c -> a",
    ),
    "final-cycle": (
        """
        r = Process(name='r', cmdline='true')
        f, g = [Process(name=n, cmdline='true', final=True) for n in 'fg']
        export(Task(processes=[r, f, g], constraints=order(f, g) + order(g, f)))
        """,
        "constraints: ",
        "ordering cycle: f -> g -> f",
    ),
    "final-daemon": (
        """
        a = Process(name='a', cmdline='true')
        f = Process(name='f', cmdline='true', final=True, daemon=True)
        export(Task(processes=[a, f]))
        """,
        "processes[1]: ",
        "final process 'f' cannot be a daemon",
    ),
    "no-processes": (
        "export(Task(processes=[]))",
        "processes: ",
        "a task needs at least one process",
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_validation_rule(root: CheckpointRoot, tmp_path: Path, rule: str) -> None:
    text, field, problem = RULES[rule]
    refused_config(root, tmp_path, text, field, problem)


def test_long_chain_with_a_cycle(root: CheckpointRoot, tmp_path: Path) -> None:
    text = """
        names = ['p%04d' % i for i in range(5000)]
        processes = [Process(name=n, cmdline='true') for n in names]
        export(Task(name='chain', processes=processes,
                    constraints=order(*names) + order(names[-1], names[0])))
    """
    line = refused_config(root, tmp_path, text, "constraints: ", "ordering cycle: ")
    cycle = line.split("ordering cycle: ")[1].split(" -> ")
    assert len(cycle) == 5001
    assert cycle[0] == cycle[-1]


# -- Python errors and wrong types in the config ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        pytest.param("x = 1\ny = (\n", 2, "syntax error: ", id="syntax"),
        pytest.param("x = 1\nx = = 2\n", 2, "syntax error: invalid syntax", id="syntax-2"),
        pytest.param("x = 1\ny = x / 0\n", 2, "ZeroDivisionError: division by zero", id="runtime"),
        pytest.param("p = undefined\n", 1, "NameError: name 'undefined' is not defined", id="name"),
        pytest.param(
            "export(Task(processes=[Process(nmae='x', cmdline='true')]))\n",
            1,
            "AttributeError: Unknown schema attribute nmae",
            id="misspelt-field",
        ),
        pytest.param("x = 1\nraise RuntimeError('a\\nb')\n", 2, "RuntimeError: a", id="multiline"),
        pytest.param("import sys\nsys.exit(0)\n", 2, "SystemExit", id="exit-0"),
        pytest.param("raise SystemExit(3)\n", 1, "SystemExit", id="exit-3"),
        pytest.param("export(42)\n", 1, "TypeError: export() takes a Task, not int", id="export"),
        pytest.param("x = 1\nx = 2\ninclude(CONFIG)\n", 3, "RecursionError", id="include-loop"),
        pytest.param(
            "t = SequentialTask(processes=[Process(name='a', cmdline='x')],\n"
            "                   constraints=order('a'))\n",
            1,
            "ValueError: Cannot turn a Task with existing constraints into a SequentialTask!",
            id="sequential",
        ),
    ],
)
def test_python_error(
    root: CheckpointRoot, tmp_path: Path, text: str, where: int, problem: str
) -> None:
    config = write_config(tmp_path, text.replace("CONFIG", repr(CONFIG)))
    before = tree(root)
    result = run(root, str(config))
    assert_refused(result, root, before, f"borealis: {config}:{where}: {problem}")


def test_an_error_in_an_included_file_names_that_file(root: CheckpointRoot, tmp_path: Path) -> None:
    included = write_config(tmp_path, "ok = 1\nbroken = {}['key']\n", "lib.aurora")
    config = write_config(tmp_path, "include('lib.aurora')\n")
    before = tree(root)
    result = run(root, str(config))
    assert_refused(result, root, before, f"borealis: {included}:2: KeyError: 'key'")


def test_including_a_missing_file(root: CheckpointRoot, tmp_path: Path) -> None:
    config = write_config(tmp_path, "include('missing.aurora')\n")
    before = tree(root)
    result = run(root, str(config))
    missing = tmp_path / "missing.aurora"
    assert_refused(result, root, before, f"borealis: {missing}: cannot read config: ")


def process_with(fields: str) -> str:
    return f"export(Task(name='t', processes=[Process(name='p', cmdline='true', {fields})]))"


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        (process_with("max_failures='x'"), "processes[0].max_failures", "expected an integer"),
        (process_with("min_duration=[1]"), "processes[0].min_duration", "expected an integer"),
        (process_with("max_failures=-1"), "processes[0].max_failures", ">= 0, got -1"),
        (process_with("daemon='maybe'"), "processes[0].daemon", "expected true or false"),
        (
            process_with("resources=Resources(cpu='lots', ram=1, disk=1)"),
            "processes[0].resources.cpu",
            "expected a number, got 'lots'",
        ),
        (
            "export(Task(processes=[Process(name='p', cmdline={'a': 1})]))",
            "processes[0].cmdline",
            "expected a string",
        ),
        (
            "export(Task(processes=[Process(name='p', cmdline='x')], max_concurrency='2x'))",
            "max_concurrency",
            "expected an integer, got '2x'",
        ),
        (
            "export(Task(processes=[Process(name='p', cmdline='x')], resources=Resources(cpu=1)))",
            "resources.ram",
            "required field is missing",
        ),
        (
            "jobs = Job(cluster='c', role='r', environment='e', task=SimpleTask('a', 'b'))",
            "jobs",
            "expected a list of Job, got MesosJob",
        ),
        ("jobs = ['not a job']", "jobs[0]", "expected a Job or Service, got str"),
    ],
)
def test_wrong_type(
    root: CheckpointRoot, tmp_path: Path, text: str, field: str, problem: str
) -> None:
    refused_config(root, tmp_path, text, f"{field}: ", problem)


# -- templates and ports ------------------------------------------------------------------------


def test_unbound_template(root: CheckpointRoot, tmp_path: Path) -> None:
    text = """
        ok = Process(name='ok', cmdline='true')
        export(Task(processes=[ok, Process(name='p', cmdline='echo {{greeting}}')]))
    """
    refused_config(
        root,
        tmp_path,
        text,
        "processes[1].cmdline: ",
        "unbound template {{greeting}} (bind it with --bind greeting=VALUE)",
    )


def test_unbound_nested_template(root: CheckpointRoot, tmp_path: Path) -> None:
    text = """
        hosts = List(String)(['h0', 'h1'])
        p = Process(name='p', cmdline='ping {{array[{{mesos.instance}}]}}')
        export(Task(processes=[p]).bind(array=hosts))
    """
    refused_config(
        root, tmp_path, text, "processes[0].cmdline: ", "{{array[5]}}", args=("--instance", "5")
    )


def test_unbound_template_in_an_integer_field(root: CheckpointRoot, tmp_path: Path) -> None:
    text = process_with("max_failures='{{retries}}'")
    refused_config(root, tmp_path, text, "processes[0].max_failures: ", "{{retries}}")


def test_unbound_user(root: CheckpointRoot, tmp_path: Path) -> None:
    text = "export(Task(processes=[Process(name='p', cmdline='x')], user='{{who}}'))"
    refused_config(root, tmp_path, text, "user: ", "unbound template {{who}}")


def test_unknown_user(root: CheckpointRoot, tmp_path: Path) -> None:
    text = "export(Task(processes=[Process(name='p', cmdline='x')], user='no-such-user-xyz'))"
    refused_config(root, tmp_path, text, "user: ", "unknown user 'no-such-user-xyz'")


PORTS = """
    p = Process(name='p', cmdline='serve {{thermos.ports[http]}} {{thermos.ports[admin]}}')
    export(Task(processes=[p]))
"""


def test_port_referenced_but_not_given(root: CheckpointRoot, tmp_path: Path) -> None:
    refused_config(
        root,
        tmp_path,
        PORTS,
        "processes[0].cmdline: ",
        "port 'http' is referenced but not given (pass --port http=NUMBER)",
    )


def test_one_port_given_another_missing(root: CheckpointRoot, tmp_path: Path) -> None:
    refused_config(
        root,
        tmp_path,
        PORTS,
        "processes[0].cmdline: ",
        "port 'admin' is referenced but not given (pass --port admin=NUMBER)",
        args=("--port", "http=8080"),
    )


# -- choosing a task or a job ----------------------------------------------------------------

TWO_TASKS = """
    export(Task(name='a', processes=[Process(name='pa', cmdline='true')]))
    export(Task(name='b', processes=[Process(name='pb', cmdline='true')]))
"""

TWO_JOBS = """
    t = SimpleTask('hello', 'true')
    jobs = [Job(cluster='west', role='www', environment='prod', name='one', task=t),
            Service(cluster='east', role='www', environment='prod', name='two', task=t)]
"""


@pytest.mark.parametrize(
    ("text", "args", "field", "problem"),
    [
        (TWO_TASKS, (), "", "several tasks exported, pick one with --task (a, b)"),
        (TWO_TASKS, ("--task", "c"), "", "no task named 'c' (tasks: a, b)"),
        (TWO_TASKS, ("--job", "a"), "jobs: ", "this config defines no jobs"),
        (TWO_JOBS, (), "jobs: ", "several jobs, pick one with --job"),
        (TWO_JOBS, ("--job", "three"), "jobs: ", "no job named 'three' (jobs: west/www/prod/one"),
        (TWO_JOBS, ("--job", "west/www/prod/two"), "jobs: ", "no job named 'west/www/prod/two'"),
        (TWO_JOBS, ("--task", "hello"), "", "this config exports no tasks, only jobs (use --job)"),
        ("x = 1\n", (), "", "this config neither exports a task nor defines jobs"),
    ],
)
def test_unknown_or_ambiguous_selection(
    root: CheckpointRoot,
    tmp_path: Path,
    text: str,
    args: tuple[str, ...],
    field: str,
    problem: str,
) -> None:
    refused_config(root, tmp_path, text, field, problem, args=args)


# -- bad flags and a missing file ---------------------------------------------------------------

GOOD = "export(Task(name='t', processes=[Process(name='p', cmdline='true')]))"


def flag_case(flag: str, value: str, problem: str) -> object:
    """A bad flag value; its error must start with ``borealis: FLAG: VALUE: ``."""
    return pytest.param((flag, value), problem, id=f"{flag}={value[:20]}")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        flag_case("--port", "http", "expected NAME=NUMBER"),
        flag_case("--port", "=80", "expected NAME=NUMBER"),
        flag_case("--port", "a b=80", "expected NAME=NUMBER"),
        flag_case("--port", "http=0", "the port must be a number from 1 to 65535"),
        flag_case("--port", "http=65536", "from 1 to 65535"),
        flag_case("--port", "http=x", "from 1 to 65535"),
        flag_case("--port", "http=-1", "from 1 to 65535"),
        flag_case("--bind", "foo", "expected KEY=VALUE"),
        flag_case("--bind", "=1", "expected KEY=VALUE"),
        flag_case("--bind", "{{x}}=1", "expected KEY=VALUE"),
        flag_case("--bind", "a b=1", "expected KEY=VALUE"),
        flag_case("--instance", "-1", "expected an integer >= 0"),
        flag_case("--kill-grace", "soon", "expected a duration"),
        flag_case("--max-runs", "-1", "expected an integer >= 0"),
        flag_case("--task-id", ".hidden", "invalid task id"),
        flag_case("--task-id", "a/b", "invalid task id"),
        flag_case("--task-id", "x" * 201, "invalid task id"),
        flag_case("--instance", "x", "expected an integer"),
        flag_case("--max-runs", "many", "expected an integer >= 0"),
    ],
)
def test_bad_flag_value(
    root: CheckpointRoot, tmp_path: Path, args: tuple[str, str], problem: str
) -> None:
    config = write_config(tmp_path, GOOD)
    before = tree(root)
    result = run(root, str(config), *args)
    flag, value = args
    assert_refused(result, root, before, f"borealis: {flag}: {value}: ", problem)


def test_argparse_errors_are_one_line_without_a_traceback(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write_config(tmp_path, GOOD)
    before = tree(root)
    result = run(root, str(config), "--no-such-flag")
    assert result.returncode == 2
    assert result.stderr == (
        "borealis: unrecognized arguments: --no-such-flag (see borealis --help)\n"
    )
    assert tree(root) == before


def test_missing_config_file(root: CheckpointRoot, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.aurora"
    before = tree(root)
    result = run(root, str(missing))
    assert_refused(
        result, root, before, f"borealis: {missing}: cannot read config: No such file or directory"
    )


def test_config_is_a_directory(root: CheckpointRoot, tmp_path: Path) -> None:
    before = tree(root)
    result = run(root, str(tmp_path))
    assert_refused(result, root, before, f"borealis: {tmp_path}: cannot read config: ")


# -- a task id that is already taken ------------------------------------------------------------


def test_task_id_of_a_finished_task(root: CheckpointRoot, tmp_path: Path) -> None:
    (root.finished_dir / "done").write_text("{}")
    config = write_config(tmp_path, GOOD)
    before = tree(root)
    result = run(root, str(config), "--task-id", "done")
    assert result.returncode == 2
    assert result.stderr.startswith("borealis: --task-id: done: this task already finished")
    assert len(result.stderr.splitlines()) == 1
    assert tree(root) == before
    assert not root.sandboxes_dir.exists()


def test_task_id_of_a_different_running_task(root: CheckpointRoot, tmp_path: Path) -> None:
    other = '{"name": "other", "processes": [{"name": "x", "cmdline": "false"}]}'
    (root.active_dir / "busy").write_text(other)
    config = write_config(tmp_path, GOOD)
    before = tree(root)
    result = run(root, str(config), "--task-id", "busy")
    assert result.returncode == 2
    assert result.stderr.startswith("borealis: --task-id: busy: a different task already runs")
    assert len(result.stderr.splitlines()) == 1
    assert (root.active_dir / "busy").read_text() == other
    assert tree(root) == before
    assert not root.sandboxes_dir.exists()


def test_a_good_config_does_run(root: CheckpointRoot, tmp_path: Path) -> None:
    # The control case: the same helpers see a valid config create its task.
    config = write_config(tmp_path, GOOD)
    result = run(root, str(config), "--task-id", "fine", "-q")
    assert result.returncode == 0, result.stderr
    assert (root.finished_dir / "fine").exists()
    assert (root.sandboxes_dir / "fine").is_dir()


def web_service(
    tmp_path: Path,
    resources: str = "cpu=0.1, ram=32*MB, disk=32*MB",
    update: str = "UpdateConfig()",
) -> Path:
    """A one-process service local/www-data/devel/web, for the job commands' refusals."""
    return write_config(
        tmp_path,
        f"""
        jobs = [Service(cluster='local', role='www-data', environment='devel', name='web',
                        task=Task(name='web', processes=[Process(name='p', cmdline='sleep 1')],
                                  resources=Resources({resources})),
                        update_config={update})]
        """,
    )


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("batch_size='x%'", "update_config.batch_sizes[0]: expected a percentage in (0, 100]"),
        ("batch_size=0", "update_config.batch_sizes[0]: expected a count >= 1"),
        ("watch_secs=-1", "update_config.watch_secs: expected an integer >= 0, got -1"),
        ("canary='150%'", "update_config.canary: expected a percentage in (0, 100]"),
        (
            "update_strategy=VariableBatchUpdateStrategy(batch_sizes=[])",
            "update_config.batch_sizes: expected a non-empty list",
        ),
    ],
)
def test_bad_update_config(
    root: CheckpointRoot, tmp_path: Path, setting: str, problem: str
) -> None:
    """Refused on the client, before any scheduler is asked (none runs here)."""
    config = web_service(tmp_path, update=f"UpdateConfig({setting})")
    before = tree(root)
    key = "local/www-data/devel/web"
    for verb in (("update", "start"), ("diff",)):
        result = borealis("job", *verb, key, str(config), timeout=60)
        assert_refused(result, root, before, f"borealis: {config}: ", problem)


@pytest.mark.parametrize(
    ("resources", "problem"),
    [
        ("cpu=0, ram=32*MB, disk=32*MB", "task.resources.cpu: must be greater than 0, got 0.0"),
        ("cpu=0.1, ram=0, disk=32*MB", "task.resources.ram: must be greater than 0 (at least"),
        ("cpu=0.1, ram=32*MB, disk=1000", "task.resources.disk: must be greater than 0 (at le"),
    ],
)
def test_a_job_reserving_nothing_is_refused(
    root: CheckpointRoot, tmp_path: Path, resources: str, problem: str
) -> None:
    """As Aurora's scheduler refuses num_cpus, ram_mb or disk_mb of 0; on the client."""
    config = web_service(tmp_path, resources=resources)
    before = tree(root)
    result = borealis("job", "diff", "local/www-data/devel/web", str(config), timeout=60)
    assert_refused(result, root, before, f"borealis: {config}: ", problem)
