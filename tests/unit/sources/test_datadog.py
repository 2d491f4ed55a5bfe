"""Datadog webhook normalization (default and custom payloads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import datadog

HEADERS = {"content-type": "application/json"}
CUSTOM = "datadog/webhook_custom_payload_query_alert_triggered.json"
DEFAULT = "datadog/webhook_default_payload_rendered_test_notification.json"
MONITOR_221164084 = (
    "https://app.datadoghq.com/monitors/221164084?from_ts=1759342924000&to_ts=1759344124000"
    "&event_id=8306082202796025694&link_source=monitor_notif"
)
SNAPSHOT = (
    "https://p.datadoghq.com/snapshot/view/dd-snapshots-prod/org_352347/2025-10-01/"
    "3be6d9318e32a0b89b518edce4c91e4012229fb5.png"
)


def parse_one(body: Any) -> Alert:
    (alert,) = datadog.parse(body, HEADERS).alerts
    return alert


def problem_of(body: Any) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        datadog.parse(body, HEADERS)
    assert caught.value.source == "datadog"
    return caught.value.problem


def test_custom_payload_query_alert_triggered(fixture):
    """Given a captured custom payload ([Triggered], transition, aggregate, alert_priority P1),
    when parsed, then one firing alert keyed by the aggregation key, titled without the
    transition prefix, with the P1 hint, the graph snapshot and the monitor link."""
    body = fixture(CUSTOM)

    alert = parse_one(body)

    assert alert == Alert(
        source="datadog",
        fingerprint="06ade3da0286048d242ea8e46f521c93",
        status=AlertStatus.FIRING,
        title="High tracking",
        description=body["body"].removeprefix("%%%\n").removesuffix("\n%%%"),
        severity_hint="P1",
        started_at=datetime(2025, 10, 1, 18, 37, 4, tzinfo=UTC),
        links=AlertLinks(source=MONITOR_221164084, images=(SNAPSHOT,)),
    )
    assert alert.description.startswith("We get high datadog.event.tracking.intakev2.audit.bytes")


def test_recovery_of_the_custom_payload_resolves_the_same_alert(fixture):
    """Given the Recovered delivery of the same monitor group (new event id, new date,
    [Recovered] title, transition Recovered), when parsed, then it has the trigger's
    fingerprint and is resolved, ending at the recovery date."""
    triggered = parse_one(fixture(CUSTOM))
    body = fixture(CUSTOM)
    body.update(
        id="8306082202796099999",
        title="[Recovered] High tracking",
        transition="Recovered",
        date="1759344724000",
        last_updated="1759344724000",
    )

    recovered = parse_one(body)

    assert recovered.fingerprint == triggered.fingerprint == "06ade3da0286048d242ea8e46f521c93"
    assert recovered.status is AlertStatus.RESOLVED
    assert recovered.title == triggered.title == "High tracking"
    assert recovered.started_at is None
    assert recovered.ended_at == datetime(2025, 10, 1, 18, 52, 4, tzinfo=UTC)


def test_default_payload_test_notification(fixture):
    """Given Datadog's default payload from a "Test Notification" ([Triggered] [TEST] title,
    no custom fields), when parsed, then the status comes from the title prefix, the
    fingerprint from the monitor id in the body's Monitor Status link, marked as a test so it
    never touches the monitor's real alert, and the event `id` is not used."""
    alert = parse_one(fixture(DEFAULT))

    monitor_key = stable_fingerprint("datadog-monitor", "18692904", "")
    assert alert == Alert(
        source="datadog",
        fingerprint=stable_fingerprint("datadog-test", monitor_key),
        status=AlertStatus.FIRING,
        title="[TEST] Host Cluster Alert",
        description=(
            "@webhook-relay-test\n@webhook-relay-prod-demo\n@webhook-relay\n\n"
            "Test notification triggered by redacted@example.com.\n\n\n\n"
            "The monitor was last triggered at Wed Jun 03 2020 20:43:04 UTC.\n\n- - -\n\n"
            "[[Monitor Status](https://app.datadoghq.com/monitors#18692904?)] \u00b7 "
            "[[Edit Monitor](https://app.datadoghq.com/monitors#18692904/edit)]"
        ),
        started_at=datetime(2020, 6, 3, 20, 43, 5, tzinfo=UTC),
        links=AlertLinks(source="https://app.datadoghq.com/monitors#18692904?"),
    )


def test_default_payload_multi_alert_trigger_and_recovery_match_per_group(fixture):
    """Given default payloads of a multi-alert monitor titled "[P2] [Triggered on {host:web-1}]"
    and "[P2] [Recovered on {host:web-1}]", when parsed, then both share a fingerprint
    (monitor id + scope from the title) that differs from host:web-2's, and the priority
    prefix is the severity hint."""

    def delivery(title: str, event_id: str) -> dict[str, Any]:
        body = fixture(DEFAULT)
        body.update(title=title, id=event_id)
        return body

    fired = parse_one(delivery("[P2] [Triggered on {host:web-1}] CPU high", "1"))
    other = parse_one(delivery("[P2] [Triggered on {host:web-2}] CPU high", "2"))
    recovered = parse_one(delivery("[P2] [Recovered on {host:web-1}] CPU high", "3"))

    assert fired.fingerprint == stable_fingerprint("datadog-monitor", "18692904", "host:web-1")
    assert recovered.fingerprint == fired.fingerprint != other.fingerprint
    assert (fired.status, recovered.status) == (AlertStatus.FIRING, AlertStatus.RESOLVED)
    assert fired.title == recovered.title == "CPU high"
    assert fired.severity_hint == "P2"


