"""Incidents and their timelines in the single table (see dal/schema.py for the layout)."""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import (
    cancellation_codes,
    decode_key_cursor,
    decode_keys_cursor,
    deser,
    encode_cursor,
    is_conditional_failure,
    ser,
    ser_value,
)
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.errors import IncidentNotFoundError, VersionConflictError
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.timeline import TimelineEvent

META = "META"
_REF = re.compile(r"^INC-(\d{1,9})$", re.IGNORECASE)
MAX_PAGE = 100


def incident_pk(incident_id: str) -> str:
    return f"INC#{incident_id}"


def incident_key(incident_id: str) -> dict[str, Any]:
    return ser({schema.PK: incident_pk(incident_id), schema.SK: META})


def _index_keys(incident: Incident) -> dict[str, Any]:
    created = f"{iso(incident.created_at)}#{incident.id}"
    keys: dict[str, Any] = {
        "gsi1pk": f"STATUS#{incident.status}",
        "gsi1sk": created,
        "gsi3pk": f"SEVERITY#{incident.severity}",
        "gsi3sk": created,
        "gsi4pk": "INCIDENTS",
        "gsi4sk": created,
    }
    if incident.service:
        keys["gsi2pk"] = f"SERVICE#{incident.service}"
        keys["gsi2sk"] = created
    return keys


def incident_item(incident: Incident) -> dict[str, Any]:
    data = incident.model_dump(mode="json", exclude_none=True, exclude={"ref"})
    return {
        schema.PK: incident_pk(incident.id),
        schema.SK: META,
        "type": "incident",
        **data,
        **_index_keys(incident),
    }


def to_incident(item: dict[str, Any]) -> Incident:
    fields = {k: v for k, v in item.items() if k in Incident.model_fields}
    return Incident.model_validate(fields)


def timeline_item(event: TimelineEvent) -> dict[str, Any]:
    return {
        schema.PK: incident_pk(event.incident_id),
        schema.SK: f"TL#{iso(event.at)}#{event.id}",
        "type": "timeline",
        **event.model_dump(mode="json", exclude_none=True),
    }


def timeline_put(event: TimelineEvent, table: str) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": ser(timeline_item(event))}}


def _idempotency_key(key: str) -> dict[str, str]:
    return {schema.PK: f"IDEMPOTENCY#{key}", schema.SK: "INCIDENT"}


def _number_key(number: int) -> dict[str, Any]:
    return {schema.PK: f"REF#{number}", schema.SK: "INCIDENT"}


def _number_item(number: int, incident_id: str) -> dict[str, Any]:
    return {**_number_key(number), "type": "incident_ref", "incident_id": incident_id}


