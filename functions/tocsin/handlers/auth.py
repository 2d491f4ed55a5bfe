"""Bearer tokens on requests: one extraction rule for every HTTP function."""

from __future__ import annotations

from collections.abc import Mapping


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str] | None) -> str | None:
    """`Authorization: Bearer <token>`, or `?token=<token>` for senders that cannot set headers
    (SNS subscriptions, Sentry). API Gateway HTTP APIs lower-case header names."""
    header = headers.get("authorization") or headers.get("Authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return (query or {}).get("token") or None
