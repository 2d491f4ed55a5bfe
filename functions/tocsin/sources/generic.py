"""Tocsin's own alert format (docs/generic-alert-format.md).

A single alert object, or {"alerts": [alert, ...]}. Unknown keys are refused so typos
("dedupe_key", "lables") are reported instead of silently ignored.

- fingerprint: `dedup_key`, else a hash of the title and the sorted labels;
- group key: `group_key` when given;
- resolved when `status` is "resolved" (default "firing").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.sources.base import LabelText, SourceResult, VendorTime, validate

SOURCE = "generic"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _http_url(value: str) -> str:
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


Url = Annotated[str, AfterValidator(_http_url)]


class GenericLinks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Url | None = None
    runbook: Url | None = None
    dashboard: Url | None = None
    images: list[Url] = Field(default_factory=list)


class GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, AfterValidator(_not_blank)]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    status: Literal["firing", "resolved"] = "firing"
    severity: str | None = None
    description: str = ""
    labels: dict[str, LabelText] = Field(default_factory=dict)
    group_key: str | None = Field(default=None, min_length=1)
    started_at: VendorTime = None
    ended_at: VendorTime = None
    links: GenericLinks = GenericLinks()


class GenericBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[GenericAlert] = Field(min_length=1)


def _to_alert(alert: GenericAlert) -> Alert:
    default_key = stable_fingerprint(alert.title, sorted(alert.labels.items()))
    return Alert(
        source=SOURCE,
        fingerprint=alert.dedup_key or default_key,
        group_key=alert.group_key,
        status=AlertStatus(alert.status),
        title=alert.title,
        description=alert.description,
        labels=alert.labels,
        severity_hint=alert.severity or None,
        started_at=alert.started_at,
        ended_at=alert.ended_at,
        links=AlertLinks(
            source=alert.links.source,
            runbook=alert.links.runbook,
            dashboard=alert.links.dashboard,
            images=tuple(alert.links.images),
        ),
    )


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    if isinstance(body, dict) and "alerts" in body:
        alerts = validate(SOURCE, GenericBatch, body).alerts
    else:
        alerts = [validate(SOURCE, GenericAlert, body)]
    return SourceResult(alerts=[_to_alert(alert) for alert in alerts])
