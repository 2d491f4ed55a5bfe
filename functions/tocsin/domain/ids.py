"""Time-sortable identifiers (ULID layout: 48-bit ms timestamp + 80 random bits, Crockford base32)."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


_lock = threading.Lock()
_last: tuple[int, int] = (0, 0)


def ulid(now_ms: int | None = None) -> str:
    """Monotonic within a process: ids made in the same millisecond still sort in order."""
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
        _last = (ms, rand)
    return _b32(ms, 10) + _b32(rand, 16)


def new_incident_id() -> str:
    """Valid as a Step Functions execution name (execution name = incident id)."""
    return f"inc-{ulid()}"


def new_quarantine_id() -> str:
    return f"q-{ulid()}"
