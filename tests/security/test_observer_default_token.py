"""The observer runs as root and reads every task's files: without a token it would hand a
``nobody`` task's private (0600) file and its logs to any local user who can reach the port.

A real ``borealis run`` (as root) runs a task of user ``nobody`` that writes a 0600 file and
a log line; a real ``borealis observer`` started with no flag but ``--port 0`` (its root from
``$BOREALIS_ROOT``, as an operator's default) serves it. Requests come from this process and
from ``www-data`` (``runuser ... curl``): without the token every data route is 401 with none
of the task's content; with it, 200. ``--no-auth`` is the explicit way back to an open
observer, which the last test shows is what the red team found.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from observing import Observer, start_observer, stop_observer
from support import borealis, kill_leftovers

from borealis.contract.layout import CheckpointRoot

TASK = "private"
FILE_SECRET = "file-secret-3b9d"
LOG_SECRET = "log-secret-77c1"
CONFIG = (
    f"export(Task(name='{TASK}', user='nobody', processes=[Process(name='p', cmdline="
    f"'echo {LOG_SECRET}; umask 077; echo {FILE_SECRET} > secret.txt')]))\n"
)
# every kind of route that hands out task data: the list, a log (API and page), a download
DATA_ROUTES = [
    "/api/v1/tasks",
    f"/api/v1/tasks/{TASK}/logs/p/0/stdout?cursor=start",
    f"/logs/{TASK}/p/0/stdout",
    f"/api/v1/tasks/{TASK}/download/secret.txt",
    f"/download/{TASK}/secret.txt",
    f"/api/v1/tasks/{TASK}/files/secret.txt",
]
SECRETS = (TASK, FILE_SECRET, LOG_SECRET)


@pytest.fixture(scope="module")
def root() -> Iterator[CheckpointRoot]:
    """A root holding the finished task of ``nobody`` (made in a directory nobody can reach)."""
    base = Path(tempfile.mkdtemp(prefix="borealis-obs-token-"))
    base.chmod(0o755)
    try:
        root = CheckpointRoot(base / "root")
        config = base / "private.aurora"
        config.write_text(CONFIG)
        done = borealis("run", str(config), "--root", str(root.path), "--task-id", TASK, "-q")
        assert done.returncode == 0, done.stderr
        secret = root.path / "sandboxes" / TASK / "secret.txt"
        assert secret.stat().st_uid == 65534 and stat.S_IMODE(secret.stat().st_mode) == 0o600
        yield root
    finally:
        kill_leftovers(base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def observer(
    root: CheckpointRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Observer]:
    """``borealis observer --port 0`` and nothing else: the operator's default."""
    monkeypatch.setenv("BOREALIS_ROOT", str(root.path))
    obs = start_observer(tmp_path / "observer.log")
    try:
        yield obs
    finally:
        stop_observer(obs)


def as_www_data(url: str) -> tuple[int, str]:
    """GET ``url`` as another local user (``www-data``, uid 33): the status and the body."""
    done = subprocess.run(
        ["runuser", "-u", "www-data", "--", "curl", "-sS", "-o", "-", "-w", "\n%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_the_token_file_is_made_private_at_the_first_start(
    observer: Observer, root: CheckpointRoot
) -> None:
    token_file = root.observer_token
    info = token_file.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(root.secrets_dir.stat().st_mode) == 0o700
    # the login URL it printed carries that token, for the operator's browser
    assert observer.token is not None and observer.token == token_file.read_text().strip()
    assert f"{observer.url}?token={observer.token}" in observer.log.read_text()


def test_without_the_token_no_task_data_is_served(observer: Observer) -> None:
    for path in DATA_ROUTES:
        resp = observer.get(path, auth=False)
        assert resp.status == 401, (path, resp.status)
        assert not any(s.encode() in resp.body for s in SECRETS), (path, resp.text)
        wrong = observer.get(path, {"Authorization": "Bearer " + "x" * 43})
        assert wrong.status == 401, path
        status, body = as_www_data(observer.url.rstrip("/") + path)
        assert status == 401, (path, status)
        assert not any(s in body for s in SECRETS), (path, body)
        # guessing it in the query gets no cookie either
        status, body = as_www_data(f"{observer.url.rstrip('/')}{path.split('?')[0]}?token=guess")
        assert status == 401 and FILE_SECRET not in body, (path, status)
    # the refusal says how to log in, on a page and in the API
    assert "?token= link" in observer.get("/task/private", auth=False).text
    assert "?token= link" in observer.get("/api/v1/tasks", auth=False).json()["error"]
    # what holds no task data stays open: health checks and the script
    assert observer.get("/health", auth=False).status == 200
    assert as_www_data(observer.url + "static/observer.js")[0] == 200


def test_with_the_token_the_data_is_served(observer: Observer) -> None:
    assert observer.token is not None
    for path in DATA_ROUTES:
        resp = observer.get(path)
        assert resp.status == 200, (path, resp.status, resp.text)
    assert FILE_SECRET in observer.get(f"/download/{TASK}/secret.txt").text
    assert LOG_SECRET in observer.get(f"/api/v1/tasks/{TASK}/logs/p/0/stdout?cursor=start").text
    # the operator's browser: the printed URL sets the cookie, which then opens every page
    login = observer.get(f"/?token={observer.token}", auth=False)
    assert login.status == 302, login.status
    cookie = login.headers["set-cookie"].split(";", 1)[0]
    page = observer.get(f"/download/{TASK}/secret.txt", {"Cookie": cookie}, auth=False)
    assert page.status == 200 and FILE_SECRET in page.text


def test_no_auth_is_the_explicit_way_to_an_open_observer(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    obs = start_observer(tmp_path / "open.log", "--root", str(root.path), "--no-auth")
    try:
        assert obs.token is None
        assert "--no-auth: every local user can read" in obs.log.read_text()
        status, body = as_www_data(f"{obs.url}download/{TASK}/secret.txt")
        assert status == 200 and FILE_SECRET in body  # what --no-auth means, as documented
        log = obs.get(f"/api/v1/tasks/{TASK}/logs/p/0/stdout?cursor=start")
        assert log.status == 200 and LOG_SECRET in log.text
    finally:
        stop_observer(obs)


def test_no_auth_and_a_token_file_are_not_both_accepted(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-token-of-enough-length\n")
    both = borealis(
        "observer", "--root", str(tmp_path), "--no-auth", "--auth-token-file", str(token)
    )
    assert both.returncode == 2 and "not allowed with" in both.stderr, both.stderr
    assert "Traceback" not in both.stderr


@pytest.mark.parametrize("kind", ["others-can-read", "a-link", "another-users"])
def test_a_token_file_others_can_read_or_swap_is_refused(kind: str, tmp_path: Path) -> None:
    """A token that www-data can read (or a link, or a file another user owns and may rewrite)
    guards nothing: the observer refuses to start on it, as the agent and scheduler do."""
    real = tmp_path / "token"
    real.write_text("a-token-of-enough-length\n")
    real.chmod(0o600)
    given = real
    if kind == "others-can-read":
        real.chmod(0o644)
    elif kind == "a-link":
        given = tmp_path / "link"
        given.symlink_to(real)
    else:
        os.chown(real, 33, 33)
    args = ("--root", str(tmp_path), "--port", "0", "--auth-token-file", str(given))
    result = borealis("observer", *args, timeout=20)  # one that starts fails by timing out
    assert result.returncode == 2, (kind, result.stdout, result.stderr)
    assert result.stderr.startswith("borealis: --auth-token-file: "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
