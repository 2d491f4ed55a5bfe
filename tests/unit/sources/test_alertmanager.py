"""Prometheus Alertmanager webhook (v4) normalization."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import alertmanager

HEADERS = {"content-type": "application/json", "user-agent": "Alertmanager/0.27.0"}
ZULIP_GENERATOR_URL = (
    "http://cobalt:9090/graph?g0.expr=avg+by%28host%29+%28sensors_temp_input%7Bfeature%3D~"
    "%22core_%5B0-9%5D%2B%22%7D%29+%3E+15&g0.tab=1"
)


def problem_of(body: Any) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        alertmanager.parse(body, HEADERS)
    assert caught.value.source == "alertmanager"
    return caught.value.problem


def minimal(**alert: Any) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "alerts": [{"status": "firing", "labels": {"alertname": "Down"}, **alert}],
    }


def test_zulip_capture_gives_one_alert_per_entry_with_am_fingerprints(fixture):
    """Given Zulip's captured body (two firing alerts in one group),
    when parsed, then each alert keeps Alertmanager's fingerprint, the groupKey, the summary
    as title, the severity label as hint, and Go's zero endsAt becomes None."""
    result = alertmanager.parse(fixture("alertmanager/zulip_alert_firing_2_alerts.json"), HEADERS)

    labels = {"alertname": "High CPU Temperature", "host": "andromeda", "severity": "critical"}
    common: dict[str, Any] = {
        "source": "alertmanager",
        "group_key": "{}/{}:{}",
        "status": AlertStatus.FIRING,
        "title": "High CPU core temperature",
        "labels": labels,
        "severity_hint": "critical",
        "started_at": datetime(2020, 2, 6, 0, 17, 58, 432911, tzinfo=UTC),  # ns truncated
        "ended_at": None,
        "links": AlertLinks(source=ZULIP_GENERATOR_URL),
    }
    assert result.alerts == [
        Alert(
            fingerprint="a1bc48475b20e73d", description="CPU core temperature is 34.75C", **common
        ),
        Alert(
            fingerprint="c2ea85182f28cbd9", description="CPU core temperature is 17.625C", **common
        ),
    ]
    assert result.confirm_subscription_url is None
    assert result.ignored_reason is None


def test_oncall_example_without_summary_is_titled_by_alertname(fixture):
    """Given OnCall's AM example (annotations title/description, no summary, empty generatorURL),
    when parsed, then the title is the alertname and no source link is set."""
    result = alertmanager.parse(
        fixture("alertmanager/oncall_example_payload_firing_2_alerts.json"), HEADERS
    )

    assert [(a.fingerprint, a.labels["instance"]) for a in result.alerts] == [
        ("f404ecabc8dd5cd7", "localhost:8081"),
        ("f8f08d4e32c61a9d", "localhost:8082"),
    ]
    first = result.alerts[0]
    assert first == Alert(
        source="alertmanager",
        fingerprint="f404ecabc8dd5cd7",
        group_key='{}:{alertname="InstanceDown"}',
        status=AlertStatus.FIRING,
        title="InstanceDown",
        description="localhost:8081 of job node has been down for more than 1 minute.",
        labels={
            "job": "node",
            "group": "production",
            "instance": "localhost:8081",
            "severity": "critical",
            "alertname": "InstanceDown",
        },
        severity_hint="critical",
        started_at=datetime(2023, 6, 12, 8, 24, 38, 326000, tzinfo=UTC),
        links=AlertLinks(),
    )


def test_upstream_exec_testdata_without_alertname_is_titled_by_its_labels(fixture):
    """Given upstream's minimal test data (only a "Message" label, version "1"),
    when parsed, then it is still accepted and titled by its rendered label set."""
    result = alertmanager.parse(
        fixture("alertmanager/upstream_notify_exec_testdata_success.json"), HEADERS
    )

    assert result.alerts == [
        Alert(
            source="alertmanager",
            fingerprint="4ea129fd903f0e45",
            group_key="1",
            status=AlertStatus.FIRING,
            title='{Message="message"}',
            labels={"Message": "message"},
            started_at=datetime(1970, 1, 1, tzinfo=UTC),
        )
    ]


def test_resolved_alert_without_fingerprint_gets_stable_one_and_links_from_annotations():
    """Given a resolved alert with no fingerprint, numeric labels and runbook/dashboard
    annotations, when parsed, then the fingerprint hashes the sorted stringified labels,
    endsAt is kept and the links come from `runbook` / `dashboard_url`."""
    body = minimal(
        status="resolved",
        labels={"alertname": "Down", "shard": 3, "canary": True},
        annotations={"runbook": "https://rb/down", "dashboard_url": "https://grafana/d/x"},
        startsAt="2024-01-01T10:00:00Z",
        endsAt="2024-01-01T10:05:00.5+01:00",
    )

    (alert,) = alertmanager.parse(body, HEADERS).alerts

    labels = {"alertname": "Down", "shard": "3", "canary": "true"}
    assert alert.fingerprint == stable_fingerprint(sorted(labels.items()))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.labels == labels
    assert alert.title == "Down"
    assert alert.ended_at == datetime(2024, 1, 1, 9, 5, 0, 500000, tzinfo=UTC)
    assert alert.links == AlertLinks(runbook="https://rb/down", dashboard="https://grafana/d/x")


def test_same_labels_in_another_order_get_the_same_stable_fingerprint():
    """Given two deliveries of one fingerprint-less alert with labels in different order,
    when parsed, then both get the same fingerprint (trigger and resolve match)."""
    first = minimal(labels={"alertname": "Down", "job": "api"})
    second = minimal(status="resolved", labels={"job": "api", "alertname": "Down"})

    (a,) = alertmanager.parse(first, HEADERS).alerts
    (b,) = alertmanager.parse(second, HEADERS).alerts

    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "body: Input should be a valid dictionary or instance of AlertmanagerPayload"),
        ("alerts", "body: Input should be a valid dictionary or instance of AlertmanagerPayload"),
        ({"groupKey": "x"}, "alerts: Field required"),
        (
            {"groupKey": "x", "alerts": []},
            "alerts: List should have at least 1 item after validation, not 0",
        ),
        ({"alerts": {"status": "firing"}}, "alerts: Input should be a valid list"),
        (minimal(status="active"), "alerts.0.status: Input should be 'firing' or 'resolved'"),
        (
            minimal(labels={}),
            "alerts.0.labels: Dictionary should have at least 1 item after validation, not 0",
        ),
        (
            minimal(labels={"alertname": "Down", "host": None}),
            "alerts.0.labels.host: Value error, expected a string, number or boolean",
        ),
        (
            minimal(startsAt="yesterday"),
            "alerts.0.startsAt: Value error, not a valid timestamp: 'yesterday'",
        ),
        (
            minimal(fingerprint="f" * 256),
            "alerts.0.fingerprint: String should have at most 255 characters",
        ),
        (
            {"alerts": [{"labels": {"a": "b"}}]},
            "alerts.0.status: Field required",
        ),
    ],
)
def test_malformed_bodies_name_the_field(body, problem):
    """Given a body that does not follow the v4 format, when parsed,
    then a PayloadFormatError names the offending field and why."""
    assert problem_of(body) == problem
