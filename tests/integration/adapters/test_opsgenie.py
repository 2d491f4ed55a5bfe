"""The Opsgenie adapter against a fake Alert API v2 that checks requests against the published
format (tests/fixtures/vendor/opsgenie) and keeps alerts, and its outgoing-webhook side
(the shared-token header, payloads from the fixture)."""

from __future__ import annotations

import copy
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from tocsin.domain.errors import PayloadFormatError
from tocsin.integrations import opsgenie
from tocsin.integrations.ports import (
    Link,
    Page,
    PageRef,
    PagingPort,
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from tocsin.integrations.webhooks import WebhookEvent, WebhookPayloadError

from tests.fakes.opsgenie import (
    ACCEPTED,
    API_KEY,
    CLOSE_EXAMPLE,
    CREATE_EXAMPLE,
    NOT_PROCESSABLE,
    FakeOpsgenie,
)
from tests.helpers import fixture_path, load_fixture

KEY = "inc-01j9zq5k3v8m2n4p6r8t0w2y4a/level-1"
WEBHOOK_CREATE = load_fixture("opsgenie/zulip_outgoing_webhook_Create.json")
TOKEN = "9f2c1e0b7d4a4c1f8e3b6a5d2c9f0e1b"


@pytest.fixture
def fake() -> Iterator[FakeOpsgenie]:
    with FakeOpsgenie() as server:
        yield server


def make(fake: FakeOpsgenie, api_key: str = API_KEY, **options: Any) -> opsgenie.OpsgeniePaging:
    opts = opsgenie.Options.model_validate({"base_url": fake.url, **options})
    return opsgenie.build(opts, {"api_key": api_key})


def page(**fields: Any) -> Page:
    values: dict[str, Any] = {
        "key": KEY,
        "incident_id": "inc-01j9zq5k3v8m2n4p6r8t0w2y4a",
        "title": "SEV1 checkout: p99 latency above 2s",
        "severity": "SEV1",
        "urgency": "critical",
        "service": "checkout",
        "body": "Checkout p99 is 4.2 s since 14:02 UTC.",
        "links": (
            Link("Incident", "https://tocsin.example/incidents/inc-01j9zq5k3v8m2n4p6r8t0w2y4a"),
            Link("Runbook", "https://wiki.example/runbooks/checkout-latency"),
        ),
        "ack_url": "https://tocsin.example/ack/inc-01j9zq5k3v8m2n4p6r8t0w2y4a?sig=abc",
        "level": 2,
        "details": (("region", "eu-west-1"),),
    }
    values.update(fields)
    return Page(**values)


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    for secret in (API_KEY, *secrets):
        assert secret not in text


def post_raw(
    fake: FakeOpsgenie, path: str, body: Any, auth: str = f"GenieKey {API_KEY}"
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        fake.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": auth},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- create -----------------------------------------------------------------------------------


def test_adapter_implements_the_paging_port(fake: FakeOpsgenie) -> None:
    adapter = make(fake)
    assert isinstance(adapter, PagingPort)
    assert adapter.provider == opsgenie.PROVIDER == "opsgenie"
    assert opsgenie.PORT == "paging"
    assert opsgenie.SECRET_KEYS == ("api_key",)


def test_send_creates_an_alert_in_the_published_shape(fake: FakeOpsgenie) -> None:
    adapter = make(fake, responders=[{"type": "team", "name": "Checkout"}])

    ref = adapter.send(page(), "oncall@example.com")

    assert ref == PageRef("opsgenie", fake.request_ids[-1], "o•••@example.com")
    uuid.UUID(ref.id)  # the answer's requestId, not the fixture's
    (sent,) = fake.calls("POST", "/v2/alerts")
    assert sent.headers["authorization"] == f"GenieKey {API_KEY}"
    assert sent.headers["content-type"].startswith("application/json")
    body = sent.json
    assert set(body) <= set(CREATE_EXAMPLE) | {"user", "note", "source"}
    assert body["message"] == "SEV1 checkout: p99 latency above 2s"
    assert body["alias"] == KEY
    assert body["responders"] == [
        {"type": "team", "name": "Checkout"},
        {"type": "user", "username": "oncall@example.com"},
    ]
    assert body["details"] == {
        "incident_id": "inc-01j9zq5k3v8m2n4p6r8t0w2y4a",
        "severity": "SEV1",
        "service": "checkout",
        "escalation_level": "2",
        "region": "eu-west-1",
    }
    assert (body["source"], body["user"]) == ("Tocsin", "Tocsin")
    assert body["priority"] == "P1"
    assert body["tags"] == ["tocsin", "SEV1"]
    assert body["entity"] == "checkout"
    assert body["description"] == (
        "Checkout p99 is 4.2 s since 14:02 UTC.\n\n"
        "Incident: https://tocsin.example/incidents/inc-01j9zq5k3v8m2n4p6r8t0w2y4a\n"
        "Runbook: https://wiki.example/runbooks/checkout-latency\n"
        "Acknowledge in Tocsin: https://tocsin.example/ack/inc-01j9zq5k3v8m2n4p6r8t0w2y4a?sig=abc"
    )
    alert = fake.by_alias(KEY)
    assert alert is not None and alert["status"] == "open" and not alert["acknowledged"]
    assert fake.violations == []


def test_responders_have_the_documented_forms(fake: FakeOpsgenie) -> None:
    responders = [
        {"type": "team", "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c"},
        {"type": "team", "name": "NOC"},
        {"type": "user", "id": "bb4d9938-c3c2-455d-aaab-727aa701c0d8"},
        {"type": "user", "username": "trinity@opsgenie.com"},
        {"type": "escalation", "name": "Nightwatch Escalation"},
        {"type": "schedule", "name": "First Responders Schedule"},
    ]
    make(fake, responders=responders).send(page())

    sent = fake.creates()[0]["responders"]
    assert sent == responders
    assert all(r in CREATE_EXAMPLE["responders"] for r in sent)  # as in the docs' example
    assert fake.violations == []


@pytest.mark.parametrize(
    ("to", "responder", "shown"),
    [
        ("trinity@opsgenie.com", {"type": "user", "username": "trinity@opsgenie.com"}, "t•••@opsgenie.com"),
        ("team:NOC", {"type": "team", "name": "NOC"}, "team:NOC"),
        ("schedule:First Responders Schedule", {"type": "schedule", "name": "First Responders Schedule"}, "schedule:First Responders Schedule"),
        ("escalation:Nightwatch Escalation", {"type": "escalation", "name": "Nightwatch Escalation"}, "escalation:Nightwatch Escalation"),
        ("user:neo@opsgenie.com", {"type": "user", "username": "neo@opsgenie.com"}, "user:neo@opsgenie.com"),
    ],
)  # fmt: skip
def test_to_adds_one_responder(
    fake: FakeOpsgenie, to: str, responder: dict[str, str], shown: str
) -> None:
    ref = make(fake).send(page(), to)
    assert fake.creates()[0]["responders"] == [responder]
    assert ref.to == shown
    assert fake.violations == []


def test_without_to_or_responders_the_integration_routes_the_alert(fake: FakeOpsgenie) -> None:
    ref = make(fake).send(page())
    assert "responders" not in fake.creates()[0]
    assert ref.to == "opsgenie"


def test_a_responder_already_configured_is_not_repeated(fake: FakeOpsgenie) -> None:
    make(fake, responders=[{"type": "user", "username": "oncall@example.com"}]).send(
        page(), "oncall@example.com"
    )
    assert fake.creates()[0]["responders"] == [{"type": "user", "username": "oncall@example.com"}]


@pytest.mark.parametrize("to", ["bob", "pager:bob", "team:", "+15555550123"])
def test_a_recipient_opsgenie_cannot_address_is_permanent(fake: FakeOpsgenie, to: str) -> None:
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).send(page(), to)
    assert "recipient" in info.value.message
    assert fake.requests == []


def test_send_again_is_one_alert_deduplicated_on_the_alias(fake: FakeOpsgenie) -> None:
    first = make(fake).send(page())
    second = make(fake).send(page())  # a retried step, another Lambda invocation

    assert first.id != second.id  # two requests ...
    assert {body["alias"] for body in fake.creates()} == {KEY}
    assert len(fake.alerts) == 1  # ... one alert
    assert fake.by_alias(KEY)["count"] == 2  # type: ignore[index]
    assert fake.violations == []


@pytest.mark.parametrize(
    ("priorities", "severity", "expected"),
    [
        (None, "SEV2", "P2"),
        (None, "SEV3", "P3"),
        (None, "SEV4", None),
        ({"SEV1": "P2", "SEV4": "P5"}, "SEV4", "P5"),
        ({"SEV1": "P2"}, "SEV1", "P2"),
    ],
)
def test_severity_maps_to_priority(
    fake: FakeOpsgenie, priorities: dict[str, str] | None, severity: str, expected: str | None
) -> None:
    options: dict[str, Any] = {"priorities": priorities} if priorities is not None else {}
    make(fake, **options).send(page(severity=severity))
    assert fake.creates()[0].get("priority") == expected
    assert fake.violations == []


def test_minimal_page(fake: FakeOpsgenie) -> None:
    make(fake, tags=[]).send(
        Page(key="k1", incident_id="inc-1", title="Disk full", severity="SEV3", urgency="warning")
    )

    body = fake.creates()[0]
    assert body["description"] == ""
    assert "entity" not in body
    assert body["tags"] == ["SEV3"]
    assert body["details"] == {"incident_id": "inc-1", "severity": "SEV3", "escalation_level": "1"}
    assert fake.violations == []


# --- cutting ----------------------------------------------------------------------------------


def test_long_message_is_one_line_cut_cleanly_at_130(fake: FakeOpsgenie) -> None:
    make(fake).send(page(title="SEV1 checkout:\n" + " ".join(["latency"] * 100)))

    message = fake.creates()[0]["message"]
    assert len(message) <= 130
    assert message.startswith("SEV1 checkout: latency") and message.endswith("latency…")
    assert fake.violations == []


def test_long_key_becomes_a_stable_alias_of_at_most_512(fake: FakeOpsgenie) -> None:
    long_key = "inc-" + "a" * 700
    adapter = make(fake)
    adapter.send(page(key=long_key))
    adapter.acknowledge(page(key=long_key))

    alias = fake.creates()[0]["alias"]
    assert len(alias) <= 512
    assert alias == opsgenie.alias(long_key) != opsgenie.alias(long_key + "b")
    assert fake.by_alias(alias)["acknowledged"]  # type: ignore[index]
    assert fake.violations == []


def test_long_description_keeps_the_links_and_the_ack_link(fake: FakeOpsgenie) -> None:
    make(fake).send(page(body="word " * 6000))

    description = fake.creates()[0]["description"]
    assert len(description) <= 15_000
    assert description.startswith("word word")
    assert "…\n\nIncident: https://tocsin.example/" in description
    assert description.endswith(
        "Acknowledge in Tocsin: https://tocsin.example/ack/inc-01j9zq5k3v8m2n4p6r8t0w2y4a?sig=abc"
    )
    assert fake.violations == []


def test_details_stay_within_8000_characters(fake: FakeOpsgenie) -> None:
    many = tuple((f"key{i}", "v" * 900) for i in range(20))
    make(fake).send(page(details=many))

    details = fake.creates()[0]["details"]
    assert sum(len(k) + len(v) for k, v in details.items()) <= 8000
    assert details["incident_id"] == "inc-01j9zq5k3v8m2n4p6r8t0w2y4a"
    assert "key0" in details and "key19" not in details
    assert fake.violations == []


# --- acknowledge / close ----------------------------------------------------------------------


def test_acknowledge_and_resolve_address_the_alert_by_alias(fake: FakeOpsgenie) -> None:
    adapter = make(fake)
    adapter.send(page())

    adapter.acknowledge(page())
    assert fake.by_alias(KEY)["acknowledged"]  # type: ignore[index]
    adapter.resolve(page())
    assert fake.by_alias(KEY)["status"] == "closed"  # type: ignore[index]

    ack, close = fake.calls("POST", r"/v2/alerts/.+")
    assert ack.path == "/v2/alerts/inc-01j9zq5k3v8m2n4p6r8t0w2y4a%2Flevel-1/acknowledge"
    assert close.path == "/v2/alerts/inc-01j9zq5k3v8m2n4p6r8t0w2y4a%2Flevel-1/close"
    assert ack.query == close.query == {"identifierType": ["alias"]}
    assert set(ack.json) == set(close.json) == set(CLOSE_EXAMPLE)  # user, source, note
    assert ack.json == {"user": "Tocsin", "source": "Tocsin", "note": "Acknowledged in Tocsin"}
    assert close.json["note"] == "Incident resolved in Tocsin"
    assert ack.headers["authorization"] == f"GenieKey {API_KEY}"
    assert fake.unprocessed == []
    assert fake.violations == []


def test_aliases_with_any_characters_are_escaped_in_the_path(fake: FakeOpsgenie) -> None:
    odd = "inc 1/level?2#x&y=%"
    adapter = make(fake)
    adapter.send(page(key=odd))
    adapter.resolve(page(key=odd))

    assert fake.by_alias(odd)["status"] == "closed"  # type: ignore[index]
    assert fake.unprocessed == []


def test_acknowledging_an_unknown_alias_is_no_error(fake: FakeOpsgenie) -> None:
    adapter = make(fake)
    adapter.acknowledge(page(key="never-sent"))  # 202: Opsgenie fails it later, asynchronously
    fake.fail_next(
        404, body={"message": "Alert does not exist", "took": 0.001, "requestId": str(uuid.uuid4())}
    )
    adapter.resolve(page(key="never-sent"))  # 404: nothing to close

    assert [u["action"] for u in fake.unprocessed] == ["acknowledge"]


def test_404_on_create_is_permanent(fake: FakeOpsgenie) -> None:
    fake.fail_next(404, body={"message": "Not found", "took": 0.0, "requestId": str(uuid.uuid4())})
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).send(page())
    assert info.value.status == 404


