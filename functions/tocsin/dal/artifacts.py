"""The artifact bucket: raw alert payloads (kept 30 days), quarantined payloads, and copies of
files shared in incident channels (chat URLs expire; kept like the timeline that names them)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import decode_key_cursor, deser, encode_cursor, ser, ser_value
from tocsin.domain.clock import iso
from tocsin.domain.errors import QuarantineNotFoundError
from tocsin.domain.ids import new_quarantine_id, ulid

#: key prefix of the copies of files shared in incident channels (the chatops function may
#: write under it, nothing else)
CHAT_FILES_PREFIX = "chat-files/"
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: never stored with a quarantined payload
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "proxy-authorization"})


def encode_body(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode(), "encoding": "base64"}


def decode_body(record: dict[str, Any]) -> bytes:
    if record.get("encoding") == "base64":
        return base64.b64decode(record["body"])
    return str(record["body"]).encode("utf-8")


def chat_file_key(incident_id: str, provider: str, file_id: str, name: str) -> str:
    """chat-files/<incident>/<provider>/<file id>/<name>, with only safe characters."""
    parts = [
        _KEY_UNSAFE.sub("_", p)[:100].strip("._") or "_" for p in (incident_id, provider, file_id)
    ]
    filename = _KEY_UNSAFE.sub("_", name)[-100:].strip("_").lstrip(".") or "file"
    return CHAT_FILES_PREFIX + "/".join([*parts, filename])


class ArtifactStore:
    def __init__(self, bucket: str, table: str) -> None:
        self.bucket = bucket
        self.table = table
        self.s3 = client("s3")
        self.ddb = client("dynamodb")

    def store_raw(self, source: str, body: bytes, received_at: datetime) -> str:
        key = f"raw/{received_at:%Y/%m/%d}/{source}/{ulid()}.json"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return f"s3://{self.bucket}/{key}"

    def store_chat_file(
        self, incident_id: str, provider: str, file_id: str, name: str, body: bytes, mimetype: str
    ) -> str:
        """Keep a copy of a file shared in an incident channel; returns its key. The key is
        the same for the same file, so a redelivered event overwrites rather than adds. Stored
        as an attachment (never rendered inline by a browser that is given a link to it)."""
        key = chat_file_key(incident_id, provider, file_id, name)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=mimetype or "application/octet-stream",
            ContentDisposition="attachment",
        )
        return key

    # --- quarantine -------------------------------------------------------------------------
    def quarantine(
        self,
        source: str,
        body: bytes,
        headers: dict[str, str],
        error: str,
        status_code: int,
        received_at: datetime,
    ) -> str:
        qid = new_quarantine_id()
        safe_headers = {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
        record = {
            "id": qid,
            "source": source,
            "received_at": iso(received_at),
            "error": error,
            "status_code": status_code,
            "headers": safe_headers,
            "size": len(body),
            **encode_body(body),
        }
        key = f"quarantine/{qid}.json"
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
        self.ddb.put_item(
            TableName=self.table,
            Item=ser(
                {
                    schema.PK: "QUARANTINE",
                    schema.SK: f"{iso(received_at)}#{qid}",
                    "type": "quarantine",
                    "id": qid,
                    "source": source,
                    "received_at": iso(received_at),
                    "error": error[:1000],
                    "status_code": status_code,
                    "size": len(body),
                    "object_key": key,
                }
            ),
        )
        return qid

    def get_quarantined(self, qid: str) -> dict[str, Any]:
        if not qid.startswith("q-") or "/" in qid:
            raise QuarantineNotFoundError(f"no quarantined payload {qid!r}")
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=f"quarantine/{qid}.json")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise QuarantineNotFoundError(f"no quarantined payload {qid!r}") from None
            raise
        record: dict[str, Any] = json.loads(obj["Body"].read())
        entry = self._index_entry(record)
        if entry:
            record["replays"] = entry.get("replays", [])
        return record

    def _index_entry(self, record: dict[str, Any]) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser(
                {schema.PK: "QUARANTINE", schema.SK: f"{record['received_at']}#{record['id']}"}
            ),
        )
        return deser(resp["Item"]) if "Item" in resp else None

    def list_quarantined(
        self, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": ser_value("QUARANTINE")},
            "ScanIndexForward": False,
            "Limit": max(1, min(limit, 100)),
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = ser(decode_key_cursor(cursor))
        resp = self.ddb.query(**kwargs)
        items = []
        for raw in resp.get("Items", []):
            item = deser(raw)
            items.append(
                {
                    k: v
                    for k, v in item.items()
                    if k not in {schema.PK, schema.SK, "type", "object_key"}
                }
            )
        last = resp.get("LastEvaluatedKey")
        return items, encode_cursor(deser(last)) if last else None

    def record_replay(self, record: dict[str, Any], outcome: dict[str, Any]) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=ser(
                {schema.PK: "QUARANTINE", schema.SK: f"{record['received_at']}#{record['id']}"}
            ),
            UpdateExpression="SET replays = list_append(if_not_exists(replays, :empty), :entry)",
            ExpressionAttributeValues={":empty": ser_value([]), ":entry": ser_value([outcome])},
        )