class IncidentRepository:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    # --- reads ------------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident:
        resp = self.ddb.get_item(
            TableName=self.table, Key=incident_key(incident_id), ConsistentRead=True
        )
        if "Item" not in resp:
            raise IncidentNotFoundError(f"no incident {incident_id!r}")
        return to_incident(deser(resp["Item"]))

    def find(self, incident_id: str) -> Incident | None:
        try:
            return self.get(incident_id)
        except IncidentNotFoundError:
            return None

    def search(
        self,
        statuses: Iterable[IncidentStatus] = (),
        severity: str | None = None,
        service: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Incident], str | None]:
        """Newest first. Each filter maps to a GSI partition; several statuses are queried
        side by side and merged, so listing never scans."""
        limit = max(1, min(limit, MAX_PAGE))
        filters: dict[str, str] = {}
        partitions: list[tuple[str, str]]  # (index name, partition value)
        status_list = list(dict.fromkeys(statuses))
        if status_list:
            partitions = [("by_status", f"STATUS#{s}") for s in status_list]
            if severity:
                filters["severity"] = severity
            if service:
                filters["service"] = service
        elif service:
            partitions = [("by_service", f"SERVICE#{service}")]
            if severity:
                filters["severity"] = severity
        elif severity:
            partitions = [("by_severity", f"SEVERITY#{severity}")]
        else:
            partitions = [("by_created", "INCIDENTS")]
        state: dict[str, Any] = (
            decode_keys_cursor(cursor, {v for _, v in partitions}) if cursor else {}
        )
        streams = [
            self._stream(index, value, filters, state.get(value), limit)
            for index, value in partitions
        ]
        merged = heapq.merge(*streams, key=lambda pair: pair[0], reverse=True)
        page: list[Incident] = []
        last_keys: dict[str, Any] = dict(state)
        for _sort_key, value, item in merged:
            if len(page) == limit:
                return page, encode_cursor(last_keys)
            page.append(to_incident(item))
            last_keys[value] = self._start_key(partitions, value, item)
        return page, None

    @staticmethod
    def _start_key(
        partitions: list[tuple[str, str]], value: str, item: dict[str, Any]
    ) -> dict[str, str]:
        index_name = next(index for index, v in partitions if v == value)
        index = schema.INDEX_BY_NAME[index_name]
        return {
            schema.PK: item[schema.PK],
            schema.SK: item[schema.SK],
            index.pk: item[index.pk],
            index.sk: item[index.sk],
        }

    def _stream(
        self,
        index_name: str,
        value: str,
        filters: dict[str, str],
        start: dict[str, str] | None,
        limit: int,
    ) -> Iterable[tuple[str, str, dict[str, Any]]]:
        index = schema.INDEX_BY_NAME[index_name]
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": index.pk},
            "ExpressionAttributeValues": {":pk": ser_value(value)},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if filters:
            clauses = []
            for n, (attr, wanted) in enumerate(sorted(filters.items())):
                kwargs["ExpressionAttributeNames"][f"#f{n}"] = attr
                kwargs["ExpressionAttributeValues"][f":f{n}"] = ser_value(wanted)
                clauses.append(f"#f{n} = :f{n}")
            kwargs["FilterExpression"] = " AND ".join(clauses)
        if start:
            kwargs["ExclusiveStartKey"] = ser(start)
        while True:
            resp = self.ddb.query(**kwargs)
            for raw in resp.get("Items", []):
                item = deser(raw)
                yield item[index.sk], value, item
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def timeline(
        self, incident_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[TimelineEvent], str | None]:
        """Oldest first."""
        limit = max(1, min(limit, 500))
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :tl)",
            "ExpressionAttributeValues": {
                ":pk": ser_value(incident_pk(incident_id)),
                ":tl": ser_value("TL#"),
            },
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = ser(decode_key_cursor(cursor))
        resp = self.ddb.query(**kwargs)
        events = [
            TimelineEvent.model_validate(_fields(deser(raw), TimelineEvent))
            for raw in resp.get("Items", [])
        ]
        last = resp.get("LastEvaluatedKey")
        return events, encode_cursor(deser(last)) if last else None

    def latest_timeline(self, incident_id: str, n: int) -> list[TimelineEvent]:
        """The last `n` events, oldest first (one query, newest first, reversed)."""
        resp = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :tl)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":tl": ser_value("TL#"),
            },
            ScanIndexForward=False,
            Limit=max(1, min(n, 500)),
        )
        events = [
            TimelineEvent.model_validate(_fields(deser(raw), TimelineEvent))
            for raw in resp.get("Items", [])
        ]
        return events[::-1]

    # --- writes -----------------------------------------------------------------------------
    def append_timeline(self, event: TimelineEvent, once: bool = False) -> bool:
        """Store a timeline event. With `once`, an event already stored under the same time
        and id is left as it was and False is returned (a redelivered chat event whose id is
        derived from what it is about appends nothing twice)."""
        if not once:
            self.ddb.put_item(TableName=self.table, Item=ser(timeline_item(event)))
            return True
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(timeline_item(event)),
                ConditionExpression="attribute_not_exists(sk)",
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def timeline_of_kind(
        self, incident_id: str, kind: str, start: datetime, end: datetime, max_pages: int = 5
    ) -> list[TimelineEvent]:
        """The timeline events of one kind between two times (inclusive), oldest first; reads
        at most `max_pages` pages of the window."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
            "FilterExpression": "#kind = :kind",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {
                ":pk": ser_value(incident_pk(incident_id)),
                ":start": ser_value(f"TL#{iso(start)}"),
                ":end": ser_value(f"TL#{iso(end)}~"),  # "~" sorts after "#<event id>"
                ":kind": ser_value(kind),
            },
        }
        found: list[TimelineEvent] = []
        for _ in range(max_pages):
            resp = self.ddb.query(**kwargs)
            found += [
                TimelineEvent.model_validate(_fields(deser(raw), TimelineEvent))
                for raw in resp.get("Items", [])
            ]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return found

    def timeline_event(self, incident_id: str, at: datetime, event_id: str) -> TimelineEvent | None:
        """One timeline event by its time and id (both deterministic for chat events)."""
        key = {schema.PK: incident_pk(incident_id), schema.SK: f"TL#{iso(at)}#{event_id}"}
        resp = self.ddb.get_item(TableName=self.table, Key=ser(key), ConsistentRead=True)
        if "Item" not in resp:
            return None
        return TimelineEvent.model_validate(_fields(deser(resp["Item"]), TimelineEvent))

    def create(
        self, incident: Incident, events: list[TimelineEvent], idempotency_key: str | None = None
    ) -> str | None:
        """Store a new incident with its first events (and, when it is numbered already, its
        `REF#<number>` pointer). With an idempotency key, a second create with the same key
        stores nothing and returns the first incident's id."""
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": ser(incident_item(incident)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if incident.number is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": ser(_number_item(incident.number, incident.id)),
                    }
                }
            )
        idem_key = _idempotency_key(idempotency_key or "")
        if idempotency_key:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": ser(
                            {
                                **idem_key,
                                "incident_id": incident.id,
                                schema.TTL_ATTRIBUTE: _in_days(1),
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        items += [timeline_put(event, self.table) for event in events]
        try:
            self.ddb.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            if idempotency_key and "ConditionalCheckFailed" in cancellation_codes(exc):
                existing = self.created_with(idempotency_key)
                if existing:
                    return existing
            raise

    def created_with(self, idempotency_key: str) -> str | None:
        """The id of the incident created with this idempotency key (within a day), if any."""
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser(_idempotency_key(idempotency_key)), ConsistentRead=True
        )
        return str(deser(resp["Item"])["incident_id"]) if "Item" in resp else None

    # --- resolved incidents still to release (an outbox: written with the status change) ----
    def pending_release_put(self, incident_id: str) -> dict[str, Any]:
        item = {schema.PK: "PENDING#release", schema.SK: incident_id, "type": "pending_release"}
        return {"Put": {"TableName": self.table, "Item": ser(item)}}

    def pending_releases(self) -> list[str]:
        resp = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ser_value("PENDING#release")},
            Limit=100,
        )
        return [deser(raw)[schema.SK] for raw in resp.get("Items", [])]

    def release_done(self, incident_id: str) -> None:
        self.ddb.delete_item(
            TableName=self.table, Key=ser({schema.PK: "PENDING#release", schema.SK: incident_id})
        )

    def mark_sla_missed(self, incident_id: str, target: str) -> bool:
        """Count a missed response target once per incident. False if already counted."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=incident_key(incident_id),
                UpdateExpression="SET sla_missed = list_append(if_not_exists(sla_missed, :none), :t)",
                ConditionExpression="attribute_exists(pk) AND NOT contains(sla_missed, :name)",
                ExpressionAttributeValues={
                    ":none": ser_value([]),
                    ":t": ser_value([target]),
                    ":name": ser_value(target),
                },
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        self.ddb.update_item(  # the deployment-wide count, per target
            TableName=self.table,
            Key=ser({schema.PK: f"COUNTER#sla_missed#{target}", schema.SK: "COUNTER"}),
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "value"},
            ExpressionAttributeValues={":one": ser_value(1)},
        )
        return True

    def sla_missed_counts(self) -> dict[str, int]:
        counts = {}
        for target in ("acknowledge", "first_update"):
            resp = self.ddb.get_item(
                TableName=self.table,
                Key=ser({schema.PK: f"COUNTER#sla_missed#{target}", schema.SK: "COUNTER"}),
            )
            counts[target] = int(resp["Item"]["value"]["N"]) if "Item" in resp else 0
        return counts

    def record_update(self, event: TimelineEvent) -> None:
        """A stakeholder update: on the timeline, and the update cadence restarts from it."""
        self.ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": incident_key(event.incident_id),
                        "UpdateExpression": "SET last_update_at = :at",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {
                            ":at": ser_value(event.model_dump(mode="json")["at"])
                        },
                    }
                },
                timeline_put(event, self.table),
            ]
        )

    # --- workflow runs a change triggered, still to start (an outbox, like releases) --------
    def pending_trigger_put(
        self, incident_id: str, execution: str, triggers: list[str]
    ) -> dict[str, Any]:
        item = {
            schema.PK: "PENDING#trigger",
            schema.SK: execution,
            "type": "pending_trigger",
            "incident_id": incident_id,
            "triggers": triggers,
            "created_at": iso(utcnow()),
        }
        return {"Put": {"TableName": self.table, "Item": ser(item)}}

    def pending_triggers(self) -> list[dict[str, Any]]:
        resp = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ser_value("PENDING#trigger")},
            Limit=100,
        )
        return [deser(raw) for raw in resp.get("Items", [])]

    def trigger_done(self, incident_id: str, execution: str) -> None:
        self.ddb.delete_item(
            TableName=self.table, Key=ser({schema.PK: "PENDING#trigger", schema.SK: execution})
        )

    def allocate_number(self) -> int:
        resp = self.ddb.update_item(
            TableName=self.table,
            Key=ser({schema.PK: "COUNTER#incident", schema.SK: "COUNTER"}),
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "value"},
            ExpressionAttributeValues={":one": ser_value(1)},
            ReturnValues="UPDATED_NEW",
        )
        return int(resp["Attributes"]["value"]["N"])

    def set_once(self, incident_id: str, attribute: str, value: Any) -> bool:
        """Set an attribute that is written once (number, execution ARN). False if already set."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=incident_key(incident_id),
                UpdateExpression="SET #a = :v",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#a)",
                ExpressionAttributeNames={"#a": attribute},
                ExpressionAttributeValues={":v": ser_value(value)},
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def set_number(self, incident_id: str, number: int) -> bool:
        """Number the incident (once) and write its `REF#<number>` pointer in the same
        transaction, so `by_number` finds it without a scan. False if already numbered."""
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": incident_key(incident_id),
                            "UpdateExpression": "SET #a = :v",
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#a)",
                            "ExpressionAttributeNames": {"#a": "number"},
                            "ExpressionAttributeValues": {":v": ser_value(number)},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": ser(_number_item(number, incident_id)),
                        }
                    },
                ]
            )
            return True
        except ClientError as exc:
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                return False
            raise

    def by_ref(self, ref: str) -> Incident:
        """An incident by its id or its human reference (INC-42), or IncidentNotFoundError."""
        match = _REF.match(ref.strip())
        if match:
            found = self.by_number(int(match.group(1)))
            if found is None:
                raise IncidentNotFoundError(f"no incident {ref.strip()!r}")
            return found
        return self.get(ref.strip())

    def by_number(self, number: int) -> Incident | None:
        """The incident numbered `number` (INC-<number>): its pointer, else (incidents numbered
        before pointers were written) the open incidents, which are few and indexed."""
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser(_number_key(number)), ConsistentRead=True
        )
        if "Item" in resp:
            return self.find(str(deser(resp["Item"])["incident_id"]))
        from tocsin.domain.incidents import OPEN_STATUSES

        cursor: str | None = None
        for _ in range(20):
            items, cursor = self.search(OPEN_STATUSES, limit=MAX_PAGE, cursor=cursor)
            found = next((i for i in items if i.number == number), None)
            if found is not None or cursor is None:
                return found
        return None

    def save(
        self,
        before: Incident,
        after: Incident,
        events: list[TimelineEvent],
        extra: Sequence[dict[str, Any]] = (),
    ) -> Incident:
        """Write `after` if the stored version is still `before.version` (optimistic lock),
        with its timeline events (and `extra` writes), in one transaction.
        Raises VersionConflictError."""
        changed = {
            name: value
            for name, value in after.model_dump(mode="json").items()
            if name
            not in {
                "version",
                "id",
                "alert_count",
                "firing_count",
                "execution_arn",
                "number",
                "ref",
                # written by their own updates, never from a possibly stale copy
                "links",
                "last_update_at",
                "sla_missed",
            }
            and value != before.model_dump(mode="json").get(name)
        }
        changed.update({k: v for k, v in _index_keys(after).items()})
        names: dict[str, str] = {"#version": "version"}
        values: dict[str, Any] = {":expected": ser_value(before.version), ":one": ser_value(1)}
        sets = []
        for n, (attr, value) in enumerate(sorted(changed.items())):
            names[f"#a{n}"] = attr
            values[f":v{n}"] = ser_value(value)
            sets.append(f"#a{n} = :v{n}")
        update = {
            "TableName": self.table,
            "Key": incident_key(after.id),
            "UpdateExpression": f"SET {', '.join(sets)} ADD #version :one",
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        try:
            if events or extra:
                items: list[dict[str, Any]] = [{"Update": update}]
                items += [timeline_put(event, self.table) for event in events]
                items += list(extra)
                self.ddb.transact_write_items(TransactItems=items)
            else:
                self.ddb.update_item(**update)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in {"ConditionalCheckFailedException", "TransactionCanceledException"}:
                raise VersionConflictError(
                    f"incident {after.id} changed since version {before.version}; reload and retry"
                ) from None
            raise
        return after.model_copy(update={"version": before.version + 1})


def _fields(item: dict[str, Any], model: Any) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in model.model_fields}


def _in_days(days: int) -> int:
    return int(time.time()) + days * 86400
