"""The Jira Cloud adapter against a fake Jira that checks requests against the published
REST v3 formats (tests/fixtures/vendor/jira) and keeps state."""

from __future__ import annotations

import base64
import copy
import socket
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from tocsin.integrations import jira
from tocsin.integrations.http import JsonHttp
from tocsin.integrations.ports import (
    PermanentIntegrationError,
    RetryableIntegrationError,
    TicketingPort,
    TicketRef,
)

from tests.fakes.jira import (
    CREATE_REQUEST,
    CREATE_RESPONSE,
    STATUS_CATEGORIES,
    FakeJira,
    Transition,
    Workflow,
    adf_text,
    load_fixture,
)

EMAIL = "ops-bot@example.com"
TOKEN = "ATATT3xFfGF0-jira-s3cr3t-token"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
KEY = "inc-01j9zq5k3v8m2n4p6r8t0w2y4a"
DUE = date(2025, 3, 14)
#: a real `jira:issue_updated` webhook (To Do -> In Progress), see tests/fixtures/vendor/SOURCES.md
STATUS_CHANGE = "zulip_webhook_jira_issue_updated_status_change.json"
#: a workflow whose names mislead: "Done (QA)" is still in progress, "Shipped" is done; from
#: "Backlog" the first transition offered goes to "Done (QA)", the second to "Shipped"
MISLEADING = Workflow(
    statuses={
        "Backlog": ("1", "new"),
        "Done (QA)": ("2", "indeterminate"),
        "Shipped": ("3", "done"),
    },
    transitions=(
        Transition("41", "Mark done", "Done (QA)", ("Backlog",)),
        Transition("51", "Ship it", "Shipped", ("Backlog", "Done (QA)")),
    ),
    initial="Backlog",
)
#: an approval workflow: done is only reachable after review
REVIEWED = Workflow(
    statuses={"Open": ("1", "new"), "In Review": ("2", "indeterminate"), "Closed": ("3", "done")},
    transitions=(
        Transition("11", "Submit", "In Review", ("Open",)),
        Transition("21", "Approve", "Closed", ("In Review",)),
    ),
    initial="Open",
)


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    server = FakeJira(email=EMAIL, api_token=TOKEN, project_key="OPS")
    with server:
        yield server


def make(fake: FakeJira, **options: object) -> jira.JiraTicketing:
    opts = jira.Options.model_validate({"base_url": fake.url, "project_key": "OPS", **options})
    return jira.build(opts, {"email": EMAIL, "api_token": TOKEN})


def assert_no_secret(exc: BaseException) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    assert TOKEN not in text
    assert BASIC not in text


def creates(fake: FakeJira) -> list[dict]:
    return [r.json for r in fake.calls("POST", "/rest/api/3/issue")]


# --- create / find ----------------------------------------------------------------------------


def test_adapter_implements_the_ticketing_port(fake: FakeJira) -> None:
    adapter = make(fake)
    assert isinstance(adapter, TicketingPort)
    assert adapter.provider == jira.PROVIDER == "jira"
    assert jira.PORT == "ticketing"
    assert jira.SECRET_KEYS == ("email", "api_token")


