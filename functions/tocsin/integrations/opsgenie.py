"""Opsgenie (Alert API v2) as the paging port, and its outgoing webhook back.

Out: a page is one alert, `POST /v2/alerts` with `Authorization: GenieKey <API integration
key>`. The alert's `alias` is the page's key: Opsgenie de-duplicates open alerts on it (a
retried step raises the alert's count instead of opening a second one), and acknowledge /
close address the alert by it (`POST /v2/alerts/{alias}/acknowledge?identifierType=alias`,
`.../close?identifierType=alias`). Opsgenie processes these asynchronously: it answers 202
with a `requestId` when the request is valid. 429, 5xx and timeouts are retryable; other 4xx
(401 bad key, 403 not an API integration key, 422 invalid field) are permanent. A 404 on
acknowledge/close (no such alert any more) is not an error.

Back: an Opsgenie Webhook integration posts alert actions (Create, Acknowledge, Close, …) to
`POST /v1/webhooks/opsgenie`. Opsgenie does not sign them; the integration sends a custom
header instead, `X-Tocsin-Token: <the secret's webhook_token>`, which `verify_webhook` checks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tocsin.integrations.http import JsonHttp, Response, clip
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
    epoch_time,
    header,
    load_json_object,
    text,
)

PROVIDER = "opsgenie"
PORT = "paging"
SECRET_KEYS: tuple[str, ...] = ("api_key",)
#: optional secret key: the token the outgoing webhook sends (comma-separated while rotating)
WEBHOOK_TOKEN_KEY = "webhook_token"
#: the custom header the Opsgenie Webhook integration is configured to send
TOKEN_HEADER = "X-Tocsin-Token"

ALERTS = "/v2/alerts"
#: Alert API limits (characters)
MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15_000
ENTITY_MAX = 512
SOURCE_MAX = 100
USER_MAX = 100
NOTE_MAX = 25_000
TAGS_MAX = 20
TAG_MAX = 50
#: all of `details` (keys and values) together
DETAILS_MAX = 8_000

Priority = Literal["P1", "P2", "P3", "P4", "P5"]
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+$")
_RESPONDER_TYPES = ("team", "user", "escalation", "schedule")

_KINDS: dict[str, WebhookKind] = {
    "Create": "triggered",
    "Acknowledge": "acknowledged",
    "UnAcknowledge": "unacknowledged",
    "Close": "resolved",
}


class Responder(BaseModel):
    """Who Opsgenie notifies: a team, user, escalation or schedule, by id or by name (users
    by id or username, their e-mail address)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["team", "user", "escalation", "schedule"]
    id: str | None = None
    name: str | None = None
    username: str | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> Responder:
        given = [k for k in ("id", "name", "username") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of id, name, username")
        if self.type == "user" and self.name:
            raise ValueError("a user responder is given by id or username")
        if self.type != "user" and self.username:
            raise ValueError(f"a {self.type} responder is given by id or name")
        return self

    def as_json(self) -> dict[str, str]:
        out: dict[str, str] = {"type": self.type}
        for key in ("id", "name", "username"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


def _default_priorities() -> dict[str, Priority]:
    return {"SEV1": "P1", "SEV2": "P2", "SEV3": "P3"}


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: https://api.opsgenie.com, or https://api.eu.opsgenie.com for EU accounts
    base_url: str = "https://api.opsgenie.com"
    #: notified on every page (besides the integration's own team)
    responders: list[Responder] = Field(default_factory=list)
    #: Tocsin severity -> Opsgenie priority; a severity not listed leaves Opsgenie's default (P3)
    priorities: dict[str, Priority] = Field(default_factory=_default_priorities)
    #: tags on every alert (the page's severity is added)
    tags: list[str] = Field(default_factory=lambda: ["tocsin"])
    #: the alert's `source`, and the `user` acknowledge/close are done as
    source: str = Field(default="Tocsin", max_length=SOURCE_MAX)
    user: str = Field(default="Tocsin", max_length=USER_MAX)
    #: seconds to wait for Opsgenie's answer
    timeout: float = Field(default=10.0, gt=0, le=60)

    @field_validator("base_url", "source", "user")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        if len(value) >= TAGS_MAX:
            raise ValueError(f"at most {TAGS_MAX - 1} tags (the severity is added)")
        for tag in value:
            if not tag.strip() or len(tag) > TAG_MAX:
                raise ValueError(f"invalid tag {tag!r}: non-empty, at most {TAG_MAX} characters")
        return value


# --- text helpers -----------------------------------------------------------------------------


def alias(key: str) -> str:
    """The alert alias for a page key: the key when it fits in 512 characters, else a stable
    shortening (a prefix and the key's SHA-256)."""
    if len(key) <= ALIAS_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: ALIAS_MAX - len(digest) - 1]}~{digest}"


