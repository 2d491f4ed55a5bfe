"""Alert dedup records, group ownership and the transactions that tie alerts to incidents.

Exactly-once rests on three conditional writes:
- the dedup record (ALERT#<source>#<fp> / DEDUP) turns a re-delivery into one counter update;
- the group record (GROUP#<key> / OPEN) is created with attribute_not_exists in the same
  transaction as the incident, so concurrent deliveries of one group create one incident;
- a resolve flips the dedup state conditionally, so the incident's firing count moves once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dedup import Dedup, dedup_key
from tocsin.dal.dynamo import (
    cancellation_codes,
    deser,
    is_conditional_failure,
    query_all,
    ser,
    ser_value,
)
from tocsin.dal.incidents import incident_item, incident_key, incident_pk, timeline_put
from tocsin.domain.alerts import Alert, AlertStatus
from tocsin.domain.clock import iso
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.timeline import TimelineEvent


def group_key(key: str) -> dict[str, Any]:
    return ser({schema.PK: f"GROUP#{key}", schema.SK: "OPEN"})


def alert_sk(alert: Alert) -> str:
    return f"ALERT#{alert.source}#{alert.fingerprint}"


@dataclass(frozen=True)
class Group:
    incident_id: str
    window_ends_at: str | None


class GroupTaken(Exception):
    """Another delivery created the group's incident first."""


class IncidentClosed(Exception):
    """The incident resolved while we were joining it."""


class DedupChanged(Exception):
    """The alert's dedup record changed since it was read (a concurrent delivery): re-read."""


class AlertKnown(Exception):
    """The alert is already part of the incident (it fires again rather than joins)."""


class Contention(Exception):
    """DynamoDB cancelled the transaction for a conflicting one or throttling: retry shortly."""


_RETRYABLE_CODES = {
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
}


def _cancelled(exc: ClientError) -> list[str]:
    """Per-item codes of a cancelled transaction; raises Contention when retrying will help."""
    codes = cancellation_codes(exc)
    if not codes:
        raise exc
    if _RETRYABLE_CODES & set(codes):
        raise Contention(",".join(codes)) from None
    return codes