def test_create_ticket_sends_the_published_issue_shape(fake: FakeJira) -> None:
    adapter = make(fake)
    description = "Checkout is failing for 40% of users.\nSince 14:02 UTC.\n\nChannel: https://slack.example/C1"

    ref = adapter.create_ticket(KEY, "Checkout errors", description, "SEV1")

    assert ref == TicketRef("jira", "10000", "OPS-1", f"{fake.url}/browse/OPS-1")
    (sent,) = fake.calls("POST", "/rest/api/3/issue")
    assert sent.headers["authorization"] == f"Basic {BASIC}"
    assert sent.headers["content-type"].startswith("application/json")
    fields = sent.json["fields"]
    assert set(fields) <= set(CREATE_REQUEST["fields"])  # only fields of the published example
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["summary"] == "Checkout errors"
    assert fields["priority"] == {"name": "Highest"}
    assert fields["labels"] == ["incident", jira.key_label(KEY)]
    # the description is ADF, structured like the example's description
    doc = fields["description"]
    assert (
        set(doc) == set(CREATE_REQUEST["fields"]["description"]) == {"type", "version", "content"}
    )
    assert (doc["type"], doc["version"]) == ("doc", 1)
    assert [block["type"] for block in doc["content"]] == ["paragraph", "paragraph"]
    assert doc["content"][0]["content"][1] == {"type": "hardBreak"}
    link = doc["content"][1]["content"][1]
    assert link["text"] == "https://slack.example/C1"
    assert link["marks"] == [{"type": "link", "attrs": {"href": "https://slack.example/C1"}}]
    assert (
        adf_text(doc)
        == "Checkout is failing for 40% of users.\nSince 14:02 UTC.\n\nChannel: https://slack.example/C1"
    )
    # the fake answered with the published 201 shape
    assert set(fake.issues["OPS-1"]) == {"id", "key", "fields"}
    assert set(CREATE_RESPONSE) >= {"id", "key", "self"}
    assert fake.violations == []


def test_find_ticket_searches_by_the_key_label_with_search_jql(fake: FakeJira) -> None:
    created = make(fake).create_ticket(KEY, "Checkout errors", "details", "SEV2")

    found = make(fake).find_ticket(KEY)  # a fresh adapter (another Lambda invocation)

    assert found == created
    search = fake.calls("POST", "/rest/api/3/search/jql")[-1]
    assert search.json["fields"] == ["summary"]
    assert (
        search.json["jql"]
        == f'project = "OPS" AND labels = "{jira.key_label(KEY)}" ORDER BY created ASC'
    )
    assert (
        fake.calls("GET", "/rest/api/3/search") == []
        and fake.calls("POST", "/rest/api/3/search") == []
    )
    assert make(fake).find_ticket("inc-other") is None
    assert fake.violations == []


def test_create_is_idempotent_on_the_key(fake: FakeJira) -> None:
    adapter = make(fake)
    first = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")
    second = make(fake).create_ticket(KEY, "Checkout errors (retry)", "details", "SEV1")

    assert second == first
    assert len(creates(fake)) == 1
    assert len(fake.issues) == 1
    assert fake.violations == []


def test_unmapped_or_missing_severity_sets_no_priority(fake: FakeJira) -> None:
    adapter = make(fake, priorities={"SEV1": "P1"}, issue_type="Incident", labels=["ops", "sre"])
    adapter.create_ticket("inc-a", "A", "a", "SEV4")
    adapter.create_ticket("inc-b", "B", "b", None)
    adapter.create_ticket("inc-c", "C", "c", "SEV1")

    sent = [body["fields"] for body in creates(fake)]
    assert "priority" not in sent[0] and "priority" not in sent[1]
    assert sent[2]["priority"] == {"name": "P1"}
    assert all(f["issuetype"] == {"name": "Incident"} for f in sent)
    assert sent[0]["labels"] == ["ops", "sre", "tocsin-inc-a"]
    assert fake.violations == []


def test_priority_not_on_the_create_screen_retries_once_without_it(fake: FakeJira) -> None:
    fake.off_screen = {"priority"}

    ref = make(fake).create_ticket(KEY, "Checkout errors", "details", "SEV1")

    assert ref.key == "OPS-1"
    first, second = creates(fake)
    assert first["fields"]["priority"] == {"name": "Highest"}
    assert "priority" not in second["fields"]
    assert {k: v for k, v in first["fields"].items() if k != "priority"} == second["fields"]
    assert fake.violations == []