# --- errors -----------------------------------------------------------------------------------


def test_429_is_retryable_with_retry_after(fake: FakeOpsgenie) -> None:
    fake.fail_next(
        429, headers={"Retry-After": "12"}, body={"message": "Too many requests", "took": 0.0}
    )
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).send(page())
    assert (info.value.status, info.value.retry_after) == (429, 12.0)
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(fake: FakeOpsgenie, status: int) -> None:
    fake.fail_next(status)
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).resolve(page())
    assert info.value.status == status
    assert_no_secret(info.value)


def test_timeout_is_retryable(fake: FakeOpsgenie) -> None:
    fake.stall_next(1.5)
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake, timeout=0.2).send(page())
    assert info.value.status is None
    assert_no_secret(info.value)


def test_unreachable_opsgenie_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = opsgenie.build(
        opsgenie.Options(base_url=f"http://127.0.0.1:{port}"), {"api_key": API_KEY}
    )
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.acknowledge(page())
    assert_no_secret(info.value)


def test_422_is_permanent_with_opsgenie_errors(fake: FakeOpsgenie) -> None:
    fake.fail_next(
        422,
        body={
            "message": NOT_PROCESSABLE,
            "errors": {"priority": "should be one of [ P1, P2, P3, P4, P5 ]"},
            "took": 0.005,
            "requestId": "610e618e-7138-4898-9c70-c4eef2d68bf8",
        },
    )
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).send(page())
    assert info.value.status == 422
    assert "priority: should be one of [ P1, P2, P3, P4, P5 ]" in info.value.message
    assert_no_secret(info.value)


