"""The Asana adapter against a fake Asana that checks requests against the published API
format (data envelope, Bearer auth, opt_fields, limit/offset pagination) and keeps state."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date

import pytest
from pydantic import ValidationError
from tocsin.integrations import asana
from tocsin.integrations.http import JsonHttp
from tocsin.integrations.ports import (
    PermanentIntegrationError,
    RetryableIntegrationError,
    TicketingPort,
    TicketRef,
)

from tests.fakes.asana import PREFIX, FakeAsana

TOKEN = "2/1200000000000000/1200000000000009:0f1e2d3c-asana-s3cr3t"
KEY = "inc-01j9zq5k3v8m2n4p6r8t0w2y4a"


@pytest.fixture
def fake() -> Iterator[FakeAsana]:
    server = FakeAsana(access_token=TOKEN)
    with server:
        yield server


def make(fake: FakeAsana, **options: object) -> asana.AsanaTicketing:
    opts = asana.Options.model_validate(
        {"base_url": fake.url + PREFIX, "project_gid": fake.project_gid, **options}
    )
    return asana.build(opts, {"access_token": TOKEN})


def assert_no_secret(exc: BaseException) -> None:
    assert TOKEN not in f"{exc} {exc!r} {getattr(exc, 'message', '')}"


def task_posts(fake: FakeAsana) -> list[dict]:
    return [r.json for r in fake.calls("POST", PREFIX + "/tasks")]


# --- create / find ----------------------------------------------------------------------------


def test_adapter_implements_the_ticketing_port(fake: FakeAsana) -> None:
    adapter = make(fake)
    assert isinstance(adapter, TicketingPort)
    assert adapter.provider == asana.PROVIDER == "asana"
    assert asana.PORT == "ticketing"
    assert asana.SECRET_KEYS == ("access_token",)


def test_create_ticket_posts_a_task_in_the_project(fake: FakeAsana) -> None:
    ref = make(fake).create_ticket(
        KEY, "Checkout errors", "Checkout is failing.\nSince 14:02 UTC.", "SEV1"
    )

    (post,) = fake.calls("POST", PREFIX + "/tasks")
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.json == {
        "data": {
            "name": "[SEV1] Checkout errors",
            "notes": f"Checkout is failing.\nSince 14:02 UTC.\n\n[tocsin:{KEY}]",
            "projects": [fake.project_gid],
        }
    }
    assert "permalink_url" in post.query["opt_fields"][0].split(",")
    (task,) = fake.tasks.values()
    assert ref == TicketRef("asana", task["gid"], task["gid"], task["permalink_url"])
    assert fake.violations == []


def test_permalink_is_read_when_the_create_answer_lacks_it(fake: FakeAsana) -> None:
    fake.omit_permalink_on_create = True

    ref = make(fake).create_ticket(KEY, "Checkout errors", "details", "SEV1")

    (task,) = fake.tasks.values()
    assert ref.url == task["permalink_url"]
    (read,) = fake.calls("GET", PREFIX + f"/tasks/{task['gid']}")
    assert read.query["opt_fields"] == ["permalink_url"]
    assert fake.violations == []


def test_find_ticket_lists_the_project_tasks_and_matches_the_marker(fake: FakeAsana) -> None:
    created = make(fake).create_ticket(KEY, "Checkout errors", "details", "SEV2")

    found = make(fake).find_ticket(KEY)  # a fresh adapter (another Lambda invocation)

    assert found == created
    listing = fake.calls("GET", PREFIX + f"/projects/{fake.project_gid}/tasks")[-1]
    assert listing.query["limit"] == ["100"]
    assert set(listing.query["opt_fields"][0].split(",")) == {"name", "notes", "permalink_url"}
    assert (
        make(fake).find_ticket("inc-01j9zq5k3v8m2n4p6r8t0w2y4") is None
    )  # a prefix is not a match
    assert fake.violations == []


def test_find_ticket_follows_pagination(fake: FakeAsana) -> None:
    fake.max_page = 2
    adapter = make(fake)
    refs = [adapter.create_ticket(f"inc-{n}", f"Incident {n}", "d", None) for n in range(5)]

    assert make(fake).find_ticket("inc-4") == refs[4]

    pages = fake.calls("GET", PREFIX + f"/projects/{fake.project_gid}/tasks")[-3:]
    assert "offset" not in pages[0].query
    assert all(p.query.get("offset") for p in pages[1:])
    assert fake.violations == []


def test_create_is_idempotent_on_the_key(fake: FakeAsana) -> None:
    first = make(fake).create_ticket(KEY, "Checkout errors", "details", "SEV1")
    second = make(fake).create_ticket(KEY, "Checkout errors (retry)", "details", "SEV1")

    assert second == first
    assert len(task_posts(fake)) == 1
    assert len(fake.tasks) == 1
    assert fake.violations == []


def test_without_severity_or_description(fake: FakeAsana) -> None:
    make(fake, workspace_gid=fake.workspace_gid).create_ticket(KEY, "Checkout\nerrors", "  ", None)

    (body,) = task_posts(fake)
    assert body["data"]["name"] == "Checkout errors"
    assert body["data"]["notes"] == f"[tocsin:{KEY}]"
    assert body["data"]["workspace"] == fake.workspace_gid
    assert make(fake).find_ticket(KEY) is not None
    assert fake.violations == []


def test_due_date_is_the_tasks_due_on(fake: FakeAsana) -> None:
    ref = make(fake).create_ticket(KEY, "Rotate the keys", "details", "SEV2", due=date(2025, 3, 14))

    (body,) = task_posts(fake)
    assert body["data"]["due_on"] == "2025-03-14"
    assert "due_at" not in body["data"]
    assert fake.tasks[ref.id]["due_on"] == "2025-03-14"
    assert fake.violations == []


def test_the_fake_checks_due_on_like_asana(fake: FakeAsana) -> None:
    """Asana's formats, as the fake enforces them (the adapter cannot send these)."""
    http = JsonHttp("asana", fake.url + PREFIX, auth=lambda: {"Authorization": f"Bearer {TOKEN}"})
    task = {"name": "x", "projects": [fake.project_gid]}
    for bad in (
        {"due_on": "14/03/2025"},
        {"due_on": "2025-03-14", "due_at": "2025-03-14T10:00:00Z"},
    ):
        with pytest.raises(PermanentIntegrationError) as info:
            http.post("/tasks", {"data": {**task, **bad}})
        assert info.value.status == 400
    assert len(fake.violations) == 2 and fake.tasks == {}


