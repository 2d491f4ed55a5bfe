"""Action items through local mode: the API (create, read, change, list across incidents),
chat, the postmortem, the ticket work the sweeper does (local ticketing here; Jira through its
loopback fake below, with its webhook), and the reminders to owners of overdue items."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.jira import FakeJira
from tests.helpers import REPO, Http, load_fixture, wait_for_workflows

TODAY = datetime.now(UTC).date()


def c() -> Any:
    from tocsin.handlers.container import container

    return container()


def declare(http: Http, title: str = "Checkout errors", severity: str = "SEV3") -> dict[str, Any]:
    resp = http.call(
        "POST", "/v1/incidents", {"title": title, "severity": severity, "service": "checkout"}
    )
    assert resp.status_code == 201, resp.body
    wait_for_workflows(60)
    return http.call("GET", f"/v1/incidents/{resp.body['id']}").body  # type: ignore[no-any-return]


def add(http: Http, incident: str, text: str, **fields: Any) -> Any:
    headers = {"Idempotency-Key": fields.pop("key")} if "key" in fields else {}
    return http.call(
        "POST", f"/v1/incidents/{incident}/action-items", {"text": text, **fields}, headers=headers
    )


def patch(http: Http, incident: str, action_id: str, **fields: Any) -> Any:
    return http.call("PATCH", f"/v1/incidents/{incident}/action-items/{action_id}", fields)


def sweep() -> dict[str, Any]:
    from tocsin.handlers.sweeper import handler
    from tocsin_local.patches import FakeLambdaContext

    return handler({}, FakeLambdaContext("sweeper"))  # type: ignore[no-any-return]


def kinds(http: Http, incident_id: str, kind: str) -> list[dict[str, Any]]:
    items = http.call("GET", f"/v1/incidents/{incident_id}/timeline?limit=200").body["items"]
    return [e for e in items if e["kind"] == kind]


# --- the API ------------------------------------------------------------------------------------


def test_create_read_change_through_the_api(http: Http) -> None:
    incident = declare(http)
    due = (TODAY + timedelta(days=7)).isoformat()
    resp = add(
        http,
        incident["ref"],
        "Add a circuit breaker to the PSP client",
        owner="alice",
        due=due,
        priority="high",
        created_by="carol",
        key="pm-1",
    )
    assert resp.status_code == 201, resp.body
    item = resp.body
    assert item["id"].startswith("ai-") and item["incident_id"] == incident["id"]
    assert (item["owner"], item["due"], item["priority"], item["status"]) == (
        "alice",
        due,
        "high",
        "open",
    )
    assert item["version"] == 0 and item["created_by"] == "carol" and item["source"] == "api"
    assert item["ticket_sync"] == "create"  # the sweeper makes the ticket
    # the same Idempotency-Key: the same item, not a second one
    again = add(http, incident["id"], "Add a circuit breaker to the PSP client", key="pm-1")
    assert again.status_code == 200 and again.body["id"] == item["id"]
    listed = http.call("GET", f"/v1/incidents/{incident['id']}/action-items").body["items"]
    assert [i["id"] for i in listed] == [item["id"]]
    (added,) = kinds(http, incident["id"], "action_item_added")
    assert added["actor"]["id"] == "carol" and added["data"]["owner"] == "alice"

    done = patch(http, incident["id"], item["id"], status="done", version=0, changed_by="alice")
    assert done.status_code == 200, done.body
    assert done.body["status"] == "done" and done.body["version"] == 1
    assert done.body["done_by"] == "alice" and done.body["done_at"]
    stale = patch(http, incident["id"], item["id"], status="open", version=0)
    assert stale.status_code == 409 and "version" in stale.body["error"]
    # null clears the owner and the due date; fields not given stay
    cleared = patch(http, incident["id"], item["id"], owner=None, due=None).body
    assert cleared["owner"] is None and cleared["due"] is None and cleared["priority"] == "high"
    (updated, _) = kinds(http, incident["id"], "action_item_updated")
    assert updated["data"]["changes"] == {"status": "done"} and updated["actor"]["id"] == "alice"
    one = http.call("GET", f"/v1/incidents/{incident['ref']}/action-items/{item['id']}").body
    assert one["version"] == 2


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"text": "x", "owner": "mallory"}, 400, "'mallory' is not a configured person"),
        ({"text": "x", "priority": "whenever"}, 422, "priority"),
        ({"text": "x", "due": "soon"}, 422, "due"),
        ({"text": ""}, 422, "text"),
        ({"text": "x", "colour": "red"}, 422, "colour"),
    ],
)
def test_a_bad_item_is_refused_with_the_reason_and_stores_nothing(
    http: Http, fields: dict[str, Any], status: int, says: str
) -> None:
    incident = declare(http)
    resp = add(http, incident["id"], **fields)
    assert resp.status_code == status, resp.body
    assert says in json.dumps(resp.body)
    assert http.call("GET", f"/v1/incidents/{incident['id']}/action-items").body["items"] == []


def test_unknown_incident_item_status_and_cursor_are_clear_errors(http: Http) -> None:
    incident = declare(http)
    assert add(http, "INC-9999", "x").status_code == 404
    missing = patch(http, incident["id"], "ai-0000000000000000", status="done")
    assert missing.status_code == 404 and "no action item" in missing.body["error"]
    bad = http.call("GET", "/v1/action-items?status=later")
    assert bad.status_code == 400 and "unknown status" in bad.body["error"]
    assert http.call("GET", "/v1/action-items?cursor=nope").status_code == 400
    add(http, incident["id"], "one")
    add(http, incident["id"], "two")
    page = http.call("GET", "/v1/action-items?limit=1").body
    other = http.call("GET", f"/v1/action-items?status=done&cursor={page['next_cursor']}")
    assert other.status_code == 400 and "cursor" in other.body["error"]
    assert http.call("GET", "/v1/action-items?status=done&overdue=true").status_code == 400
    assert http.call("GET", "/v1/action-items", token="wrong").status_code == 401


def test_open_items_across_incidents_soonest_due_first_with_filters_and_pages(
    http: Http,
) -> None:
    first, second = declare(http, "First"), declare(http, "Second")
    late = (TODAY - timedelta(days=3)).isoformat()
    soon = (TODAY + timedelta(days=2)).isoformat()
    later = (TODAY + timedelta(days=30)).isoformat()
    ids = {
        "late": add(http, first["id"], "late one", owner="alice", due=late).body["id"],
        "none": add(http, second["id"], "no due date", owner="bob").body["id"],
        "later": add(http, second["id"], "later one", owner="alice", due=later).body["id"],
        "soon": add(http, first["id"], "soon one", owner="bob", due=soon).body["id"],
        "done": add(http, second["id"], "finished", owner="alice", due=late).body["id"],
    }
    patch(http, second["id"], ids["done"], status="done")

    def listing(query: str) -> list[str]:
        resp = http.call("GET", f"/v1/action-items?{query}")
        assert resp.status_code == 200, resp.body
        return [i["id"] for i in resp.body["items"]]

    assert listing("status=open") == [ids["late"], ids["soon"], ids["later"], ids["none"]]
    assert listing("") == listing("status=open")
    assert listing("overdue=true") == [ids["late"]]
    assert listing("owner=alice") == [ids["late"], ids["later"]]
    assert listing("status=done") == [ids["done"]]
    # pages of one, following the cursor, give the same list
    seen, cursor = [], None
    while True:
        query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = http.call("GET", f"/v1/action-items?{query}").body
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == listing("status=open")
    # an owner filter with pages
    page = http.call("GET", "/v1/action-items?owner=bob&limit=1").body
    assert [i["id"] for i in page["items"]] == [ids["soon"]] and page["next_cursor"]
    rest = http.call("GET", f"/v1/action-items?owner=bob&limit=1&cursor={page['next_cursor']}")
    assert [i["id"] for i in rest.body["items"]] == [ids["none"]]


# --- chat ---------------------------------------------------------------------------------------


def test_chat_adds_lists_and_finishes_items(http: Http) -> None:
    from tocsin.services.chatops import Request

    incident = declare(http)

    def say(text: str, delivery: str) -> Any:
        return c().chatops.command(
            Request(
                provider="slack", user_id="U01CAROL01", channel_id="", text=text, delivery=delivery
            )
        )

    answer = say(f"action {incident['ref']} Rotate the PSP key <@U01BOBCHEN> due 3d", "d-1")
    assert "added to" in answer.text
    (item,) = c().action_items.for_incident(incident["id"])
    assert item.owner == "bob" and item.due == TODAY + timedelta(days=3)
    assert item.source == "slack" and item.created_by == "carol"
    say(f"action {incident['ref']} Rotate the PSP key <@U01BOBCHEN> due 3d", "d-1")  # redelivery
    assert len(c().action_items.for_incident(incident["id"])) == 1
    listed = say(f"action {incident['ref']} list", "d-2")
    assert item.id in "\n".join(listed.lines)
    done = say(f"action {incident['ref']} done {item.id}", "d-3")
    assert "is done" in done.text
    assert c().action_items.get(incident["id"], item.id).done_by == "carol"
    bad = say(f"action {incident['ref']} Fix it due someday-ish", "d-4")
    assert "Fix it due someday-ish" in bad.text  # not a date word: part of the text


# --- tickets (local ticketing records them) ----------------------------------------------------


def test_the_sweeper_creates_the_ticket_and_completes_it_when_done(http: Http) -> None:
    from tocsin.integrations.ports import TicketRef

    incident = declare(http)
    due = (TODAY + timedelta(days=5)).isoformat()
    item = add(http, incident["id"], "Alert on PSP latency", owner="alice", due=due).body
    report = sweep()
    assert report["action_item_tickets"]["created"] == 1
    stored = http.call("GET", f"/v1/incidents/{incident['id']}/action-items/{item['id']}").body
    assert stored["ticket"]["key"].startswith("LOCAL-") and stored["ticket_sync"] is None
    tickets = c().adapters.get("ticketing")
    recorded = tickets.get("LOCAL#ticket", item["id"])
    assert recorded["summary"] == f"[{incident['ref']}] Alert on PSP latency"
    assert recorded["due"] == due and recorded["priority"] == "medium"
    assert "Owner: Alice Martin" in recorded["description"]
    assert sweep()["action_item_tickets"]["created"] == 0  # nothing left to do

    patch(http, incident["id"], item["id"], status="done")
    assert sweep()["action_item_tickets"]["completed"] == 1
    assert tickets.ticket_done(TicketRef(**stored["ticket"]))
    # the postmortem lists the item with its ticket
    md = http.call("GET", f"/v1/incidents/{incident['id']}/postmortem?format=md").data.decode()
    md = md.replace("\\", "")  # Markdown escapes
    assert f"ticket {stored['ticket']['key']}" in md and f"({item['id']}, done)" in md


def test_an_item_finished_before_its_ticket_gets_none(http: Http) -> None:
    incident = declare(http)
    item = add(http, incident["id"], "Small thing").body
    patch(http, incident["id"], item["id"], status="cancelled")
    assert sweep()["action_item_tickets"]["created"] == 0
    stored = c().action_items.get(incident["id"], item["id"])
    assert stored.ticket is None and stored.ticket_sync is None


# --- the postmortem -----------------------------------------------------------------------------


def test_follow_ups_written_in_the_postmortem_become_action_items(http: Http) -> None:
    incident = declare(http)
    body = {
        "sections": {"lessons": "Retries hid the PSP outage for 10 minutes."},
        "action_items": [
            {"text": "Alert on PSP error rate", "owner": "alice", "priority": "high"},
            {"text": "Document the fallback provider switch", "due": "2027-01-15"},
        ],
        "by": "carol",
    }
    resp = http.call("PUT", f"/v1/incidents/{incident['id']}/postmortem/sections", body)
    assert resp.status_code == 200, resp.body
    items = c().action_items.for_incident(incident["id"])
    assert sorted(i.text for i in items) == [
        "Alert on PSP error rate",
        "Document the fallback provider switch",
    ]
    assert {i.source for i in items} == {"postmortem"} and {i.created_by for i in items} == {
        "carol"
    }
    # saving the same follow-ups again adds none
    http.call("PUT", f"/v1/incidents/{incident['id']}/postmortem/sections", body)
    assert len(c().action_items.for_incident(incident["id"])) == 2
    md = http.call("GET", f"/v1/incidents/{incident['id']}/postmortem?format=md").data.decode()
    assert "Alert on PSP error rate — owner alice" in md.replace("\\", "")
    # one bad follow-up stores none of them
    version = c().postmortems.sections(incident["id"])["version"]
    bad = {
        "sections": {"went_well": "should not be saved"},
        "action_items": [{"text": "fine"}, {"text": "owner unknown", "owner": "mallory"}],
    }
    resp = http.call("PUT", f"/v1/incidents/{incident['id']}/postmortem/sections", bad)
    assert resp.status_code == 400 and "action_items[1]" in resp.body["error"]
    assert len(c().action_items.for_incident(incident["id"])) == 2
    assert c().postmortems.sections(incident["id"])["version"] == version  # sections untouched


# --- reminders ----------------------------------------------------------------------------------


def at(hour: int, day: date = TODAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 5, tzinfo=UTC)


def test_owners_get_one_reminder_a_day_listing_their_overdue_items(http: Http) -> None:
    incident = declare(http)
    late = (TODAY - timedelta(days=2)).isoformat()
    first = add(http, incident["id"], "Fix the retry storm", owner="alice", due=late).body
    second = add(
        http, incident["id"], "Add a dashboard", owner="alice", due=late, priority="urgent"
    ).body
    add(
        http, incident["id"], "Not late", owner="alice", due=(TODAY + timedelta(days=5)).isoformat()
    )
    add(http, incident["id"], "Nobody's", due=late)
    add(http, incident["id"], "Bob's", owner="bob", due=late)
    service = c().action_items
    early = service.remind_overdue(at(8))  # before 09:00 UTC (config)
    assert early.skipped and early.items == 0
    report = service.remind_overdue(at(9))
    assert (report.owners, report.items, report.without_owner) == (2, 3, 1)
    chat = c().adapters.get("chat")
    (message,) = chat.direct_messages("alice")
    text = json.dumps(message)
    assert "2 overdue action items" in text
    assert "Add a dashboard" in text and "Fix the retry storm" in text and "Not late" not in text
    assert text.index("Add a dashboard") < text.index("Fix the retry storm")  # urgent first
    assert "2 days overdue" in text and incident["ref"] in text
    assert first["id"] in text and second["id"] in text  # what `/incident action done` needs
    assert len(chat.direct_messages("bob")) == 1
    # the same day again: nothing; the next day: again
    assert service.remind_overdue(at(15)).items == 0
    assert service.remind_overdue(at(9, TODAY + timedelta(days=1))).items == 3
    # done items are not reminded
    patch(http, incident["id"], first["id"], status="done")
    patch(http, incident["id"], second["id"], status="done")
    assert service.remind_overdue(at(9, TODAY + timedelta(days=2))).sent == ["bob"]


def test_a_failed_reminder_is_sent_by_the_next_run(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.integrations.ports import RetryableIntegrationError

    incident = declare(http)
    add(http, incident["id"], "Fix it", owner="alice", due=(TODAY - timedelta(days=1)).isoformat())
    chat = c().adapters.get("chat")
    real = chat.direct_message

    def down(user_id: str, message: Any) -> Any:
        raise RetryableIntegrationError("slack", "503 from chat.postMessage")

    monkeypatch.setattr(chat, "direct_message", down)
    failed = c().action_items.remind_overdue(at(9))
    assert failed.failed == 1 and failed.items == 0
    monkeypatch.setattr(chat, "direct_message", real)
    assert c().action_items.remind_overdue(at(10)).items == 1
    assert len(chat.direct_messages("alice")) == 1


def test_the_scheduled_invocation_runs_the_reminders(http: Http) -> None:
    """What EventBridge Scheduler (and local mode's scheduler) invokes the sweeper with."""
    from tocsin.handlers.sweeper import REMINDERS_TASK, handler
    from tocsin_local.patches import FakeLambdaContext

    incident = declare(http)
    add(http, incident["id"], "Fix it", owner="dan", due=(TODAY - timedelta(days=1)).isoformat())
    c().action_items.clock = lambda: at(11)
    result = handler({"task": REMINDERS_TASK}, FakeLambdaContext("sweeper"))
    assert result == {"reminders": result["reminders"]} and result["reminders"]["sent"] == ["dan"]


# --- Jira: tickets through the real adapter, done in Jira comes back by webhook ---------------


@pytest.fixture
def jira(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJira]:
    from tocsin_local.runtime import reset_runtime_caches

    with FakeJira() as fake:
        config = tmp_path / "config"
        shutil.copytree(REPO / "config", config)
        (config / "integrations.yaml").write_text(
            "integrations:\n"
            "  chat: {provider: local}\n"
            "  ticketing:\n"
            "    provider: jira\n"
            "    secret: tocsin/jira\n"
            f"    options: {{base_url: '{fake.url}', project_key: {fake.project_key}}}\n"
        )
        workflows = (config / "workflows.yaml").read_text()
        (config / "workflows.yaml").write_text(
            workflows.replace("- create_ticket", "- post_summary")
        )
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="tocsin/jira",
            SecretString=json.dumps({"email": fake.email, "api_token": fake.api_token}),
        )
        monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(config))
        reset_runtime_caches()
        yield fake


