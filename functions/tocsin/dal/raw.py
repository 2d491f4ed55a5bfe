"""Raw alert payloads, kept 30 days for audit and replay.

Small payloads (the usual webhook) ride along inside the transaction that settles their first
alert, so keeping them costs no extra request; large ones go to the artifact bucket."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tocsin.dal import schema
from tocsin.dal.artifacts import encode_body
from tocsin.dal.aws import client
from tocsin.dal.dynamo import ser
from tocsin.domain.clock import iso
from tocsin.domain.ids import ulid

INLINE_LIMIT = 48 * 1024
RETENTION_DAYS = 30


@dataclass
class RawPayload:
    table: str
    bucket: str
    source: str
    body: bytes
    received_at: datetime
    id: str = field(default_factory=ulid)
    stored: bool = False
    _uploaded_ref: str | None = None

    @property
    def inline(self) -> bool:
        return len(self.body) <= INLINE_LIMIT

    @property
    def ref(self) -> str:
        if self.inline:
            return f"raw:{self.id}"
        if self._uploaded_ref is None:
            key = f"raw/{self.received_at:%Y/%m/%d}/{self.source}/{self.id}.json"
            client("s3").put_object(
                Bucket=self.bucket, Key=key, Body=self.body, ContentType="application/json"
            )
            self._uploaded_ref = f"s3://{self.bucket}/{key}"
            self.stored = True
        return self._uploaded_ref

    def transaction_items(self) -> list[dict[str, Any]]:
        """A Put to add to a settling transaction (idempotent: same key, same content)."""
        if not self.inline or self.stored:
            return []
        return [{"Put": {"TableName": self.table, "Item": ser(self._item())}}]

    def flush(self) -> None:
        """Store it now if no transaction carried it."""
        if self.inline and not self.stored:
            client("dynamodb").put_item(TableName=self.table, Item=ser(self._item()))
            self.stored = True

    def _item(self) -> dict[str, Any]:
        return {
            schema.PK: f"RAW#{self.id}",
            schema.SK: "RAW",
            "type": "raw_payload",
            "source": self.source,
            "received_at": iso(self.received_at),
            schema.TTL_ATTRIBUTE: int(time.time()) + RETENTION_DAYS * 86400,
            **encode_body(self.body),
        }
