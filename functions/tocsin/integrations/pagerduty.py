"""PagerDuty as the paging port: Events API v2 out, V3 webhooks back.

Out: every page is one alert event (`POST /v2/enqueue`) on the service whose Events API v2
integration key (`routing_key`) is in the secret. The event's `dedup_key` is the page's key,
so a page sent twice (a retried step) is one alert, and `acknowledge` / `resolve` send the
same key with `event_action: acknowledge | resolve`. PagerDuty answers 202 when it accepted
the event, 400 (with an `errors` list) when the event is invalid, 429 when the routing key is
rate limited and 5xx on its own failures: 429/5xx/timeouts are retryable, the rest permanent.

Back: a V3 webhook subscription (incident.acknowledged, incident.resolved) calls
`POST /v1/webhooks/pagerduty`. Each delivery is signed, `X-PagerDuty-Signature:
v1=<hex HMAC-SHA256(raw body, subscription secret)>[,v1=…]` (several signatures while a secret
is rotated): `verify_signature` checks it, `parse_webhook` reads the event. The incident's
`incident_key` is the dedup_key Tocsin sent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.integrations.http import JsonHttp, clip
from tocsin.integrations.ports import (
    IntegrationError,
    Page,
    PageRef,
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from tocsin.integrations.webhooks import (
    WebhookEvent,
    WebhookKind,
    WebhookPayloadError,
    iso_time,
    load_json_object,
    text,
)

PROVIDER = "pagerduty"
PORT = "paging"
SECRET_KEYS: tuple[str, ...] = ("routing_key",)
#: optional secret key: the V3 subscription's signing secret(s), comma-separated while rotating
WEBHOOK_SECRETS_KEY = "webhook_secrets"
SIGNATURE_HEADER = "X-PagerDuty-Signature"

ENQUEUE = "/v2/enqueue"
#: Events API v2 limits: dedup_key 255 characters, payload.summary 1024
DEDUP_KEY_MAX = 255
SUMMARY_MAX = 1024
#: a 32-character integration key, letters and digits only (PagerDuty checks both)
ROUTING_KEY_LENGTH = 32
#: custom_details.description is cut to this many characters (events are at most 512 KB)
DESCRIPTION_MAX = 10_000
SEVERITIES = ("critical", "error", "warning", "info")
#: signatures read from one header (PagerDuty sends one per active secret)
_MAX_SIGNATURES = 16

_KINDS: dict[str, WebhookKind] = {
    "incident.triggered": "triggered",
    "incident.acknowledged": "acknowledged",
    "incident.unacknowledged": "unacknowledged",
    "incident.resolved": "resolved",
    "incident.reopened": "reopened",
}


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the Events API host (a proxy or a fake in tests)
    base_url: str = "https://events.pagerduty.com"
    #: payload.source: "the unique location of the affected system"; Tocsin by default
    source: str = "tocsin"
    #: payload.component; the page's service when not set
    component: str | None = None
    #: the event's `client` (shown as "View in <client>") and `client_url`
    client: str = "Tocsin"
    client_url: str | None = None
    #: seconds to wait for PagerDuty's answer
    timeout: float = Field(default=10.0, gt=0, le=60)

    @field_validator("base_url", "source", "client")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("client_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


# --- text helpers -----------------------------------------------------------------------------


def one_line(value: str) -> str:
    return " ".join(value.split())


def severity(urgency: str) -> str:
    """payload.severity for a page's urgency; one PagerDuty does not know pages as critical
    (a page that is sent loud beats a page refused)."""
    value = urgency.strip().lower()
    return value if value in SEVERITIES else "critical"


def dedup_key(key: str) -> str:
    """The dedup_key for a page key: the key itself when it fits in 255 characters, else a
    stable shortening (a prefix and the key's SHA-256), so every event of a page agrees."""
    if len(key) <= DEDUP_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: DEDUP_KEY_MAX - len(digest) - 1]}~{digest}"


def _error_text(body: Any) -> str:
    """PagerDuty's error answer `{status, message, errors: [...]}` as one line."""
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("message",) if body.get(k)]
        errors = body.get("errors")
        if isinstance(errors, list):
            parts += [str(e) for e in errors]
        if parts:
            return "; ".join(parts)[:300]
        if body.get("status"):
            return str(body["status"])[:300]
    return str(body)[:300] if body else "no details"


# --- adapter ----------------------------------------------------------------------------------