# --- done and complete ------------------------------------------------------------------------


def test_ticket_done_reads_completed(fake: FakeAsana) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")

    assert adapter.ticket_done(ticket) is False
    (read,) = fake.calls("GET", PREFIX + f"/tasks/{ticket.id}")
    assert read.query == {"opt_fields": ["completed"]}
    assert read.headers["authorization"] == f"Bearer {TOKEN}"
    fake.tasks[ticket.id]["completed"] = True  # someone ticked it off in Asana
    assert make(fake).ticket_done(ticket) is True
    assert fake.violations == []


def test_complete_ticket_puts_completed_once(fake: FakeAsana) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")

    assert adapter.complete_ticket(ticket) is True
    assert make(fake).complete_ticket(ticket) is False  # a retried step: done already

    (put,) = fake.calls("PUT", PREFIX + f"/tasks/{ticket.id}")
    assert put.json == {"data": {"completed": True}}
    assert put.headers["content-type"].startswith("application/json")
    task = fake.tasks[ticket.id]
    assert task["completed"] is True and task["completed_at"]
    assert task["name"] == "[SEV2] Rotate the keys"  # nothing else changed
    assert fake.violations == []


def test_a_task_completed_in_asana_is_left_alone(fake: FakeAsana) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")
    fake.tasks[ticket.id]["completed"] = True

    assert adapter.complete_ticket(ticket) is False
    assert fake.calls("PUT", PREFIX + f"/tasks/{ticket.id}") == []


def test_done_and_complete_on_an_unknown_task_are_permanent(fake: FakeAsana) -> None:
    ghost = TicketRef(
        "asana", "1200000000009999", "1200000000009999", "https://app.asana.com/0/1/2"
    )
    for call in (make(fake).ticket_done, make(fake).complete_ticket):
        with pytest.raises(PermanentIntegrationError) as info:
            call(ghost)
        assert info.value.status == 404


def test_a_5xx_while_completing_is_retryable_and_the_retry_completes_once(
    fake: FakeAsana,
) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Rotate the keys", "details", "SEV2")
    fake.fail_next(503)  # the completed read
    with pytest.raises(RetryableIntegrationError):
        adapter.complete_ticket(ticket)

    assert adapter.complete_ticket(ticket) is True
    assert adapter.complete_ticket(ticket) is False
    assert len(fake.calls("PUT", PREFIX + f"/tasks/{ticket.id}")) == 1
    assert fake.violations == []


# --- links and comments -----------------------------------------------------------------------


