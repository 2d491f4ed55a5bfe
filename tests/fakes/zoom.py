"""A fake Zoom: the Server-to-Server OAuth token endpoint and the meeting APIs the conferencing
adapter calls (create a meeting, list a user's meetings, get a meeting), under /v2 like
api.zoom.us.

It checks what Zoom documents: the token request (`POST /oauth/token?grant_type=
account_credentials&account_id=…` with HTTP Basic client_id:client_secret), `Authorization:
Bearer <token>` on API calls (401 `{"code": 124, "message": "Invalid access token."}`
otherwise), the create-meeting body (known meeting fields only, topic ≤ 200 and agenda ≤ 2,000
characters, a valid type, start_time in `yyyy-MM-ddTHH:mm:ssZ`, settings of the published
meeting object), the list query (type, page_size ≤ 300, next_page_token). Meetings are
answered in the shape of Zoom's published examples (tests/fixtures/vendor/zoom): the create
answer from the 201 example, the get answer from the "Get a meeting" example, list items with
the documented list fields. List meetings does not return instant meetings (type 1), as Zoom
documents. State is kept, so idempotency is observable.

    with FakeZoom() as zoom:
        adapter = build(Options(base_url=zoom.url + "/v2", oauth_url=zoom.url), zoom.secret)
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
import urllib.parse
from datetime import datetime
from typing import Any

from tests.fakes.server import FakeServer, FormatViolation, Reply, Request, require, route
from tests.helpers import load_fixture

CREATE_RESPONSE: dict[str, Any] = load_fixture("zoom/create_meeting_201_response_docs_example.json")
GET_RESPONSE: dict[str, Any] = load_fixture("zoom/get_meeting_response_docs_example.json")

#: fields of the published meeting object a create request may carry (the request schema is
#: the meeting object's writable part; every field here appears in the 201 example)
CREATE_FIELDS = frozenset(
    {
        "agenda",
        "default_password",
        "duration",
        "password",
        "pre_schedule",
        "recurrence",
        "schedule_for",
        "settings",
        "start_time",
        "template_id",
        "timezone",
        "topic",
        "tracking_fields",
        "type",
    }
)
SETTINGS_FIELDS = frozenset(CREATE_RESPONSE["settings"]) | frozenset(GET_RESPONSE["settings"])
#: the fields of a List meetings item (Zoom's List meetings 200 example)
LIST_ITEM_FIELDS = (
    "agenda",
    "created_at",
    "duration",
    "host_id",
    "id",
    "join_url",
    "pmi",
    "start_time",
    "timezone",
    "topic",
    "type",
    "uuid",
)
LIST_TYPES = frozenset({"scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings"})
MEETING_TYPES = frozenset({1, 2, 3, 8, 10})
_ZOOM_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$")
INVALID_TOKEN = {"code": 124, "message": "Invalid access token."}
INVALID_CLIENT = {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}


class FakeZoom(FakeServer):
    def __init__(
        self,
        account_id: str = "acc-Zx9f3kQ2",
        client_id: str = "zoom-client-id-7Hn2",
        client_secret: str = "zoom-client-s3cr3t-Wq81",
        user: str = "me",
    ) -> None:
        super().__init__()
        self.account_id = account_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = user
        #: seconds a token lives (Zoom: one hour)
        self.expires_in = 3599
        self.tokens: list[str] = []
        self.valid_tokens: set[str] = set()
        #: when set, API calls answer 401 whatever the token (e.g. the app was deactivated)
        self.reject_all_tokens = False
        #: when set, creates answer with this (status, body) after the format checks
        self.reject_create: tuple[int, dict[str, Any]] | None = None
        #: meetings by id, in creation order (each in the "Get a meeting" example's shape)
        self.meetings: dict[int, dict[str, Any]] = {}
        #: List meetings returns at most this many items a page (to exercise pagination)
        self.page_limit = 300
        self._pages: dict[str, int] = {}
        self._ids = itertools.count(85746065432)

    @property
    def secret(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    # --- helpers ------------------------------------------------------------------------------
    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def add_meeting(self, topic: str, agenda: str = "", type_: int = 2) -> dict[str, Any]:
        """A meeting made elsewhere (by a person, another tool)."""
        return self._store({"topic": topic, "agenda": agenda, "type": type_})

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            meeting_id = next(self._ids)
            meeting = copy.deepcopy(GET_RESPONSE)
            meeting.update(
                id=meeting_id,
                uuid=base64.b64encode(meeting_id.to_bytes(16, "big")).decode(),
                topic=body.get("topic", ""),
                agenda=body.get("agenda", ""),
                type=body.get("type", 2),
                join_url=f"https://zoom.example/j/{meeting_id}?pwd=aBcD{meeting_id % 997}",
                start_url=f"https://zoom.example/s/{meeting_id}?zak=host-only",
                created_at=datetime.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            for name in ("start_time", "duration", "timezone"):
                if name in body:
                    meeting[name] = body[name]
            meeting["settings"].update(body.get("settings") or {})
            if meeting["type"] != 8:  # the examples' recurrence belongs to recurring meetings
                meeting.pop("recurrence", None)
                meeting.pop("occurrences", None)
            self.meetings[meeting_id] = meeting
            return meeting

    def _auth(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if token and token in self.valid_tokens and not self.reject_all_tokens:
            return None
        if token not in self.tokens:  # a token Zoom never issued, or no Bearer header
            with self._lock:
                self.violations.append(f"{request.method} {request.path}: no issued Bearer token")
        return 401, INVALID_TOKEN

    def _user(self, request: Request) -> Reply | None:
        assert request.match is not None
        user = urllib.parse.unquote(request.match["user"])
        if user != self.user:
            return 404, {"code": 1001, "message": f"User does not exist: {user}."}
        return None

    # --- OAuth --------------------------------------------------------------------------------
    @route("POST", r"/oauth/token")
    def token(self, request: Request) -> Reply:
        require(
            request.query.get("grant_type") == ["account_credentials"],
            "grant_type=account_credentials is required in the query",
        )
        require(request.query.get("account_id"), "account_id is required in the query")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return 400, INVALID_CLIENT
        if request.query["account_id"] != [self.account_id]:
            return 400, {"reason": "Invalid account_id", "error": "invalid_request"}
        with self._lock:
            token = f"zoom-access-token-{len(self.tokens) + 1}-Jt7r"
            self.tokens.append(token)
            self.valid_tokens.add(token)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": "meeting:write:meeting:admin meeting:read:list_meetings:admin "
            "meeting:read:meeting:admin",
            "api_url": self.url,
        }

    # --- meetings -----------------------------------------------------------------------------
    @route("POST", r"/v2/users/(?P<user>[^/]+)/meetings")
    def create_meeting(self, request: Request) -> Reply:
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
        require(isinstance(body, dict), "body must be a JSON object")
        unknown = set(body) - CREATE_FIELDS
        require(not unknown, f"fields not in the meeting object: {sorted(unknown)}")
        topic = body.get("topic")
        require(isinstance(topic, str) and topic, "topic must be a non-empty string")
        require(len(topic) <= 200, "topic is at most 200 characters")
        require(body.get("type") in MEETING_TYPES, f"type must be one of {sorted(MEETING_TYPES)}")
        if "agenda" in body:
            require(isinstance(body["agenda"], str), "agenda must be a string")
            require(len(body["agenda"]) <= 2000, "agenda is at most 2,000 characters")
        if body["type"] in (2, 8):
            require(
                isinstance(body.get("start_time"), str) and _ZOOM_TIME.match(body["start_time"]),
                "scheduled meetings need start_time as yyyy-MM-ddTHH:mm:ssZ",
            )
        if "duration" in body:
            require(
                isinstance(body["duration"], int) and body["duration"] > 0,
                "duration is a positive integer (minutes)",
            )
        settings = body.get("settings", {})
        require(isinstance(settings, dict), "settings must be an object")
        unknown = set(settings) - SETTINGS_FIELDS
        require(not unknown, f"settings not in the meeting object: {sorted(unknown)}")
        for name in ("join_before_host", "waiting_room", "host_video", "participant_video"):
            if name in settings:
                require(isinstance(settings[name], bool), f"settings.{name} must be a boolean")
        if "jbh_time" in settings:
            require(settings["jbh_time"] in (0, 5, 10, 15), "settings.jbh_time: 0, 5, 10 or 15")
        if "approval_type" in settings:
            require(settings["approval_type"] in (0, 1, 2), "settings.approval_type: 0, 1 or 2")
        if denied := self._user(request):
            return denied
        if self.reject_create is not None:
            return self.reject_create
        meeting = self._store(body)
        # the 201 example's fields, with this meeting's values
        return 201, {k: copy.deepcopy(meeting[k]) for k in CREATE_RESPONSE if k in meeting}

    @route("GET", r"/v2/users/(?P<user>[^/]+)/meetings")
    def list_meetings(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        kind = (request.query.get("type") or ["scheduled"])[0]
        require(kind in LIST_TYPES, f"type must be one of {sorted(LIST_TYPES)}")
        size = int((request.query.get("page_size") or ["30"])[0])
        require(1 <= size <= 300, "page_size is 1..300")
        if denied := self._user(request):
            return denied
        token = (request.query.get("next_page_token") or [""])[0]
        start = 0
        if token:
            require(token in self._pages, f"unknown next_page_token {token!r}")
            start = self._pages[token]
        size = min(size, self.page_limit)
        # List meetings does not return instant meetings
        listed = [m for m in self.meetings.values() if m["type"] != 1]
        page = listed[start : start + size]
        next_token = ""
        if start + size < len(listed):
            next_token = f"pg{start + size:04d}Tva2CuIdTgsv8wAnhyAdU3m06Y2HuLQtlh3"
            self._pages[next_token] = start + size
        return 200, {
            "next_page_token": next_token,
            "page_count": max(1, -(-len(listed) // size)),
            "page_size": size,
            "total_records": len(listed),
            "meetings": [{k: m[k] for k in LIST_ITEM_FIELDS if k in m} for m in page],
        }

    @route("GET", r"/v2/meetings/(?P<meeting>\d+)")
    def get_meeting(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        meeting = self.meetings.get(int(request.match["meeting"]))
        if meeting is None:
            return 404, {
                "code": 3001,
                "message": f"Meeting does not exist: {request.match['meeting']}.",
            }
        return 200, copy.deepcopy(meeting)