def jira_event(key: str, issue_id: str, category: str | None, name: str) -> dict[str, Any]:
    """The real Jira Cloud `jira:issue_updated` payload, about our issue, in `category`."""
    event = load_fixture("jira/zulip_webhook_jira_issue_updated_status_change.json")
    event["issue"]["key"], event["issue"]["id"] = key, issue_id
    status = event["issue"]["fields"]["status"]
    status["name"] = name
    if category is None:
        del status["statusCategory"]
    else:
        status["statusCategory"]["key"] = category
    return event


def webhook(http: Http, body: Any, token: str | None = None) -> Any:
    from tests.helpers import TOKEN

    return http.call("POST", f"/v1/webhooks/jira?token={token or TOKEN}", body, token=False)


def test_jira_ticket_for_each_item_and_done_in_jira_is_done_here(
    http: Http, jira: FakeJira
) -> None:
    incident = declare(http)
    due = (TODAY + timedelta(days=10)).isoformat()
    item = add(
        http, incident["id"], "Add PSP failover runbook", owner="alice", due=due, priority="high"
    ).body
    assert sweep()["action_item_tickets"]["created"] == 1
    assert jira.violations == []
    (create,) = jira.calls("POST", "/rest/api/3/issue")
    fields = create.json["fields"]
    assert fields["summary"] == f"[{incident['ref']}] Add PSP failover runbook"
    assert fields["duedate"] == due
    ticket = c().action_items.get(incident["id"], item["id"]).ticket
    assert ticket["provider"] == "jira" and ticket["url"].endswith(f"/browse/{ticket['key']}")

    # someone moves it to In Progress: still open here
    moving = webhook(http, jira_event(ticket["key"], ticket["id"], "indeterminate", "In Progress"))
    assert moving.status_code == 200 and moving.body["status"] == "open"
    # then to Done
    done = webhook(http, jira_event(ticket["key"], ticket["id"], "done", "Done"))
    assert done.status_code == 200 and done.body["status"] == "done"
    stored = c().action_items.get(incident["id"], item["id"])
    assert stored.status.value == "done" and stored.ticket_sync is None  # no echo to Jira
    (updated,) = [
        e
        for e in kinds(http, incident["id"], "action_item_updated")
        if "status" in e["data"]["changes"]
    ]
    assert updated["actor"] == {"kind": "integration", "id": "jira", "name": "James Williams"}
    # the same delivery again changes nothing; reopened in Jira reopens here
    assert (
        webhook(http, jira_event(ticket["key"], ticket["id"], "done", "Done")).body["status"]
        == "done"
    )
    assert len(kinds(http, incident["id"], "action_item_updated")) == 2  # the ticket, done
    reopened = webhook(http, jira_event(ticket["key"], ticket["id"], "new", "To Do"))
    assert reopened.body["status"] == "open"


