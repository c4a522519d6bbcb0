"""The observer (root) reads a sandbox only through names the task cannot redirect.

A real observer serves finished tasks whose sandboxes were then changed as the task's user
could change them: a directory on the way to a log swapped for a link to a root-only
directory (at ``.logs``, ``.logs/p``, ``.logs/p/0``), a FIFO at a log path, and a directory
swapped with a link by ``renameat2(RENAME_EXCHANGE)`` while it is being listed. No route may
serve a root-only byte or name, answer 500, or stop answering ``/health``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from observing import Observer, Response, start_observer, stop_observer
from support import borealis

from borealis.contract.layout import CheckpointRoot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="root-only targets need root")

SECRET = b"root-only-secret"
ROOT_NAME = "root-only-name"
TASKS = ["logs-link", "proc-link", "run-link", "fifo", "race"]

LOG_ROUTES = [
    "/api/v1/tasks/{t}/logs/p/0/stdout",
    "/api/v1/tasks/{t}/logs/p/0/stdout?cursor=start",
    "/api/v1/tasks/{t}/logs/p/0/stdout?cursor=end&direction=backward",
    "/api/v1/tasks/{t}/logs/p/0/stdout?cursor=start&wait=1",
    "/api/v1/tasks/{t}/logs/p/0/stderr?cursor=start",
]
SANDBOX_ROUTES = [
    "/api/v1/tasks/{t}/files/.logs/p/0/stdout",
    "/api/v1/tasks/{t}/files/.logs/p/0/stdout?offset=-1",
    "/api/v1/tasks/{t}/files/.logs/p/0",
    "/api/v1/tasks/{t}/files/.logs/p",
    "/api/v1/tasks/{t}/files/.logs",
    "/api/v1/tasks/{t}/download/.logs/p/0/stdout",
    "/download/{t}/.logs/p/0/stdout",
    "/file/{t}/.logs/p/0/stdout",
    "/browse/{t}/.logs/p/0",
    "/browse/{t}/.logs/p",
    "/browse/{t}/.logs",
]


def vault(path: Path, *inside: str) -> Path:
    """A root-only directory holding ``<inside>/stdout`` and ``stderr`` with the secret."""
    path.mkdir(mode=0o700)
    leaf = path.joinpath(*inside)
    leaf.mkdir(parents=True, exist_ok=True)
    for stream in ("stdout", "stderr", ROOT_NAME):
        (leaf / stream).write_bytes(SECRET + b"\n")
        (leaf / stream).chmod(0o600)
    return path


def swap_for_link(directory: Path, target: Path) -> None:
    """As the task's user could: move a directory aside and put a link in its place."""
    directory.rename(directory.with_name(directory.name + "-moved"))
    directory.symlink_to(target)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Observer, CheckpointRoot]]:
    base = tmp_path_factory.mktemp("observer-paths")
    root = CheckpointRoot(base / "root")
    root.ensure()
    config = base / "t.aurora"
    config.write_text(
        "p = Process(name='p', cmdline='echo hello-from-p; echo oops >&2')\n"
        "export(Task(name='t', processes=[p]))\n"
    )
    for task_id in TASKS:
        done = borealis("run", str(config), "--root", str(root.path), "--task-id", task_id, "-q")
        assert done.returncode == 0, done.stderr
    sandboxes = root.path / "sandboxes"
    swap_for_link(sandboxes / "logs-link/.logs", vault(base / "v1", "p", "0"))
    swap_for_link(sandboxes / "proc-link/.logs/p", vault(base / "v2", "0"))
    swap_for_link(sandboxes / "run-link/.logs/p/0", vault(base / "v3"))
    live = sandboxes / "fifo/.logs/p/0/stdout"
    live.unlink()
    os.mkfifo(live)
    race = sandboxes / "race"
    (race / "d").mkdir()
    (race / "d" / "public-name").write_text("public\n")
    (race / "l").symlink_to(vault(base / "v4"))
    observer = start_observer(base / "observer.log", "--root", str(root.path))
    yield observer, root
    stop_observer(observer)


