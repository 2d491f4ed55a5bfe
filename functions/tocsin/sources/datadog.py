"""Datadog webhooks (integration "Webhooks"): the default payload or a custom one.

Default payload: body, last_updated, event_type, title, date, org, id
(https://docs.datadoghq.com/integrations/webhooks/). Custom payloads may add
`transition`/`alert_transition` ($ALERT_TRANSITION), `aggregate`/`aggreg_key` ($AGGREG_KEY),
`alert_id` ($ALERT_ID, the monitor id), `alert_scope` ($ALERT_SCOPE),
`alert_priority` ($ALERT_PRIORITY) and `tags` ($TAGS).

- status: the transition field, else the title prefix ("[Triggered] ...",
  "[P1] [Recovered on {host:a}] ..."); Recovered is resolved, every other transition firing;
- fingerprint: the aggregation key, else monitor id (`alert_id`, else the id in the body's
  monitor link) + scope, else a hash of the title without its transition prefix. Never the
  event `id`, which is new on every delivery;
- a payload whose fields still hold `$VARIABLES` is the payload *template*, not a delivery.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources.base import Identifier, SourceResult, VendorTime, validate

SOURCE = "datadog"

_TRANSITIONS = {
    "triggered": AlertStatus.FIRING,
    "re-triggered": AlertStatus.FIRING,
    "warn": AlertStatus.FIRING,
    "re-warn": AlertStatus.FIRING,
    "no data": AlertStatus.FIRING,
    "re-no data": AlertStatus.FIRING,
    "renotify": AlertStatus.FIRING,
    "recovered": AlertStatus.RESOLVED,
}
_TITLE_PREFIX = re.compile(
    r"^\s*(?:\[(?P<priority>P[1-5])\]\s*)?"
    r"\[(?P<transition>" + "|".join(re.escape(t) for t in _TRANSITIONS) + r")"
    r"(?: on (?P<scope>[^\]]*))?\]\s*",
    re.IGNORECASE,
)
_UNRENDERED = re.compile(r"\$[A-Z][A-Z0-9_]*")
_MONITOR_STATUS_LINK = re.compile(r"\[Monitor Status\]\((?P<url>[^)\s]+)\)")
_MONITOR_URL = re.compile(r"https://[^\s()\[\]]+/monitors[#/](?P<id>\d+)[^\s()\[\]]*")
_SNAPSHOT = re.compile(r"https://p\.[\w.-]*datadoghq\.[a-z]+/snapshot/[^\s()\[\]]+?\.png")
#: the fields parse() reads; an unrendered `$VARIABLE` in any of them is refused
_READ_FIELDS = (
    "title", "body", "date", "last_updated", "transition", "alert_transition", "aggregate",
    "aggreg_key", "alert_id", "monitor_id", "alert_scope", "scope", "alert_priority",
    "priority", "tags",
)  # fmt: skip


def _split_tags(value: Any) -> Any:
    return value.split(",") if isinstance(value, str) else value


class DatadogWebhook(BaseModel):
    title: str = Field(min_length=1)
    body: str = ""
    date: VendorTime = None
    last_updated: VendorTime = None
    transition: str | None = None
    alert_transition: str | None = None
    aggregate: str | None = Field(default=None, max_length=255)
    aggreg_key: str | None = Field(default=None, max_length=255)
    alert_id: Identifier | None = None
    monitor_id: Identifier | None = None
    alert_scope: str | None = None
    scope: str | None = None
    alert_priority: str | None = None
    priority: str | None = None
    tags: Annotated[list[str], BeforeValidator(_split_tags)] = Field(default_factory=list)


def _unrendered(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    found = []
    for name in _READ_FIELDS:
        values = body.get(name)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and _UNRENDERED.fullmatch(value.strip()):
                found.append(f"{name}={value.strip()}")
    return found


def _status(hook: DatadogWebhook, prefix: re.Match[str] | None) -> AlertStatus:
    for name in ("transition", "alert_transition"):
        value = getattr(hook, name)
        if value:
            try:
                return _TRANSITIONS[value.strip().lower()]
            except KeyError:
                raise PayloadFormatError(
                    SOURCE, f"{name}: unknown Datadog alert transition {value!r}"
                ) from None
    if prefix:
        return _TRANSITIONS[prefix["transition"].lower()]
    raise PayloadFormatError(
        SOURCE,
        "transition: missing, and the title has no [Triggered]/[Recovered] prefix; add"
        ' "transition": "$ALERT_TRANSITION" to the webhook payload',
    )


def _normalized_scope(scope: str) -> str:
    tags = (tag.strip() for tag in scope.strip().strip("{}").split(","))
    return ",".join(sorted(tag for tag in tags if tag))


def _labels(tags: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for tag in tags:
        key, _, value = tag.strip().partition(":")
        if key:
            labels[key] = value
    return labels


def _monitor_url(body: str) -> str | None:
    status_link = _MONITOR_STATUS_LINK.search(body)
    if status_link:
        return status_link["url"]
    any_link = _MONITOR_URL.search(body)
    return any_link[0] if any_link else None


def _fingerprint(hook: DatadogWebhook, title: str, scope: str, monitor_url: str | None) -> str:
    key = hook.aggregate or hook.aggreg_key
    if not key:
        url_id = _MONITOR_URL.search(monitor_url or "")
        monitor_id = hook.alert_id or hook.monitor_id or (url_id["id"] if url_id else None)
        if monitor_id:
            key = stable_fingerprint("datadog-monitor", monitor_id, scope)
        else:
            key = stable_fingerprint(title, scope)
    # a "Test Notification" ("[TEST] ...") must not fire or resolve the monitor's real alert
    return stable_fingerprint("datadog-test", key) if title.startswith("[TEST]") else key


def _severity(hook: DatadogWebhook, prefix: re.Match[str] | None) -> str | None:
    if hook.alert_priority:
        return hook.alert_priority
    if hook.priority and re.fullmatch(r"P[1-5]", hook.priority):  # else the event priority
        return hook.priority
    return prefix["priority"].upper() if prefix and prefix["priority"] else None


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    unrendered = _unrendered(body)
    if unrendered:
        raise PayloadFormatError(
            SOURCE,
            f"template variables were not rendered ({', '.join(unrendered)}): this is the"
            " webhook's payload template, not a notification sent by Datadog",
        )
    hook = validate(SOURCE, DatadogWebhook, body)
    prefix = _TITLE_PREFIX.match(hook.title)
    status = _status(hook, prefix)
    title = (hook.title[prefix.end() :].strip() if prefix else "") or hook.title
    title_scope = prefix["scope"] if prefix and prefix["scope"] else ""
    scope = _normalized_scope(hook.alert_scope or hook.scope or title_scope)
    monitor_url = _monitor_url(hook.body)
    when = hook.date or hook.last_updated
    alert = Alert(
        source=SOURCE,
        fingerprint=_fingerprint(hook, title, scope, monitor_url),
        status=status,
        title=title,
        description=re.sub(r"^\s*%%%\s*|\s*%%%\s*$", "", hook.body),
        labels=_labels(hook.tags),
        severity_hint=_severity(hook, prefix),
        started_at=when if status is AlertStatus.FIRING else None,
        ended_at=when if status is AlertStatus.RESOLVED else None,
        links=AlertLinks(
            source=monitor_url, images=tuple(dict.fromkeys(_SNAPSHOT.findall(hook.body)))
        ),
    )
    return SourceResult(alerts=[alert])
