"""Containers through ``borealis run``, ``inspect`` and ``status`` and the observer: a job with
a container is refused (one line naming the field and the image, nothing created) unless
``--ignore-container`` is given; then it runs on the host and every view of it says so."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from observing import start_observer, stop_observer
from support import borealis
from test_invalid_configs import assert_refused, tree

from borealis.contract.layout import CheckpointRoot

TASK = (
    "Task(name='t', processes=[Process(name='p', cmdline='echo ran on the host')],"
    " resources=Resources(cpu=0.1, ram=16*MB, disk=16*MB))"
)


def job(container: str) -> str:
    return textwrap.dedent(
        f"""
        jobs = [Job(cluster='local', role='www-data', environment='devel', name='c',
                    task={TASK}, container={container})]
        """
    ).lstrip()


DOCKER = "Docker(image='python:3.11-slim', parameters=[Parameter(name='env', value='A=1')])"
CONTAINERS = [
    pytest.param(
        f"Container(docker={DOCKER})", "container.docker.image", "python:3.11-slim", id="container"
    ),
    pytest.param(DOCKER, "container.docker.image", "python:3.11-slim", id="docker"),
    pytest.param(
        "Mesos(image=DockerImage(name='debian', tag='bookworm'),"
        " volumes=[Volume(container_path='/data', host_path='/srv', mode='RO')])",
        "container.mesos.image",
        "debian:bookworm",
        id="mesos-docker-image",
    ),
    pytest.param(
        "Mesos(image=AppcImage(name='example.com/app', image_id='sha512-abc'))",
        "container.mesos.image",
        "example.com/app@sha512-abc",
        id="mesos-appc-image",
    ),
]


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "c.aurora"
    config.write_text(text)
    return config


@pytest.mark.parametrize(("container", "field", "image"), CONTAINERS)
def test_run_refuses_a_container_naming_its_field_and_image(
    root: CheckpointRoot, tmp_path: Path, container: str, field: str, image: str
) -> None:
    config = write(tmp_path, job(container))
    before = tree(root)
    result = borealis("run", str(config), "--root", str(root.path), timeout=60)
    line = assert_refused(
        result, root, before, f"borealis: {config}: {field}: ", image, "--ignore-container"
    )
    assert "cannot run a" in line


@pytest.mark.parametrize(("container", "field", "image"), CONTAINERS)
def test_inspect_shows_the_container(
    tmp_path: Path, container: str, field: str, image: str
) -> None:
    config = write(tmp_path, job(container))
    result = borealis("inspect", str(config), timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("container: ")]
    assert len(lines) == 1, result.stderr
    assert image in lines[0] and field in lines[0]
    if "parameters" in container:
        assert "--env=A=1" in lines[0]
    if "volumes" in container:
        assert "volume /srv:/data:RO" in lines[0]
    assert json.loads(result.stdout)["name"] == "t"  # the task itself, unchanged


def test_mesos_without_an_image_is_no_container_and_runs(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write(tmp_path, job("Mesos()"))
    result = borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "plain", timeout=60
    )
    assert result.returncode == 0, result.stderr
    shown = borealis("status", "plain", "--root", str(root.path), "--json")
    assert json.loads(shown.stdout)["ignored_container"] is None
    assert "container: " not in borealis("inspect", str(config)).stderr


def test_volumes_without_an_image_are_refused(root: CheckpointRoot, tmp_path: Path) -> None:
    config = write(
        tmp_path, job("Mesos(volumes=[Volume(container_path='/d', host_path='/h', mode='RW')])")
    )
    before = tree(root)
    result = borealis("run", str(config), "--root", str(root.path), timeout=60)
    assert_refused(
        result, root, before, f"borealis: {config}: container.mesos.volumes: ", "need an image"
    )


def test_ignore_container_runs_on_the_host_and_status_and_observer_say_so(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write(tmp_path, job(DOCKER))
    result = borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "hosted", "--ignore-container",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "without its Docker container (image python:3.11-slim)" in result.stderr
    sandbox = root.path / "sandboxes" / "hosted"
    assert (sandbox / ".logs" / "p" / "0" / "stdout").read_text() == "ran on the host\n"
    shown = borealis("status", "hosted", "--root", str(root.path))
    assert shown.returncode == 0, shown.stderr
    assert (
        "on host  without its Docker container (image python:3.11-slim) (--ignore-container)"
        in shown.stdout
    )
    as_json = json.loads(borealis("status", "hosted", "--root", str(root.path), "--json").stdout)
    assert as_json["ignored_container"] == "Docker container (image python:3.11-slim)"
    observer = start_observer(tmp_path / "observer.log", "--root", str(root.path))
    try:
        page = observer.get("/task/hosted")
        assert page.status == 200
        assert "without its Docker container (image python:3.11-slim)" in page.text
        api = observer.json("/api/v1/tasks/hosted")
        assert api["ignored_container"] == "Docker container (image python:3.11-slim)"
    finally:
        stop_observer(observer)


def test_a_task_without_a_container_says_nothing_about_one(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write(tmp_path, f"export({TASK})")
    result = borealis("run", str(config), "--root", str(root.path), "--task-id", "bare", timeout=60)
    assert result.returncode == 0, result.stderr
    shown = borealis("status", "bare", "--root", str(root.path))
    assert "on host" not in shown.stdout


REGISTRY = "Docker(image='{{docker.image[library/python][3.11]}}')"  # Aurora's registry binding


def test_a_registry_image_template_is_refused_saying_why(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    config = write(tmp_path, job(REGISTRY))
    before = tree(root)
    result = borealis("run", str(config), "--root", str(root.path), timeout=60)
    assert_refused(
        result,
        root,
        before,
        f"borealis: {config}: container.docker.image: {{{{docker.image[library/python][3.11]}}}}",
        "asks the Docker registry",
    )
    inspected = borealis("inspect", str(config))
    assert inspected.returncode == 2 and "asks the Docker registry" in inspected.stderr


def test_an_ignored_container_need_not_bind(root: CheckpointRoot, tmp_path: Path) -> None:
    config = write(tmp_path, job(REGISTRY))
    result = borealis(
        "run", str(config), "--root", str(root.path), "--task-id", "loose", "--ignore-container",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    as_json = json.loads(borealis("status", "loose", "--root", str(root.path), "--json").stdout)
    assert as_json["ignored_container"] == (
        "Docker container (image {{docker.image[library/python][3.11]}})"
    )


def test_job_create_refuses_a_registry_template_before_calling_the_scheduler(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, job(REGISTRY))
    clusters = tmp_path / "clusters.json"
    clusters.write_text(json.dumps([{"name": "local", "scheduler_uri": "http://127.0.0.1:1"}]))
    result = borealis(
        "job", "--clusters", str(clusters), "create", "local/www-data/devel/c", str(config)
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"borealis: {config}: container.docker.image: {{{{docker.image[library/python][3.11]}}}}"
    )
    assert "cannot reach" not in result.stderr
