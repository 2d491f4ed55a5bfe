"""The PagerDuty adapter against a fake Events API v2 that checks every event against the
published format (tests/fixtures/vendor/pagerduty) and keeps alerts, and its V3 webhook side
(signatures with go-pagerduty's test vector, payloads from the fixtures)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from tocsin.domain.errors import PayloadFormatError
from tocsin.integrations import pagerduty
from tocsin.integrations.ports import (
    Link,
    Page,
    PageRef,
    PagingPort,
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from tocsin.integrations.webhooks import WebhookEvent, WebhookPayloadError

from tests.fakes.pagerduty import (
    ACKNOWLEDGE_DOCS,
    RESOLVE_DOCS,
    ROUTING_KEY,
    TRIGGER_DOCS,
    TRIGGER_EXAMPLE,
    FakePagerDuty,
)
from tests.helpers import fixture_path, load_fixture

KEY = "inc-01j9zq5k3v8m2n4p6r8t0w2y4a/level-1"
#: go-pagerduty webhookv3_test.go's secret and signatures for the vector body (SOURCES.md)
VECTOR_BODY = fixture_path(
    "pagerduty/go_pagerduty_webhookv3_signature_vector_body.json"
).read_bytes()
VECTOR_SECRET = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
VECTOR_SIGNATURE = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
VECTOR_MISMATCH = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"
TRIGGERED = load_fixture("pagerduty/zulip_v3_incident.triggered.json")
PRIORITY_UPDATED = load_fixture("pagerduty/docs_v3_incident.priority_updated.json")


@pytest.fixture
def fake() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as server:
        yield server


def make(
    fake: FakePagerDuty, routing_key: str = ROUTING_KEY, **options: Any
) -> pagerduty.PagerDutyPaging:
    opts = pagerduty.Options.model_validate({"base_url": fake.url, **options})
    return pagerduty.build(opts, {"routing_key": routing_key})


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
        "details": (("region", "eu-west-1"), ("p99", "4.2s")),
    }
    values.update(fields)
    return Page(**values)


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    for secret in (ROUTING_KEY, *secrets):
        assert secret not in text


def post_raw(fake: FakePagerDuty, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        fake.url + "/v2/enqueue",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- trigger ----------------------------------------------------------------------------------


def test_adapter_implements_the_paging_port(fake: FakePagerDuty) -> None:
    adapter = make(fake)
    assert isinstance(adapter, PagingPort)
    assert adapter.provider == pagerduty.PROVIDER == "pagerduty"
    assert pagerduty.PORT == "paging"
    assert pagerduty.SECRET_KEYS == ("routing_key",)


def test_send_triggers_an_event_in_the_published_shape(fake: FakePagerDuty) -> None:
    ref = make(fake).send(page())

    assert ref == PageRef("pagerduty", KEY, "pagerduty")
    (sent,) = fake.calls("POST", "/v2/enqueue")
    assert sent.headers["content-type"].startswith("application/json")
    event = sent.json
    assert set(event) <= set(TRIGGER_EXAMPLE)  # only fields of the published example
    assert set(event["payload"]) <= set(TRIGGER_EXAMPLE["payload"])
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == KEY
    assert event["client"] == "Tocsin"
    assert "client_url" not in event
    assert event["payload"] == {
        "summary": "SEV1 checkout: p99 latency above 2s",
        "source": "tocsin",
        "severity": "critical",
        "component": "checkout",
        "custom_details": {
            "severity": "SEV1",
            "service": "checkout",
            "incident_id": "inc-01j9zq5k3v8m2n4p6r8t0w2y4a",
            "level": 2,
            "description": "Checkout p99 is 4.2 s since 14:02 UTC.",
            "details": {"region": "eu-west-1", "p99": "4.2s"},
        },
    }
    # links as the example's {href, text}; the acknowledge link last
    assert [set(link) for link in event["links"]] == [set(TRIGGER_EXAMPLE["links"][0])] * 3
    assert event["links"] == [
        {
            "href": "https://tocsin.example/incidents/inc-01j9zq5k3v8m2n4p6r8t0w2y4a",
            "text": "Incident",
        },
        {"href": "https://wiki.example/runbooks/checkout-latency", "text": "Runbook"},
        {
            "href": "https://tocsin.example/ack/inc-01j9zq5k3v8m2n4p6r8t0w2y4a?sig=abc",
            "text": "Acknowledge in Tocsin",
        },
    ]
    assert fake.alerts[KEY]["status"] == "triggered"
    assert fake.violations == []


def test_to_is_ignored_pagerduty_routes_by_routing_key(fake: FakePagerDuty) -> None:
    adapter = make(fake)
    adapter.send(page(), "oncall@example.com")
    adapter.send(page(), None)

    first, second = (r.json for r in fake.calls("POST", "/v2/enqueue"))
    assert first == second
    assert "oncall@example.com" not in json.dumps(first)


def test_dedup_key_is_stable_so_a_resent_page_is_one_alert(fake: FakePagerDuty) -> None:
    make(fake).send(page())
    make(fake).send(page())  # a retried step, another Lambda invocation
    make(fake).send(page(title="SEV1 checkout: p99 latency above 3s"))

    assert {e["dedup_key"] for e in fake.trigger_events()} == {KEY}
    assert fake.opened == 1
    assert fake.alerts[KEY]["triggers"] == 3
    assert fake.alerts[KEY]["summary"] == "SEV1 checkout: p99 latency above 3s"
    assert fake.violations == []


def test_minimal_page_sends_only_required_fields(fake: FakePagerDuty) -> None:
    bare = Page(
        key="k1", incident_id="inc-1", title="Disk full", severity="SEV3", urgency="warning"
    )
    make(fake).send(bare)

    event = fake.calls("POST", "/v2/enqueue")[0].json
    assert "links" not in event
    assert "component" not in event["payload"]
    assert event["payload"]["severity"] == "warning"
    assert event["payload"]["custom_details"] == {
        "severity": "SEV3",
        "service": None,
        "incident_id": "inc-1",
        "level": 1,
    }
    assert fake.violations == []


def test_options_set_source_component_client_and_client_url(fake: FakePagerDuty) -> None:
    adapter = make(
        fake,
        source="tocsin.acme.internal",
        component="payments-api",
        client="Tocsin (acme)",
        client_url="https://tocsin.acme.example",
    )
    adapter.send(page())

    event = fake.calls("POST", "/v2/enqueue")[0].json
    assert event["payload"]["source"] == "tocsin.acme.internal"
    assert event["payload"]["component"] == "payments-api"
    assert (event["client"], event["client_url"]) == (
        "Tocsin (acme)",
        "https://tocsin.acme.example",
    )
    assert fake.violations == []


@pytest.mark.parametrize(
    ("urgency", "severity"),
    [
        ("critical", "critical"),
        ("error", "error"),
        ("Warning", "warning"),
        ("info", "info"),
        ("high", "critical"),
    ],
)
def test_urgency_becomes_the_payload_severity(
    fake: FakePagerDuty, urgency: str, severity: str
) -> None:
    make(fake).send(page(urgency=urgency))
    assert fake.calls("POST", "/v2/enqueue")[0].json["payload"]["severity"] == severity
    assert fake.violations == []


# --- cutting ----------------------------------------------------------------------------------


def test_long_summary_is_one_line_cut_cleanly_at_1024(fake: FakePagerDuty) -> None:
    title = "SEV1 checkout:\n" + " ".join(["latency"] * 400)
    make(fake).send(page(title=title))

    summary = fake.calls("POST", "/v2/enqueue")[0].json["payload"]["summary"]
    assert len(summary) <= 1024
    assert summary.startswith("SEV1 checkout: latency latency")
    assert summary.endswith("latency…")  # cut between words, not inside one
    assert "\n" not in summary
    assert fake.violations == []


def test_a_summary_without_spaces_is_cut_at_the_limit() -> None:
    assert pagerduty.clip("x" * 2000, 1024) == "x" * 1023 + "…"
    assert pagerduty.clip("short", 1024) == "short"


def test_long_key_becomes_a_stable_dedup_key_of_at_most_255(fake: FakePagerDuty) -> None:
    long_key = "inc-" + "a" * 400
    adapter = make(fake)
    adapter.send(page(key=long_key))
    adapter.send(page(key=long_key))
    adapter.acknowledge(page(key=long_key))
    other = pagerduty.dedup_key("inc-" + "a" * 399 + "b")

    keys = {e["dedup_key"] for e in fake.events}
    assert len(keys) == 1
    (key,) = keys
    assert len(key) <= 255 and key.startswith("inc-aaa")
    assert key != other
    assert fake.alerts[key]["status"] == "acknowledged"
    assert fake.violations == []


def test_long_description_is_cut(fake: FakePagerDuty) -> None:
    make(fake).send(page(body="word " * 5000))

    details = fake.calls("POST", "/v2/enqueue")[0].json["payload"]["custom_details"]
    assert len(details["description"]) <= pagerduty.DESCRIPTION_MAX
    assert details["description"].endswith("…")
    assert fake.violations == []


# --- acknowledge / resolve --------------------------------------------------------------------


def test_acknowledge_and_resolve_send_the_docs_events_with_the_same_dedup_key(
    fake: FakePagerDuty,
) -> None:
    adapter = make(fake)
    adapter.send(page())

    adapter.acknowledge(page())
    assert fake.alerts[KEY]["status"] == "acknowledged"
    adapter.resolve(page())
    assert fake.alerts[KEY]["status"] == "resolved"

    _, ack, resolve = (r.json for r in fake.calls("POST", "/v2/enqueue"))
    assert set(ack) == set(ACKNOWLEDGE_DOCS) and set(resolve) == set(RESOLVE_DOCS)
    assert ack == {"routing_key": ROUTING_KEY, "dedup_key": KEY, "event_action": "acknowledge"}
    assert resolve == {"routing_key": ROUTING_KEY, "dedup_key": KEY, "event_action": "resolve"}
    assert fake.dropped == []
    assert fake.violations == []


def test_acknowledging_an_unknown_alert_is_no_error(fake: FakePagerDuty) -> None:
    """PagerDuty accepts (202) and drops acknowledge/resolve events that match no open alert."""
    adapter = make(fake)
    adapter.acknowledge(page(key="never-sent"))
    adapter.resolve(page(key="never-sent"))

    assert [e["event_action"] for e in fake.dropped] == ["acknowledge", "resolve"]
    assert fake.violations == []


def test_a_page_after_resolve_opens_a_new_alert(fake: FakePagerDuty) -> None:
    adapter = make(fake)
    adapter.send(page())
    adapter.resolve(page())
    adapter.send(page())

    assert fake.opened == 2
    assert fake.alerts[KEY]["status"] == "triggered"


# --- errors -----------------------------------------------------------------------------------


def test_429_is_retryable_with_retry_after(fake: FakePagerDuty) -> None:
    fake.fail_next(429, headers={"Retry-After": "7"})
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).send(page())
    assert info.value.status == 429
    assert info.value.retry_after == 7.0
    assert info.value.retryable
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(fake: FakePagerDuty, status: int) -> None:
    fake.fail_next(status, body={"status": "Internal error", "message": "try again"})
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).acknowledge(page())
    assert info.value.status == status
    assert info.value.retry_after is None
    assert_no_secret(info.value)


def test_a_retry_after_the_failure_goes_through(fake: FakePagerDuty) -> None:
    adapter = make(fake)
    fake.fail_next(503)
    with pytest.raises(RetryableIntegrationError):
        adapter.send(page())
    assert adapter.send(page()).id == KEY
    assert fake.opened == 1


def test_timeout_is_retryable(fake: FakePagerDuty) -> None:
    fake.stall_next(1.5)
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake, timeout=0.2).send(page())
    assert info.value.status is None
    assert "/v2/enqueue" in info.value.message
    assert_no_secret(info.value)


def test_unreachable_pagerduty_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = pagerduty.build(
        pagerduty.Options(base_url=f"http://127.0.0.1:{port}"), {"routing_key": ROUTING_KEY}
    )
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.resolve(page())
    assert_no_secret(info.value)


def test_400_is_permanent_with_pagerduty_errors(fake: FakePagerDuty) -> None:
    fake.fail_next(
        400,
        body={
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["'payload.summary' is missing or blank"],
        },
    )
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).send(page())
    assert info.value.status == 400
    assert not info.value.retryable
    assert "Event object is invalid" in info.value.message
    assert "'payload.summary' is missing or blank" in info.value.message
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [401, 403, 404, 413])
def test_other_client_errors_are_permanent(fake: FakePagerDuty, status: int) -> None:
    fake.fail_next(status, body={"status": "error", "message": f"refused {ROUTING_KEY}"})
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).send(page())
    assert info.value.status == status
    assert "***" in info.value.message  # the key, if the vendor echoes it, is masked
    assert_no_secret(info.value)


def test_unknown_routing_key_is_permanent_and_never_echoed(fake: FakePagerDuty) -> None:
    other = "0123456789abcdef0123456789abcdef"
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake, routing_key=other).send(page())
    assert info.value.status == 400
    assert "Invalid routing key" in info.value.message
    assert_no_secret(info.value, other)
    assert fake.violations == []  # the format was right; the key is not the service's


@pytest.mark.parametrize(
    "secret",
    [
        {},
        {"routing_key": ""},
        {"routing_key": "short"},
        {"routing_key": "e93facc0-4764-012d-7bfb-002500d5d1a6"},
    ],
)
def test_a_missing_or_malformed_routing_key_is_a_clear_permanent_error(
    secret: dict[str, str],
) -> None:
    with pytest.raises(PermanentIntegrationError) as info:
        pagerduty.build(pagerduty.Options(), secret)
    assert "routing_key" in str(info.value)
    for value in secret.values():
        if value:
            assert value not in str(info.value)


def test_routing_key_with_surrounding_whitespace_is_accepted(fake: FakePagerDuty) -> None:
    make(fake, routing_key=f" {ROUTING_KEY}\n").send(page())
    assert fake.calls("POST", "/v2/enqueue")[0].json["routing_key"] == ROUTING_KEY


def test_options_defaults_and_validation() -> None:
    opts = pagerduty.Options()
    assert opts.base_url == "https://events.pagerduty.com"
    assert (opts.source, opts.component, opts.client, opts.client_url) == (
        "tocsin",
        None,
        "Tocsin",
        None,
    )
    assert opts.timeout == 10.0
    for bad in (
        {"source": "  "},
        {"client_url": "tocsin.example"},
        {"timeout": 0},
        {"routing_key": ROUTING_KEY},  # secrets do not belong in options
    ):
        with pytest.raises(ValidationError):
            pagerduty.Options.model_validate(bad)


# --- the fake catches wrong formats -----------------------------------------------------------


def _trigger(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(TRIGGER_EXAMPLE)
    for path, value in changes.items():
        target = event
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return event


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (
            _trigger(routing_key="e93facc04764012d7bfb002500d5d1a"),
            "Length of 'routing_key' is incorrect",
        ),
        (_trigger(routing_key="e93facc0-764012d7bfb002500d5d1a6"), "non-alphanumeric"),
        (_trigger(event_action="page"), "'event_action'"),
        (_trigger(dedup_key="k" * 256), "255"),
        (_trigger(payload__summary="s" * 1025), "1024"),
        (_trigger(payload__source=None), "'payload.source'"),
        (_trigger(payload__severity="high"), "'payload.severity'"),
        (_trigger(payload__title="x"), "unknown payload fields"),
        (_trigger(summary="top-level"), "unknown event fields"),
        (_trigger(links=[{"url": "https://x.example"}]), "links[0]"),
        ({"routing_key": ROUTING_KEY, "event_action": "acknowledge"}, "'dedup_key' is required"),
        ({**RESOLVE_DOCS, "routing_key": ROUTING_KEY, "payload": {}}, "resolve events carry only"),
    ],
)
def test_the_fake_rejects_events_that_break_the_format(
    fake: FakePagerDuty, event: dict[str, Any], error: str
) -> None:
    status, body = post_raw(fake, event)
    assert status == 400
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any(error in e for e in body["errors"])
    assert len(fake.violations) == 1


def test_the_fake_accepts_the_published_examples(fake: FakePagerDuty) -> None:
    assert post_raw(fake, TRIGGER_EXAMPLE) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "srv01/mysql"},
    )
    docs = {**TRIGGER_DOCS, "routing_key": ROUTING_KEY}
    assert post_raw(fake, docs)[0] == 202
    assert (
        post_raw(
            fake, {**ACKNOWLEDGE_DOCS, "routing_key": ROUTING_KEY, "dedup_key": "srv01/mysql"}
        )[0]
        == 202
    )
    status, body = post_raw(fake, b"{not json")
    assert (status, body["errors"]) == (400, ["JSON parse error"])
    assert fake.alerts["srv01/mysql"]["status"] == "acknowledged"


# --- webhook signatures -----------------------------------------------------------------------


def test_the_go_pagerduty_signature_vector_verifies() -> None:
    assert pagerduty.sign(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE
    assert pagerduty.verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, [VECTOR_SECRET])


def test_the_vector_mismatch_signature_is_rejected() -> None:
    assert not pagerduty.verify_signature(VECTOR_BODY, VECTOR_MISMATCH, [VECTOR_SECRET])


@pytest.mark.parametrize(
    "header",
    [
        f"{VECTOR_MISMATCH},{VECTOR_SIGNATURE}",
        f"{VECTOR_SIGNATURE},{VECTOR_MISMATCH}",
        f"{VECTOR_MISMATCH}, {VECTOR_SIGNATURE}",
        f"v0=abc,{VECTOR_SIGNATURE}",
    ],
)
def test_any_of_several_signatures_may_match(header: str) -> None:
    assert pagerduty.verify_signature(VECTOR_BODY, header, [VECTOR_SECRET])


def test_any_of_several_secrets_may_match_during_rotation() -> None:
    new_secret = "n3w-s3cr3t-after-rotation"
    signed_by_new = pagerduty.sign(VECTOR_BODY, new_secret)
    both = f"{VECTOR_SIGNATURE},{signed_by_new}"  # PagerDuty signs with each active secret

    assert pagerduty.verify_signature(VECTOR_BODY, signed_by_new, [VECTOR_SECRET, new_secret])
    assert pagerduty.verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, [VECTOR_SECRET, new_secret])
    assert pagerduty.verify_signature(VECTOR_BODY, both, [new_secret])
    # once the old secret is dropped, a delivery signed only with it is refused
    assert not pagerduty.verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, [new_secret])


def test_the_secrets_come_from_the_secret_comma_separated() -> None:
    assert pagerduty.webhook_secrets({"routing_key": ROUTING_KEY}) == []
    assert pagerduty.webhook_secrets({"webhook_secrets": f" {VECTOR_SECRET} , s2,"}) == [
        VECTOR_SECRET,
        "s2",
    ]
    secrets = pagerduty.webhook_secrets({"webhook_secrets": f"old-one,{VECTOR_SECRET}"})
    assert pagerduty.verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, secrets)


@pytest.mark.parametrize(
    ("body", "header", "secrets"),
    [
        (VECTOR_BODY + b" ", VECTOR_SIGNATURE, [VECTOR_SECRET]),  # body changed
        (VECTOR_BODY.replace(b'"P1"', b'"P5"'), VECTOR_SIGNATURE, [VECTOR_SECRET]),
        (VECTOR_BODY, None, [VECTOR_SECRET]),  # no header
        (VECTOR_BODY, "", [VECTOR_SECRET]),
        (VECTOR_BODY, VECTOR_SIGNATURE, []),  # no secret configured
        (VECTOR_BODY, VECTOR_SIGNATURE, ["", "  "]),
        (VECTOR_BODY, VECTOR_SIGNATURE[3:], [VECTOR_SECRET]),  # no v1= prefix
        (VECTOR_BODY, "v2=" + VECTOR_SIGNATURE[3:], [VECTOR_SECRET]),  # unknown version
        (VECTOR_BODY, VECTOR_SIGNATURE[:-2], [VECTOR_SECRET]),  # truncated
        (VECTOR_BODY, VECTOR_SIGNATURE, ["wrong-secret"]),
        (
            VECTOR_BODY,
            "v1=" + hmac.new(VECTOR_SECRET.encode(), VECTOR_BODY, hashlib.sha1).hexdigest(),
            [VECTOR_SECRET],
        ),  # another hash
    ],
)
def test_forged_or_missing_signatures_are_rejected(
    body: bytes, header: str | None, secrets: list[str]
) -> None:
    assert not pagerduty.verify_signature(body, header, secrets)


# --- webhook payloads -------------------------------------------------------------------------


def _with_event_type(fixture: dict[str, Any], event_type: str) -> bytes:
    variant = copy.deepcopy(fixture)
    variant["event"]["event_type"] = event_type
    return json.dumps(variant).encode()


def test_parse_the_triggered_fixture() -> None:
    event = pagerduty.parse_webhook(json.dumps(TRIGGERED).encode())

    assert event == WebhookEvent(
        kind="triggered",
        incident_key=None,  # this capture's incident carries no incident_key
        vendor_incident_id="PFQZPSY",
        actor="PIG 208",
        occurred_at=datetime(2021, 6, 4, 13, 35, 29, 781000, tzinfo=UTC),
        event_id="01BZYIL05THJDFF2Y08X9SVMTU",
        provider="pagerduty",
        vendor_event="incident.triggered",
    )


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("incident.acknowledged", "acknowledged"),
        ("incident.resolved", "resolved"),
        ("incident.unacknowledged", "unacknowledged"),
        ("incident.reopened", "reopened"),
        ("incident.escalated", "other"),
        ("incident.some_future_event", "other"),
    ],
)
def test_event_types_map_to_kinds(event_type: str, kind: str) -> None:
    event = pagerduty.parse_webhook(_with_event_type(TRIGGERED, event_type))
    assert event is not None
    assert (event.kind, event.vendor_event) == (kind, event_type)
    assert (event.vendor_incident_id, event.actor) == ("PFQZPSY", "PIG 208")


def test_parse_the_docs_priority_updated_example() -> None:
    raw = fixture_path("pagerduty/docs_v3_incident.priority_updated.json").read_bytes()
    event = pagerduty.parse_webhook(raw)

    assert event is not None
    assert event.kind == "other"
    assert event.incident_key == "d3640fbd41094207a1c11e58e46b1662"
    assert event.vendor_incident_id == "PGR0VU2"
    assert event.actor == "Tenex Engineer"
    assert event.occurred_at == datetime(2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC)
    assert event.event_id == "5ac64822-4adc-4fda-ade0-410becf0de4f"


def test_an_acknowledged_incident_carries_the_dedup_key_tocsin_sent() -> None:
    """The docs' example incident has an incident_key: as acknowledged, it names the page."""
    event = pagerduty.parse_webhook(_with_event_type(PRIORITY_UPDATED, "incident.acknowledged"))
    assert event is not None
    assert (event.kind, event.incident_key) == ("acknowledged", "d3640fbd41094207a1c11e58e46b1662")