def test_wrong_key_is_permanent_and_never_echoed(fake: FakeOpsgenie) -> None:
    wrong = "0d6f6e7e-1b2c-4d5e-8f90-123456789abc"
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake, api_key=wrong).send(page())
    assert info.value.status == 401
    assert "Could not authenticate" in info.value.message
    assert_no_secret(info.value, wrong)


@pytest.mark.parametrize("status", [400, 402, 403])
def test_other_client_errors_are_permanent(fake: FakeOpsgenie, status: int) -> None:
    fake.fail_next(
        status,
        body={
            "code": 40301,
            "message": f"To perform this action, use an API key from an API integration. ({API_KEY})",
            "took": 0.001,
            "requestId": str(uuid.uuid4()),
        },
    )
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).acknowledge(page())
    assert info.value.status == status
    assert "use an API key from an API integration" in info.value.message
    assert "code 40301" in info.value.message
    assert_no_secret(info.value)


@pytest.mark.parametrize("secret", [{}, {"api_key": ""}, {"api_key": "  "}])
def test_missing_api_key_is_a_clear_permanent_error(secret: dict[str, str]) -> None:
    with pytest.raises(PermanentIntegrationError) as info:
        opsgenie.build(opsgenie.Options(), secret)
    assert "api_key" in str(info.value)


