"""The shim's record encoder writes exactly what ``json.dumps`` writes, for what records hold."""

from __future__ import annotations

import json
import random

import pytest

from borealis.contract.runrecords import process_status, process_warning, to_bytes


def reference(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def random_text(rng: random.Random) -> str:
    alphabet = [chr(c) for c in range(0x00, 0x250)] + ["\u2028", "\u2029", "\ufeff", "😀", "\x7f"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))


@pytest.mark.parametrize(
    "obj",
    [
        process_status("p", 0, "FORKED", 1796627003.8070226, coordinator=[10817, 63905]),
        process_status("web.1", 12, "RUNNING", 1.0, pid=[1, 2], offset=0),
        process_status("p", 3, "FAILED", 2.5, return_code=-9, reason='could not start: "x"\n\t'),
        process_warning("p", 0, 7, 3.25, "stdout: 12 bytes of output were dropped in all"),
        {"t": "header", "ports": {"http": 8080}, "why": {"kind": [1, 2.5, None, True, False]}},
        {"nested": [[], {}, [[-0.0, 1e300, 1e-300, 123456789012345678901234567890]]]},
    ],
)
def test_records_encode_as_json_would(obj: dict[str, object]) -> None:
    assert to_bytes(obj) == reference(obj)
    assert json.loads(to_bytes(obj)) == obj


def test_every_kind_of_text_encodes_as_json_would() -> None:
    rng = random.Random(13)
    for _ in range(2000):
        obj = {
            "reason": random_text(rng),
            random_text(rng): rng.random() * 10 ** rng.randrange(-5, 15),
        }
        assert to_bytes(obj) == reference(obj), obj


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), b"bytes"])
def test_what_json_cannot_hold_is_refused(value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        to_bytes({"x": value})
