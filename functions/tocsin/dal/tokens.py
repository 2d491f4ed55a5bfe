"""Bearer tokens per integration (and `api`), stored as SHA-256 digests only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, ser

CACHE_SECONDS = 60.0


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "tcn_" + secrets.token_urlsafe(32)


class TokenStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")
        self._cache: dict[str, tuple[float, list[str]]] = {}

    def _key(self, name: str) -> dict[str, Any]:
        return ser({schema.PK: f"TOKEN#{name}", schema.SK: "TOKEN"})

    def digests(self, name: str) -> list[str]:
        cached = self._cache.get(name)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        resp = self.ddb.get_item(TableName=self.table, Key=self._key(name))
        values = list(deser(resp["Item"]).get("digests", [])) if "Item" in resp else []
        self._cache[name] = (time.monotonic(), values)
        return values

    def verify(self, name: str, presented: str | None) -> bool:
        """Constant-time comparison of the presented token's digest with each stored digest."""
        if not presented:
            return False
        candidate = digest(presented)
        ok = False
        for stored in self.digests(name):
            ok |= hmac.compare_digest(candidate, stored)
        return ok

    def add(self, name: str, token: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=self._key(name),
            UpdateExpression="ADD digests :d",
            ExpressionAttributeValues={":d": {"SS": [digest(token)]}},
        )
        self._cache.pop(name, None)

    def revoke_all(self, name: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key=self._key(name))
        self._cache.pop(name, None)
