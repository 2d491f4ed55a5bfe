"""New Relic workflow webhook, default payload (one issue per delivery).

https://docs.newrelic.com/docs/alerts/get-notified/notification-integrations/#webhook

- fingerprint: the issue `id`; the same issue is re-sent as it changes state;
- status: CREATED, ACTIVATED, ACKNOWLEDGED are firing (an acknowledged issue is still open),
  CLOSED is resolved;
- severity hint: `priority` (CRITICAL, HIGH, MEDIUM, LOW).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus
from tocsin.sources.base import Identifier, SourceResult, VendorTime, validate

SOURCE = "newrelic"


class NewRelicIssue(BaseModel):
    id: Identifier
    title: str = Field(min_length=1)
    state: Literal["CREATED", "ACTIVATED", "ACKNOWLEDGED", "CLOSED"]
    priority: str | None = None
    issueUrl: str | None = None
    impactedEntities: list[str] = Field(default_factory=list)
    alertPolicyNames: list[str] = Field(default_factory=list)
    alertConditionNames: list[str] = Field(default_factory=list)
    createdAt: VendorTime = None
    updatedAt: VendorTime = None


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    issue = validate(SOURCE, NewRelicIssue, body)
    closed = issue.state == "CLOSED"
    labels = {
        "impacted_entities": ",".join(issue.impactedEntities),
        "alert_policy_names": ",".join(issue.alertPolicyNames),
        "alert_condition_names": ",".join(issue.alertConditionNames),
    }
    alert = Alert(
        source=SOURCE,
        fingerprint=issue.id,
        status=AlertStatus.RESOLVED if closed else AlertStatus.FIRING,
        title=issue.title,
        labels={key: value for key, value in labels.items() if value},
        severity_hint=issue.priority or None,
        started_at=issue.createdAt,
        ended_at=issue.updatedAt if closed else None,
        links=AlertLinks(source=issue.issueUrl or None),
    )
    return SourceResult(alerts=[alert])
