"""Sentry integration-platform webhooks: issue alerts and metric alerts.

https://docs.sentry.io/organization/integrations/integration-platform/webhooks/
The `sentry-hook-resource` header names the kind; without it the body's shape decides.

- `event_alert` (an issue alert rule fired, action "triggered"): always firing;
  fingerprint "issue:<issue id>" so every event of one issue is the same alert;
- `metric_alert` (action critical|warning|resolved): fingerprint "metric_alert:<id>", the id
  of the metric alert incident, which stays the same from critical to resolved;
- `installation` webhooks carry no alert and are ignored; other resources are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources.base import Identifier, SourceResult, VendorTime, validate

SOURCE = "sentry"

_ISSUE_ID_IN_URL = re.compile(r"/issues/(\d+)/")


class SentryEvent(BaseModel):
    title: str = Field(min_length=1)
    issue_id: Identifier | None = None
    issue_url: str | None = None
    web_url: str | None = None
    level: str | None = None
    culprit: str | None = None
    datetime: VendorTime = None
    project: Identifier | None = None
    tags: list[tuple[str, str | None]] = Field(default_factory=list)


class EventAlertData(BaseModel):
    event: SentryEvent
    triggered_rule: str = ""


class EventAlert(BaseModel):
    action: Literal["triggered"]
    data: EventAlertData


class AlertRule(BaseModel):
    name: str = ""


class MetricAlertIncident(BaseModel):
    id: Identifier
    title: str = ""
    alert_rule: AlertRule = AlertRule()
    date_started: VendorTime = None
    date_detected: VendorTime = None
    date_closed: VendorTime = None
    projects: list[str] = Field(default_factory=list)


class MetricAlertData(BaseModel):
    metric_alert: MetricAlertIncident
    description_title: str = ""
    description_text: str = ""
    web_url: str | None = None


class MetricAlert(BaseModel):
    action: Literal["critical", "warning", "resolved"]
    data: MetricAlertData


def _event_alert(body: Any) -> Alert:
    hook = validate(SOURCE, EventAlert, body)
    event = hook.data.event
    in_url = _ISSUE_ID_IN_URL.search(event.issue_url or "")
    issue_id = event.issue_id or (in_url[1] if in_url else None)
    if not issue_id:
        raise PayloadFormatError(
            SOURCE, "data.event.issue_id: missing (and no issue id in data.event.issue_url)"
        )
    labels = {key: value for key, value in event.tags if value is not None}
    if event.project:
        labels["project_id"] = event.project
    details = [f"Alert rule: {hook.data.triggered_rule}" if hook.data.triggered_rule else ""]
    details.append(f"Culprit: {event.culprit}" if event.culprit else "")
    return Alert(
        source=SOURCE,
        fingerprint=f"issue:{issue_id}",
        status=AlertStatus.FIRING,
        title=event.title,
        description="\n".join(line for line in details if line),
        labels=labels,
        severity_hint=event.level or None,
        started_at=event.datetime,
        links=AlertLinks(source=event.web_url or event.issue_url or None),
    )


def _metric_alert(body: Any) -> Alert:
    hook = validate(SOURCE, MetricAlert, body)
    incident = hook.data.metric_alert
    resolved = hook.action == "resolved"
    labels = {"alert_rule": incident.alert_rule.name, "projects": ",".join(incident.projects)}
    return Alert(
        source=SOURCE,
        fingerprint=f"metric_alert:{incident.id}",
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        title=incident.alert_rule.name
        or incident.title
        or hook.data.description_title
        or f"Sentry metric alert {incident.id}",
        description=hook.data.description_text,
        labels={key: value for key, value in labels.items() if value},
        severity_hint=None if resolved else hook.action,
        started_at=incident.date_started or incident.date_detected,
        ended_at=incident.date_closed,
        links=AlertLinks(source=hook.data.web_url or None),
    )


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    resource = headers.get("sentry-hook-resource")
    if resource is None:
        data = body.get("data") if isinstance(body, dict) else None
        resource = "metric_alert" if isinstance(data, dict) and "metric_alert" in data else ""
    if resource == "installation":
        return SourceResult(ignored_reason="Sentry installation webhook (carries no alert)")
    if resource == "metric_alert":
        return SourceResult(alerts=[_metric_alert(body)])
    if resource in ("event_alert", ""):
        return SourceResult(alerts=[_event_alert(body)])
    raise PayloadFormatError(
        SOURCE,
        f"sentry-hook-resource: {resource!r} webhooks are not alerts (expected event_alert"
        " or metric_alert)",
    )
