"""Zoom (REST API v2) as the conferencing port.

Authentication is a Server-to-Server OAuth app: `POST {oauth_url}/oauth/token` with
`grant_type=account_credentials&account_id=…` and HTTP Basic `client_id:client_secret` gives an
access token for one hour (there is no refresh token; a new one is requested shortly before it
expires, and once more if the API answers 401).

The bridge is a *scheduled* meeting (type 2) starting now, with join before host, no waiting
room and no registration: people join at once and can rejoin the same meeting id for as long
as the incident lasts (Zoom keeps a non-recurring meeting id valid for at least 30 days). An
instant meeting (type 1) would not do: it expires when it ends, and Zoom's List meetings API
does not return instant meetings, so it could not be found again. The incident key is written
on the first line of the meeting `agenda` (`tocsin-key: <key>`); `find_bridge` lists the user's
scheduled meetings (`GET /users/{user}/meetings?type=scheduled`, paginated with
`next_page_token`), matches that line, then reads the meeting (`GET /meetings/{id}`) for the
passcode and dial-in numbers.
"""

from __future__ import annotations

import base64
import time
import urllib.parse
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from tocsin.domain.clock import utcnow
from tocsin.integrations.http import JsonHttp, Response
from tocsin.integrations.oauth import OAuthSession, TokenCache, scrubbed, token_answer
from tocsin.integrations.ports import BridgeRef, PermanentIntegrationError

PROVIDER = "zoom"
PORT = "conferencing"
SECRET_KEYS: tuple[str, ...] = ("account_id", "client_id", "client_secret")

#: Zoom's limits: topic 200 characters, agenda 2,000
TOPIC_MAX = 200
AGENDA_MAX = 2000
#: the scheduled length shown in Zoom; the meeting does not end when it is over
DURATION_MINUTES = 120
#: List meetings returns at most 300 records a page
PAGE_SIZE = 300
#: a token is renewed this many seconds before Zoom's `expires_in` runs out
TOKEN_MARGIN = 60.0
KEY_PREFIX = "tocsin-key: "
#: dial-in numbers kept in the bridge details (Zoom may list dozens)
DIAL_IN_MAX = 5


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the REST API (https://api.zoom.us/v2)
    base_url: str = "https://api.zoom.us/v2"
    #: where access tokens come from (https://zoom.us)
    oauth_url: str = "https://zoom.us"
    #: the Zoom user (id or email) who hosts the bridges; `me` is the app's creator
    user: str = "me"

    @field_validator("base_url", "oauth_url", "user")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


def key_line(key: str) -> str:
    """The agenda line that marks the bridge for `key`."""
    return KEY_PREFIX + " ".join(key.split())


def agenda(key: str, topic: str) -> str:
    """The key line first (so it survives any shortening), then what the bridge is for."""
    marker = key_line(key)
    text = f"{marker}\n\nIncident bridge opened by Tocsin: {' '.join(topic.split())}"
    return text if len(text) <= AGENDA_MAX else text[: AGENDA_MAX - 1] + "…"


def has_key(meeting: Mapping[str, Any], key: str) -> bool:
    text = meeting.get("agenda")
    if not isinstance(text, str):
        return False
    marker = key_line(key)
    return any(line.strip() == marker for line in text.splitlines())


def _topic(text: str) -> str:
    line = " ".join(text.split()) or "Incident bridge"
    return line if len(line) <= TOPIC_MAX else line[: TOPIC_MAX - 1] + "…"


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("code", "message", "reason", "error") if body.get(k)]
        if parts:
            return " ".join(parts)[:300]
    return str(body)[:300]


def _failure(method: str, path: str, resp: Response) -> str:
    return f"{method} {path} -> {resp.status}: {_error_text(resp.body)}"


def details(meeting: Mapping[str, Any]) -> dict[str, str]:
    """What people need to join besides the link: meeting id, passcodes, dial-in numbers.
    Never the host's start_url or host key."""
    out: dict[str, str] = {}
    if meeting.get("id") is not None:
        out["meeting_id"] = str(meeting["id"])
    if meeting.get("password"):
        out["passcode"] = str(meeting["password"])
    if meeting.get("pstn_password") and meeting.get("pstn_password") != meeting.get("password"):
        out["phone_passcode"] = str(meeting["pstn_password"])
    settings = meeting.get("settings")
    numbers = settings.get("global_dial_in_numbers") if isinstance(settings, dict) else None
    if isinstance(numbers, list):
        shown = []
        for entry in numbers:
            if not isinstance(entry, dict) or not entry.get("number"):
                continue
            where = ", ".join(str(entry[k]) for k in ("city", "country") if entry.get(k))
            shown.append(f"{entry['number']} ({where})" if where else str(entry["number"]))
        if shown:
            out["dial_in"] = "; ".join(shown[:DIAL_IN_MAX])
    return out