class PagerDutyPaging:
    provider = PROVIDER

    def __init__(self, options: Options, routing_key: str) -> None:
        self.options = options
        self._routing_key = routing_key
        self._http = JsonHttp(PROVIDER, options.base_url, timeout=options.timeout)

    # --- events -------------------------------------------------------------------------------
    def trigger_event(self, page: Page) -> dict[str, Any]:
        """The Events API v2 trigger event for `page` (without the routing key)."""
        payload: dict[str, Any] = {
            "summary": clip(one_line(page.title) or page.incident_id, SUMMARY_MAX),
            "source": self.options.source,
            "severity": severity(page.urgency),
        }
        component = self.options.component or page.service
        if component:
            payload["component"] = component
        details: dict[str, Any] = {
            "severity": page.severity,
            "service": page.service,
            "incident_id": page.incident_id,
            "level": page.level,
        }
        if page.body.strip():
            details["description"] = clip(page.body.strip(), DESCRIPTION_MAX)
        if page.details:
            details["details"] = dict(page.details)
        payload["custom_details"] = details
        event: dict[str, Any] = {
            "event_action": "trigger",
            "dedup_key": dedup_key(page.key),
            "payload": payload,
            "client": self.options.client,
        }
        if self.options.client_url:
            event["client_url"] = self.options.client_url
        links = [{"href": link.url, "text": link.label or link.url} for link in page.links]
        if page.ack_url:
            links.append({"href": page.ack_url, "text": "Acknowledge in Tocsin"})
        if links:
            event["links"] = links
        return event

    def _enqueue(self, event: dict[str, Any]) -> dict[str, Any]:
        body = {"routing_key": self._routing_key, **event}
        # every 4xx but 429 comes back so that PagerDuty's `errors` can be told
        client_errors = tuple(s for s in range(400, 500) if s != 429)
        try:
            resp = self._http.post(ENQUEUE, body, ok=client_errors)
        except RetryableIntegrationError as exc:
            raise RetryableIntegrationError(
                PROVIDER, self._masked(exc.message), exc.status, exc.retry_after
            ) from None
        except IntegrationError as exc:
            raise PermanentIntegrationError(
                PROVIDER, self._masked(exc.message), exc.status
            ) from None
        if resp.status >= 400:
            text_ = self._masked(_error_text(resp.body))
            raise PermanentIntegrationError(
                PROVIDER,
                f"POST {ENQUEUE} ({event['event_action']}) -> {resp.status}: {text_}",
                resp.status,
            )
        return resp.body if isinstance(resp.body, dict) else {}

    def _masked(self, message: str) -> str:
        return message.replace(self._routing_key, "***") if self._routing_key else message

    # --- port ---------------------------------------------------------------------------------
    def send(self, page: Page, to: str | None = None) -> PageRef:
        """Trigger (or re-trigger) the alert for `page`. `to` is ignored: PagerDuty routes by
        the routing key's service and its escalation policy."""
        event = self.trigger_event(page)
        answer = self._enqueue(event)
        key = answer.get("dedup_key")
        return PageRef(
            PROVIDER, key if isinstance(key, str) and key else event["dedup_key"], PROVIDER
        )

    def acknowledge(self, page: Page) -> None:
        self._enqueue({"event_action": "acknowledge", "dedup_key": dedup_key(page.key)})

    def resolve(self, page: Page) -> None:
        self._enqueue({"event_action": "resolve", "dedup_key": dedup_key(page.key)})


def build(options: Options, secret: Mapping[str, str]) -> PagerDutyPaging:
    routing_key = (secret.get("routing_key") or "").strip()
    if not routing_key:
        raise PermanentIntegrationError(PROVIDER, "secret lacks 'routing_key'")
    if len(routing_key) != ROUTING_KEY_LENGTH or not routing_key.isalnum():
        raise PermanentIntegrationError(
            PROVIDER,
            "secret's routing_key is not an Events API v2 integration key (32 letters and digits)",
        )
    return PagerDutyPaging(options, routing_key)


# --- webhooks ---------------------------------------------------------------------------------


def webhook_secrets(secret: Mapping[str, str]) -> list[str]:
    """The signing secrets in the integration's secret: `webhook_secrets`, comma-separated
    (two while a subscription's secret is rotated)."""
    raw = secret.get(WEBHOOK_SECRETS_KEY) or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def sign(body: bytes, secret: str) -> str:
    """The `v1=<hex>` signature PagerDuty computes for `body` with `secret`."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True when one of the header's `v1=` signatures is the HMAC-SHA256 of the raw body
    under one of `secrets` (any of several, for rotation). Constant-time comparisons; False
    without a header or a secret."""
    if not header:
        return False
    keys = [s.strip() for s in secrets if s and s.strip()]
    if not keys:
        return False
    presented = [
        part.strip()[3:].lower()
        for part in header.split(",")[:_MAX_SIGNATURES]
        if part.strip().startswith("v1=")
    ]
    if not presented:
        return False
    valid = False
    for key in keys:
        expected = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        for candidate in presented:
            valid |= hmac.compare_digest(expected.encode(), candidate.encode())
    return valid


def parse_webhook(body: bytes) -> WebhookEvent | None:
    """A V3 webhook delivery as a WebhookEvent; None for events that are not about an
    incident (the `pagey.ping` test delivery, service.* events). Incident events Tocsin does
    not act on (priority_updated, annotated, …) have kind "other". A body that is not the
    V3 format raises WebhookPayloadError."""
    payload = load_json_object(PROVIDER, body)
    event = payload.get("event")
    if not isinstance(event, dict):
        raise WebhookPayloadError(PROVIDER, "event: a V3 webhook carries one event object")
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookPayloadError(PROVIDER, "event.event_type: missing")
    if not event_type.startswith("incident."):
        return None
    data = event.get("data")
    if not isinstance(data, dict):
        raise WebhookPayloadError(PROVIDER, "event.data: an incident event needs a data object")
    if data.get("type") == "incident":
        incident: dict[str, Any] = data
    else:  # incident_note, incident_responder, incident_status_update: a reference
        ref = data.get("incident")
        incident = ref if isinstance(ref, dict) else {}
    agent = event.get("agent")
    actor = None
    if isinstance(agent, dict):
        actor = text(agent.get("summary")) or text(agent.get("email")) or text(agent.get("id"))
    return WebhookEvent(
        kind=_KINDS.get(event_type, "other"),
        incident_key=text(incident.get("incident_key")),
        vendor_incident_id=text(incident.get("id")),
        actor=actor,
        occurred_at=iso_time(event.get("occurred_at")),
        event_id=text(event.get("id")),
        provider=PROVIDER,
        vendor_event=event_type,
    )
