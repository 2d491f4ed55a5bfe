"""Every `/incident` command and button through the local gateway: signed Slack requests, the
chat-ops queue (moto's event source mapping runs the chatops function), answers posted to the
response_url on the fake Slack server, changes made through the same services as the API."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from tests.fakes.slack import FakeSlack
from tests.helpers import Http, load_fixture, wait_for_workflows
from tests.integration import test_chatops
from tests.integration.test_chatops import (
    ALICE,
    CAROL,
    STRANGER,
    channel_of,
    command,
    sign,
    sqs_messages,
)
from tests.integration.test_escalation import declare, escalations, timeline, wait_until

slack = test_chatops.slack  # the fixture: Slack's fake with the chat secret in place

BOB = "U01BOBCHEN"
DAN = "U01DANOKAF"


def in_channel(http: Http, slack: FakeSlack, incident_id: str, text: str, user: str = CAROL) -> Any:
    """Run `/incident <text>` in the incident's channel; the answer the queue posted."""
    channel_id, channel_name = channel_of(http, incident_id)
    resp, url = command(
        http, slack, text, channel_id=channel_id, channel_name=channel_name, user=user
    )
    assert resp.status_code == 200, resp.body
    answers = slack.responses(url)
    assert answers, f"no answer to {text!r}"
    return answers[-1]


def said(answer: dict[str, Any]) -> str:
    return str(answer.get("text", "")) + json.dumps(answer.get("blocks", []))


def incident(http: Http, incident_id: str) -> dict[str, Any]:
    return dict(http.call("GET", f"/v1/incidents/{incident_id}").body)


def events(http: Http, incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in timeline(http, incident_id) if e["kind"] == kind]


def interact(http: Http, slack: FakeSlack, payload: dict[str, Any]) -> Any:
    body = ("payload=" + urllib.parse.quote(json.dumps(payload))).encode()
    return http.call("POST", "/v1/slack/interactions", body, token=False, headers=sign(body))


def press(
    http: Http,
    slack: FakeSlack,
    action_id: str,
    value: str,
    user: str = CAROL,
    select: bool = False,
) -> dict[str, Any]:
    """A block_actions click (the fixture's payload) on one of our buttons, or a choice in our
    severity select; the answer posted to its response_url."""
    payload = load_fixture("slack/interactivity_block_actions_payload.json")
    url = slack.response_url("actions")
    payload["user"]["id"] = user
    payload["response_url"] = url
    action = payload["actions"][0]
    action.update(action_id=action_id, block_id="b1")
    if select:
        action.pop("value", None)
        action["type"] = "static_select"
        action["selected_option"] = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    else:
        action["value"] = value
    resp = interact(http, slack, payload)
    assert resp.status_code == 200 and resp.data == b""
    (answer,) = slack.responses(url)
    return dict(answer)


def sev2(http: Http) -> str:
    incident_id = declare(http, "SEV2")
    wait_for_workflows(60)
    return incident_id


# --- declare -------------------------------------------------------------------------------------


def submission(view: dict[str, Any], values: dict[str, str], user: str = CAROL) -> dict[str, Any]:
    """The fixture's view_submission, carrying our modal back with the person's input."""
    payload = load_fixture("slack/interactivity_view_submission_payload.json")
    payload["user"]["id"] = user
    state: dict[str, Any] = {}
    for block, value in values.items():
        if block in ("severity", "service"):
            state[block] = {"value": {"type": "static_select", "selected_option": {"value": value}}}
        else:
            state[block] = {"value": {"type": "plain_text_input", "value": value}}
    payload["view"].update(
        id=view["id"],
        callback_id=view["callback_id"],
        private_metadata=view["private_metadata"],
        blocks=view["blocks"],
        state={"values": state},
    )
    return payload


