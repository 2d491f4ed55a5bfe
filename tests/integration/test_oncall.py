"""On call through the API and the CLI: who is on call, runtime overrides (stored in DynamoDB,
used by paging), calendar feeds behind secret URLs, schedules imported from iCal, and
notification rules sending waves within a level."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest

from tests.helpers import Http
from tests.integration.test_escalation import (
    declare,
    pages,
    sent_to,
    three_levels,
    use_config,
    wait_until,
    write_config,
)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_who_is_on_call_and_the_shifts_ahead(http: Http) -> None:
    # payments-secondary: weekly from Monday 2026-01-05 09:00 Berlin, bob then alice
    at = "2026-11-27T12:00:00Z"  # a Friday: the week that began Mon 2026-11-23
    resp = http.call("GET", f"/v1/schedules/payments-secondary/oncall?at={at}&days=14")
    assert resp.status_code == 200, resp.body
    weeks = (datetime(2026, 11, 23, tzinfo=UTC) - datetime(2026, 1, 5, tzinfo=UTC)).days // 7
    expected = ["bob", "alice"][weeks % 2]
    assert resp.body["on_call"] == expected
    shifts = resp.body["shifts"]
    assert shifts[0]["person"] == expected and shifts[1]["person"] != expected
    # the handoff is Monday 09:00 in Berlin (08:00 UTC in winter)
    assert shifts[1]["start"] == "2026-11-30T08:00:00.000Z"
    listed = http.call("GET", "/v1/schedules").body["items"]
    assert {s["name"] for s in listed} >= {"payments-primary", "incident-commanders"}
    assert http.call("GET", "/v1/schedules/nope/oncall").status_code == 404
    assert http.call("GET", "/v1/schedules/payments-primary/oncall?at=yesterday").status_code == 400


def test_a_runtime_override_is_stored_used_and_removed(http: Http) -> None:
    now = datetime.now(UTC)
    body = {
        "person": "dan",
        "start": iso(now - timedelta(minutes=1)),
        "end": iso(now + timedelta(hours=2)),
        "reason": "swap with alice",
        "created_by": "alice",
    }
    created = http.call("POST", "/v1/schedules/incident-commanders/overrides", body)
    assert created.status_code == 201, created.body
    assert http.call("GET", "/v1/schedules/incident-commanders/oncall").body["on_call"] == "dan"
    listed = http.call("GET", "/v1/schedules/incident-commanders/overrides").body["items"]
    assert [o["person"] for o in listed] == ["dan"]
    # a SEV1 now makes dan the Incident Commander (roles come from the schedule with overrides)
    incident_id = declare(http)
    roles = wait_until(
        lambda: next(
            (
                r
                for r in http.call("GET", f"/v1/incidents/{incident_id}/roles").body["items"]
                if r["role"] == "commander" and r["holder"]
            ),
            None,
        )
    )
    assert roles["holder"] == "dan"
    gone = http.call("DELETE", f"/v1/schedules/incident-commanders/overrides/{created.body['id']}")
    assert gone.status_code == 204
    assert http.call("GET", "/v1/schedules/incident-commanders/oncall").body["on_call"] != "dan"
    # bad input: a clear error, nothing stored
    for bad in (
        {**body, "person": "mallory"},
        {**body, "end": body["start"]},
        {**body, "start": "2026-11-27T09:00:00"},
    ):
        resp = http.call("POST", "/v1/schedules/incident-commanders/overrides", bad)
        assert resp.status_code in {400, 422}, (bad, resp.body)
    assert http.call("GET", "/v1/schedules/incident-commanders/overrides").body["items"] == []


def test_calendar_feeds_are_behind_secret_urls(http: Http) -> None:
    url = http.call("GET", "/v1/schedules/payments-primary/calendar").body["url"]
    assert url.startswith("https://tocsin.example.test/v1/calendars/")
    path = url.removeprefix("https://tocsin.example.test")
    feed = http.call("GET", path, token=False)
    assert feed.status_code == 200
    assert feed.headers["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(feed.data)
    events = list(calendar.walk("VEVENT"))
    assert events and all(str(e["TRANSP"]) == "TRANSPARENT" for e in events)  # free, not busy
    assert any("payments-primary" in str(e["SUMMARY"]) for e in events)
    person = http.call("GET", "/v1/people/alice/calendar").body["url"]
    mine = icalendar.Calendar.from_ical(
        http.call("GET", person.removeprefix("https://tocsin.example.test"), token=False).data
    )
    assert mine.walk("VEVENT")
    assert all(str(e["X-TOCSIN-PERSON"]) == "alice" for e in mine.walk("VEVENT"))
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert http.call("GET", tampered, token=False).status_code == 401
    # the feed URL is not an API credential
    assert http.call("GET", "/v1/schedules", token=path.rsplit("/", 1)[1]).status_code == 401


@pytest.fixture
def feed_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    content: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = content.get("ics", b"")
            self.send_response(200 if body else 503)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/oncall.ics", content
    finally:
        server.shutdown()


def test_an_imported_ical_schedule_pages_whoever_the_feed_says(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feed_server: Any
) -> None:
    url, content = feed_server
    now = datetime.now(UTC)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//")
    cal.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", "shift-1@test")
    event.add("summary", "On call: Carol Diaz")
    event.add("dtstart", now - timedelta(hours=1))
    event.add("dtend", now + timedelta(hours=3))
    cal.add_component(event)
    content["ics"] = cal.to_ical()

    def imported(data: dict[str, Any]) -> None:
        three_levels(data)
        data["schedules"].append(
            {"name": "external", "timezone": "UTC", "ical": {"url": url, "refresh": "5m"}}
        )
        data["escalation_policies"][0]["levels"][0]["targets"] = [{"schedule": "external"}]

    use_config(monkeypatch, write_config(tmp_path, imported))
    http = Http()
    assert http.call("GET", "/v1/schedules/external/oncall").body["on_call"] == "carol"
    incident_id = declare(http)
    wait_until(lambda: sent_to(http, incident_id) == ["carol"])


def test_notification_rules_send_waves_within_a_level(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice: chat at once, SMS after 1 s, e-mail after 5 s (beyond the 3 s level: never)."""

    def waves(data: dict[str, Any]) -> None:
        three_levels(data)
        data["escalation_policies"][0]["levels"][0]["timeout"] = "3s"
        data["paging"]["default_rules"] = [
            {"method": "chat"},
            {"method": "sms", "after": "1s"},
            {"method": "email", "after": "5s"},
        ]

    use_config(monkeypatch, write_config(tmp_path, waves))
    http = Http()
    incident_id = declare(http)
    wait_until(lambda: "bob" in sent_to(http, incident_id))
    alice = [p for p in pages(http, incident_id) if ":alice:" in p["step"]]
    assert [p["method"] for p in alice] == ["chat", "sms"]
    chat, sms = (datetime.fromisoformat(p["at"]) for p in alice)
    assert timedelta(seconds=0.8) <= sms - chat  # the second wave, not at once
