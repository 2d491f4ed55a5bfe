"""The dedup record of each alert (ALERT#<source>#<fingerprint> / DEDUP): the intake fast path.

Kept apart from the incident transactions so that a re-delivered alert only loads this (and
no pydantic: the fast path takes any `AlertIdentity`, such as a source's quick `AlertKey`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, ser, ser_value
from tocsin.domain.alert_identity import AlertIdentity, AlertStatus
from tocsin.domain.clock import iso

if TYPE_CHECKING:
    from tocsin.domain.alerts import Alert


def dedup_key(source: str, fingerprint: str) -> dict[str, Any]:
    return ser({schema.PK: f"ALERT#{source}#{fingerprint}", schema.SK: "DEDUP"})


@dataclass(frozen=True)
class Dedup:
    status: AlertStatus
    deliveries: int
    incident_id: str | None
    suppressed_by: str | None


@dataclass(frozen=True)
class Repeat:
    """Outcome of the fast path: `settled` when the delivery was a pure re-delivery (counted);
    otherwise `previous` is the dedup record as it was (None: never seen)."""

    settled: Dedup | None
    previous: Dedup | None


class DedupStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def repeat(self, alert: AlertIdentity, now: datetime) -> Repeat:
        """The fast path: a delivery of a known alert in the same state only bumps a counter.

        One conditional UpdateItem. When the alert is new, changed state, or its incident was
        resolved since, the update fails and returns the record as it was (no second read);
        the slow path decides then."""
        # a firing alert is settled once in an incident (suppressed alerts are not: the window
        # may end or be removed early); a resolve is settled in any case
        if alert.status is AlertStatus.RESOLVED:
            condition = "#st = :status"
        else:
            condition = "#st = :status AND attribute_exists(incident_id)"
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=dedup_key(alert.source, alert.fingerprint),
                UpdateExpression="SET last_seen = :now ADD deliveries :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={
                    ":now": ser_value(iso(now)),
                    ":one": ser_value(1),
                    ":status": ser_value(alert.status.value),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                return Repeat(settled=None, previous=_dedup(deser(old)) if old else None)
            raise
        settled = _dedup(deser(resp["Attributes"]))
        return Repeat(settled=settled, previous=settled)

    def get(self, alert: AlertIdentity) -> Dedup | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=dedup_key(alert.source, alert.fingerprint),
            ConsistentRead=True,
        )
        return _dedup(deser(resp["Item"])) if "Item" in resp else None

    def record_unlinked(
        self,
        alert: Alert,
        now: datetime,
        suppressed_by: str | None = None,
        suppressed_until: datetime | None = None,
    ) -> bool:
        """Remember an alert that belongs to no incident: suppressed by a maintenance window,
        or resolved without ever having fired here. A resolve is only recorded while the alert
        is linked to no incident (a concurrent firing may just have opened one): False then,
        and the caller looks again."""
        condition = (
            {} if suppressed_by else {"ConditionExpression": "attribute_not_exists(incident_id)"}
        )
        values: dict[str, Any] = {
            ":status": ser_value(alert.status.value),
            ":now": ser_value(iso(now)),
            ":title": ser_value(alert.title),
            ":raw": ser_value(alert.raw_ref or ""),
            ":one": ser_value(1),
        }
        if suppressed_by and suppressed_until:
            values |= {":sb": ser_value(suppressed_by), ":su": ser_value(iso(suppressed_until))}
        try:
            self.ddb.update_item(
                **condition,
                TableName=self.table,
                Key=dedup_key(alert.source, alert.fingerprint),
                UpdateExpression=(
                    "SET #st = :status, last_seen = :now, title = :title, raw_ref = :raw"
                    + (", suppressed_by = :sb, suppressed_until = :su" if suppressed_by else "")
                    + " REMOVE incident_id ADD deliveries :one"
                ),
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True


def _dedup(item: dict[str, Any]) -> Dedup:
    return Dedup(
        status=AlertStatus(item["status"]),
        deliveries=int(item.get("deliveries", 0)),
        incident_id=item.get("incident_id"),
        suppressed_by=item.get("suppressed_by"),
    )
