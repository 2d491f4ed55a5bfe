"""A fake Google: the OAuth 2.0 token endpoint (refresh-token grant) and the two Calendar API v3
event methods the Meet adapter calls (events.insert with conference data, events.get), under
/calendar/v3 like www.googleapis.com.

It checks what Google documents: the token request is a form POST with grant_type=
refresh_token, client_id, client_secret and refresh_token; API calls carry `Authorization:
Bearer <access token>` (401 authError otherwise); events.insert needs
`conferenceDataVersion=1` for conference data to be honoured, a client-chosen id of base32hex
characters (a-v, 0-9, 5 to 1024 long, unique per calendar: 409 `duplicate` otherwise),
`start`/`end` with an RFC 3339 `dateTime` and a `timeZone`, and `conferenceData.createRequest`
with a `requestId` and `conferenceSolutionKey.type`. Errors have Calendar's documented
`{"error": {"errors": [...], "code", "message"}}` shape.

Events are answered in the shape of a real captured event
(tests/fixtures/vendor/google_calendar/captured_event_with_hangoutLink_conferenceData.json):
`hangoutLink`, `conferenceData.entryPoints` (video, more, phone), `conferenceSolution`,
`conferenceId`, plus `createRequest.status.statusCode` as the Calendar reference describes it.
The conference can be made to stay `pending` for a number of answers, or to fail.
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
import string
import urllib.parse
from datetime import datetime
from typing import Any

from tests.fakes.server import FakeServer, FormatViolation, Reply, Request, require, route
from tests.helpers import load_fixture

EVENT: dict[str, Any] = load_fixture(
    "google_calendar/captured_event_with_hangoutLink_conferenceData.json"
)

#: the writable fields of the Calendar v3 event resource (events reference page)
EVENT_FIELDS = frozenset(
    {
        "anyoneCanAddSelf",
        "attachments",
        "attendees",
        "colorId",
        "conferenceData",
        "description",
        "end",
        "endTimeUnspecified",
        "eventType",
        "extendedProperties",
        "guestsCanInviteOthers",
        "guestsCanModify",
        "guestsCanSeeOtherGuests",
        "iCalUID",
        "id",
        "location",
        "originalStartTime",
        "recurrence",
        "reminders",
        "sequence",
        "source",
        "start",
        "status",
        "summary",
        "transparency",
        "visibility",
    }
)
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def calendar_error(code: int, reason: str, message: str, domain: str = "global") -> Any:
    return {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": code,
            "message": message,
        }
    }


AUTH_ERROR = {
    "error": {
        "errors": [
            {
                "domain": "global",
                "reason": "authError",
                "message": "Invalid Credentials",
                "locationType": "header",
                "location": "Authorization",
            }
        ],
        "code": 401,
        "message": "Invalid Credentials",
    }
}
NOT_FOUND = calendar_error(404, "notFound", "Not Found")
DUPLICATE = calendar_error(409, "duplicate", "The requested identifier already exists.")
USER_RATE_LIMIT = calendar_error(
    403, "userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits"
)
FORBIDDEN = calendar_error(403, "forbidden", "Forbidden")


def _parse_time(value: Any, where: str) -> datetime:
    require(isinstance(value, dict), f"{where} must be an object")
    require(
        isinstance(value.get("dateTime"), str) and _RFC3339.match(value["dateTime"]),
        f"{where}.dateTime must be an RFC 3339 timestamp",
    )
    require(
        isinstance(value.get("timeZone"), str) and value["timeZone"],
        f"{where}.timeZone is required",
    )
    return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))


class FakeGoogle(FakeServer):
    def __init__(
        self,
        client_id: str = "1234567890-abc123def456.apps.googleusercontent.com",
        client_secret: str = "GOCSPX-google-client-s3cr3t",
        refresh_token: str = "1//0google-refresh-s3cr3t-token",
        calendar_id: str = "primary",
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.calendar_id = calendar_id
        #: seconds an access token lives (Google: about one hour)
        self.expires_in = 3599
        self.tokens: list[str] = []
        self.valid_tokens: set[str] = set()
        #: when set, API calls answer 401 whatever the token
        self.reject_all_tokens = False
        #: the conference of the next inserted event shows `pending` in this many answers
        #: (the insert answer counts) before it shows `success`
        self.pending_answers = 0
        #: the next inserted event's conference request fails
        self.conference_fails = False
        self.events: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, int] = {}
        self._codes = itertools.count(1)

    @property
    def secret(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    # --- helpers ------------------------------------------------------------------------------
    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def delete_event(self, event_id: str) -> None:
        """Delete as Calendar does: the event stays, with status `cancelled`."""
        with self._lock:
            self.events[event_id]["status"] = "cancelled"

    def _auth(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if token and token in self.valid_tokens and not self.reject_all_tokens:
            return None
        if token not in self.tokens:
            with self._lock:
                self.violations.append(f"{request.method} {request.path}: no issued Bearer token")
        return 401, AUTH_ERROR

    def _calendar(self, request: Request) -> Reply | None:
        assert request.match is not None
        if urllib.parse.unquote(request.match["calendar"]) != self.calendar_id:
            return 404, NOT_FOUND
        return None

    def _answer(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as Google shows it now (a pending conference counts down)."""
        answer = copy.deepcopy(event)
        left = self._pending.get(event["id"], 0)
        if left > 0:
            self._pending[event["id"]] = left - 1
            answer.pop("hangoutLink", None)
            conference = answer["conferenceData"]
            conference["createRequest"]["status"] = {"statusCode": "pending"}
            for name in ("entryPoints", "conferenceSolution", "conferenceId", "signature"):
                conference.pop(name, None)
        return answer

    def _meet_code(self) -> str:
        n = next(self._codes)
        letters = string.ascii_lowercase
        chars = [letters[(n * 7 + i * 3) % 26] for i in range(10)]
        return f"{''.join(chars[:3])}-{''.join(chars[3:7])}-{''.join(chars[7:])}"

    # --- OAuth --------------------------------------------------------------------------------
    @route("POST", r"/token")
    def token(self, request: Request) -> Reply:
        require(
            request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"),
            "the token request is a form (application/x-www-form-urlencoded)",
        )
        form = request.form
        require(form.get("grant_type") == "refresh_token", "grant_type must be refresh_token")
        for name in ("client_id", "client_secret", "refresh_token"):
            require(form.get(name), f"{name} is required")
        if (form["client_id"], form["client_secret"]) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        if form["refresh_token"] != self.refresh_token:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        with self._lock:
            token = f"ya29.a0fake-access-{len(self.tokens) + 1}"
            self.tokens.append(token)
            self.valid_tokens.add(token)
        return 200, {
            "access_token": token,
            "expires_in": self.expires_in,
            "scope": "https://www.googleapis.com/auth/calendar.events",
            "token_type": "Bearer",
        }

    # --- events -------------------------------------------------------------------------------
    @route("POST", r"/calendar/v3/calendars/(?P<calendar>[^/]+)/events")
    def insert(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        require(
            request.headers.get("content-type", "").startswith("application/json"),
            "Content-Type must be application/json",
        )
        try:
            body = request.json
        except ValueError:
            raise FormatViolation("body is not JSON") from None
        require(isinstance(body, dict), "body must be an event object")
        unknown = set(body) - EVENT_FIELDS
        require(not unknown, f"not writable event fields: {sorted(unknown)}")
        if "conferenceData" in body:
            require(
                request.query.get("conferenceDataVersion") == ["1"],
                "conferenceData is ignored without conferenceDataVersion=1",
            )
            create = body["conferenceData"].get("createRequest")
            require(isinstance(create, dict), "conferenceData.createRequest must be an object")
            require(
                isinstance(create.get("requestId"), str) and create["requestId"],
                "createRequest.requestId is required",
            )
            key = create.get("conferenceSolutionKey")
            require(
                isinstance(key, dict) and key.get("type") in ("hangoutsMeet", "addOn"),
                "createRequest.conferenceSolutionKey.type is required (hangoutsMeet)",
            )
        event_id = body.get("id")
        if event_id is not None:
            require(
                isinstance(event_id, str) and _EVENT_ID.match(event_id),
                "id: base32hex characters (a-v, 0-9), 5 to 1024 long",
            )
        start = _parse_time(body.get("start"), "start")
        end = _parse_time(body.get("end"), "end")
        require(end > start, "end must be after start")
        if isinstance(body.get("extendedProperties"), dict):
            for scope, props in body["extendedProperties"].items():
                require(scope in ("private", "shared"), "extendedProperties: private or shared")
                require(
                    isinstance(props, dict) and all(isinstance(v, str) for v in props.values()),
                    "extendedProperties values are strings",
                )
        if denied := self._calendar(request):
            return denied
        with self._lock:
            if event_id is None:
                event_id = f"fake{len(self.events) + 1:05d}"
            elif event_id in self.events:
                return 409, DUPLICATE
            event = self._event(event_id, body)
            self.events[event_id] = event
            return 200, self._answer(event)

    def _event(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        event = copy.deepcopy(EVENT)
        for name in ("recurringEventId", "originalStartTime", "location", "description"):
            event.pop(name, None)
        organizer = EVENT["organizer"]["email"]
        eid = base64.urlsafe_b64encode(f"{event_id} {organizer}".encode()).decode().rstrip("=")
        event.update({k: copy.deepcopy(v) for k, v in body.items() if k != "conferenceData"})
        event.update(
            id=event_id,
            etag=f'"{3187232047578000 + len(self.events)}"',
            htmlLink=f"https://www.google.com/calendar/event?eid={eid}",
            created=now,
            updated=now,
            iCalUID=f"{event_id}@google.com",
            sequence=0,
        )
        create = (body.get("conferenceData") or {}).get("createRequest")
        if create is None:
            event.pop("hangoutLink", None)
            event.pop("conferenceData", None)
            return event
        code = self._meet_code()
        conference = event["conferenceData"]
        conference["createRequest"] = copy.deepcopy(create)
        if self.conference_fails:
            self.conference_fails = False
            event.pop("hangoutLink", None)
            conference["createRequest"]["status"] = {"statusCode": "failure"}
            for name in ("entryPoints", "conferenceSolution", "conferenceId", "signature"):
                conference.pop(name, None)
            return event
        conference["createRequest"]["status"] = {"statusCode": "success"}
        old = EVENT["conferenceData"]["conferenceId"]
        conference["conferenceId"] = code
        for entry in conference["entryPoints"]:
            for name in ("uri", "label"):
                if name in entry:
                    entry[name] = entry[name].replace(old, code)
        event["hangoutLink"] = f"https://meet.google.com/{code}"
        if self.pending_answers:
            self._pending[event_id] = self.pending_answers
            self.pending_answers = 0
        return event

    @route("GET", r"/calendar/v3/calendars/(?P<calendar>[^/]+)/events/(?P<event>[^/]+)")
    def get(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        if denied := self._calendar(request):
            return denied
        assert request.match is not None
        with self._lock:
            event = self.events.get(request.match["event"])
            if event is None:
                return 404, NOT_FOUND
            return 200, self._answer(event)
