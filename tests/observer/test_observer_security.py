"""Nothing outside a sandbox can be read, HTML stays inert, and the token guards every route.

Paths are sent verbatim (``http.client``), so ``..`` and escapes reach the observer exactly
as an attacker would send them; a browser or curl would normalise some of them away.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from observing import Host, start_observer, stop_observer
from support import borealis

SECRETS = [b"root:x:0:0", b"secret-of-p10", b"secret-of-p1"]
LONG = "a/" * 2100 + "x"
ATTACKS = [
    "../../../../../../etc/passwd",
    "..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ".%2e/.%2e/.%2e/.%2e/.%2e/.%2e/etc/passwd",
    "%252e%252e/%252e%252e/%252e%252e/%252e%252e/etc/passwd",
    "..%252f..%252f..%252f..%252fetc%252fpasswd",
    "%25252e%25252e%25252fetc%25252fpasswd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "%2F%2Fetc%2Fpasswd",
    "//etc/passwd",
    "/proc/self/root/etc/passwd",
    "sub/dir/../../../p10/secret.txt",
    "./../p10/secret.txt",
    "sub/..",
    "..",
    "../p10/secret.txt",
    "..%2fp10%2fsecret.txt",
    "passwd_link",
    "root_link/etc/passwd",
    "root_link",
    "sibling_link",
    "sibling_dir/secret.txt",
    "sibling_dir",
    "secret.txt%00.png",
    "secret.txt%00",
    "%00",
    LONG,
    "x" * 300,
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "%ef%bc%8e%ef%bc%8e/%ef%bc%8e%ef%bc%8e/etc/passwd",
    "..%5c..%5c..%5cetc%5cpasswd",
    "....//....//....//etc/passwd",
    "..;/..;/..;/etc/passwd",
    "pipe",
    "sub/dir/file.txt/../../../../p10/secret.txt",
]
ROUTES = [
    "/api/v1/tasks/p1/files/{}",
    "/api/v1/tasks/p1/files/{}?offset=-1",
    "/api/v1/tasks/p1/download/{}",
    "/download/p1/{}",
    "/file/p1/{}",
    "/browse/p1/{}",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_path_escapes_are_refused_with_no_content(host: Host, attack: str) -> None:
    assert len(ATTACKS) >= 30
    for route in ROUTES:
        path = route.format(attack)
        resp = host.observer.get(path, timeout=10)
        assert resp.status in (403, 404), (path, resp.status, resp.text[:200])
        for secret in SECRETS:
            assert secret not in resp.body, (path, secret)
        assert len(resp.body) < 2000, path  # an error message, never file content


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks/..%2f..%2fetc/files/passwd",
        "/api/v1/tasks/../files/etc/passwd",
        "/api/v1/tasks/%2e%2e/files/etc/passwd",
        "/browse/..%2fp10/secret.txt",
        "/browse/p1%2f..%2fp10/secret.txt",
        "/api/v1/tasks/p1/logs/../0/stdout",
        "/api/v1/tasks/p1/logs/..%2f..%2fp10/0/stdout",
        "/api/v1/tasks/p1/logs/setup/0/..%2f..%2f..%2fsecret.txt",
        "/logs/p1/%2e%2e/0/stdout",
        "/api/v1/tasks/p1/logs/setup/99999999999/stdout",
    ],
)
def test_task_and_process_names_cannot_escape(host: Host, path: str) -> None:
    resp = host.observer.get(path, timeout=10)
    assert resp.status in (403, 404), (path, resp.status)
    for secret in SECRETS:
        assert secret not in resp.body


def test_a_sandbox_prefix_is_not_another_sandbox(host: Host) -> None:
    """/x/p1 and /x/p10: each reads its own secret and not the other's."""
    obs = host.observer
    assert obs.json("/api/v1/tasks/p1/files/secret.txt")["data"] == "secret-of-p1\n"
    assert obs.json("/api/v1/tasks/p10/files/secret.txt")["data"] == "secret-of-p10\n"
    assert host.sandbox("p10").name.startswith(host.sandbox("p1").name)
    assert obs.get("/api/v1/tasks/p1/files/sibling_link").status == 403


def test_a_fifo_is_refused_without_blocking(host: Host) -> None:
    started = time.monotonic()
    resp = host.observer.get("/api/v1/tasks/p1/files/pipe", timeout=10)
    assert resp.status == 403 and "not a regular file" in resp.json()["error"]
    assert time.monotonic() - started < 10


