"""Sentry integration-platform webhooks: issue alerts (event_alert) and metric alerts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import sentry

ISSUE_ALERT = "sentry/docs_issue_alert_event_alert_triggered.json"
EVENT_ALERT_HEADERS = {"content-type": "application/json", "sentry-hook-resource": "event_alert"}
METRIC_ALERT_HEADERS = {"content-type": "application/json", "sentry-hook-resource": "metric_alert"}

#: the payload example of Sentry's docs "Metric Alerts" page (getsentry/sentry-docs
#: docs/organization/integrations/integration-platform/webhooks/metric-alerts.mdx), verbatim
METRIC_ALERT_RESOLVED: dict[str, Any] = {
    "action": "resolved",
    "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
    "data": {
        "description_text": "1000 events in the last 10 minutes\\nFilter: level:error",
        "description_title": "Resolved: Too many errors",
        "metric_alert": {
            "alert_rule": {
                "aggregate": "count()",
                "created_by": None,
                "dataset": "events",
                "date_created": "2020-09-13T12:26:40.000000Z",
                "date_modified": "2020-09-13T12:26:40.000000Z",
                "environment": None,
                "id": "7",
                "include_all_projects": False,
                "name": "Too many errors",
                "organization_id": "5",
                "projects": ["bar"],
                "query": "level:error",
                "resolution": 1,
                "resolve_threshold": None,
                "status": 0,
                "threshold_period": 1,
                "threshold_type": 0,
                "time_window": 10,
                "triggers": [],
            },
            "date_closed": None,
            "date_created": "2020-09-13T12:26:40.000000Z",
            "date_detected": "2020-09-13T12:26:40.000000Z",
            "date_started": "2020-09-13T12:26:40.000000Z",
            "id": "4",
            "identifier": "1",
            "organization_id": "5",
            "projects": ["bar"],
            "status": 2,
            "status_method": 3,
            "title": "Sacred Marmot",
            "type": 2,
        },
        "web_url": "https://sentry.io/organizations/baz/alerts/1/",
    },
    "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
}


def metric_alert(action: str) -> dict[str, Any]:
    body = copy.deepcopy(METRIC_ALERT_RESOLVED)
    body["action"] = action
    return body


def problem_of(body: Any, headers: dict[str, str]) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        sentry.parse(body, headers)
    assert caught.value.source == "sentry"
    return caught.value.problem


EXPECTED_ISSUE_ALERT = Alert(
    source="sentry",
    fingerprint="issue:1117540176",
    status=AlertStatus.FIRING,
    title="ReferenceError: heck is not defined",
    description="Alert rule: Very Important Alert Rule!\nCulprit: ?(<anonymous>)",
    labels={
        "browser": "Chrome 75.0.3770",
        "browser.name": "Chrome",
        "handled": "no",
        "level": "error",
        "mechanism": "onerror",
        "os": "Mac OS X 10.14.0",
        "os.name": "Mac OS X",
        "user": "ip:162.217.75.90",
        "url": "https://null.jsbin.com/runner",
        "project_id": "1",
    },
    severity_hint="error",
    started_at=datetime(2019, 8, 19, 21, 6, 17, 677000, tzinfo=UTC),
    links=AlertLinks(
        source="https://sentry.io/organizations/test-org/issues/1117540176/events/"
        "e4874d664c3540c1a32eab185f12c5ab/"
    ),
)


def test_docs_issue_alert_is_one_firing_alert_per_issue(fixture):
    """Given the docs' issue alert (Sentry-Hook-Resource: event_alert, action triggered),
    when parsed, then one firing alert keyed by the issue id, with the event level as hint,
    the event tags as labels and the event's web URL as link."""
    result = sentry.parse(fixture(ISSUE_ALERT), EVENT_ALERT_HEADERS)

    assert result.alerts == [EXPECTED_ISSUE_ALERT]


def test_issue_alert_without_the_header_is_recognized_by_shape(fixture):
    """Given the same body without Sentry-Hook-Resource, when parsed,
    then the shape (data.event) selects the issue-alert reading."""
    assert sentry.parse(fixture(ISSUE_ALERT), {}).alerts == [EXPECTED_ISSUE_ALERT]