def test_options_defaults_and_validation() -> None:
    opts = opsgenie.Options()
    assert opts.base_url == "https://api.opsgenie.com"
    assert opts.priorities == {"SEV1": "P1", "SEV2": "P2", "SEV3": "P3"}
    assert (opts.responders, opts.tags, opts.source, opts.user, opts.timeout) == (
        [],
        ["tocsin"],
        "Tocsin",
        "Tocsin",
        10.0,
    )
    assert (
        opsgenie.Options(base_url="https://api.eu.opsgenie.com").base_url
        == "https://api.eu.opsgenie.com"
    )
    for bad in (
        {"responders": [{"type": "user", "name": "Neo"}]},  # users by id or username
        {"responders": [{"type": "team", "username": "noc@example.com"}]},
        {"responders": [{"type": "team", "id": "x", "name": "NOC"}]},  # exactly one identifier
        {"responders": [{"type": "team"}]},
        {"responders": [{"type": "group", "name": "NOC"}]},
        {"priorities": {"SEV1": "P0"}},
        {"tags": ["x" * 51]},
        {"tags": [f"t{i}" for i in range(20)]},  # no room for the severity tag
        {"source": "s" * 101},
        {"timeout": -1},
        {"api_key": API_KEY},  # secrets do not belong in options
    ):
        with pytest.raises(ValidationError):
            opsgenie.Options.model_validate(bad)


