"""Signed, expiring tokens for links that act without a login: acknowledging a page from an
SMS or an e-mail, subscribing to an on-call calendar.

A token is `<payload>.<signature>`: the payload is base64url JSON with the purpose, the data
and the expiry; the signature is HMAC-SHA256 over it with the signing key (a Secrets Manager
secret the stack generates). A forged token fails the signature (401); an expired one is
recognised as genuine but refused (410). Verification accepts the previous key too, so the key
can be rotated without breaking links already sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tocsin.domain.errors import TocsinError


class InvalidTokenError(TocsinError):
    """Not a token we signed (or signed for another purpose)."""


class ExpiredTokenError(TocsinError):
    """A genuine token past its expiry."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, keys: Sequence[bytes]) -> None:
        """`keys[0]` signs; every key verifies (the current one and the previous)."""
        if not keys or any(len(key) < 16 for key in keys):
            raise ValueError("signing keys must be at least 16 bytes")
        self.keys = list(keys)

    def _mac(self, key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, data: dict[str, Any], expires_at: datetime | None) -> str:
        body: dict[str, Any] = {"p": purpose, "d": data}
        if expires_at is not None:
            body["x"] = int(expires_at.timestamp())
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(self.keys[0], payload)}"

    def verify(self, purpose: str, token: str, now: datetime) -> dict[str, Any]:
        """The token's data. Raises InvalidTokenError or ExpiredTokenError."""
        payload, dot, signature = token.partition(".")
        if not dot or not payload or not signature or len(token) > 4096:
            raise InvalidTokenError("malformed token")
        given = signature.encode("utf-8", "replace")  # bytes: any input, no TypeError
        if not any(
            hmac.compare_digest(self._mac(key, payload).encode(), given) for key in self.keys
        ):
            raise InvalidTokenError("invalid token signature")
        try:
            body = json.loads(_unb64(payload))
        except ValueError:
            raise InvalidTokenError("malformed token") from None
        if not isinstance(body, dict) or body.get("p") != purpose:
            raise InvalidTokenError("token is not for this purpose")
        expiry = body.get("x")
        if expiry is not None and now.timestamp() >= float(expiry):
            raise ExpiredTokenError("this link has expired")
        data = body.get("d")
        if not isinstance(data, dict):
            raise InvalidTokenError("malformed token")
        return data


def signer_from_secret(secret: dict[str, str]) -> Signer:
    """The signing secret is a JSON object: {"key": "...", "previous_key": "..."}."""
    keys = [secret[name].encode() for name in ("key", "previous_key") if secret.get(name)]
    return Signer(keys)
