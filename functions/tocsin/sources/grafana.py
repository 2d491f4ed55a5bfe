"""Grafana: unified alerting webhook contact point, and Grafana OnCall's formatted webhook.

Chosen by shape:

- a body with `alerts`: Grafana's webhook contact point, the Alertmanager v4 shape plus
  `orgId`, per-alert `values`, `imageURL`, `panelURL`, `dashboardURL`
  (https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/).
  Normalized as Alertmanager alerts; `imageURL` becomes an image and `panelURL` (else
  `dashboardURL`) the dashboard link unless an annotation already names one.
- a body with `alert_uid` / `title`: Grafana OnCall's "formatted webhook" inbound format;
  fingerprint `alert_uid` (else a hash of the title), resolved when `state` is "ok".
- Grafana OnCall's *outgoing* webhook data (`event` + `alert_group`) is OnCall telling
  another system what happened to one of its alert groups; it is not an alert and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources.alertmanager import AlertmanagerAlert, to_alert
from tocsin.sources.base import SourceResult, validate

SOURCE = "grafana"


class GrafanaAlert(AlertmanagerAlert):
    imageURL: str = ""
    panelURL: str = ""
    dashboardURL: str = ""


class GrafanaPayload(BaseModel):
    groupKey: str | None = None
    alerts: list[GrafanaAlert] = Field(min_length=1)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class FormattedWebhook(BaseModel):
    title: str = Field(min_length=1)
    alert_uid: str | None = Field(default=None, min_length=1, max_length=255)
    state: Annotated[Literal["alerting", "ok"], BeforeValidator(_lower)] = "alerting"
    message: str = ""
    image_url: str | None = None
    link_to_upstream_details: str | None = None


def _grafana_alert(payload: GrafanaPayload, alert: GrafanaAlert) -> Alert:
    normalized = to_alert(SOURCE, payload.groupKey, alert)
    links = normalized.links.model_copy(
        update={
            "dashboard": normalized.links.dashboard or alert.panelURL or alert.dashboardURL or None,
            "images": (alert.imageURL,) if alert.imageURL else (),
        }
    )
    return normalized.model_copy(update={"links": links})


def _formatted_alert(hook: FormattedWebhook) -> Alert:
    return Alert(
        source=SOURCE,
        fingerprint=hook.alert_uid or stable_fingerprint(hook.title),
        status=AlertStatus.RESOLVED if hook.state == "ok" else AlertStatus.FIRING,
        title=hook.title,
        description=hook.message,
        links=AlertLinks(
            source=hook.link_to_upstream_details or None,
            images=(hook.image_url,) if hook.image_url else (),
        ),
    )


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    if not isinstance(body, dict) or "alerts" in body:
        payload = validate(SOURCE, GrafanaPayload, body)
        return SourceResult(alerts=[_grafana_alert(payload, a) for a in payload.alerts])
    if "alert_group" in body and "event" in body:
        raise PayloadFormatError(
            SOURCE,
            "event, alert_group: this is Grafana OnCall outgoing-webhook data (what happened to"
            " an OnCall alert group), not an alert; send alerts from a Grafana webhook contact"
            " point or in OnCall's formatted-webhook format (alert_uid, title, state)",
        )
    if "alert_uid" in body or "title" in body:
        return SourceResult(alerts=[_formatted_alert(validate(SOURCE, FormattedWebhook, body))])
    raise PayloadFormatError(
        SOURCE,
        "body: neither a Grafana alerting webhook (no 'alerts') nor a Grafana OnCall"
        " formatted webhook (no 'alert_uid' or 'title')",
    )
