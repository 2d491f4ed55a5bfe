"""Prometheus Alertmanager webhook, version 4.

Format: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config

- one Alert per entry of `alerts` (a non-empty list);
- fingerprint: the alert's `fingerprint`, else a stable hash of its sorted labels;
- group key: the payload's `groupKey`;
- resolved when the alert's own `status` is "resolved".

Grafana's webhook contact point sends the same shape (see `tocsin.sources.grafana`), so the
per-alert normalization is exposed as `to_alert`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.sources.base import LabelText, SourceResult, VendorTime, validate

SOURCE = "alertmanager"


class AlertmanagerAlert(BaseModel):
    status: Literal["firing", "resolved"]
    labels: dict[str, LabelText] = Field(min_length=1)
    annotations: dict[str, LabelText] = Field(default_factory=dict)
    startsAt: VendorTime = None
    endsAt: VendorTime = None
    generatorURL: str = ""
    fingerprint: str | None = Field(default=None, max_length=255)


class AlertmanagerPayload(BaseModel):
    groupKey: str | None = None
    alerts: list[AlertmanagerAlert] = Field(min_length=1)


def _first(mapping: Mapping[str, str], *keys: str) -> str | None:
    return next((mapping[key] for key in keys if mapping.get(key, "").strip()), None)


def to_alert(source: str, group_key: str | None, alert: AlertmanagerAlert) -> Alert:
    labels = dict(alert.labels)
    notes = alert.annotations
    rendered = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return Alert(
        source=source,
        fingerprint=alert.fingerprint or stable_fingerprint(sorted(labels.items())),
        group_key=group_key or None,
        status=AlertStatus(alert.status),
        title=_first(notes, "summary") or _first(labels, "alertname") or f"{{{rendered}}}",
        description=notes.get("description", ""),
        labels=labels,
        severity_hint=_first(labels, "severity"),
        started_at=alert.startsAt,
        ended_at=alert.endsAt,
        links=AlertLinks(
            source=alert.generatorURL or None,
            runbook=_first(notes, "runbook_url", "runbook"),
            dashboard=_first(notes, "dashboard_url", "dashboard"),
        ),
    )


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    payload = validate(SOURCE, AlertmanagerPayload, body)
    return SourceResult(alerts=[to_alert(SOURCE, payload.groupKey, a) for a in payload.alerts])
