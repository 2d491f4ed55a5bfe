"""How runbooks are used: suggested, opened, voted on (single table).

Items (pk / sk):
- RBUSE#<incident id> / RB#<runbook id>            a runbook in an incident: when suggested (with
                                                   score and reasons), opens, votes
- RBUSE#<incident id> / VOTE#<runbook id>#<who>    one person's vote (helpful or not)
- RBSTATS / <runbook id>                           counters of a runbook over all incidents

The counters live in one partition so the staleness report reads them with one query, however
many runbooks there are. "Suggested" is written once per incident (a conditional put in the
same transaction as the counter and the timeline event); a vote replaces the same person's
earlier vote, moving the counters by the difference (optimistic: the earlier vote is part of
the condition).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tocsin.dal import schema
from tocsin.dal.aws import client
from tocsin.dal.dynamo import (
    cancellation_codes,
    deser,
    query_all,
    ser,
    ser_value,
)
from tocsin.dal.incidents import timeline_put
from tocsin.domain.clock import iso
from tocsin.domain.runbooks import RunbookStats
from tocsin.domain.timeline import TimelineEvent

STATS_PK = "RBSTATS"
VOTE_ATTEMPTS = 5


def use_pk(incident_id: str) -> str:
    return f"RBUSE#{incident_id}"


class VoteConflictError(Exception):
    """The same person's vote changed while it was being replaced: read it again."""


