"""Severity SLAs are enforced by the sweeper: missed targets flagged and counted once,
update reminders posted once per due time, stakeholder updates restart the cadence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.helpers import Http, wait_for_workflows
from tests.integration.test_response import adapters, declare, timeline


def sweep_at(at: datetime) -> Any:
    from tocsin.handlers.container import container
    from tocsin.services.sweeper import sweep

    c = container()
    c.incidents.clock = lambda: at
    return sweep(c.incident_repo, c.incidents, c.config, c.sla)


def created_at(http: Http, incident_id: str) -> datetime:
    body = http.call("GET", f"/v1/incidents/{incident_id}").body
    return datetime.fromisoformat(body["created_at"])


def chat_texts(channel_name: str) -> list[str]:
    chat = adapters().get("chat")
    return [m["message"]["text"] for m in chat.messages(chat.find_channel(channel_name))]


def test_a_missed_acknowledgement_is_flagged_and_counted_once(http: Http) -> None:
    from tocsin.handlers.container import container

    incident_id = declare(http, "Checkout down", "SEV1")  # acknowledge within 5m
    opened = created_at(http, incident_id)
    assert sweep_at(opened + timedelta(minutes=4)).sla.missed == []
    report = sweep_at(opened + timedelta(minutes=6))
    assert (incident_id, "acknowledge") in report.sla.missed
    assert sweep_at(opened + timedelta(minutes=7)).sla.missed == []  # once
    flagged = [e for e in timeline(http, incident_id) if e["kind"] == "sla_missed"]
    assert [e["data"]["target"] for e in flagged] == ["acknowledge"]
    assert flagged[0]["data"]["within"] == "5m"
    assert container().incident_repo.sla_missed_counts()["acknowledge"] == 1
    body = http.call("GET", f"/v1/incidents/{incident_id}/response").body
    assert body["sla"]["missed"] == ["acknowledge"]


def test_acknowledging_in_time_meets_the_target(http: Http) -> None:
    incident_id = declare(http, "Checkout down", "SEV1")
    opened = created_at(http, incident_id)
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "acknowledged"})
    report = sweep_at(opened + timedelta(minutes=10))
    assert (incident_id, "acknowledge") not in report.sla.missed
    # but no stakeholder update within 15m is a miss of its own
    assert (incident_id, "first_update") in sweep_at(opened + timedelta(minutes=16)).sla.missed


def test_the_communications_lead_is_reminded_once_per_due_update(http: Http) -> None:
    incident_id = declare(http, "Checkout down", "SEV1")  # an update every 30m
    opened = created_at(http, incident_id)
    channel = "inc-1-checkout-down"
    assert sweep_at(opened + timedelta(minutes=29)).sla.reminded == []
    assert sweep_at(opened + timedelta(minutes=31)).sla.reminded == [incident_id]
    assert sweep_at(opened + timedelta(minutes=32)).sla.reminded == []  # once
    reminders = [t for t in chat_texts(channel) if t.startswith("Communications Lead")]
    assert len(reminders) == 1 and "INC-1" in reminders[0] and "every 30m" in reminders[0]
    # a stakeholder update restarts the cadence
    resp = http.call(
        "POST",
        f"/v1/incidents/{incident_id}/updates",
        {"text": "Rolled back the deploy; errors falling.", "posted_by": "carol"},
    )
    assert resp.status_code == 202, resp.body
    assert resp.body["delivery"]["state"] == "started"
    wait_for_workflows(60)  # the response workflow posts it
    delivered = [
        s
        for s in http.call("GET", f"/v1/incidents/{incident_id}/response").body["steps"]
        if s["step"].startswith("update:")
    ]
    assert sorted(s["action"] for s in delivered) == ["notify_stakeholders", "post_message"]
    assert all(s["outcome"] == "done" for s in delivered)
    updated = datetime.fromisoformat(resp.body["event"]["at"])
    assert sweep_at(updated + timedelta(minutes=29)).sla.reminded == []
    assert sweep_at(updated + timedelta(minutes=31)).sla.reminded == [incident_id]
    assert "Rolled back the deploy; errors falling." in chat_texts(channel)


def test_a_stakeholder_update_is_recorded_even_when_chat_fails(
    http: Http, monkeypatch: Any
) -> None:
    from tocsin.integrations.local import LocalChat
    from tocsin.integrations.ports import RetryableIntegrationError

    incident_id = declare(http, "Checkout down", "SEV1")

    def down(self: Any, channel: Any, message: Any) -> Any:
        raise RetryableIntegrationError("local", "chat.postMessage -> 503")

    monkeypatch.setattr(LocalChat, "post_message", down)
    resp = http.call("POST", f"/v1/incidents/{incident_id}/updates", {"text": "Investigating"})
    assert resp.status_code == 202
    wait_for_workflows(60)
    kinds = [e["kind"] for e in timeline(http, incident_id)]
    assert "stakeholder_update" in kinds
    body = http.call("GET", f"/v1/incidents/{incident_id}").body
    assert body["last_update_at"] == resp.body["event"]["at"]
    # retried with backoff, then recorded as failed on the incident's response
    steps = http.call("GET", f"/v1/incidents/{incident_id}/response").body["steps"]
    (posted,) = [
        s for s in steps if s["step"].startswith("update:") and s["action"] == "post_message"
    ]
    assert posted["state"] == "failed" and posted["error"] == "RetryableError"


def test_an_update_repeated_with_its_idempotency_key_is_recorded_and_posted_once(
    http: Http, aws: Any
) -> None:
    incident_id = declare(http, "Checkout down", "SEV1")
    headers = {"Idempotency-Key": "upd-1"}
    body = {"text": "Mitigated by failover"}
    first = http.call("POST", f"/v1/incidents/{incident_id}/updates", body, headers=headers)
    again = http.call("POST", f"/v1/incidents/{incident_id}/updates", body, headers=headers)
    assert first.body["event"] == again.body["event"]
    wait_for_workflows(60)
    updates = [e for e in timeline(http, incident_id) if e["kind"] == "stakeholder_update"]
    assert len(updates) == 1
    assert chat_texts("inc-1-checkout-down").count("Mitigated by failover") == 1


def test_a_reminder_that_fails_for_good_is_recorded_not_retried_every_minute(
    http: Http, monkeypatch: Any
) -> None:
    from tocsin.integrations.local import LocalChat
    from tocsin.integrations.ports import PermanentIntegrationError

    incident_id = declare(http, "Checkout down", "SEV1")
    opened = created_at(http, incident_id)
    calls = []

    def refused(self: Any, channel: Any, message: Any) -> Any:
        calls.append(message)
        raise PermanentIntegrationError("local", "chat.postMessage: not_in_channel")

    monkeypatch.setattr(LocalChat, "post_message", refused)
    sweep_at(opened + timedelta(minutes=31))
    sweep_at(opened + timedelta(minutes=32))
    assert len(calls) == 1


def test_updates_reject_empty_text_and_unknown_incidents(http: Http) -> None:
    incident_id = declare(http, "Checkout down", "SEV3")
    assert (
        http.call("POST", f"/v1/incidents/{incident_id}/updates", {"text": ""}).status_code == 422
    )
    assert http.call("POST", "/v1/incidents/inc-nope/updates", {"text": "x"}).status_code == 404


def test_targets_count_from_when_the_incident_took_its_severity(http: Http) -> None:
    from tocsin.handlers.container import container

    incident_id = declare(http, "Refunds slow", "SEV3", "search")  # acknowledge within 4h
    opened = created_at(http, incident_id)
    upgraded = opened + timedelta(minutes=30)
    container().incidents.clock = lambda: upgraded
    assert (
        http.call("PATCH", f"/v1/incidents/{incident_id}", {"severity": "SEV1"}).status_code == 200
    )
    # SEV1's 5 minutes count from the upgrade, not from the opening
    assert sweep_at(upgraded + timedelta(minutes=4)).sla.missed == []
    report = sweep_at(upgraded + timedelta(minutes=6))
    assert (incident_id, "acknowledge") in report.sla.missed
    (flag,) = [e for e in timeline(http, incident_id) if e["kind"] == "sla_missed"]
    due = datetime.fromisoformat(flag["data"]["due_at"])
    assert abs(due - (upgraded + timedelta(minutes=5))) < timedelta(milliseconds=1)