def test_due_date_is_sent_as_duedate(fake: FakeJira) -> None:
    adapter = make(fake)
    adapter.create_ticket("inc-a", "Rotate the keys", "action item", "SEV2", due=DUE)
    adapter.create_ticket("inc-b", "Add an alert", "action item", "SEV2", DUE)  # positionally
    adapter.create_ticket("inc-c", "Fix the runbook", "a", None, due=datetime(2025, 3, 14, 23, 30))
    adapter.create_ticket("inc-d", "No deadline", "action item", "SEV2")

    sent = [body["fields"] for body in creates(fake)]
    assert [f.get("duedate") for f in sent] == ["2025-03-14", "2025-03-14", "2025-03-14", None]
    assert "duedate" in CREATE_REQUEST["fields"]  # a field of the published example
    assert fake.issues["OPS-1"]["fields"]["duedate"] == "2025-03-14"
    assert fake.violations == []


def test_duedate_not_on_the_create_screen_retries_once_without_it(fake: FakeJira) -> None:
    fake.off_screen = {"duedate"}

    ref = make(fake).create_ticket(KEY, "Rotate the keys", "details", "SEV1", due=DUE)

    assert ref.key == "OPS-1"
    first, second = creates(fake)
    assert first["fields"]["duedate"] == "2025-03-14"
    assert "duedate" not in second["fields"]
    assert second["fields"]["priority"] == {"name": "Highest"}  # the screen has Priority
    assert {k: v for k, v in first["fields"].items() if k != "duedate"} == second["fields"]
    assert fake.violations == []


def test_neither_priority_nor_duedate_on_the_screen_one_retry_without_both(
    fake: FakeJira,
) -> None:
    fake.off_screen = {"priority", "duedate"}

    ref = make(fake).create_ticket(KEY, "Rotate the keys", "details", "SEV1", due=DUE)

    assert ref.key == "OPS-1"
    first, second = creates(fake)  # Jira names both fields in one answer: one retry
    assert {"priority", "duedate"} <= set(first["fields"])
    assert not {"priority", "duedate"} & set(second["fields"])
    assert fake.violations == []


def test_a_field_refused_again_is_not_retried_forever(fake: FakeJira) -> None:
    fake.off_screen = {"duedate"}
    fake.reject_create = {"errorMessages": [], "errors": {"duedate": "Due date is required."}}

    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).create_ticket(KEY, "Rotate the keys", "details", "SEV1", due=DUE)

    assert info.value.status == 400 and "Due date is required." in info.value.message
    assert len(creates(fake)) == 2  # with the due date, then without it; then it gives up


def test_the_fake_checks_duedate_and_transitions_like_jira(fake: FakeJira) -> None:
    """Jira's formats, as the fake enforces them (the adapter cannot send these)."""
    http = JsonHttp(jira.PROVIDER, fake.url, auth=lambda: {"Authorization": f"Basic {BASIC}"})
    make(fake).create_ticket(KEY, "Rotate the keys", "details", None)
    fields = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "x"}
    bad = [
        ("POST", "/rest/api/3/issue", {"fields": {**fields, "duedate": "14/03/2025"}}),
        ("POST", "/rest/api/3/issue", {"fields": {**fields, "duedate": "2025-02-30"}}),
        ("POST", "/rest/api/3/issue/OPS-1/transitions", {"transition": {"id": 31}}),
        ("POST", "/rest/api/3/issue/OPS-1/transitions", {"transition": "Done"}),
    ]
    for method, path, body in bad:
        with pytest.raises(PermanentIntegrationError) as info:
            http.request(method, path, body)
        assert info.value.status == 400, body
    with pytest.raises(PermanentIntegrationError) as info:  # a transition not offered
        http.post("/rest/api/3/issue/OPS-1/transitions", {"transition": {"id": "99"}})
    assert "Transition id '99' is not valid for this issue." in info.value.message
    assert len(fake.violations) == 4
    assert list(fake.issues) == ["OPS-1"] and fake.status("OPS-1") == "To Do"


