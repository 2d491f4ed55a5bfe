"""boto3 clients, created once per process (Lambda container) and reused."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    # the services validate requests themselves; botocore's client-side check costs about a
    # millisecond of CPU per request (a third of a duplicate alert's own time)
    parameter_validation=False,
    connect_timeout=2,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=50,
)


_clients: dict[str, Any] = {}
_session: boto3.session.Session | None = None
_lock = threading.Lock()


def client(service: str) -> Any:
    """A shared, thread-safe client; endpoints follow AWS_ENDPOINT_URL (local mode)."""
    global _session
    found = _clients.get(service)
    if found is None:
        with _lock:  # sessions are not thread-safe; one session, clients made one at a time
            found = _clients.get(service)
            if found is None:
                if _session is None:
                    _session = boto3.session.Session()
                found = _session.client(service, config=_CONFIG)  # type: ignore[call-overload]
                _clients[service] = found
    return found


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints or moto mocks)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