class ZoomConferencing:
    provider = PROVIDER

    def __init__(
        self,
        options: Options,
        account_id: str,
        client_id: str,
        client_secret: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.clock = clock
        self._account_id = account_id
        self._secrets = tuple(s for s in (account_id, client_id, client_secret) if s)
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._secrets += (basic,)
        self._oauth = JsonHttp(
            PROVIDER,
            options.oauth_url,
            auth=lambda: {"Authorization": f"Basic {basic}"},
            timeout=timeout,
        )
        self._tokens = TokenCache(self._fetch_token, lambda: self.clock(), TOKEN_MARGIN)
        #: API calls; a 401 with a cached token fetches a new token and tries once more
        self._api = OAuthSession(PROVIDER, options.base_url, self._tokens, _failure, timeout)

    # --- auth ---------------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, float]:
        query = {"grant_type": "account_credentials", "account_id": self._account_id}
        resp = self._oauth.request("POST", "/oauth/token", query=query)
        return token_answer(PROVIDER, resp.body, "POST /oauth/token: answer without token")

    def _scrubbed(self) -> AbstractContextManager[None]:
        """No secret or token in an error message, whatever the vendor echoed."""
        return scrubbed(PROVIDER, lambda: (*self._secrets, self._tokens.current or ""))

    def _user_path(self) -> str:
        return "/users/" + urllib.parse.quote(self.options.user, safe="@")

    # --- port ---------------------------------------------------------------------------------
    def find_bridge(self, key: str) -> BridgeRef | None:
        with self._scrubbed():
            meeting_id = self._find_meeting_id(key)
            if meeting_id is None:
                return None
            resp = self._api.request("GET", f"/meetings/{meeting_id}", ok=(404,))
            if resp.status == 404:  # deleted between the list and now
                return None
            return self._ref(resp.body)

    def create_bridge(self, key: str, topic: str) -> BridgeRef:
        existing = self.find_bridge(key)
        if existing:
            return existing
        body = {
            "topic": _topic(topic),
            "type": 2,
            "start_time": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": DURATION_MINUTES,
            "timezone": "UTC",
            "agenda": agenda(key, topic),
            "settings": {
                "join_before_host": True,
                "jbh_time": 0,
                "waiting_room": False,
                "approval_type": 2,
            },
        }
        with self._scrubbed():
            resp = self._api.request("POST", f"{self._user_path()}/meetings", body)
            return self._ref(resp.body)

    # --- helpers ------------------------------------------------------------------------------
    def _find_meeting_id(self, key: str) -> str | None:
        token: str | None = None
        seen: set[str] = set()
        while True:
            query = {"type": "scheduled", "page_size": PAGE_SIZE, "next_page_token": token}
            page = self._api.request("GET", f"{self._user_path()}/meetings", query=query).body
            if not isinstance(page, dict):
                return None
            for meeting in page.get("meetings") or []:
                if isinstance(meeting, dict) and has_key(meeting, key) and meeting.get("id"):
                    return str(meeting["id"])
            token = page.get("next_page_token") or None
            if not token or token in seen:
                return None
            seen.add(token)

    def _ref(self, meeting: Any) -> BridgeRef:
        if not isinstance(meeting, dict) or not meeting.get("id") or not meeting.get("join_url"):
            raise PermanentIntegrationError(PROVIDER, "meeting answer without id or join_url")
        return BridgeRef(PROVIDER, str(meeting["id"]), str(meeting["join_url"]), details(meeting))


def build(options: Options, secret: Mapping[str, str]) -> ZoomConferencing:
    for name in SECRET_KEYS:
        if not secret.get(name):
            raise PermanentIntegrationError(PROVIDER, f"secret lacks {name!r}")
    return ZoomConferencing(
        options, secret["account_id"], secret["client_id"], secret["client_secret"]
    )