def mask_email(address: str) -> str:
    """a•••@example.com, for the timeline."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def responder_for(to: str) -> Responder:
    """The responder `to` names: an e-mail address (an Opsgenie user's username), or
    `team:NAME`, `schedule:NAME`, `escalation:NAME`, `user:USERNAME`."""
    value = to.strip()
    if _EMAIL.match(value):
        return Responder(type="user", username=value)
    kind, sep, name = value.partition(":")
    if sep and kind in _RESPONDER_TYPES and name.strip():
        if kind == "user":
            return Responder(type="user", username=name.strip())
        return Responder(type=kind, name=name.strip())  # type: ignore[arg-type]
    raise PermanentIntegrationError(
        PROVIDER,
        "page recipient is neither an e-mail address nor team:/schedule:/escalation:/user:NAME",
    )


def _error_text(body: Any) -> str:
    """Opsgenie's error answer `{message, errors: {field: problem}, code}` as one line."""
    if isinstance(body, dict):
        parts = [str(body["message"])] if body.get("message") else []
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        elif isinstance(errors, list):
            parts += [str(e) for e in errors]
        if body.get("code"):
            parts.append(f"code {body['code']}")
        if parts:
            return "; ".join(parts)[:300]
    return str(body)[:300] if body else "no details"


# --- adapter ----------------------------------------------------------------------------------


class OpsgeniePaging:
    provider = PROVIDER

    def __init__(self, options: Options, api_key: str) -> None:
        self.options = options
        self._api_key = api_key
        self._http = JsonHttp(
            PROVIDER,
            options.base_url,
            auth=lambda: {"Authorization": f"GenieKey {api_key}"},
            timeout=options.timeout,
        )

    def create_alert_body(self, page: Page, to: str | None = None) -> dict[str, Any]:
        """The create-alert request for `page` (and the extra responder `to`)."""
        responders = [r.as_json() for r in self.options.responders]
        if to:
            extra = responder_for(to).as_json()
            if extra not in responders:
                responders.append(extra)
        body: dict[str, Any] = {
            "message": clip(" ".join(page.title.split()) or page.incident_id, MESSAGE_MAX),
            "alias": alias(page.key),
            "description": self._description(page),
            "details": self._details(page),
            "source": self.options.source,
            "user": self.options.user,
            "tags": list(
                dict.fromkeys(t for t in [*self.options.tags, page.severity[:TAG_MAX]] if t)
            )[:TAGS_MAX],
        }
        if responders:
            body["responders"] = responders
        priority = self.options.priorities.get(page.severity)
        if priority:
            body["priority"] = priority
        if page.service:
            body["entity"] = clip(page.service, ENTITY_MAX)
        return body

    @staticmethod
    def _description(page: Page) -> str:
        """The page's text, then its links and the acknowledge link; the text is cut so that
        the links always fit."""
        lines = [f"{link.label or link.url}: {link.url}" for link in page.links]
        if page.ack_url:
            lines.append(f"Acknowledge in Tocsin: {page.ack_url}")
        tail = clip("\n".join(lines), DESCRIPTION_MAX // 2)
        room = DESCRIPTION_MAX - len(tail) - 2
        text_ = clip(page.body.strip(), room) if page.body.strip() else ""
        return "\n\n".join(part for part in (text_, tail) if part)

    @staticmethod
    def _details(page: Page) -> dict[str, str]:
        """Custom properties: incident, severity, service, level, then the page's details, as
        many as fit in Opsgenie's 8000 characters."""
        pairs = [
            ("incident_id", page.incident_id),
            ("severity", page.severity),
            ("service", page.service or ""),
            ("escalation_level", str(page.level)),
            *page.details,
        ]
        out: dict[str, str] = {}
        used = 0
        for key, value in pairs:
            if not key or not value or key in out:
                continue
            value = clip(str(value), 1000)
            if used + len(key) + len(value) > DETAILS_MAX:
                break
            out[key] = value
            used += len(key) + len(value)
        return out

    def _call(
        self, path: str, body: dict[str, Any], query: Mapping[str, str] | None = None
    ) -> Response:
        client_errors = tuple(s for s in range(400, 500) if s != 429)
        try:
            return self._http.request("POST", path, body, query=query, ok=client_errors)
        except RetryableIntegrationError as exc:
            raise RetryableIntegrationError(
                PROVIDER, self._masked(exc.message), exc.status, exc.retry_after
            ) from None
        except IntegrationError as exc:
            raise PermanentIntegrationError(
                PROVIDER, self._masked(exc.message), exc.status
            ) from None

    def _fail(self, what: str, resp: Response) -> PermanentIntegrationError:
        return PermanentIntegrationError(
            PROVIDER,
            f"{what} -> {resp.status}: {self._masked(_error_text(resp.body))}",
            resp.status,
        )

    def _masked(self, message: str) -> str:
        return message.replace(self._api_key, "***") if self._api_key else message

    def _alert_action(self, page: Page, action: str, note: str) -> None:
        path = f"{ALERTS}/{urllib.parse.quote(alias(page.key), safe='')}/{action}"
        body = {"user": self.options.user, "source": self.options.source, "note": note}
        resp = self._call(path, body, {"identifierType": "alias"})
        if resp.status == 404:
            return  # no such alert (any more): nothing to acknowledge or close
        if resp.status >= 400:
            raise self._fail(f"POST {ALERTS}/{{alias}}/{action}", resp)

    # --- port ---------------------------------------------------------------------------------
    def send(self, page: Page, to: str | None = None) -> PageRef:
        """Create (or, same alias, de-duplicate into) the alert for `page`; `to` adds one
        responder: an e-mail address (a user) or team:/schedule:/escalation:/user:NAME."""
        resp = self._call(ALERTS, self.create_alert_body(page, to))
        if resp.status >= 400:
            raise self._fail(f"POST {ALERTS}", resp)
        answer = resp.body if isinstance(resp.body, dict) else {}
        request_id = text(answer.get("requestId")) or resp.header("X-Request-ID") or alias(page.key)
        if not to:
            shown = PROVIDER
        elif _EMAIL.match(to.strip()):
            shown = mask_email(to.strip())
        else:
            shown = to.strip()
        return PageRef(PROVIDER, request_id, shown)

    def acknowledge(self, page: Page) -> None:
        self._alert_action(page, "acknowledge", "Acknowledged in Tocsin")

    def resolve(self, page: Page) -> None:
        self._alert_action(page, "close", "Incident resolved in Tocsin")


def build(options: Options, secret: Mapping[str, str]) -> OpsgeniePaging:
    api_key = (secret.get("api_key") or "").strip()
    if not api_key:
        raise PermanentIntegrationError(PROVIDER, "secret lacks 'api_key'")
    return OpsgeniePaging(options, api_key)


# --- webhook ----------------------------------------------------------------------------------


def webhook_tokens(secret: Mapping[str, str]) -> list[str]:
    """The tokens in the integration's secret: `webhook_token`, comma-separated (two while
    the token is rotated)."""
    raw = secret.get(WEBHOOK_TOKEN_KEY) or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def verify_webhook(headers: Mapping[str, str] | None, secret: str | Sequence[str]) -> bool:
    """True when the request's `X-Tocsin-Token` header is the shared token (`secret`: one
    token, several comma-separated, or a list, for rotation). Constant-time comparison;
    False without the header or a configured token."""
    if isinstance(secret, str):
        tokens = [t.strip() for t in secret.split(",") if t.strip()]
    else:
        tokens = [t.strip() for t in secret if t and t.strip()]
    presented = (header(headers, TOKEN_HEADER) or "").strip()
    if not tokens or not presented:
        return False
    valid = False
    for token in tokens:
        valid |= hmac.compare_digest(presented.encode(), token.encode())
    return valid


def parse_webhook(body: bytes) -> WebhookEvent | None:
    """An outgoing-webhook delivery as a WebhookEvent: Create -> triggered, Acknowledge ->
    acknowledged, UnAcknowledge -> unacknowledged, Close -> resolved, any other action ->
    "other". The alert's alias is the incident key, its `username` the actor. A body that is
    not the webhook format raises WebhookPayloadError."""
    payload = load_json_object(PROVIDER, body)
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise WebhookPayloadError(PROVIDER, "action: missing")
    alert = payload.get("alert")
    if not isinstance(alert, dict):
        raise WebhookPayloadError(PROVIDER, "alert: a webhook delivery carries one alert object")
    alert_id = text(alert.get("alertId"))
    updated = alert.get("updatedAt")
    occurred = epoch_time(updated) or epoch_time(alert.get("createdAt"))
    if alert_id and isinstance(updated, int) and not isinstance(updated, bool):
        # one alert changes once per updatedAt (nanoseconds): stable across redeliveries
        event_id: str | None = f"{alert_id}/{action}/{updated}"
    else:
        flow = payload.get("alertFlowContext")
        event_id = text(flow.get("requestId")) if isinstance(flow, dict) else None
    return WebhookEvent(
        kind=_KINDS.get(action, "other"),
        incident_key=text(alert.get("alias")),
        vendor_incident_id=alert_id,
        actor=text(alert.get("username")),
        occurred_at=occurred,
        event_id=event_id,
        provider=PROVIDER,
        vendor_event=action,
    )
