"""The normalized alert: what every source module turns its payload into."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tocsin.domain.alert_identity import AlertStatus, stable_fingerprint

__all__ = ["Alert", "AlertLinks", "AlertStatus", "stable_fingerprint"]


class AlertLinks(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str | None = None
    runbook: str | None = None
    dashboard: str | None = None
    images: tuple[str, ...] = ()


class Alert(BaseModel):
    """One alert instance, normalized.

    `fingerprint` identifies the alert across deliveries (same fingerprint + same status is
    a re-delivery). `group_key` is the source's own grouping (an Alertmanager groupKey), or
    None to let the configured grouping rules decide.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    fingerprint: str = Field(min_length=1, max_length=255)
    group_key: str | None = None
    status: AlertStatus
    title: str = Field(min_length=1)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    severity_hint: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    links: AlertLinks = AlertLinks()
    raw_ref: str | None = None

    def with_raw_ref(self, ref: str) -> Alert:
        return self.model_copy(update={"raw_ref": ref})