# --- the fake catches wrong formats -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v2/alerts", {**CREATE_EXAMPLE, "message": "m" * 131}, "message"),
        ("/v2/alerts", {k: v for k, v in CREATE_EXAMPLE.items() if k != "message"}, "message"),
        ("/v2/alerts", {**CREATE_EXAMPLE, "alias": "a" * 513}, "alias"),
        ("/v2/alerts", {**CREATE_EXAMPLE, "description": "d" * 15_001}, "description"),
        ("/v2/alerts", {**CREATE_EXAMPLE, "priority": "critical"}, "priority"),
        ("/v2/alerts", {**CREATE_EXAMPLE, "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ("/v2/alerts", {**CREATE_EXAMPLE, "details": {"level": 2}}, "details"),
        (
            "/v2/alerts",
            {**CREATE_EXAMPLE, "responders": [{"type": "user", "name": "Neo"}]},
            "responders[0]",
        ),
        ("/v2/alerts", {**CREATE_EXAMPLE, "title": "x"}, "title"),
        ("/v2/alerts/a1/close?identifierType=name", CLOSE_EXAMPLE, "identifierType"),
        ("/v2/alerts/a1/close?identifierType=alias", {**CLOSE_EXAMPLE, "alias": "a1"}, "alias"),
        ("/v2/alerts/a1/acknowledge?identifierType=alias", {"note": "n" * 25_001}, "note"),
    ],
)
def test_the_fake_rejects_requests_that_break_the_format(
    fake: FakeOpsgenie, path: str, body: dict[str, Any], field: str
) -> None:
    status, answer = post_raw(fake, path, body)
    assert status == 422
    assert answer["message"] == NOT_PROCESSABLE
    assert field in answer["errors"]
    assert len(fake.violations) == 1


