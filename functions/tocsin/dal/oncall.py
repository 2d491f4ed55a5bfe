"""Paging state in DynamoDB: escalations, schedule overrides made at runtime, incident roles.

Items (pk / sk):
- INC#<id> / ESC#<escalation id>        an escalation: status, the policy copy, the task token
                                         of the level waiting for an acknowledgement
- INC#<id> / ROLE#<role id>              who holds an incident role, with every handoff
- OVERRIDE#<schedule> / <start>#<id>     a runtime on-call override (API/CLI)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, query_all, ser, ser_value
from tocsin.dal.incidents import incident_pk
from tocsin.domain.clock import parse_iso

ACTIVE = "active"


class EscalationStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    @staticmethod
    def _key(incident_id: str, escalation_id: str) -> dict[str, Any]:
        return {schema.PK: incident_pk(incident_id), schema.SK: f"ESC#{escalation_id}"}

    def create(self, record: dict[str, Any]) -> bool:
        """Store a new escalation; False if it exists already (a retried start)."""
        item = {
            **self._key(record["incident_id"], record["escalation_id"]),
            "type": "escalation",
            "status": ACTIVE,
            **record,
        }
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def get(self, incident_id: str, escalation_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=ser(self._key(incident_id, escalation_id)),
            ConsistentRead=True,
        )
        return deser(resp["Item"]) if "Item" in resp else None

    def all(self, incident_id: str) -> list[dict[str, Any]]:
        return query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":s": ser_value("ESC#"),
            },
            ConsistentRead=True,
        )

    def update(
        self,
        incident_id: str,
        escalation_id: str,
        values: dict[str, Any],
        *,
        only_if_active: bool = True,
        remove: tuple[str, ...] = (),
        old: bool = False,
        token: str | None = None,
    ) -> dict[str, Any] | None:
        """Set attributes; with `only_if_active`, only while the escalation is active. Returns
        the whole record after the update (with `old`: as it was just before, e.g. to complete
        the task token this very update removed), or None when the condition failed. With
        `token`, only while that task token is the stored one."""
        names = {f"#a{n}": name for n, name in enumerate(values)}
        expr_values = {f":v{n}": ser_value(value) for n, value in enumerate(values.values())}
        expression = "SET " + ", ".join(f"#a{n} = :v{n}" for n in range(len(values)))
        if remove:
            names.update({f"#r{n}": name for n, name in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#r{n}" for n in range(len(remove)))
        condition = "attribute_exists(pk)"
        if token is not None:  # only while this very task token is the waiting one
            condition += " AND #tt = :tt"
            names["#tt"] = "task_token"
            expr_values[":tt"] = ser_value(token)
        if only_if_active:
            condition += " AND #status = :active"
            names["#status"] = "status"
            expr_values[":active"] = ser_value(ACTIVE)
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=ser(self._key(incident_id, escalation_id)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expr_values,
                ReturnValues="ALL_OLD" if old else "ALL_NEW",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return None
            raise
        return deser(resp["Attributes"])


class OverrideStore:
    """On-call overrides made at runtime; config overrides live in the schedule's file."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def add(self, schedule: str, override: dict[str, Any]) -> dict[str, Any]:
        item = {
            schema.PK: f"OVERRIDE#{schedule}",
            schema.SK: f"{override['start']}#{override['id']}",
            "type": "override",
            "schedule": schedule,
            # gone from the table a week after it ended
            schema.TTL_ATTRIBUTE: int(parse_iso(override["end"]).timestamp()) + 7 * 86400,
            **override,
        }
        self.ddb.put_item(
            TableName=self.table, Item=ser(item), ConditionExpression="attribute_not_exists(pk)"
        )
        return item

    def list(self, schedule: str, ending_after: datetime | None = None) -> list[dict[str, Any]]:
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ser_value(f"OVERRIDE#{schedule}")},
            ConsistentRead=True,
        )
        if ending_after is not None:
            items = [i for i in items if parse_iso(i["end"]) > ending_after]
        # creation order: a later override wins where two overlap
        return sorted(items, key=lambda i: i["created_at"])

    def delete(self, schedule: str, override_id: str) -> bool:
        for item in self.list(schedule):
            if item["id"] == override_id:
                self.ddb.delete_item(
                    TableName=self.table,
                    Key=ser({schema.PK: item[schema.PK], schema.SK: item[schema.SK]}),
                )
                return True
        return False


class RoleStore:
    """Who holds each incident role. Every change is conditional on the holder read, so two
    people taking a role at once cannot both think they have it."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    @staticmethod
    def _key(incident_id: str, role: str) -> dict[str, Any]:
        return {schema.PK: incident_pk(incident_id), schema.SK: f"ROLE#{role}"}

    def all(self, incident_id: str) -> dict[str, dict[str, Any]]:
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":s": ser_value("ROLE#"),
            },
            ConsistentRead=True,
        )
        return {i["role"]: i for i in items}

    def set(
        self,
        incident_id: str,
        role: str,
        holder: str | None,
        expected: str | None,
        handoff: dict[str, Any],
    ) -> bool:
        """Give the role to `holder` (None: nobody) if it is still held by `expected`.
        `handoff` is appended to the role's history. False when someone changed it first."""
        values: dict[str, Any] = {
            ":h": ser_value(holder or ""),
            ":handoff": ser_value([handoff]),
            ":empty": ser_value([]),
            ":role": ser_value(role),
            ":type": ser_value("role"),
            ":since": ser_value(handoff["at"]),
        }
        if expected is None:
            condition = "attribute_not_exists(pk) OR holder = :blank"
            values[":blank"] = ser_value("")
        else:
            condition = "holder = :expected"
            values[":expected"] = ser_value(expected)
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser(self._key(incident_id, role)),
                UpdateExpression=(
                    "SET holder = :h, #role = :role, #type = :type, since = :since, "
                    "history = list_append(if_not_exists(history, :empty), :handoff)"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#role": "role", "#type": "type"},
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
