"""Where a cluster's scheduler is, and the token it wants: clusters.json as in Aurora.

    [{"name": "local", "scheduler_uri": "http://127.0.0.1:8081",
      "auth_token_file": "/var/lib/borealis/secrets/scheduler.token"}, ...]

Looked up in --clusters FILE, $BOREALIS_CLUSTERS, ~/.borealis/clusters.json, then
/etc/borealis/clusters.json; the cluster local defaults to http://127.0.0.1:8081.

The token (``Authorization: Bearer``) is $BOREALIS_TOKEN if set; else the cluster's
``auth_token_file``; else the scheduler's own token file under the state root
(ROOT/secrets/scheduler.token, readable by root) or, failing that, ~/.borealis/token.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borealis.contract.credentials import TOKEN_ENV, CredentialError, read_token
from borealis.contract.errors import InputError
from borealis.contract.layout import CheckpointRoot, default_root, user_token

LOCAL = "http://127.0.0.1:8081"


def candidates(explicit: Path | None) -> list[Path]:
    found = []
    if explicit is not None:
        return [explicit]
    if os.environ.get("BOREALIS_CLUSTERS"):
        found.append(Path(os.environ["BOREALIS_CLUSTERS"]))
    found += [Path.home() / ".borealis" / "clusters.json", Path("/etc/borealis/clusters.json")]
    return found


@dataclass(frozen=True)
class Cluster:
    """A scheduler to call: its URL and the token to call it with (``""``: none found)."""

    uri: str
    token: str = ""

    def call(self, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        return call(self.uri + path, method, body, self.token)


def find(cluster: str, explicit: Path | None = None) -> Cluster:
    """The scheduler of ``cluster`` and its token (see the module's docstring for the order)."""
    uri, token_file = _entry(cluster, explicit)
    return Cluster(uri, _token(token_file))


def _token(named: Path | None) -> str:
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env
    if named is not None:
        try:
            return read_token(named)
        except CredentialError as e:
            raise InputError("auth_token_file", "", str(e)) from None
    for path in (CheckpointRoot(default_root()).scheduler_token, user_token()):
        try:
            return read_token(path)
        except CredentialError:
            continue  # not there, or not readable by this user: try the next one
    return ""


def _entry(cluster: str, explicit: Path | None) -> tuple[str, Path | None]:
    for path in candidates(explicit):
        if not path.exists():
            if explicit is not None:
                raise InputError(str(path), "", "no such clusters file")
            continue
        try:
            entries = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(str(path), "", f"cannot read the clusters file: {e}") from None
        if not isinstance(entries, list):
            raise InputError(str(path), "", "expected a list of clusters")
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and entry.get("name") == cluster:
                uri = entry.get("scheduler_uri")
                if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
                    raise InputError(
                        str(path), f"[{index}].scheduler_uri", "expected an http(s) URL"
                    )
                named = entry.get("auth_token_file")
                if named is not None and (not isinstance(named, str) or not named):
                    raise InputError(
                        str(path), f"[{index}].auth_token_file", "expected a file name"
                    )
                return uri.rstrip("/"), Path(named).expanduser() if named else None
    if cluster == "local":
        return LOCAL, None
    raise InputError("cluster", cluster, "not found in any clusters.json")


def call(url: str, method: str = "GET", body: Any = None, token: str = "") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except json.JSONDecodeError:
            return e.code, {"error": e.reason}
    except urllib.error.URLError as e:
        raise InputError(
            "scheduler", url.split("/api/")[0], f"cannot reach it: {e.reason}"
        ) from None