def test_the_fake_wants_genie_key_auth(fake: FakeOpsgenie) -> None:
    status, answer = post_raw(fake, "/v2/alerts", CREATE_EXAMPLE, auth=f"Bearer {API_KEY}")
    assert (status, answer["message"]) == (401, "Could not authenticate")


def test_the_fake_accepts_the_published_examples(fake: FakeOpsgenie) -> None:
    status, answer = post_raw(fake, "/v2/alerts", CREATE_EXAMPLE)
    assert status == 202 and set(answer) == set(ACCEPTED)
    assert answer["result"] == "Request will be processed"
    alias = CREATE_EXAMPLE["alias"]
    status, _ = post_raw(
        fake, f"/v2/alerts/{urllib.parse.quote(alias)}/close?identifierType=alias", CLOSE_EXAMPLE
    )
    assert status == 202
    assert fake.by_alias(alias)["status"] == "closed"  # type: ignore[index]
    # without identifierType, Opsgenie reads the identifier as an id: nothing is closed
    post_raw(fake, "/v2/alerts", CREATE_EXAMPLE)
    post_raw(fake, f"/v2/alerts/{urllib.parse.quote(alias)}/close", CLOSE_EXAMPLE)
    assert fake.by_alias(alias)["status"] == "open"  # type: ignore[index]
    assert fake.unprocessed[-1]["identifierType"] == "id"
    assert fake.violations == []


# --- webhook ----------------------------------------------------------------------------------


def test_verify_webhook_accepts_the_shared_token_in_the_header() -> None:
    assert opsgenie.TOKEN_HEADER == "X-Tocsin-Token"
    assert opsgenie.verify_webhook({"X-Tocsin-Token": TOKEN}, TOKEN)
    assert opsgenie.verify_webhook({"x-tocsin-token": TOKEN}, TOKEN)  # API Gateway lower-cases
    assert opsgenie.verify_webhook({"X-TOCSIN-TOKEN": f" {TOKEN} "}, TOKEN)


@pytest.mark.parametrize(
    ("headers", "secret"),
    [
        ({}, TOKEN),
        (None, TOKEN),
        ({"X-Tocsin-Token": ""}, TOKEN),
        ({"X-Tocsin-Token": TOKEN[:-1]}, TOKEN),
        ({"X-Tocsin-Token": TOKEN + "0"}, TOKEN),
        ({"X-Tocsin-Token": TOKEN.upper()}, TOKEN),
        ({"Authorization": f"Bearer {TOKEN}"}, TOKEN),  # the token in another header
        ({"X-Tocsin-Token": TOKEN}, ""),  # no token configured: nothing is accepted
        ({"X-Tocsin-Token": ""}, ""),
        ({"X-Tocsin-Token": TOKEN}, []),
    ],
)
def test_verify_webhook_rejects_a_missing_or_wrong_token(
    headers: dict[str, str] | None, secret: str | list[str]
) -> None:
    assert not opsgenie.verify_webhook(headers, secret)


