"""A fake PagerDuty Events API v2: `POST /v2/enqueue` (trigger, acknowledge, resolve).

Every event is checked against the published format (PagerDuty/developer-docs
`docs/events-API-v2/02-Trigger-Events.md` and the Events v2 OpenAPI document, whose examples are
in tests/fixtures/vendor/pagerduty): a JSON object with a 32-character alphanumeric
`routing_key`, `event_action` trigger | acknowledge | resolve, a `dedup_key` of at most 255
characters (required to acknowledge or resolve); a trigger carries `payload` with `summary`
(at most 1024 characters), `source` and `severity` (critical | error | warning | info), only
the payload fields PagerDuty documents, `links` of `{href, text}` and `images` of
`{src, href, alt}`; acknowledge / resolve events have exactly the docs' example's keys.

Answers are PagerDuty's: 202 `{"status": "success", "message": "Event processed",
"dedup_key": …}` (the OpenAPI example's shape), 400 `{"status": "invalid event", "message":
"Event object is invalid", "errors": [...]}` (the answer PagerDuty gives, e.g. "Length of
'routing_key' is incorrect (should be 32 characters)") and "Invalid routing key" for a key
that is not the fake's. Alerts behave as documented: a trigger with an open alert's dedup_key
adds to that alert, acknowledge / resolve of no open alert are dropped, a trigger after a
resolve opens a new alert.

Faults: `fail_next(status, …)` (500, 429 with Retry-After, 400, …) from FakeServer, and
`stall_next(seconds)` to answer late (a client timeout).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import FakeServer, FormatViolation, Reply, Request, require, route
from tests.helpers import load_fixture

TRIGGER_EXAMPLE: dict[str, Any] = load_fixture("pagerduty/events_v2_trigger_openapi_example.json")
TRIGGER_DOCS: dict[str, Any] = load_fixture("pagerduty/events_v2_trigger_docs.json")
ACKNOWLEDGE_DOCS: dict[str, Any] = load_fixture("pagerduty/events_v2_acknowledge_docs.json")
RESOLVE_DOCS: dict[str, Any] = load_fixture("pagerduty/events_v2_resolve_docs.json")
ACCEPTED: dict[str, Any] = load_fixture("pagerduty/events_v2_response_202_openapi_example.json")

#: the OpenAPI example's integration key
ROUTING_KEY = TRIGGER_EXAMPLE["routing_key"]
EVENT_KEYS = set(TRIGGER_EXAMPLE) | set(TRIGGER_DOCS)
PAYLOAD_KEYS = set(TRIGGER_EXAMPLE["payload"]) | set(TRIGGER_DOCS["payload"])
LINK_KEYS = {"href", "text"}
IMAGE_KEYS = {"src", "href", "alt"}
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def invalid_event(*errors: str) -> dict[str, Any]:
    return {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}


def _check_url(value: Any, where: str, https: bool = False) -> None:
    schemes = ("https://",) if https else ("https://", "http://")
    require(
        isinstance(value, str) and value.startswith(schemes),
        f"{where} must be an {'https' if https else 'http(s)'} URL",
    )


class FakePagerDuty(FakeServer):
    def __init__(self, routing_key: str = ROUTING_KEY) -> None:
        super().__init__()
        self.routing_keys = {routing_key}
        #: every accepted event, in order
        self.events: list[dict[str, Any]] = []
        #: the current alert per dedup_key: {"status", "summary", "severity", "triggers",
        #: "event" (the first trigger), "acks"}
        self.alerts: dict[str, dict[str, Any]] = {}
        #: alerts opened so far (a trigger after a resolve opens another one)
        self.opened = 0
        #: acknowledge / resolve events that found no open alert (PagerDuty drops them)
        self.dropped: list[dict[str, Any]] = []
        self._stalls: list[list[float]] = []

    # --- faults -------------------------------------------------------------------------------
    def stall_next(self, seconds: float, times: int = 1) -> None:
        """Answer the next `times` requests only after `seconds` (a slow PagerDuty)."""
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

    # --- checks -------------------------------------------------------------------------------
    def _event(self, request: Request) -> dict[str, Any]:
        require(
            request.headers.get("content-type", "").startswith("application/json"),
            "Content-Type must be application/json",
        )
        try:
            event = json.loads(request.raw)
        except ValueError:
            raise FormatViolation("JSON parse error") from None
        require(isinstance(event, dict), "the event must be a JSON object")
        unknown = set(event) - EVENT_KEYS
        require(not unknown, f"unknown event fields {sorted(unknown)}")
        key = event.get("routing_key")
        require(isinstance(key, str) and key, "'routing_key' is missing or blank")
        require(len(key) == 32, "Length of 'routing_key' is incorrect (should be 32 characters)")
        require(key.isalnum(), "'routing_key' cannot contain non-alphanumeric characters.")
        action = event.get("event_action")
        require(action in ACTIONS, f"'event_action' must be one of {', '.join(ACTIONS)}")
        if "dedup_key" in event:
            dedup = event["dedup_key"]
            require(isinstance(dedup, str) and dedup, "'dedup_key' must be a non-empty string")
            require(len(dedup) <= 255, "'dedup_key' is longer than 255 characters")
        if action == "trigger":
            self._check_trigger(event)
        else:
            example = ACKNOWLEDGE_DOCS if action == "acknowledge" else RESOLVE_DOCS
            require("dedup_key" in event, f"'dedup_key' is required to {action}")
            extra = set(event) - set(example)
            require(not extra, f"{action} events carry only {sorted(example)}, not {sorted(extra)}")
        return event

    def _check_trigger(self, event: dict[str, Any]) -> None:
        payload: Any = event.get("payload")
        require(isinstance(payload, dict), "'payload' is required to trigger")
        unknown = set(payload) - PAYLOAD_KEYS
        require(not unknown, f"unknown payload fields {sorted(unknown)}")
        summary = payload.get("summary")
        require(
            isinstance(summary, str) and summary.strip(), "'payload.summary' is missing or blank"
        )
        require(len(summary) <= 1024, "'payload.summary' is longer than 1024 characters")
        source = payload.get("source")
        require(isinstance(source, str) and source.strip(), "'payload.source' is missing or blank")
        require(
            payload.get("severity") in SEVERITIES,
            f"'payload.severity' must be one of {', '.join(SEVERITIES)}",
        )
        for name in ("component", "group", "class", "timestamp"):
            if name in payload:
                require(isinstance(payload[name], str), f"'payload.{name}' must be a string")
        if "custom_details" in payload:
            require(
                isinstance(payload["custom_details"], dict),
                "'payload.custom_details' must be an object",
            )
        if "client" in event:
            require(isinstance(event["client"], str), "'client' must be a string")
        if "client_url" in event:
            _check_url(event["client_url"], "'client_url'")
        links = event.get("links", [])
        require(isinstance(links, list), "'links' must be a list")
        for i, link in enumerate(links):
            require(
                isinstance(link, dict) and set(link) <= LINK_KEYS, f"links[{i}]: {{href, text}}"
            )
            _check_url(link.get("href"), f"links[{i}].href")
            if "text" in link:
                require(isinstance(link["text"], str), f"links[{i}].text must be a string")
        images = event.get("images", [])
        require(isinstance(images, list), "'images' must be a list")
        for i, image in enumerate(images):
            require(
                isinstance(image, dict) and set(image) <= IMAGE_KEYS,
                f"images[{i}]: {{src, href, alt}}",
            )
            _check_url(image.get("src"), f"images[{i}].src", https=True)

    # --- route --------------------------------------------------------------------------------
    @route("POST", r"/v2/enqueue")
    def enqueue(self, request: Request) -> Reply:
        try:
            event = self._event(request)
        except FormatViolation as exc:
            with self._lock:
                self.violations.append(f"POST /v2/enqueue: {exc}")
            if str(exc) == "JSON parse error":
                return 400, {
                    "status": "Unrecognized object",
                    "message": "Event object format is unrecognized",
                    "errors": ["JSON parse error"],
                }
            return 400, invalid_event(str(exc))
        if event["routing_key"] not in self.routing_keys:
            return 400, invalid_event("Invalid routing key")
        with self._lock:
            key = event.get("dedup_key") or uuid.uuid4().hex
            self.events.append(event)
            self._apply(event, key)
        answer = copy.deepcopy(ACCEPTED)
        answer["dedup_key"] = key
        return 202, answer

    def _apply(self, event: dict[str, Any], key: str) -> None:
        alert = self.alerts.get(key)
        is_open = alert is not None and alert["status"] != "resolved"
        action = event["event_action"]
        if action == "trigger":
            if is_open:
                assert alert is not None
                alert["triggers"] += 1
                alert["summary"] = event["payload"]["summary"]
                alert["severity"] = event["payload"]["severity"]
            else:
                self.opened += 1
                self.alerts[key] = {
                    "status": "triggered",
                    "summary": event["payload"]["summary"],
                    "severity": event["payload"]["severity"],
                    "triggers": 1,
                    "acks": 0,
                    "event": event,
                }
        elif not is_open:
            self.dropped.append(event)
        else:
            assert alert is not None
            if action == "acknowledge":
                alert["status"] = "acknowledged"
                alert["acks"] += 1
            else:
                alert["status"] = "resolved"

    def trigger_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_action"] == "trigger"]