def test_issue_id_falls_back_on_the_issue_url(fixture):
    """Given an issue alert without issue_id, when parsed,
    then the id is read from issue_url (and the API URL is the link without web_url)."""
    body = fixture(ISSUE_ALERT)
    del body["data"]["event"]["issue_id"]
    del body["data"]["event"]["web_url"]

    (alert,) = sentry.parse(body, EVENT_ALERT_HEADERS).alerts

    assert alert.fingerprint == "issue:1117540176"
    assert alert.links.source == "https://sentry.io/api/0/issues/1117540176/"


def test_docs_metric_alert_resolved():
    """Given the docs' metric alert (action resolved, incident id 4),
    when parsed, then the incident is resolved, titled by its alert rule."""
    result = sentry.parse(METRIC_ALERT_RESOLVED, METRIC_ALERT_HEADERS)

    assert result.alerts == [
        Alert(
            source="sentry",
            fingerprint="metric_alert:4",
            status=AlertStatus.RESOLVED,
            title="Too many errors",
            description="1000 events in the last 10 minutes\\nFilter: level:error",
            labels={"alert_rule": "Too many errors", "projects": "bar"},
            severity_hint=None,
            started_at=datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC),
            links=AlertLinks(source="https://sentry.io/organizations/baz/alerts/1/"),
        )
    ]


@pytest.mark.parametrize("action", ["critical", "warning"])
def test_metric_alert_critical_and_warning_fire_the_same_incident(action):
    """Given the same metric alert incident at critical or warning, when parsed (with or
    without the header), then it fires with the resolve's fingerprint and the action as hint."""
    for headers in (METRIC_ALERT_HEADERS, {}):
        (alert,) = sentry.parse(metric_alert(action), headers).alerts
        assert (alert.fingerprint, alert.status, alert.severity_hint) == (
            "metric_alert:4",
            AlertStatus.FIRING,
            action,
        )


def test_installation_webhook_is_ignored():
    """Given an installation webhook (sent when the integration is installed),
    when parsed, then it is acknowledged and ignored."""
    body = {"action": "created", "data": {"installation": {"uuid": "x"}}}

    result = sentry.parse(body, {"sentry-hook-resource": "installation"})

    assert result.alerts == []
    assert result.ignored_reason == "Sentry installation webhook (carries no alert)"


@pytest.mark.parametrize(
    ("body", "headers", "problem"),
    [
        (
            {"action": "created", "data": {"issue": {}}},
            {"sentry-hook-resource": "issue"},
            "sentry-hook-resource: 'issue' webhooks are not alerts (expected event_alert or"
            " metric_alert)",
        ),
        (
            [],
            EVENT_ALERT_HEADERS,
            "body: Input should be a valid dictionary or instance of EventAlert",
        ),
        ({"action": "triggered", "data": {}}, EVENT_ALERT_HEADERS, "data.event: Field required"),
        (
            {"action": "resolved", "data": {"event": {"title": "T", "issue_id": "1"}}},
            EVENT_ALERT_HEADERS,
            "action: Input should be 'triggered'",
        ),
        (
            {"action": "triggered", "data": {"event": {"title": "T"}}},
            EVENT_ALERT_HEADERS,
            "data.event.issue_id: missing (and no issue id in data.event.issue_url)",
        ),
        (
            {"action": "triggered", "data": {"event": {"title": "T", "issue_id": [1]}}},
            EVENT_ALERT_HEADERS,
            "data.event.issue_id: Input should be a valid string",
        ),
        (
            {"action": "critical", "data": {"metric_alert": {"title": "x"}}},
            METRIC_ALERT_HEADERS,
            "data.metric_alert.id: Field required",
        ),
        (
            {**METRIC_ALERT_RESOLVED, "action": "triggered"},
            METRIC_ALERT_HEADERS,
            "action: Input should be 'critical', 'warning' or 'resolved'",
        ),
    ],
)
def test_malformed_bodies_name_the_field(body, headers, problem):
    """Given a body or resource Sentry's alert webhooks do not send, when parsed,
    then the problem names the field or header."""
    assert problem_of(body, headers) == problem


def test_fixture_event_tags_must_be_pairs(fixture):
    """Given the docs issue alert with a malformed tag, when parsed, then the tag is named."""
    body = fixture(ISSUE_ALERT)
    body["data"]["event"]["tags"][2] = "handled"

    assert problem_of(body, EVENT_ALERT_HEADERS) == (
        "data.event.tags.2: Input should be a valid tuple"
    )