def test_other_400_is_permanent_and_not_retried(fake: FakeJira) -> None:
    adapter = make(fake)
    fake.project_key = "OTHER"  # Jira does not know project OPS (any more)
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.find_ticket(KEY)
    assert info.value.status == 400
    assert "does not exist for the field 'project'" in info.value.message

    fake.project_key = "OPS"
    fake.reject_create = {
        "errorMessages": [],
        "errors": {"summary": "You must specify a summary of the issue."},
    }
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.create_ticket(KEY, "x", "y", "SEV1")
    assert info.value.status == 400
    assert "summary" in info.value.message
    assert len(creates(fake)) == 1  # no retry: only errors.priority is retried
    assert_no_secret(info.value)


def test_summary_is_one_line_of_at_most_255_characters(fake: FakeJira) -> None:
    make(fake).create_ticket(KEY, "Checkout\nerrors  " + "x" * 400, "", None)

    (body,) = creates(fake)
    summary = body["fields"]["summary"]
    assert (
        len(summary) == 255 and summary.startswith("Checkout errors xxx") and summary.endswith("…")
    )
    assert "description" not in body["fields"]  # empty description: no empty ADF doc
    assert fake.violations == []


# --- links and comments -----------------------------------------------------------------------


def test_add_link_is_idempotent_through_the_global_id(fake: FakeJira) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")

    adapter.add_link(ticket, "Incident channel", "https://acme.slack.com/archives/C1")
    adapter.add_link(ticket, "Incident channel", "https://acme.slack.com/archives/C1")
    adapter.add_link(ticket, "Tocsin incident", "https://tocsin.example/incidents/inc-1")

    calls = fake.calls("POST", r"/rest/api/3/issue/OPS-1/remotelink")
    assert [c.json["globalId"] for c in calls][:2] == [
        jira.link_global_id("https://acme.slack.com/archives/C1")
    ] * 2
    assert calls[0].json["object"] == {
        "url": "https://acme.slack.com/archives/C1",
        "title": "Incident channel",
    }
    links = fake.remote_links["OPS-1"]
    assert len(links) == 2
    assert sorted(link["object"]["title"] for link in links.values()) == [
        "Incident channel",
        "Tocsin incident",
    ]
    assert fake.violations == []


def test_add_comment_sends_adf(fake: FakeJira) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")

    adapter.add_comment(ticket, "Resolved at 15:10 UTC.\n\nPostmortem: https://docs.example/pm-1")
    adapter.add_comment(ticket, "   \n")  # nothing to say: no call (Jira refuses empty comments)

    (comment,) = fake.comments["OPS-1"]
    assert (
        adf_text(comment["body"])
        == "Resolved at 15:10 UTC.\n\nPostmortem: https://docs.example/pm-1"
    )
    assert len(fake.calls("POST", r"/rest/api/3/issue/OPS-1/comment")) == 1
    assert fake.violations == []


def test_adf_paragraphs_breaks_and_links() -> None:
    doc = jira.adf("See https://x.example/a. Then (https://x.example/b)\n\n\n  \nlast")
    first, last = doc["content"]
    assert [n.get("text") for n in first["content"]] == [
        "See ",
        "https://x.example/a",
        ". Then (",
        "https://x.example/b",
        ")",
    ]
    assert first["content"][3]["marks"][0]["attrs"]["href"] == "https://x.example/b"
    assert last == {"type": "paragraph", "content": [{"type": "text", "text": "last"}]}
    assert jira.adf("") == {"type": "doc", "version": 1, "content": []}


def test_comment_on_an_unknown_issue_is_permanent(fake: FakeJira) -> None:
    ghost = TicketRef("jira", "99999", "OPS-999", f"{fake.url}/browse/OPS-999")
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).add_comment(ghost, "hello")
    assert info.value.status == 404


# --- done and complete ------------------------------------------------------------------------