def test_html_from_names_cmdlines_and_logs_is_escaped(host: Host) -> None:
    obs = host.observer
    pages = [
        obs.get("/"),
        obs.get("/task/xss"),
        obs.get("/fragments/task/xss"),
        obs.get("/process/xss/%3Cscript%3Ealert(1)"),
        obs.get("/process/xss/%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E"),
        obs.get("/task/xss/config"),
        obs.get("/browse/xss/.logs"),
    ]
    for page in pages:
        assert page.status == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert "<b onmouseover" not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "&lt;b onmouseover=alert(4)&gt;xss" in pages[1].text
    assert "&lt;script&gt;alert(1)" in pages[1].text
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[4].text
    assert "echo &quot;&lt;img src=x onerror=window.__xss=1&gt;&quot;" in pages[4].text
    log = obs.get("/api/v1/tasks/xss/logs/%3Cscript%3Ealert(1)/0/stdout?cursor=start")
    assert log.headers["content-type"].startswith("application/json")
    assert log.headers["x-content-type-options"] == "nosniff"
    assert log.json()["chunks"][0]["data"] == "<script>alert(3)</script>\n"  # as text, in JSON
    raw = obs.get("/download/xss/.logs/%3Cscript%3Ealert(1)/0/stdout")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith("attachment")


def test_token_guards_every_route_but_health(host: Host, tmp_path: Path) -> None:
    token = "s3cret-token-0123456789"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)  # a token file must be private
    obs = start_observer(
        tmp_path / "obs.log", "--root", str(host.root.path), "--auth-token-file", str(token_file)
    )
    try:
        assert obs.token == token  # the login URL it printed carries the file's token
        assert obs.get("/health", auth=False).status == 200
        for path in [
            "/",
            "/task/ok",
            "/api/v1/tasks",
            "/metrics",
            "/download/p1/secret.txt",
            "/api/v1/tasks/p1/files/secret.txt",
            "/static/observer.js",
        ]:
            resp = obs.get(path, auth=False)
            if path.startswith("/static/"):
                assert resp.status == 200  # the script and style sheet hold no data
                continue
            assert resp.status == 401, path
            assert b"secret-of-p1" not in resp.body
            wrong = obs.get(path, {"Authorization": "Bearer not-the-token-at-all"})
            assert wrong.status == 401, path
            right = obs.get(path, {"Authorization": f"Bearer {token}"})
            assert right.status == 200, path
        login = obs.get(f"/task/ok?token={token}&x=1", auth=False)
        assert login.status == 302 and login.headers["location"] == "/task/ok?x=1"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        value = cookie.split(";", 1)[0]
        assert obs.get("/task/ok", {"Cookie": value}, auth=False).status == 200
        assert obs.get("/task/ok?token=wrong-token-wrong-token", auth=False).status == 401
    finally:
        stop_observer(obs)


def test_binds_loopback_by_default(host: Host) -> None:
    out = host.observer.log.read_text()
    assert "http://127.0.0.1:" in out
    with socket.create_connection(("127.0.0.1", host.observer.port), timeout=5):
        pass
    for conn in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = conn.split()[1], conn.split()[3]
        if state == "0A" and int(local.split(":")[1], 16) == host.observer.port:
            assert local.split(":")[0] == "0100007F"  # 127.0.0.1, not 0.0.0.0


def test_a_slow_client_does_not_starve_others(host: Host) -> None:
    """A download nobody reads stalls only its own connection."""
    big = host.sandbox("rotated") / ".logs" / "writer" / "0" / "stdout"
    assert big.stat().st_size > 0
    stalled = []
    for _ in range(8):
        sock = socket.create_connection(("127.0.0.1", host.observer.port), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(
            b"GET /download/rotated/.logs/writer/0/stdout.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {host.observer.token}\r\n\r\n".encode()
        )
        stalled.append(sock)
    try:
        for _ in range(5):
            assert host.observer.get("/api/v1/tasks?limit=5", timeout=5).status == 200
            assert host.observer.get("/task/live", timeout=5).status == 200
    finally:
        for sock in stalled:
            sock.close()


def test_oversized_requests_are_refused(host: Host) -> None:
    sock = socket.create_connection(("127.0.0.1", host.observer.port), timeout=10)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
        reply = sock.recv(4096)
    except ConnectionResetError:
        reply = b""
    finally:
        sock.close()
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431")
    assert host.observer.get("/health").status == 200  # and the observer carries on


@pytest.mark.parametrize(
    "args, words",
    [
        (["--root", "/nonexistent/root"], "--root: /nonexistent/root: no such directory"),
        (["--mesos-root", "/nonexistent/m"], "--mesos-root: /nonexistent/m: no such directory"),
        (["--ip", "localhost:80"], "--ip: localhost:80: not an IP address"),
        (["--port", "70000"], "--port: 70000: expected a port number from 0 to 65535"),
        (["--auth-token-file", "/nonexistent/t"], "--auth-token-file: /nonexistent/t:"),
        (["--refresh-interval", "0"], "--refresh-interval: 0s: must be between"),
    ],
)
def test_bad_flags_are_one_line_errors(args: list[str], words: str, tmp_path: Path) -> None:
    result = borealis("observer", "--root", str(tmp_path), *args, timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_short_token_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("short\n")
    token.chmod(0o600)
    result = borealis("observer", "--root", str(tmp_path), "--auth-token-file", str(token))
    assert result.returncode == 2 and "16 to 4096 characters" in result.stderr