def assert_safe(resp: Response, path: str) -> None:
    assert resp.status != 500, (path, resp.text[:200])
    assert SECRET not in resp.body and ROOT_NAME.encode() not in resp.body, path


@pytest.mark.parametrize(
    ("task_id", "link"),
    [("logs-link", ".logs"), ("proc-link", ".logs/p"), ("run-link", ".logs/p/0")],
)
def test_a_linked_directory_on_the_way_to_a_log_is_refused(
    host: tuple[Observer, CheckpointRoot], task_id: str, link: str
) -> None:
    observer, _ = host
    for route in LOG_ROUTES + SANDBOX_ROUTES:
        path = route.format(t=task_id)
        resp = observer.get(path, timeout=10)
        assert_safe(resp, path)
        inside = path.split("?")[0].partition(f"/{task_id}/")[2]
        inside = inside[inside.find(".logs") :]  # the path inside the sandbox
        if "/logs/" in route or inside.startswith(link):  # through the link: refused
            assert resp.status in (403, 404), (path, resp.status, resp.text[:200])
            assert len(resp.body) < 2000, path  # one line of error, not content
        else:  # a directory above the link: listed, the link shown as a link
            assert resp.status == 200, (path, resp.status, resp.text[:200])
    # The page around the log viewer itself holds no log bytes; it still renders.
    page = observer.get(f"/logs/{task_id}/p/0/stdout", timeout=10)
    assert page.status == 200
    assert_safe(page, "/logs")


def test_an_untouched_log_is_still_served(host: tuple[Observer, CheckpointRoot]) -> None:
    observer, _ = host
    doc = observer.json("/api/v1/tasks/race/logs/p/0/stdout?cursor=start")
    assert "".join(c["data"] for c in doc["chunks"]) == "hello-from-p\n"
    assert observer.json("/api/v1/tasks/race/files/d")["entries"][0]["name"] == "public-name"


def test_a_fifo_at_a_log_path_blocks_nothing(host: tuple[Observer, CheckpointRoot]) -> None:
    observer, _ = host
    answers: list[Response | BaseException] = []

    def ask(path: str) -> None:
        try:
            answers.append(observer.get(path, timeout=20))
        except BaseException as e:  # a timeout is an answer here: the route hung
            answers.append(e)

    askers = [
        threading.Thread(target=ask, args=(route.format(t="fifo"),))
        for route in LOG_ROUTES[:4] + SANDBOX_ROUTES[:2] + SANDBOX_ROUTES[5:8]
    ]
    for asker in askers:
        asker.start()
    # Every route, /health first, keeps answering while those requests are about.
    assert observer.get("/health", timeout=10).status == 200
    assert observer.get("/api/v1/tasks/race", timeout=10).status == 200
    for asker in askers:
        asker.join(30)
    assert len(answers) == len(askers)
    for answer in answers:
        assert isinstance(answer, Response), answer
        assert answer.status in (403, 404), answer.text[:200]
    assert observer.get("/health", timeout=10).status == 200


SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b = (os.fsencode(p) for p in sys.argv[1:3])
while True:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit(f"renameat2: {os.strerror(ctypes.get_errno())}")
"""


def test_swapping_a_directory_for_a_link_while_it_is_listed_leaks_nothing(
    host: tuple[Observer, CheckpointRoot],
) -> None:
    observer, root = host
    race = root.path / "sandboxes" / "race"
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(race / "d"), str(race / "l")])
    statuses: dict[int, int] = {}
    leaked = 0
    try:
        for i in range(1500):
            path = "/api/v1/tasks/race/files/d" if i % 2 else "/browse/race/d"
            resp = observer.get(path, timeout=10)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            leaked += ROOT_NAME.encode() in resp.body or SECRET in resp.body
            assert swapper.poll() is None, "the swapper stopped"
    finally:
        swapper.kill()
        swapper.wait()
    assert leaked == 0, statuses
    assert statuses.get(500, 0) == 0, statuses
    assert set(statuses) <= {200, 403, 404}, statuses
    assert statuses.get(200, 0) > 0 and statuses.get(403, 0) > 0, statuses  # it did race