def test_ticket_done_reads_the_status_category(fake: FakeJira) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")

    assert adapter.ticket_done(ticket) is False
    (read,) = fake.calls("GET", "/rest/api/3/issue/OPS-1")
    assert read.query == {"fields": ["status"]}
    assert read.headers["authorization"] == f"Basic {BASIC}"
    fake.set_status("OPS-1", "In Progress")
    assert adapter.ticket_done(ticket) is False
    fake.set_status("OPS-1", "Done")
    assert make(fake).ticket_done(ticket) is True
    assert fake.violations == []


def test_done_is_the_status_category_never_the_name(fake: FakeJira) -> None:
    fake.workflow = MISLEADING
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")

    fake.set_status("OPS-1", "Done (QA)")
    assert adapter.ticket_done(ticket) is False
    fake.set_status("OPS-1", "Backlog")

    assert adapter.complete_ticket(ticket) is True

    (listing,) = fake.calls("GET", "/rest/api/3/issue/OPS-1/transitions")
    assert listing.query == {}
    (post,) = fake.calls("POST", "/rest/api/3/issue/OPS-1/transitions")
    # "Mark done" (to "Done (QA)") came first; "Ship it" is the first into the done category
    assert post.json == {"transition": {"id": "51"}}
    assert fake.status("OPS-1") == "Shipped"
    assert adapter.ticket_done(ticket) is True
    assert fake.violations == []


def test_complete_ticket_transitions_to_done_once(fake: FakeJira) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")
    fake.set_status("OPS-1", "In Progress")

    assert adapter.complete_ticket(ticket) is True
    assert make(fake).complete_ticket(ticket) is False  # a retried step: done already

    (post,) = fake.calls("POST", "/rest/api/3/issue/OPS-1/transitions")
    assert post.headers["content-type"].startswith("application/json")
    assert post.json == {"transition": {"id": "31"}}
    assert fake.status("OPS-1") == "Done"
    assert len(fake.calls("GET", "/rest/api/3/issue/OPS-1/transitions")) == 1
    assert fake.violations == []


def test_a_ticket_closed_in_jira_is_left_alone(fake: FakeJira) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")
    fake.set_status("OPS-1", "Done")

    assert adapter.complete_ticket(ticket) is False

    assert fake.calls("GET", "/rest/api/3/issue/OPS-1/transitions") == []
    assert fake.calls("POST", "/rest/api/3/issue/OPS-1/transitions") == []


def test_no_transition_to_done_is_permanent_and_says_so(fake: FakeJira) -> None:
    fake.workflow = REVIEWED
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")

    with pytest.raises(PermanentIntegrationError) as info:
        adapter.complete_ticket(ticket)

    assert "OPS-1" in info.value.message
    assert "no transition to a done status" in info.value.message
    assert not info.value.retryable
    assert fake.calls("POST", "/rest/api/3/issue/OPS-1/transitions") == []
    assert fake.status("OPS-1") == "Open"
    assert_no_secret(info.value)
    # once the issue is where the workflow allows it, completing works
    fake.set_status("OPS-1", "In Review")
    assert adapter.complete_ticket(ticket) is True
    assert fake.status("OPS-1") == "Closed"
    assert fake.violations == []


def test_done_and_complete_on_an_unknown_issue_are_permanent(fake: FakeJira) -> None:
    ghost = TicketRef("jira", "99999", "OPS-999", f"{fake.url}/browse/OPS-999")
    for call in (make(fake).ticket_done, make(fake).complete_ticket):
        with pytest.raises(PermanentIntegrationError) as info:
            call(ghost)
        assert info.value.status == 404


def test_a_5xx_while_completing_is_retryable_and_the_retry_completes_once(
    fake: FakeJira,
) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")
    fake.fail_next(503)  # the status read
    with pytest.raises(RetryableIntegrationError):
        adapter.complete_ticket(ticket)

    assert adapter.complete_ticket(ticket) is True
    assert adapter.complete_ticket(ticket) is False
    assert len(fake.calls("POST", "/rest/api/3/issue/OPS-1/transitions")) == 1


