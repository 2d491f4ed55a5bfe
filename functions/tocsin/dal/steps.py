"""What each response step did, per incident: the record that makes steps idempotent.

`STEP#<key>` items under the incident's partition. The first completion of a step is kept
(conditional put); a retried or re-run step finds it and does nothing twice. Failures are
kept too (overwritten by a later success), so the API and the timeline can show them.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, query_all, ser, ser_value
from tocsin.dal.incidents import incident_key, incident_pk
from tocsin.domain.clock import iso, utcnow

#: how long a run holds a step it claimed (longer than the workflow function's timeout)
LEASE_SECONDS = 120


class StepBusy(Exception):
    """Another run of the incident is doing this step right now."""


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
        """The incident's steps (not their parts), by key."""
        records = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={
                ":pk": ser_value(incident_pk(incident_id)),
                ":s": ser_value("STEP#"),
            },
            ConsistentRead=True,
        )
        # `step#part` records are a step's progress (the summary posted, before the pin)
        return {r["step"]: r for r in records if "#" not in r["step"]}

    def claim(self, incident_id: str, step: str, owner: str) -> dict[str, Any] | None:
        """Take the step before doing it. Returns the record if it is done already (nothing
        to do), None once claimed. A step another run holds (its lease running) raises
        StepBusy: retry later; the same owner (a retried task) takes it back at once, and a
        crashed owner's lease runs out after LEASE_SECONDS."""
        now = int(time.time())
        item = {
            **self._key(incident_id, step),
            "type": "step",
            "step": step,
            "state": "running",
            "owner": owner,
            "lease_until": now + LEASE_SECONDS,
            "at": iso(utcnow()),
        }
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=ser(item),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (#s <> :done AND "
                    "(#s <> :running OR #o = :owner OR lease_until < :now))"
                ),
                ExpressionAttributeNames={"#s": "state", "#o": "owner"},
                ExpressionAttributeValues={
                    ":done": ser_value("done"),
                    ":running": ser_value("running"),
                    ":owner": ser_value(owner),
                    ":now": ser_value(now),
                },
            )
            return None
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
        found = self.get(incident_id, step)
        if found and found.get("state") == "done":
            return found
        holder = (found or {}).get("owner", "another run")
        raise StepBusy(f"step {step} is being done by {holder}; retry shortly")

    def finished(
        self, incident_id: str, step: str, data: dict[str, Any], skipped: bool = False
    ) -> dict[str, Any]:
        """Record a step's result. A skipped step (what it needed did not exist) is not done:
        a later run does it when it can. The first success recorded wins."""
        if not skipped:
            return self.completed(incident_id, step, data)
        item = self._record(incident_id, step, "skipped", data)
        if self._put_unless_done(item):
            return item
        return self.get(incident_id, step) or item

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
        """Record a failure unless the step succeeded meanwhile (then None). Recording the
        same failure again keeps its first time (one timeline event)."""
        item = self._record(incident_id, step, "failed", data)
        earlier = self.get(incident_id, step)
        if (
            earlier
            and earlier.get("state") == "failed"
            and earlier.get("error") == data.get("error")
        ):
            item["at"] = earlier["at"]
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