@pytest.mark.parametrize(
    ("transition", "status"),
    [
        ("Triggered", AlertStatus.FIRING),
        ("Re-Triggered", AlertStatus.FIRING),
        ("Warn", AlertStatus.FIRING),
        ("No Data", AlertStatus.FIRING),
        ("Recovered", AlertStatus.RESOLVED),
    ],
)
def test_alert_transition_field_decides_the_status(transition, status):
    """Given a custom payload with alert_transition, when parsed, then it decides the status
    (over a title without prefix)."""
    body = {"title": "Disk almost full", "alert_transition": transition, "alert_id": "42"}

    assert parse_one(body).status is status


def test_custom_fields_alert_id_scope_tags_and_priority():
    """Given a custom payload without aggregation key but with alert_id, alert_scope, tags
    ("k:v" comma-separated) and alert_priority, when parsed, then the fingerprint is the
    monitor id + normalized scope, and the tags become labels."""
    body = {
        "title": "[Warn] Disk almost full",
        "alert_id": 1234,
        "alert_scope": "role:db, availability-zone:us-east-1a",
        "alert_priority": "P3",
        "priority": "normal",
        "tags": "env:prod, team:storage,monitor, url:https://x",
        "date": 1759343824,
    }

    alert = parse_one(body)

    assert alert.fingerprint == stable_fingerprint(
        "datadog-monitor", "1234", "availability-zone:us-east-1a,role:db"
    )
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "Disk almost full"
    assert alert.labels == {"env": "prod", "team": "storage", "monitor": "", "url": "https://x"}
    assert alert.severity_hint == "P3"
    assert alert.started_at == datetime(2025, 10, 1, 18, 37, 4, tzinfo=UTC)


def test_tags_as_a_list_and_priority_field_with_p_value():
    """Given tags as a JSON list and `priority` holding a P-value (no alert_priority),
    when parsed, then the list is read and `priority` is the hint; an event priority
    ("normal") would not be."""
    alert = parse_one(
        {"title": "[Triggered] X", "aggreg_key": "k1", "tags": ["a:1", "b:2"], "priority": "P1"}
    )
    assert (alert.fingerprint, alert.labels, alert.severity_hint) == (
        "k1",
        {"a": "1", "b": "2"},
        "P1",
    )
    normal = parse_one({"title": "[Triggered] X", "aggreg_key": "k1", "priority": "normal"})
    assert normal.severity_hint is None


def test_without_any_id_the_title_without_prefix_is_the_identity():
    """Given payloads with neither aggregation key, monitor id nor monitor link,
    when the trigger and the recovery are parsed, then both hash the unprefixed title."""
    fired = parse_one({"title": "[Triggered] Queue backlog"})
    resolved = parse_one({"title": "[Recovered] Queue backlog"})

    assert fired.fingerprint == resolved.fingerprint == stable_fingerprint("Queue backlog", "")


def test_unrendered_servicenow_template_is_refused(fixture):
    """Given the ServiceNow docs' payload *template* (values still "$VARIABLES"),
    when parsed, then it is refused with the unrendered variables listed: it is what one
    types into Datadog, never what Datadog sends."""
    body = fixture("datadog/webhook_custom_payload_TEMPLATE_servicenow_docs.json")

    assert problem_of(body) == (
        "template variables were not rendered (title=$EVENT_TITLE, body=$EVENT_MSG,"
        " date=$DATE, last_updated=$LAST_UPDATED, alert_transition=$ALERT_TRANSITION,"
        " alert_id=$ALERT_ID, alert_scope=$ALERT_SCOPE, alert_priority=$ALERT_PRIORITY,"
        " priority=$PRIORITY, tags=$TAGS): this is the webhook's payload template, not a"
        " notification sent by Datadog"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "body: Input should be a valid dictionary or instance of DatadogWebhook"),
        ({"body": "x"}, "title: Field required"),
        ({"title": 3}, "title: Input should be a valid string"),
        ({"title": ""}, "title: String should have at least 1 character"),
        (
            {"title": "X", "transition": "Paused"},
            "transition: unknown Datadog alert transition 'Paused'",
        ),
        (
            {"title": "Disk full"},
            "transition: missing, and the title has no [Triggered]/[Recovered] prefix; add"
            ' "transition": "$ALERT_TRANSITION" to the webhook payload',
        ),
        ({"title": "[Triggered] X", "tags": 5}, "tags: Input should be a valid list"),
        (
            {"title": "[Triggered] X", "date": "soon"},
            "date: Value error, not a valid timestamp: 'soon'",
        ),
        (
            {"title": "[Triggered] X", "aggregate": "k" * 256},
            "aggregate: String should have at most 255 characters",
        ),
        (
            {"title": "[Triggered] X", "alert_transition": "$ALERT_TRANSITION"},
            "template variables were not rendered (alert_transition=$ALERT_TRANSITION): this"
            " is the webhook's payload template, not a notification sent by Datadog",
        ),
    ],
)
def test_malformed_bodies_name_the_field(body, problem):
    """Given a body Datadog would not send, when parsed, then the problem names the field."""
    assert problem_of(body) == problem