# --- errors -----------------------------------------------------------------------------------


def test_429_is_retryable_with_retry_after(fake: FakeJira) -> None:
    fake.fail_next(429, headers={"Retry-After": "7"})
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).create_ticket(KEY, "Checkout errors", "details", "SEV1")
    assert info.value.status == 429
    assert info.value.retry_after == 7.0
    assert "search/jql" in info.value.message
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(fake: FakeJira, status: int) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")
    fake.fail_next(status)
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.add_comment(ticket, "update")
    assert info.value.status == status
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_permanent(fake: FakeJira, status: int) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")
    fake.fail_next(status, body={"errorMessages": ["You do not have permission."], "errors": {}})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.add_link(ticket, "Channel", "https://acme.slack.com/archives/C1")
    assert info.value.status == status
    assert not info.value.retryable
    assert_no_secret(info.value)


def test_wrong_token_is_permanent_and_never_echoed(fake: FakeJira) -> None:
    opts = jira.Options(base_url=fake.url, project_key="OPS")
    adapter = jira.build(opts, {"email": EMAIL, "api_token": "wrong-" + TOKEN})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.find_ticket(KEY)
    assert info.value.status == 401
    assert "wrong-" not in str(info.value)
    assert_no_secret(info.value)


def test_unreachable_jira_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = jira.build(
        jira.Options(base_url=f"http://127.0.0.1:{port}", project_key="OPS"),
        {"email": EMAIL, "api_token": TOKEN},
    )
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.find_ticket(KEY)
    assert_no_secret(info.value)


@pytest.mark.parametrize("missing", ["email", "api_token"])
def test_missing_secret_key_is_a_clear_permanent_error(missing: str) -> None:
    secret = {"email": EMAIL, "api_token": TOKEN}
    del secret[missing]
    with pytest.raises(PermanentIntegrationError) as info:
        jira.build(jira.Options(base_url="https://acme.atlassian.net", project_key="OPS"), secret)
    assert missing in str(info.value)
    assert_no_secret(info.value)
    assert EMAIL not in str(info.value)


# --- webhooks ---------------------------------------------------------------------------------


def webhook(category: dict[str, Any] | None = None, status: str = "Done") -> dict[str, Any]:
    """The real status-change webhook, its status changed to `status` in `category` (or
    without a category when None)."""
    body = copy.deepcopy(load_fixture(STATUS_CHANGE))
    fields = body["issue"]["fields"]
    fields["status"]["name"] = status
    if category is None:
        del fields["status"]["statusCategory"]
    else:
        fields["status"]["statusCategory"] = {
            "self": "https://zulipp.atlassian.net/rest/api/2/statuscategory/3",
            **category,
        }
    return body


def test_parse_webhook_reads_the_real_status_change() -> None:
    change = jira.parse_webhook(load_fixture(STATUS_CHANGE))

    assert change == jira.IssueChange(
        issue_id="10000",
        key="TEST-1",
        done=False,  # In Progress: the indeterminate category
        status="In Progress",
        actor="James Williams",
        event="updated",
        status_changed=True,  # its changelog has the To Do -> In Progress item
    )
    comment = copy.deepcopy(load_fixture(STATUS_CHANGE))
    del comment["changelog"]  # a comment or a field edit: issue_updated without a transition
    assert jira.parse_webhook(comment).status_changed is False  # type: ignore[union-attr]


def test_parse_webhook_a_status_in_the_done_category_is_done() -> None:
    change = jira.parse_webhook(webhook(STATUS_CATEGORIES["done"], status="Closed"))

    assert change is not None
    assert (change.done, change.status, change.key) == (True, "Closed", "TEST-1")


def test_parse_webhook_without_a_status_category_leaves_done_open() -> None:
    change = jira.parse_webhook(webhook(None, status="Done"))
    assert change is not None and change.done is None and change.status == "Done"

    bare = copy.deepcopy(load_fixture(STATUS_CHANGE))
    bare["issue"]["fields"] = {}  # an issue without fields (the caller asks ticket_done)
    change = jira.parse_webhook(bare)
    assert change is not None and (change.done, change.status) == (None, None)