def test_declare_opens_a_form_and_its_submission_declares_once(
    http: Http, slack: FakeSlack, aws: Any
) -> None:
    resp, url = command(http, slack, "declare")
    assert resp.status_code == 200 and resp.data == b""  # the modal is the answer
    (view,) = slack.views
    assert view["callback_id"] == "tocsin.declare" and view["submit"]["text"] == "Declare"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert set(blocks) == {"title", "severity", "service", "description"}
    severities = [o["value"] for o in blocks["severity"]["element"]["options"]]
    assert severities == ["SEV1", "SEV2", "SEV3"]
    assert blocks["severity"]["element"]["initial_option"]["value"] == "SEV3"
    assert {"checkout", "search"} <= {o["value"] for o in blocks["service"]["element"]["options"]}
    assert sqs_messages(aws) == 0  # nothing queued until it is submitted

    opened = {**view, "id": "V0DECLARE1"}
    # a submission without a title is refused inside the modal, nothing declared
    bad = submission(opened, {"severity": "SEV2", "title": "  "})
    resp = interact(http, slack, bad)
    assert resp.status_code == 200
    assert resp.body == {"response_action": "errors", "errors": {"title": "A title, please."}}

    good = submission(
        opened,
        {
            "title": "Checkout returns 502 for EU",
            "severity": "SEV2",
            "service": "checkout",
            "description": "Since the 14:05 deploy",
        },
    )
    resp = interact(http, slack, good)
    assert resp.status_code == 200 and resp.data == b""  # closes the modal
    (answer,) = slack.responses(url)  # through the command's own response_url
    assert answer["response_type"] == "in_channel"
    assert "carol declared INC-" in answer["text"] and "(SEV2)" in answer["text"]
    items = http.call("GET", "/v1/incidents").body["items"]
    (declared,) = [i for i in items if i["title"] == "Checkout returns 502 for EU"]
    assert (declared["severity"], declared["service"], declared["source"]) == (
        "SEV2",
        "checkout",
        "manual",
    )
    assert declared["description"] == "Since the 14:05 deploy"
    (created,) = events(http, declared["id"], "incident_created")
    assert (created["actor"]["kind"], created["actor"]["id"]) == ("user", "carol")

    # Slack delivering the same submission again declares nothing more
    interact(http, slack, good)
    items = http.call("GET", "/v1/incidents").body["items"]
    assert [i["title"] for i in items].count("Checkout returns 502 for EU") == 1
    assert "already declared" in slack.responses(url)[-1]["text"]


def test_declare_in_one_line(http: Http, slack: FakeSlack) -> None:
    resp, url = command(http, slack, "declare SEV3 search Results are stale for 10 minutes")
    assert resp.status_code == 200
    (answer,) = slack.responses(url)
    assert "declared INC-" in answer["text"]
    (found,) = [
        i
        for i in http.call("GET", "/v1/incidents").body["items"]
        if i["title"] == "Results are stale for 10 minutes"
    ]
    assert (found["severity"], found["service"]) == ("SEV3", "search")


def test_only_configured_people_may_declare_a_sev1(http: Http, slack: FakeSlack) -> None:
    """Defaults: anyone may declare, SEV1 only `responders` (configured people)."""
    _resp, url = command(http, slack, "declare SEV1 checkout Everything is on fire", user=STRANGER)
    (answer,) = slack.responses(url)
    assert f"Sorry, <@{STRANGER}> may not declare a SEV1" in answer["text"]
    assert "chatops.permissions.severity.SEV1" in answer["text"]
    assert http.call("GET", "/v1/incidents").body["items"] == []
    command(http, slack, "declare SEV3 checkout A stranger may declare a SEV3", user=STRANGER)
    command(http, slack, "declare SEV1 checkout Everything is on fire", user=CAROL)
    titles = {i["title"] for i in http.call("GET", "/v1/incidents").body["items"]}
    assert titles == {"A stranger may declare a SEV3", "Everything is on fire"}


# --- steering ------------------------------------------------------------------------------------