def test_parse_the_signature_vector_body_exactly_as_received() -> None:
    event = pagerduty.parse_webhook(VECTOR_BODY)
    assert event is not None
    assert (event.kind, event.vendor_incident_id, event.event_id) == (
        "other",
        "PGR0VU2",
        "01BWDWL3NYY7LUFPZCC28QUCMK",
    )


def test_events_about_no_incident_are_none() -> None:
    assert pagerduty.parse_webhook(_with_event_type(TRIGGERED, "pagey.ping")) is None
    assert pagerduty.parse_webhook(_with_event_type(TRIGGERED, "service.updated")) is None


def test_an_event_without_agent_has_no_actor() -> None:
    variant = copy.deepcopy(PRIORITY_UPDATED)
    variant["event"]["agent"] = None
    variant["event"]["event_type"] = "incident.resolved"
    event = pagerduty.parse_webhook(json.dumps(variant).encode())
    assert event is not None
    assert (event.kind, event.actor) == ("resolved", None)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[]", "JSON object"),
        (b'{"messages": []}', "event"),
        (b'{"event": {"id": "x"}}', "event_type"),
        (b'{"event": {"event_type": "incident.resolved", "data": null}}', "data"),
    ],
)
def test_a_body_that_is_not_a_v3_webhook_is_a_clear_error(body: bytes, problem: str) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        pagerduty.parse_webhook(body)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PayloadFormatError)  # the API answers 400 and quarantines
    assert info.value.source == "pagerduty"
    assert problem in info.value.problem


def test_round_trip_a_sent_page_is_found_by_its_webhook(fake: FakePagerDuty) -> None:
    """What PagerDuty sends back for the alert Tocsin triggered names the page's key."""
    make(fake).send(page())
    variant = copy.deepcopy(PRIORITY_UPDATED)
    variant["event"]["event_type"] = "incident.acknowledged"
    variant["event"]["data"]["incident_key"] = fake.trigger_events()[0]["dedup_key"]
    body = json.dumps(variant).encode()
    secret = "subscription-secret"

    assert pagerduty.verify_signature(body, pagerduty.sign(body, secret), [secret])
    event = pagerduty.parse_webhook(body)
    assert event is not None and (event.kind, event.incident_key) == ("acknowledged", KEY)
