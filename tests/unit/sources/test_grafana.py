"""Grafana alerting webhook and Grafana OnCall formatted webhook normalization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import grafana

HEADERS = {"content-type": "application/json"}
CEST = timezone(timedelta(hours=2))


def problem_of(body: Any) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        grafana.parse(body, HEADERS)
    assert caught.value.source == "grafana"
    return caught.value.problem


def test_docs_webhook_notifier_example_is_read_like_alertmanager(fixture):
    """Given Grafana's documented webhook body (orgId, values, legacy title/state/message),
    when parsed, then each alert is normalized like an Alertmanager alert: Grafana's
    fingerprint, groupKey, summary title, runbook_url link, offset-aware startsAt."""
    result = grafana.parse(fixture("grafana/docs_webhook_notifier_firing_2_alerts.json"), HEADERS)

    assert result.alerts == [
        Alert(
            source="grafana",
            fingerprint="c6eadffa33fcdf37",
            group_key="{}:{}",
            status=AlertStatus.FIRING,
            title="This alert was triggered for zone us-1",
            description="The system has high memory usage",
            labels={"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            started_at=datetime(2021, 10, 12, 9, 51, 3, 157076, tzinfo=CEST),
            links=AlertLinks(
                source="https://play.grafana.org/alerting/1afz29v7z/edit",
                runbook="https://myrunbook.com/runbook/1234",
            ),
        ),
        Alert(
            source="grafana",
            fingerprint="bc97ff14869b13e3",
            group_key="{}:{}",
            status=AlertStatus.FIRING,
            title="This alert was triggered for zone eu-1",
            description="The system has high CPU usage",
            labels={"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
            started_at=datetime(2021, 10, 12, 9, 56, 3, 157076, tzinfo=CEST),
            links=AlertLinks(
                source="https://play.grafana.org/alerting/d1rdpdv7k/edit",
                runbook="https://myrunbook.com/runbook/1234",
            ),
        ),
    ]
    assert result.alerts[0].started_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)


def test_oncall_grafana_alerting_example_gives_three_alerts(fixture):
    """Given OnCall's "Grafana Alerting" example (three firing InstanceDown alerts),
    when parsed, then three alerts of one group, titled by alertname, severity critical."""
    result = grafana.parse(
        fixture("grafana/oncall_grafana_alerting_example_payload_firing_3_alerts.json"), HEADERS
    )

    assert [
        (a.fingerprint, a.labels["instance"], a.labels["group"], a.title, a.severity_hint)
        for a in result.alerts
    ] == [
        ("f404ecabc8dd5cd7", "localhost:8081", "production", "InstanceDown", "critical"),
        ("f8f08d4e32c61a9d", "localhost:8082", "canary", "InstanceDown", "critical"),
        ("39f38c0611ee7abd", "localhost:8083", "production", "InstanceDown", "critical"),
    ]
    third = result.alerts[2]
    assert third.group_key == '{}:{alertname="InstanceDown"}'
    assert third.status is AlertStatus.FIRING
    assert third.description == "localhost:8083 of job node has been down for more than 1 minute."
    assert third.started_at == datetime(2023, 6, 12, 8, 24, 38, 326000, tzinfo=UTC)
    assert third.ended_at is None
    assert third.links == AlertLinks()


def test_image_and_panel_urls_become_image_and_dashboard_links(fixture):
    """Given the docs body where Grafana filled imageURL, panelURL and dashboardURL,
    when parsed, then imageURL is an image and panelURL (more specific) the dashboard link,
    unless a dashboard annotation already names one."""
    body = fixture("grafana/docs_webhook_notifier_firing_2_alerts.json")
    first, second = body["alerts"]
    for alert in (first, second):
        alert["imageURL"] = "https://grafana.example/render/abc.png"
        alert["panelURL"] = "https://grafana.example/d/uid?viewPanel=2"
        alert["dashboardURL"] = "https://grafana.example/d/uid"
    second["annotations"]["dashboard_url"] = "https://grafana.example/d/other"

    a, b = grafana.parse(body, HEADERS).alerts

    assert a.links == AlertLinks(
        source="https://play.grafana.org/alerting/1afz29v7z/edit",
        runbook="https://myrunbook.com/runbook/1234",
        dashboard="https://grafana.example/d/uid?viewPanel=2",
        images=("https://grafana.example/render/abc.png",),
    )
    assert b.links.dashboard == "https://grafana.example/d/other"
    assert b.links.images == ("https://grafana.example/render/abc.png",)


def test_dashboard_url_is_used_when_there_is_no_panel_url(fixture):
    """Given an alert with only dashboardURL, when parsed, then it is the dashboard link."""
    body = fixture("grafana/docs_webhook_notifier_firing_2_alerts.json")
    body["alerts"][0]["dashboardURL"] = "https://grafana.example/d/uid"

    alert = grafana.parse(body, HEADERS).alerts[0]

    assert alert.links.dashboard == "https://grafana.example/d/uid"
    assert alert.links.images == ()


def test_oncall_formatted_webhook_example(fixture):
    """Given OnCall's formatted-webhook example (state "alerting"),
    when parsed, then one firing alert keyed by alert_uid, with the image and upstream link."""
    result = grafana.parse(
        fixture("grafana/oncall_formatted_webhook_example_payload.json"), HEADERS
    )

    assert result.alerts == [
        Alert(
            source="grafana",
            fingerprint="08d6891a-835c-e661-39fa-96b6a9e26552",
            status=AlertStatus.FIRING,
            title="TestAlert: The whole system is down",
            description=(
                "This alert was sent by user for the demonstration purposes\nSmth happened. Oh no!"
            ),
            links=AlertLinks(
                source="https://en.wikipedia.org/wiki/Downtime",
                images=(
                    "https://upload.wikimedia.org/wikipedia/commons/e/ee/"
                    "Grumpy_Cat_by_Gage_Skidmore.jpg",
                ),
            ),
        )
    ]


@pytest.mark.parametrize("state", ["ok", "OK"])
def test_formatted_webhook_state_ok_resolves_the_same_alert(fixture, state):
    """Given the formatted-webhook example with state "ok" (any case, as OnCall compares
    upper-cased), when parsed, then the same fingerprint is resolved."""
    body = fixture("grafana/oncall_formatted_webhook_example_payload.json")
    body["state"] = state

    (alert,) = grafana.parse(body, HEADERS).alerts

    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == "08d6891a-835c-e661-39fa-96b6a9e26552"


def test_formatted_webhook_without_uid_or_state_is_firing_keyed_by_title():
    """Given a formatted webhook with only a title, when parsed,
    then it fires with a fingerprint derived from the title."""
    (alert,) = grafana.parse({"title": "Disk full"}, HEADERS).alerts

    assert alert.fingerprint == stable_fingerprint("Disk full")
    assert alert.status is AlertStatus.FIRING
    assert alert.links == AlertLinks()


def test_oncall_outgoing_webhook_data_is_not_an_alert(fixture):
    """Given OnCall's *outgoing* webhook data (OnCall telling another system that its alert
    group I6HNZGUFG4K11 was resolved), when posted to Tocsin's grafana intake,
    then it is refused: it describes an OnCall alert group's lifecycle, not an alert, and
    accepting it would mirror another incident tool's state rather than the monitored signal."""
    body = fixture("grafana/oncall_outgoing_webhook_data_resolve.json")

    assert problem_of(body) == (
        "event, alert_group: this is Grafana OnCall outgoing-webhook data (what happened to"
        " an OnCall alert group), not an alert; send alerts from a Grafana webhook contact"
        " point or in OnCall's formatted-webhook format (alert_uid, title, state)"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "body: Input should be a valid dictionary or instance of GrafanaPayload"),
        (
            {"alerts": []},
            "alerts: List should have at least 1 item after validation, not 0",
        ),
        ({"alerts": [{}]}, "alerts.0.status: Field required; alerts.0.labels: Field required"),
        (
            {"alerts": [{"status": "firing", "labels": {"a": "b"}, "imageURL": 5}]},
            "alerts.0.imageURL: Input should be a valid string",
        ),
        (
            {"orgId": 1, "receiver": "x"},
            "body: neither a Grafana alerting webhook (no 'alerts') nor a Grafana OnCall"
            " formatted webhook (no 'alert_uid' or 'title')",
        ),
        (
            {"alert_uid": "x", "title": "T", "state": "paused"},
            "state: Input should be 'alerting' or 'ok'",
        ),
        ({"alert_uid": "x", "title": ""}, "title: String should have at least 1 character"),
        ({"alert_uid": "x"}, "title: Field required"),
        ({"title": "T", "alert_uid": 7}, "alert_uid: Input should be a valid string"),
    ],
)
def test_malformed_bodies_name_the_field(body, problem):
    """Given a body matching neither Grafana format, when parsed,
    then a PayloadFormatError names the offending field."""
    assert problem_of(body) == problem


def test_grafana_alert_field_errors_carry_the_alert_index(fixture):
    """Given the docs body with a broken second alert, when parsed,
    then the problem names alerts.1 and the field."""
    body = fixture("grafana/docs_webhook_notifier_firing_2_alerts.json")
    body["alerts"][1]["endsAt"] = "not a time"

    assert problem_of(body) == "alerts.1.endsAt: Value error, not a valid timestamp: 'not a time'"
