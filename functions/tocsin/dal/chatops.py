"""Chat-ops records: which incident a chat channel belongs to, and previews waiting for a click.

- `CHANNEL#<provider>#<channel id> / INCIDENT`: written when the response workflow creates
  the incident channel (a get, never a scan, answers "which incident is this channel?").
- `CHATDRAFT#<id> / DRAFT`: what a preview showed (pages, status, wording per page) and its
  state: `pending` -> `publishing` (claimed by one delivery) -> `published` | `cancelled`.
  The claim makes a Publish clicked twice (or delivered twice) publish once. Expires after a
  day (TTL).
- `CHATEVENT#<provider>#<event id> / RECEIPT`: a chat event delivery accepted (and, once on the
  queue, `queued_at`). A vendor's retry of a queued event is acknowledged without queueing it
  again. Expires after a day (TTL; Slack stops retrying within hours).
- `CHATDELIVERY#<provider>#<hash> / DELIVERY`: a vendor delivery acted on once (DeliveryClaims).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, ser, ser_value

#: as long as the response_url that answers a click works (Slack: 30 minutes)
DRAFT_TTL_SECONDS = 30 * 60
#: a claim older than this is taken over (its holder died before finishing)
CLAIM_SECONDS = 120
#: how long a chat event's receipt is kept (longer than the vendor's retries last)
RECEIPT_TTL_SECONDS = 24 * 3600


def _channel_key(provider: str, channel_id: str) -> dict[str, Any]:
    return {schema.PK: f"CHANNEL#{provider}#{channel_id}", schema.SK: "INCIDENT"}


def _draft_key(draft_id: str) -> dict[str, Any]:
    return {schema.PK: f"CHATDRAFT#{draft_id}", schema.SK: "DRAFT"}


class ChannelDirectory:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def put(self, provider: str, channel_id: str, incident_id: str) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item=ser(
                {
                    **_channel_key(provider, channel_id),
                    "type": "incident_channel",
                    "incident_id": incident_id,
                }
            ),
        )

    def incident_of(self, provider: str, channel_id: str) -> str | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser(_channel_key(provider, channel_id)), ConsistentRead=True
        )
        return str(deser(resp["Item"])["incident_id"]) if "Item" in resp else None


def _receipt_key(provider: str, event_id: str) -> dict[str, Any]:
    return {schema.PK: f"CHATEVENT#{provider}#{event_id}", schema.SK: "RECEIPT"}


class EventReceipts:
    """Which chat event deliveries are already on the queue: the vendor retries an event it
    thinks was not received (Slack: `X-Slack-Retry-Num`, same `event_id`)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def accept(self, provider: str, event_id: str) -> bool:
        """True when this event is to be queued: the first delivery, or a retry of one that
        never reached the queue (its function died in between). False when a delivery of it is
        already queued. Two deliveries racing may both be queued: capturing is idempotent."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(
                    {
                        **_receipt_key(provider, event_id),
                        "type": "chat_event_receipt",
                        schema.TTL_ATTRIBUTE: int(time.time()) + RECEIPT_TTL_SECONDS,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR attribute_not_exists(queued_at)",
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def queued(self, provider: str, event_id: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=ser(_receipt_key(provider, event_id)),
            UpdateExpression="SET queued_at = :now",
            ExpressionAttributeValues={":now": ser_value(int(time.time()))},
        )


class DraftStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def put(self, draft_id: str, draft: dict[str, Any]) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item=ser(
                {
                    **draft,
                    **_draft_key(draft_id),
                    "type": "chat_draft",
                    "id": draft_id,
                    "state": "pending",
                    schema.TTL_ATTRIBUTE: int(time.time()) + DRAFT_TTL_SECONDS,
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, draft_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser(_draft_key(draft_id)), ConsistentRead=True
        )
        return deser(resp["Item"]) if "Item" in resp else None

    def claim(self, draft_id: str, owner: str, by: str, now: float | None = None) -> bool:
        """Take a pending draft for publishing (or cancelling). True for the one caller that
        gets it: `owner` (a delivery id) may take it again (a redelivery of the same request),
        and a claim older than CLAIM_SECONDS may be taken over."""
        now = time.time() if now is None else now
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser(_draft_key(draft_id)),
                UpdateExpression="SET #s = :publishing, #o = :owner, #b = :by, #at = :now",
                ConditionExpression=(
                    "attribute_exists(pk) AND (#s = :pending OR (#s = :publishing AND "
                    "(#o = :owner OR #at < :stale)))"
                ),
                ExpressionAttributeNames={
                    "#s": "state",
                    "#o": "owner",
                    "#b": "by",
                    "#at": "claimed_at",
                },
                ExpressionAttributeValues={
                    ":publishing": ser_value("publishing"),
                    ":pending": ser_value("pending"),
                    ":owner": ser_value(owner),
                    ":by": ser_value(by),
                    ":now": ser_value(now),
                    ":stale": ser_value(now - CLAIM_SECONDS),
                },
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def finish(self, draft_id: str, state: str, result: dict[str, Any]) -> None:
        """`published` or `cancelled`, with what was done (shown to a second click)."""
        self.ddb.update_item(
            TableName=self.table,
            Key=ser(_draft_key(draft_id)),
            UpdateExpression="SET #s = :state, #r = :result",
            ExpressionAttributeNames={"#s": "state", "#r": "result"},
            ExpressionAttributeValues={":state": ser_value(state), ":result": ser_value(result)},
        )

    def release(self, draft_id: str, owner: str) -> None:
        """Give a claimed draft back (the publish failed and may be clicked again)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser(_draft_key(draft_id)),
                UpdateExpression="SET #s = :pending REMOVE #o",
                ConditionExpression="#s = :publishing AND #o = :owner",
                ExpressionAttributeNames={"#s": "state", "#o": "owner"},
                ExpressionAttributeValues={
                    ":pending": ser_value("pending"),
                    ":publishing": ser_value("publishing"),
                    ":owner": ser_value(owner),
                },
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise


#: how long a delivered chat activity's id is remembered (vendors redeliver within minutes)
DELIVERY_TTL_SECONDS = 24 * 3600


def _delivery_key(provider: str, delivery_id: str) -> dict[str, Any]:
    digest = hashlib.sha256(delivery_id.encode()).hexdigest()
    return {schema.PK: f"CHATDELIVERY#{provider}#{digest}", schema.SK: "DELIVERY"}


class DeliveryClaims:
    """`CHATDELIVERY#<provider>#<sha256 of the delivery id> / DELIVERY`: a vendor delivery
    (a Teams activity, by conversation and activity id) is acted on once. The first queue job
    to claim it owns it; the same job may claim it again (SQS retrying a failed attempt), a
    redelivery of the activity (another job) may not. Expires after a day (TTL)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def claim(self, provider: str, delivery_id: str, owner: str) -> bool:
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(
                    {
                        **_delivery_key(provider, delivery_id),
                        "type": "chat_delivery",
                        "owner": owner,
                        schema.TTL_ATTRIBUTE: int(time.time()) + DELIVERY_TTL_SECONDS,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": ser_value(owner)},
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