def test_done_here_transitions_the_jira_issue(http: Http, jira: FakeJira) -> None:
    incident = declare(http)
    item = add(http, incident["id"], "Tune the PSP timeout").body
    sweep()
    patch(http, incident["id"], item["id"], status="done")
    assert sweep()["action_item_tickets"]["completed"] == 1
    ticket = c().action_items.get(incident["id"], item["id"]).ticket
    assert jira.calls("POST", rf"/rest/api/3/issue/{ticket['key']}/transitions")
    assert jira.violations == []


def test_a_webhook_without_the_category_asks_jira(http: Http, jira: FakeJira) -> None:
    incident = declare(http)
    item = add(http, incident["id"], "Check the category").body
    sweep()
    ticket = c().action_items.get(incident["id"], item["id"]).ticket
    answer = webhook(http, jira_event(ticket["key"], ticket["id"], None, "Closed"))
    assert answer.status_code == 200 and answer.body["status"] == "open"  # Jira says: not done
    assert jira.calls("GET", rf"/rest/api/3/issue/{ticket['key']}")


def test_jira_webhook_refuses_bad_tokens_and_bodies_and_ignores_other_issues(
    http: Http, jira: FakeJira
) -> None:
    event = jira_event("OPS-999", "99999", "done", "Done")
    assert webhook(http, event, token="wrong").status_code == 401
    assert http.call("POST", "/v1/webhooks/jira", event, token=False).status_code == 401
    bad = webhook(http, "{not json")
    assert bad.status_code == 400 and "not JSON" in bad.body["error"]
    ignored = webhook(http, event)  # not an action item's ticket
    assert ignored.status_code == 202 and ignored.body["ignored"] is True
    other = webhook(http, {"webhookEvent": "jira:worklog_updated"})
    assert other.status_code == 202


