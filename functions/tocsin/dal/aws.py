"""boto3 clients, created once per process (Lambda container) and reused."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=50,
)


@cache
def client(service: str) -> Any:
    """A shared client; endpoints follow AWS_ENDPOINT_URL (local mode) like any boto3 client."""
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints or moto mocks)."""
    client.cache_clear()