def test_two_tokens_are_accepted_while_rotating() -> None:
    new = "0e1d2c3b4a5968778695a4b3c2d1e0f1"
    stored = opsgenie.webhook_tokens({"api_key": API_KEY, "webhook_token": f"{TOKEN}, {new}"})
    assert stored == [TOKEN, new]
    assert opsgenie.verify_webhook({"X-Tocsin-Token": new}, stored)
    assert opsgenie.verify_webhook({"X-Tocsin-Token": TOKEN}, f"{TOKEN},{new}")
    assert not opsgenie.verify_webhook({"X-Tocsin-Token": TOKEN}, [new])
    assert opsgenie.webhook_tokens({"api_key": API_KEY}) == []


def _with_action(action: str) -> bytes:
    variant = copy.deepcopy(WEBHOOK_CREATE)
    variant["action"] = action
    return json.dumps(variant).encode()


def test_parse_the_create_fixture() -> None:
    event = opsgenie.parse_webhook(
        fixture_path("opsgenie/zulip_outgoing_webhook_Create.json").read_bytes()
    )

    assert event == WebhookEvent(
        kind="triggered",
        incident_key="alert-alias",
        vendor_incident_id="ec03dad6-62c8-4c94-b38b-d88f398e900f",
        actor="test@example.com",
        occurred_at=datetime(2017, 8, 14, 11, 25, 56, 288000, tzinfo=UTC),
        event_id="ec03dad6-62c8-4c94-b38b-d88f398e900f/Create/1502709956288000110",
        provider="opsgenie",
        vendor_event="Create",
    )


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("Acknowledge", "acknowledged"),
        ("Close", "resolved"),
        ("UnAcknowledge", "unacknowledged"),
        ("AddNote", "other"),
        ("Delete", "other"),
        ("SomeFutureAction", "other"),
    ],
)
def test_actions_map_to_kinds(action: str, kind: str) -> None:
    event = opsgenie.parse_webhook(_with_action(action))
    assert event is not None
    assert (event.kind, event.vendor_event, event.incident_key, event.actor) == (
        kind,
        action,
        "alert-alias",
        "test@example.com",
    )
    assert event.event_id == f"ec03dad6-62c8-4c94-b38b-d88f398e900f/{action}/1502709956288000110"


def test_without_updated_at_the_flow_request_id_is_the_event_id() -> None:
    variant = copy.deepcopy(WEBHOOK_CREATE)
    del variant["alert"]["updatedAt"]
    event = opsgenie.parse_webhook(json.dumps(variant).encode())
    assert event is not None
    assert event.event_id == "df3ad546-c7b6-4520-8de3-52bb12d1e99a"
    assert event.occurred_at == datetime(
        2017, 8, 14, 11, 25, 56, 288000, tzinfo=UTC
    )  # createdAt (ms)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "body is not JSON"),
        (b'"Create"', "JSON object"),
        (b'{"alert": {"alias": "a"}}', "action"),
        (b'{"action": "Close"}', "alert"),
        (b'{"action": "Close", "alert": []}', "alert"),
    ],
)
def test_a_body_that_is_not_an_opsgenie_webhook_is_a_clear_error(body: bytes, problem: str) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        opsgenie.parse_webhook(body)
    assert isinstance(info.value, ValueError) and isinstance(info.value, PayloadFormatError)
    assert info.value.source == "opsgenie"
    assert problem in info.value.problem


def test_round_trip_a_sent_page_is_found_by_its_webhook(fake: FakeOpsgenie) -> None:
    make(fake).send(page())
    variant = copy.deepcopy(WEBHOOK_CREATE)
    variant["action"] = "Acknowledge"
    variant["alert"]["alias"] = fake.creates()[0]["alias"]

    event = opsgenie.parse_webhook(json.dumps(variant).encode())
    assert event is not None and (event.kind, event.incident_key) == ("acknowledged", KEY)