class RunbookStore:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def _key(self, incident_id: str, sk: str) -> dict[str, Any]:
        return ser({schema.PK: use_pk(incident_id), schema.SK: sk})

    def _stats_update(self, runbook_id: str, expression: str, values: dict[str, Any]) -> Any:
        return {
            "Update": {
                "TableName": self.table,
                "Key": ser({schema.PK: STATS_PK, schema.SK: runbook_id}),
                "UpdateExpression": expression,
                "ExpressionAttributeValues": {k: ser_value(v) for k, v in values.items()},
            }
        }

    def record_suggested(
        self,
        incident_id: str,
        runbook_id: str,
        at: datetime,
        score: float,
        reasons: list[str],
        event: TimelineEvent,
    ) -> bool:
        """Once per incident and runbook: False when it was already recorded."""
        item = {
            schema.PK: use_pk(incident_id),
            schema.SK: f"RB#{runbook_id}",
            "type": "runbook_use",
            "runbook_id": runbook_id,
            "incident_id": incident_id,
            "suggested_at": iso(at),
            "score": round(score, 3),
            "reasons": reasons,
        }
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self._key(incident_id, f"RB#{runbook_id}"),
                            "UpdateExpression": "SET #t = :t, runbook_id = :r, incident_id = :i, "
                            "suggested_at = :at, score = :s, reasons = :why",
                            "ConditionExpression": "attribute_not_exists(suggested_at)",
                            "ExpressionAttributeNames": {"#t": "type"},
                            "ExpressionAttributeValues": {
                                ":t": ser_value(item["type"]),
                                ":r": ser_value(runbook_id),
                                ":i": ser_value(incident_id),
                                ":at": ser_value(item["suggested_at"]),
                                ":s": ser_value(item["score"]),
                                ":why": ser_value(reasons),
                            },
                        }
                    },
                    self._stats_update(
                        runbook_id,
                        "ADD suggested :one SET last_suggested_at = :at",
                        {":one": 1, ":at": iso(at)},
                    ),
                    timeline_put(event, self.table),
                ]
            )
        except ClientError as exc:
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                return False
            raise
        return True

    def record_opened(self, incident_id: str, runbook_id: str, at: datetime) -> bool:
        """Count an open; True for the incident's first open of this runbook."""
        resp = self.ddb.update_item(
            TableName=self.table,
            Key=self._key(incident_id, f"RB#{runbook_id}"),
            UpdateExpression="ADD opened :one SET #t = :t, runbook_id = :r, incident_id = :i, "
            "last_opened_at = :at, first_opened_at = if_not_exists(first_opened_at, :at)",
            ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues={
                ":one": ser_value(1),
                ":t": ser_value("runbook_use"),
                ":r": ser_value(runbook_id),
                ":i": ser_value(incident_id),
                ":at": ser_value(iso(at)),
            },
            ReturnValues="UPDATED_OLD",
        )
        self.ddb.update_item(
            TableName=self.table,
            Key=ser({schema.PK: STATS_PK, schema.SK: runbook_id}),
            UpdateExpression="ADD opened :one SET last_opened_at = :at",
            ExpressionAttributeValues={":one": ser_value(1), ":at": ser_value(iso(at))},
        )
        return "opened" not in resp.get("Attributes", {})

    def vote(
        self, incident_id: str, runbook_id: str, by: str, helpful: bool, at: datetime
    ) -> bool | None:
        """Record `by`'s vote; returns their previous vote (None: first vote). Re-reads and
        retries when the same person voted concurrently."""
        for _ in range(VOTE_ATTEMPTS):
            try:
                return self._vote_once(incident_id, runbook_id, by, helpful, at)
            except VoteConflictError:
                continue
        raise VoteConflictError(f"vote of {by!r} on {runbook_id!r} kept changing")

    def _vote_once(
        self, incident_id: str, runbook_id: str, by: str, helpful: bool, at: datetime
    ) -> bool | None:
        key = self._key(incident_id, f"VOTE#{runbook_id}#{by}")
        resp = self.ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        previous = deser(resp["Item"]).get("helpful") if "Item" in resp else None
        if previous == helpful:
            return previous
        delta = {"helpful": 0, "unhelpful": 0}
        delta["helpful" if helpful else "unhelpful"] += 1
        if previous is not None:
            delta["unhelpful" if helpful else "helpful"] -= 1
        counters = "ADD helpful :h, unhelpful :u"
        values = {":h": delta["helpful"], ":u": delta["unhelpful"], ":at": iso(at)}
        if previous is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "helpful = :prev",
                "ExpressionAttributeValues": {":prev": ser_value(previous)},
            }
        vote_item = {
            schema.PK: use_pk(incident_id),
            schema.SK: f"VOTE#{runbook_id}#{by}",
            "type": "runbook_vote",
            "runbook_id": runbook_id,
            "by": by,
            "helpful": helpful,
            "at": iso(at),
        }
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table, "Item": ser(vote_item), **condition}},
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": self._key(incident_id, f"RB#{runbook_id}"),
                            "UpdateExpression": f"{counters} SET #t = :t, runbook_id = :r, "
                            "incident_id = :i, last_feedback_at = :at",
                            "ExpressionAttributeNames": {"#t": "type"},
                            "ExpressionAttributeValues": {
                                **{k: ser_value(v) for k, v in values.items()},
                                ":t": ser_value("runbook_use"),
                                ":r": ser_value(runbook_id),
                                ":i": ser_value(incident_id),
                            },
                        }
                    },
                    self._stats_update(
                        runbook_id, f"{counters} SET last_feedback_at = :at", values
                    ),
                ]
            )
        except ClientError as exc:
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                raise VoteConflictError(by) from None
            raise
        return previous

    def uses(self, incident_id: str) -> list[dict[str, Any]]:
        """The runbooks of an incident (suggested, opened or voted on)."""
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :rb)",
            ExpressionAttributeValues={
                ":pk": ser_value(use_pk(incident_id)),
                ":rb": ser_value("RB#"),
            },
        )
        return [{k: v for k, v in item.items() if k not in ("pk", "sk", "type")} for item in items]

    def stats(self) -> dict[str, RunbookStats]:
        """Every runbook's counters (one query: they share a partition)."""
        items = query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ser_value(STATS_PK)},
        )
        return {
            item["sk"]: RunbookStats.model_validate(
                {k: v for k, v in item.items() if k in RunbookStats.model_fields}
            )
            for item in items
        }
