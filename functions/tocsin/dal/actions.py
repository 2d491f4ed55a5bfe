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
from tocsin.domain.errors import InvalidRequestError, VersionConflictError

PREFIX = "ACTION#"
NO_DUE = "9999-12-31"
SYNC_PARTITION = "ACTIONSYNC"
_STATUS_INDEX = schema.INDEX_BY_NAME["by_status"]
_SYNC_INDEX = schema.INDEX_BY_NAME["by_service"]
_INDEX_ATTRIBUTES = (_STATUS_INDEX.pk, _STATUS_INDEX.sk, _SYNC_INDEX.pk, _SYNC_INDEX.sk)
MAX_ATTEMPTS = 5
#: index pages one listing request reads at most (an owner filter may skip many items)
MAX_QUERY_PAGES = 10
_CURSOR_KEYS = (schema.PK, schema.SK, _STATUS_INDEX.pk, _STATUS_INDEX.sk)


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
        values: dict[str, Any] = {":v": ser_value(expected_version), ":zero": ser_value(0)}
        # the reminder day is written without a version (claim_reminder): a put from an older
        # read must not undo it, so it is part of the condition
        if action.reminded_on is None:
            reminded = "attribute_not_exists(reminded_on)"
        else:
            reminded = "reminded_on = :r"
            values[":r"] = ser_value(action.reminded_on.isoformat())
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(stored),
                ConditionExpression=(
                    "attribute_exists(pk) AND "
                    f"(version = :v OR (attribute_not_exists(version) AND :v = :zero)) AND {reminded}"
                ),
                ExpressionAttributeValues=values,
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
        `due_before` keeps those due before that day (overdue: today). A page reads at most
        MAX_QUERY_PAGES index pages: with an owner filter it may hold fewer than `limit`
        items and still have a cursor."""
        partition = status_partition(status)
        names = {"#pk": _STATUS_INDEX.pk}
        values: dict[str, Any] = {":p": ser_value(partition)}
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
            kwargs["ExclusiveStartKey"] = ser(self._cursor(cursor, partition, due_before))
        found: list[ActionItem] = []
        for _ in range(MAX_QUERY_PAGES):
            kwargs["Limit"] = max(limit - len(found), 1) if owner is None else 100
            resp = self.ddb.query(**kwargs)
            raws = resp.get("Items", [])
            for n, raw in enumerate(raws):
                found.append(to_action(deser(raw)))
                if len(found) == limit:
                    more = n < len(raws) - 1 or "LastEvaluatedKey" in resp
                    return found, self._next(deser(raw)) if more else None
            if "LastEvaluatedKey" not in resp:
                return found, None
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return found, self._next(deser(kwargs["ExclusiveStartKey"]))

    @staticmethod
    def _next(item: dict[str, Any]) -> str:
        return encode_cursor({k: item[k] for k in _CURSOR_KEYS})

    @staticmethod
    def _cursor(cursor: str, partition: str, due_before: date | None) -> dict[str, str]:
        """A cursor this listing returned, for this status and range; else a 400 (DynamoDB
        refuses a start key outside the query's key condition)."""
        key = decode_key_cursor(cursor, _CURSOR_KEYS)
        inside = (
            set(key) == set(_CURSOR_KEYS)
            and key[_STATUS_INDEX.pk] == partition
            and (due_before is None or key[_STATUS_INDEX.sk] < due_before.isoformat())
        )
        if not inside:
            raise InvalidRequestError("invalid pagination cursor for this listing")
        return key

    def pending_sync(self, limit: int = 500) -> list[ActionItem]:
        """Items the ticketing tool still has work for, oldest first (at most `limit`)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": _SYNC_INDEX.name,
            "KeyConditionExpression": "#pk = :p",
            "ExpressionAttributeNames": {"#pk": _SYNC_INDEX.pk},
            "ExpressionAttributeValues": {":p": ser_value(SYNC_PARTITION)},
        }
        found: list[ActionItem] = []
        while len(found) < limit:
            resp = self.ddb.query(**kwargs, Limit=limit - len(found))
            found += [to_action(deser(raw)) for raw in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return found

    # --- ticket -> item ----------------------------------------------------------------------
    def link_ticket(
        self, provider: str, ticket_id: str, key: str, incident_id: str, action_id: str
    ) -> None:
        """Point the ticket's id (stable) and its key (what people see; it changes when the
        issue moves to another project) at the item."""
        for name in {f"id:{ticket_id}", f"key:{key}"}:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(
                    {
                        schema.PK: f"TICKET#{provider}#{name}",
                        schema.SK: "ACTION",
                        "type": "action_ticket",
                        "incident_id": incident_id,
                        "action_id": action_id,
                    }
                ),
            )

    def by_ticket(self, provider: str, ticket_id: str | None, key: str | None) -> ActionItem | None:
        """The item whose ticket this is, by the ticket's id, else its key."""
        for name in (f"id:{ticket_id}" if ticket_id else None, f"key:{key}" if key else None):
            if name is None:
                continue
            resp = self.ddb.get_item(
                TableName=self.table,
                Key=ser({schema.PK: f"TICKET#{provider}#{name}", schema.SK: "ACTION"}),
            )
            if "Item" in resp:
                pointer = deser(resp["Item"])
                try:
                    return self.get(pointer["incident_id"], pointer["action_id"])
                except ActionItemNotFoundError:
                    return None
        return None
