"""Status pages in DynamoDB: their incidents and maintenances, and each page's publishing state.

Items (pk / sk):
- SP#<page> / REC#<record id>      a status-page incident or maintenance (the whole record as
                                   JSON in `data`, with a `version` for optimistic locking)
- SP#<page> / STATE                publishing state: `generation` (bumped by every change),
                                   `published` (the generation last published), a lease while a
                                   publisher writes, the manifest of published files (path ->
                                   content hash) and when time alone changes the page next
- INC#<id> / SP#<page>             the record a Tocsin incident has on a page (one per page)
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import (
    cancellation_codes,
    deser,
    is_conditional_failure,
    query_all,
    ser,
    ser_value,
)
from tocsin.dal.incidents import incident_pk
from tocsin.domain.errors import VersionConflictError
from tocsin.domain.statuspage import StatusRecord


def page_pk(page: str) -> str:
    return f"SP#{page}"


class RecordExistsError(Exception):
    """The Tocsin incident already has a record on this page (its id is `record_id`)."""

    def __init__(self, record_id: str) -> None:
        super().__init__(record_id)
        self.record_id = record_id


@dataclass
class PageState:
    generation: int = 0
    published: int = 0
    manifest: dict[str, str] = field(default_factory=dict)
    next_change_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: float = 0.0
    published_at: datetime | None = None


class StatusPageStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    # --- records ----------------------------------------------------------------------------
    @staticmethod
    def _key(page: str, record_id: str) -> dict[str, Any]:
        return {schema.PK: page_pk(page), schema.SK: f"REC#{record_id}"}

    def _item(self, record: StatusRecord) -> dict[str, Any]:
        return {
            **self._key(record.page, record.id),
            "type": "status_record",
            "kind": record.kind.value,
            "status": record.status,
            "incident_id": record.incident_id,
            "version": record.version,
            "data": record.model_dump_json(exclude={"version"}),
        }

    @staticmethod
    def _record(item: dict[str, Any]) -> StatusRecord:
        data = json.loads(item["data"])
        data["version"] = int(item.get("version", 0))
        return StatusRecord.model_validate(data)

    def _bump(self, page: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table,
                "Key": ser({schema.PK: page_pk(page), schema.SK: "STATE"}),
                "UpdateExpression": "ADD generation :one",
                "ExpressionAttributeValues": {":one": ser_value(1)},
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """A transaction with the page's state item: it also takes the lease and the
        manifest writes, so DynamoDB may cancel it with TransactionConflict while a
        publisher writes there; that is retried (with jitter), never shown to the caller."""
        for attempt in range(6):
            try:
                self.ddb.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                if "TransactionConflict" not in cancellation_codes(exc) or attempt == 5:
                    raise
                time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))

    def create(self, record: StatusRecord) -> StatusRecord:
        """Store a new record (version 1) and bump its page's generation, at once. A record for
        a Tocsin incident also claims the incident's one slot on the page: a second one raises
        RecordExistsError naming the first."""
        stored = record.model_copy(update={"version": 1})
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": ser(self._item(stored)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._bump(record.page),
        ]
        if record.incident_id:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": ser(
                            {
                                schema.PK: incident_pk(record.incident_id),
                                schema.SK: page_pk(record.page),
                                "type": "status_link",
                                "record_id": record.id,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self._transact(items)
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if record.incident_id and len(codes) == 3 and codes[2] == "ConditionalCheckFailed":
                existing = self.record_for_incident(record.incident_id, record.page)
                raise RecordExistsError(existing or "") from None
            if codes and codes[0] == "ConditionalCheckFailed":
                raise VersionConflictError(f"status record {record.id} exists") from None
            raise
        return stored

    def save(self, record: StatusRecord) -> StatusRecord:
        """Replace a record if nobody changed it since it was read (its version), bumping the
        page's generation in the same transaction."""
        stored = record.model_copy(update={"version": record.version + 1})
        try:
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": ser(self._item(stored)),
                            "ConditionExpression": "version = :v",
                            "ExpressionAttributeValues": {":v": ser_value(record.version)},
                        }
                    },
                    self._bump(record.page),
                ]
            )
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise VersionConflictError(
                    f"status record {record.id} changed since version {record.version}; "
                    "read it again"
                ) from None
            raise
        return stored

    def get(self, page: str, record_id: str) -> StatusRecord | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser(self._key(page, record_id)), ConsistentRead=True
        )
        item = resp.get("Item")
        return self._record(deser(item)) if item else None

    def list(self, page: str) -> list[StatusRecord]:
        """Every record of a page (publishing renders history from them)."""
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :rec)",
            ExpressionAttributeValues={":pk": ser_value(page_pk(page)), ":rec": ser_value("REC#")},
            ConsistentRead=True,
        )
        return [self._record(item) for item in items]

    def record_for_incident(self, incident_id: str, page: str) -> str | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser({schema.PK: incident_pk(incident_id), schema.SK: page_pk(page)}),
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return str(deser(item)["record_id"]) if item else None

    def records_for_incident(self, incident_id: str) -> dict[str, str]:
        """page -> record id of every page the incident is on."""
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sp)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":sp": ser_value("SP#"),
            },
        )
        return {item[schema.SK][3:]: str(item["record_id"]) for item in items}

    # --- publishing state -------------------------------------------------------------------
    def state(self, page: str) -> PageState:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser({schema.PK: page_pk(page), schema.SK: "STATE"}),
            ConsistentRead=True,
        )
        item = deser(resp["Item"]) if "Item" in resp else {}
        return PageState(
            generation=int(item.get("generation", 0)),
            published=int(item.get("published", 0)),
            manifest=json.loads(item["manifest"]) if item.get("manifest") else {},
            next_change_at=(
                datetime.fromisoformat(item["next_change_at"])
                if item.get("next_change_at")
                else None
            ),
            lease_owner=item.get("lease_owner"),
            lease_until=float(item.get("lease_until", 0)),
            published_at=(
                datetime.fromisoformat(item["published_at"]) if item.get("published_at") else None
            ),
        )

    def bump(self, page: str) -> None:
        """Mark the page as changed (a config change, a forced rebuild)."""
        self.ddb.update_item(**self._bump(page)["Update"])

    def take_lease(self, page: str, owner: str, now: float, seconds: float) -> bool:
        """Become the page's one publisher for `seconds` (or until released)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser({schema.PK: page_pk(page), schema.SK: "STATE"}),
                UpdateExpression="SET lease_owner = :me, lease_until = :until, "
                "generation = if_not_exists(generation, :zero)",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now "
                "OR lease_owner = :me",
                ExpressionAttributeValues={
                    ":me": ser_value(owner),
                    ":until": ser_value(now + seconds),
                    ":now": ser_value(now),
                    ":zero": ser_value(0),
                },
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def finish(
        self,
        page: str,
        owner: str,
        generation: int,
        manifest: dict[str, str],
        next_change_at: datetime,
        published_at: datetime,
    ) -> bool:
        """Record what was published and release the lease — only if nothing changed since
        `generation` was read (else the caller publishes again, still holding the lease)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser({schema.PK: page_pk(page), schema.SK: "STATE"}),
                UpdateExpression="SET published = :gen, manifest = :manifest, "
                "next_change_at = :next, published_at = :at REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me AND generation = :gen",
                ExpressionAttributeValues={
                    ":me": ser_value(owner),
                    ":gen": ser_value(generation),
                    ":manifest": ser_value(json.dumps(manifest, sort_keys=True)),
                    ":next": ser_value(next_change_at.isoformat()),
                    ":at": ser_value(published_at.isoformat()),
                },
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def save_manifest(self, page: str, owner: str, manifest: dict[str, str]) -> None:
        """Progress while holding the lease: files written so far (a publisher that dies
        leaves a manifest that matches what is on S3)."""
        self.ddb.update_item(
            TableName=self.table,
            Key=ser({schema.PK: page_pk(page), schema.SK: "STATE"}),
            UpdateExpression="SET manifest = :manifest",
            ConditionExpression="lease_owner = :me",
            ExpressionAttributeValues={
                ":me": ser_value(owner),
                ":manifest": ser_value(json.dumps(manifest, sort_keys=True)),
            },
        )

    def release(self, page: str, owner: str) -> None:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser({schema.PK: page_pk(page), schema.SK: "STATE"}),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":me": ser_value(owner)},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise


class ViewerStore:
    """Access links of private pages (SP#<page> / VIEWER#<id>): a link names its viewer record,
    so deleting the record revokes the link (cookies already issued run out on their own)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def put(self, page: str, viewer: dict[str, Any], expires_at: datetime) -> None:
        item = {
            schema.PK: page_pk(page),
            schema.SK: f"VIEWER#{viewer['id']}",
            "type": "status_viewer",
            **viewer,
            schema.TTL_ATTRIBUTE: int(expires_at.timestamp()) + 86400,
        }
        self.ddb.put_item(TableName=self.table, Item=ser(item))

    def get(self, page: str, viewer_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser({schema.PK: page_pk(page), schema.SK: f"VIEWER#{viewer_id}"}),
            ConsistentRead=True,
        )
        return _viewer(deser(resp["Item"])) if "Item" in resp else None

    def list(self, page: str) -> list[dict[str, Any]]:
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": ser_value(page_pk(page)), ":v": ser_value("VIEWER#")},
        )
        return [_viewer(item) for item in items]

    def delete(self, page: str, viewer_id: str) -> bool:
        resp = self.ddb.delete_item(
            TableName=self.table,
            Key=ser({schema.PK: page_pk(page), schema.SK: f"VIEWER#{viewer_id}"}),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in resp


def _viewer(item: dict[str, Any]) -> dict[str, Any]:
    hidden = {schema.PK, schema.SK, "type", schema.TTL_ATTRIBUTE}
    return {k: v for k, v in item.items() if k not in hidden}
