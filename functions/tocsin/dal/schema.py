"""The single-table layout, as data: the CDK stack and the local mode both build from it.

Items (pk / sk):
- INC#<id> / META                      the incident (gsi1..gsi4 keys for listing)
- INC#<id> / TL#<time>#<event id>      a timeline event
- INC#<id> / ALERT#<source>#<fp>       an alert of the incident (status, counts)
- ALERT#<source>#<fp> / DEDUP          dedup record: last state, delivery counter, incident
- GROUP#<group key> / OPEN             the one open incident of a group (created conditionally)
- COUNTER#incident / COUNTER           atomic incident number counter
- TOKEN#<integration> / TOKEN          sha256 of an integration's bearer token
- MAINT#window / <id>                  runtime maintenance window
- QUARANTINE / <time>#<id>             index of quarantined payloads (body in S3)
- REF#<number> / INCIDENT              INC-<number> -> incident id (written when numbered)
- CHANNEL#<provider>#<id> / INCIDENT   an incident channel -> its incident (chat-ops)
- CHATDRAFT#<id> / DRAFT               a chat-ops preview waiting for Publish/Cancel (TTL)
- INC#<id> / ACTION#<action id>        an action item of the incident
- CHATEVENT#<provider>#<id> / RECEIPT  a chat event delivery accepted / queued (TTL)
- RBUSE#<incident id> / RB#<runbook>   a runbook suggested/opened/voted on in an incident
- RBUSE#<incident id> / VOTE#<rb>#<who> one person's helpful/not helpful vote
- RBSTATS / <runbook id>               a runbook's usage counters (dal/runbooks.py)
"""

from __future__ import annotations

from dataclasses import dataclass

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str


#: Listing incidents never scans: one GSI per filter dimension, all sorted by creation time.
INDEXES: tuple[Index, ...] = (
    Index("by_status", "gsi1pk", "gsi1sk"),
    Index("by_service", "gsi2pk", "gsi2sk"),
    Index("by_severity", "gsi3pk", "gsi3sk"),
    Index("by_created", "gsi4pk", "gsi4sk"),
)
INDEX_BY_NAME = {index.name: index for index in INDEXES}
