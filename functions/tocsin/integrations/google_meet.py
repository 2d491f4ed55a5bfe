"""Google Meet (through Google Calendar API v3) as the conferencing port.

A Meet conference is created as part of a Calendar event: `POST
/calendars/{calendarId}/events?conferenceDataVersion=1` with `conferenceData.createRequest`
(`conferenceSolutionKey.type = "hangoutsMeet"`). Authentication is OAuth 2.0 with a refresh
token (`POST token_url`, form `grant_type=refresh_token`); the access token is cached until
shortly before it expires, and renewed once more if the API answers 401.

Idempotency: Calendar lets the client choose the event id (base32hex: `a-v`, `0-9`, 5 to 1024
characters). The id is derived from the incident key (`tocsin` + base32hex SHA-256 of the key),
so `find_bridge` is one `GET /calendars/{calendarId}/events/{eventId}` (404 -> None), and a
second insert with the same id answers 409 `duplicate`, after which the existing event is read.

Google creates the conference asynchronously: while `conferenceData.createRequest.status
.statusCode` is `pending` the event has no Meet link yet. The adapter then reads the event once
more after a short wait; if it is still pending it raises a RetryableIntegrationError, so the
step is retried and `find_bridge` picks the link up (the event, and with it the conference
request, already exists: nothing is created twice). A `failure` status is permanent.
"""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.domain.clock import utcnow
from tocsin.integrations.http import JsonHttp, Response, oauth_error_text, retry_after_seconds
from tocsin.integrations.oauth import OAuthSession, TokenCache, scrubbed, split_url, token_answer
from tocsin.integrations.ports import (
    BridgeRef,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

PROVIDER = "google_meet"
PORT = "conferencing"
SECRET_KEYS: tuple[str, ...] = ("client_id", "client_secret", "refresh_token")

EVENT_ID_PREFIX = "tocsin"
REQUEST_ID_PREFIX = "tocsin-"
SUMMARY_MAX = 1024
#: a token is renewed this many seconds before Google's `expires_in` runs out
TOKEN_MARGIN = 60.0
#: 403 reasons that Google documents as rate limits (retry with backoff)
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
#: suggested wait when the conference is still being created
PENDING_RETRY_AFTER = 2.0


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Calendar API v3
    base_url: str = "https://www.googleapis.com/calendar/v3"
    #: Google's OAuth 2.0 token endpoint
    token_url: str = "https://oauth2.googleapis.com/token"
    #: the calendar that holds the bridge events (`primary`: the authorizing user's own)
    calendar_id: str = "primary"
    #: length of the calendar event (the Meet link keeps working after it)
    event_duration_minutes: int = Field(default=60, ge=5, le=24 * 60)

    @field_validator("base_url", "token_url", "calendar_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


def event_id(key: str) -> str:
    """The Calendar event id for `key`: `tocsin` + base32hex of SHA-256(key), lower case
    (58 characters from a-v and 0-9)."""
    digest = hashlib.sha256(key.encode()).digest()
    return EVENT_ID_PREFIX + base64.b32hexencode(digest).decode().rstrip("=").lower()


def request_id(key: str) -> str:
    """The conference createRequest id for `key` (the same key never asks twice)."""
    return REQUEST_ID_PREFIX + hashlib.sha256(b"meet:" + key.encode()).hexdigest()[:32]


def _rfc3339(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reasons(body: Any) -> list[str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return []
    return [
        str(e.get("reason"))
        for e in error.get("errors") or []
        if isinstance(e, dict) and e.get("reason")
    ]


def _error_text(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = str(error.get("message") or "")
        reasons = _reasons(body)
        if reasons:
            text += f" ({', '.join(reasons)})"
        return text[:300]
    if isinstance(error, str):  # OAuth style: {"error": ..., "error_description": ...}
        return oauth_error_text(body)
    return str(body)[:300]


def _failure(method: str, path: str, resp: Response) -> str:
    return f"{method} {path} -> {resp.status}: {_error_text(resp.body)}"


def meet_link(event: Mapping[str, Any]) -> str | None:
    link = event.get("hangoutLink")
    if isinstance(link, str) and link:
        return link
    for entry in _entry_points(event):
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return str(entry["uri"])
    return None


def _entry_points(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    conference = event.get("conferenceData")
    entries = conference.get("entryPoints") if isinstance(conference, dict) else None
    return [e for e in entries or [] if isinstance(e, dict)]


def _create_status(event: Mapping[str, Any]) -> str | None:
    conference = event.get("conferenceData")
    create = conference.get("createRequest") if isinstance(conference, dict) else None
    status = create.get("status") if isinstance(create, dict) else None
    code = status.get("statusCode") if isinstance(status, dict) else None
    return str(code) if code else None


def details(event: Mapping[str, Any]) -> dict[str, str]:
    """Meeting code, dial-in number and PIN, the page with more numbers, the calendar event."""
    out: dict[str, str] = {}
    conference = event.get("conferenceData")
    if isinstance(conference, dict) and conference.get("conferenceId"):
        out["meeting_code"] = str(conference["conferenceId"])
    for entry in _entry_points(event):
        kind = entry.get("entryPointType")
        if kind == "video":
            for field in ("passcode", "password", "accessCode"):
                if entry.get(field):
                    out.setdefault("passcode", str(entry[field]))
        elif kind == "phone" and "dial_in" not in out:
            number = entry.get("label") or str(entry.get("uri", "")).removeprefix("tel:")
            if number:
                region = entry.get("regionCode")
                out["dial_in"] = f"{number} ({region})" if region else str(number)
            if entry.get("pin"):
                out["phone_pin"] = str(entry["pin"])
        elif kind == "more" and entry.get("uri"):
            out["more_phone_numbers"] = str(entry["uri"])
    if isinstance(event.get("htmlLink"), str):
        out["calendar_event"] = event["htmlLink"]
    return out


class ConferencePending(RetryableIntegrationError):
    """The event exists but Google is still creating its Meet conference."""


class GoogleMeetConferencing:
    provider = PROVIDER

    def __init__(
        self,
        options: Options,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        pending_wait: float = 1.0,
    ) -> None:
        self.options = options
        self.clock = clock
        #: seconds to wait before reading a pending conference once more
        self.pending_wait = pending_wait
        self.timeout = timeout
        self._client = {"client_id": client_id, "client_secret": client_secret}
        self._refresh_token = refresh_token
        self._secrets: tuple[str, ...] = tuple(
            s for s in (client_id, client_secret, refresh_token) if s
        )
        token_origin, self._token_path = split_url(options.token_url)
        self._oauth = JsonHttp(PROVIDER, token_origin, timeout=timeout)
        self._tokens = TokenCache(self._fetch_token, lambda: self.clock(), TOKEN_MARGIN)
        self._api = OAuthSession(PROVIDER, options.base_url, self._tokens, _failure, timeout)
        self._events = "/calendars/" + urllib.parse.quote(options.calendar_id, safe="") + "/events"

    # --- auth ---------------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, float]:
        form = {"grant_type": "refresh_token", **self._client, "refresh_token": self._refresh_token}
        resp = self._oauth.post(self._token_path, form=form)
        return token_answer(PROVIDER, resp.body, "POST token: answer without access_token")

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (),
    ) -> Response:
        """One API call. 401 with a cached token: new token, once more. 403 rate limits are
        retryable (Calendar answers rate limits with 403 as well as 429)."""
        resp = self._api.request(method, path, body, query=query, ok=(403, *ok))
        if resp.status == 403 and 403 not in ok:
            message = _failure(method, path, resp)
            if RATE_LIMIT_REASONS & set(_reasons(resp.body)):
                raise RetryableIntegrationError(
                    PROVIDER, message, 403, retry_after_seconds(resp.header("Retry-After"))
                )
            raise PermanentIntegrationError(PROVIDER, message, 403)
        return resp

    def _scrubbed(self) -> AbstractContextManager[None]:
        """No secret or token in an error message, whatever the vendor echoed."""
        return scrubbed(PROVIDER, lambda: (*self._secrets, self._tokens.current or ""))

    # --- port ---------------------------------------------------------------------------------
    def find_bridge(self, key: str) -> BridgeRef | None:
        with self._scrubbed():
            event = self._get(event_id(key))
            if event is None or event.get("status") == "cancelled":
                return None
            return self._ref(event)

    def create_bridge(self, key: str, topic: str) -> BridgeRef:
        existing = self.find_bridge(key)
        if existing:
            return existing
        with self._scrubbed():
            eid = event_id(key)
            start = utcnow().replace(microsecond=0)
            end = start + timedelta(minutes=self.options.event_duration_minutes)
            summary = " ".join(topic.split()) or "Incident bridge"
            body = {
                "id": eid,
                "summary": summary[:SUMMARY_MAX],
                "description": f"Incident bridge opened by Tocsin for {key}.",
                "start": {"dateTime": _rfc3339(start), "timeZone": "UTC"},
                "end": {"dateTime": _rfc3339(end), "timeZone": "UTC"},
                "conferenceData": {
                    "createRequest": {
                        "requestId": request_id(key),
                        "conferenceSolutionKey": {"type": "hangoutsMeet"},
                    }
                },
                "extendedProperties": {"private": {"tocsinKey": key}},
            }
            resp = self._call(
                "POST", self._events, body, query={"conferenceDataVersion": 1}, ok=(409,)
            )
            if resp.status == 409:  # the id exists (a race, or an event deleted earlier)
                event = self._get(eid)
                if event is None:
                    raise RetryableIntegrationError(
                        PROVIDER, f"POST {self._events} -> 409 but the event is not readable yet"
                    )
                if event.get("status") == "cancelled":
                    raise PermanentIntegrationError(
                        PROVIDER,
                        f"the calendar event {eid} for {key} was deleted; Calendar does not "
                        "reuse a deleted event's id (restore it from the calendar's bin)",
                        409,
                    )
            else:
                event = resp.body if isinstance(resp.body, dict) else {}
            try:
                return self._ref(event)
            except ConferencePending:
                if self.pending_wait > 0:
                    time.sleep(self.pending_wait)
                again = self._get(eid) or event
                return self._ref(again)

    # --- helpers ------------------------------------------------------------------------------
    def _get(self, eid: str) -> dict[str, Any] | None:
        resp = self._call("GET", f"{self._events}/{eid}", ok=(404, 410))
        if resp.status in (404, 410) or not isinstance(resp.body, dict):
            return None
        return resp.body

    def _ref(self, event: Mapping[str, Any]) -> BridgeRef:
        eid = event.get("id")
        if not eid:
            raise PermanentIntegrationError(PROVIDER, "event answer without id")
        link = meet_link(event)
        if link:
            return BridgeRef(PROVIDER, str(eid), link, details(event))
        status = _create_status(event)
        if status == "pending":
            raise ConferencePending(
                PROVIDER,
                f"event {eid}: the Meet conference is still being created (pending)",
                retry_after=PENDING_RETRY_AFTER,
            )
        if status == "failure":
            raise PermanentIntegrationError(
                PROVIDER,
                f"event {eid}: Google could not create the Meet conference (failure); "
                "is Google Meet enabled for this account?",
            )
        raise PermanentIntegrationError(PROVIDER, f"event {eid} has no Google Meet conference")


def build(options: Options, secret: Mapping[str, str]) -> GoogleMeetConferencing:
    for name in SECRET_KEYS:
        if not secret.get(name):
            raise PermanentIntegrationError(PROVIDER, f"secret lacks {name!r}")
    return GoogleMeetConferencing(
        options, secret["client_id"], secret["client_secret"], secret["refresh_token"]
    )