class AlertRepository:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    # --- groups -----------------------------------------------------------------------------
    def get_group(self, key: str) -> Group | None:
        resp = self.ddb.get_item(TableName=self.table, Key=group_key(key), ConsistentRead=True)
        if "Item" not in resp:
            return None
        item = deser(resp["Item"])
        return Group(incident_id=item["incident_id"], window_ends_at=item.get("window_ends_at"))

    def release_group(self, key: str, incident_id: str) -> None:
        try:
            self.ddb.delete_item(
                TableName=self.table,
                Key=group_key(key),
                ConditionExpression="incident_id = :id",
                ExpressionAttributeValues={":id": ser_value(incident_id)},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    # --- incident lifecycle transactions ------------------------------------------------------
    def open_incident(
        self,
        incident: Incident,
        alert: Alert,
        grouping_key: str,
        window_ends_at: datetime | None,
        replaces: str | None,
        events: list[TimelineEvent],
        extra: Sequence[dict[str, Any]] = (),
        previous: Dedup | None = None,
    ) -> None:
        """Create the group's incident with its first alert, atomically.

        Raises GroupTaken (another incident owns the group), DedupChanged (the alert's record
        is no longer `previous`) or Contention."""
        now = iso(incident.created_at)
        group_item = {
            schema.PK: f"GROUP#{grouping_key}",
            schema.SK: "OPEN",
            "incident_id": incident.id,
            "created_at": now,
            "window_ends_at": iso(window_ends_at) if window_ends_at else None,
        }
        if replaces:
            group_condition = "attribute_not_exists(pk) OR incident_id = :old"
            group_values: dict[str, Any] = {":old": ser_value(replaces)}
        else:
            group_condition = "attribute_not_exists(pk)"
            group_values = {}
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": ser(group_item),
                    "ConditionExpression": group_condition,
                    **({"ExpressionAttributeValues": group_values} if group_values else {}),
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": ser(incident_item(incident)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": ser(self._alert_item(incident.id, alert, incident.created_at)),
                }
            },
            # a Put, not an Update: the fast path returned the old record, so the count is known;
            # the condition makes sure nobody changed it since
            self._dedup_put(alert, incident.id, now, previous),
        ]
        items += [timeline_put(event, self.table) for event in events]
        self._transact([*items, *extra], {0: GroupTaken, 3: DedupChanged})

    def join_incident(
        self,
        incident_id: str,
        alert: Alert,
        now: datetime,
        new_alert: bool,
        events: list[TimelineEvent],
        extra: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Add a firing alert to an open incident (`new_alert`), or mark one of its alerts firing
        again. Counters move with ADD (no version bump: they never conflict with a PATCH).

        Raises IncidentClosed (resolved meanwhile), AlertKnown (`new_alert` but the incident
        already has it), DedupChanged (a concurrent delivery of this alert) or Contention."""
        at = iso(now)
        incident_update = {
            "Update": {
                "TableName": self.table,
                "Key": incident_key(incident_id),
                "UpdateExpression": "SET updated_at = :now ADD firing_count :one, alert_count :new",
                "ConditionExpression": "attribute_exists(pk) AND #st <> :resolved",
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": {
                    ":now": ser_value(at),
                    ":one": ser_value(1),
                    ":new": ser_value(1 if new_alert else 0),
                    ":resolved": ser_value(IncidentStatus.RESOLVED.value),
                },
            }
        }
        alert_put: dict[str, Any] = {
            "TableName": self.table,
            "Item": ser(self._alert_item(incident_id, alert, now)),
        }
        if new_alert:
            alert_put["ConditionExpression"] = "attribute_not_exists(pk)"
        items: list[dict[str, Any]] = [
            incident_update,
            {"Put": alert_put},
            # two deliveries racing on one alert: only one may count it as firing
            self._dedup_update(
                alert,
                incident_id,
                at,
                condition="attribute_not_exists(pk) OR #st <> :firing OR attribute_not_exists(incident_id) "
                "OR incident_id <> :inc",
            ),
        ]
        items += [timeline_put(event, self.table) for event in events]
        self._transact([*items, *extra], {0: IncidentClosed, 1: AlertKnown, 2: DedupChanged})

    def resolve_alert(
        self,
        incident_id: str,
        alert: Alert,
        now: datetime,
        events: list[TimelineEvent],
        extra: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Mark a firing alert of an incident resolved. Raises DedupChanged when it is not
        firing in this incident any more, or Contention."""
        at = iso(now)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": dedup_key(alert.source, alert.fingerprint),
                    "UpdateExpression": "SET #st = :resolved, last_seen = :now ADD deliveries :one",
                    "ConditionExpression": "#st = :firing AND incident_id = :inc",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {
                        ":resolved": ser_value(AlertStatus.RESOLVED.value),
                        ":firing": ser_value(AlertStatus.FIRING.value),
                        ":inc": ser_value(incident_id),
                        ":now": ser_value(at),
                        ":one": ser_value(1),
                    },
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": ser({schema.PK: incident_pk(incident_id), schema.SK: alert_sk(alert)}),
                    "UpdateExpression": "SET #st = :resolved, ended_at = :now, last_seen = :now",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {
                        ":resolved": ser_value(AlertStatus.RESOLVED.value),
                        ":now": ser_value(iso(alert.ended_at or now)),
                    },
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": incident_key(incident_id),
                    "UpdateExpression": "SET updated_at = :now ADD firing_count :minus",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {
                        ":now": ser_value(at),
                        ":minus": ser_value(-1),
                        ":one": ser_value(1),
                    },
                }
            },
        ]
        # not firing in this incident any more: resolved concurrently, or the incident closed
        items += [timeline_put(event, self.table) for event in events]
        self._transact([*items, *extra], {0: DedupChanged})

    def incident_alerts(self, incident_id: str) -> list[dict[str, Any]]:
        return query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":a": ser_value("ALERT#"),
            },
        )

    def unlink_alerts(self, incident_id: str) -> int:
        """After resolution: the incident's alerts no longer dedup into it, so a new firing
        opens a new incident. Returns how many dedup records were unlinked."""
        count = 0
        for item in self.incident_alerts(incident_id):
            try:
                self.ddb.update_item(
                    TableName=self.table,
                    Key=dedup_key(item["source"], item["fingerprint"]),
                    UpdateExpression="REMOVE incident_id",
                    ConditionExpression="incident_id = :inc",
                    ExpressionAttributeValues={":inc": ser_value(incident_id)},
                )
                count += 1
            except ClientError as exc:
                if not is_conditional_failure(exc):
                    raise
        return count

    def _transact(
        self, items: list[dict[str, Any]], on_condition: dict[int, type[Exception]]
    ) -> None:
        """One transaction; a failed condition on item i raises on_condition[i]."""
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            codes = _cancelled(exc)
            for index, error in on_condition.items():
                if codes[index] == "ConditionalCheckFailed":
                    raise error() from None
            raise

    # --- items ------------------------------------------------------------------------------
    @staticmethod
    def _alert_item(incident_id: str, alert: Alert, now: datetime) -> dict[str, Any]:
        return {
            schema.PK: incident_pk(incident_id),
            schema.SK: alert_sk(alert),
            "type": "incident_alert",
            "last_seen": iso(now),
            **alert.model_dump(mode="json", exclude_none=True),
        }

    def _dedup_put(
        self, alert: Alert, incident_id: str, at: str, previous: Dedup | None
    ) -> dict[str, Any]:
        item = {
            schema.PK: f"ALERT#{alert.source}#{alert.fingerprint}",
            schema.SK: "DEDUP",
            "status": AlertStatus.FIRING.value,
            "incident_id": incident_id,
            "deliveries": (previous.deliveries if previous else 0) + 1,
            "last_seen": at,
            "title": alert.title,
            "raw_ref": alert.raw_ref or "",
        }
        put: dict[str, Any] = {"TableName": self.table, "Item": ser(item)}
        if previous is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#st = :st AND deliveries = :n AND " + (
                "incident_id = :inc"
                if previous.incident_id
                else "attribute_not_exists(incident_id)"
            )
            put["ExpressionAttributeNames"] = {"#st": "status"}
            put["ExpressionAttributeValues"] = {
                ":st": ser_value(previous.status.value),
                ":n": ser_value(previous.deliveries),
                **({":inc": ser_value(previous.incident_id)} if previous.incident_id else {}),
            }
        return {"Put": put}

    def _dedup_update(
        self, alert: Alert, incident_id: str, at: str, condition: str | None = None
    ) -> dict[str, Any]:
        """The dedup record now points at `incident_id` in the alert's state (firing)."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": dedup_key(alert.source, alert.fingerprint),
            "UpdateExpression": (
                "SET #st = :firing, incident_id = :inc, last_seen = :now, title = :title, raw_ref = :raw "
                "REMOVE suppressed_by, suppressed_until ADD deliveries :one"
            ),
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": {
                ":firing": ser_value(AlertStatus.FIRING.value),
                ":inc": ser_value(incident_id),
                ":now": ser_value(at),
                ":title": ser_value(alert.title),
                ":raw": ser_value(alert.raw_ref or ""),
                ":one": ser_value(1),
            },
        }
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}