def test_jira_outage_is_retried_next_sweep_and_a_refusal_is_recorded(
    http: Http, jira: FakeJira
) -> None:
    incident = declare(http)
    item = add(http, incident["id"], "Retry me").body
    jira.fail_next(503, times=100)
    report = sweep()["action_item_tickets"]
    assert report["failed"] == 1 and report["created"] == 0
    pending = c().action_items.get(incident["id"], item["id"])
    assert pending.ticket_sync.value == "create" and "503" in pending.ticket_error
    jira.clear_failures()
    assert sweep()["action_item_tickets"]["created"] == 1
    assert c().action_items.get(incident["id"], item["id"]).ticket_error is None

    refused = add(http, incident["id"], "Refused").body
    jira.fail_next(400, times=100, body={"errorMessages": ["Project is archived"], "errors": {}})
    assert sweep()["action_item_tickets"]["gave_up"] == 1
    stored = c().action_items.get(incident["id"], refused["id"])
    assert stored.ticket_sync is None and "archived" in stored.ticket_error


# --- the CLI ------------------------------------------------------------------------------------


def test_tocsin_actions_commands(http: Http, cli: Any) -> None:
    incident = declare(http)
    added = cli(
        "actions",
        "add",
        incident["ref"],
        "Page the PSP on-call earlier",
        "--owner",
        "erin",
        "--due",
        "2d",
        "--priority",
        "urgent",
        "--by",
        "carol",
    )
    action_id = added.split()[0]
    assert action_id.startswith("ai-") and "urgent" in added
    due = (TODAY + timedelta(days=2)).isoformat()
    listing = cli("actions", "list")
    assert action_id in listing and f"due {due}" in listing and "ticket pending" in listing
    assert action_id in cli("actions", "list", "--owner", "erin")
    assert "no action items" in cli("actions", "list", "--owner", "bob")
    assert action_id in cli("actions", "list", "--incident", incident["ref"])
    assert json.loads(cli("actions", "list", "--json"))[0]["id"] == action_id
    changed = cli(
        "actions", "update", incident["ref"], action_id, "--due", "none", "--owner", "dan"
    )
    assert "due -" in changed and "dan" in changed
    assert f"{action_id}: done" in cli("actions", "done", incident["ref"], action_id)
    assert "no action items" in cli("actions", "list")
    assert action_id in cli("actions", "list", "--status", "done")
    bad = cli("actions", "add", incident["ref"], "x", "--due", "someday", ok=False)
    assert bad.exit_code != 0 and "is not a date" in bad.output
    unknown = cli("actions", "add", incident["ref"], "x", "--owner", "mallory", ok=False)
    assert unknown.exit_code != 0 and "not a configured person" in unknown.output


