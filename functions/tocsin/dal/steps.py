"""What each response step did, per incident: the record that makes steps idempotent.

`STEP#<key>` items under the incident's partition. The first completion of a step is kept
(conditional put); a retried or re-run step finds it and does nothing twice. Failures are
kept too (overwritten by a later success), so the API and the timeline can show them.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, ser, ser_value
from tocsin.dal.incidents import incident_key, incident_pk
from tocsin.domain.clock import iso, utcnow


class StepStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def _key(self, incident_id: str, step: str) -> dict[str, Any]:
        return {schema.PK: incident_pk(incident_id), schema.SK: f"STEP#{step}"}

    def get(self, incident_id: str, step: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser(self._key(incident_id, step)), ConsistentRead=True
        )
        return deser(resp["Item"]) if "Item" in resp else None

    def all(self, incident_id: str) -> dict[str, dict[str, Any]]:
        resp = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":s": ser_value("STEP#"),
            },
            ConsistentRead=True,
        )
        return {deser(raw)["step"]: deser(raw) for raw in resp.get("Items", [])}

    def completed(self, incident_id: str, step: str, data: dict[str, Any]) -> dict[str, Any]:
        """Record a step's success; if it had already succeeded, the first record wins and is
        returned (its time keeps the step's timeline event unique)."""
        item = self._record(incident_id, step, "done", data)
        if self._put_unless_done(item):
            return item
        found = self.get(incident_id, step)
        assert found is not None
        return found

    def failed(self, incident_id: str, step: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Record a failure unless the step succeeded meanwhile (then None)."""
        item = self._record(incident_id, step, "failed", data)
        return item if self._put_unless_done(item) else None

    def _record(
        self, incident_id: str, step: str, state: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            **self._key(incident_id, step),
            "type": "step",
            "step": step,
            "state": state,
            "at": iso(utcnow()),
            **data,
        }

    def _put_unless_done(self, item: dict[str, Any]) -> bool:
        """Write the record unless a success is already recorded (False then)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(item),
                ConditionExpression="attribute_not_exists(pk) OR #s <> :done",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":done": ser_value("done")},
            )
            return True
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise

    def set_links(self, incident_id: str, links: dict[str, str]) -> None:
        """Add links (channel, bridge, ticket...) to the incident without a version bump: they
        are facts about the outside world, not an edit a client could conflict with."""
        if not links:
            return
        names = {"#l": "links"}
        values: dict[str, Any] = {}
        sets = []
        for n, (name, url) in enumerate(sorted(links.items())):
            names[f"#k{n}"] = name
            values[f":v{n}"] = ser_value(url)
            sets.append(f"#l.#k{n} = :v{n}")
        self.ddb.update_item(
            TableName=self.table,
            Key=incident_key(incident_id),
            UpdateExpression=f"SET {', '.join(sets)}",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