def test_sev_changes_the_severity_with_who_and_why(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    answer = in_channel(http, slack, incident_id, "sev SEV1 EU customers cannot pay")
    assert answer["response_type"] == "in_channel"
    assert "changed INC-" in answer["text"] and "SEV2 → SEV1" in answer["text"]
    assert incident(http, incident_id)["severity"] == "SEV1"
    (event,) = events(http, incident_id, "severity_changed")
    assert event["actor"]["id"] == "carol"
    assert event["data"] == {"old": "SEV2", "new": "SEV1", "reason": "EU customers cannot pay"}
    # raising to SEV1 is for configured people only; lowering is `respond`, also people
    answer = in_channel(http, slack, incident_id, "sev SEV3", user=STRANGER)
    assert "may not change" in answer["text"] and answer["response_type"] == "ephemeral"
    assert incident(http, incident_id)["severity"] == "SEV1"
    answer = in_channel(http, slack, incident_id, "sev SEV9")
    assert "Which severity?" in answer["text"]


def test_status_moves_the_incident_and_resolve_is_for_the_commander_or_team(
    http: Http, slack: FakeSlack
) -> None:
    incident_id = sev2(http)
    assert escalations(http, incident_id)[0]["status"] == "active"
    answer = in_channel(http, slack, incident_id, "status acknowledged")
    assert "acknowledged INC-" in answer["text"] and "Paging stopped" in answer["text"]
    assert incident(http, incident_id)["status"] == "acknowledged"
    assert escalations(http, incident_id)[0]["status"] == "acknowledged"
    in_channel(http, slack, incident_id, "status mitigated rolled back")
    assert incident(http, incident_id)["status"] == "mitigated"
    # carol is neither commander nor in payments (checkout's team): resolving is refused
    answer = in_channel(http, slack, incident_id, "status resolved")
    assert "may not resolve" in answer["text"] and "chatops.permissions.resolve" in answer["text"]
    assert incident(http, incident_id)["status"] == "mitigated"
    answer = in_channel(http, slack, incident_id, "status resolved all green", user=ALICE)
    assert incident(http, incident_id)["status"] == "resolved"
    (resolved,) = [
        e for e in events(http, incident_id, "status_changed") if e["data"]["new"] == "resolved"
    ]
    assert resolved["actor"]["id"] == "alice" and resolved["data"]["reason"] == "all green"
    answer = in_channel(http, slack, incident_id, "status acknowledged", user=ALICE)
    assert "That did not work" in answer["text"]  # a resolved incident is not acknowledged


def test_role_hands_a_role_over_by_mention(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    answer = in_channel(http, slack, incident_id, f"role commander <@{BOB}|bob>", user=ALICE)
    assert answer["response_type"] == "in_channel" and "Incident Commander" in answer["text"]
    roles = {
        r["role"]: r["holder"]
        for r in http.call("GET", f"/v1/incidents/{incident_id}/roles").body["items"]
    }
    assert roles["commander"] == "bob"
    answer = in_channel(http, slack, incident_id, "role communications me", user=STRANGER)
    assert "may not hand roles over" in answer["text"]
    in_channel(http, slack, incident_id, "role communications me", user=BOB)  # the commander
    roles = {
        r["role"]: r["holder"]
        for r in http.call("GET", f"/v1/incidents/{incident_id}/roles").body["items"]
    }
    assert roles["communications"] == "bob"
    answer = in_channel(http, slack, incident_id, "role pilot <@U01DANOKAF>", user=BOB)
    assert "There is no role 'pilot'" in answer["text"]
    answer = in_channel(http, slack, incident_id, "role operations @nobody-known", user=BOB)
    assert "not a configured person" in answer["text"]


def test_page_a_team_or_a_person(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    before = len(escalations(http, incident_id))
    answer = in_channel(http, slack, incident_id, "page discovery")
    assert "paged discovery" in answer["text"]
    answer = in_channel(http, slack, incident_id, f"page <@{DAN}>")
    assert "paged dan" in answer["text"]
    found = escalations(http, incident_id)
    assert len(found) == before + 2
    assert {e["policy_name"] for e in found[before:]} == {"discovery", "page-dan"}
    (dan,) = [e for e in found if e["policy_name"] == "page-dan"]
    assert dan["started_by"] == "carol" and dan["status"] == "active"
    wait_until(
        lambda: any(
            ":dan:" in p["step"] and p["state"] == "done"
            for e in escalations(http, incident_id)
            for p in e["pages"]
        ),
        timeout=30,
    )
    answer = in_channel(http, slack, incident_id, "page nobody-known")
    assert "not a configured team or person" in answer["text"]


def test_update_posts_a_stakeholder_update(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    answer = in_channel(http, slack, incident_id, "update Payments are degraded in the EU.")
    assert "Update for INC-" in answer["text"]
    (event,) = events(http, incident_id, "stakeholder_update")
    assert event["data"]["text"] == "Payments are degraded in the EU."
    assert event["actor"]["id"] == "carol"


# --- adding to the record ------------------------------------------------------------------------


def test_note_decision_and_action_items_go_on_the_timeline(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    in_channel(http, slack, incident_id, "note Error rate back to 0.1% after the rollback")
    in_channel(http, slack, incident_id, "decision Freeze deploys to checkout until Monday")
    answer = in_channel(
        http, slack, incident_id, f"action Add a p99 alert on payments-api <@{DAN}> 2026-12-01"
    )
    assert "Action item ai-" in answer["text"] and "owner dan" in answer["text"]
    (note,) = events(http, incident_id, "note")
    assert note["data"]["text"] == "Error rate back to 0.1% after the rollback"
    assert (note["actor"]["kind"], note["actor"]["id"]) == ("user", "carol")
    (decision,) = events(http, incident_id, "decision")
    assert decision["data"]["text"] == "Freeze deploys to checkout until Monday"
    (action,) = events(http, incident_id, "action_item_added")
    assert action["data"]["text"] == "Add a p99 alert on payments-api"
    assert (action["data"]["owner"], action["data"]["due"]) == ("dan", "2026-12-01")

    from tocsin.handlers.container import container

    (item,) = container().action_items.for_incident(incident_id)
    assert (item.status, item.priority, item.created_by) == ("open", "medium", "carol")
    # an unknown owner stays in the text; a relative due date counts from the request
    in_channel(http, slack, incident_id, "action Write the customer letter !high due tomorrow")
    items = container().action_items.for_incident(incident_id)
    letter = next(i for i in items if i.text == "Write the customer letter")
    assert letter.owner is None and letter.due and letter.priority == "high"
    answer = in_channel(http, slack, incident_id, "note")
    assert "What should the note say?" in answer["text"]


def test_redelivery_adds_one_note_and_one_action_item(http: Http, slack: FakeSlack) -> None:
    from datetime import UTC, datetime

    from tocsin.handlers.container import container
    from tocsin.services.chatops import Request

    incident_id = sev2(http)
    channel_id, _ = channel_of(http, incident_id)
    chatops = container().chatops
    at = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    for _ in range(2):
        for text in ("note Twice delivered", "action Twice delivered item"):
            request = Request(
                provider="slack",
                user_id=CAROL,
                channel_id=channel_id,
                text=text,
                delivery=f"delivery-{text[:4]}",
                at=at,
            )
            chatops.command(request)
    assert len(events(http, incident_id, "note")) == 1
    assert len(events(http, incident_id, "action_item_added")) == 1
    assert len(container().action_items.for_incident(incident_id)) == 1


# --- reading -------------------------------------------------------------------------------------


def test_timeline_lists_the_latest_events_readably(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    in_channel(http, slack, incident_id, "note The last thing that happened")
    answer = in_channel(http, slack, incident_id, "timeline 5")
    text = said(answer)
    assert "the last 5 events" in text
    assert "note by Carol" in text and "The last thing that happened" in text
    lines = answer["blocks"][1]["text"]["text"].split("\n")
    assert len(lines) == 5 and lines[-1].endswith("The last thing that happened")
    answer = in_channel(http, slack, incident_id, "timeline lots")
    assert "n is a number" in answer["text"]


def test_summary_shows_the_incident_with_its_buttons(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    answer = in_channel(http, slack, incident_id, "summary")
    assert answer["response_type"] == "ephemeral"
    text = said(answer)
    assert "INC-" in text and "Checkout down" in text and "Incident Commander:" in text
    (controls,) = [
        b
        for b in answer["blocks"]
        if b["type"] == "actions"
        and "action_id" in b["elements"][0]
        and b["elements"][0]["action_id"].startswith("tocsin.incident")
    ]
    kinds = [(e["type"], e["action_id"]) for e in controls["elements"]]
    assert kinds == [
        ("button", "tocsin.incident.acknowledge"),
        ("button", "tocsin.incident.escalate"),
        ("static_select", "tocsin.incident.severity"),
        ("button", "tocsin.incident.resolve"),
    ]
    resolve = controls["elements"][3]
    assert resolve["style"] == "danger" and "Resolve INC-" in resolve["confirm"]["text"]["text"]
    options = [o["value"] for o in controls["elements"][2]["options"]]
    assert options == [f"{incident_id} SEV1", f"{incident_id} SEV2", f"{incident_id} SEV3"]
    # the summary the workflow pinned in the channel carries the same buttons
    channel_id, _ = channel_of(http, incident_id)
    pinned = json.dumps(slack.messages[channel_id])
    assert "tocsin.incident.escalate" in pinned and "tocsin.incident.resolve" in pinned


def test_outside_an_incident_channel_commands_ask_which_incident(
    http: Http, slack: FakeSlack
) -> None:
    incident_id = sev2(http)
    _resp, url = command(http, slack, "note Hello")
    (answer,) = slack.responses(url)
    assert "Which incident?" in answer["text"] and "INC-" in said(answer)
    ref = incident(http, incident_id)["ref"]
    _resp, url = command(http, slack, f"note {ref} Named from elsewhere")
    assert "added to" in slack.responses(url)[0]["text"]
    (note,) = events(http, incident_id, "note")
    assert note["data"]["text"] == "Named from elsewhere"


# --- buttons -------------------------------------------------------------------------------------


def test_acknowledge_and_severity_and_resolve_buttons(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    answer = press(http, slack, "tocsin.incident.acknowledge", incident_id)
    assert answer["response_type"] == "in_channel" and "acknowledged" in answer["text"]
    assert incident(http, incident_id)["status"] == "acknowledged"
    answer = press(http, slack, "tocsin.incident.acknowledge", incident_id)
    assert "already acknowledged" in answer["text"]

    answer = press(http, slack, "tocsin.incident.severity", f"{incident_id} SEV3", select=True)
    assert "SEV2 → SEV3" in answer["text"]
    assert incident(http, incident_id)["severity"] == "SEV3"

    answer = press(http, slack, "tocsin.incident.resolve", incident_id, user=STRANGER)
    assert "may not resolve" in answer["text"] and answer["response_type"] == "ephemeral"
    answer = press(http, slack, "tocsin.incident.resolve", incident_id, user=ALICE)
    assert "moved INC-" in answer["text"] and "resolved" in answer["text"]
    assert incident(http, incident_id)["status"] == "resolved"


def test_escalate_pages_the_next_level_now(http: Http, slack: FakeSlack) -> None:
    """SEV2 checkout pages payments (level 1 waits 5 minutes): Escalate pages level 2 now."""
    incident_id = sev2(http)
    (esc,) = escalations(http, incident_id)
    assert esc["level"] == 1 and esc["status"] == "active"
    answer = press(http, slack, "tocsin.incident.escalate", incident_id, user=ALICE)
    assert "escalated INC-" in answer["text"] and "next level" in answer["text"]
    # the level moves first, then level 2's page wave records its pages: wait for both
    wait_until(
        lambda: any(
            ":l2:" in p["step"] for p in escalations(http, incident_id)[0].get("pages", [])
        ),
        timeout=30,
    )
    (esc,) = escalations(http, incident_id)
    assert esc["level"] == 2 and esc["status"] == "active"
    (event,) = events(http, incident_id, "escalated")
    assert event["actor"]["id"] == "alice"


def test_buttons_on_an_unknown_incident_or_action_say_so(http: Http, slack: FakeSlack) -> None:
    answer = press(http, slack, "tocsin.incident.resolve", "inc-00000000000000000000000000")
    assert "no longer exists" in answer["text"]


@pytest.mark.parametrize("user", [STRANGER])
def test_a_stranger_may_add_notes_but_not_steer(http: Http, slack: FakeSlack, user: str) -> None:
    incident_id = sev2(http)
    answer = in_channel(http, slack, incident_id, "note seen from support", user=user)
    assert "Note added" in answer["text"]
    (note,) = events(http, incident_id, "note")
    assert note["actor"]["id"] == f"slack:{user}"
    for text in ("status acknowledged", "page discovery", "update hi"):
        answer = in_channel(http, slack, incident_id, text, user=user)
        assert "Sorry" in answer["text"] and "chatops.permissions.respond" in answer["text"]


# --- runbooks ------------------------------------------------------------------------------------


def test_runbook_searches_and_its_buttons_rate_the_runbook(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    answer = in_channel(http, slack, incident_id, "runbook latency")
    text = said(answer)
    assert "Runbooks for" in text and "/v1/runbooks/" in text  # tracked links
    controls = [
        e
        for b in answer["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if str(e.get("action_id", "")).startswith("tocsin.runbook.")
    ]
    assert controls and len({c["action_id"] for c in controls}) == len(controls)  # unique ids
    helpful = controls[0]
    assert helpful["action_id"] == "tocsin.runbook.helpful"
    runbook_id = helpful["value"].split()[1]
    # a repeated id carries a number Slack sends back; the click still reaches the service
    second = next(c for c in controls if c["action_id"].startswith("tocsin.runbook.helpful~"))
    answer = press(http, slack, helpful["action_id"], helpful["value"])
    assert "marked helpful" in answer["text"]
    answer = press(http, slack, helpful["action_id"], helpful["value"])
    assert "already" in answer["text"]
    answer = press(http, slack, second["action_id"], second["value"])
    assert "marked helpful" in answer["text"]
    (rated,) = [
        e
        for e in events(http, incident_id, "runbook_feedback")
        if e["data"]["runbook_id"] == runbook_id
    ]
    assert rated["data"]["helpful"] is True and rated["actor"]["id"] == "carol"
    # outside an incident: a plain search, nothing to rate
    _resp, url = command(http, slack, "runbook dns resolution")
    (plain,) = slack.responses(url)
    assert "tocsin.runbook.helpful" not in json.dumps(plain["blocks"])


# --- review fixes: escalate once per click, outsiders, severity rules, the modal ----------------


def test_escalate_moves_one_level_per_click_even_when_redelivered(
    http: Http, slack: FakeSlack
) -> None:
    from tocsin.handlers.container import container
    from tocsin.services.chatops import ESCALATE, Request

    incident_id = sev2(http)
    wait_until(lambda: escalations(http, incident_id)[0].get("waiting_since"), timeout=30)
    channel_id, _ = channel_of(http, incident_id)
    from tocsin.domain.clock import utcnow

    click = Request(
        provider="slack", user_id=ALICE, channel_id=channel_id, delivery="click-1", at=utcnow()
    )
    first = container().chatops.act(click, ESCALATE, incident_id)
    assert "next level" in first.text  # type: ignore[union-attr]
    wait_until(lambda: escalations(http, incident_id)[0]["level"] == 2, timeout=30)
    # the same click delivered again, once level 2 waits: it started after the click
    wait_until(
        lambda: (
            escalations(http, incident_id)[0].get("waiting_since", "")
            > escalations(http, incident_id)[0].get("escalated_at", "")
        ),
        timeout=30,
    )
    again = container().chatops.act(click, ESCALATE, incident_id)
    assert "nothing to skip" in again.text  # type: ignore[union-attr]
    (esc,) = escalations(http, incident_id)
    assert esc["level"] == 2
    assert len(events(http, incident_id, "escalated")) == 1


def test_escalate_at_the_last_level_leaves_paging_as_it_is(http: Http, slack: FakeSlack) -> None:
    """SEV3 pages nobody; `/incident page @dan` pages one level: nothing to escalate to."""
    resp = http.call(
        "POST", "/v1/incidents", {"title": "Slow search", "severity": "SEV3", "service": "search"}
    )
    incident_id = resp.body["id"]
    wait_for_workflows(60)
    # named, not from its channel: outside business hours a SEV3 gets no channel
    ref = incident(http, incident_id)["ref"]
    resp, url = command(http, slack, f"page {ref} <@{DAN}>")
    assert resp.status_code == 200 and "paged dan" in said(slack.responses(url)[-1])
    wait_until(lambda: escalations(http, incident_id)[0].get("waiting_since"), timeout=30)
    answer = press(http, slack, "tocsin.incident.escalate", incident_id, user=ALICE)
    assert "last level already" in answer["text"]
    (esc,) = escalations(http, incident_id)
    assert esc["status"] == "active"  # dan's paging goes on (his later notification waves)
    assert events(http, incident_id, "escalated") == []


def test_outside_its_channel_an_incident_is_only_for_configured_people(
    http: Http, slack: FakeSlack
) -> None:
    incident_id = sev2(http)
    ref = incident(http, incident_id)["ref"]
    for text in (f"timeline {ref}", f"summary {ref}", f"note {ref} hi", f"runbook {ref} latency"):
        _resp, url = command(http, slack, text, user=STRANGER)
        (answer,) = slack.responses(url)
        assert f"Outside {ref}'s channel only configured people" in answer["text"], text
    assert events(http, incident_id, "note") == []
    # in the incident's channel, a stranger may read and add to the record
    answer = in_channel(http, slack, incident_id, "timeline 3", user=STRANGER)
    assert "the last 3 events" in answer["text"]


def test_a_severity_rule_guards_that_severity_and_worse(http: Http, slack: FakeSlack) -> None:
    from tocsin.domain.chatops import ChatOpsConfig, ChatOpsPermissions
    from tocsin.handlers.container import container
    from tocsin.services.chatops import Request

    chatops = container().chatops
    stranger = Request(provider="slack", user_id=STRANGER)
    # unset: the most severe configured level is for configured people
    assert "severity.SEV1" in (chatops.declare_denied(stranger, "SEV1", None) or "")
    assert chatops.declare_denied(stranger, "SEV2", None) is None
    rules = ChatOpsConfig(permissions=ChatOpsPermissions(severity={"SEV2": ["responders"]}))
    chatops.config = chatops.config.model_copy(update={"chatops": rules})
    assert "severity.SEV2" in (chatops.declare_denied(stranger, "SEV1", None) or "")
    assert "severity.SEV2" in (chatops.declare_denied(stranger, "SEV2", None) or "")
    assert chatops.declare_denied(stranger, "SEV3", None) is None
    carol = Request(provider="slack", user_id=CAROL)
    assert chatops.declare_denied(carol, "SEV1", None) is None


def test_the_declare_modal_refuses_a_severity_the_user_may_not_declare(
    http: Http, slack: FakeSlack
) -> None:
    command(http, slack, "declare", user=STRANGER)
    (view,) = slack.views
    denied = submission(
        {**view, "id": "V0DECLARE2"}, {"title": "All down", "severity": "SEV1"}, user=STRANGER
    )
    resp = interact(http, slack, denied)
    assert resp.body["response_action"] == "errors"
    assert "may not declare a SEV1" in resp.body["errors"]["severity"]
    assert http.call("GET", "/v1/incidents").body["items"] == []