# --- the review's races and edges ---------------------------------------------------------------


def test_done_while_its_ticket_is_being_created_closes_the_new_ticket(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.integrations.ports import TicketRef

    incident = declare(http)
    item = add(http, incident["id"], "Quick fix").body
    tickets = c().adapters.get("ticketing")
    real = tickets.create_ticket

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        patch(http, incident["id"], item["id"], status="done")  # meanwhile, in chat
        return real(*args, **kwargs)

    monkeypatch.setattr(tickets, "create_ticket", slow_create)
    c().action_items.port = lambda name: tickets if name == "ticketing" else None
    assert sweep()["action_item_tickets"]["created"] == 1
    stored = c().action_items.get(incident["id"], item["id"])
    assert (
        stored.status.value == "done" and stored.ticket and stored.ticket_sync.value == "complete"
    )
    assert sweep()["action_item_tickets"]["completed"] == 1
    assert tickets.ticket_done(TicketRef(**stored.ticket))


def test_cancelled_here_closes_the_ticket_and_a_refused_ticket_retries_after_a_change(
    http: Http,
) -> None:
    from tocsin.integrations.ports import PermanentIntegrationError, TicketRef

    incident = declare(http)
    item = add(http, incident["id"], "Not needed after all").body
    sweep()
    patch(http, incident["id"], item["id"], status="cancelled")
    assert sweep()["action_item_tickets"]["completed"] == 1
    ticket = c().action_items.get(incident["id"], item["id"]).ticket
    assert c().adapters.get("ticketing").ticket_done(TicketRef(**ticket))

    refused = add(http, incident["id"], "Refused first").body
    tickets = c().adapters.get("ticketing")
    real = tickets.create_ticket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermanentIntegrationError("local", "project archived")

    tickets.create_ticket = refuse
    c().action_items.port = lambda name: tickets
    assert sweep()["action_item_tickets"]["gave_up"] == 1
    stored = c().action_items.get(incident["id"], refused["id"])
    assert stored.ticket_sync is None and "archived" in stored.ticket_error
    (event,) = [
        e
        for e in kinds(http, incident["id"], "action_item_updated")
        if "ticket_error" in e["data"]["changes"]
    ]
    assert event["data"]["id"] == refused["id"]
    # the cause fixed at the tool, any change tries again
    tickets.create_ticket = real
    patch(http, incident["id"], refused["id"], priority="high")
    assert sweep()["action_item_tickets"]["created"] == 1
    assert c().action_items.get(incident["id"], refused["id"]).ticket_error is None


def test_a_reminder_claimed_meanwhile_is_not_undone_by_an_edit(http: Http) -> None:
    incident = declare(http)
    item = add(
        http, incident["id"], "Edit me", owner="alice", due=(TODAY - timedelta(days=1)).isoformat()
    ).body
    store = c().action_items.store
    calls = []

    def decide(current: Any) -> Any:
        if not calls:  # between this read and the write, the reminder run claims the day
            calls.append(store.claim_reminder(incident["id"], item["id"], TODAY))
        return current.model_copy(update={"text": "Edited"})

    store.change(incident["id"], item["id"], decide)
    stored = store.get(incident["id"], item["id"])
    assert calls == [True] and stored.text == "Edited" and stored.reminded_on == TODAY


def test_jira_comments_and_a_pending_close_do_not_reopen_an_item(
    http: Http, jira: FakeJira
) -> None:
    incident = declare(http)
    item = add(http, incident["id"], "Close me").body
    sweep()
    ticket = c().action_items.get(incident["id"], item["id"]).ticket
    patch(http, incident["id"], item["id"], status="done")  # the sweeper has not closed it yet
    comment = jira_event(ticket["key"], ticket["id"], "new", "To Do")
    del comment["changelog"]  # an edit or a comment: no status transition
    assert webhook(http, comment).status_code == 202
    # a transition event still describing the old state does not undo the pending close
    back = webhook(http, jira_event(ticket["key"], ticket["id"], "new", "To Do"))
    assert back.status_code == 200 and back.body["status"] == "done"
    assert sweep()["action_item_tickets"]["completed"] == 1
    # the issue moved to another project keeps its id: still found
    moved = jira_event("NEW-7", ticket["id"], "new", "To Do")
    assert webhook(http, moved).body["status"] == "open"
