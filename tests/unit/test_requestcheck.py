"""The one Host/Origin/content-type decision every daemon makes (contract/requestcheck.py)."""

from __future__ import annotations

import socket

import pytest

from borealis.contract.requestcheck import (
    RequestRefusal,
    allowed_hosts,
    check,
    host_name,
    reason_text,
)

LOOPBACK = allowed_hosts("127.0.0.1")


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("127.0.0.1:5051", "127.0.0.1"),
        ("LocalHost.", "localhost"),
        ("[::1]:8081", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("a.b.example:80", "a.b.example"),
    ],
)
def test_host_name(host: str, name: str) -> None:
    assert host_name(host) == name


def test_allowed_names() -> None:
    assert {"localhost", "127.0.0.1", "::1"} <= LOOPBACK
    assert "10.1.2.3" in allowed_hosts("10.1.2.3")
    assert "10.1.2.3" not in LOOPBACK
    assert "obs.internal" in allowed_hosts("127.0.0.1", ["Obs.Internal"])
    wildcard = allowed_hosts("0.0.0.0")
    assert socket.gethostname().lower() in wildcard and "0.0.0.0" not in wildcard


@pytest.mark.parametrize(
    ("method", "host", "origin", "ctype", "refusal"),
    [
        ("GET", "127.0.0.1:1", None, None, None),
        ("POST", "127.0.0.1:1", None, "application/json", None),
        ("POST", "127.0.0.1:1", None, "application/json; charset=utf-8", None),
        ("POST", "127.0.0.1:1", "http://127.0.0.1:1", "application/json", None),
        ("POST", "127.0.0.1:1", None, "text/plain", RequestRefusal.NOT_JSON),
        ("DELETE", "127.0.0.1:1", None, None, RequestRefusal.NOT_JSON),
        ("PUT", "127.0.0.1:1", None, "application/x-www-form-urlencoded", RequestRefusal.NOT_JSON),
        ("POST", "127.0.0.1:1", None, "application/jsonp", RequestRefusal.NOT_JSON),
        ("GET", "evil.example", None, None, RequestRefusal.FOREIGN_HOST),
        (
            "POST",
            "evil.example:1",
            "http://evil.example:1",
            "text/plain",
            RequestRefusal.FOREIGN_HOST,
        ),
        ("GET", "127.0.0.1:1", "http://127.0.0.1:2", None, RequestRefusal.FOREIGN_ORIGIN),
        ("GET", "127.0.0.1:1", "null", None, RequestRefusal.FOREIGN_ORIGIN),
        (
            "POST",
            "127.0.0.1:1",
            "http://evil.example",
            "application/json",
            RequestRefusal.FOREIGN_ORIGIN,
        ),
    ],
)
def test_check(
    method: str, host: str, origin: str | None, ctype: str | None, refusal: RequestRefusal | None
) -> None:
    assert check(method, host, origin, ctype, LOOPBACK) is refusal


def test_the_executor_api_keeps_its_own_content_type_rules() -> None:
    assert check("POST", "127.0.0.1:1", None, "text/plain", LOOPBACK, json_body=False) is None


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain words", "plain words"),
        ("a\r\nX-Evil: 1", "a\\r\\nX-Evil: 1"),
        ("caf\u00e9 \u4e2d", "caf\\xe9 \\u4e2d"),
        ("nul\0", "nul\\x00"),
    ],
)
def test_reason_text_is_one_printable_line(text: str, shown: str) -> None:
    assert reason_text(text) == shown
    assert len(reason_text("x" * 1000)) == 500