def test_add_link_is_a_comment_idempotent_on_the_url(fake: FakeAsana) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")

    adapter.add_link(ticket, "Incident channel", "https://acme.slack.com/archives/C1")
    adapter.add_link(ticket, "Incident channel", "https://acme.slack.com/archives/C1")
    adapter.add_link(ticket, "Other", "https://acme.slack.com/archives/C")  # a prefix of the first

    assert fake.comments(ticket.id) == [
        "🔗 Incident channel: https://acme.slack.com/archives/C1",
        "🔗 Other: https://acme.slack.com/archives/C",
    ]
    listing = fake.calls("GET", PREFIX + f"/tasks/{ticket.id}/stories")[0]
    assert listing.query["limit"] == ["100"] and "text" in listing.query["opt_fields"][0].split(",")
    assert fake.violations == []


def test_add_link_finds_the_url_on_a_later_page_of_stories(fake: FakeAsana) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")
    for n in range(4):
        adapter.add_comment(ticket, f"update {n}")
    adapter.add_link(ticket, "Channel", "https://acme.slack.com/archives/C1")
    fake.max_page = 2

    adapter.add_link(ticket, "Channel", "https://acme.slack.com/archives/C1")

    assert fake.comments(ticket.id).count("🔗 Channel: https://acme.slack.com/archives/C1") == 1
    assert fake.violations == []


def test_add_comment_posts_a_story(fake: FakeAsana) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")

    adapter.add_comment(ticket, "Resolved at 15:10 UTC.")
    adapter.add_comment(ticket, "  ")  # nothing to say: no call

    assert fake.comments(ticket.id) == ["Resolved at 15:10 UTC."]
    (post,) = fake.calls("POST", PREFIX + f"/tasks/{ticket.id}/stories")
    assert post.json == {"data": {"text": "Resolved at 15:10 UTC."}}
    assert fake.violations == []


def test_comment_on_an_unknown_task_is_permanent(fake: FakeAsana) -> None:
    ghost = TicketRef(
        "asana", "1200000000009999", "1200000000009999", "https://app.asana.com/0/1/2"
    )
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).add_comment(ghost, "hello")
    assert info.value.status == 404


# --- errors -----------------------------------------------------------------------------------


def test_429_is_retryable_with_retry_after(fake: FakeAsana) -> None:
    fake.fail_next(
        429,
        headers={"Retry-After": "30"},
        body={"errors": [{"message": "You've made too many requests and hit a rate limit."}]},
    )
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).create_ticket(KEY, "Checkout errors", "details", "SEV1")
    assert info.value.status == 429
    assert info.value.retry_after == 30.0
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retryable(fake: FakeAsana, status: int) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")
    fake.fail_next(
        status,
        body={"errors": [{"message": "Server Error", "phrase": "6 sad squid snuggle softly"}]},
    )
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.add_comment(ticket, "update")
    assert info.value.status == status
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_client_errors_are_permanent(fake: FakeAsana, status: int) -> None:
    adapter = make(fake)
    ticket = adapter.create_ticket(KEY, "Checkout errors", "details", "SEV1")
    fake.fail_next(status, body={"errors": [{"message": "Forbidden"}]})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.add_link(ticket, "Channel", "https://acme.slack.com/archives/C1")
    assert info.value.status == status
    assert not info.value.retryable
    assert_no_secret(info.value)


def test_wrong_token_is_permanent_and_never_echoed(fake: FakeAsana) -> None:
    opts = asana.Options(base_url=fake.url + PREFIX, project_gid=fake.project_gid)
    adapter = asana.build(opts, {"access_token": "wrong-" + TOKEN})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.find_ticket(KEY)
    assert info.value.status == 401
    assert "Not Authorized" in info.value.message
    assert "wrong-" not in str(info.value)
    assert_no_secret(info.value)


def test_unknown_project_is_permanent(fake: FakeAsana) -> None:
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake, project_gid="1200000000000777").create_ticket(KEY, "s", "d", None)
    assert info.value.status == 404


def test_unreachable_asana_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = asana.build(
        asana.Options(base_url=f"http://127.0.0.1:{port}/api/1.0", project_gid="1"),
        {"access_token": TOKEN},
    )
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.find_ticket(KEY)
    assert_no_secret(info.value)


def test_missing_secret_key_is_a_clear_permanent_error() -> None:
    with pytest.raises(PermanentIntegrationError) as info:
        asana.build(asana.Options(project_gid="1"), {"access_token": ""})
    assert "access_token" in str(info.value)
    with pytest.raises(PermanentIntegrationError):
        asana.build(asana.Options(project_gid="1"), {})


# --- options ----------------------------------------------------------------------------------


def test_options() -> None:
    opts = asana.Options(project_gid="1200000000000002")
    assert opts.base_url == "https://app.asana.com/api/1.0"
    assert opts.workspace_gid is None
    with pytest.raises(ValidationError):
        asana.Options.model_validate({})
    with pytest.raises(ValidationError):
        asana.Options.model_validate({"project_gid": "1", "priority_field": "x"})
