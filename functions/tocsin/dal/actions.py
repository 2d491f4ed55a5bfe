"""Action items: `INC#<incident> / ACTION#<id>`, one item each, with a version for optimistic
locking.

Index keys (overloading the incidents' GSIs; no scan ever):
- by_status  `ACTIONS#<status>` / `<due or 9999-12-31>#<created>#<incident>#<id>`: every item
  by status across incidents, soonest due first (overdue first)
- by_service `ACTIONSYNC` / `<created>#<incident>#<id>`, only while the ticketing tool still
  has something to do for the item (sparse: the sweeper reads just these)
A ticket points back at its item: `TICKET#<provider>#<key> / ACTION` (Jira's webhook names the
issue, not the item).

The id is chosen by the caller and the put is conditional, so a request delivered twice
stores one item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import (
    decode_key_cursor,
    deser,
    encode_cursor,
    is_conditional_failure,
    query_all,
    ser,
    ser_value,
)
from tocsin.dal.incidents import incident_pk
from tocsin.domain.action_items import ActionItem, ActionItemNotFoundError, ActionStatus
from tocsin.domain.errors import VersionConflictError

PREFIX = "ACTION#"
NO_DUE = "9999-12-31"
SYNC_PARTITION = "ACTIONSYNC"
_STATUS_INDEX = schema.INDEX_BY_NAME["by_status"]
_SYNC_INDEX = schema.INDEX_BY_NAME["by_service"]
_INDEX_ATTRIBUTES = (_STATUS_INDEX.pk, _STATUS_INDEX.sk, _SYNC_INDEX.pk, _SYNC_INDEX.sk)
MAX_ATTEMPTS = 5


def _key(incident_id: str, action_id: str) -> dict[str, str]:
    return {schema.PK: incident_pk(incident_id), schema.SK: f"{PREFIX}{action_id}"}


def status_partition(status: ActionStatus | str) -> str:
    return f"ACTIONS#{status}"


def _item(action: ActionItem) -> dict[str, Any]:
    data = action.model_dump(mode="json", exclude_none=True)
    created = f"{data['created_at']}#{action.incident_id}#{action.id}"
    item: dict[str, Any] = {
        **data,
        **_key(action.incident_id, action.id),
        "type": "action_item",
        _STATUS_INDEX.pk: status_partition(action.status),
        _STATUS_INDEX.sk: f"{data.get('due') or NO_DUE}#{created}",
    }
    if action.ticket_sync is not None:
        item[_SYNC_INDEX.pk] = SYNC_PARTITION
        item[_SYNC_INDEX.sk] = created
    return item


def to_action(item: dict[str, Any]) -> ActionItem:
    return ActionItem.model_validate(
        {k: v for k, v in item.items() if k not in (schema.PK, schema.SK, "type")}
    )


class ActionItemStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def create(self, action: ActionItem) -> tuple[ActionItem, bool]:
        """Store `action`; (the stored item, whether this call created it)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(_item(action)),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return action, True
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
        return self.get(action.incident_id, action.id), False

    def get(self, incident_id: str, action_id: str) -> ActionItem:
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser(_key(incident_id, action_id)), ConsistentRead=True
        )
        if "Item" not in resp:
            raise ActionItemNotFoundError(f"no action item {action_id} in incident {incident_id}")
        return to_action(deser(resp["Item"]))

    def put(self, action: ActionItem, expected_version: int) -> ActionItem:
        """Replace the item when it still has `expected_version`; the stored item gets
        `action.version` (the caller bumps it). A stale version: VersionConflictError."""
        stored = _item(action)
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(stored),
                ConditionExpression=(
                    "attribute_exists(pk) AND "
                    "(version = :v OR (attribute_not_exists(version) AND :v = :zero))"
                ),
                ExpressionAttributeValues={
                    ":v": ser_value(expected_version),
                    ":zero": ser_value(0),
                },
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise VersionConflictError(
                    f"action item {action.id} changed since version {expected_version}"
                ) from None
            raise
        return action

    def change(
        self,
        incident_id: str,
        action_id: str,
        decide: Callable[[ActionItem], ActionItem | None],
    ) -> tuple[ActionItem, bool]:
        """Read, let `decide` return the new item (None: nothing to change), write with
        optimistic locking, retrying on a concurrent change. (item, whether it changed)."""
        for _ in range(MAX_ATTEMPTS):
            current = self.get(incident_id, action_id)
            new = decide(current)
            if new is None:
                return current, False
            try:
                return self.put(
                    new.model_copy(update={"version": current.version + 1}), current.version
                ), True
            except VersionConflictError:
                continue
        raise VersionConflictError(f"action item {action_id} keeps changing; try again")

    def claim_reminder(self, incident_id: str, action_id: str, day: date) -> bool:
        """Mark the item reminded on `day` if it is open and was not yet (bookkeeping: the
        version stays, so nobody's edit conflicts with a reminder)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser(_key(incident_id, action_id)),
                UpdateExpression="SET reminded_on = :d",
                ConditionExpression=(
                    "attribute_exists(pk) AND #status = :open AND "
                    "(attribute_not_exists(reminded_on) OR reminded_on <> :d)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":d": ser_value(day.isoformat()),
                    ":open": ser_value(ActionStatus.OPEN.value),
                },
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def release_reminder(
        self, incident_id: str, action_id: str, day: date, previous: date | None
    ) -> None:
        """Undo claim_reminder (the message did not go out): the next run sends it."""
        values: dict[str, Any] = {":d": ser_value(day.isoformat())}
        if previous is None:
            update = "REMOVE reminded_on"
        else:
            update = "SET reminded_on = :p"
            values[":p"] = ser_value(previous.isoformat())
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser(_key(incident_id, action_id)),
                UpdateExpression=update,
                ConditionExpression="reminded_on = :d",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def for_incident(self, incident_id: str) -> list[ActionItem]:
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":a": ser_value(PREFIX),
            },
        )
        return sorted((to_action(i) for i in items), key=lambda a: a.created_at)

    def by_status(
        self,
        status: ActionStatus,
        *,
        owner: str | None = None,
        due_before: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[ActionItem], str | None]:
        """Items in `status` across incidents, soonest due first (no due date last);
        `due_before` keeps those due before that day (overdue: today)."""
        names = {"#pk": _STATUS_INDEX.pk}
        values: dict[str, Any] = {":p": ser_value(status_partition(status))}
        condition = "#pk = :p"
        if due_before is not None:
            condition += " AND #sk < :d"
            names["#sk"] = _STATUS_INDEX.sk
            values[":d"] = ser_value(due_before.isoformat())
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": _STATUS_INDEX.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if owner is not None:
            kwargs["FilterExpression"] = "#owner = :o"
            names["#owner"] = "owner"
            values[":o"] = ser_value(owner)
        if cursor:
            kwargs["ExclusiveStartKey"] = ser(
                decode_key_cursor(cursor, (schema.PK, schema.SK, _STATUS_INDEX.pk))
            )
        found: list[ActionItem] = []
        while True:
            kwargs["Limit"] = max(limit - len(found), 1) if owner is None else 200
            resp = self.ddb.query(**kwargs)
            for raw in resp.get("Items", []):
                found.append(to_action(deser(raw)))
                if len(found) == limit:
                    last = deser(raw)
                    more = raw is not resp["Items"][-1] or "LastEvaluatedKey" in resp
                    keys = {k: last[k] for k in (schema.PK, schema.SK, *names_of(_STATUS_INDEX))}
                    return found, encode_cursor(keys) if more else None
            if "LastEvaluatedKey" not in resp:
                return found, None
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def pending_sync(self, limit: int = 100) -> list[ActionItem]:
        """Items the ticketing tool still has work for, oldest first."""
        resp = self.ddb.query(
            TableName=self.table,
            IndexName=_SYNC_INDEX.name,
            KeyConditionExpression="#pk = :p",
            ExpressionAttributeNames={"#pk": _SYNC_INDEX.pk},
            ExpressionAttributeValues={":p": ser_value(SYNC_PARTITION)},
            Limit=limit,
        )
        return [to_action(deser(raw)) for raw in resp.get("Items", [])]

    # --- ticket -> item ----------------------------------------------------------------------
    def link_ticket(self, provider: str, key: str, incident_id: str, action_id: str) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item=ser(
                {
                    schema.PK: f"TICKET#{provider}#{key}",
                    schema.SK: "ACTION",
                    "type": "action_ticket",
                    "incident_id": incident_id,
                    "action_id": action_id,
                }
            ),
        )

    def by_ticket(self, provider: str, key: str) -> ActionItem | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser({schema.PK: f"TICKET#{provider}#{key}", schema.SK: "ACTION"}),
        )
        if "Item" not in resp:
            return None
        pointer = deser(resp["Item"])
        try:
            return self.get(pointer["incident_id"], pointer["action_id"])
        except ActionItemNotFoundError:
            return None


def names_of(index: schema.Index) -> tuple[str, str]:
    return (index.pk, index.sk)
