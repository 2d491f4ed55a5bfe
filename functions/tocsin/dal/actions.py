"""Action items: `INC#<incident> / ACTION#<id>`, one item each.

Created from chat (`/incident action …`) today; the postmortem issue adds the API, the
ticket sync and reminders on top of the same items. The id is chosen by the caller and the
put is conditional, so a request delivered twice stores one item.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, ser, ser_value
from tocsin.dal.incidents import incident_pk


class ActionItemStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def create(self, item: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store `item` (keys: id, incident_id, text, owner, due, priority, status,
        created_by, created_at). Returns (the stored item, whether this call created it)."""
        key = {schema.PK: incident_pk(item["incident_id"]), schema.SK: f"ACTION#{item['id']}"}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser({**item, **key, "type": "action_item"}),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return item, True
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
        resp = self.ddb.get_item(TableName=self.table, Key=ser(key), ConsistentRead=True)
        return _public(deser(resp["Item"])), False

    def for_incident(self, incident_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :a)",
            "ExpressionAttributeValues": {
                ":pk": ser_value(incident_pk(incident_id)),
                ":a": ser_value("ACTION#"),
            },
        }
        while True:
            resp = self.ddb.query(**kwargs)
            items += [_public(deser(raw)) for raw in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return sorted(items, key=lambda i: str(i.get("created_at", "")))
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in (schema.PK, schema.SK, "type")}
