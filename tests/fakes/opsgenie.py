"""A fake Opsgenie Alert API v2: create, acknowledge and close alerts.

Requests are checked against the published format (https://docs.opsgenie.com/docs/alert-api,
with the docs' request examples in tests/fixtures/vendor/opsgenie): `Authorization: GenieKey
<key>` (401 `{"message": "Could not authenticate", …}` otherwise), JSON bodies, on create only
the documented fields (the example's plus `user`, `note`, `source`), `message` required and at
most 130 characters, `alias` at most 512, `description` 15000, `entity` 512, `source` and
`user` 100, `note` 25000, at most 20 tags of at most 50 characters, `details` a string map of
at most 8000 characters, `priority` P1…P5, responders of type team | user | escalation |
schedule given by id, name (team, escalation, schedule) or username (user); acknowledge /
close at `/v2/alerts/{identifier}/{acknowledge|close}` with `identifierType` id (the default),
tiny or alias and a body of the close example's fields (user, source, note).

Answers are Opsgenie's: 202 `{"result": "Request will be processed", "took", "requestId"}`
(the fixture's shape, a new requestId each time), 422 `{"message": "Request body is not
processable. Please check the errors.", "errors": {field: problem}, …}` for invalid fields,
400 for a body that is not JSON. Alerts behave as documented: a create with the alias of an
open alert raises that alert's count (de-duplication); acknowledge / close of an alert that
does not exist are accepted (202, processed asynchronously) and then fail, which the fake keeps
in `unprocessed`.

Faults: `fail_next(status, …)` from FakeServer and `stall_next(seconds)` to answer late.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import FakeServer, FormatViolation, Reply, Request, route
from tests.helpers import load_fixture

CREATE_EXAMPLE: dict[str, Any] = load_fixture("opsgenie/alert_api_create_alert_request_docs.json")
CLOSE_EXAMPLE: dict[str, Any] = load_fixture("opsgenie/alert_api_close_alert_request_docs.json")
ACCEPTED: dict[str, Any] = load_fixture("opsgenie/alert_api_async_response_202.json")

API_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
#: documented create fields: the example's, and user / note / source
CREATE_KEYS = set(CREATE_EXAMPLE) | {"user", "note", "source"}
ACTION_KEYS = set(CLOSE_EXAMPLE)
IDENTIFIER_TYPES = ("id", "tiny", "alias")
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
LIMITS = {
    "message": 130,
    "alias": 512,
    "description": 15_000,
    "entity": 512,
    "source": 100,
    "user": 100,
    "note": 25_000,
}
NOT_PROCESSABLE = "Request body is not processable. Please check the errors."


class Unprocessable(FormatViolation):
    """A field Opsgenie refuses (422), named like Opsgenie names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check(condition: object, field: str, problem: str) -> None:
    if not condition:
        raise Unprocessable(field, problem)


