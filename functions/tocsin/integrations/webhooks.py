"""What a paging service's webhook tells Tocsin, in one shape for every vendor.

PagerDuty (V3 webhooks) and Opsgenie (outgoing webhook integration) call Tocsin when someone
acknowledges or resolves the alert there. Their adapters (`pagerduty.parse_webhook`,
`opsgenie.parse_webhook`) turn the vendor's payload into a `WebhookEvent`; the webhook handler
finds the incident by `incident_key` (the dedup key / alias Tocsin sent) and acts on `kind`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tocsin.domain.errors import PayloadFormatError

#: what happened at the vendor; anything Tocsin does not act on is "other"
WebhookKind = Literal[
    "triggered", "acknowledged", "unacknowledged", "resolved", "reopened", "other"
]


@dataclass(frozen=True)
class WebhookEvent:
    kind: WebhookKind
    #: the key Tocsin sent with the page (PagerDuty dedup_key = the incident's `incident_key`,
    #: Opsgenie alias); None when the vendor's payload does not carry it
    incident_key: str | None
    #: the vendor's own id of the incident / alert (PagerDuty PGR0VU2, Opsgenie alertId)
    vendor_incident_id: str | None
    #: who did it, as the vendor names them (a user's name or e-mail); None for the system
    actor: str | None
    occurred_at: datetime | None
    #: the vendor's id of this delivery's event, stable across redeliveries (for dedup)
    event_id: str | None
    provider: str = ""
    #: the vendor's own name of the event (incident.acknowledged, Acknowledge)
    vendor_event: str = ""


class WebhookPayloadError(PayloadFormatError, ValueError):
    """A webhook body that is not the vendor's published format (not JSON, no event object).

    A PayloadFormatError (the API answers 400 and quarantines the body) and a ValueError."""


def load_json_object(provider: str, body: bytes | str) -> dict[str, Any]:
    """The body as a JSON object, or WebhookPayloadError naming the problem."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookPayloadError(provider, "body is not JSON") from None
    if not isinstance(value, dict):
        raise WebhookPayloadError(provider, "body must be a JSON object")
    return value


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value, whatever the case of its name (API Gateway v2 lower-cases them)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def text(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def iso_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (`2021-06-04T13:35:29.781Z`) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_time(value: Any) -> datetime | None:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (Opsgenie mixes ms and ns)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if abs(number) >= limit:
            number /= scale
            break
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None
