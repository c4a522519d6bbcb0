"""What every request to a Borealis daemon must satisfy before its handler runs: the decision,
without any web framework, shared by the agent, the scheduler and the observer.

* ``Host`` names this daemon: a loopback name, the specific address it listens on, a name
  the operator allowed (``--allow-host``), and when it listens on a wildcard address the
  machine's host name and FQDN. Anything else is a DNS-rebinding page or a misdirected
  request (421).
* An ``Origin``, when a browser sends one, is the daemon's own (``http(s)://`` + the request's
  ``Host``); a page from any other origin is refused (403), whatever the method.
* A state-changing request (POST, PUT, PATCH, DELETE) says ``Content-Type: application/json``:
  the content types a cross-site form or ``fetch`` may send without a CORS preflight
  (``text/plain``, form encodings, none) are refused (415).
* The credential refusals (401 none given, 403 the wrong one) complete the set.

Standard library only.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from . import credentials

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"


class RequestRefusal(enum.Enum):
    FOREIGN_HOST = "foreign_host"
    FOREIGN_ORIGIN = "foreign_origin"
    NOT_JSON = "not_json"
    NO_CREDENTIAL = "no_credential"
    WRONG_CREDENTIAL = "wrong_credential"


STATUS = {
    RequestRefusal.FOREIGN_HOST: 421,
    RequestRefusal.FOREIGN_ORIGIN: 403,
    RequestRefusal.NOT_JSON: 415,
    RequestRefusal.NO_CREDENTIAL: 401,
    RequestRefusal.WRONG_CREDENTIAL: 403,
}

MESSAGE = {
    RequestRefusal.FOREIGN_HOST: "Host: not a name of this daemon (see --allow-host)",
    RequestRefusal.FOREIGN_ORIGIN: "Origin: requests from other sites are refused",
    RequestRefusal.NOT_JSON: "Content-Type: must be application/json",
    RequestRefusal.NO_CREDENTIAL: "Authorization: a bearer token is needed",
    RequestRefusal.WRONG_CREDENTIAL: "Authorization: the token is not valid for this call",
}


def reason_text(text: str, limit: int = 500) -> str:
    """``text`` as an HTTP reason phrase: one line of printable ASCII (anything else escaped,
    so a refusal that quotes the caller's input keeps its words instead of becoming
    "Unknown", and cannot split the status line)."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    line = "".join(c if " " <= c <= "~" else repr(c)[1:-1] for c in escaped)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _normal(name: str) -> str:
    name = name.strip().lower()
    if name.endswith(".") and not name.endswith(".."):
        name = name[:-1]  # one trailing dot: the same absolute name
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name


def allowed_hosts(listen_ip: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names a daemon listening on ``listen_ip`` answers to."""
    names = {*LOOPBACK_NAMES, *(_normal(n) for n in extra if n.strip())}
    try:
        wildcard = ipaddress.ip_address(listen_ip).is_unspecified
    except ValueError:
        wildcard = False
    if wildcard:
        names.update(_normal(n) for n in (socket.gethostname(), socket.getfqdn()) if n)
    else:
        names.add(_normal(listen_ip))
    return frozenset(names)


def host_name(host: str) -> str:
    """The name part of a ``Host`` header: ``[::1]:80`` -> ``::1``, ``a.b:8`` -> ``a.b``.

    A header that is not ``name``, ``name:port``, ``[v6]`` or ``[v6]:port`` with a numeric port
    gives ``""``, which names no daemon (``localhost:evil``, ``[::1]evil.com``)."""
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :] if end > 0 else None
        if rest is None or not (rest == "" or (rest[:1] == ":" and rest[1:].isdigit())):
            return ""
        return _normal(host[: end + 1])
    if host.count(":") == 1:
        host, port = host.split(":", 1)
        if not port.isdigit():
            return ""
    return _normal(host)


class BadBody(ValueError):
    """A request body that is not the JSON it should be; ``str()`` is one line."""


def json_value(body: bytes) -> Any:
    """The JSON value of a request body, or ``BadBody`` saying why not: never a
    ``RecursionError`` (deep nesting) or the integer-length ``ValueError`` (a 5,000-digit number)
    escaping as a server error."""
    try:
        return json.loads(body)
    except RecursionError:
        raise BadBody("the body is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadBody("the body is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise BadBody(f"the body is not JSON ({e.msg} at character {e.pos})") from None
    except ValueError:
        raise BadBody("the body holds a number too long to read") from None


def own_origin(origin: str, host: str) -> bool:
    """Whether ``Origin`` is the daemon's own: its scheme, then exactly the request's Host."""
    origin = origin.strip().lower()
    host = host.strip().lower()
    return origin in (f"http://{host}", f"https://{host}")


def check(
    method: str,
    host: str,
    origin: str | None,
    content_type: str | None,
    allowed: frozenset[str],
    *,
    json_body: bool = True,
) -> RequestRefusal | None:
    """The refusal a request gets before its handler runs, or ``None`` if it may go on.

    ``json_body=False`` leaves the content type to the handler (the executor API keeps the
    Mesos rules of its own)."""
    if host_name(host) not in allowed:
        return RequestRefusal.FOREIGN_HOST
    if origin is not None and not own_origin(origin, host):
        return RequestRefusal.FOREIGN_ORIGIN
    if json_body and method.upper() in STATE_CHANGING:
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media != JSON:
            return RequestRefusal.NOT_JSON
    return None


def refusal_of(
    method: str,
    host: str,
    headers: Mapping[str, str],
    allowed: frozenset[str],
    *,
    token: str | None = None,
    json_body: bool = True,
) -> RequestRefusal | None:
    """``check`` on a request's headers, then, with ``token``, its ``Authorization: Bearer``:
    the whole decision a daemon's handler makes before it runs (``host`` as the server read it)."""
    refusal = check(
        method,
        host,
        headers.get("Origin"),
        headers.get("Content-Type"),
        allowed,
        json_body=json_body,
    )
    if refusal is not None or token is None:
        return refusal
    given = credentials.bearer(headers.get("Authorization"))
    if given is None:
        return RequestRefusal.NO_CREDENTIAL
    if not credentials.matches(given, token):
        return RequestRefusal.WRONG_CREDENTIAL
    return None


# What every HTML page of a daemon sends besides its own Content-Security-Policy: no content
# sniffing, no framing, no referrer leaking the page's address, nothing kept in caches.
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