class FakeOpsgenie(FakeServer):
    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        #: alerts by id: {"id", "tinyId", "alias", "message", "status" (open | closed),
        #: "acknowledged", "count", "request" (the first create's body), "actions"}
        self.alerts: dict[str, dict[str, Any]] = {}
        #: every accepted request body, with its path: (path, identifierType, body)
        self.received: list[tuple[str, str | None, dict[str, Any]]] = []
        #: accepted requests that then failed (no such alert), as Opsgenie's request log shows
        self.unprocessed: list[dict[str, Any]] = []
        #: the requestId of every 202, in order
        self.request_ids: list[str] = []
        self._stalls: list[list[float]] = []

    # --- faults -------------------------------------------------------------------------------
    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Answer the next `times` requests only after `seconds` (a slow Opsgenie)."""
        with self._lock:
            self._stalls.append([seconds, times])

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        delay = 0.0
        with self._lock:
            if self._stalls:
                delay = self._stalls[0][0]
                self._stalls[0][1] -= 1
                if self._stalls[0][1] <= 0:
                    self._stalls.pop(0)
        if delay:
            time.sleep(delay)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super()._dispatch(h)  # (it raises when the client gave up waiting)

    # --- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _answer(status: int, **fields: Any) -> Reply:
        return status, {**fields, "took": 0.002, "requestId": str(uuid.uuid4())}

    def _accepted(self) -> tuple[str, Reply]:
        answer = copy.deepcopy(ACCEPTED)
        answer["requestId"] = str(uuid.uuid4())
        with self._lock:
            self.request_ids.append(answer["requestId"])
        return answer["requestId"], (202, answer)

    def _auth(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") == f"GenieKey {self.api_key}":
            return None
        with self._lock:
            self.violations.append(f"{request.method} {request.path}: missing or wrong GenieKey")
        return self._answer(401, message="Could not authenticate")

    def _body(self, request: Request) -> dict[str, Any] | Reply:
        """The JSON object sent, or Opsgenie's 400 (recorded as a violation)."""
        problem = None
        body: Any = None
        if not request.headers.get("content-type", "").startswith("application/json"):
            problem = "Content-Type must be application/json"
        else:
            try:
                body = json.loads(request.raw) if request.raw else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                problem = "body is not a JSON object"
        if problem:
            with self._lock:
                self.violations.append(f"{request.method} {request.path}: {problem}")
            return self._answer(400, message="Invalid JSON body")
        return body

    def _unprocessable(self, request: Request, exc: Unprocessable) -> Reply:
        with self._lock:
            self.violations.append(f"{request.method} {request.path}: {exc}")
        return self._answer(422, message=NOT_PROCESSABLE, errors={exc.field: exc.problem})

    @staticmethod
    def _check_text(body: dict[str, Any], name: str, required: bool = False) -> None:
        if name not in body:
            check(not required, name, f"{name.capitalize()} can not be empty.")
            return
        value = body[name]
        check(isinstance(value, str), name, "should be a string")
        if required:
            check(value.strip(), name, f"{name.capitalize()} can not be empty.")
        check(len(value) <= LIMITS[name], name, f"should be at most {LIMITS[name]} characters")

    def _check_create(self, body: dict[str, Any]) -> None:
        unknown = set(body) - CREATE_KEYS
        check(not unknown, sorted(unknown)[0] if unknown else "", "is not a field of an alert")
        self._check_text(body, "message", required=True)
        for name in ("alias", "description", "entity", "source", "user", "note"):
            self._check_text(body, name)
        if "priority" in body:
            check(
                body["priority"] in PRIORITIES,
                "priority",
                f"should be one of [ {', '.join(PRIORITIES)} ]",
            )
        tags = body.get("tags", [])
        check(isinstance(tags, list) and len(tags) <= 20, "tags", "at most 20 tags")
        for i, tag in enumerate(tags):
            check(
                isinstance(tag, str) and tag and len(tag) <= 50, f"tags[{i}]", "1 to 50 characters"
            )
        actions = body.get("actions", [])
        check(isinstance(actions, list) and len(actions) <= 10, "actions", "at most 10 actions")
        details = body.get("details", {})
        check(isinstance(details, dict), "details", "should be a map of strings")
        check(
            all(isinstance(k, str) and isinstance(v, str) for k, v in details.items()),
            "details",
            "should be a map of strings",
        )
        size = sum(len(k) + len(v) for k, v in details.items())
        check(size <= 8000, "details", "should be at most 8000 characters")
        for field in ("responders", "visibleTo"):
            recipients = body.get(field, [])
            check(isinstance(recipients, list), field, "should be a list")
            for i, r in enumerate(recipients):
                where = f"{field}[{i}]"
                check(
                    isinstance(r, dict) and r.get("type") in RESPONDER_TYPES, where, "invalid type"
                )
                idents = [k for k in ("id", "name", "username") if r.get(k)]
                allowed = {"id", "username"} if r["type"] == "user" else {"id", "name"}
                check(idents and set(idents) <= allowed, where, "id or name should be provided")
                check(set(r) <= {"type", "id", "name", "username"}, where, "unknown field")

    def _find(self, identifier: str, identifier_type: str) -> dict[str, Any] | None:
        if identifier_type == "id":
            return self.alerts.get(identifier)
        key = "tinyId" if identifier_type == "tiny" else "alias"
        matches = [a for a in self.alerts.values() if a[key] == identifier]
        # an alias names the open alert when there is one, else the latest
        matches.sort(key=lambda a: (a["status"] == "open", int(a["tinyId"])))
        return matches[-1] if matches else None

    # --- routes -------------------------------------------------------------------------------
    @route("POST", r"/v2/alerts")
    def create(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        body = self._body(request)
        if not isinstance(body, dict):
            return body
        try:
            self._check_create(body)
        except Unprocessable as exc:
            return self._unprocessable(request, exc)
        _, reply = self._accepted()
        with self._lock:
            self.received.append((request.path, None, body))
            alias = body.get("alias") or body["message"]  # Opsgenie: alias defaults to message
            open_alert = self._find(alias, "alias")
            if open_alert and open_alert["status"] == "open":
                open_alert["count"] += 1  # de-duplicated
            else:
                alert_id = str(uuid.uuid4())
                self.alerts[alert_id] = {
                    "id": alert_id,
                    "tinyId": str(len(self.alerts) + 1),
                    "alias": alias,
                    "message": body["message"],
                    "status": "open",
                    "acknowledged": False,
                    "count": 1,
                    "request": body,
                    "actions": [],
                }
        return reply

    @route("POST", r"/v2/alerts/(?P<identifier>[^/]+)/(?P<action>acknowledge|close)")
    def alert_action(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        body = self._body(request)
        if not isinstance(body, dict):
            return body
        assert request.match is not None
        identifier = urllib.parse.unquote(request.match["identifier"])
        action = request.match["action"]
        identifier_type = (request.query.get("identifierType") or ["id"])[0]
        try:
            check(
                identifier_type in IDENTIFIER_TYPES,
                "identifierType",
                f"should be one of [ {', '.join(IDENTIFIER_TYPES)} ]",
            )
            unknown = set(body) - ACTION_KEYS
            check(
                not unknown, sorted(unknown)[0] if unknown else "", "is not a field of this request"
            )
            for name in ("user", "source", "note"):
                self._check_text(body, name)
        except Unprocessable as exc:
            return self._unprocessable(request, exc)
        request_id, reply = self._accepted()
        with self._lock:
            self.received.append((request.path, identifier_type, body))
            alert = self._find(identifier, identifier_type)
            if alert is None:
                self.unprocessed.append(
                    {"requestId": request_id, "action": action, "identifier": identifier,
                     "identifierType": identifier_type, "reason": "Alert does not exist"}
                )  # fmt: skip
            else:
                alert["actions"].append({"action": action, **body})
                if action == "acknowledge":
                    alert["acknowledged"] = True
                else:
                    alert["status"] = "closed"
        return reply

    # --- views --------------------------------------------------------------------------------
    def by_alias(self, alias: str) -> dict[str, Any] | None:
        return self._find(alias, "alias")

    def creates(self) -> list[dict[str, Any]]:
        return [body for path, _, body in self.received if path == "/v2/alerts"]