def test_parse_webhook_deleted_issue() -> None:
    body = webhook(STATUS_CATEGORIES["done"])
    body["webhookEvent"] = "jira:issue_deleted"

    change = jira.parse_webhook(body)

    assert change is not None
    assert (change.event, change.done, change.key, change.issue_id) == (
        "deleted",
        None,
        "TEST-1",
        "10000",
    )


def test_parse_webhook_actor_falls_back_to_the_account_id() -> None:
    body = copy.deepcopy(load_fixture(STATUS_CHANGE))
    del body["user"]["displayName"]
    change = jira.parse_webhook(body)
    assert change is not None and change.actor == "99:b8d8a054-2e12-4839-bd5f-5f2b7c5f5e3a"

    del body["user"]
    change = jira.parse_webhook(body)
    assert change is not None and change.actor is None


def _with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(load_fixture(STATUS_CHANGE))
    body.update(changes)
    return body


def _issue_without(name: str) -> dict[str, Any]:
    body = copy.deepcopy(load_fixture(STATUS_CHANGE))
    del body["issue"][name]
    return body


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "jira:issue_updated",
        {},
        _with(webhookEvent="jira:issue_created"),
        _with(webhookEvent="comment_created"),
        _with(webhookEvent=["jira:issue_updated"]),
        _with(webhookEvent=None),
        _with(issue=None),
        _with(issue=["TEST-1"]),
        _with(issue={"id": "10000", "key": ""}),
        _with(issue={"id": True, "key": "TEST-1"}),
        _issue_without("key"),
        _issue_without("id"),
        {"webhookEvent": "jira:issue_updated"},
    ],
)
def test_parse_webhook_anything_else_is_none(body: Any) -> None:
    assert jira.parse_webhook(body) is None


def test_parse_webhook_takes_a_numeric_issue_id() -> None:
    change = jira.parse_webhook(_with(issue={"id": 10000, "key": "TEST-1"}))
    assert change is not None and change.issue_id == "10000" and change.done is None


# --- options and helpers ----------------------------------------------------------------------


def test_options_require_site_and_project_and_reject_bad_labels() -> None:
    with pytest.raises(ValidationError):
        jira.Options.model_validate({"project_key": "OPS"})
    with pytest.raises(ValidationError):
        jira.Options.model_validate({"base_url": "https://acme.atlassian.net"})
    with pytest.raises(ValidationError):
        jira.Options.model_validate(
            {"base_url": "https://a.atlassian.net", "project_key": "OPS", "labels": ["two words"]}
        )
    with pytest.raises(ValidationError):
        jira.Options.model_validate(
            {"base_url": "https://a.atlassian.net", "project_key": "OPS", "colour": "red"}
        )
    opts = jira.Options(base_url="https://acme.atlassian.net", project_key="OPS")
    assert (opts.issue_type, opts.labels) == ("Task", ["incident"])
    assert opts.priorities == {"SEV1": "Highest", "SEV2": "High", "SEV3": "Medium"}


def test_site_url_is_used_for_browse_links(fake: FakeJira) -> None:
    ref = make(fake, site_url="https://acme.atlassian.net/").create_ticket(KEY, "s", "d", None)
    assert ref.url == "https://acme.atlassian.net/browse/OPS-1"


def test_key_labels_are_valid_and_distinct() -> None:
    assert jira.key_label("inc-01j9zq") == "tocsin-inc-01j9zq"
    odd = [jira.key_label(k) for k in ("inc 1", "inc/1", "inc-1", "x" * 400)]
    assert len(set(odd)) == 4
    assert all(" " not in label and len(label) <= 255 for label in odd)
    assert len(jira.link_global_id("https://x.example/" + "a" * 1000)) <= 255
