"""Where a cluster's scheduler is: clusters.json as in Aurora.

    [{"name": "local", "scheduler_uri": "http://127.0.0.1:8081"}, ...]

Looked up in --clusters FILE, $BOREALIS_CLUSTERS, ~/.borealis/clusters.json, then
/etc/borealis/clusters.json; the cluster local defaults to http://127.0.0.1:8081.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from borealis.contract.errors import InputError

LOCAL = "http://127.0.0.1:8081"


def candidates(explicit: Path | None) -> list[Path]:
    found = []
    if explicit is not None:
        return [explicit]
    if os.environ.get("BOREALIS_CLUSTERS"):
        found.append(Path(os.environ["BOREALIS_CLUSTERS"]))
    found += [Path.home() / ".borealis" / "clusters.json", Path("/etc/borealis/clusters.json")]
    return found


def scheduler_uri(cluster: str, explicit: Path | None = None) -> str:
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
                return uri.rstrip("/")
    if cluster == "local":
        return LOCAL
    raise InputError("cluster", cluster, "not found in any clusters.json")


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
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
